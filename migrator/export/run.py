"""`fwmigrate export` on the CLI side: checks what it can before any framework starts, runs the
export subprocess with a timeout, and moves the artefact into place atomically (written under a
temporary name beside the output, renamed when the subprocess has finished with it)."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from migrator.export.formats import ExportFormat, Framework, formats_for, migrated_framework
from migrator.verify.result import EquivalenceResult, Verdict, request_error
from migrator.verify.run import run_worker
from migrator.verify.spec import VerifyOptions
from migrator.verify.static import forward_warnings
from migrator.verify.worker import record_direction


class ExportUsageError(ValueError):
    """A request that cannot work, found before any framework starts (one line, exit 2)."""


@dataclass(frozen=True)
class ExportRequest:
    migrated: Path
    fmt: ExportFormat
    output: Path
    options: VerifyOptions
    original: Path | None = None  # --verify-against
    record: Path | None = None
    weights: Path | None = None
    force: bool = False


@dataclass(frozen=True)
class ExportOutcome:
    result: EquivalenceResult
    artefact: Path | None  # None when nothing was written


def default_output(migrated: Path, fmt: ExportFormat) -> Path:
    return migrated.with_name(f"{migrated.stem}_{fmt.value.replace('-', '_')}{fmt.suffix}")


def _direction(req: ExportRequest) -> str:
    if req.record is not None:
        return record_direction(req.record)
    return "torch2tf" if req.fmt in formats_for(Framework.KERAS) else "tf2torch"


def check_request(req: ExportRequest) -> str:
    """The direction of the migration, after the checks that need no framework."""
    if req.original is not None and req.record is None:
        raise ExportUsageError(f"{req.migrated}: no migration record; pass --record with --verify-against")
    direction = _direction(req)
    side = migrated_framework(direction)
    if side not in req.fmt.frameworks:
        allowed = ", ".join(f.value for f in formats_for(side))
        why = " (ONNX export of a Keras model needs tf2onnx, which does not support TensorFlow 2.21)"
        raise ExportUsageError(
            f"{req.migrated}: --format {req.fmt.value} does not apply to a {side.value} model; "
            f"use one of: {allowed}" + (why if req.fmt is ExportFormat.ONNX else "")
        )
    if req.output.exists() and not req.force:
        raise ExportUsageError(f"{req.output}: exists (use --force to overwrite)")
    if not req.output.parent.is_dir():
        raise ExportUsageError(f"{req.output}: the directory {req.output.parent} does not exist")
    if req.weights is not None and not req.weights.is_file():
        raise ExportUsageError(f"{req.weights}: no such checkpoint file")
    return direction


def build_request(
    req: ExportRequest, direction: str, artefact: Path, result: Path, warnings: list[str]
) -> dict[str, object]:
    """What the export subprocess reads (``migrator.export.worker``)."""
    opts = req.options
    return {
        "original": str(req.original.resolve()) if req.original is not None else "",
        "migrated": str(req.migrated.resolve()),
        "record": str(req.record.resolve()) if req.record is not None else "",
        "direction": direction,
        "format": req.fmt.value,
        "artefact": str(artefact),
        "weights": str(req.weights.resolve()) if req.weights is not None else "",
        "model": opts.model,
        "inputs": [s.text() for s in opts.inputs],
        "samples": opts.samples,
        "seed": opts.seed,
        "tolerance": asdict(opts.tolerance),
        "load_mode": opts.load_mode.value,
        "warnings": warnings,
        "result": str(result),
    }


def export(req: ExportRequest) -> ExportOutcome:
    """Export (and compare) in a subprocess; the artefact replaces ``req.output`` only when the
    subprocess produced a result that is not an error."""
    direction = check_request(req)
    opts = req.options
    warnings: list[str] = []
    if req.original is not None:
        method = "call" if direction == "tf2torch" else "forward"
        warnings = forward_warnings(req.original.read_text(encoding="utf-8"), method)
    out = req.output.resolve()
    staging = out.with_name(f".{out.name}.fwmigrate-tmp")
    _remove(staging)
    with tempfile.TemporaryDirectory(prefix="fwmigrate-export-") as tmp:
        request = build_request(req, direction, staging, Path(tmp) / "result.json", warnings)

        def error(message: str) -> EquivalenceResult:
            return request_error(request, direction, message, warnings)

        cwd = (req.original or req.migrated).resolve().parent
        result = run_worker("migrator.export.worker", request, Path(tmp), cwd, opts.timeout, error)
    shown = f"{out.name} ({req.fmt.value}, exported from {req.migrated.name})"
    result = replace(result, migrated=shown)
    if result.verdict is Verdict.ERROR or not staging.exists():
        _remove(staging)
        return ExportOutcome(result, None)
    if staging.is_dir():
        _remove(out)
        staging.rename(out)
    else:
        staging.replace(out)  # atomic for a file
    return ExportOutcome(result, out)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
