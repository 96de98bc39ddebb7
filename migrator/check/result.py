"""What `fwmigrate check` found: per file, the findings with their hints and the portability
score; for the run, the policy the scores are held to and the rules the findings name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from migrator.check.score import construct_counts, portability_score
from migrator.types import Counts, Direction, Finding, MigrationResult, Severity


@dataclass(frozen=True)
class Policy:
    """When a checked file passes: a score of at least ``min_score`` and, unless
    ``allow_unsupported``, no unsupported construct."""

    min_score: float = 0.0
    allow_unsupported: bool = False


@dataclass(frozen=True)
class Item:
    """One finding as the check reports it.

    ``hint`` says where to read more (``fwmigrate explain RULE_ID``) or what to do, when there is
    something to say. ``utf16_col`` is the finding's 1-based column counted in UTF-16 code units
    (SARIF's default column kind); ``finding.col`` counts UTF-8 bytes, as the migration summary does.
    """

    finding: Finding
    hint: str | None
    utf16_col: int


@dataclass(frozen=True)
class RuleInfo:
    """A rule that some finding names: its id and its one-paragraph summary."""

    id: str
    summary: str


@dataclass(frozen=True)
class FileCheck:
    """One checked file. ``direction`` is None when the file has nothing to check or failed.

    ``reason`` says how the direction was decided. ``migration`` is what the engine returned, its
    findings deduplicated (an inlined helper reports each of its constructs once per call);
    ``items`` are those findings in the same order. ``error`` is a one-line message naming the
    file (and line) when the file could not be checked.
    """

    path: Path
    direction: Direction | None
    reason: str
    items: tuple[Item, ...] = ()
    migration: MigrationResult | None = None
    ambiguous: bool = False  # imports both frameworks: the direction was picked by counting uses
    error: str | None = None

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(i.finding for i in self.items)

    @property
    def constructs(self) -> Counts:
        """Constructs by outcome (a construct is a line, column and API; see ``construct_counts``)."""
        return construct_counts(self.findings)

    @property
    def score(self) -> float | None:
        """The portability score, 0-100 (100 when there is nothing to check); None after an error."""
        return None if self.error is not None else portability_score(self.constructs)


@dataclass(frozen=True)
class CheckReport:
    files: tuple[FileCheck, ...]
    policy: Policy
    rules: tuple[RuleInfo, ...]  # every rule a finding names, sorted by id

    @property
    def checked(self) -> tuple[FileCheck, ...]:
        return tuple(f for f in self.files if f.error is None)

    @property
    def errors(self) -> tuple[FileCheck, ...]:
        return tuple(f for f in self.files if f.error is not None)

    @property
    def constructs(self) -> Counts:
        """All checked files' constructs together."""
        counts = [f.constructs for f in self.checked]
        return Counts(
            migrated=sum(c.migrated for c in counts),
            review=sum(c.review for c in counts),
            unsupported=sum(c.unsupported for c in counts),
        )

    @property
    def score(self) -> float:
        """The score of all checked files' constructs pooled (not a mean of the file scores)."""
        return portability_score(self.constructs)

    def problems(self, f: FileCheck) -> tuple[str, ...]:
        """Why a checked file fails the policy (empty when it passes)."""
        out: list[str] = []
        score = f.score
        if score is not None and score < self.policy.min_score:
            out.append(f"score below {self.policy.min_score:g}")
        unsupported = f.constructs.unsupported
        if unsupported and not self.policy.allow_unsupported:
            out.append(f"{unsupported} unsupported")
        return tuple(out)

    @property
    def failed(self) -> tuple[FileCheck, ...]:
        return tuple(f for f in self.checked if self.problems(f))

    @property
    def passed(self) -> bool:
        """Every file was checked and passes the policy."""
        return not self.errors and not self.failed

    def rule_summary(self, rule_id: str) -> str:
        for r in self.rules:
            if r.id == rule_id:
                return r.summary
        return ""


def listed(f: FileCheck, verbose: bool) -> tuple[Item, ...]:
    """The items a person should look at (every item with ``verbose``), as the summary lists them."""
    return tuple(i for i in f.items if verbose or i.finding.severity is not Severity.MIGRATED)
