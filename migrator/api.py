"""The library's entry points. Pure: no printing, no exit codes; the CLI renders what these return."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import libcst as cst

from migrator.engine.migrate import migrate_torch_source
from migrator.rules.loader import RuleError, RuleSet, load_rules
from migrator.types import Direction, MigrationResult

__all__ = [
    "InputError",
    "RuleError",
    "migrate_source",
    "read_source",
    "record_path_for",
    "default_output_path",
    "load_rules",
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
) -> MigrationResult:
    """Migrate source text. Raises InputError for a syntax error (with the line)."""
    if direction is not Direction.TORCH2TF:
        raise NotImplementedError(f"{direction.value} is not available yet")
    if rules is None:
        rules = load_rules(direction, extra_rule_dirs)
    try:
        return migrate_torch_source(source, rules, source_name)
    except cst.ParserSyntaxError as exc:
        raise InputError(f"{source_name}:{exc.raw_line}:{exc.raw_column + 1}: syntax error: {exc.message}") from None


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
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise InputError(f"{path}: cannot write: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise InputError(f"{path}: cannot write: {exc.strerror}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    """Write the migrated code and its migration record, both atomically; returns the record path."""
    record = record_path_for(out)
    check_writable([out, record], force)
    write_atomic(record, result.record.dumps())
    try:
        write_atomic(out, result.code)
    except InputError:
        record.unlink(missing_ok=True)
        raise
    return record
