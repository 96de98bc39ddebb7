"""Named weight transforms: PyTorch module state -> Keras 3 ``set_weights()`` lists.

Each transform takes the state of one PyTorch module (a mapping from the keys of
``module.state_dict()`` without prefix, e.g. ``"weight"``, ``"bias"``,
``"running_mean"``, to numpy arrays) and returns the list of numpy arrays that the
corresponding channels-last Keras 3 layer expects in ``layer.set_weights()``, in
Keras's weight order.

The opposite direction lives in :mod:`migrator.weights.keras_to_torch`, under the same
names and with the same :class:`TransformContext`.

The module is pure numpy: it never imports torch, tensorflow or keras.
"""

from __future__ import annotations

import math
import re
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]
"""A numpy array of any dtype."""

__all__ = [
    "DEFAULT_CONTEXT",
    "TRANSFORMS",
    "ApplyFn",
    "Array",
    "TransformContext",
    "TransformError",
    "WeightTransform",
    "apply_transform",
    "get_transform",
]


class TransformError(ValueError):
    """A module state does not fit a weight transform (missing/unexpected key, bad shape)."""

    def __init__(self, transform: str, detail: str) -> None:
        self.transform = transform
        self.detail = detail
        super().__init__(f"weight transform {transform!r}: {detail}")

    def __reduce__(self) -> tuple[type[TransformError], tuple[str, str]]:
        return (type(self), (self.transform, self.detail))


@dataclass(frozen=True)
class TransformContext:
    """Facts about the surrounding model that the weights alone do not determine.

    One context serves both directions (torch -> keras with :func:`apply_transform`,
    keras -> torch with :func:`migrator.weights.keras_to_torch.apply_keras_transform`).
    The flags named after Keras options (``use_bias``, ``center``, ``scale``,
    ``reset_after``) describe the Keras layer in both directions.

    Attributes:
        flatten_shape: for ``linear_after_flatten``: the channels-first shape of one
            sample's feature map before ``torch.flatten`` -- ``(C, L)``, ``(C, H, W)``
            or ``(C, D, H, W)``.
        flatten_shape_last: for ``linear_after_flatten``: the same map described
            channels-last, as Keras sees it before ``Flatten`` -- ``(L, C)``,
            ``(H, W, C)`` or ``(D, H, W, C)``. Either field may be given, in either
            direction; when both are given they must describe the same map.
        layernorm_rank: number of normalized dimensions of a ``LayerNorm``. With a
            value above 1 the normalized shape is taken to be channels-first
            ``(C, *spatial)`` and is moved to channels-last ``(*spatial, C)``.
        use_bias: whether the Keras layer has a bias (``use_bias=...``).
            torch -> keras: when it does and the PyTorch module has none, a zero bias
            is emitted; when it does not and the PyTorch module has one, the transform
            fails (GRU and LSTM included). keras -> torch: the number of Keras arrays
            must agree with it, and the PyTorch module is the one built with
            ``bias=use_bias``.
        depth_multiplier: ``out_channels // in_channels`` of a depthwise convolution
            (Keras ``depth_multiplier``), also for ``separable_conv2d``. Only the
            torch -> keras direction needs it; keras -> torch reads it from the kernel.
        center: whether the Keras ``BatchNormalization`` / ``LayerNormalization`` has
            ``beta`` (``center=...``). keras -> torch: the number of arrays must agree;
            a missing beta becomes a zero torch ``bias`` when the torch module has one.
            torch -> keras: only ``False`` has an effect -- the torch ``bias`` must then
            be all zeros and is dropped.
        scale: the same for ``gamma`` (``scale=...``): a missing gamma becomes a torch
            ``weight`` of ones, and a dropped torch ``weight`` must be all ones.
        reset_after: the Keras ``GRU(reset_after=...)``. Only ``True`` matches
            PyTorch's GRU; ``False`` makes ``gru`` fail in both directions.
        prelu_rank: number of dimensions of the Keras ``PReLU`` ``alpha`` (the input
            rank without the batch axis). torch -> keras turns the PyTorch weight
            ``(P,)`` into ``alpha`` of shape ``(1,) * (prelu_rank - 1) + (P,)``;
            keras -> torch reads the rank from ``alpha``.
        rnn_layers: for ``lstm``, ``gru`` and ``simple_rnn``: the number of stacked
            recurrent layers (torch ``num_layers``). torch -> keras reads the layers from
            the state keys (``*_l{k}``); keras -> torch splits the Keras weights into this
            many layers (times two with ``bidirectional``).
        bidirectional: for the same transforms: each layer has a backward direction
            (torch ``*_reverse`` keys, a Keras ``Bidirectional``); read from the keys
            torch -> keras.
        num_heads: for ``multihead_attention`` and ``transformer_encoder_layer``
            torch -> keras: the number of attention heads (torch packs the heads in
            ``in_proj_weight``; Keras kernels have a heads axis). keras -> torch reads it
            from the kernels.
    """

    flatten_shape: tuple[int, ...] | None = None
    layernorm_rank: int = 1
    use_bias: bool = True
    depth_multiplier: int = 1
    flatten_shape_last: tuple[int, ...] | None = None
    center: bool = True
    scale: bool = True
    reset_after: bool = True
    prelu_rank: int = 1
    rnn_layers: int = 1
    bidirectional: bool = False
    num_heads: int = 1


DEFAULT_CONTEXT = TransformContext()
"""The context used when none is given."""

ApplyFn = Callable[[Mapping[str, Array], TransformContext], list[Array]]
"""Signature of a transform's ``apply``: (module state, context) -> Keras weights."""


@dataclass(frozen=True)
class WeightTransform:
    """A named, documented conversion of one module's state to Keras weights.

    Attributes:
        name: registry key.
        doc: one-paragraph description of the mapping.
        consumes: source keys that must be present.
        optional: source keys that may be absent (e.g. ``"bias"``).
        ignores: source keys that are accepted but not transferred
            (e.g. ``"num_batches_tracked"``).
        apply: the conversion. Call through :func:`apply_transform`, which validates
            the key set first.
    """

    name: str
    doc: str
    consumes: tuple[str, ...]
    optional: tuple[str, ...]
    ignores: tuple[str, ...]
    apply: ApplyFn

    @property
    def accepted_keys(self) -> frozenset[str]:
        """Every key that may appear in a state given to this transform."""
        return frozenset(self.consumes + self.optional + self.ignores)


# --------------------------------------------------------------------------- helpers


def _fmt_shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def _expect_ndim(name: str, key: str, array: Array, ndim: int) -> None:
    if array.ndim != ndim:
        raise TransformError(
            name,
            f"{key!r} must have {ndim} dimensions, got shape {_fmt_shape(array.shape)}",
        )


def _copy(array: Array) -> Array:
    """A C-contiguous copy, so returned weights never alias the source state."""
    return np.array(array, copy=True, order="C")


def _bias(name: str, state: Mapping[str, Array], ctx: TransformContext, size: int) -> list[Array]:
    """The Keras bias entry (zero or one arrays) for a layer with ``size`` outputs."""
    return _bias_of(name, "bias", state.get("bias"), ctx, size, state["weight"].dtype)


def _bias_of(
    name: str, key: str, bias: Array | None, ctx: TransformContext, size: int, dtype: np.dtype[Any]
) -> list[Array]:
    """:func:`_bias` for a bias stored under ``key``; a zero bias gets ``dtype``."""
    if bias is None:
        if not ctx.use_bias:
            return []
        return [np.zeros((size,), dtype=dtype)]
    if not ctx.use_bias:
        raise TransformError(
            name, f"source has a {key!r} but the context says the Keras layer has use_bias=False"
        )
    _expect_ndim(name, key, bias, 1)
    if bias.shape[0] != size:
        raise TransformError(
            name,
            f"{key!r} has shape {_fmt_shape(bias.shape)} but the layer has {size} outputs",
        )
    return [_copy(bias)]


def channels_first_flatten_shape(name: str, ctx: TransformContext) -> tuple[int, ...]:
    """The channels-first ``(C, *S)`` map shape for ``linear_after_flatten``.

    Taken from ``ctx.flatten_shape`` or, converted, from ``ctx.flatten_shape_last``.

    Raises:
        TransformError: neither field is set, a shape is not ``(C, *S)`` / ``(*S, C)``
            with positive sizes, or the two fields describe different maps.
    """
    first, last = ctx.flatten_shape, ctx.flatten_shape_last
    for field, layout, shape in (
        ("flatten_shape", "(C, *spatial)", first),
        ("flatten_shape_last", "(*spatial, C)", last),
    ):
        if shape is not None and (len(shape) < 2 or any(d <= 0 for d in shape)):
            raise TransformError(name, f"context.{field} must be {layout} with positive sizes, got {shape}")
    if last is None:
        if first is None:
            raise TransformError(
                name,
                "context.flatten_shape is required: the channels-first (C, *spatial) shape "
                "(or context.flatten_shape_last: the channels-last (*spatial, C) shape)",
            )
        return tuple(first)
    from_last = (last[-1], *last[:-1])
    if first is not None and tuple(first) != from_last:
        raise TransformError(
            name,
            f"context.flatten_shape {tuple(first)} (channels-first) and context.flatten_shape_last "
            f"{tuple(last)} (channels-last) describe different maps",
        )
    return from_last


_AFFINE_PARAMS = (("weight", "scale", "gamma", 1.0), ("bias", "center", "beta", 0.0))
"""(torch key, context flag, Keras weight, identity value) of BatchNorm/LayerNorm parameters."""


def _affine_for_keras(name: str, key: str, array: Array, ctx: TransformContext) -> list[Array]:
    """``[array]`` when the Keras layer has the parameter; ``[]`` if it does not and ``array`` is
    the identity (all ones / zeros), which is what the missing Keras parameter means."""
    _, flag, keras_name, identity = next(p for p in _AFFINE_PARAMS if p[0] == key)
    if getattr(ctx, flag):
        return [_copy(array)]
    if not np.all(array == identity):
        raise TransformError(
            name,
            f"context.{flag}=False (the Keras layer has no {keras_name}) but {key!r} is not all "
            f"{identity:g}, so it cannot be dropped",
        )
    return []


# ------------------------------------------------------------------------ transforms


def _identity(state: Mapping[str, Array], ctx: TransformContext) -> list[Array]:
    return []


def _linear(state: Mapping[str, Array], ctx: TransformContext) -> list[Array]:
    name = "linear"
    weight = state["weight"]
    _expect_ndim(name, "weight", weight, 2)
    return [_copy(weight.T), *_bias(name, state, ctx, weight.shape[0])]


def _linear_after_flatten(state: Mapping[str, Array], ctx: TransformContext) -> list[Array]:
    name = "linear_after_flatten"
    weight = state["weight"]
    _expect_ndim(name, "weight", weight, 2)
    shape = channels_first_flatten_shape(name, ctx)
    out_features, in_features = weight.shape
    if math.prod(shape) != in_features:
        raise TransformError(
            name,
            f"'weight' has {in_features} input features but flatten_shape {shape} "
            f"has {math.prod(shape)} elements",
        )
    spatial_rank = len(shape) - 1
    # (O, C, *S) -> (*S, C, O): Keras flattens channels-last maps in (*S, C) order.
    perm = (*range(2, 2 + spatial_rank), 1, 0)
    kernel = weight.reshape(out_features, *shape).transpose(perm).reshape(in_features, out_features)
    return [_copy(kernel), *_bias(name, state, ctx, out_features)]


def _make_conv(name: str, spatial_rank: int) -> ApplyFn:
    def apply(state: Mapping[str, Array], ctx: TransformContext) -> list[Array]:
        weight = state["weight"]
        _expect_ndim(name, "weight", weight, spatial_rank + 2)
        # (O, I/g, *K) -> (*K, I/g, O)
        kernel = weight.transpose(*range(2, 2 + spatial_rank), 1, 0)
        return [_copy(kernel), *_bias(name, state, ctx, weight.shape[0])]

    return apply


def _depthwise_kernel(name: str, key: str, weight: Array, m: int, spatial_rank: int) -> Array:
    """torch depthwise weight ``(C*m, 1, *K)`` -> Keras depthwise kernel ``(*K, C, m)``."""
    _expect_ndim(name, key, weight, spatial_rank + 2)
    if weight.shape[1] != 1:
        raise TransformError(
            name,
            f"{key!r} has shape {_fmt_shape(weight.shape)}; a depthwise convolution "
            "(groups == in_channels) has 1 input channel per group in axis 1",
        )
    out_channels = weight.shape[0]
    if m < 1 or out_channels % m != 0:
        raise TransformError(
            name,
            f"out_channels {out_channels} is not a multiple of context.depth_multiplier {m}",
        )
    channels = out_channels // m
    kernel_size = weight.shape[2:]
    # Output channel c*m + j reads input channel c in both frameworks:
    # (C*m, 1, *K) -> (C, m, *K) -> (*K, C, m)
    return _copy(weight.reshape(channels, m, *kernel_size).transpose(*range(2, 2 + spatial_rank), 0, 1))


def _make_depthwise(name: str, spatial_rank: int) -> ApplyFn:
    def apply(state: Mapping[str, Array], ctx: TransformContext) -> list[Array]:
        weight = state["weight"]
        kernel = _depthwise_kernel(name, "weight", weight, ctx.depth_multiplier, spatial_rank)
        return [kernel, *_bias(name, state, ctx, weight.shape[0])]

    return apply


def _separable_conv2d(state: Mapping[str, Array], ctx: TransformContext) -> list[Array]:
    name = "separable_conv2d"
    depthwise = _depthwise_kernel(name, "0.weight", state["0.weight"], ctx.depth_multiplier, 2)
    pointwise = state["1.weight"]
    _expect_ndim(name, "1.weight", pointwise, 4)
    mid = state["0.weight"].shape[0]
    if pointwise.shape[1:] != (mid, 1, 1):
        raise TransformError(
            name,
            f"'1.weight' has shape {_fmt_shape(pointwise.shape)}; the pointwise convolution must "
            f"be (out, {mid}, 1, 1) after a depthwise convolution with {mid} outputs",
        )
    # (O, C*m, 1, 1) -> (1, 1, C*m, O)
    kernel = _copy(pointwise.transpose(2, 3, 1, 0))
    bias = _bias_of(name, "1.bias", state.get("1.bias"), ctx, pointwise.shape[0], pointwise.dtype)
    return [depthwise, kernel, *bias]


def _make_conv_transpose(name: str, spatial_rank: int) -> ApplyFn:
    def apply(state: Mapping[str, Array], ctx: TransformContext) -> list[Array]:
        weight = state["weight"]
        _expect_ndim(name, "weight", weight, spatial_rank + 2)
        # (I, O, *K) -> (*K, O, I); no spatial flip in either framework.
        kernel = weight.transpose(*range(2, 2 + spatial_rank), 1, 0)
        return [_copy(kernel), *_bias(name, state, ctx, weight.shape[1])]

    return apply


def _batchnorm(state: Mapping[str, Array], ctx: TransformContext) -> list[Array]:
    name = "batchnorm"
    mean = state["running_mean"]
    var = state["running_var"]
    _expect_ndim(name, "running_mean", mean, 1)
    _expect_ndim(name, "running_var", var, 1)
    if var.shape != mean.shape:
        raise TransformError(
            name,
            f"'running_var' shape {_fmt_shape(var.shape)} differs from "
            f"'running_mean' shape {_fmt_shape(mean.shape)}",
        )
    has_weight, has_bias = "weight" in state, "bias" in state
    if has_weight != has_bias:
        present, absent = ("weight", "bias") if has_weight else ("bias", "weight")
        raise TransformError(
            name,
            f"{present!r} is present but {absent!r} is missing: affine BatchNorm has both, "
            "affine=False has neither",
        )
    affine: list[Array] = []
    if has_weight:
        for key in ("weight", "bias"):
            array = state[key]
            _expect_ndim(name, key, array, 1)
            if array.shape != mean.shape:
                raise TransformError(
                    name,
                    f"{key!r} shape {_fmt_shape(array.shape)} differs from "
                    f"'running_mean' shape {_fmt_shape(mean.shape)}",
                )
            affine += _affine_for_keras(name, key, array, ctx)
    return [*affine, _copy(mean), _copy(var)]


def _layernorm(state: Mapping[str, Array], ctx: TransformContext) -> list[Array]:
    name = "layernorm"
    rank = ctx.layernorm_rank
    if rank < 1:
        raise TransformError(name, f"context.layernorm_rank must be >= 1, got {rank}")
    weight = state.get("weight")
    bias = state.get("bias")
    if weight is None and bias is not None:
        raise TransformError(name, "'bias' is present but 'weight' is missing")
    out: list[Array] = []
    for key, array in (("weight", weight), ("bias", bias)):
        if array is None:
            continue
        _expect_ndim(name, key, array, rank)
        if weight is not None and array.shape != weight.shape:
            raise TransformError(
                name,
                f"'bias' shape {_fmt_shape(array.shape)} differs from "
                f"'weight' shape {_fmt_shape(weight.shape)}",
            )
        # channels-first (C, *S) -> channels-last (*S, C); a no-op for rank 1.
        out += _affine_for_keras(name, key, np.moveaxis(array, 0, -1), ctx)
    return out


def _embedding(state: Mapping[str, Array], ctx: TransformContext) -> list[Array]:
    weight = state["weight"]
    _expect_ndim("embedding", "weight", weight, 2)
    return [_copy(weight)]


def _prelu(state: Mapping[str, Array], ctx: TransformContext) -> list[Array]:
    name = "prelu"
    weight = state["weight"]
    _expect_ndim(name, "weight", weight, 1)
    rank = ctx.prelu_rank
    if rank < 1:
        raise TransformError(name, f"context.prelu_rank must be >= 1, got {rank}")
    return [_copy(weight.reshape((1,) * (rank - 1) + weight.shape))]


# ------------------------------------------------------------------- recurrent layers

RECURRENT_BIAS_KEYS = ("bias_ih_l0", "bias_hh_l0")
GRU_RESET_AFTER_REASON = (
    "Keras GRU(reset_after=False) applies the reset gate before the recurrent matmul; "
    "PyTorch's GRU applies it after (Keras reset_after=True), so no weights make them equal"
)


def _recurrent_weights(name: str, state: Mapping[str, Array], gates: int) -> tuple[Array, Array, int]:
    """(weight_ih_l0, weight_hh_l0, hidden size) of a one-layer, one-direction RNN."""
    w_ih, w_hh = state["weight_ih_l0"], state["weight_hh_l0"]
    _expect_ndim(name, "weight_ih_l0", w_ih, 2)
    _expect_ndim(name, "weight_hh_l0", w_hh, 2)
    hidden = w_hh.shape[1]
    if w_ih.shape[0] != gates * hidden or w_hh.shape[0] != gates * hidden:
        raise TransformError(
            name,
            f"weights of shape {_fmt_shape(w_ih.shape)} / {_fmt_shape(w_hh.shape)} are not {gates} gates",
        )
    return w_ih, w_hh, hidden


def _recurrent_biases(
    name: str, state: Mapping[str, Array], ctx: TransformContext, size: int, dtype: np.dtype[Any]
) -> tuple[Array, Array] | None:
    """(b_ih, b_hh), zeros for an absent one; ``None`` when the Keras layer has no bias."""
    present = [key for key in RECURRENT_BIAS_KEYS if key in state]
    if not ctx.use_bias:
        if present:
            raise TransformError(
                name, f"source has {present} but the context says the Keras layer has use_bias=False"
            )
        return None
    biases: list[Array] = []
    for key in RECURRENT_BIAS_KEYS:
        bias = state.get(key, np.zeros(size, dtype=dtype))
        _expect_ndim(name, key, bias, 1)
        if bias.shape[0] != size:
            raise TransformError(name, f"{key!r} has shape {_fmt_shape(bias.shape)}, expected ({size})")
        biases.append(bias)
    return biases[0], biases[1]


def swap_first_two_gates(array: Array) -> Array:
    """Swap the first two of three gate blocks along axis 0: torch [r, z, n] <-> keras [z, r, h]."""
    first, second, third = np.split(array, 3, axis=0)
    return np.concatenate([second, first, third], axis=0)


def _gru(state: Mapping[str, Array], ctx: TransformContext) -> list[Array]:
    """torch GRU gates are stacked [r, z, n]; keras GRU(reset_after=True) stacks [z, r, h]."""
    name = "gru"
    if not ctx.reset_after:
        raise TransformError(name, f"context.reset_after=False: {GRU_RESET_AFTER_REASON}")
    w_ih, w_hh, hidden = _recurrent_weights(name, state, 3)
    kernels = [_copy(swap_first_two_gates(w_ih).T), _copy(swap_first_two_gates(w_hh).T)]
    biases = _recurrent_biases(name, state, ctx, 3 * hidden, w_ih.dtype)
    if biases is None:
        return kernels
    return [*kernels, _copy(np.stack([swap_first_two_gates(b) for b in biases]))]


def _summed_bias(name: str, gates: int) -> ApplyFn:
    """LSTM (gates [i, f, g/c, o] in both) and SimpleRNN: kernels transposed, and Keras's single
    bias is b_ih + b_hh."""

    def apply(state: Mapping[str, Array], ctx: TransformContext) -> list[Array]:
        w_ih, w_hh, hidden = _recurrent_weights(name, state, gates)
        kernels = [_copy(w_ih.T), _copy(w_hh.T)]
        biases = _recurrent_biases(name, state, ctx, gates * hidden, w_ih.dtype)
        if biases is None:
            return kernels
        return [*kernels, _copy(biases[0] + biases[1])]

    return apply


_lstm = _summed_bias("lstm", 4)
_simple_rnn = _summed_bias("simple_rnn", 1)

MAX_RECURRENT_LAYERS = 16
"""The deepest torch ``num_layers`` the recurrent transforms accept (keys ``*_l0`` .. ``*_l15``)."""
_RECURRENT_KEY = re.compile(r"^(weight|bias)_(ih|hh)_l(\d+)(_reverse)?$")
_RECURRENT_PARTS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
# every key of a stacked, bidirectional module but the first layer's forward weights
_STACK_KEYS = tuple(
    f"{part}_l{k}{suffix}"
    for k in range(MAX_RECURRENT_LAYERS)
    for suffix in ("", "_reverse")
    for part in _RECURRENT_PARTS
    if (k, suffix) != (0, "")
)


def _stacked(name: str, single: ApplyFn) -> ApplyFn:
    """torch ``num_layers`` / ``bidirectional`` -> the Keras layers in order: layer 0 forward,
    layer 0 backward, layer 1 forward, ... (a Keras ``Bidirectional`` holds the forward layer's
    weights, then the backward layer's). One layer, one direction is ``single`` itself."""

    def apply(state: Mapping[str, Array], ctx: TransformContext) -> list[Array]:
        found: dict[tuple[int, str], dict[str, Array]] = {}
        for key, value in state.items():
            m = _RECURRENT_KEY.match(key)
            if m is None:
                raise TransformError(name, f"unexpected key {key!r}")
            part = f"{m.group(1)}_{m.group(2)}_l0"
            found.setdefault((int(m.group(3)), m.group(4) or ""), {})[part] = value
        if set(found) <= {(0, "")}:
            return single(state, ctx)
        layers = sorted({k for k, _ in found})
        directions = ("", "_reverse") if any(d for _, d in found) else ("",)
        if layers != list(range(len(layers))):
            raise TransformError(name, f"layers {layers} are not numbered 0 to {len(layers) - 1}")
        out: list[Array] = []
        for k in layers:
            for d in directions:
                sub = found.get((k, d), {})
                missing = [w for w in ("weight_ih_l0", "weight_hh_l0") if w not in sub]
                if missing:
                    shown = ", ".join(repr(m.replace("_l0", f"_l{k}{d}")) for m in missing)
                    raise TransformError(name, f"layer {k}{d}: missing {shown}")
                try:
                    out.extend(single(sub, ctx))
                except TransformError as exc:
                    raise TransformError(name, f"layer {k}{d}: {exc.detail}") from None
        return out

    return apply


# ------------------------------------------------------------------------- attention

MHA_SEPARATE_KEYS = ("q_proj_weight", "k_proj_weight", "v_proj_weight")
"""torch ``nn.MultiheadAttention`` keys when kdim or vdim differ from embed_dim (else ``in_proj_weight``)."""


def _multihead_attention(state: Mapping[str, Array], ctx: TransformContext) -> list[Array]:
    """torch packs q/k/v in ``in_proj_weight`` (3E, E) (or ``q/k/v_proj_weight`` (E, kdim/vdim))
    with head i in rows ``[i*d, (i+1)*d)`` of each block; Keras has per-head kernels (in, h, d) and
    an output kernel (h, d, E)."""
    name = "multihead_attention"
    out_w = state["out_proj.weight"]
    _expect_ndim(name, "out_proj.weight", out_w, 2)
    embed = out_w.shape[1]
    heads = ctx.num_heads
    if heads < 1 or embed % heads:
        raise TransformError(name, f"embed_dim {embed} is not a multiple of context.num_heads {heads}")
    head_dim = embed // heads
    separate = [k for k in MHA_SEPARATE_KEYS if k in state]
    if "in_proj_weight" in state:
        if separate:
            raise TransformError(name, f"both 'in_proj_weight' and {separate}")
        packed = state["in_proj_weight"]
        _expect_ndim(name, "in_proj_weight", packed, 2)
        if packed.shape != (3 * embed, embed):
            shape = _fmt_shape(packed.shape)
            raise TransformError(name, f"'in_proj_weight' has shape {shape}, expected ({3 * embed}, {embed})")
        projections = list(zip(("in_proj_weight",) * 3, np.split(packed, 3, axis=0), strict=True))
    elif len(separate) == 3:
        projections = [(k, state[k]) for k in MHA_SEPARATE_KEYS]
    else:
        raise TransformError(name, "neither 'in_proj_weight' nor all of " + ", ".join(MHA_SEPARATE_KEYS))
    in_bias = state.get("in_proj_bias")
    if in_bias is not None:
        _expect_ndim(name, "in_proj_bias", in_bias, 1)
        if in_bias.shape[0] != 3 * embed:
            raise TransformError(
                name, f"'in_proj_bias' has shape {_fmt_shape(in_bias.shape)}, expected ({3 * embed})"
            )
    biases = np.split(in_bias, 3) if in_bias is not None else [None, None, None]
    out: list[Array] = []
    for (key, weight), bias in zip(projections, biases, strict=True):
        _expect_ndim(name, key, weight, 2)
        if weight.shape[0] != embed:
            shape = _fmt_shape(weight.shape)
            raise TransformError(name, f"{key!r} has shape {shape}: {embed} outputs expected")
        out.append(_copy(weight.T.reshape(weight.shape[1], heads, head_dim)))
        got = _bias_of(name, "in_proj_bias", bias, ctx, embed, weight.dtype)
        out += [b.reshape(heads, head_dim) for b in got]
    out.append(_copy(out_w.T.reshape(heads, head_dim, out_w.shape[0])))
    out += _bias_of(name, "out_proj.bias", state.get("out_proj.bias"), ctx, out_w.shape[0], out_w.dtype)
    return out


TRANSFORMER_LAYER_PARTS = (
    ("self_attn.", "multihead_attention"),
    ("linear1.", "linear"),
    ("linear2.", "linear"),
    ("norm1.", "layernorm"),
    ("norm2.", "layernorm"),
)
"""The sub-modules of ``nn.TransformerEncoderLayer`` that hold weights, in Keras weight order."""


def _transformer_encoder_layer(state: Mapping[str, Array], ctx: TransformContext) -> list[Array]:
    """Each weighted sub-module in turn, as its own transform: the Keras helper layer has the same
    sub-layers under the same names."""
    name = "transformer_encoder_layer"
    out: list[Array] = []
    for prefix, transform in TRANSFORMER_LAYER_PARTS:
        part = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        try:
            out += {"multihead_attention": _multihead_attention, "linear": _linear, "layernorm": _layernorm}[
                transform
            ](part, ctx)
        except (TransformError, KeyError) as exc:
            detail = exc.detail if isinstance(exc, TransformError) else f"missing {exc}"
            raise TransformError(name, f"{prefix.rstrip('.')}: {detail}") from None
    return out


KERAS_MHA_PARTS = ("query", "key", "value", "output")
"""The projections of a Keras MultiHeadAttention, in its weight order (kernel, then bias, each)."""


def _keras_multi_head_attention(state: Mapping[str, Array], ctx: TransformContext) -> list[Array]:
    """migrator.runtime.torch_support.KerasMultiHeadAttention keeps Keras's shapes: a copy."""
    name = "keras_multi_head_attention"
    out: list[Array] = []
    for part in KERAS_MHA_PARTS:
        kernel = state[f"{part}_kernel"]
        _expect_ndim(name, f"{part}_kernel", kernel, 3)
        out.append(_copy(kernel))
        bias = state.get(f"{part}_bias")
        if bias is not None and not ctx.use_bias:
            raise TransformError(name, f"source has '{part}_bias' but the context says use_bias=False")
        if bias is not None:
            out.append(_copy(bias))
        elif ctx.use_bias:
            shape = kernel.shape[1:] if part != "output" else kernel.shape[-1:]
            out.append(np.zeros(shape, dtype=kernel.dtype))
    return out


ENCODER_LAYER_KEYS = (
    (
        "self_attn.in_proj_weight",
        "self_attn.out_proj.weight",
        "linear1.weight",
        "linear2.weight",
        "norm1.weight",
        "norm2.weight",
    ),
    (
        "self_attn.in_proj_bias",
        "self_attn.out_proj.bias",
        "linear1.bias",
        "linear2.bias",
        "norm1.bias",
        "norm2.bias",
    ),
)  # (required, optional) keys of an nn.TransformerEncoderLayer state


MAX_ENCODER_LAYERS = 16
"""The most layers the ``transformer_encoder`` transform accepts (keys ``layers.0.*`` .. ``layers.15.*``)."""


def _transformer_encoder(state: Mapping[str, Array], ctx: TransformContext) -> list[Array]:
    """Each ``layers.{i}`` as ``transformer_encoder_layer``, then the final ``norm`` (if any)."""
    name = "transformer_encoder"
    count = 0
    while any(k.startswith(f"layers.{count}.") for k in state):
        count += 1
    stray = [k for k in state if not k.startswith(("norm.", *(f"layers.{i}." for i in range(count))))]
    if count == 0 or stray:
        why = f"keys not numbered layers.0 .. layers.{count - 1} or norm: {sorted(stray)}"
        raise TransformError(name, why)
    out: list[Array] = []
    for i in range(count):
        prefix = f"layers.{i}."
        part = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        try:
            out += apply_transform("transformer_encoder_layer", part, ctx)
        except TransformError as exc:
            raise TransformError(name, f"layers.{i}: {exc.detail}") from None
    norm = {k[len("norm.") :]: v for k, v in state.items() if k.startswith("norm.")}
    if norm:
        out += _layernorm(norm, TransformContext())
    return out


# -------------------------------------------------------------------------- registry


def _conv_transform(name: str, spatial_rank: int, keras_layer: str) -> WeightTransform:
    return WeightTransform(
        name=name,
        doc=(
            f"torch Conv{spatial_rank}d (groups=g) -> keras {keras_layer}(groups=g): weight "
            "(out, in/g, *k) -> kernel (*k, in/g, out); bias unchanged."
        ),
        consumes=("weight",),
        optional=("bias",),
        ignores=(),
        apply=_make_conv(name, spatial_rank),
    )


def _depthwise_transform(name: str, spatial_rank: int, keras_layer: str) -> WeightTransform:
    return WeightTransform(
        name=name,
        doc=(
            f"torch Conv{spatial_rank}d with groups == in_channels == C and out_channels == "
            f"C*m -> keras {keras_layer}(depth_multiplier=m): weight (C*m, 1, *k) -> kernel "
            "(*k, C, m) via reshape (C, m, *k); bias (C*m,) unchanged (both frameworks order "
            "outputs as c*m + j). Needs context.depth_multiplier."
        ),
        consumes=("weight",),
        optional=("bias",),
        ignores=(),
        apply=_make_depthwise(name, spatial_rank),
    )


def _conv_transpose_transform(name: str, spatial_rank: int, keras_layer: str) -> WeightTransform:
    return WeightTransform(
        name=name,
        doc=(
            f"torch ConvTranspose{spatial_rank}d (groups=1) -> keras {keras_layer}: weight "
            "(in, out, *k) -> kernel (*k, out, in); bias unchanged."
        ),
        consumes=("weight",),
        optional=("bias",),
        ignores=(),
        apply=_make_conv_transpose(name, spatial_rank),
    )


def _make_bidirectional(name: str, single: ApplyFn) -> ApplyFn:
    """torch LSTM/GRU(bidirectional=True) -> keras Bidirectional: forward weights, then backward."""

    def apply(state: Mapping[str, Array], ctx: TransformContext) -> list[Array]:
        forward = {k: v for k, v in state.items() if not k.endswith("_reverse")}
        backward = {k.removesuffix("_reverse"): v for k, v in state.items() if k.endswith("_reverse")}
        if not backward:
            raise TransformError(name, "no *_reverse weights: the torch module is not bidirectional")
        return [*single(forward, ctx), *single(backward, ctx)]

    return apply


RECURRENT_NAMES: Mapping[str, tuple[str, str]] = types.MappingProxyType(
    {"lstm": ("LSTM", "LSTM"), "gru": ("GRU", "GRU"), "simple_rnn": ("RNN", "SimpleRNN")}
)  # kind -> (torch class, keras class)


def _bidirectional_transform(kind: str, single: ApplyFn) -> WeightTransform:
    name = f"bidirectional_{kind}"
    torch_name, keras_name = RECURRENT_NAMES[kind]
    return WeightTransform(
        name=name,
        doc=(
            f"torch {torch_name}(bidirectional=True) -> keras Bidirectional({keras_name}): the "
            f"*_l0 weights as in '{kind}' for the forward layer, then the *_l0_reverse weights for the "
            "backward one."
        ),
        consumes=("weight_ih_l0", "weight_hh_l0", *_BIDIRECTIONAL_KEYS),
        optional=_BIDIRECTIONAL_BIAS,
        ignores=(),
        apply=_make_bidirectional(name, single),
    )


_BIDIRECTIONAL_KEYS = tuple(f"{k}_reverse" for k in ("weight_ih_l0", "weight_hh_l0"))
_BIDIRECTIONAL_BIAS = tuple(f"{k}{s}" for s in ("", "_reverse") for k in ("bias_ih_l0", "bias_hh_l0"))


TRANSFORMS: Mapping[str, WeightTransform] = types.MappingProxyType(
    {
        "identity": WeightTransform(
            name="identity",
            doc="Layers without weights (ReLU, Dropout, Flatten, pooling, ...): no weights.",
            consumes=(),
            optional=(),
            ignores=(),
            apply=_identity,
        ),
        "linear": WeightTransform(
            name="linear",
            doc="torch Linear -> keras Dense: weight (out, in) -> kernel (in, out); bias.",
            consumes=("weight",),
            optional=("bias",),
            ignores=(),
            apply=_linear,
        ),
        "linear_after_flatten": WeightTransform(
            name="linear_after_flatten",
            doc=(
                "torch Linear fed by flatten of a channels-first map (C, *S) -> keras Dense fed "
                "by Flatten of the channels-last map (*S, C): weight (O, C*prod(S)) is "
                "reshaped to (O, C, *S), transposed to (*S, C, O) and reshaped to "
                "(prod(S)*C, O). Needs context.flatten_shape = (C, *S)."
            ),
            consumes=("weight",),
            optional=("bias",),
            ignores=(),
            apply=_linear_after_flatten,
        ),
        "conv1d": _conv_transform("conv1d", 1, "Conv1D"),
        "conv2d": _conv_transform("conv2d", 2, "Conv2D"),
        "conv3d": _conv_transform("conv3d", 3, "Conv3D"),
        "depthwise_conv1d": _depthwise_transform("depthwise_conv1d", 1, "DepthwiseConv1D"),
        "depthwise_conv2d": _depthwise_transform("depthwise_conv2d", 2, "DepthwiseConv2D"),
        "conv_transpose1d": _conv_transpose_transform("conv_transpose1d", 1, "Conv1DTranspose"),
        "conv_transpose2d": _conv_transpose_transform("conv_transpose2d", 2, "Conv2DTranspose"),
        "batchnorm": WeightTransform(
            name="batchnorm",
            doc=(
                "torch BatchNorm{1,2,3}d -> keras BatchNormalization(axis=-1): "
                "[gamma, beta, moving_mean, moving_variance]; affine=False (no weight/bias) "
                "-> [moving_mean, moving_variance] for center=False, scale=False. With "
                "context.center=False / scale=False an affine torch bias that is all zeros / "
                "weight that is all ones is dropped (gamma-only / beta-only keras layers). "
                "num_batches_tracked is ignored; epsilon must be set to torch's eps."
            ),
            consumes=("running_mean", "running_var"),
            optional=("weight", "bias"),
            ignores=("num_batches_tracked",),
            apply=_batchnorm,
        ),
        "layernorm": WeightTransform(
            name="layernorm",
            doc=(
                "torch LayerNorm -> keras LayerNormalization: [gamma, beta] (beta absent when "
                "bias=False -> center=False; nothing when elementwise_affine=False). With "
                "context.layernorm_rank > 1 the channels-first normalized shape (C, *S) is "
                "moved to channels-last (*S, C) for keras axis=[1, ..., rank]. "
                "context.center=False / scale=False drop an all-zeros bias / all-ones weight."
            ),
            consumes=(),
            optional=("weight", "bias"),
            ignores=(),
            apply=_layernorm,
        ),
        "gru": WeightTransform(
            name="gru",
            doc=(
                "torch GRU -> keras GRU(reset_after=True): gate blocks "
                "reordered from torch's [r, z, n] to keras's [z, r, h]; kernel = W_ih.T, "
                "recurrent_kernel = W_hh.T, bias = stack([b_ih, b_hh]) (shape (2, 3H)); a "
                "missing torch bias counts as zeros; no keras bias with context.use_bias=False. "
                "keras reset_after=False has no torch counterpart (context.reset_after=False "
                "fails). num_layers > 1 / bidirectional: one such group per Keras layer, in the "
                "order layer 0 forward, layer 0 backward (*_reverse), layer 1 forward, ..."
            ),
            consumes=("weight_ih_l0", "weight_hh_l0"),
            optional=(*RECURRENT_BIAS_KEYS, *_STACK_KEYS),
            ignores=(),
            apply=_stacked("gru", _gru),
        ),
        "embedding": WeightTransform(
            name="embedding",
            doc="torch Embedding -> keras Embedding: weight (num, dim) -> [embeddings].",
            consumes=("weight",),
            optional=(),
            ignores=(),
            apply=_embedding,
        ),
        "bidirectional_lstm": _bidirectional_transform("lstm", _lstm),
        "bidirectional_gru": _bidirectional_transform("gru", _gru),
        "lstm": WeightTransform(
            name="lstm",
            doc=(
                "torch LSTM (no proj_size) -> keras LSTM: both stack "
                "the gates [i, f, g/c, o], so kernel = W_ih.T (in, 4H), recurrent_kernel = "
                "W_hh.T (H, 4H), and the single keras bias (4H,) = b_ih + b_hh. A missing torch "
                "bias counts as zeros; with context.use_bias=False there is no keras bias. "
                "num_layers > 1 / bidirectional: one such group per Keras layer, in the order "
                "layer 0 forward, layer 0 backward (*_reverse), layer 1 forward, ..."
            ),
            consumes=("weight_ih_l0", "weight_hh_l0"),
            optional=(*RECURRENT_BIAS_KEYS, *_STACK_KEYS),
            ignores=(),
            apply=_stacked("lstm", _lstm),
        ),
        "simple_rnn": WeightTransform(
            name="simple_rnn",
            doc=(
                "torch RNN (tanh or relu) -> keras SimpleRNN (same activation): kernel = "
                "W_ih.T (in, H), recurrent_kernel = W_hh.T (H, H), and the single keras bias (H,) "
                "= b_ih + b_hh. A missing torch bias counts as zeros; with context.use_bias=False "
                "there is no keras bias. num_layers > 1 / bidirectional: one such group per Keras "
                "layer, in the order layer 0 forward, layer 0 backward (*_reverse), layer 1 forward, ..."
            ),
            consumes=("weight_ih_l0", "weight_hh_l0"),
            optional=(*RECURRENT_BIAS_KEYS, *_STACK_KEYS),
            ignores=(),
            apply=_stacked("simple_rnn", _simple_rnn),
        ),
        "bidirectional_simple_rnn": _bidirectional_transform("simple_rnn", _simple_rnn),
        "separable_conv2d": WeightTransform(
            name="separable_conv2d",
            doc=(
                "torch Sequential(Conv2d(C, C*m, k, groups=C, bias=False), Conv2d(C*m, out, 1)) "
                "-> keras SeparableConv2D(out, k, depth_multiplier=m): '0.weight' (C*m, 1, *k) "
                "-> depthwise_kernel (*k, C, m) as for depthwise_conv2d, '1.weight' "
                "(out, C*m, 1, 1) -> pointwise_kernel (1, 1, C*m, out), '1.bias' -> bias. "
                "Needs context.depth_multiplier; the depthwise conv must have no bias."
            ),
            consumes=("0.weight", "1.weight"),
            optional=("1.bias",),
            ignores=(),
            apply=_separable_conv2d,
        ),
        "prelu": WeightTransform(
            name="prelu",
            doc=(
                "torch PReLU(num_parameters=P) -> keras PReLU: weight (P,) -> alpha of shape "
                "(1,) * (r - 1) + (P,) with r = context.prelu_rank, the input rank without the "
                "batch axis. P = C needs keras shared_axes = all axes but the last (e.g. "
                "[1, 2] for (N, H, W, C): alpha (1, 1, C)); P = 1 needs all axes shared "
                "(alpha (1, ..., 1)). Keras's default (no shared axes) is per element and has "
                "no torch counterpart."
            ),
            consumes=("weight",),
            optional=(),
            ignores=(),
            apply=_prelu,
        ),
        "multihead_attention": WeightTransform(
            name="multihead_attention",
            doc=(
                "torch MultiheadAttention(E, h) -> keras MultiHeadAttention(h, key_dim=E // h): "
                "in_proj_weight (3E, E) split into W_q, W_k, W_v (or q/k/v_proj_weight (E, kdim/vdim) "
                "when kdim/vdim differ from E), each -> kernel W.T.reshape(in, h, E // h); the "
                "thirds of in_proj_bias -> biases (h, E // h); out_proj.weight (E, E) -> output kernel "
                "W.T.reshape(h, E // h, E); out_proj.bias -> bias. Needs context.num_heads; "
                "bias=False -> use_bias=False (no biases)."
            ),
            consumes=("out_proj.weight",),
            optional=("in_proj_weight", *MHA_SEPARATE_KEYS, "in_proj_bias", "out_proj.bias"),
            ignores=(),
            apply=_multihead_attention,
        ),
        "transformer_encoder_layer": WeightTransform(
            name="transformer_encoder_layer",
            doc=(
                "torch TransformerEncoderLayer -> migrator.runtime.keras_support."
                "TransformerEncoderLayer: self_attn as 'multihead_attention', linear1 and linear2 as "
                "'linear', norm1 and norm2 as 'layernorm', in that order. Needs context.num_heads; "
                "bias=False -> use_bias=False (no Dense or attention biases, LayerNorm without beta)."
            ),
            consumes=ENCODER_LAYER_KEYS[0],
            optional=ENCODER_LAYER_KEYS[1],
            ignores=(),
            apply=_transformer_encoder_layer,
        ),
        "transformer_encoder": WeightTransform(
            name="transformer_encoder",
            doc=(
                "torch TransformerEncoder -> migrator.runtime.keras_support.TransformerEncoder: each "
                "layers.{i} as 'transformer_encoder_layer' (up to 16 layers), then the final norm "
                "(if any) as 'layernorm'. Needs context.num_heads and context.use_bias of the layers."
            ),
            consumes=tuple(f"layers.0.{k}" for k in ENCODER_LAYER_KEYS[0]),
            optional=(
                *(f"layers.0.{k}" for k in ENCODER_LAYER_KEYS[1]),
                *(
                    f"layers.{i}.{k}"
                    for i in range(1, MAX_ENCODER_LAYERS)
                    for k in (*ENCODER_LAYER_KEYS[0], *ENCODER_LAYER_KEYS[1])
                ),
                "norm.weight",
                "norm.bias",
            ),
            ignores=(),
            apply=_transformer_encoder,
        ),
        "keras_multi_head_attention": WeightTransform(
            name="keras_multi_head_attention",
            doc=(
                "migrator.runtime.torch_support.KerasMultiHeadAttention -> keras MultiHeadAttention: "
                "the parameters have Keras's shapes and order (query/key/value kernels (in, h, "
                "key_dim / value_dim) and biases (h, d), output kernel (h, value_dim, out) and bias): "
                "copied as they are; missing biases are zeros for a Keras layer with use_bias=True."
            ),
            consumes=tuple(f"{p}_kernel" for p in KERAS_MHA_PARTS),
            optional=tuple(f"{p}_bias" for p in KERAS_MHA_PARTS),
            ignores=(),
            apply=_keras_multi_head_attention,
        ),
    }
)
"""All weight transforms by name (read-only)."""


def get_transform(name: str) -> WeightTransform:
    """The transform registered as ``name``.

    Raises:
        KeyError: unknown name; the message lists the known names.
    """
    try:
        return TRANSFORMS[name]
    except KeyError:
        known = ", ".join(sorted(TRANSFORMS))
        raise KeyError(f"unknown weight transform {name!r}; known: {known}") from None


def apply_transform(
    name: str,
    state: Mapping[str, Array],
    ctx: TransformContext = DEFAULT_CONTEXT,
) -> list[Array]:
    """Convert one PyTorch module's state into Keras ``set_weights()`` arrays.

    Every key of ``state`` must be consumed by the transform (required, optional or
    ignored) and every required key must be present, so nothing is silently dropped.

    Raises:
        KeyError: unknown transform name.
        TransformError: missing or unexpected keys, or shapes that do not fit.
    """
    transform = get_transform(name)
    arrays = {key: np.asarray(value) for key, value in state.items()}
    missing = [key for key in transform.consumes if key not in arrays]
    if missing:
        raise TransformError(
            name,
            f"missing required key(s) {missing}; got {sorted(arrays)}",
        )
    unexpected = sorted(set(arrays) - transform.accepted_keys)
    if unexpected:
        raise TransformError(
            name,
            f"unexpected key(s) {unexpected}; accepted: {sorted(transform.accepted_keys)}",
        )
    kept = {key: value for key, value in arrays.items() if key not in transform.ignores}
    return transform.apply(kept, ctx)
