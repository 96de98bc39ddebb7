"""The end-of-run summary of a directory migration, as plain text.

One block per file that needs a person (review or unsupported findings), then one line per file
that failed, then the totals. Clean files are counted, not listed, so a run over a thousand files
prints what matters.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from migrator.batch import FileOutcome, Outcome

INTERNAL_HINT = "rerun with FWMIGRATE_DEBUG=1 --jobs 1 and report it"


def error_line(src: Path, outcome: Outcome[FileOutcome]) -> str:
    """The one-line error of a failed file (the message names the file and line)."""
    if outcome.internal:
        return f"{src}: internal error ({outcome.error}); {INTERNAL_HINT}"
    return str(outcome.error)


def render_batch_summary(
    sources: Sequence[Path], outcomes: Sequence[Outcome[FileOutcome]], verbose: bool = False
) -> str:
    """Findings that need a person per file, failures, and a totals line."""
    lines: list[str] = []
    done = [o.result for o in outcomes if o.result is not None]
    for f in done:
        if f.skipped is not None:
            if verbose:
                lines.append(f"{f.src}: skipped: {f.skipped}")
            continue
        if f.notable or verbose:
            c = f.counts
            target = f" -> {f.output}" if f.output is not None else ""
            lines.append(
                f"{f.src}{target}: {c.migrated} migrated, {c.review} need review, {c.unsupported} unsupported"
            )
            lines.extend(
                f"  {f.src}:{x.line}:{x.col}: {x.severity.value}: {x.api}: {x.message}" for x in f.notable
            )
    failed = [(src, o) for src, o in zip(sources, outcomes, strict=True) if not o.ok]
    lines.extend(f"fwmigrate: error: {error_line(src, o)}" for src, o in failed)
    lines.append(_totals(done, len(failed)))
    return "\n".join(lines) + "\n"


def _totals(done: Sequence[FileOutcome], failed: int) -> str:
    migrated = [f for f in done if f.skipped is None]
    skipped = len(done) - len(migrated)
    unsupported = sum(1 for f in migrated if f.counts.unsupported)
    review = sum(1 for f in migrated if f.counts.review and not f.counts.unsupported)
    parts = [f"{len(migrated)} {_files(len(migrated))} migrated"]
    detail = []
    if unsupported:
        detail.append(f"{unsupported} with unsupported constructs")
    if review:
        detail.append(f"{review} needing review")
    if detail:
        parts[0] += f" ({', '.join(detail)})"
    if skipped:
        parts.append(f"{skipped} skipped (importing neither framework)")
    if failed:
        parts.append(f"{failed} failed")
    return "Summary: " + ", ".join(parts)


def _files(n: int) -> str:
    return "file" if n == 1 else "files"
