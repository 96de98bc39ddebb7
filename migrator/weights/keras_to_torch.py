"""Named weight transforms: Keras 3 ``get_weights()`` lists -> PyTorch module state.

The inverse of :mod:`migrator.weights.transforms`, registered under the same names so
that one name in a rule works both ways. Each transform takes the list returned by a
channels-last Keras layer's ``get_weights()`` (in Keras's weight order) and returns the
``state_dict`` entries of the matching PyTorch module, keys without prefix (e.g.
``{"weight": ..., "bias": ...}``), ready for ``module.load_state_dict(..., strict=True)``.

For every name, ``apply_keras_transform(name, apply_transform(name, state, ctx), ctx)``
gives back ``state`` exactly when ``ctx`` describes the Keras layer; the one loss is
``lstm``, whose Keras layer has a single bias (``b_ih + b_hh``), returned as ``bias_ih_l0``
with a zero ``bias_hh_l0``.

The module is pure numpy: it never imports torch, tensorflow or keras.
"""

from __future__ import annotations

import dataclasses
import math
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from migrator.weights.transforms import (
    DEFAULT_CONTEXT,
    ENCODER_LAYER_KEYS,
    GRU_RESET_AFTER_REASON,
    KERAS_MHA_PARTS,
    MAX_ENCODER_LAYERS,
    MAX_RECURRENT_LAYERS,
    RECURRENT_NAMES,
    Array,
    TransformContext,
    TransformError,
    _copy,
    _expect_ndim,
    _fmt_shape,
    channels_first_flatten_shape,
    swap_first_two_gates,
)

__all__ = [
    "KERAS_TO_TORCH",
    "KerasApplyFn",
    "KerasWeightTransform",
    "apply_keras_transform",
    "get_keras_transform",
]

KerasApplyFn = Callable[[Sequence[Array], TransformContext], dict[str, Array]]
"""Signature of a reverse transform's ``apply``: (Keras weights, context) -> module state."""


@dataclass(frozen=True)
class KerasWeightTransform:
    """A named, documented conversion of one Keras layer's weights to PyTorch module state.

    Attributes:
        name: registry key, the same as the torch -> keras transform it inverts.
        doc: one-paragraph description of the mapping.
        min_arrays: fewest Keras arrays accepted (e.g. without bias).
        max_arrays: most Keras arrays accepted. Which count is right for one layer is
            fixed by the context (``use_bias``, ``center``, ``scale``).
        produces: every PyTorch state key the transform may produce, in ``state_dict``
            order.
        apply: the conversion. Call through :func:`apply_keras_transform`, which
            checks the array count first.
    """

    name: str
    doc: str
    min_arrays: int
    max_arrays: int
    produces: tuple[str, ...]
    apply: KerasApplyFn


# --------------------------------------------------------------------------- helpers


def _expect_count(name: str, arrays: Sequence[Array], labels: Sequence[str], why: str) -> None:
    if len(arrays) != len(labels):
        raise TransformError(
            name,
            f"expects {len(labels)} Keras array(s) [{', '.join(labels)}] ({why}), got {len(arrays)}",
        )


def _split_bias(
    name: str, arrays: Sequence[Array], ctx: TransformContext, labels: tuple[str, ...]
) -> tuple[list[Array], Array | None]:
    """The non-bias arrays and the trailing bias (``None`` for ``use_bias=False``)."""
    expected = (*labels, "bias") if ctx.use_bias else labels
    _expect_count(name, arrays, expected, f"context.use_bias={ctx.use_bias}")
    main = list(arrays[: len(labels)])
    return main, (arrays[-1] if ctx.use_bias else None)


def _bias_entry(name: str, key: str, bias: Array | None, size: int) -> dict[str, Array]:
    """``{key: bias}`` after checking its shape; empty without a bias."""
    if bias is None:
        return {}
    _expect_ndim(name, "bias", bias, 1)
    if bias.shape[0] != size:
        raise TransformError(
            name, f"'bias' has shape {_fmt_shape(bias.shape)} but the layer has {size} outputs"
        )
    return {key: _copy(bias)}


def _same_shape(name: str, label: str, array: Array, ref_label: str, ref: Array) -> None:
    if array.shape != ref.shape:
        raise TransformError(
            name,
            f"{label!r} shape {_fmt_shape(array.shape)} differs from "
            f"{ref_label!r} shape {_fmt_shape(ref.shape)}",
        )


# ------------------------------------------------------------------------ transforms


def _identity(arrays: Sequence[Array], ctx: TransformContext) -> dict[str, Array]:
    return {}


def _linear(arrays: Sequence[Array], ctx: TransformContext) -> dict[str, Array]:
    name = "linear"
    (kernel,), bias = _split_bias(name, arrays, ctx, ("kernel",))
    _expect_ndim(name, "kernel", kernel, 2)
    return {"weight": _copy(kernel.T), **_bias_entry(name, "bias", bias, kernel.shape[1])}


def _linear_after_flatten(arrays: Sequence[Array], ctx: TransformContext) -> dict[str, Array]:
    name = "linear_after_flatten"
    (kernel,), bias = _split_bias(name, arrays, ctx, ("kernel",))
    _expect_ndim(name, "kernel", kernel, 2)
    shape = channels_first_flatten_shape(name, ctx)
    in_features, out_features = kernel.shape
    if math.prod(shape) != in_features:
        raise TransformError(
            name,
            f"'kernel' has {in_features} input features but the flattened map (C, *S) = {shape} "
            f"has {math.prod(shape)} elements",
        )
    spatial_rank = len(shape) - 1
    channels, spatial = shape[0], shape[1:]
    # (*S*C, O) -> (*S, C, O) -> (O, C, *S): torch flattens channels-first maps in (C, *S) order.
    perm = (spatial_rank + 1, spatial_rank, *range(spatial_rank))
    weight = kernel.reshape(*spatial, channels, out_features).transpose(perm).reshape(out_features, -1)
    return {"weight": _copy(weight), **_bias_entry(name, "bias", bias, out_features)}


def _make_conv(name: str, spatial_rank: int, out_axis: int) -> KerasApplyFn:
    """Conv kernel ``(*K, I/g, O)`` or transposed-conv kernel ``(*K, O, I)`` -> torch
    ``(O, I/g, *K)`` / ``(I, O, *K)``: the same axis permutation; ``out_axis`` locates
    the output channels in the Keras kernel."""

    def apply(arrays: Sequence[Array], ctx: TransformContext) -> dict[str, Array]:
        (kernel,), bias = _split_bias(name, arrays, ctx, ("kernel",))
        _expect_ndim(name, "kernel", kernel, spatial_rank + 2)
        weight = kernel.transpose(spatial_rank + 1, spatial_rank, *range(spatial_rank))
        return {"weight": _copy(weight), **_bias_entry(name, "bias", bias, kernel.shape[out_axis])}

    return apply


def _depthwise_weight(name: str, label: str, kernel: Array, spatial_rank: int) -> Array:
    """Keras depthwise kernel ``(*K, C, m)`` -> torch weight ``(C*m, 1, *K)`` (output c*m + j)."""
    _expect_ndim(name, label, kernel, spatial_rank + 2)
    *kernel_size, channels, m = kernel.shape
    weight = kernel.transpose(spatial_rank, spatial_rank + 1, *range(spatial_rank))
    return _copy(weight.reshape(channels * m, 1, *kernel_size))


def _make_depthwise(name: str, spatial_rank: int) -> KerasApplyFn:
    def apply(arrays: Sequence[Array], ctx: TransformContext) -> dict[str, Array]:
        (kernel,), bias = _split_bias(name, arrays, ctx, ("kernel",))
        weight = _depthwise_weight(name, "kernel", kernel, spatial_rank)
        return {"weight": weight, **_bias_entry(name, "bias", bias, weight.shape[0])}

    return apply


def _separable_conv2d(arrays: Sequence[Array], ctx: TransformContext) -> dict[str, Array]:
    name = "separable_conv2d"
    (depthwise, pointwise), bias = _split_bias(name, arrays, ctx, ("depthwise_kernel", "pointwise_kernel"))
    first = _depthwise_weight(name, "depthwise_kernel", depthwise, 2)
    _expect_ndim(name, "pointwise_kernel", pointwise, 4)
    mid = first.shape[0]
    if pointwise.shape[:3] != (1, 1, mid):
        raise TransformError(
            name,
            f"'pointwise_kernel' has shape {_fmt_shape(pointwise.shape)}, expected (1, 1, {mid}, out) "
            f"after a depthwise kernel {_fmt_shape(depthwise.shape)}",
        )
    # (1, 1, C*m, O) -> (O, C*m, 1, 1)
    second = _copy(pointwise.transpose(3, 2, 0, 1))
    return {"0.weight": first, "1.weight": second, **_bias_entry(name, "1.bias", bias, second.shape[0])}


def _norm_arrays(
    name: str, arrays: Sequence[Array], ctx: TransformContext, stats: tuple[str, ...]
) -> tuple[Array | None, Array | None, list[Array]]:
    """(gamma or None, beta or None, statistics) per ``ctx.scale`` / ``ctx.center``."""
    labels = [*(["gamma"] if ctx.scale else []), *(["beta"] if ctx.center else []), *stats]
    _expect_count(name, arrays, labels, f"context.scale={ctx.scale}, center={ctx.center}")
    rest = list(arrays)
    gamma = rest.pop(0) if ctx.scale else None
    beta = rest.pop(0) if ctx.center else None
    return gamma, beta, rest


def _affine_state(gamma: Array | None, beta: Array | None, like: Array) -> dict[str, Array]:
    """torch weight/bias from whichever of gamma/beta Keras has. With beta only, torch needs a
    weight too (ones); with gamma only, the torch module is the one built without a bias."""
    state: dict[str, Array] = {}
    if gamma is not None or beta is not None:
        state["weight"] = _copy(gamma) if gamma is not None else np.ones_like(like)
    if beta is not None:
        state["bias"] = _copy(beta)
    return state


def _batchnorm(arrays: Sequence[Array], ctx: TransformContext) -> dict[str, Array]:
    name = "batchnorm"
    gamma, beta, (mean, var) = _norm_arrays(name, arrays, ctx, ("moving_mean", "moving_variance"))
    _expect_ndim(name, "moving_mean", mean, 1)
    labelled = (("moving_variance", var), ("gamma", gamma), ("beta", beta))
    for label, array in labelled:
        if array is not None:
            _same_shape(name, label, array, "moving_mean", mean)
    affine = _affine_state(gamma, beta, mean)
    if gamma is not None and beta is None:
        affine["bias"] = np.zeros_like(gamma)  # torch BatchNorm has both or neither
    return {
        **affine,
        "running_mean": _copy(mean),
        "running_var": _copy(var),
        "num_batches_tracked": np.array(0, dtype=np.int64),
    }


def _layernorm(arrays: Sequence[Array], ctx: TransformContext) -> dict[str, Array]:
    name = "layernorm"
    rank = ctx.layernorm_rank
    if rank < 1:
        raise TransformError(name, f"context.layernorm_rank must be >= 1, got {rank}")
    gamma, beta, _ = _norm_arrays(name, arrays, ctx, ())
    present = [(label, a) for label, a in (("gamma", gamma), ("beta", beta)) if a is not None]
    for label, array in present:
        _expect_ndim(name, label, array, rank)
        _same_shape(name, label, array, present[0][0], present[0][1])
    # channels-last (*S, C) -> channels-first (C, *S); a no-op for rank 1.
    first = {label: np.moveaxis(a, -1, 0) for label, a in present}
    if not first:
        return {}
    return _affine_state(first.get("gamma"), first.get("beta"), next(iter(first.values())))


def _recurrent(
    name: str, arrays: Sequence[Array], ctx: TransformContext, gates: int
) -> tuple[Array, Array, Array | None, int]:
    """(kernel, recurrent_kernel, bias or None, hidden size) after the shape checks shared by
    GRU and LSTM (the bias shape is checked by the caller)."""
    (kernel, recurrent), bias = _split_bias(name, arrays, ctx, ("kernel", "recurrent_kernel"))
    _expect_ndim(name, "kernel", kernel, 2)
    _expect_ndim(name, "recurrent_kernel", recurrent, 2)
    hidden = recurrent.shape[0]
    if recurrent.shape[1] != gates * hidden or kernel.shape[1] != gates * hidden:
        raise TransformError(
            name,
            f"kernels of shape {_fmt_shape(kernel.shape)} / {_fmt_shape(recurrent.shape)} "
            f"are not {gates} gates of {hidden} units",
        )
    return kernel, recurrent, bias, hidden


def _gru(arrays: Sequence[Array], ctx: TransformContext) -> dict[str, Array]:
    name = "gru"
    if not ctx.reset_after:
        raise TransformError(name, f"context.reset_after=False: {GRU_RESET_AFTER_REASON}")
    kernel, recurrent, bias, hidden = _recurrent(name, arrays, ctx, 3)
    state = {
        "weight_ih_l0": _copy(swap_first_two_gates(kernel.T)),
        "weight_hh_l0": _copy(swap_first_two_gates(recurrent.T)),
    }
    if bias is None:
        return state
    if bias.ndim == 1:
        raise TransformError(
            name,
            f"'bias' has shape {_fmt_shape(bias.shape)}, a GRU(reset_after=False): {GRU_RESET_AFTER_REASON}",
        )
    if bias.shape != (2, 3 * hidden):
        raise TransformError(name, f"'bias' has shape {_fmt_shape(bias.shape)}, expected (2, {3 * hidden})")
    state["bias_ih_l0"] = _copy(swap_first_two_gates(bias[0]))
    state["bias_hh_l0"] = _copy(swap_first_two_gates(bias[1]))
    return state


def _summed_bias(name: str, gates: int) -> KerasApplyFn:
    """LSTM and SimpleRNN: kernels transposed; the single Keras bias goes to bias_ih_l0, with a
    zero bias_hh_l0 (torch adds the two)."""

    def apply(arrays: Sequence[Array], ctx: TransformContext) -> dict[str, Array]:
        kernel, recurrent, bias, hidden = _recurrent(name, arrays, ctx, gates)
        state = {"weight_ih_l0": _copy(kernel.T), "weight_hh_l0": _copy(recurrent.T)}
        if bias is None:
            return state
        _expect_ndim(name, "bias", bias, 1)
        if bias.shape[0] != gates * hidden:
            raise TransformError(
                name, f"'bias' has shape {_fmt_shape(bias.shape)}, expected ({gates * hidden})"
            )
        return {**state, "bias_ih_l0": _copy(bias), "bias_hh_l0": np.zeros_like(bias)}

    return apply


_lstm = _summed_bias("lstm", 4)
_simple_rnn = _summed_bias("simple_rnn", 1)


def _stacked(name: str, single: KerasApplyFn) -> KerasApplyFn:
    """``context.rnn_layers`` layers (each forward, then backward with ``context.bidirectional``):
    the Keras weights split evenly among them, each group as ``single`` under ``*_l{k}`` /
    ``*_l{k}_reverse``."""

    def apply(arrays: Sequence[Array], ctx: TransformContext) -> dict[str, Array]:
        if ctx.rnn_layers < 1 or ctx.rnn_layers > MAX_RECURRENT_LAYERS:
            raise TransformError(
                name, f"context.rnn_layers must be 1 to {MAX_RECURRENT_LAYERS}, got {ctx.rnn_layers}"
            )
        directions = ("", "_reverse") if ctx.bidirectional else ("",)
        groups = ctx.rnn_layers * len(directions)
        if groups == 1:
            return single(arrays, ctx)
        if len(arrays) % groups:
            raise TransformError(
                name, f"{len(arrays)} arrays do not split into {groups} layers (rnn_layers x directions)"
            )
        size = len(arrays) // groups
        state: dict[str, Array] = {}
        for g in range(groups):
            k, d = divmod(g, len(directions))
            try:
                part = single(arrays[g * size : (g + 1) * size], ctx)
            except TransformError as exc:
                raise TransformError(name, f"layer {k}{directions[d]}: {exc.detail}") from None
            for key, value in part.items():
                state[f"{key.removesuffix('_l0')}_l{k}{directions[d]}"] = value
        return state

    return apply


def _stacked_keys() -> tuple[str, ...]:
    return tuple(
        f"{part}_l{k}{suffix}"
        for k in range(MAX_RECURRENT_LAYERS)
        for suffix in ("", "_reverse")
        for part in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    )


def _make_bidirectional(name: str, single: KerasApplyFn) -> KerasApplyFn:
    """keras Bidirectional: the forward layer's weights, then the backward layer's; torch keeps
    the backward direction under ``*_l0_reverse``."""

    def apply(arrays: Sequence[Array], ctx: TransformContext) -> dict[str, Array]:
        if len(arrays) % 2:
            raise TransformError(
                name, f"expected the forward then the backward weights, got {len(arrays)} arrays"
            )
        half = len(arrays) // 2
        forward = single(arrays[:half], ctx)
        backward = single(arrays[half:], ctx)
        return {**forward, **{f"{k}_reverse": v for k, v in backward.items()}}

    return apply


def _bidirectional_transform(kind: str, single: KerasApplyFn) -> KerasWeightTransform:
    name = f"bidirectional_{kind}"
    torch_name, keras_name = RECURRENT_NAMES[kind]
    return KerasWeightTransform(
        name=name,
        doc=(
            f"keras Bidirectional({keras_name}) -> torch {torch_name}(bidirectional=True): the "
            f"forward layer's weights as in '{kind}' under *_l0, the backward layer's under *_l0_reverse."
        ),
        min_arrays=4,
        max_arrays=6,
        produces=tuple(
            f"{k}{suffix}"
            for suffix in ("", "_reverse")
            for k in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
        ),
        apply=_make_bidirectional(name, single),
    )


def _multihead_attention(arrays: Sequence[Array], ctx: TransformContext) -> dict[str, Array]:
    """Keras per-head kernels (in, h, d) and output kernel (h, d, E) -> torch's packed
    ``in_proj_weight`` (3E, E) (``q/k/v_proj_weight`` when the key or value size is not E)."""
    name = "multihead_attention"
    parts = ("query", "key", "value", "output")
    labels = [f"{p} {k}" for p in parts for k in (("kernel", "bias") if ctx.use_bias else ("kernel",))]
    _expect_count(name, arrays, labels, f"context.use_bias={ctx.use_bias}")
    step = 2 if ctx.use_bias else 1
    kernels = [arrays[i * step] for i in range(4)]
    biases = [arrays[i * step + 1] for i in range(4)] if ctx.use_bias else [None] * 4
    for part, kernel in zip(parts, kernels, strict=True):
        _expect_ndim(name, f"{part} kernel", kernel, 3)
    q, k, v, o = kernels
    heads, head_dim = q.shape[1], q.shape[2]
    embed = heads * head_dim
    if (
        q.shape[0] != embed
        or k.shape[1:] != (heads, head_dim)
        or v.shape[1:] != (heads, head_dim)
        or o.shape != (heads, head_dim, embed)
    ):
        raise TransformError(
            name,
            f"kernels {_fmt_shape(q.shape)}, {_fmt_shape(k.shape)}, {_fmt_shape(v.shape)}, "
            f"{_fmt_shape(o.shape)}: nn.MultiheadAttention needs num_heads * key_dim == value_dim * "
            "num_heads == the query size == the output size",
        )
    weights = [_copy(kernel.reshape(kernel.shape[0], embed).T) for kernel in (q, k, v)]
    state: dict[str, Array] = {}
    if k.shape[0] == embed and v.shape[0] == embed:
        state["in_proj_weight"] = np.concatenate(weights, axis=0)
    else:
        state.update(zip(("q_proj_weight", "k_proj_weight", "v_proj_weight"), weights, strict=True))
    if ctx.use_bias:
        for part, bias in zip(parts[:3], biases[:3], strict=True):
            assert bias is not None
            _expect_ndim(name, f"{part} bias", bias, 2)
            _same_shape(name, f"{part} bias", bias, "query kernel heads", q[0])
        state["in_proj_bias"] = np.concatenate([b.reshape(-1) for b in biases[:3] if b is not None])
    state["out_proj.weight"] = _copy(o.reshape(embed, embed).T)
    state.update(_bias_entry(name, "out_proj.bias", biases[3], embed))
    return state


def _transformer_encoder_layer(arrays: Sequence[Array], ctx: TransformContext) -> dict[str, Array]:
    """self_attn, linear1, linear2, norm1, norm2 in turn (their Keras weights are consecutive)."""
    name = "transformer_encoder_layer"
    per_bias = 2 if ctx.use_bias else 1
    parts = (("linear1", "linear"), ("linear2", "linear"), ("norm1", "layernorm"), ("norm2", "layernorm"))
    counts = (("self_attn", "multihead_attention", 4 * per_bias), *((p, k, per_bias) for p, k in parts))
    total = sum(n for _, _, n in counts)
    if len(arrays) != total:
        raise TransformError(
            name, f"expects {total} Keras arrays (context.use_bias={ctx.use_bias}), got {len(arrays)}"
        )
    apply = {"multihead_attention": _multihead_attention, "linear": _linear, "layernorm": _layernorm}
    part_ctx = dataclasses.replace(ctx, center=ctx.use_bias, scale=True, layernorm_rank=1)
    state: dict[str, Array] = {}
    start = 0
    for part, kind, n in counts:
        try:
            got = apply[kind](arrays[start : start + n], part_ctx)
        except TransformError as exc:
            raise TransformError(name, f"{part}: {exc.detail}") from None
        state.update({f"{part}.{key}": value for key, value in got.items()})
        start += n
    return state


def _keras_multi_head_attention(arrays: Sequence[Array], ctx: TransformContext) -> dict[str, Array]:
    """Keras's arrays under Keras's names: torch_support.KerasMultiHeadAttention keeps their shapes."""
    name = "keras_multi_head_attention"
    kinds = ("kernel", "bias") if ctx.use_bias else ("kernel",)
    labels = [f"{p}_{k}" for p in KERAS_MHA_PARTS for k in kinds]
    _expect_count(name, arrays, labels, f"context.use_bias={ctx.use_bias}")
    for label, array in zip(labels, arrays, strict=True):
        if label.endswith("_kernel"):
            _expect_ndim(name, label, array, 3)
    return {label: _copy(array) for label, array in zip(labels, arrays, strict=True)}


def _transformer_encoder(arrays: Sequence[Array], ctx: TransformContext) -> dict[str, Array]:
    """The layers' weights in turn (16 arrays each, 8 with use_bias=False), then 0 to 2 arrays of
    the final LayerNorm (gamma[, beta])."""
    name = "transformer_encoder"
    per_layer = 16 if ctx.use_bias else 8
    count, rest = divmod(len(arrays), per_layer)
    if count < 1 or count > MAX_ENCODER_LAYERS or rest > 2:
        raise TransformError(
            name,
            f"{len(arrays)} arrays are not 1 to {MAX_ENCODER_LAYERS} layers of {per_layer} "
            f"(context.use_bias={ctx.use_bias}) and a final LayerNorm of 0 to 2",
        )
    state: dict[str, Array] = {}
    for i in range(count):
        try:
            got = _transformer_encoder_layer(arrays[i * per_layer : (i + 1) * per_layer], ctx)
        except TransformError as exc:
            raise TransformError(name, f"layers.{i}: {exc.detail}") from None
        state.update({f"layers.{i}.{key}": value for key, value in got.items()})
    if rest:
        norm_ctx = dataclasses.replace(ctx, center=rest == 2, scale=True, layernorm_rank=1)
        norm = _layernorm(arrays[count * per_layer :], norm_ctx)
        state.update({f"norm.{key}": value for key, value in norm.items()})
    return state


def _embedding(arrays: Sequence[Array], ctx: TransformContext) -> dict[str, Array]:
    name = "embedding"
    _expect_count(name, arrays, ("embeddings",), "an Embedding has one weight")
    _expect_ndim(name, "embeddings", arrays[0], 2)
    return {"weight": _copy(arrays[0])}


def _prelu(arrays: Sequence[Array], ctx: TransformContext) -> dict[str, Array]:
    name = "prelu"
    _expect_count(name, arrays, ("alpha",), "a PReLU has one weight")
    alpha = arrays[0]
    if alpha.ndim < 1 or any(d != 1 for d in alpha.shape[:-1]):
        raise TransformError(
            name,
            f"'alpha' has shape {_fmt_shape(alpha.shape)}; torch PReLU has one alpha per channel (or "
            "one in all), i.e. alpha (1, ..., 1, P): build the keras PReLU with shared_axes = every "
            "axis but the channels (e.g. [1, 2] for (N, H, W, C))",
        )
    return {"weight": _copy(alpha.reshape(-1))}


# -------------------------------------------------------------------------- registry


def _conv_transform(name: str, spatial_rank: int, keras_layer: str) -> KerasWeightTransform:
    return KerasWeightTransform(
        name=name,
        doc=(
            f"keras {keras_layer}(groups=g) -> torch Conv{spatial_rank}d (groups=g): kernel "
            "(*k, in/g, out) -> weight (out, in/g, *k); bias unchanged."
        ),
        min_arrays=1,
        max_arrays=2,
        produces=("weight", "bias"),
        apply=_make_conv(name, spatial_rank, out_axis=-1),
    )


def _depthwise_transform(name: str, spatial_rank: int, keras_layer: str) -> KerasWeightTransform:
    return KerasWeightTransform(
        name=name,
        doc=(
            f"keras {keras_layer}(depth_multiplier=m) -> torch Conv{spatial_rank}d(C, C*m, k, "
            "groups=C): kernel (*k, C, m) -> weight (C*m, 1, *k) via (C, m, *k); bias (C*m,) "
            "unchanged (both frameworks order outputs as c*m + j). m is read from the kernel."
        ),
        min_arrays=1,
        max_arrays=2,
        produces=("weight", "bias"),
        apply=_make_depthwise(name, spatial_rank),
    )


def _conv_transpose_transform(name: str, spatial_rank: int, keras_layer: str) -> KerasWeightTransform:
    return KerasWeightTransform(
        name=name,
        doc=(
            f"keras {keras_layer} -> torch ConvTranspose{spatial_rank}d (groups=1): kernel "
            "(*k, out, in) -> weight (in, out, *k), no spatial flip; bias (out,) unchanged."
        ),
        min_arrays=1,
        max_arrays=2,
        produces=("weight", "bias"),
        apply=_make_conv(name, spatial_rank, out_axis=-2),
    )


KERAS_TO_TORCH: Mapping[str, KerasWeightTransform] = types.MappingProxyType(
    {
        "identity": KerasWeightTransform(
            name="identity",
            doc="Layers without weights (ReLU, Dropout, Flatten, pooling, ...): no state.",
            min_arrays=0,
            max_arrays=0,
            produces=(),
            apply=_identity,
        ),
        "linear": KerasWeightTransform(
            name="linear",
            doc=(
                "keras Dense -> torch Linear: kernel (in, out) -> weight (out, in); bias (absent "
                "with context.use_bias=False -> Linear(bias=False))."
            ),
            min_arrays=1,
            max_arrays=2,
            produces=("weight", "bias"),
            apply=_linear,
        ),
        "linear_after_flatten": KerasWeightTransform(
            name="linear_after_flatten",
            doc=(
                "keras Dense fed by Flatten of a channels-last map (*S, C) -> torch Linear fed by "
                "flatten of the channels-first map (C, *S): kernel (prod(S)*C, O) is reshaped to "
                "(*S, C, O), transposed to (O, C, *S) and reshaped to (O, C*prod(S)). Needs "
                "context.flatten_shape_last = (*S, C) (the map as Keras sees it before Flatten) "
                "or, equivalently, context.flatten_shape = (C, *S)."
            ),
            min_arrays=1,
            max_arrays=2,
            produces=("weight", "bias"),
            apply=_linear_after_flatten,
        ),
        "conv1d": _conv_transform("conv1d", 1, "Conv1D"),
        "conv2d": _conv_transform("conv2d", 2, "Conv2D"),
        "conv3d": _conv_transform("conv3d", 3, "Conv3D"),
        "depthwise_conv1d": _depthwise_transform("depthwise_conv1d", 1, "DepthwiseConv1D"),
        "depthwise_conv2d": _depthwise_transform("depthwise_conv2d", 2, "DepthwiseConv2D"),
        "conv_transpose1d": _conv_transpose_transform("conv_transpose1d", 1, "Conv1DTranspose"),
        "conv_transpose2d": _conv_transpose_transform("conv_transpose2d", 2, "Conv2DTranspose"),
        "batchnorm": KerasWeightTransform(
            name="batchnorm",
            doc=(
                "keras BatchNormalization(axis=-1) -> torch BatchNorm{1,2,3}d: [gamma, beta, "
                "moving_mean, moving_variance] -> weight, bias, running_mean, running_var, plus "
                "num_batches_tracked = 0 (int64). gamma / beta are absent for context.scale=False "
                "/ center=False: with one of them torch stays affine with weight ones / bias "
                "zeros; with neither torch is affine=False. epsilon must be set to torch's eps."
            ),
            min_arrays=2,
            max_arrays=4,
            produces=("weight", "bias", "running_mean", "running_var", "num_batches_tracked"),
            apply=_batchnorm,
        ),
        "layernorm": KerasWeightTransform(
            name="layernorm",
            doc=(
                "keras LayerNormalization -> torch LayerNorm: [gamma, beta] -> weight, bias. "
                "scale=False, center=True -> weight ones (LayerNorm default); center=False -> "
                "LayerNorm(bias=False); neither -> elementwise_affine=False (no state). With "
                "context.layernorm_rank > 1 the channels-last (*S, C) shape of keras "
                "axis=[1, ..., rank] is moved to channels-first (C, *S)."
            ),
            min_arrays=0,
            max_arrays=2,
            produces=("weight", "bias"),
            apply=_layernorm,
        ),
        "gru": KerasWeightTransform(
            name="gru",
            doc=(
                "keras GRU(reset_after=True) -> torch GRU (batch_first as needed): gate blocks "
                "reordered from keras's [z, r, h] to torch's "
                "[r, z, n]; weight_ih_l0 = kernel.T, weight_hh_l0 = recurrent_kernel.T, "
                "bias_ih_l0 / bias_hh_l0 = bias[0] / bias[1] (bias (2, 3H)); use_bias=False -> "
                "GRU(bias=False). reset_after=False (bias (3H,)) has no torch counterpart and fails. "
                "context.rnn_layers > 1 / bidirectional: the weights of that many Keras layers in "
                "turn (layer 0 forward, layer 0 backward, layer 1 forward, ...) -> *_l{k}[_reverse]."
            ),
            min_arrays=2,
            max_arrays=3 * 2 * MAX_RECURRENT_LAYERS,
            produces=_stacked_keys(),
            apply=_stacked("gru", _gru),
        ),
        "embedding": KerasWeightTransform(
            name="embedding",
            doc="keras Embedding -> torch Embedding: [embeddings] (num, dim) -> weight.",
            min_arrays=1,
            max_arrays=1,
            produces=("weight",),
            apply=_embedding,
        ),
        "bidirectional_lstm": _bidirectional_transform("lstm", _lstm),
        "bidirectional_gru": _bidirectional_transform("gru", _gru),
        "lstm": KerasWeightTransform(
            name="lstm",
            doc=(
                "keras LSTM -> torch LSTM: same gate order [i, f, c/g, "
                "o]; weight_ih_l0 = kernel.T, weight_hh_l0 = recurrent_kernel.T, bias_ih_l0 = "
                "bias, bias_hh_l0 = zeros (torch adds the two); use_bias=False -> LSTM(bias=False). "
                "context.rnn_layers > 1 / bidirectional: the weights of that many Keras layers in "
                "turn (layer 0 forward, layer 0 backward, layer 1 forward, ...) -> *_l{k}[_reverse]."
            ),
            min_arrays=2,
            max_arrays=3 * 2 * MAX_RECURRENT_LAYERS,
            produces=_stacked_keys(),
            apply=_stacked("lstm", _lstm),
        ),
        "simple_rnn": KerasWeightTransform(
            name="simple_rnn",
            doc=(
                "keras SimpleRNN -> torch RNN (nonlinearity = the activation, tanh or relu): "
                "weight_ih_l0 = kernel.T, weight_hh_l0 = recurrent_kernel.T, bias_ih_l0 = bias, "
                "bias_hh_l0 = zeros (torch adds the two); use_bias=False -> RNN(bias=False). "
                "context.rnn_layers > 1 / bidirectional: the weights of that many Keras layers in "
                "turn (layer 0 forward, layer 0 backward, layer 1 forward, ...) -> *_l{k}[_reverse]."
            ),
            min_arrays=2,
            max_arrays=3 * 2 * MAX_RECURRENT_LAYERS,
            produces=_stacked_keys(),
            apply=_stacked("simple_rnn", _simple_rnn),
        ),
        "bidirectional_simple_rnn": _bidirectional_transform("simple_rnn", _simple_rnn),
        "separable_conv2d": KerasWeightTransform(
            name="separable_conv2d",
            doc=(
                "keras SeparableConv2D(out, k, depth_multiplier=m) -> torch Sequential(Conv2d(C, "
                "C*m, k, groups=C, bias=False), Conv2d(C*m, out, 1)): depthwise_kernel (*k, C, m) "
                "-> '0.weight' (C*m, 1, *k) as for depthwise_conv2d, pointwise_kernel "
                "(1, 1, C*m, out) -> '1.weight' (out, C*m, 1, 1), bias -> '1.bias'."
            ),
            min_arrays=2,
            max_arrays=3,
            produces=("0.weight", "1.weight", "1.bias"),
            apply=_separable_conv2d,
        ),
        "prelu": KerasWeightTransform(
            name="prelu",
            doc=(
                "keras PReLU -> torch PReLU: alpha of shape (1, ..., 1, P) -> weight (P,), "
                "num_parameters=P. P = C is keras shared_axes over every axis but the channels "
                "(e.g. [1, 2] for (N, H, W, C): alpha (1, 1, C)); alpha (1, ..., 1) is "
                "num_parameters=1; (C,) is a PReLU on (N, C). Other alpha shapes (keras's default "
                "per-element alpha) have no torch counterpart and fail."
            ),
            min_arrays=1,
            max_arrays=1,
            produces=("weight",),
            apply=_prelu,
        ),
        "multihead_attention": KerasWeightTransform(
            name="multihead_attention",
            doc=(
                "keras MultiHeadAttention(h, key_dim=d) on a query of size E = h * d (value_dim = d, "
                "no output_shape) -> torch MultiheadAttention(E, h): the query/key/value kernels "
                "(in, h, d) -> W.reshape(in, E).T, stacked into in_proj_weight (3E, E) when key and "
                "value have size E, else q/k/v_proj_weight (kdim/vdim); the biases (h, d) -> "
                "in_proj_bias (3E,); the output kernel (h, d, E) -> out_proj.weight "
                "reshape(E, E).T, its bias -> out_proj.bias. use_bias=False -> bias=False. Other "
                "sizes have no nn.MultiheadAttention form and fail."
            ),
            min_arrays=4,
            max_arrays=8,
            produces=(
                "in_proj_weight",
                "q_proj_weight",
                "k_proj_weight",
                "v_proj_weight",
                "in_proj_bias",
                "out_proj.weight",
                "out_proj.bias",
            ),
            apply=_multihead_attention,
        ),
        "transformer_encoder_layer": KerasWeightTransform(
            name="transformer_encoder_layer",
            doc=(
                "migrator.runtime.keras_support.TransformerEncoderLayer -> torch "
                "TransformerEncoderLayer: the self_attn weights as 'multihead_attention', then "
                "linear1 and linear2 as 'linear', norm1 and norm2 as 'layernorm', each under its "
                "prefix. use_bias=False: no biases, LayerNorms without beta."
            ),
            min_arrays=8,
            max_arrays=16,
            produces=tuple(
                f"{part}.{key}"
                for part, keys in (
                    ("self_attn", ("in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias")),
                    ("linear1", ("weight", "bias")),
                    ("linear2", ("weight", "bias")),
                    ("norm1", ("weight", "bias")),
                    ("norm2", ("weight", "bias")),
                )
                for key in keys
            ),
            apply=_transformer_encoder_layer,
        ),
        "transformer_encoder": KerasWeightTransform(
            name="transformer_encoder",
            doc=(
                "migrator.runtime.keras_support.TransformerEncoder -> torch TransformerEncoder: each "
                "layer's weights (16 arrays, 8 with use_bias=False) as 'transformer_encoder_layer' "
                "under layers.{i}, then the final LayerNorm's gamma[, beta] under norm."
            ),
            min_arrays=8,
            max_arrays=16 * MAX_ENCODER_LAYERS + 2,
            produces=(
                *(
                    f"layers.{i}.{key}"
                    for i in range(MAX_ENCODER_LAYERS)
                    for key in (*ENCODER_LAYER_KEYS[0], *ENCODER_LAYER_KEYS[1])
                ),
                "norm.weight",
                "norm.bias",
            ),
            apply=_transformer_encoder,
        ),
        "keras_multi_head_attention": KerasWeightTransform(
            name="keras_multi_head_attention",
            doc=(
                "keras MultiHeadAttention -> migrator.runtime.torch_support.KerasMultiHeadAttention "
                "(the sizes nn.MultiheadAttention cannot take): the kernels and biases keep their "
                "shapes, under query_kernel, query_bias, ..., output_bias. use_bias=False: kernels only."
            ),
            min_arrays=4,
            max_arrays=8,
            produces=tuple(f"{p}_{k}" for p in KERAS_MHA_PARTS for k in ("kernel", "bias")),
            apply=_keras_multi_head_attention,
        ),
    }
)
"""All Keras -> PyTorch weight transforms by name (read-only); the same names as
:data:`migrator.weights.transforms.TRANSFORMS`."""


def get_keras_transform(name: str) -> KerasWeightTransform:
    """The Keras -> PyTorch transform registered as ``name``.

    Raises:
        KeyError: unknown name; the message lists the known names.
    """
    try:
        return KERAS_TO_TORCH[name]
    except KeyError:
        known = ", ".join(sorted(KERAS_TO_TORCH))
        raise KeyError(f"unknown keras->torch weight transform {name!r}; known: {known}") from None


def apply_keras_transform(
    name: str,
    weights: Sequence[Array],
    ctx: TransformContext = DEFAULT_CONTEXT,
) -> dict[str, Array]:
    """Convert one Keras layer's ``get_weights()`` list into PyTorch ``state_dict`` entries.

    The result has keys without prefix, in ``state_dict`` order, and never aliases
    ``weights``.

    Raises:
        KeyError: unknown transform name.
        TransformError: a number of arrays outside the transform's range or not the one
            the context implies, or shapes that do not fit.
    """
    transform = get_keras_transform(name)
    arrays = [np.asarray(w) for w in weights]
    if not transform.min_arrays <= len(arrays) <= transform.max_arrays:
        expected = (
            str(transform.min_arrays)
            if transform.min_arrays == transform.max_arrays
            else f"{transform.min_arrays} to {transform.max_arrays}"
        )
        raise TransformError(name, f"expects {expected} Keras weight array(s), got {len(arrays)}")
    return transform.apply(arrays, ctx)
