"""Named weight transforms: PyTorch module state -> Keras 3 ``set_weights()`` lists.

Each transform takes the state of one PyTorch module (a mapping from the keys of
``module.state_dict()`` without prefix, e.g. ``"weight"``, ``"bias"``,
``"running_mean"``, to numpy arrays) and returns the list of numpy arrays that the
corresponding channels-last Keras 3 layer expects in ``layer.set_weights()``, in
Keras's weight order.

The module is pure numpy: it never imports torch, tensorflow or keras.
"""

from __future__ import annotations

import math
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

    Attributes:
        flatten_shape: for ``linear_after_flatten``: the channels-first shape of one
            sample's feature map before ``torch.flatten`` -- ``(C, L)``, ``(C, H, W)``
            or ``(C, D, H, W)``.
        layernorm_rank: number of normalized dimensions of a ``LayerNorm``. With a
            value above 1 the normalized shape is taken to be channels-first
            ``(C, *spatial)`` and is moved to channels-last ``(*spatial, C)``.
        use_bias: whether the Keras target layer has a bias (``use_bias=...``). When
            it does and the PyTorch module has none, a zero bias is emitted; when it
            does not and the PyTorch module has one, the transform fails.
        depth_multiplier: ``out_channels // in_channels`` of a depthwise convolution
            (Keras ``depth_multiplier``).
    """

    flatten_shape: tuple[int, ...] | None = None
    layernorm_rank: int = 1
    use_bias: bool = True
    depth_multiplier: int = 1


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
    bias = state.get("bias")
    if bias is None:
        if not ctx.use_bias:
            return []
        return [np.zeros((size,), dtype=state["weight"].dtype)]
    if not ctx.use_bias:
        raise TransformError(
            name, "source has a 'bias' but the context says the Keras layer has use_bias=False"
        )
    _expect_ndim(name, "bias", bias, 1)
    if bias.shape[0] != size:
        raise TransformError(
            name,
            f"'bias' has shape {_fmt_shape(bias.shape)} but the layer has {size} outputs",
        )
    return [_copy(bias)]


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
    shape = ctx.flatten_shape
    if shape is None:
        raise TransformError(
            name, "context.flatten_shape is required: the channels-first (C, *spatial) shape"
        )
    if len(shape) < 2 or any(d <= 0 for d in shape):
        raise TransformError(
            name,
            f"context.flatten_shape must be (C, *spatial) with positive sizes, got {shape}",
        )
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


def _make_depthwise(name: str, spatial_rank: int) -> ApplyFn:
    def apply(state: Mapping[str, Array], ctx: TransformContext) -> list[Array]:
        weight = state["weight"]
        _expect_ndim(name, "weight", weight, spatial_rank + 2)
        if weight.shape[1] != 1:
            raise TransformError(
                name,
                f"'weight' has shape {_fmt_shape(weight.shape)}; a depthwise convolution "
                "(groups == in_channels) has 1 input channel per group in axis 1",
            )
        m = ctx.depth_multiplier
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
        kernel = weight.reshape(channels, m, *kernel_size).transpose(*range(2, 2 + spatial_rank), 0, 1)
        return [_copy(kernel), *_bias(name, state, ctx, out_channels)]

    return apply


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
            affine.append(_copy(array))
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
        out.append(_copy(np.moveaxis(array, 0, -1)))
    return out


def _embedding(state: Mapping[str, Array], ctx: TransformContext) -> list[Array]:
    weight = state["weight"]
    _expect_ndim("embedding", "weight", weight, 2)
    return [_copy(weight)]


# -------------------------------------------------------------------------- registry


def _gru(state: Mapping[str, Array], ctx: TransformContext) -> list[Array]:
    """torch GRU gates are stacked [r, z, n]; keras GRU(reset_after=True) stacks [z, r, h]."""
    name = "gru"
    w_ih, w_hh = state["weight_ih_l0"], state["weight_hh_l0"]
    _expect_ndim(name, "weight_ih_l0", w_ih, 2)
    _expect_ndim(name, "weight_hh_l0", w_hh, 2)
    hidden = w_hh.shape[1]
    if w_ih.shape[0] != 3 * hidden or w_hh.shape[0] != 3 * hidden:
        raise TransformError(
            name, f"weights of shape {_fmt_shape(w_ih.shape)} / {_fmt_shape(w_hh.shape)} are not 3 gates"
        )

    def zrn(a: Array) -> Array:
        r, z, n = np.split(a, 3, axis=0)
        return np.concatenate([z, r, n], axis=0)

    b_ih = state.get("bias_ih_l0", np.zeros(3 * hidden, dtype=w_ih.dtype))
    b_hh = state.get("bias_hh_l0", np.zeros(3 * hidden, dtype=w_ih.dtype))
    return [_copy(zrn(w_ih).T), _copy(zrn(w_hh).T), _copy(np.stack([zrn(b_ih), zrn(b_hh)]))]


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
                "-> [moving_mean, moving_variance] for center=False, scale=False. "
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
                "moved to channels-last (*S, C) for keras axis=[1, ..., rank]."
            ),
            consumes=(),
            optional=("weight", "bias"),
            ignores=(),
            apply=_layernorm,
        ),
        "gru": WeightTransform(
            name="gru",
            doc=(
                "torch GRU (one layer, one direction) -> keras GRU(reset_after=True): gate blocks "
                "reordered from torch's [r, z, n] to keras's [z, r, h]; kernel = W_ih.T, "
                "recurrent_kernel = W_hh.T, bias = stack([b_ih, b_hh]) (shape (2, 3H))."
            ),
            consumes=("weight_ih_l0", "weight_hh_l0"),
            optional=("bias_ih_l0", "bias_hh_l0"),
            ignores=(),
            apply=_gru,
        ),
        "embedding": WeightTransform(
            name="embedding",
            doc="torch Embedding -> keras Embedding: weight (num, dim) -> [embeddings].",
            consumes=("weight",),
            optional=(),
            ignores=(),
            apply=_embedding,
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
