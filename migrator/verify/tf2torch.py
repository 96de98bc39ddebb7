"""The tf2torch direction: the original is a Keras model, the migrated one its torch migration.
Inputs are given in Keras's layout; weights move Keras -> torch (``tf2torch_transfer``). Runs in
the verification subprocess."""

from __future__ import annotations

import os
from collections.abc import Mapping
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
from migrator.verify.expr import called_name, evaluate
from migrator.verify.result import Comparison, EquivalenceResult, Tolerance
from migrator.verify.spec import InputSpec
from migrator.verify.tf2torch_transfer import (
    KerasPair,
    RunTrace,
    TransferError,
    join_path,
    model_owner,
    pair_layers,
    transfer,
)

_FUSED = ("Dense", "Conv", "DepthwiseConv", "SeparableConv")  # layers with an `activation` argument
_DROPOUT = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "AlphaDropout")


def randomise_keras_norm_stats(model: Any, rng: np.random.Generator) -> int:
    """Give BatchNormalization moving statistics and norm gamma/beta non-trivial values, so eps,
    mean/variance swaps and gamma/beta mistakes show (default 0/1 values hide them)."""

    def fill(var: Any, values: Array) -> None:
        var.assign(values.reshape(tuple(var.shape)).astype(str(var.dtype)))

    n = 0
    for layer in keras_layers(model):
        kind = type(layer).__name__
        mean, var = getattr(layer, "moving_mean", None), getattr(layer, "moving_variance", None)
        if kind.endswith("BatchNormalization") and mean is not None and var is not None:
            c = int(np.prod(tuple(mean.shape)))
            fill(mean, rng.normal(0.0, 0.5, c))
            fill(var, rng.uniform(0.01, 2.0, c))
            n += 1
        if kind.endswith(("BatchNormalization", "LayerNormalization", "GroupNormalization")):
            gamma, beta = getattr(layer, "gamma", None), getattr(layer, "beta", None)
            if gamma is not None:
                fill(gamma, rng.uniform(0.5, 1.5, int(np.prod(tuple(gamma.shape)))))
            if beta is not None:
                fill(beta, rng.normal(0.0, 0.2, int(np.prod(tuple(beta.shape)))))
    return n


def fused_activation(layer: Any) -> str | None:
    """The activation a Dense/Conv layer applies itself (``Dense(64, activation="relu")``)."""
    if not type(layer).__name__.startswith(_FUSED):
        return None
    name = getattr(getattr(layer, "activation", None), "__name__", "linear")
    return None if name == "linear" else str(name)


def _keras_readings(module: Any, first: Array | None, out: Array) -> list[Array]:
    """Other readings of a torch module's output, in Keras's order, where the layouts differ by
    more than an axis order: a flatten of a channels-first map, and the last step of a recurrent
    layer (Keras ``return_sequences=False``; torch returns every step)."""
    kind = type(module).__name__
    if (
        kind == "Flatten"
        and first is not None
        and first.ndim >= 3
        and out.ndim == 2
        and out.size == first.size
    ):
        # torch flattens (N, C, *S) in (C, *S) order, Keras (N, *S, C) in (*S, C) order
        return [np.moveaxis(first, 1, -1).reshape(out.shape)]
    if kind in ("LSTM", "GRU", "RNN") and out.ndim == 3:
        seq = out if getattr(module, "batch_first", False) else np.swapaxes(out, 0, 1)
        if getattr(module, "bidirectional", False):  # forward's last step, backward's first
            h = seq.shape[-1] // 2
            return [np.concatenate([seq[:, -1, :h], seq[:, 0, h:]], axis=-1)]
        return [seq[:, -1]]
    return []


def keras_call(model: Any, xs: list[Array], training: bool) -> Any:
    """Sequential and functional models take several inputs as a list, subclassed ones positionally."""
    if len(xs) > 1 and any(c.__name__ in ("Sequential", "Functional") for c in type(model).__mro__):
        return model(list(xs), training=training)
    return model(*xs, training=training)


class KerasToTorch:
    """The session of this direction: original Keras model, migrated torch model."""

    def __init__(self, kmodel: Any, tmodel: Any, in_perms: list[Perm], out_perms: list[Perm]) -> None:
        self.kmodel, self.tmodel = kmodel, tmodel
        self.in_perms, self.out_perms = in_perms, out_perms
        self.pairs: list[KerasPair] = []
        self.probes: list[Probe] = []
        self.capture = Capture()
        self.rebuild: Any = None  # builds a fresh original model (for the float64 run)
        self.owner = ""  # the record's owner of the model

    @staticmethod
    def open(expr: str, models: Models, record: Mapping[str, Any], n_inputs: int) -> KerasToTorch:
        """Both models checked, the migrated one in eval mode, the record's owner of the model and
        its layouts."""
        import keras
        import torch

        kmodel, tmodel = models.original, models.migrated
        if not isinstance(kmodel, keras.layers.Layer):
            raise UserCodeError(f"{expr!r} built a {type(kmodel).__name__}, not a Keras layer or model")
        if not isinstance(tmodel, torch.nn.Module):
            raise UserCodeError(
                f"{expr!r} built a {type(tmodel).__name__} in the migrated file, not a torch.nn.Module"
            )
        tmodel.eval()
        try:
            owner = model_owner(record, kmodel, tmodel, called_name(expr))
        except TransferError as exc:
            raise UserCodeError(f"weight transfer: {exc}") from exc
        in_perms, out_perms = class_perms(record, owner, n_inputs)
        session = KerasToTorch(kmodel, tmodel, in_perms, out_perms)
        session.owner = owner
        session.rebuild = lambda: evaluate(expr, vars(models.original_module))
        return session

    def move_weights(
        self, record: Mapping[str, Any], x0: list[Array], warnings: list[str], rng: np.random.Generator | None
    ) -> None:
        """Run both models on ``x0`` (Keras layout) before any weight is read: a subclassed Keras
        model has none until called, and torch Lazy modules materialise on their first call; the
        run also shows which Flatten feeds each Dense (``RunTrace``). Then, with ``rng``, randomise
        the Keras norm statistics; then move every weight Keras -> torch (``self.pairs``). A pair
        the record does not give (paired by path) adds a warning."""
        trace = RunTrace()
        try:
            with trace.keras(self.kmodel):
                self.run_original(x0, warnings)
        except Exception as exc:
            raise UserCodeError(f"running the original model raised {type(exc).__name__}: {exc}") from exc
        try:
            with trace.torch(self.tmodel):
                self.run_migrated(x0)
        except Exception as exc:
            raise UserCodeError(f"running the migrated model raised {type(exc).__name__}: {exc}") from exc
        if rng is not None:
            randomise_keras_norm_stats(self.kmodel, rng)
        try:
            self.pairs = pair_layers(self.kmodel, self.tmodel, record, self.owner, trace)
            transfer(self.pairs, self.kmodel, self.tmodel)
        except TransferError as exc:
            raise UserCodeError(f"weight transfer: {exc}") from exc
        warnings.extend(p.by_path_note for p in self.pairs if p.by_path)

    def install(self, pairs: list[KerasPair]) -> None:
        """A probe per pair: the layer's output, or, for a Dense/Conv with a fused activation, its
        value before the activation; then a probe for the activation when the migration made it a
        module of its own (the next one in an nn.Sequential)."""
        self.pairs = pairs
        compared = {id(p.torch_module) for p in pairs}
        for p in pairs:
            act = fused_activation(p.keras_layer)
            ktype = type(p.keras_layer).__name__
            # before a fused activation, the weighted module itself (not a wrapper) is compared
            path, module = (p.weighted_path, p.weighted) if act else (p.target, p.torch_module)
            note = f"before the fused activation {act}" if act else ""
            main = self._probe(Probe(p.source, path, ktype, type(module).__name__, p.transform, note))
            self._hook(main, module)
            after = None
            post = self._activation_module(p) if act is not None else None
            if post is not None and (post[1] is p.torch_module or id(post[1]) not in compared):
                after = self._probe(
                    Probe(
                        f"{p.source} (activation {act})", post[0], ktype, type(post[1]).__name__, "identity"
                    )
                )
                self._hook(after, post[1])
            self._wrap_keras(p.keras_layer, main, after, act is not None)

    def _probe(self, probe: Probe) -> int:
        self.probes.append(probe)
        return len(self.probes) - 1

    def _activation_module(self, p: KerasPair) -> tuple[str, Any] | None:
        """The torch module whose output is the fused activation's: a wrapper ending in a module
        without weights (``nn.Sequential(nn.Linear, nn.ReLU)``), else the module right after the
        layer in its nn.Sequential when it has no weights. None when the activation is a call."""
        import torch

        def weightless(m: Any) -> bool:
            return not any(True for _ in m.parameters())

        wrapper = p.torch_module
        if (
            wrapper is not p.weighted
            and isinstance(wrapper, torch.nn.Sequential)
            and len(wrapper)
            and wrapper[-1] is not p.weighted
            and weightless(wrapper[-1])
        ):
            return p.target, wrapper
        parent_path, _, name = p.target.rpartition(".")
        if not name.isdigit():
            return None
        parent = self.tmodel.get_submodule(parent_path) if parent_path else self.tmodel
        nxt = parent._modules.get(str(int(name) + 1)) if isinstance(parent, torch.nn.Sequential) else None
        if nxt is None or not weightless(nxt):
            return None
        return join_path(parent_path, str(int(name) + 1)), nxt

    def _hook(self, i: int, module: Any) -> None:
        def hook(module: Any, args: Any, output: Any) -> None:
            out = to_numpy(flat(output)[0])
            first = to_numpy(args[0]) if args else None
            self.capture.add_migrated(i, out, *_keras_readings(module, first, out))

        module.register_forward_hook(hook)

    def _wrap_keras(self, layer: Any, main: int, after: int | None, fused: bool) -> None:
        call, capture = layer.call, self.capture
        if fused:
            activation = layer.activation

            def act(x: Any) -> Any:
                capture.add_original(main, to_numpy(x))
                return activation(x)

            layer.activation = act

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            out = call(*args, **kwargs)
            i = after if fused else main
            if i is not None:
                capture.add_original(i, to_numpy(flat(out)[0]))
            return out

        layer.call = wrapped

    def run_original(self, xs: list[Array], warnings: list[str]) -> list[Array]:
        return [to_numpy(o) for o in flat(keras_call(self.kmodel, xs, training=False))]

    def run_migrated(self, xs: list[Array]) -> list[Array]:
        import torch

        ts = [torch.from_numpy(x) for x in to_targets(xs, self.in_perms)]
        with torch.no_grad():
            return [to_numpy(o) for o in flat(self.tmodel(*ts))]

    def float64_error(self, xs: list[Array], ref: list[Array]) -> float:
        """The original rebuilt under a float64 dtype policy, with the same weights."""
        import keras

        floatx, policy = keras.config.floatx(), keras.config.dtype_policy()
        keras.config.set_floatx("float64")
        keras.config.set_dtype_policy("float64")
        try:
            k64 = self.rebuild()
            x64 = [x.astype(np.float64) if x.dtype.kind == "f" else x for x in xs]
            keras_call(k64, x64, training=False)
            k64.set_weights(self.kmodel.get_weights())
            ref64 = [to_numpy(o) for o in flat(keras_call(k64, x64, training=False))]
        finally:
            keras.config.set_floatx(floatx)
            keras.config.set_dtype_policy(policy)
        return max(
            float(np.max(np.abs(a.astype(np.float64) - b))) for a, b in zip(ref, ref64, strict=True) if a.size
        )

    def momentum_check(self, xs: list[Array], tol: Tolerance) -> list[Comparison]:
        """One training-mode step on both sides, then each BatchNorm's moving mean is compared:
        a momentum mapped the wrong way (torch momentum = 1 - Keras momentum) shows here, not in eval."""
        import torch

        bns = [p for p in self.pairs if p.transform == "batchnorm" and hasattr(p.weighted, "running_mean")]
        if not bns:
            return []
        self.tmodel.train()
        for m in self.tmodel.modules():
            if type(m).__name__.startswith(("Dropout", "AlphaDropout", "FeatureAlphaDropout")):
                m.eval()
        saved = [
            (layer, layer.rate) for layer in keras_layers(self.kmodel) if type(layer).__name__ in _DROPOUT
        ]
        for layer, _ in saved:
            layer.rate = 0.0
        try:
            keras_call(self.kmodel, xs, training=True)
            with torch.no_grad():
                self.tmodel(*[torch.from_numpy(x) for x in to_targets(xs, self.in_perms)])
        finally:
            self.tmodel.eval()
            for layer, rate in saved:
                layer.rate = rate
        return [self._momentum_row(p, tol) for p in bns]

    def _momentum_row(self, p: KerasPair, tol: Tolerance) -> Comparison:
        names = MomentumProbe(
            p.source,
            "moving_mean",
            p.weighted_path,
            type(p.keras_layer).__name__,
            type(p.weighted).__name__,
            p.transform,
            "torch momentum must be 1 - keras momentum",
        )
        ref = np.asarray(p.keras_layer.moving_mean)
        return momentum_row(names, ref, p.weighted.running_mean.detach().cpu().numpy(), tol)


def _declared_spatial(model: Any, n: int) -> list[bool]:
    """Per input: the original declares its spatial sizes (``keras.Input(shape=(28, 28, 1))``). The
    migration may rely on them (TF 'same' padding at stride 2), so they are not varied."""
    try:
        shapes = [tuple(t.shape) for t in model.inputs]
    except Exception:  # a subclassed model has no declared inputs
        return [False] * n
    return [len(s) >= 3 and all(d is not None for d in s[1:-1]) for s in shapes[:n]] + [False] * (
        n - len(shapes)
    )


def layout_warnings(in_perms: list[Perm], specs: list[InputSpec], owner: str) -> list[str]:
    """Feature-map inputs whose layout the record does not know (``specs`` in Keras's layout)."""
    return [
        f"the migration record has no layout for input {k} of {owner}: it is given to the migrated "
        "model unchanged (Keras layout)"
        for k, (perm, spec) in enumerate(zip(in_perms, specs, strict=False))
        if perm is None and len(spec.shape) >= 3
    ]


def run(request: Mapping[str, Any]) -> EquivalenceResult:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    p = prepare(request)
    import keras

    record = p.record
    # layers of a functional model are recorded by name; Keras numbers default names per process
    keras.backend.clear_session()
    models = build_models(request)
    session = KerasToTorch.open(request["model"], models, record, len(p.specs))
    p.warnings.extend(layout_warnings(session.in_perms, p.specs, session.owner))
    fixed = _declared_spatial(session.kmodel, len(p.specs))
    batches = Batches(p.specs, session.in_perms, p.seed, int(request["samples"]), fixed)
    session.move_weights(record, batches.batch(0), p.warnings, p.rng)
    session.install(session.pairs)
    result = compare(session, batches, request, p.warnings, p.versions, "tf2torch")
    from migrator.verify.training import with_train_steps

    def retransfer() -> None:
        transfer(session.pairs, session.kmodel, session.tmodel)

    return with_train_steps(result, request, record, models, batches, session, retransfer)
