"""Values shared across the package: closed sets as enums, results as frozen dataclasses."""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class Direction(enum.Enum):
    TORCH2TF = "torch2tf"
    TF2TORCH = "tf2torch"


class Severity(enum.Enum):
    """How a construct fared. Closed set: the summary counts exactly these."""

    MIGRATED = "migrated"  # a rule applied; nothing for a person to do
    REVIEW = "review"  # migrated, but a person should look (assumption made, behaviour differs in training)
    UNSUPPORTED = "unsupported"  # left as it was, with a marker comment in the output


@dataclass(frozen=True, order=True)
class Finding:
    """One construct the migration saw: where, which API, which rule, and what happened."""

    line: int
    col: int
    severity: Severity = field(compare=False)
    api: str
    message: str
    rule_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "col": self.col,
            "severity": self.severity.value,
            "api": self.api,
            "rule": self.rule_id,
            "message": self.message,
        }


@dataclass(frozen=True)
class Counts:
    migrated: int
    review: int
    unsupported: int


@dataclass(frozen=True)
class LayerRecord:
    """Which source layer became which target layer, and how its weights move.

    ``path`` is the attribute path inside the owning class (``conv1``, ``features.0``);
    ``target`` is the same path on the migrated side, where an extra index means the
    weighted layer sits inside a wrapper (``conv1.1`` for ``Sequential([ZeroPadding2D, Conv2D])``).
    """

    owner: str
    path: str
    target: str
    rule_id: str
    transform: str
    line: int
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "owner": self.owner,
            "path": self.path,
            "target": self.target,
            "rule": self.rule_id,
            "transform": self.transform,
            "line": self.line,
        }
        if self.extra:
            out["extra"] = dict(sorted(self.extra.items()))
        return out


@dataclass(frozen=True)
class TensorLayout:
    """Layout of one model input or output: ``target = source.permute(perm)``; None when unknown."""

    name: str
    perm: tuple[int, ...] | None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "perm": list(self.perm) if self.perm is not None else None}


@dataclass(frozen=True)
class ClassRecord:
    name: str
    base: str
    inputs: tuple[TensorLayout, ...]
    outputs: tuple[TensorLayout, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "inputs": [t.to_json() for t in self.inputs],
            "outputs": [t.to_json() for t in self.outputs],
        }


@dataclass(frozen=True)
class MigrationRecord:
    """What `fwmigrate verify` needs from a migration: layouts, layer correspondence, transforms."""

    direction: Direction
    source_name: str
    classes: tuple[ClassRecord, ...]
    layers: tuple[LayerRecord, ...]
    training: Mapping[str, Any] | None = None  # what `verify --train-steps` builds on both sides

    def to_json(self) -> dict[str, Any]:
        from migrator import __version__

        out: dict[str, Any] = {
            "fwmigrate": __version__,
            "direction": self.direction.value,
            "source": self.source_name,
            "layout": (
                {"source": "channels_first", "target": "channels_last"}
                if self.direction is Direction.TORCH2TF
                else {"source": "channels_last", "target": "channels_first"}
            ),
            "classes": {c.name: c.to_json() for c in sorted(self.classes, key=lambda c: c.name)},
            "layers": [r.to_json() for r in self.layers],
        }
        if self.training is not None:
            out["training"] = dict(self.training)
        return out

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=False) + "\n"


@dataclass(frozen=True)
class MigrationResult:
    code: str
    findings: tuple[Finding, ...]
    record: MigrationRecord
    changed: bool

    @property
    def counts(self) -> Counts:
        sev = [f.severity for f in self.findings]
        return Counts(
            migrated=sev.count(Severity.MIGRATED),
            review=sev.count(Severity.REVIEW),
            unsupported=sev.count(Severity.UNSUPPORTED),
        )

    @property
    def complete(self) -> bool:
        return self.counts.unsupported == 0
