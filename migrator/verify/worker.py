"""The verification subprocess: imports both frameworks once, builds both models from the user's
files, transfers the weights, runs the same seeded inputs through both and writes an
``EquivalenceResult`` as JSON. Started by ``migrator.verify.run`` with a timeout; the user's code
runs only here.

    python -m migrator.verify.worker REQUEST.json
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from migrator import __version__
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
from migrator.verify.transfer import Pair, TransferError, pair_modules, transfer


class UserCodeError(RuntimeError):
    """The user's code failed (building or running a model): reported as a usage error (exit 2)."""


def _flat(out: Any) -> list[Any]:
    if isinstance(out, dict):
        return [v for _, v in sorted(out.items())]
    if isinstance(out, list | tuple):
        items: list[Any] = []
        for o in out:
            items.extend(_flat(o))
        return items
    return [out]


def _np(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _perm(shape: tuple[int, ...], perm: list[int] | None) -> tuple[int, ...]:
    return tuple(shape[p] for p in perm) if perm else shape


def _to_source(arr: np.ndarray, perm: list[int] | None) -> np.ndarray:
    """A target-layout array back in source layout (perm maps target = source.permute(perm))."""
    if not perm or len(perm) != arr.ndim:
        return arr
    return np.transpose(arr, np.argsort(perm))


def _candidates(ref: np.ndarray, cand: np.ndarray) -> list[np.ndarray]:
    """The candidate (Keras) array read in the reference (torch) layout, for every axis order
    that fits the shapes (unchanged, channels-last, batch-major, ...)."""
    if cand.ndim != ref.ndim or cand.size != ref.size:
        return []
    if ref.ndim > 5:
        return [cand] if ref.shape == cand.shape else []
    out = []
    for perm in itertools.permutations(range(ref.ndim)):
        if tuple(ref.shape[p] for p in perm) == cand.shape:
            out.append(np.transpose(cand, np.argsort(perm)))
    return out


def _layer_diff(ref: np.ndarray, cand: np.ndarray) -> Diff | None:
    """When several layouts fit (H == W == C), the one that matches is the layout: a correct layer
    differs by float noise in it and by O(1) in the others."""
    options = _candidates(ref, cand)
    if not options:
        return None
    return min((diff(ref, c) for c in options), key=lambda d: d.max_abs)


class FlattenShapes:
    """Records, per line of the original file, the input shape of every flatten/view/reshape."""

    def __init__(self, filename: str) -> None:
        import torch
        from torch.overrides import TorchFunctionMode

        self.shapes: dict[int, tuple[int, ...]] = {}
        names = {"flatten", "view", "reshape"}
        target = os.path.realpath(filename)
        outer = self

        class Mode(TorchFunctionMode):
            def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
                name = getattr(func, "__name__", "")
                if name in names and args and isinstance(args[0], torch.Tensor) and args[0].dim() >= 2:
                    frame = sys._getframe(1)
                    while frame is not None and os.path.realpath(frame.f_code.co_filename) != target:
                        frame = frame.f_back  # type: ignore[assignment]
                    if frame is not None:
                        outer.shapes.setdefault(frame.f_lineno, tuple(args[0].shape[1:]))
                return func(*args, **(kwargs or {}))

        self.mode = Mode()


def _randomise_norm_stats(model: Any, rng: np.random.Generator) -> int:
    """Give BatchNorm running statistics and norm affine parameters non-trivial values, so eps,
    mean/variance swaps and gamma/beta mistakes show (default 0/1 values hide them)."""
    import torch

    n = 0
    with torch.no_grad():
        for m in model.modules():
            kind = type(m).__name__
            if kind.startswith("BatchNorm") and getattr(m, "running_mean", None) is not None:
                c = m.running_mean.shape[0]
                m.running_mean.copy_(torch.from_numpy(rng.normal(0.0, 0.5, c).astype(np.float32)))
                m.running_var.copy_(torch.from_numpy(rng.uniform(0.01, 2.0, c).astype(np.float32)))
                n += 1
            if kind.startswith(("BatchNorm", "LayerNorm", "GroupNorm")):
                if getattr(m, "weight", None) is not None:
                    m.weight.copy_(
                        torch.from_numpy(rng.uniform(0.5, 1.5, tuple(m.weight.shape)).astype(np.float32))
                    )
                if getattr(m, "bias", None) is not None:
                    m.bias.copy_(
                        torch.from_numpy(rng.normal(0.0, 0.2, tuple(m.bias.shape)).astype(np.float32))
                    )
    return n


@contextmanager
def _neutralised_dropout(warnings: list[str]) -> Iterator[None]:
    """F.dropout(x, p) without training=... stays active in eval mode; Keras inference has no
    dropout. Compare with it off, and say so."""
    import torch.nn.functional as F

    original = F.dropout
    used = []

    def dropout(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Any:
        if training:
            used.append(True)
        return original(input, p, False, inplace)

    F.dropout = dropout
    try:
        yield
    finally:
        F.dropout = original
        if used:
            warnings.append(
                "F.dropout ran with training=True in eval mode (no training=self.training): "
                "it was switched off for the comparison; the original model is random at inference"
            )


class Capture:
    """Per-layer outputs on both sides for one forward pass each."""

    def __init__(self, pairs: list[Pair]) -> None:
        self.torch_out: dict[int, list[np.ndarray]] = {}
        self.keras_out: dict[int, list[np.ndarray]] = {}
        self.order: list[tuple[int, int]] = []  # (layer, call number) in the original's execution order
        for i, p in enumerate(pairs):
            p.torch_module.register_forward_hook(self._torch_hook(i))
            self._wrap_keras(i, p.keras_layer)

    def _torch_hook(self, i: int) -> Any:
        def hook(module: Any, args: Any, output: Any) -> None:
            first = _flat(output)[0]
            calls = self.torch_out.setdefault(i, [])
            calls.append(_np(first).astype(np.float64))
            if (i, len(calls) - 1) not in self.order:
                self.order.append((i, len(calls) - 1))

        return hook

    def _wrap_keras(self, i: int, layer: Any) -> None:
        original = layer.call

        def call(*args: Any, **kwargs: Any) -> Any:
            out = original(*args, **kwargs)
            self.keras_out.setdefault(i, []).append(_np(_flat(out)[0]).astype(np.float64))
            return out

        layer.call = call

    def reset(self) -> None:
        self.torch_out.clear()
        self.keras_out.clear()


def run(request: dict[str, Any]) -> EquivalenceResult:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    tol = Tolerance(**request["tolerance"])
    specs = [InputSpec.parse(s) for s in request["inputs"]]
    warnings: list[str] = list(request.get("warnings", []))
    base = {
        "direction": "torch2tf",
        "original": Path(request["original"]).name,
        "migrated": Path(request["migrated"]).name,
        "model": request["model"],
        "tolerance": tol,
        "seed": request["seed"],
    }

    import keras
    import tensorflow as tf
    import torch

    versions = {
        "fwmigrate": __version__,
        "torch": torch.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }
    torch.manual_seed(request["seed"])
    keras.utils.set_random_seed(request["seed"])
    rng = np.random.default_rng(request["seed"])
    mode = LoadMode(request["load_mode"])
    record = json.loads(Path(request["record"]).read_text(encoding="utf-8"))

    try:
        orig = load_module(Path(request["original"]), "fwmigrate_original", mode)
        mig = load_module(Path(request["migrated"]), "fwmigrate_migrated", mode)
    except Exception as exc:
        raise UserCodeError(f"loading the files raised {type(exc).__name__}: {exc}") from exc
    try:
        tmodel = evaluate(request["model"], vars(orig))
    except ExprError:
        raise
    except Exception as exc:
        raise UserCodeError(
            f"building the original model with {request['model']!r} raised {type(exc).__name__}: {exc}"
        ) from exc
    try:
        kmodel = evaluate(request["model"], vars(mig))
    except Exception as exc:
        raise UserCodeError(
            f"building the migrated model with {request['model']!r} raised {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(tmodel, torch.nn.Module):
        raise UserCodeError(f"{request['model']!r} built a {type(tmodel).__name__}, not a torch.nn.Module")
    if not isinstance(kmodel, keras.layers.Layer):
        raise UserCodeError(
            f"{request['model']!r} built a {type(kmodel).__name__} in the migrated file, not a Keras layer"
        )
    tmodel.eval()
    n_bn = _randomise_norm_stats(tmodel, rng)

    cls = record.get("classes", {}).get(type(tmodel).__name__, {})
    in_perms = [i.get("perm") for i in cls.get("inputs", [])]
    out_perms = [o.get("perm") for o in cls.get("outputs", [])]
    if len(in_perms) < len(specs):
        in_perms += [None] * (len(specs) - len(in_perms))
    spatial = [p is not None and len(p) >= 3 and list(p) == [0, *range(2, len(p)), 1] for p in in_perms]
    variants = [shape_variants(s, sp, request["samples"]) for s, sp in zip(specs, spatial, strict=True)]

    def batch(sample: int, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
        r = np.random.default_rng(request["seed"] + 1000 * sample)
        return [make_input(s, sh, r) for s, sh in zip(specs, shapes, strict=True)]

    def torch_run(model: Any, xs: list[np.ndarray], dtype: Any = None) -> list[np.ndarray]:
        ts = [torch.from_numpy(np.ascontiguousarray(x)) for x in xs]
        if dtype is not None:
            ts = [t.to(dtype) if t.is_floating_point() else t for t in ts]
        with torch.no_grad():
            return [_np(o) for o in _flat(model(*ts))]

    def keras_run(xs: list[np.ndarray]) -> list[np.ndarray]:
        ks = [
            np.ascontiguousarray(np.transpose(x, p)) if p and len(p) == x.ndim else x
            for x, p in zip(xs, in_perms, strict=False)
        ]
        ks = [x.astype("int32") if x.dtype == np.int64 else x for x in ks]
        return [_np(o) for o in _flat(kmodel(*ks, training=False))]

    # sample 0 shapes, checked on the original first
    shapes0 = [v[0] for v in variants]
    x0 = batch(0, shapes0)
    flats = FlattenShapes(request["original"])
    try:
        with _neutralised_dropout(warnings), flats.mode:
            ref0 = torch_run(tmodel, x0)
    except Exception as exc:
        raise UserCodeError(f"running the original model raised {type(exc).__name__}: {exc}") from exc
    try:
        keras_run(x0)  # builds the Keras weights
    except Exception as exc:
        raise UserCodeError(f"running the migrated model raised {type(exc).__name__}: {exc}") from exc

    try:
        pairs = pair_modules(tmodel, kmodel, record)
        transfer(pairs, flats.shapes, kmodel)
    except TransferError as exc:
        raise UserCodeError(f"weight transfer: {exc}") from exc
    compared = [p for p in pairs if not list(p.torch_module.children()) or p.transform != "identity"]
    capture = Capture(compared)

    out_diffs: list[Diff | None] = [None] * len(ref0)
    out_shapes: list[tuple[int, ...]] = [tuple(r.shape) for r in ref0]
    layer_diffs: dict[tuple[int, int], Diff] = {}
    shapes_seen: dict[tuple[int, int], tuple[int, ...]] = {}
    layer_notes: dict[int, str] = {}
    sample_infos: list[SampleInfo] = []
    for s in range(request["samples"]):
        shapes = [v[s] for v in variants]
        xs = batch(s, shapes)
        capture.reset()
        try:
            with _neutralised_dropout(warnings if s == 0 else []):
                ref = torch_run(tmodel, xs)
        except Exception as exc:
            if s == 0:
                raise UserCodeError(f"running the original model raised {type(exc).__name__}: {exc}") from exc
            warnings.append(
                f"sample {s}: the original model does not accept shapes {shapes}; used {list(shapes0)}"
            )
            shapes, xs = shapes0, batch(s, shapes0)
            capture.reset()
            with _neutralised_dropout([]):
                ref = torch_run(tmodel, xs)
        try:
            got = keras_run(xs)
        except Exception as exc:
            raise UserCodeError(
                f"running the migrated model on {shapes} raised {type(exc).__name__}: {exc}"
            ) from exc
        if len(got) != len(ref):
            raise UserCodeError(f"the original model returns {len(ref)} outputs, the migrated one {len(got)}")
        worst = Diff(0.0, 0.0)
        for k, (r, g) in enumerate(zip(ref, got, strict=True)):
            perm = out_perms[k] if k < len(out_perms) else None
            od = diff(r, _to_source(g, perm)) if perm and len(perm) == g.ndim else _layer_diff(r, g)
            if od is None:
                raise UserCodeError(
                    f"output {k}: shape {tuple(r.shape)} in the original, {tuple(g.shape)} migrated"
                )
            d = od
            prev = out_diffs[k]
            out_diffs[k] = d if prev is None else prev.worst(d)
            worst = worst.worst(d)
        sample_infos.append(
            SampleInfo(
                s, request["seed"] + 1000 * s, tuple(tuple(x) for x in shapes), worst.max_abs, worst.rel
            )
        )
        for i in range(len(compared)):
            touts, kouts = capture.torch_out.get(i, []), capture.keras_out.get(i, [])
            if touts and len(touts) != len(kouts):
                layer_notes[i] = f"called {len(touts)}x in the original, {len(kouts)}x migrated"
                continue
            for k, (t, kk) in enumerate(zip(touts, kouts, strict=True)):
                ld = _layer_diff(t, kk)
                if ld is None:
                    layer_notes[i] = f"output shapes {t.shape} and {kk.shape} do not match in a known layout"
                    continue
                prev_ld = layer_diffs.get((i, k))
                layer_diffs[(i, k)] = ld if prev_ld is None else prev_ld.worst(ld)
                shapes_seen.setdefault((i, k), tuple(t.shape))

    # the original's own float32 error, as a scale
    e32: float | None = None
    try:
        m64 = copy.deepcopy(tmodel).double()
        for h in list(getattr(m64, "_forward_hooks", {})):
            del m64._forward_hooks[h]
        for mod in m64.modules():
            mod._forward_hooks.clear()
        with _neutralised_dropout([]):
            ref64 = torch_run(m64, x0, torch.float64)
        e32 = max(
            float(np.max(np.abs(a.astype(np.float64) - b)))
            for a, b in zip(ref0, ref64, strict=True)
            if a.size
        )
    except Exception as exc:  # float64 is a scale, not the verdict
        warnings.append(f"the float64 reference could not run ({type(exc).__name__}: {exc})")

    outputs = []
    for k, od in enumerate(out_diffs):
        assert od is not None
        d = od
        status, note = classify(d, tol, e32)
        name = "output" if len(out_diffs) == 1 else f"output[{k}]"
        outputs.append(
            Comparison(
                name,
                name,
                out_shapes[k],
                d.max_abs,
                d.rel,
                d.scale,
                tol.threshold(d.scale),
                status,
                note=note,
            )
        )
    layers = []
    n_calls = {i: sum(1 for j, _ in capture.order if j == i) for i, _ in capture.order}
    for i, k in capture.order:
        # a module used several times (one ReLU for every activation) gets a row per call, so the
        # first divergent row is the first divergent computation
        p = compared[i]
        label = p.path if n_calls[i] == 1 else f"{p.path} (call {k + 1})"
        ld = layer_diffs.get((i, k))
        common = {
            "source": label,
            "target": p.path if n_calls[i] == 1 else f"{p.path} (call {k + 1})",
            "source_type": type(p.torch_module).__name__,
            "target_type": type(p.keras_layer).__name__,
            "transform": p.transform,
        }
        if ld is None:
            layers.append(
                Comparison(
                    shape=(),
                    max_abs_diff=0.0,
                    max_rel_diff=0.0,
                    scale=0.0,
                    threshold=0.0,
                    status=Status.NOT_COMPARED,
                    note=layer_notes.get(i, "not run"),
                    **common,
                )
            )
            continue
        status, note = classify(ld, tol)
        layers.append(
            Comparison(
                shape=shapes_seen.get((i, k), ()),
                max_abs_diff=ld.max_abs,
                max_rel_diff=ld.rel,
                scale=ld.scale,
                threshold=tol.threshold(ld.scale),
                status=status,
                note=note or layer_notes.get(i, ""),
                **common,
            )
        )
    momentum = _momentum_check(tmodel, kmodel, pairs, x0, in_perms, tol) if n_bn else []
    layers.extend(momentum)
    # eval outputs cannot show a BatchNorm momentum mistake; the running statistics after one
    # training step can, and a model that trains differently is not equivalent
    equivalent = all(o.status is Status.PASS for o in outputs) and all(
        m.status is not Status.FAIL for m in momentum
    )
    if any(x[0] == 1 for x in shapes0):
        warnings.append("batch size 1: BatchNorm/flatten mistakes can hide; use a batch of at least 2")
    return EquivalenceResult(
        verdict=Verdict.EQUIVALENT if equivalent else Verdict.NOT_EQUIVALENT,
        inputs=tuple(
            InputInfo(f"input{i}" if len(specs) > 1 else "x", s.shape, s.dtype, s.low, s.high)
            for i, s in enumerate(specs)
        ),
        samples=tuple(sample_infos),
        outputs=tuple(outputs),
        layers=tuple(layers),
        float64_error=e32,
        warnings=tuple(dict.fromkeys(warnings)),
        versions=versions,
        **base,
    )


def _momentum_check(
    tmodel: Any, kmodel: Any, pairs: list[Pair], x0: list[np.ndarray], in_perms: list[Any], tol: Tolerance
) -> list[Comparison]:
    """One training-mode step on both sides, then each BatchNorm's running mean is compared:
    a momentum mapped the wrong way (Keras momentum = 1 - torch momentum) shows here, not in eval."""
    import torch

    bns = [p for p in pairs if type(p.torch_module).__name__.startswith("BatchNorm")]
    if not bns:
        return []
    tmodel.train()
    for m in tmodel.modules():
        if type(m).__name__.startswith("Dropout"):
            m.eval()
    saved = []
    for layer in _keras_layers(kmodel):
        if type(layer).__name__ in ("Dropout", "SpatialDropout1D", "SpatialDropout2D") and hasattr(
            layer, "rate"
        ):
            saved.append((layer, layer.rate))
            layer.rate = 0.0
    ts = [torch.from_numpy(np.ascontiguousarray(x)) for x in x0]
    with torch.no_grad():
        tmodel(*ts)
    ks = [
        np.ascontiguousarray(np.transpose(x, p)) if p and len(p) == x.ndim else x
        for x, p in zip(x0, in_perms, strict=False)
    ]
    kmodel(*ks, training=True)
    tmodel.eval()
    for layer, rate in saved:
        layer.rate = rate
    out = []
    for p in bns:
        ref = p.torch_module.running_mean.detach().cpu().numpy()
        got = np.asarray(p.weighted.moving_mean)
        d = diff(ref, got)
        status, note = classify(d, tol)
        out.append(
            Comparison(
                source=f"{p.path} (running_mean after a training step)",
                target=p.path,
                shape=tuple(ref.shape),
                max_abs_diff=d.max_abs,
                max_rel_diff=d.rel,
                scale=d.scale,
                threshold=tol.threshold(d.scale),
                status=status,
                source_type=type(p.torch_module).__name__,
                target_type=type(p.weighted).__name__,
                transform=p.transform,
                note=note or "momentum check: keras momentum must be 1 - torch momentum",
            )
        )
    return out


def _keras_layers(layer: Any) -> Iterator[Any]:
    seen: set[int] = set()
    stack = [layer]
    while stack:
        cur = stack.pop()
        if id(cur) in seen:
            continue
        seen.add(id(cur))
        yield cur
        stack.extend(getattr(cur, "_layers", []) or [])
        stack.extend(getattr(cur, "layers", []) or [])


def main(argv: list[str]) -> int:
    request = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    out = Path(request["result"])
    tol = Tolerance(**request["tolerance"])
    try:
        result = run(request)
    except (UserCodeError, ExprError) as exc:
        result = EquivalenceResult(
            direction="torch2tf",
            original=Path(request["original"]).name,
            migrated=Path(request["migrated"]).name,
            model=request["model"],
            verdict=Verdict.ERROR,
            tolerance=tol,
            error=str(exc),
            seed=request["seed"],
        )
        if os.environ.get("FWMIGRATE_DEBUG") == "1":
            traceback.print_exc()
    out.write_text(result.dumps(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
