"""The files a check covers: PATH arguments, a directory expanded to its ``*.py`` files."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from migrator.api import InputError, check_writable


def expand_paths(
    args: Iterable[Path], root: Path | None = None, exclude: Sequence[str] = ()
) -> tuple[Path, ...]:
    """Files as given, directories as their ``*.py`` files at any depth, sorted (see
    :func:`migrator.batch.expand`: hidden directories, virtual environments, fwmigrate's own
    outputs and paths matching ``exclude``, relative to ``root`` (default: the current
    directory), are skipped); in the order of the arguments, each file once, at its first
    mention. A missing path or a directory without Python files is an InputError."""
    out: list[Path] = []
    seen: set[Path] = set()
    for arg in args:
        if arg.is_file():  # taken as given (no walk: a one-file check does not import the walker)
            files = [Path(os.path.normpath(arg))]
        else:
            from migrator.batch import BatchError, expand

            try:
                files = expand([arg], root if root is not None else Path.cwd(), exclude)
            except BatchError as exc:
                raise InputError(str(exc)) from None
        if not files:
            what = "no *.py files in this directory" + (" (after excludes)" if exclude else "")
            raise InputError(f"{arg}: {what}")
        for f in files:
            if f.resolve() not in seen:
                seen.add(f.resolve())
                out.append(f)
    return tuple(out)


def check_output(output: Path, files: Sequence[Path]) -> None:
    """Fail before checking when the report could not be written, or would replace a checked file.
    An existing report file is overwritten."""
    check_writable([output], force=True)
    if output.resolve() in {f.resolve() for f in files}:
        raise InputError(f"{output}: the report would overwrite a checked file")
