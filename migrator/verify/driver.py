"""The comparison both directions share: seeded batches through the original and the migrated
model, model outputs compared in the original's layout, per-layer rows in the original's execution
order, and the ``EquivalenceResult``. A direction supplies a ``Session``: both models built, the
weights moved, and per-layer capture installed."""

from __future__ import annotations

import json
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from migrator.verify.arrays import Array, Perm, layer_diff, spatial_axes, to_source
from migrator.verify.compare import Diff, classify, diff
from migrator.verify.expr import ExprError, evaluate
from migrator.verify.inputs import make_input, shape_variants
from migrator.verify.loading import load_module
from migrator.verify.result import (
    Comparison,
    EquivalenceResult,
    InputInfo,
    SampleInfo,
    Status,
    Tolerance,
    Verdict,
)
from migrator.verify.spec import InputSpec, LoadMode


class UserCodeError(RuntimeError):
    """The user's code failed (building or running a model): reported as a usage error (exit 2)."""


@dataclass(frozen=True)
class Probe:
    """One compared layer: its path and type on each side."""

    source: str  # path in the original model
    target: str  # path in the migrated model
    source_type: str
    target_type: str
    transform: str
    note: str = ""


@dataclass
class Capture:
    """Per-probe outputs of one forward pass on each side; ``order`` is the original's execution
    order of (probe, call number)."""

    original: dict[int, list[Array]] = field(default_factory=dict)
    migrated: dict[int, list[tuple[Array, ...]]] = field(default_factory=dict)  # per call: readings
    order: list[tuple[int, int]] = field(default_factory=list)

    def add_original(self, i: int, value: Array) -> None:
        calls = self.original.setdefault(i, [])
        calls.append(value.astype(np.float64))
        if (i, len(calls) - 1) not in self.order:
            self.order.append((i, len(calls) - 1))

    def add_migrated(self, i: int, value: Array, *alternatives: Array) -> None:
        """The migrated output, and other readings of it in the original's layout when the layout
        is ambiguous (a flattened map): the closest one is compared."""
        readings = tuple(a.astype(np.float64) for a in (value, *alternatives))
        self.migrated.setdefault(i, []).append(readings)

    def reset(self) -> None:
        self.original.clear()
        self.migrated.clear()


class Session(Protocol):
    """Both models ready to compare (built, weights moved, capture installed)."""

    out_perms: list[Perm]  # migrated output = original output.permute(perm)
    probes: list[Probe]
    capture: Capture

    def run_original(self, xs: list[Array], warnings: list[str]) -> list[Array]:
        """The original's outputs (original layout) for inputs in the original's layout."""
        ...

    def run_migrated(self, xs: list[Array]) -> list[Array]:
        """The migrated model's outputs (its own layout) for inputs in the original's layout."""
        ...

    def float64_error(self, xs: list[Array], ref: list[Array]) -> float:
        """The original's own float32-vs-float64 error on ``xs`` (``ref`` its float32 outputs)."""
        ...

    def momentum_check(self, xs: list[Array], tol: Tolerance) -> list[Comparison]:
        """BatchNorm running statistics after one training step on each side."""
        ...


@dataclass(frozen=True)
class Models:
    original_module: types.ModuleType
    migrated_module: types.ModuleType
    original: Any
    migrated: Any


def load_file(path: Path, module_name: str, mode: LoadMode) -> types.ModuleType:
    """Import one of the user's files; a failure is the user's."""
    try:
        return load_module(path, module_name, mode)
    except Exception as exc:
        raise UserCodeError(f"loading {path.name} raised {type(exc).__name__}: {exc}") from exc


def build_from(expr: str, module: types.ModuleType, what: str) -> Any:
    """The model ``--model`` builds in a loaded file (``what``: "original", "migrated", ...). An
    ``--model`` mistake is reported as it is for the original, and naming the model for the others."""
    try:
        return evaluate(expr, vars(module))
    except Exception as exc:
        if isinstance(exc, ExprError) and what == "original":
            raise
        raise UserCodeError(
            f"building the {what} model with {expr!r} raised {type(exc).__name__}: {exc}"
        ) from exc


def build_models(request: Mapping[str, Any]) -> Models:
    """Load both files and build the model from ``--model`` in each; failures are the user's."""
    mode = LoadMode(request["load_mode"])
    orig = load_file(Path(request["original"]), "fwmigrate_original", mode)
    mig = load_file(Path(request["migrated"]), "fwmigrate_migrated", mode)
    expr = request["model"]
    return Models(orig, mig, build_from(expr, orig, "original"), build_from(expr, mig, "migrated"))


class Batches:
    """The seeded inputs, in the original's layout: sample 0 has the shapes asked for, sample 1
    flips the spatial sizes of feature-map inputs between even and odd."""

    def __init__(
        self,
        specs: Sequence[InputSpec],
        in_perms: Sequence[Perm],
        seed: int,
        samples: int,
        fixed: Sequence[bool] = (),
    ) -> None:
        """``fixed[k]``: input k has spatial sizes the original declares (a Keras ``Input``)."""
        self.specs = list(specs)
        self.seed = seed
        perms = [*in_perms, *([None] * max(0, len(specs) - len(in_perms)))]
        self.variants = []
        for k, (spec, perm) in enumerate(zip(self.specs, perms, strict=False)):
            axes = () if k < len(fixed) and fixed[k] else spatial_axes(perm)
            last = bool(axes) and axes[0] == 1
            self.variants.append(shape_variants(spec, bool(axes), samples, channels_last=last))

    def shapes(self, sample: int) -> list[tuple[int, ...]]:
        return [v[sample] for v in self.variants]

    def batch(self, sample: int, shapes: Sequence[tuple[int, ...]] | None = None) -> list[Array]:
        r = np.random.default_rng(self.seed + 1000 * sample)
        shapes = self.shapes(sample) if shapes is None else shapes
        return [make_input(s, sh, r) for s, sh in zip(self.specs, shapes, strict=True)]


@dataclass
class _Tally:
    out_diffs: list[Diff | None]
    out_shapes: list[tuple[int, ...]]
    layer_diffs: dict[tuple[int, int], Diff] = field(default_factory=dict)
    shapes_seen: dict[tuple[int, int], tuple[int, ...]] = field(default_factory=dict)
    layer_notes: dict[int, str] = field(default_factory=dict)
    samples: list[SampleInfo] = field(default_factory=list)
    ref0: list[Array] = field(default_factory=list)  # the original's outputs for sample 0


def _output_diff(r: Array, g: Array, perm: Perm, k: int) -> Diff:
    d = diff(r, to_source(g, perm)) if perm and len(perm) == g.ndim else layer_diff(r, g)
    if d is None:
        raise UserCodeError(f"output {k}: shape {tuple(r.shape)} in the original, {tuple(g.shape)} migrated")
    return d


def _tally_layers(session: Session, t: _Tally) -> None:
    cap = session.capture
    for i in range(len(session.probes)):
        refs, gots = cap.original.get(i, []), cap.migrated.get(i, [])
        if refs and len(refs) != len(gots):
            t.layer_notes[i] = f"called {len(refs)}x in the original, {len(gots)}x migrated"
            continue
        for k, (r, readings) in enumerate(zip(refs, gots, strict=True)):
            options = [d for d in (layer_diff(r, g) for g in readings) if d is not None]
            if not options:
                t.layer_notes[i] = (
                    f"output shapes {r.shape} and {readings[0].shape} do not match in a known layout"
                )
                continue
            ld = min(options, key=lambda d: d.max_abs)
            prev = t.layer_diffs.get((i, k))
            t.layer_diffs[(i, k)] = ld if prev is None else prev.worst(ld)
            t.shapes_seen.setdefault((i, k), tuple(r.shape))


def _run_samples(session: Session, batches: Batches, samples: int, warnings: list[str]) -> _Tally:
    shapes0 = batches.shapes(0)
    tally: _Tally | None = None
    for s in range(samples):
        shapes = batches.shapes(s)
        xs = batches.batch(s, shapes)
        session.capture.reset()
        try:
            ref = session.run_original(xs, warnings)
        except Exception as exc:
            if s == 0:
                raise UserCodeError(f"running the original model raised {type(exc).__name__}: {exc}") from exc
            warnings.append(
                f"sample {s}: the original model does not accept shapes {shapes}; used {list(shapes0)}"
            )
            shapes, xs = shapes0, batches.batch(s, shapes0)
            session.capture.reset()
            ref = session.run_original(xs, [])
        try:
            got = session.run_migrated(xs)
        except Exception as exc:
            raise UserCodeError(
                f"running the migrated model on {shapes} raised {type(exc).__name__}: {exc}"
            ) from exc
        if len(got) != len(ref):
            raise UserCodeError(f"the original model returns {len(ref)} outputs, the migrated one {len(got)}")
        if tally is None:
            tally = _Tally([None] * len(ref), [tuple(r.shape) for r in ref], ref0=ref)
        worst = Diff(0.0, 0.0)
        for k, (r, g) in enumerate(zip(ref, got, strict=True)):
            d = _output_diff(r, g, session.out_perms[k] if k < len(session.out_perms) else None, k)
            prev = tally.out_diffs[k]
            tally.out_diffs[k] = d if prev is None else prev.worst(d)
            worst = worst.worst(d)
        seed = batches.seed + 1000 * s
        tally.samples.append(SampleInfo(s, seed, tuple(tuple(x) for x in shapes), worst.max_abs, worst.rel))
        _tally_layers(session, tally)
    assert tally is not None
    return tally


@dataclass(frozen=True)
class MomentumProbe:
    """Names for one BatchNorm's row in the momentum check."""

    source: str
    statistic: str  # "running_mean" / "moving_mean"
    target: str
    source_type: str
    target_type: str
    transform: str
    expectation: str  # shown when the row passes: what the momentum must be


def momentum_row(probe: MomentumProbe, ref: Array, got: Array, tol: Tolerance) -> Comparison:
    """A running-statistic row after one training step on both sides."""
    d = diff(ref, got)
    status, note = classify(d, tol)
    return Comparison(
        source=f"{probe.source} ({probe.statistic} after a training step)",
        target=probe.target,
        shape=tuple(ref.shape),
        max_abs_diff=d.max_abs,
        max_rel_diff=d.rel,
        scale=d.scale,
        threshold=tol.threshold(d.scale),
        status=status,
        source_type=probe.source_type,
        target_type=probe.target_type,
        transform=probe.transform,
        note=note or f"momentum check: {probe.expectation}",
    )


def _output_rows(t: _Tally, tol: Tolerance, e32: float | None) -> list[Comparison]:
    rows = []
    for k, od in enumerate(t.out_diffs):
        assert od is not None
        status, note = classify(od, tol, e32)
        name = "output" if len(t.out_diffs) == 1 else f"output[{k}]"
        rows.append(
            Comparison(
                name,
                name,
                t.out_shapes[k],
                od.max_abs,
                od.rel,
                od.scale,
                tol.threshold(od.scale),
                status,
                note=note,
            )
        )
    return rows


def _layer_rows(session: Session, t: _Tally, tol: Tolerance) -> list[Comparison]:
    """A probe used several times (one ReLU for every activation) gets a row per call, so the first
    divergent row is the first divergent computation."""
    order = session.capture.order
    n_calls = {i: sum(1 for j, _ in order if j == i) for i, _ in order}
    rows = []
    for i, k in order:
        p = session.probes[i]
        suffix = "" if n_calls[i] == 1 else f" (call {k + 1})"
        common: dict[str, Any] = {
            "source": p.source + suffix,
            "target": p.target + suffix,
            "source_type": p.source_type,
            "target_type": p.target_type,
            "transform": p.transform,
        }
        ld = t.layer_diffs.get((i, k))
        if ld is None:
            note = t.layer_notes.get(i, "not run")
            rows.append(
                Comparison(
                    shape=(),
                    max_abs_diff=0.0,
                    max_rel_diff=0.0,
                    scale=0.0,
                    threshold=0.0,
                    status=Status.NOT_COMPARED,
                    note=note,
                    **common,
                )
            )
            continue
        status, note = classify(ld, tol)
        rows.append(
            Comparison(
                shape=t.shapes_seen.get((i, k), ()),
                max_abs_diff=ld.max_abs,
                max_rel_diff=ld.rel,
                scale=ld.scale,
                threshold=tol.threshold(ld.scale),
                status=status,
                note=note or t.layer_notes.get(i, "") or p.note,
                **common,
            )
        )
    return rows


def compare(
    session: Session,
    batches: Batches,
    request: Mapping[str, Any],
    warnings: list[str],
    versions: dict[str, str],
    direction: str,
) -> EquivalenceResult:
    """Run every sample through both models and turn the differences into the result."""
    tol = Tolerance(**request["tolerance"])
    tally = _run_samples(session, batches, int(request["samples"]), warnings)
    x0 = batches.batch(0)
    e32: float | None = None
    try:
        e32 = session.float64_error(x0, tally.ref0)
    except Exception as exc:  # float64 is a scale, not the verdict
        warnings.append(f"the float64 reference could not run ({type(exc).__name__}: {exc})")
    outputs = _output_rows(tally, tol, e32)
    layers = _layer_rows(session, tally, tol)
    # eval outputs cannot show a BatchNorm momentum mistake; the running statistics after one
    # training step can, and a model that trains differently is not equivalent
    momentum = session.momentum_check(x0, tol)
    layers.extend(momentum)
    equivalent = all(o.status is Status.PASS for o in outputs) and all(
        m.status is not Status.FAIL for m in momentum
    )
    if any(x[0] == 1 for x in batches.shapes(0)):
        warnings.append("batch size 1: BatchNorm/flatten mistakes can hide; use a batch of at least 2")
    specs = batches.specs
    return EquivalenceResult(
        direction=direction,
        original=Path(request["original"]).name,
        migrated=Path(request["migrated"]).name,
        via=Path(request["via"]).name if request.get("via") else None,
        model=request["model"],
        verdict=Verdict.EQUIVALENT if equivalent else Verdict.NOT_EQUIVALENT,
        tolerance=tol,
        inputs=tuple(
            InputInfo(f"input{i}" if len(specs) > 1 else "x", s.shape, s.dtype, s.low, s.high)
            for i, s in enumerate(specs)
        ),
        samples=tuple(tally.samples),
        outputs=tuple(outputs),
        layers=tuple(layers),
        float64_error=e32,
        warnings=tuple(dict.fromkeys(warnings)),
        versions=versions,
        seed=int(request["seed"]),
    )


def class_perms(record: Mapping[str, Any], name: str, n_inputs: int) -> tuple[list[Perm], list[Perm]]:
    """Input and output perms of a recorded class or builder; inputs padded with None."""
    cls = record.get("classes", {}).get(name, {})
    in_perms: list[Perm] = [i.get("perm") for i in cls.get("inputs", [])]
    out_perms: list[Perm] = [o.get("perm") for o in cls.get("outputs", [])]
    return [*in_perms, *([None] * max(0, n_inputs - len(in_perms)))], out_perms


@dataclass(frozen=True)
class Prepared:
    """What a verification (or export) run starts from: the parsed inputs, the warnings so far,
    the seed and the frameworks seeded with it (their versions), a NumPy generator from the same
    seed, and the migration record (empty when the request names none)."""

    specs: list[InputSpec]
    warnings: list[str]
    seed: int
    versions: dict[str, str]
    rng: np.random.Generator
    record: dict[str, Any]


def prepare(request: Mapping[str, Any]) -> Prepared:
    specs = [InputSpec.parse(s) for s in request["inputs"]]
    seed = int(request["seed"])
    versions = seed_everything(seed)
    record: dict[str, Any] = {}
    if request.get("record"):
        record = json.loads(Path(request["record"]).read_text(encoding="utf-8"))
    return Prepared(
        specs, list(request.get("warnings", [])), seed, versions, np.random.default_rng(seed), record
    )


def seed_everything(seed: int) -> dict[str, str]:
    """Seed both frameworks; returns the versions for the report."""
    import keras
    import tensorflow as tf
    import torch

    from migrator import __version__

    torch.manual_seed(seed)
    keras.utils.set_random_seed(seed)
    return {
        "fwmigrate": __version__,
        "torch": torch.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }
