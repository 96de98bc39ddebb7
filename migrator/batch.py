"""Directory runs: expand inputs to files, mirror outputs, migrate files in parallel processes.

Library code: nothing here prints or exits. :func:`run` reports progress through a callback and
returns one :class:`Outcome` per item, in input order; :func:`exit_code` turns the outcomes of a
migration run into the command's exit code.
"""

from __future__ import annotations

import enum
import fnmatch
import functools
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

from migrator import api
from migrator.rules.loader import RuleError, RuleSet, load_rules
from migrator.types import Counts, Direction, Finding, Severity

if TYPE_CHECKING:  # the pool machinery is imported when a run needs it (startup time of one-file runs)
    import multiprocessing.context
    from concurrent.futures import Future

__all__ = [
    "BatchError",
    "ExitCode",
    "FileOutcome",
    "MigrateTask",
    "Outcome",
    "detect_direction",
    "exit_code",
    "expand",
    "is_excluded",
    "is_migration_output",
    "migrate_file",
    "mirror",
    "pool_size",
    "rules_for",
    "run",
    "unified_diff",
]

T = TypeVar("T")
R = TypeVar("R")


class BatchError(ValueError):
    """A bad input path for a directory run. ``str(err)`` is one line naming the path."""


class ExitCode(enum.IntEnum):
    """Exit codes of a migration run (the same as a single file's, see docs/torch2tf.md)."""

    OK = 0  # every file migrated (review items may remain)
    UNSUPPORTED = 1  # some file still has unsupported constructs (outputs written, with markers)
    ERROR = 2  # some file could not be migrated (syntax error, unreadable, output exists, ...)


# ---------------------------------------------------------------------------------------------
# Expanding inputs

# Directories never entered when a directory is walked (a directory named on the command line is
# still walked): caches and tool directories, virtual environments (any directory holding a
# ``pyvenv.cfg``, whatever its name) and hidden directories (``.git``, ``.venv``, ...).
SKIPPED_DIRS = frozenset({"__pycache__", "__pypackages__", "node_modules", "site-packages"})


def _skipped_dir(path: Path) -> bool:
    return path.name.startswith(".") or path.name in SKIPPED_DIRS or (path / "pyvenv.cfg").is_file()


def is_migration_output(path: Path) -> bool:
    """Whether ``path`` was written by fwmigrate: its migration record sits beside it."""
    return api.record_path_for(path).is_file()


@dataclass(frozen=True)
class _Pattern:
    parts: tuple[str, ...]  # path components; "**" matches any number of them
    dir_only: bool  # a trailing "/": matches directories only


def _compile(pattern: str) -> _Pattern:
    """A gitignore-like pattern: with a "/" before its end it is anchored at the root, otherwise it
    matches a file or directory name at any depth; a trailing "/" matches directories only."""
    text = pattern.strip()
    dir_only = text.endswith("/")
    text = text.rstrip("/")
    anchored = "/" in text
    parts = tuple(p for p in text.lstrip("/").split("/") if p)
    return _Pattern(parts if anchored else ("**", *parts), dir_only)


def _match(pat: tuple[str, ...], parts: tuple[str, ...]) -> bool:
    if not pat:
        return not parts
    if pat[0] == "**":
        return any(_match(pat[1:], parts[i:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], pat[0]) and _match(pat[1:], parts[1:])


def is_excluded(rel: Path, is_dir: bool, exclude: Sequence[str]) -> bool:
    """Whether the path ``rel`` (relative to the project root) itself matches an exclude pattern.

    Patterns are matched component by component with :func:`fnmatch.fnmatchcase` (``*``, ``?``,
    ``[...]`` never cross a "/"; ``**`` spans any number of directories):

    - ``*_tf.py`` (no "/"): a file or directory with that name anywhere;
    - ``tests/**``, ``src/gen/*.py`` (a "/" inside; a leading "/" is allowed): from the root;
    - ``build/`` (a trailing "/"): a directory with that name anywhere, and so everything in it.

    Negation (``!pattern``) is not supported. Directories above ``rel`` are not checked here:
    :func:`expand` prunes excluded directories as it walks.
    """
    parts = rel.parts
    for pattern in map(_compile, exclude):
        if (is_dir or not pattern.dir_only) and _match(pattern.parts, parts):
            return True
    return False


def _relative(path: Path, root: Path) -> Path:
    """``path`` relative to ``root``; a path outside it as its absolute components (so only
    patterns starting with ``**`` or without a "/" can match it)."""
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(os.path.abspath(root))
    except ValueError:
        return Path(*absolute.parts[1:])


def _under_excluded(directory: Path, root: Path, exclude: Sequence[str]) -> bool:
    """Whether ``directory`` or a directory between it and ``root`` is excluded."""
    rel = _relative(directory, root)
    return any(is_excluded(Path(*rel.parts[:n]), True, exclude) for n in range(1, len(rel.parts) + 1))


def _walk(directory: Path, root: Path, exclude: Sequence[str]) -> Iterator[Path]:
    """The ``*.py`` files below ``directory``, pruning skipped and excluded directories."""
    if _under_excluded(directory, root, exclude):
        return
    for dirpath, dirnames, filenames in os.walk(directory):  # symlinked directories are not followed
        here = Path(dirpath)
        dirnames[:] = [
            d
            for d in dirnames
            if not _skipped_dir(here / d) and not is_excluded(_relative(here / d, root), True, exclude)
        ]
        for name in filenames:
            path = here / name
            if (
                name.endswith(".py")
                and not is_excluded(_relative(path, root), False, exclude)
                and not is_migration_output(path)
            ):
                yield path


def expand(paths: Sequence[Path], root: Path, exclude: Sequence[str]) -> list[Path]:
    """The files a run works on, sorted, each once (however often and however spelled it was given).

    - A file named in ``paths`` is taken as given, whatever its name and even if an ``exclude``
      pattern matches it (as ruff and black do without ``--force-exclude``): naming a file is the
      strongest statement of intent.
    - A directory contributes the ``*.py`` files below it, except files and directories matched
      by ``exclude`` (patterns relative to ``root``, see :func:`is_excluded`), directories in
      :data:`SKIPPED_DIRS`, hidden directories and virtual environments, and files fwmigrate wrote
      itself (a ``.migration.json`` record beside them), so a second run over the same tree does
      not migrate the first run's outputs. Symlinked directories are not followed.

    Paths keep their spelling, normalised (``pkg`` gives ``pkg/models/net.py``, ``pkg/../pkg/a.py``
    gives ``pkg/a.py``); relative stays relative. A path that does not exist
    raises :class:`BatchError` naming it.
    """
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(_walk(path, root, exclude))
        elif path.exists():
            found.append(path)
        else:
            raise BatchError(f"{path}: no such file or directory")
    unique = {os.path.abspath(p): Path(os.path.normpath(p)) for p in found}
    return sorted(unique.values())


def mirror(src: Path, inputs_root: Path, out_dir: Path, suffix: str = "") -> Path:
    """Where ``src`` goes in ``out_dir``: its path below ``inputs_root``, under ``out_dir``.

    ``pkg/models/net.py`` with ``inputs_root`` ``.`` and ``out_dir`` ``out`` gives
    ``out/pkg/models/net.py``. Names are kept by default (``suffix=""``): the output directory is
    a migrated copy of the package, so imports between its modules (``from .blocks import Block``)
    still resolve, and nothing collides with the sources because they live in another tree. A
    ``suffix`` is appended to the stem (``"_tf"`` gives ``net_tf.py``). Without an output
    directory the CLI uses :func:`migrator.api.default_output_path` (``net_tf.py`` beside
    ``net.py``). A ``src`` outside ``inputs_root`` raises :class:`BatchError`.
    """
    try:
        rel = Path(os.path.abspath(src)).relative_to(os.path.abspath(inputs_root))
    except ValueError:
        raise BatchError(f"{src}: not inside {inputs_root}, cannot mirror it into {out_dir}") from None
    return out_dir / rel.with_name(f"{rel.stem}{suffix}.py")


# ---------------------------------------------------------------------------------------------
# Running work items in parallel


@dataclass(frozen=True)
class Outcome(Generic[R]):
    """One item's result, or the one-line error it failed with.

    For a bad input (``InputError``, ``RuleError``, ``BatchError``: their messages name the file)
    ``error`` is that message; for anything else it is ``Type: message`` and ``internal`` is set:
    a bug in fwmigrate, not in the input.
    """

    result: R | None = None
    error: str | None = None
    internal: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


def _one_line(exc: BaseException) -> str:
    text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _attempt(work: Callable[[T], R], item: T) -> Outcome[R]:
    """Run one item; its exception becomes the outcome's error (in the worker, so it pickles)."""
    try:
        return Outcome(result=work(item))
    except (api.InputError, RuleError, BatchError) as exc:
        return Outcome(error=" ".join(str(exc).split()))
    except Exception as exc:
        return Outcome(error=_one_line(exc), internal=True)


def _pool_context() -> multiprocessing.context.BaseContext:
    """``forkserver`` where there is one (POSIX), else ``spawn``; never a plain ``fork``.

    Workers are then forked from a clean server process, never from the caller, which may be
    running threads (a progress bar): forking a threaded process can deadlock the child, and
    Python 3.14 makes ``forkserver`` the default on Linux for that reason. The server imports this
    module once before forking (measured: ~0.9 s for the first pool of a process, ~0.03 s for the
    next; ``spawn`` pays the ~0.8 s import in every worker). Preloading only applies when the
    server starts, so it has no effect on a forkserver another part of the process started first.
    """
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["__main__", __name__])
    return ctx


# Below this many items per worker a pool costs more than it saves: starting the workers takes
# about a second (the forkserver imports fwmigrate once), a file takes 20-50 ms.
MIN_ITEMS_PER_WORKER = 8


def pool_size(jobs: int, total: int) -> int:
    """The workers worth starting for ``total`` items when ``jobs`` are allowed: at most one per
    :data:`MIN_ITEMS_PER_WORKER` items, so a handful of files (a pre-commit hook) is checked in
    this process. 1 means no pool."""
    return max(1, min(jobs, total // MIN_ITEMS_PER_WORKER))


def run(
    items: Sequence[T],
    work: Callable[[T], R],
    jobs: int,
    progress: Callable[[int, int], None] | None = None,
) -> list[Outcome[R]]:
    """``work`` applied to every item, across ``jobs`` worker processes; outcomes in input order.

    An item that raises does not stop the others: its :class:`Outcome` carries the error instead
    of a result. ``progress(done, total)`` is called in this process each time an item finishes
    (in completion order), so it is called ``total`` times and last with ``(total, total)``.
    ``work`` must be a picklable top-level function and items and results must pickle. With one
    job, or a single item, everything runs in this process and no pool is started. If a worker
    process dies (killed, out of memory), its item and those not yet finished fail with
    ``BrokenProcessPool``.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be a positive integer, got {jobs}")
    total = len(items)
    if min(jobs, total) <= 1:
        return list(_run_here(items, work, progress))
    from concurrent.futures import ProcessPoolExecutor, as_completed

    outcomes: list[Outcome[R] | None] = [None] * total
    pool = ProcessPoolExecutor(max_workers=min(jobs, total), mp_context=_pool_context())
    try:
        futures: dict[Future[Outcome[R]], int] = {
            pool.submit(_attempt, work, item): i for i, item in enumerate(items)
        }
        for done, future in enumerate(as_completed(futures), start=1):
            outcomes[futures[future]] = _collect(future)
            if progress is not None:
                progress(done, total)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)  # Ctrl-C: do not wait for the queue
        raise
    pool.shutdown()
    return [o for o in outcomes if o is not None]


def _run_here(
    items: Sequence[T], work: Callable[[T], R], progress: Callable[[int, int], None] | None
) -> Iterator[Outcome[R]]:
    for done, item in enumerate(items, start=1):
        yield _attempt(work, item)
        if progress is not None:
            progress(done, len(items))


def _collect(future: Future[Outcome[R]]) -> Outcome[R]:
    """The worker's outcome; a failure outside ``work`` (a dead worker, a result that does not
    pickle) becomes an error outcome too."""
    try:
        return future.result()
    except Exception as exc:
        return Outcome(error=_one_line(exc), internal=True)


# ---------------------------------------------------------------------------------------------
# Migrating one file (the worker)


@dataclass(frozen=True)
class MigrateTask:
    """One file to migrate. Picklable: sent to a worker process.

    ``direction`` None means auto: :func:`detect_direction` decides from the file's imports.
    Without ``out_dir`` the output goes beside the source (``net.py`` -> ``net_tf.py``); with it,
    to :func:`mirror` ``(src, inputs_root, out_dir)``, keeping the name. With ``diff`` nothing is
    written: the outcome carries a unified diff from the source to the migrated code.
    """

    src: Path
    direction: Direction | None = None
    rule_dirs: tuple[Path, ...] = ()
    out_dir: Path | None = None
    inputs_root: Path | None = None
    force: bool = False
    input_shape: tuple[int, ...] | None = None  # tf2torch: see api.migrate_source
    diff: bool = False

    def __post_init__(self) -> None:
        if self.out_dir is not None and self.inputs_root is None:
            raise ValueError("MigrateTask: out_dir needs inputs_root (the directory mirrored into it)")


@dataclass(frozen=True)
class FileOutcome:
    """What a migrated file needs for the end-of-run summary and the exit code.

    ``notable`` holds the findings a person should look at (review and unsupported), in the
    order of the migration's findings. ``skipped`` says why a file was not migrated (auto
    direction, and the file imports neither framework); then nothing was written. ``diff`` is
    the unified diff of a ``diff`` task (nothing written; ``record`` is None).
    """

    src: Path
    direction: Direction | None
    output: Path | None
    record: Path | None
    counts: Counts
    changed: bool
    notable: tuple[Finding, ...] = ()
    skipped: str | None = None
    diff: str | None = None

    @property
    def unsupported(self) -> bool:
        """Whether unsupported constructs remain (exit code 1 unless they are allowed)."""
        return self.counts.unsupported > 0


def detect_direction(source: str, name: str) -> Direction | None:
    """The direction for a file from its top-level imports, as ``fwmigrate check`` decides it
    (:mod:`migrator.check.detect`): torch -> torch2tf, keras or tensorflow -> tf2torch, both -> the
    framework the file uses more, neither -> None. Raises :class:`migrator.api.InputError` (one
    line naming ``name``) for a syntax error."""
    from migrator.check.detect import detect, parse

    return detect(parse(source, name)).direction


@functools.lru_cache(maxsize=16)
def rules_for(direction: Direction, rule_dirs: tuple[Path, ...]) -> RuleSet:
    """The rules for a direction and extra rule directories, loaded once per process.

    Call it before :func:`run` to report an invalid rule file once (``RuleError``) rather than
    once per file. The cache is keyed by the arguments; a failed load is not cached.
    """
    return load_rules(direction, rule_dirs)


def _output_for(task: MigrateTask, direction: Direction) -> Path:
    if task.out_dir is None or task.inputs_root is None:
        return api.default_output_path(task.src, direction)
    return mirror(task.src, task.inputs_root, task.out_dir)


def _make_parent(out: Path) -> None:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise api.InputError(f"{out}: cannot create directory {out.parent}: {exc.strerror}") from None


def migrate_file(task: MigrateTask) -> FileOutcome:
    """Read, migrate and write one file (code and record, atomically); the worker of a run.

    Raises :class:`migrator.api.InputError` (or ``RuleError``) with a one-line message; in
    :func:`run` that becomes the item's error. An output that exists is refused unless
    ``task.force``; an output that would be the source itself is always refused.
    """
    source = api.read_source(task.src)
    direction = task.direction or detect_direction(source, str(task.src))
    if direction is None:
        reason = "imports neither torch nor keras/tensorflow"
        return FileOutcome(task.src, None, None, None, Counts(0, 0, 0), False, skipped=reason)
    result = api.migrate_source(
        source,
        direction,
        rules_for(direction, task.rule_dirs),
        source_name=str(task.src),
        input_shape=task.input_shape,
    )
    out = _output_for(task, direction)
    if os.path.abspath(out) == os.path.abspath(task.src):
        raise api.InputError(f"{out}: output would overwrite the source file")
    notable = tuple(f for f in result.findings if f.severity is not Severity.MIGRATED)
    if task.diff:
        text = unified_diff(source, result.code, str(task.src), str(out))
        return FileOutcome(task.src, direction, out, None, result.counts, result.changed, notable, diff=text)
    _make_parent(out)
    record = api.write_outputs(result, out, task.force)
    return FileOutcome(task.src, direction, out, record, result.counts, result.changed, notable)


def unified_diff(before: str, after: str, from_name: str, to_name: str) -> str:
    """The unified diff from ``before`` to ``after`` ("" when they are equal)."""
    import difflib

    lines = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), fromfile=from_name, tofile=to_name
    )
    return "".join(lines)


def exit_code(outcomes: Iterable[Outcome[FileOutcome]], allow_unsupported: bool = False) -> ExitCode:
    """The exit code of a migration run, from the worst file:

    - 2 (:attr:`ExitCode.ERROR`) if any file failed (nothing was written for that file; the
      others were migrated and written);
    - else 1 (:attr:`ExitCode.UNSUPPORTED`) if any file still has unsupported constructs, unless
      ``allow_unsupported`` (the ``allow-unsupported`` setting);
    - else 0 (:attr:`ExitCode.OK`). Files needing review and skipped files do not change it.
    """
    items = list(outcomes)
    if any(not o.ok for o in items):
        return ExitCode.ERROR
    if not allow_unsupported and any(o.result is not None and o.result.unsupported for o in items):
        return ExitCode.UNSUPPORTED
    return ExitCode.OK
