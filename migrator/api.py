"""The library's entry points. Pure: no printing, no exit codes; the CLI renders what these return."""

from __future__ import annotations

import ast
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import libcst as cst

from migrator.rules.loader import RuleError, RuleSet, load_rules
from migrator.types import Direction, MigrationResult

if TYPE_CHECKING:  # verification is imported when used: the static commands start faster
    from migrator.verify.result import EquivalenceResult
    from migrator.verify.spec import VerifyOptions

__all__ = [
    "InputError",
    "RuleError",
    "default_output_path",
    "load_rules",
    "migrate_source",
    "read_source",
    "record_path_for",
    "verify",
    "write_atomic",
    "write_outputs",
]


class InputError(ValueError):
    """Bad user input. ``str(err)`` is one line naming the file (and line, where there is one)."""


def migrate_source(
    source: str,
    direction: Direction = Direction.TORCH2TF,
    rules: RuleSet | None = None,
    source_name: str = "<stdin>",
    extra_rule_dirs: Iterable[Path] = (),
    input_shape: tuple[int, ...] | None = None,
) -> MigrationResult:
    """Migrate source text. Raises InputError for a syntax error (with the line).

    ``input_shape`` (tf2torch only): the Keras-layout input shape, without the batch axis, of
    model classes that declare none."""
    if rules is None:
        rules = load_rules(direction, extra_rule_dirs)
    try:
        if direction is Direction.TF2TORCH:
            from migrator.engine.tf2torch.migrate import migrate_keras_source  # one engine per run

            return migrate_keras_source(source, rules, Path(source_name).name, input_shape)
        from migrator.engine.migrate import migrate_torch_source

        return migrate_torch_source(source, rules, Path(source_name).name)
    except cst.ParserSyntaxError as exc:
        line, col, msg = exc.raw_line, exc.raw_column + 1, exc.message
        try:  # CPython's parser locates the error exactly; libcst's can point past it
            ast.parse(source)
        except SyntaxError as err:
            line, col, msg = err.lineno or line, err.offset or col, err.msg
        raise InputError(f"{source_name}:{line}:{col}: syntax error: {msg}") from None


def verify(
    original: Path,
    migrated: Path,
    options: VerifyOptions,
    record: Path | None = None,
    via: Path | None = None,
) -> EquivalenceResult:
    """Check that MIGRATED computes what ORIGINAL computes. User code runs only in a subprocess.

    With ``via``, a round trip: ORIGINAL is a torch file, ``via`` its torch2tf output (record
    ``record``, default beside ``via``) and MIGRATED the tf2torch output of ``via`` (record beside
    MIGRATED); the weights go ORIGINAL -> ``via`` -> MIGRATED and MIGRATED is compared with ORIGINAL.
    """
    for p in (original, migrated, *([via] if via is not None else [])):
        read_source(p)
    if via is not None and options.train_steps > 0:
        raise InputError(
            "--train-steps is not supported for a round trip (--via): verify each step on its own"
        )
    final: Path | None = None
    if via is None:
        record = _read_record(record if record is not None else record_path_for(migrated), None)
    else:
        record = _read_record(record if record is not None else record_path_for(via), Direction.TORCH2TF)
        final = _read_record(record_path_for(migrated), Direction.TF2TORCH)
    from migrator.verify.expr import ExprError, check_expr

    try:
        check_expr(options.model)
    except ExprError as exc:
        raise InputError(str(exc)) from None
    from migrator.verify.run import verify_files  # numpy and the worker: only for verify

    return verify_files(original, migrated, record, options, via=via, final_record=final)


def _read_record(record: Path, direction: Direction | None) -> Path:
    """A readable migration record; of ``direction`` when given (a round trip's step)."""
    if not record.is_file():
        how = "`fwmigrate tf2torch`" if direction is Direction.TF2TORCH else None
        raise InputError(
            f"{record}: no migration record "
            + (
                f"(migrate with {how})"
                if how
                else "(migrate with `fwmigrate torch2tf` or `fwmigrate tf2torch`, or pass --record)"
            )
        )
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{record}: not a migration record ({exc})") from None
    found = data.get("direction", Direction.TORCH2TF.value) if isinstance(data, dict) else None
    if direction is not None and found != direction.value:
        step = "ORIGINAL -> INTERMEDIATE" if direction is Direction.TORCH2TF else "INTERMEDIATE -> FINAL"
        raise InputError(
            f"{record}: a {found} migration record; a round trip's {step} step is {direction.value}"
        )
    return record


def read_source(path: Path) -> str:
    """Read a Python source file as UTF-8, with one-line errors for every way that can fail."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a Python file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    if b"\x00" in data:
        raise InputError(f"{path}: binary file, expected Python source")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(f"{path}:{line}: not valid UTF-8 (byte {exc.start})") from None


def default_output_path(src: Path, direction: Direction) -> Path:
    suffix = "_tf" if direction is Direction.TORCH2TF else "_torch"
    return src.with_name(f"{src.stem}{suffix}.py")


def record_path_for(out: Path) -> Path:
    """The migration record that `fwmigrate verify` reads sits beside the output."""
    return out.with_name(f"{out.stem}.migration.json")


def write_atomic(path: Path, text: str) -> None:
    """Write through a temporary file in the same directory and rename it into place."""
    tmp = _temp_with(path, text)
    try:
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(f"{path}: cannot write: {exc.strerror}") from None


def _temp_with(path: Path, text: str) -> Path:
    import tempfile  # imported when writing: fwmigrate check never writes

    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise InputError(f"{path}: cannot write: {exc.strerror}") from None
    tmp = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise InputError(f"{path}: cannot write: {exc.strerror}") from None
        raise
    return tmp


def check_writable(paths: Sequence[Path], force: bool) -> None:
    """Fail before anything is written: existing outputs without --force, missing directories."""
    for p in paths:
        if p.is_dir():
            raise InputError(f"{p}: is a directory, expected an output file path")
        if p.exists() and not force:
            raise InputError(f"{p}: output exists (use --force to overwrite)")
        parent = p.parent if str(p.parent) else Path(".")
        if not parent.is_dir():
            raise InputError(f"{p}: output directory {parent} does not exist")
        if not os.access(parent, os.W_OK):
            raise InputError(f"{p}: cannot write: permission denied")


def write_outputs(result: MigrationResult, out: Path, force: bool) -> Path:
    """Write the migrated code and its migration record; returns the record path.

    Both are written to temporary files first and renamed into place only when both exist, so a
    failure leaves neither behind.
    """
    record = record_path_for(out)
    check_writable([out, record], force)
    tmp_code = _temp_with(out, result.code)
    try:
        tmp_record = _temp_with(record, result.record.dumps())
    except BaseException:
        tmp_code.unlink(missing_ok=True)
        raise
    try:
        os.replace(tmp_code, out)
        os.replace(tmp_record, record)
    except OSError as exc:
        tmp_code.unlink(missing_ok=True)
        tmp_record.unlink(missing_ok=True)
        raise InputError(f"{out}: cannot write: {exc.strerror}") from None
    return record


def render_report(result: EquivalenceResult, kind: str) -> str:
    """The report in one of the formats: "json", "markdown", "html"."""
    if kind == "json":
        return result.dumps()
    from migrator.report import equivalence

    if kind == "markdown":
        return equivalence.render_markdown(result)
    if kind == "html":
        return equivalence.render_html(result)
    raise ValueError(f"unknown report format {kind!r}")
