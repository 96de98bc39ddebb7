"""The portability score (defined in docs/check.md).

A *construct* is one framework API use the engine reported: a (line, column, API) triple. When
the engine reports several findings for one construct (a layer migrated and flagged for review),
the construct counts once, with the worst outcome among them: unsupported, then review, then
migrated.

    score = 100 × (migrated + review / 2) / constructs,   100 when there are none

rounded *down* to one decimal, so that a file shown at 80.0 passes ``--min-score 80``.
"""

from __future__ import annotations

from collections.abc import Iterable

from migrator.types import Counts, Finding, Severity

_RANK = {Severity.MIGRATED: 0, Severity.REVIEW: 1, Severity.UNSUPPORTED: 2}


def construct_counts(findings: Iterable[Finding]) -> Counts:
    """Constructs by their worst outcome."""
    worst: dict[tuple[int, int, str], Severity] = {}
    for f in findings:
        key = (f.line, f.col, f.api)
        seen = worst.get(key)
        if seen is None or _RANK[f.severity] > _RANK[seen]:
            worst[key] = f.severity
    outcomes = list(worst.values())
    return Counts(
        migrated=outcomes.count(Severity.MIGRATED),
        review=outcomes.count(Severity.REVIEW),
        unsupported=outcomes.count(Severity.UNSUPPORTED),
    )


def portability_score(c: Counts) -> float:
    """100 × (migrated + review / 2) / all, floored to one decimal; 100.0 when there are none."""
    total = c.migrated + c.review + c.unsupported
    if total == 0:
        return 100.0
    tenths = (1000 * (2 * c.migrated + c.review)) // (2 * total)  # exact: integers only
    return tenths / 10
