"""The `fwmigrate check` report in each of its formats."""

from __future__ import annotations

from pathlib import Path

from migrator.check.result import CheckReport

FORMATS = ("text", "json", "markdown", "sarif")


def render_check(report: CheckReport, fmt: str, verbose: bool = False, base: Path | None = None) -> str:
    """The report as ``fmt`` (one of FORMATS). ``verbose`` lists migrated findings too (text and
    Markdown); SARIF paths are relative to ``base`` (default: the current directory)."""
    if fmt == "text":
        from migrator.report.check_text import render_text

        return render_text(report, verbose)
    if fmt == "json":
        from migrator.report.check_json import render_json

        return render_json(report)
    if fmt == "markdown":
        from migrator.report.check_markdown import render_markdown

        return render_markdown(report, verbose)
    if fmt == "sarif":
        from migrator.report.check_sarif import render_sarif

        return render_sarif(report, base if base is not None else Path.cwd())
    raise ValueError(f"unknown check report format {fmt!r}")
