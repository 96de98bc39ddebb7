"""The equivalence result: what `verify` measured, as frozen values with a stable JSON form.

Reports (JSON, Markdown, HTML) are all rendered from an ``EquivalenceResult``.
"""

from __future__ import annotations

import enum
import json
import math
from dataclasses import dataclass, field
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
            "versions": dict(sorted(self.versions.items())),
        }

    def dumps(self) -> str:
        """Strict JSON: a NaN or infinite error (a model producing NaN) is written as a string."""
        return json.dumps(_finite(self.to_json()), indent=2, allow_nan=False) + "\n"

    @staticmethod
    def from_json(data: dict[str, Any]) -> EquivalenceResult:
        def comp(c: dict[str, Any]) -> Comparison:
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
            outputs=tuple(comp(c) for c in data.get("outputs", [])),
            layers=tuple(comp(c) for c in data.get("layers", [])),
            float64_error=data.get("float64_error"),
            warnings=tuple(data.get("warnings", [])),
            error=data.get("error"),
            seed=data.get("seed", 0),
            versions=dict(data.get("versions", {})),
        )


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
