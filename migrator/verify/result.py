"""The equivalence result: what `verify` measured, as frozen values with a stable JSON form.

Reports (JSON, Markdown, HTML) are all rendered from an ``EquivalenceResult``.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class Status(enum.Enum):
    PASS = "pass"  # within tolerance
    SUSPICIOUS = "suspicious"  # above the pass line, below the fail line, and not saved by the float64 rule
    FAIL = "fail"  # beyond tolerance
    NOT_COMPARED = "not_compared"  # no counterpart, or shapes that cannot be matched


ROUND_TRIP = "torch2tf+tf2torch"  # the direction of a round trip: torch -> Keras -> torch


class Verdict(enum.Enum):
    EQUIVALENT = "equivalent"
    NOT_EQUIVALENT = "not_equivalent"
    ERROR = "error"  # the check could not run (model did not build, timeout, ...)


@dataclass(frozen=True)
class Tolerance:
    atol: float = 1e-6
    rtol: float = 1e-5
    fail_rtol: float = 1e-4  # beyond atol + fail_rtol * scale: fail without question

    def threshold(self, scale: float) -> float:
        return self.atol + self.rtol * scale

    def to_json(self) -> dict[str, Any]:
        return {
            "atol": self.atol,
            "rtol": self.rtol,
            "fail_rtol": self.fail_rtol,
            "rule": "pass when max|migrated - original| <= atol + rtol * max|original|",
        }


@dataclass(frozen=True)
class InputInfo:
    name: str
    shape: tuple[int, ...]  # in the original model's layout
    dtype: str
    low: float | None = None
    high: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "low": self.low,
            "high": self.high,
        }


@dataclass(frozen=True)
class SampleInfo:
    index: int
    seed: int
    shapes: tuple[tuple[int, ...], ...]  # the actual input shapes of this batch (original layout)
    max_abs_diff: float
    max_rel_diff: float

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "seed": self.seed,
            "shapes": [list(s) for s in self.shapes],
            "max_abs_diff": self.max_abs_diff,
            "max_rel_diff": self.max_rel_diff,
        }


@dataclass(frozen=True)
class Comparison:
    """One compared tensor: a model output or a layer's output, worst case over all samples."""

    source: str  # output name, or the layer's attribute path in the original model
    target: str  # the same on the migrated side
    shape: tuple[int, ...]  # original layout
    max_abs_diff: float
    max_rel_diff: float  # max_abs_diff / scale
    scale: float  # max |original|
    threshold: float
    status: Status
    source_type: str = ""  # e.g. "Conv2d"
    target_type: str = ""  # e.g. "Conv2D"
    transform: str = ""  # the weight transform applied (layers only)
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "source_type": self.source_type,
            "target_type": self.target_type,
            "transform": self.transform,
            "shape": list(self.shape),
            "max_abs_diff": self.max_abs_diff,
            "max_rel_diff": self.max_rel_diff,
            "scale": self.scale,
            "threshold": self.threshold,
            "status": self.status.value,
            "note": self.note,
        }

    @staticmethod
    def from_json(c: dict[str, Any]) -> Comparison:
        return Comparison(
            source=c["source"],
            target=c["target"],
            shape=tuple(c["shape"]),
            max_abs_diff=float(c["max_abs_diff"]),
            max_rel_diff=float(c["max_rel_diff"]),
            scale=float(c["scale"]),
            threshold=float(c["threshold"]),
            status=Status(c["status"]),
            source_type=c.get("source_type", ""),
            target_type=c.get("target_type", ""),
            transform=c.get("transform", ""),
            note=c.get("note", ""),
        )


@dataclass(frozen=True)
class TrainingCode:
    """One part of the training set-up (optimizer, loss, schedule, clipping) as code on each side."""

    source: str  # in the original file
    target: str  # in the migrated file

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "target": self.target}

    @staticmethod
    def from_json(data: dict[str, Any] | None) -> TrainingCode | None:
        return None if data is None else TrainingCode(data.get("source", ""), data.get("target", ""))


@dataclass(frozen=True)
class TrainingResult:
    """Train-step equivalence (``--train-steps``): both models trained from the same transferred
    weights on the same seeded batches; the loss at every step, the eval outputs afterwards and,
    for SGD-family optimizers, the parameters are compared."""

    steps: int
    steps_per_epoch: int
    targets: str = ""  # class_index | binary | probs | real
    compare_params: bool = False
    uses: dict[str, str] = field(default_factory=dict)  # rule ids the migration used, by part
    optimizer: TrainingCode | None = None
    loss: TrainingCode | None = None
    schedule: TrainingCode | None = None
    clip: TrainingCode | None = None
    notes: tuple[str, ...] = ()  # the migration's notes and the check's own
    neutralised: tuple[str, ...] = ()  # randomness switched off ("original: drop (Dropout p=0.5)")
    losses: tuple[Comparison, ...] = ()  # one row per step
    outputs: tuple[Comparison, ...] = ()  # eval outputs after the last step
    params: tuple[Comparison, ...] = ()  # trained parameters (compare_params)
    error: str | None = None  # why training could not run

    @property
    def rows(self) -> tuple[Comparison, ...]:
        return (*self.losses, *self.outputs, *self.params)

    @property
    def failed(self) -> bool:
        return any(c.status is Status.FAIL for c in self.rows)

    @property
    def verdict(self) -> Verdict:
        if self.error is not None:
            return Verdict.ERROR
        return Verdict.NOT_EQUIVALENT if self.failed else Verdict.EQUIVALENT

    @property
    def first_divergent(self) -> Comparison | None:
        """The first failing row (losses in step order, then outputs, then parameters), else the
        first suspicious one."""
        for status in (Status.FAIL, Status.SUSPICIOUS):
            for c in self.rows:
                if c.status is status:
                    return c
        return None

    def to_json(self) -> dict[str, Any]:
        first = self.first_divergent

        def code(c: TrainingCode | None) -> dict[str, Any] | None:
            return c.to_json() if c is not None else None

        return {
            "steps": self.steps,
            "steps_per_epoch": self.steps_per_epoch,
            "verdict": self.verdict.value,
            "targets": self.targets,
            "compare_params": self.compare_params,
            "uses": dict(self.uses),
            "optimizer": code(self.optimizer),
            "loss": code(self.loss),
            "schedule": code(self.schedule),
            "clip": code(self.clip),
            "notes": list(self.notes),
            "neutralised": list(self.neutralised),
            "losses": [c.to_json() for c in self.losses],
            "outputs": [c.to_json() for c in self.outputs],
            "params": [c.to_json() for c in self.params],
            "first_divergent": first.to_json() if first is not None else None,
            "error": self.error,
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> TrainingResult:
        return TrainingResult(
            steps=int(data["steps"]),
            steps_per_epoch=int(data["steps_per_epoch"]),
            targets=data.get("targets", ""),
            compare_params=bool(data.get("compare_params", False)),
            uses=dict(data.get("uses", {})),
            optimizer=TrainingCode.from_json(data.get("optimizer")),
            loss=TrainingCode.from_json(data.get("loss")),
            schedule=TrainingCode.from_json(data.get("schedule")),
            clip=TrainingCode.from_json(data.get("clip")),
            notes=tuple(data.get("notes", [])),
            neutralised=tuple(data.get("neutralised", [])),
            losses=tuple(Comparison.from_json(c) for c in data.get("losses", [])),
            outputs=tuple(Comparison.from_json(c) for c in data.get("outputs", [])),
            params=tuple(Comparison.from_json(c) for c in data.get("params", [])),
            error=data.get("error"),
        )


@dataclass(frozen=True)
class EquivalenceResult:
    direction: str  # "torch2tf", "tf2torch", or "torch2tf+tf2torch" (a round trip)
    original: str  # file name (no directories)
    migrated: str
    model: str  # the EXPR that built both models
    verdict: Verdict
    tolerance: Tolerance
    inputs: tuple[InputInfo, ...] = ()
    samples: tuple[SampleInfo, ...] = ()
    outputs: tuple[Comparison, ...] = ()
    layers: tuple[Comparison, ...] = ()
    float64_error: float | None = None  # the original model's own float32-vs-float64 error
    warnings: tuple[str, ...] = ()
    error: str | None = None  # why the check could not run (verdict ERROR)
    seed: int = 0
    versions: dict[str, str] = field(default_factory=dict)  # torch / tensorflow / keras / fwmigrate
    via: str | None = None  # a round trip's intermediate file: original -> via -> migrated
    training: TrainingResult | None = None  # train-step equivalence (--train-steps), when asked for

    @property
    def equivalent(self) -> bool:
        return self.verdict is Verdict.EQUIVALENT

    @property
    def max_abs_diff(self) -> float | None:
        return max((o.max_abs_diff for o in self.outputs), default=None)

    @property
    def max_rel_diff(self) -> float | None:
        return max((o.max_rel_diff for o in self.outputs), default=None)

    @property
    def first_divergent_layer(self) -> Comparison | None:
        """The first layer, in the original model's execution order, beyond tolerance."""
        for layer in self.layers:
            if layer.status is Status.FAIL:
                return layer
        for layer in self.layers:
            if layer.status is Status.SUSPICIOUS:
                return layer
        return None

    def to_json(self) -> dict[str, Any]:
        first = self.first_divergent_layer
        return {
            "fwmigrate": self.versions.get("fwmigrate", ""),
            "direction": self.direction,
            "original": self.original,
            "migrated": self.migrated,
            "via": self.via,
            "model": self.model,
            "verdict": self.verdict.value,
            "equivalent": self.equivalent,
            "max_abs_diff": self.max_abs_diff,
            "max_rel_diff": self.max_rel_diff,
            "tolerance": self.tolerance.to_json(),
            "float64_error": self.float64_error,
            "seed": self.seed,
            "inputs": [i.to_json() for i in self.inputs],
            "samples": [s.to_json() for s in self.samples],
            "outputs": [o.to_json() for o in self.outputs],
            "layers": [c.to_json() for c in self.layers],
            "first_divergent_layer": first.to_json() if first is not None else None,
            "warnings": list(self.warnings),
            "error": self.error,
            "training": self.training.to_json() if self.training is not None else None,
            "versions": dict(sorted(self.versions.items())),
        }

    def dumps(self) -> str:
        """Strict JSON: a NaN or infinite error (a model producing NaN) is written as a string."""
        return json.dumps(_finite(self.to_json()), indent=2, allow_nan=False) + "\n"

    @staticmethod
    def from_json(data: dict[str, Any]) -> EquivalenceResult:
        tol = data["tolerance"]
        return EquivalenceResult(
            direction=data["direction"],
            original=data["original"],
            migrated=data["migrated"],
            via=data.get("via"),
            model=data["model"],
            verdict=Verdict(data["verdict"]),
            tolerance=Tolerance(tol["atol"], tol["rtol"], tol.get("fail_rtol", 1e-4)),
            inputs=tuple(
                InputInfo(i["name"], tuple(i["shape"]), i["dtype"], i.get("low"), i.get("high"))
                for i in data.get("inputs", [])
            ),
            samples=tuple(
                SampleInfo(
                    s["index"],
                    s["seed"],
                    tuple(tuple(x) for x in s["shapes"]),
                    s["max_abs_diff"],
                    s["max_rel_diff"],
                )
                for s in data.get("samples", [])
            ),
            outputs=tuple(Comparison.from_json(c) for c in data.get("outputs", [])),
            layers=tuple(Comparison.from_json(c) for c in data.get("layers", [])),
            float64_error=data.get("float64_error"),
            warnings=tuple(data.get("warnings", [])),
            error=data.get("error"),
            seed=data.get("seed", 0),
            versions=dict(data.get("versions", {})),
            training=TrainingResult.from_json(data["training"]) if data.get("training") else None,
        )


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def request_error(
    request: Mapping[str, Any], direction: str, message: str, warnings: Sequence[str] = ()
) -> EquivalenceResult:
    """The ``error`` result of a verification or export request (the dict its subprocess reads):
    the files by name, the model, the tolerance and the seed asked for, and why it could not run."""
    return EquivalenceResult(
        direction=direction,
        original=Path(request.get("original") or request["migrated"]).name,
        migrated=Path(request["migrated"]).name,
        via=Path(request["via"]).name if request.get("via") else None,
        model=request["model"],
        verdict=Verdict.ERROR,
        tolerance=Tolerance(**request["tolerance"]),
        error=message,
        seed=request["seed"],
        warnings=tuple(warnings),
    )
