"""``fwmigrate weights``: a checkpoint of the ORIGINAL model converted into one for its migration,
with the pairing and named transforms ``verify`` uses. This side checks the files, the record and
``--model`` (no user code runs here), starts the conversion subprocess (``migrator.weights.worker``)
with a timeout, and renames its output into place only when it succeeded: nothing is written on
failure."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from migrator.api import InputError, read_source, record_path_for
from migrator.types import Direction
from migrator.verify.process import run_worker
from migrator.verify.spec import InputSpec, LoadMode, SpecError
from migrator.weights.checkpoint_keras import SUFFIXES as KERAS_SUFFIXES
from migrator.weights.protocol import Outcome, WorkerRequest

KERAS_WEIGHTS = ".weights.h5"  # model.save_weights insists on it


class ConvertError(InputError):
    """The conversion cannot be done or failed: one line naming the file; nothing was written."""


@dataclass(frozen=True)
class ConvertOptions:
    checkpoint: Path
    original: Path
    migrated: Path
    output: Path
    model: str  # --model EXPR, evaluated in each file (migrator.verify.expr)
    inputs: tuple[str, ...] = ()  # --input SPECs, in the original's layout
    record: Path | None = None  # default: <MIGRATED stem>.migration.json beside MIGRATED
    force: bool = False
    timeout: float = 300.0
    load_mode: LoadMode = LoadMode.GUARDED


@dataclass(frozen=True)
class Converted:
    direction: Direction
    checkpoint: Path
    output: Path
    model: str  # the original model's class
    tensors: int  # checkpoint tensors, every one converted
    written: int  # tensors in the output
    key: str | None = None  # the checkpoint dict's key holding the state_dict, if any
    warnings: tuple[str, ...] = ()

    def summary(self) -> str:
        """One line: what was converted into what."""
        under = f" (the state_dict under its {self.key!r} key)" if self.key else ""
        kind = "Keras weights" if self.direction is Direction.TORCH2TF else "torch tensors"
        return (
            f"{self.checkpoint}{under}: converted {self.tensors} tensors of {self.model} "
            f"({self.direction.value}) into {self.output} ({self.written} {kind})"
        )


def record_direction(record: Path) -> Direction:
    """The direction of a readable migration record, else ConvertError naming it."""
    if not record.is_file():
        raise ConvertError(
            f"{record}: no migration record (migrate with `fwmigrate torch2tf` or `fwmigrate tf2torch`, "
            "or pass --record)"
        )
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConvertError(f"{record}: not a migration record ({exc})") from None
    value = data.get("direction", Direction.TORCH2TF.value) if isinstance(data, dict) else None
    try:
        return Direction(value)
    except ValueError:
        raise ConvertError(f"{record}: not a migration record (direction {value!r})") from None


def _check_inputs(options: ConvertOptions, direction: Direction) -> None:
    ckpt, out = options.checkpoint, options.output
    if direction is Direction.TF2TORCH and not ckpt.name.endswith(KERAS_SUFFIXES):
        raise ConvertError(
            f"{ckpt}: the original is a Keras model: its checkpoint is a .weights.h5 file or a .keras archive"
        )
    if direction is Direction.TORCH2TF and not out.name.endswith(KERAS_WEIGHTS):
        raise ConvertError(f"{out}: the output is Keras weights: its name must end in {KERAS_WEIGHTS}")
    if out.is_dir():
        raise ConvertError(f"{out}: is a directory")
    if out.exists() and not options.force:
        raise ConvertError(f"{out}: already exists (pass --force to overwrite it)")
    if not out.resolve().parent.is_dir():
        raise ConvertError(f"{out}: no such directory {out.parent}")
    sources = (options.original, options.migrated)
    if any(out.resolve() == p.resolve() for p in sources):
        raise ConvertError(f"{out}: is one of the model files; choose another output")
    try:
        for spec in options.inputs:
            InputSpec.parse(spec)
    except SpecError as exc:
        raise ConvertError(str(exc)) from None
    from migrator.verify.expr import ExprError, check_expr

    try:
        check_expr(options.model)
    except ExprError as exc:
        raise ConvertError(str(exc)) from None


def convert_checkpoint(options: ConvertOptions) -> Converted:
    """Convert ``options.checkpoint`` into ``options.output``. The user's code and the checkpoint are
    loaded only in a subprocess; ConvertError (one line naming the file) on any failure, and then
    nothing is written."""
    if not options.checkpoint.exists():
        raise ConvertError(f"{options.checkpoint}: no such file")
    if not options.checkpoint.is_file():
        raise ConvertError(f"{options.checkpoint}: not a file")
    for source in (options.original, options.migrated):
        read_source(source)
    record = options.record if options.record is not None else record_path_for(options.migrated)
    direction = record_direction(record)
    _check_inputs(options, direction)
    out = options.output
    suffix = KERAS_WEIGHTS if direction is Direction.TORCH2TF else ".tmp"
    fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=suffix, dir=out.resolve().parent)
    os.close(fd)
    temp = Path(name)
    try:
        outcome = _run(options, direction, record, temp)
        if outcome.error is not None:
            raise ConvertError(outcome.error)
        _publish(temp, out)
    finally:
        temp.unlink(missing_ok=True)
    return Converted(
        direction,
        options.checkpoint,
        out,
        outcome.model,
        outcome.tensors,
        outcome.written,
        outcome.key,
        outcome.warnings,
    )


def _run(options: ConvertOptions, direction: Direction, record: Path, temp: Path) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="fwmigrate-weights-") as tmp:
        result = Path(tmp) / "outcome.json"
        request = WorkerRequest(
            direction=direction,
            checkpoint=str(options.checkpoint.resolve()),
            checkpoint_label=str(options.checkpoint),
            original=str(options.original.resolve()),
            original_label=str(options.original),
            migrated=str(options.migrated.resolve()),
            migrated_label=str(options.migrated),
            record=str(record.resolve()),
            model=options.model,
            inputs=options.inputs,
            load_mode=options.load_mode.value,
            output=str(temp),
            result=str(result),
        )
        path = Path(tmp) / "request.json"
        path.write_text(request.dumps(), encoding="utf-8")
        cwd = options.original.resolve().parent
        ended = run_worker("migrator.weights.worker", path, cwd, options.timeout, Path(tmp) / "worker.log")
        if ended.timed_out:
            raise ConvertError(
                f"{options.checkpoint}: timed out after {options.timeout:g} s "
                "(the conversion did not finish; raise --timeout if the models are just slow)"
            )
        if not result.exists():
            last = ended.tail()
            raise ConvertError(
                f"{options.checkpoint}: the conversion process exited with code {ended.code} before "
                "finishing" + (f": {last}" if last else "")
            )
        return Outcome.load(result)


def _publish(temp: Path, out: Path) -> None:
    """Give the finished temporary file the usual permissions and rename it into place."""
    mask = os.umask(0)
    os.umask(mask)
    try:
        os.chmod(temp, 0o666 & ~mask)
        os.replace(temp, out)
    except OSError as exc:
        raise ConvertError(f"{out}: cannot write: {exc.strerror}") from None
