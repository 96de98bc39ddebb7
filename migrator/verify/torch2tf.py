"""The torch2tf direction: the original is a torch model, the migrated one its Keras migration.
Weights move torch -> Keras (``migrator.verify.transfer``); runs in the verification subprocess."""

from __future__ import annotations

import copy
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np

from migrator.verify.arrays import Array, Perm, flat, keras_layers, to_numpy, to_targets
from migrator.verify.driver import (
    Batches,
    Capture,
    Models,
    MomentumProbe,
    Probe,
    UserCodeError,
    build_models,
    class_perms,
    compare,
    momentum_row,
    prepare,
)
from migrator.verify.result import Comparison, EquivalenceResult, Tolerance
from migrator.verify.transfer import Pair, TransferError, pair_modules, transfer


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


def randomise_torch_norm_stats(model: Any, rng: np.random.Generator) -> int:
    """Give BatchNorm running statistics and norm affine parameters non-trivial values, so eps,
    mean/variance swaps and gamma/beta mistakes show (default 0/1 values hide them)."""
    import torch

    def rand(values: Array) -> Any:
        return torch.from_numpy(values.astype(np.float32))

    n = 0
    with torch.no_grad():
        for m in model.modules():
            kind = type(m).__name__
            if kind.startswith("BatchNorm") and getattr(m, "running_mean", None) is not None:
                c = m.running_mean.shape[0]
                m.running_mean.copy_(rand(rng.normal(0.0, 0.5, c)))
                m.running_var.copy_(rand(rng.uniform(0.01, 2.0, c)))
                n += 1
            if kind.startswith(("BatchNorm", "LayerNorm", "GroupNorm")):
                if getattr(m, "weight", None) is not None:
                    m.weight.copy_(rand(rng.uniform(0.5, 1.5, tuple(m.weight.shape))))
                if getattr(m, "bias", None) is not None:
                    m.bias.copy_(rand(rng.normal(0.0, 0.2, tuple(m.bias.shape))))
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


def _torch_run(model: Any, xs: list[Array], dtype: Any = None) -> list[Array]:
    import torch

    ts = [torch.from_numpy(np.ascontiguousarray(x)) for x in xs]
    if dtype is not None:
        ts = [t.to(dtype) if t.is_floating_point() else t for t in ts]
    with torch.no_grad():
        return [to_numpy(o) for o in flat(model(*ts))]


class TorchToKeras:
    """The session of this direction: original torch model, migrated Keras model."""

    def __init__(self, tmodel: Any, kmodel: Any, in_perms: list[Perm], out_perms: list[Perm]) -> None:
        self.tmodel, self.kmodel = tmodel, kmodel
        self.in_perms, self.out_perms = in_perms, out_perms
        self.pairs: list[Pair] = []
        self.probes: list[Probe] = []
        self.capture = Capture()
        self.n_bn = 0
        self.flatten_shapes: dict[int, tuple[int, ...]] = {}  # seen while moving the weights

    @staticmethod
    def open(expr: str, models: Models, record: Mapping[str, Any], n_inputs: int) -> TorchToKeras:
        """Both models checked, the original in eval mode, the layouts from the record."""
        import keras
        import torch

        tmodel, kmodel = models.original, models.migrated
        if not isinstance(tmodel, torch.nn.Module):
            raise UserCodeError(f"{expr!r} built a {type(tmodel).__name__}, not a torch.nn.Module")
        if not isinstance(kmodel, keras.layers.Layer):
            raise UserCodeError(
                f"{expr!r} built a {type(kmodel).__name__} in the migrated file, not a Keras layer"
            )
        tmodel.eval()
        in_perms, out_perms = class_perms(record, type(tmodel).__name__, n_inputs)
        return TorchToKeras(tmodel, kmodel, in_perms, out_perms)

    def move_weights(
        self, record: Mapping[str, Any], original_file: str, x0: list[Array], warnings: list[str]
    ) -> None:
        """Run both models on ``x0`` (the flatten shapes are seen while the original runs, and
        the Keras weights are built), then move every weight torch -> Keras (``self.pairs``)."""
        flats = FlattenShapes(original_file)
        try:
            with flats.mode:
                self.run_original(x0, warnings)
        except Exception as exc:
            raise UserCodeError(f"running the original model raised {type(exc).__name__}: {exc}") from exc
        try:
            self.run_migrated(x0)  # builds the Keras weights
        except Exception as exc:
            raise UserCodeError(f"running the migrated model raised {type(exc).__name__}: {exc}") from exc
        try:
            self.pairs = pair_modules(self.tmodel, self.kmodel, record)
            self.flatten_shapes = flats.shapes
            transfer(self.pairs, flats.shapes, self.kmodel)
        except TransferError as exc:
            raise UserCodeError(f"weight transfer: {exc}") from exc

    def install(self, pairs: list[Pair]) -> None:
        """Hooks on the compared pairs (leaves, and containers with a weight transform)."""
        self.pairs = pairs
        compared = [p for p in pairs if not list(p.torch_module.children()) or p.transform != "identity"]
        for i, p in enumerate(compared):
            p.torch_module.register_forward_hook(self._torch_hook(i))
            self._wrap_keras(i, p.keras_layer)
            self.probes.append(
                Probe(
                    p.path, p.path, type(p.torch_module).__name__, type(p.keras_layer).__name__, p.transform
                )
            )

    def _torch_hook(self, i: int) -> Any:
        def hook(module: Any, args: Any, output: Any) -> None:
            self.capture.add_original(i, to_numpy(flat(output)[0]))

        return hook

    def _wrap_keras(self, i: int, layer: Any) -> None:
        original = layer.call

        def call(*args: Any, **kwargs: Any) -> Any:
            out = original(*args, **kwargs)
            self.capture.add_migrated(i, to_numpy(flat(out)[0]))
            return out

        layer.call = call

    def run_original(self, xs: list[Array], warnings: list[str]) -> list[Array]:
        with _neutralised_dropout(warnings):
            return _torch_run(self.tmodel, xs)

    def run_migrated(self, xs: list[Array]) -> list[Array]:
        ks = to_targets(xs, self.in_perms)
        ks = [x.astype("int32") if x.dtype == np.int64 else x for x in ks]
        return [to_numpy(o) for o in flat(self.kmodel(*ks, training=False))]

    def float64_error(self, xs: list[Array], ref: list[Array]) -> float:
        import torch

        m64 = copy.deepcopy(self.tmodel).double()
        for mod in m64.modules():
            mod._forward_hooks.clear()
        with _neutralised_dropout([]):
            ref64 = _torch_run(m64, xs, torch.float64)
        return max(
            float(np.max(np.abs(a.astype(np.float64) - b))) for a, b in zip(ref, ref64, strict=True) if a.size
        )

    def momentum_check(self, xs: list[Array], tol: Tolerance) -> list[Comparison]:
        return (
            _momentum_check(self.tmodel, self.kmodel, self.pairs, xs, self.in_perms, tol) if self.n_bn else []
        )


def _momentum_check(
    tmodel: Any, kmodel: Any, pairs: list[Pair], x0: list[Array], in_perms: list[Perm], tol: Tolerance
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
    for layer in keras_layers(kmodel):
        if type(layer).__name__ in ("Dropout", "SpatialDropout1D", "SpatialDropout2D") and hasattr(
            layer, "rate"
        ):
            saved.append((layer, layer.rate))
            layer.rate = 0.0
    ts = [torch.from_numpy(np.ascontiguousarray(x)) for x in x0]
    with torch.no_grad():
        tmodel(*ts)
    kmodel(*to_targets(x0, in_perms), training=True)
    tmodel.eval()
    for layer, rate in saved:
        layer.rate = rate
    out = []
    for p in bns:
        names = MomentumProbe(
            p.path,
            "running_mean",
            p.path,
            type(p.torch_module).__name__,
            type(p.weighted).__name__,
            p.transform,
            "keras momentum must be 1 - torch momentum",
        )
        ref = p.torch_module.running_mean.detach().cpu().numpy()
        out.append(momentum_row(names, ref, np.asarray(p.weighted.moving_mean), tol))
    return out


def run(request: Mapping[str, Any]) -> EquivalenceResult:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    p = prepare(request)
    record = p.record
    models = build_models(request)
    session = TorchToKeras.open(request["model"], models, record, len(p.specs))
    session.n_bn = randomise_torch_norm_stats(session.tmodel, p.rng)
    batches = Batches(p.specs, session.in_perms, p.seed, int(request["samples"]))
    session.move_weights(record, request["original"], batches.batch(0), p.warnings)
    session.install(session.pairs)
    result = compare(session, batches, request, p.warnings, p.versions, "torch2tf")
    from migrator.verify.training import with_train_steps

    def retransfer() -> None:
        transfer(session.pairs, session.flatten_shapes, session.kmodel)

    return with_train_steps(result, request, record, models, batches, session, retransfer)
