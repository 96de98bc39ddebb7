"""The end-of-run summary of a migration, as plain text (one line per finding that needs a person)."""

from __future__ import annotations

from migrator.types import MigrationResult, Severity


def render_summary(result: MigrationResult, name: str) -> str:
    c = result.counts
    lines = [f"{name}: {c.migrated} migrated, {c.review} need review, {c.unsupported} unsupported"]
    for f in result.findings:
        if f.severity is Severity.MIGRATED:
            continue
        lines.append(f"  {name}:{f.line}:{f.col}: {f.severity.value}: {f.api}: {f.message}")
    return "\n".join(lines) + "\n"
