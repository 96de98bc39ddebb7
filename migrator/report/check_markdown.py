"""`fwmigrate check --format markdown`: for a pull-request comment. A table of the files and their
scores, then a table per file of the findings that need a person (all of them with verbose)."""

from __future__ import annotations

from migrator.check.result import CheckReport, FileCheck, listed


def render_markdown(report: CheckReport, verbose: bool = False) -> str:
    c = report.constructs
    n = c.migrated + c.review + c.unsupported
    verdict = "error" if report.errors else "passed" if report.passed else "failed"
    out = [
        "## fwmigrate check",
        "",
        f"**{verdict.capitalize()}**: portability score **{report.score:.1f}** over {n} constructs "
        f"in {len(report.files)} files (`--min-score {report.policy.min_score:g}`"
        + (", unsupported allowed" if report.policy.allow_unsupported else "")
        + ").",
        "",
        "| file | direction | score | migrated | review | unsupported | result |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    out += [_file_row(report, f) for f in report.files]
    for f in report.files:
        items = listed(f, verbose)
        if not items:
            continue
        out += [
            "",
            f"### {_code(str(f.path))}",
            "",
            "| line:col | severity | API | message | hint |",
            "|---|---|---|---|---|",
        ]
        for i in items:
            g = i.finding
            hint = _cell(i.hint) if i.hint else ""
            out.append(
                f"| {g.line}:{g.col} | {g.severity.value} | {_code(g.api)} | {_cell(g.message)} | {hint} |"
            )
    return "\n".join(out) + "\n"


def _file_row(report: CheckReport, f: FileCheck) -> str:
    path = _code(str(f.path))
    if f.error is not None:
        return f"| {path} | – | – | – | – | – | error: {_cell(f.error)} |"
    c = f.constructs
    direction = f.direction.value if f.direction is not None else "–"
    if f.direction is None:
        result = f"nothing to check ({f.reason})"
    else:
        problems = report.problems(f)
        result = f"failed: {', '.join(problems)}" if problems else "passed"
        if f.ambiguous:
            result += f" ({f.reason})"
    score = f"{f.score:.1f}" if f.score is not None else "–"
    return (
        f"| {path} | {direction} | {score} | {c.migrated} | {c.review} | {c.unsupported} | {_cell(result)} |"
    )


def _cell(text: str) -> str:
    """Text safe in a table cell: no pipes or line breaks break the row."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", "").replace("\n", "<br>")


def _code(text: str) -> str:
    """Inline code in a table cell (a pipe inside code still ends the cell unless escaped)."""
    fence, pad = ("``", " ") if "`" in text else ("`", "")
    escaped = text.replace("|", "\\|")
    return f"{fence}{pad}{escaped}{pad}{fence}"
