"""Check files: run the migration engine in memory on each and keep its findings. Nothing is
written and no framework is imported; a file that cannot be read or parsed is reported as an
error and the others are still checked."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from migrator import api
from migrator.check.detect import Detection, detect, parse
from migrator.check.result import CheckReport, FileCheck, Item, Policy, RuleInfo
from migrator.rules.catalog import direction_of
from migrator.rules.loader import RuleError, RuleSet, default_rule_dir
from migrator.types import Direction, Finding, MigrationResult, Severity

NO_RULE_HINT = "no rule covers this API; a rule file passed with --rules can add one"


class _Rules:
    """The rule sets, loaded once per direction when a file first needs them. Extra directories
    go to the direction their rule ids name (both when they name none), as for `fwmigrate rules`;
    with a fixed direction, all of them go to it. With extra directories, every direction that may
    be needed is loaded up front, so that a bad rule directory fails before anything is checked."""

    def __init__(self, extra_dirs: Sequence[Path], direction: Direction | None) -> None:
        self._extra = tuple(extra_dirs)
        self._fixed = direction
        self._sets: dict[Direction, RuleSet] = {}
        if self._extra:
            for d in [direction] if direction is not None else list(Direction):
                self.get(d)

    def get(self, direction: Direction) -> RuleSet:
        if direction not in self._sets:
            dirs = [p for p in self._extra if self._fixed is not None or direction_of(p) in (None, direction)]
            self._sets[direction] = api.load_rules(direction, dirs)
        return self._sets[direction]

    def hint(self, direction: Direction, f: Finding) -> str | None:
        if f.rule_id is None:
            return NO_RULE_HINT if f.severity is Severity.UNSUPPORTED else None
        rule = self.get(direction).get(f.rule_id)
        shipped = rule is None or rule.source.is_relative_to(default_rule_dir(direction))
        extra = "" if shipped else "".join(f" --rules {d}" for d in self._extra)
        return f"see `fwmigrate explain {f.rule_id}{extra}`"

    def info(self, direction: Direction, rule_id: str) -> RuleInfo | None:
        rule = self.get(direction).get(rule_id)
        return None if rule is None else RuleInfo(rule.id, rule.summary or rule.unsupported or "")


@dataclass(frozen=True)
class _Task:
    """One file to check, as sent to a worker process."""

    path: Path
    direction: Direction | None
    rule_dirs: tuple[Path, ...]
    debug: bool


@functools.lru_cache(maxsize=8)
def _rules_for(rule_dirs: tuple[Path, ...], direction: Direction | None) -> _Rules:
    """The rule sets of a run, once per process (each worker loads them on its first file)."""
    return _Rules(rule_dirs, direction)


def _check_task(task: _Task) -> tuple[FileCheck, tuple[RuleInfo, ...]]:
    """Check one file; also the rules its findings name (looked up where the rules are loaded)."""
    rules = _rules_for(task.rule_dirs, task.direction)
    checked = _check_file(task.path, task.direction, rules, task.debug)
    ids = sorted({i.finding.rule_id for i in checked.items if i.finding.rule_id is not None})
    infos = () if checked.direction is None else tuple(rules.info(checked.direction, r) for r in ids)
    return checked, tuple(i for i in infos if i is not None)


def check_paths(
    files: Iterable[Path],
    direction: Direction | None = None,
    rule_dirs: Sequence[Path] = (),
    policy: Policy | None = None,
    debug: bool = False,
    jobs: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> CheckReport:
    """Check each file; ``direction`` None picks it per file from the imports.

    With ``jobs`` above 1 the files are checked in that many worker processes
    (:func:`migrator.batch.run`); the report keeps the order of ``files``. ``progress(done,
    total)`` is called as files finish. Raises RuleError for a bad rule directory, before any
    file is checked. A file that cannot be checked becomes a FileCheck with ``error`` set; with
    ``debug``, an internal error is raised instead (and the files are checked in this process).
    """
    paths = tuple(files)
    dirs = tuple(rule_dirs)
    _rules_for(dirs, direction)  # a bad rule directory fails here, once
    tasks = [_Task(p, direction, dirs, debug) for p in paths]
    if debug or jobs <= 1:  # in this process (a file's own errors are in its FileCheck)
        results = []
        for done, task in enumerate(tasks, start=1):
            results.append(_check_task(task))
            if progress is not None:
                progress(done, len(tasks))
    else:
        from migrator.batch import run

        results = []
        for task, outcome in zip(tasks, run(tasks, _check_task, jobs, progress), strict=True):
            if outcome.result is not None:
                results.append(outcome.result)
            else:  # the worker itself failed (killed, out of memory)
                msg = f"{task.path}: internal error ({outcome.error}); rerun with FWMIGRATE_DEBUG=1"
                results.append((FileCheck(task.path, None, "", error=msg), ()))
    infos = {info.id: info for _, found in results for info in found}
    checks = tuple(c for c, _ in results)
    return CheckReport(checks, policy or Policy(), tuple(infos[k] for k in sorted(infos)))


def _check_file(path: Path, direction: Direction | None, rules: _Rules, debug: bool) -> FileCheck:
    name = str(path)
    try:
        source = api.read_source(path)
        tree = parse(source, name)
        found = detect(tree) if direction is None else Detection(direction, f"--direction {direction.value}")
        if found.direction is None:
            return FileCheck(path, None, found.reason)
        result = api.migrate_source(source, found.direction, rules.get(found.direction), source_name=name)
    except api.InputError as exc:
        return FileCheck(path, None, "", error=str(exc))
    except RuleError:
        raise
    except Exception as exc:  # a bug in fwmigrate, not in the input: say so, check the other files
        if debug:
            raise
        why = f"{type(exc).__name__}: {exc}".replace("\n", " ")
        msg = f"{name}: internal error ({why}); rerun with FWMIGRATE_DEBUG=1 and report it"
        return FileCheck(path, None, "", error=msg)
    result = _unique(result)
    lines = re.split(r"\r\n|\r|\n", source)
    items = tuple(
        Item(f, rules.hint(found.direction, f), _utf16_col(lines, f.line, f.col)) for f in result.findings
    )
    return FileCheck(path, found.direction, found.reason, items, result, found.ambiguous)


def _unique(result: MigrationResult) -> MigrationResult:
    """The result with repeated identical findings dropped (a helper inlined at two calls reports
    its constructs twice)."""
    seen: set[tuple[object, ...]] = set()
    unique: list[Finding] = []
    for f in result.findings:
        key = (f.line, f.col, f.severity, f.api, f.message, f.rule_id)
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return result if len(unique) == len(result.findings) else replace(result, findings=tuple(unique))


def _utf16_col(lines: Sequence[str], line: int, col: int) -> int:
    """A 1-based column in UTF-8 bytes (as ``ast`` counts) as a column in UTF-16 code units."""
    if not 0 < line <= len(lines) or lines[line - 1].isascii():
        return col
    prefix = lines[line - 1].encode("utf-8")[: max(col - 1, 0)].decode("utf-8", errors="ignore")
    return len(prefix.encode("utf-16-le")) // 2 + 1
