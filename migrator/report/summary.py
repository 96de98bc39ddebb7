"""The end-of-run summary of a migration, as plain text (one line per finding that needs a person)."""

from __future__ import annotations

from migrator.types import MigrationResult, Severity


def render_summary(result: MigrationResult, name: str, verbose: bool = False) -> str:
    """Counts, then one line per finding that needs a person (every finding with ``verbose``)."""
    c = result.counts
    lines = [f"{name}: {c.migrated} migrated, {c.review} need review, {c.unsupported} unsupported"]
    for f in result.findings:
        if f.severity is Severity.MIGRATED and not verbose:
            continue
        lines.append(f"  {name}:{f.line}:{f.col}: {f.severity.value}: {f.api}: {f.message}")
    return "\n".join(lines) + "\n"
