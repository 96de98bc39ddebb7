"""`fwmigrate check --format text`: per file the migration summary's lines, each followed by its
hint, then one score line per file and the total."""

from __future__ import annotations

from migrator.check.result import CheckReport, FileCheck, listed
from migrator.report.summary import render_summary


def render_text(report: CheckReport, verbose: bool = False) -> str:
    out: list[str] = []
    for f in report.files:
        out += _findings(f, verbose)
    out += ["", f"portability scores (--min-score {report.policy.min_score:g}):"]
    out += [f"  {_score_line(report, f)}" for f in report.files]
    out.append(_total(report))
    return "\n".join(out) + "\n"


def _findings(f: FileCheck, verbose: bool) -> list[str]:
    if f.error is not None:
        return [f"error: {f.error}"]
    if f.migration is None:
        return [f"{f.path}: nothing to check ({f.reason})"]
    lines = render_summary(f.migration, str(f.path), verbose).splitlines()
    out = [lines[0]]
    # render_summary lists exactly the findings `listed` selects, in the same order
    for line, item in zip(lines[1:], listed(f, verbose), strict=True):
        out.append(line)
        if item.hint:
            out.append(f"      {item.hint}")
    return out


def _score_line(report: CheckReport, f: FileCheck) -> str:
    if f.error is not None:
        return f"{f.path}: error"
    if f.direction is None:
        return f"{f.path}: {f.score:.1f} (nothing to check)"
    c = f.constructs
    how = f.direction.value + (f", picked as the file {f.reason}" if f.ambiguous else "")
    line = (
        f"{f.path}: {f.score:.1f} ({how}; {c.migrated + c.review + c.unsupported} constructs: "
        f"{c.migrated} migrated, {c.review} review, {c.unsupported} unsupported)"
    )
    problems = report.problems(f)
    return line + (f" FAILED: {', '.join(problems)}" if problems else "")


def _total(report: CheckReport) -> str:
    c = report.constructs
    n = c.migrated + c.review + c.unsupported
    parts = [f"{len(report.checked) - len(report.failed)} passed", f"{len(report.failed)} failed"]
    if report.errors:
        parts.append(f"{len(report.errors)} not checked (error)")
    files = len(report.files)
    return (
        f"total: {report.score:.1f} over {n} constructs in {files} file{'s' if files != 1 else ''}: "
        + ", ".join(parts)
    )
