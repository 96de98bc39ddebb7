"""torch layer semantics on Keras 3, for layers migrated PyTorch -> Keras where no stock Keras
layer computes the same numbers (SEMANTICS.md §1.1-1.3). Tensors are channels-last
``(N, *spatial, C)``; sizes and paddings are torch's, listed in the order of the spatial axes.

* :class:`Pad`: reflect / replicate / circular padding (``padding_mode`` of a convolution,
  ``nn.ReflectionPad2d``, ...). ``keras.ops.pad`` on TensorFlow has no edge or wrap mode, and
  TF's SYMMETRIC repeats the border pixel where torch's reflect does not.
* :class:`Interpolate` / :func:`interpolate`: ``nn.Upsample`` / ``F.interpolate`` with torch's
  index arithmetic: ``nearest`` takes ``floor(dst * in / out)`` (TF's nearest is torch's
  ``nearest-exact``), ``align_corners=True`` has no Keras option, and with a non-integer
  ``scale_factor`` torch maps coordinates with ``1 / scale_factor`` rather than ``in / out``.
* :class:`AdaptiveAvgPool` / :class:`AdaptiveMaxPool` and :func:`adaptive_avg_pool`: the bins
  ``[floor(i * in / out), ceil((i + 1) * in / out))``, uneven when ``out`` does not divide ``in``.
* :class:`MaxPool` / :class:`AvgPool`: ``ceil_mode=True``, and average pooling with padding and
  ``count_include_pad=False`` (Keras 'same' pads asymmetrically and never counts the padding).
* :class:`PReLU`: one slope per channel (the last axis) or one in all, whatever the rank
  (Keras's ``PReLU`` needs ``shared_axes`` written for one rank).
* :class:`InstanceNorm`: ``nn.InstanceNorm*d(track_running_stats=True)``: instance statistics in
  training, running statistics (torch's momentum, unbiased variance) at inference.
* :class:`Embedding`: ``padding_idx``: the padding row starts at zero and gets no gradient.

Every layer is registered for Keras serialization under the package ``fwmigrate``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

_MODES = ("constant", "reflect", "replicate", "circular")
_RESIZE_MODES = ("nearest", "nearest-exact", "linear", "bilinear", "trilinear", "area")


def _per_axis(value: Any, n: int, what: str) -> tuple[Any, ...]:
    """An int (or None) for every spatial axis, or a sequence of n of them."""
    if isinstance(value, list | tuple):
        if len(value) != n:
            raise ValueError(f"{what}={value!r}: expected {n} values for {n} spatial axes")
        return tuple(value)
    return (value,) * n


def _static(x: Any, axis: int, what: str) -> int:
    size = x.shape[axis]
    if size is None:
        raise ValueError(f"{what} needs static spatial sizes; axis {axis} of {tuple(x.shape)} is unknown")
    return int(size)


def _take(x: Any, index: Sequence[int] | np.ndarray[Any, Any], axis: int) -> Any:
    return ops.take(x, ops.convert_to_tensor(np.asarray(index, dtype="int32")), axis=axis)


def _along(values: np.ndarray[Any, Any], axis: int, rank: int, dtype: Any) -> Any:
    """A 1-D array shaped to broadcast along ``axis`` of a rank-``rank`` tensor."""
    shape = [1] * rank
    shape[axis] = int(values.shape[0])
    return ops.convert_to_tensor(values.reshape(shape), dtype=dtype)


# ------------------------------------------------------------------------------------ padding


def pad_index(size: int, before: int, after: int, mode: str) -> np.ndarray[Any, Any]:
    """Source index of every padded position along one axis (torch's padding modes)."""
    i = np.arange(-before, size + after)
    if mode == "reflect":
        if before >= size or after >= size:
            raise ValueError(f"reflect padding ({before}, {after}) must be smaller than the size {size}")
        i = np.abs(i)
        return (size - 1) - np.abs((size - 1) - i)
    if mode == "replicate":
        return np.clip(i, 0, size - 1)
    if mode == "circular":
        if before > size or after > size:
            raise ValueError(f"circular padding ({before}, {after}) must be at most the size {size}")
        return np.mod(i, size)
    raise ValueError(f"unknown padding mode {mode!r}")


def pad(x: Any, padding: Sequence[Sequence[int]], mode: str = "reflect", value: float = 0.0) -> Any:
    """Pad the spatial axes of a channels-last tensor: ``padding[i] = (before, after)`` of axis i+1."""
    if mode not in _MODES:
        raise ValueError(f"mode={mode!r}: expected one of {', '.join(_MODES)}")
    if mode == "constant":
        widths = [(0, 0), *((int(b), int(a)) for b, a in padding), (0, 0)]
        return ops.pad(x, widths, constant_values=value)
    for i, (b, a) in enumerate(padding):
        if b or a:
            axis = i + 1
            x = _take(x, pad_index(_static(x, axis, "Pad"), int(b), int(a), mode), axis)
    return x


def _pairs(padding: Any, n: int) -> tuple[tuple[int, int], ...]:
    if isinstance(padding, int):
        return ((padding, padding),) * n
    items = tuple(padding)
    if len(items) == n and all(isinstance(p, list | tuple) for p in items):
        return tuple((int(p[0]), int(p[1])) for p in items)
    if len(items) == n:
        return tuple((int(p), int(p)) for p in items)
    raise ValueError(f"padding={padding!r}: expected an int, {n} ints or {n} (before, after) pairs")


@keras.saving.register_keras_serializable(package="fwmigrate")
class Pad(keras.layers.Layer):  # type: ignore[misc]
    """torch's padding modes on a channels-last map. ``padding``: an int, one int per spatial axis,
    or ``(before, after)`` per spatial axis (first spatial axis first, unlike ``F.pad``)."""

    def __init__(self, padding: Any, mode: str = "reflect", value: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if mode not in _MODES:
            raise ValueError(f"mode={mode!r}: expected one of {', '.join(_MODES)}")
        self.padding = padding
        self.mode = mode
        self.value = value

    def call(self, inputs: Any) -> Any:
        n = len(inputs.shape) - 2
        return pad(inputs, _pairs(self.padding, n), self.mode, self.value)

    def compute_output_shape(self, input_shape: Any) -> Any:
        n = len(input_shape) - 2
        pairs = _pairs(self.padding, n)
        spatial = [
            None if d is None else d + b + a for d, (b, a) in zip(input_shape[1:-1], pairs, strict=True)
        ]
        return (input_shape[0], *spatial, input_shape[-1])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "padding": self.padding, "mode": self.mode, "value": self.value}


# ---------------------------------------------------------------------------------- resizing


def _f32(v: float) -> np.float32:
    return np.float32(v)


def _scale(n_in: int, n_out: int, factor: float | None, align_corners: bool) -> np.float32:
    """torch's ``area_pixel_compute_scale`` (float32)."""
    if align_corners:
        return _f32(n_in - 1) / _f32(n_out - 1) if n_out > 1 else _f32(0.0)
    if factor is not None and factor > 0:
        return _f32(1.0 / factor)
    return _f32(n_in) / _f32(n_out)


def _nearest_index(
    n_in: int, n_out: int, factor: float | None, exact: bool, shortcuts: bool
) -> np.ndarray[Any, Any]:
    """Source rows of torch's ``nearest`` (``floor(dst * scale)``) or ``nearest-exact``
    (``floor((dst + 0.5) * scale)``). torch's 2-D nearest kernel copies when the sizes agree and
    halves the index when the output is twice the input, whatever the scale factor
    (``shortcuts``); its 1-D and 3-D kernels do not (measured with torch 2.13)."""
    dst = np.arange(n_out)
    scale = _f32(1.0 / factor) if factor is not None and factor > 0 else _f32(n_in) / _f32(n_out)
    if exact:  # floorf((dst + 0.5) * scale): the product in double, rounded to float32
        src = np.floor(((dst + 0.5) * np.float64(scale)).astype(np.float32)).astype(np.int64)
    elif shortcuts and n_out == n_in:
        return dst
    elif shortcuts and n_out == 2 * n_in:
        return dst >> 1
    else:
        src = np.floor(dst.astype(np.float32) * scale).astype(np.int64)
    return np.minimum(src, n_in - 1)


def _linear_weights(
    n_in: int, n_out: int, factor: float | None, align_corners: bool
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """(i0, i1, lambda1): torch's ``area_pixel_compute_source_index`` and neighbours (float32)."""
    scale = _scale(n_in, n_out, factor, align_corners)
    dst = np.arange(n_out, dtype=np.float32)
    # align_corners: scale * dst; else half-pixel, clamped at 0
    src = scale * dst if align_corners else np.maximum(scale * (dst + _f32(0.5)) - _f32(0.5), _f32(0.0))
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    lam = np.clip(src - i0.astype(np.float32), 0.0, 1.0).astype(np.float32)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, lam


def _bins(n_in: int, n_out: int) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """torch's adaptive pooling bins: start floor(i * in / out), end ceil((i + 1) * in / out)."""
    i = np.arange(n_out)
    return (i * n_in) // n_out, ((i + 1) * n_in + n_out - 1) // n_out


def _bin_matrix(n_in: int, n_out: int) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    start, end = _bins(n_in, n_out)
    j = np.arange(n_in)
    mask = (j[None, :] >= start[:, None]) & (j[None, :] < end[:, None])
    return mask.astype(np.float32), (end - start).astype(np.float32)


def _mean_bins(x: Any, axis: int, n_out: int) -> Any:
    n_in = _static(x, axis, "adaptive average pooling")
    if n_in == n_out:
        return x
    mask, counts = _bin_matrix(n_in, n_out)
    rank = len(x.shape)
    summed = ops.tensordot(x, ops.convert_to_tensor(mask.T, dtype=x.dtype), axes=[[axis], [0]])
    summed = ops.moveaxis(summed, -1, axis)
    return summed / _along(counts, axis, rank, x.dtype)


def _max_bins(x: Any, axis: int, n_out: int) -> Any:
    n_in = _static(x, axis, "adaptive max pooling")
    if n_in == n_out:
        return x
    start, end = _bins(n_in, n_out)
    parts = [
        ops.max(_take(x, list(range(int(a), int(b))), axis), axis=axis, keepdims=True)
        for a, b in zip(start, end, strict=True)
    ]
    return ops.concatenate(parts, axis=axis)


def adaptive_avg_pool(x: Any, output_size: Any) -> Any:
    """``F.adaptive_avg_pool{1,2,3}d`` on a channels-last tensor (None in ``output_size``: keep)."""
    sizes = _per_axis(output_size, len(x.shape) - 2, "output_size")
    for i, out in enumerate(sizes):
        if out is not None:
            x = _mean_bins(x, i + 1, int(out))
    return x


def adaptive_max_pool(x: Any, output_size: Any) -> Any:
    """``F.adaptive_max_pool{1,2,3}d`` on a channels-last tensor (None in ``output_size``: keep)."""
    sizes = _per_axis(output_size, len(x.shape) - 2, "output_size")
    for i, out in enumerate(sizes):
        if out is not None:
            x = _max_bins(x, i + 1, int(out))
    return x


def _out_size(n_in: int, size: int | None, factor: float | None) -> int:
    if size is not None:
        return int(size)
    assert factor is not None
    return math.floor(n_in * float(factor))


def interpolate(
    x: Any,
    size: Any = None,
    scale_factor: Any = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
) -> Any:
    """``F.interpolate`` on a channels-last tensor ``(N, *spatial, C)``, with torch's indices and
    weights; (bi/tri)linear is applied one axis at a time (equal up to float rounding)."""
    if mode not in _RESIZE_MODES:
        raise ValueError(f"mode={mode!r}: expected one of {', '.join(_RESIZE_MODES)}")
    if (size is None) == (scale_factor is None):
        raise ValueError("exactly one of size and scale_factor must be given")
    n = len(x.shape) - 2
    sizes = _per_axis(size, n, "size")
    factors = _per_axis(scale_factor, n, "scale_factor")
    corners = bool(align_corners)
    rank = len(x.shape)
    for i in range(n):
        axis = i + 1
        n_in = _static(x, axis, "interpolate")
        n_out = _out_size(n_in, sizes[i], factors[i])
        factor = None if size is not None or recompute_scale_factor else float(factors[i])
        if mode == "area":
            x = _mean_bins(x, axis, n_out)
        elif mode in ("nearest", "nearest-exact"):
            index = _nearest_index(n_in, n_out, factor, mode == "nearest-exact", shortcuts=n == 2)
            x = _take(x, index, axis)
        elif n_in == n_out and not corners:
            continue  # torch copies: no interpolation when the sizes agree, whatever the factor
        else:
            i0, i1, lam = _linear_weights(n_in, n_out, factor, corners)
            w1 = _along(lam, axis, rank, x.dtype)
            x = _take(x, i0, axis) * (1.0 - w1) + _take(x, i1, axis) * w1
    return x


@keras.saving.register_keras_serializable(package="fwmigrate")
class Interpolate(keras.layers.Layer):  # type: ignore[misc]
    """``nn.Upsample`` with torch's arguments, on a channels-last map (see :func:`interpolate`)."""

    def __init__(
        self,
        size: Any = None,
        scale_factor: Any = None,
        mode: str = "nearest",
        align_corners: bool | None = None,
        recompute_scale_factor: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if mode not in _RESIZE_MODES:
            raise ValueError(f"mode={mode!r}: expected one of {', '.join(_RESIZE_MODES)}")
        self.size = size
        self.scale_factor = scale_factor
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def call(self, inputs: Any) -> Any:
        return interpolate(
            inputs, self.size, self.scale_factor, self.mode, self.align_corners, self.recompute_scale_factor
        )

    def compute_output_shape(self, input_shape: Any) -> Any:
        n = len(input_shape) - 2
        sizes = _per_axis(self.size, n, "size")
        factors = _per_axis(self.scale_factor, n, "scale_factor")
        spatial = [
            None if d is None and s is None else _out_size(d, s, f)
            for d, s, f in zip(input_shape[1:-1], sizes, factors, strict=True)
        ]
        return (input_shape[0], *spatial, input_shape[-1])

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "size": self.size,
            "scale_factor": self.scale_factor,
            "mode": self.mode,
            "align_corners": self.align_corners,
            "recompute_scale_factor": self.recompute_scale_factor,
        }


class _Adaptive(keras.layers.Layer):  # type: ignore[misc]
    def __init__(self, output_size: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.output_size = output_size

    def compute_output_shape(self, input_shape: Any) -> Any:
        sizes = _per_axis(self.output_size, len(input_shape) - 2, "output_size")
        spatial = [d if s is None else s for d, s in zip(input_shape[1:-1], sizes, strict=True)]
        return (input_shape[0], *spatial, input_shape[-1])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "output_size": self.output_size}


@keras.saving.register_keras_serializable(package="fwmigrate")
class AdaptiveAvgPool(_Adaptive):
    """``nn.AdaptiveAvgPool{1,2,3}d(output_size)`` on a channels-last map: torch's (uneven) bins."""

    def call(self, inputs: Any) -> Any:
        return adaptive_avg_pool(inputs, self.output_size)


@keras.saving.register_keras_serializable(package="fwmigrate")
class AdaptiveMaxPool(_Adaptive):
    """``nn.AdaptiveMaxPool{1,2,3}d(output_size)`` on a channels-last map: torch's (uneven) bins."""

    def call(self, inputs: Any) -> Any:
        return adaptive_max_pool(inputs, self.output_size)


# ----------------------------------------------------------------------------------- pooling


def pool_geometry(n_in: int, k: int, s: int, p: int, ceil_mode: bool) -> tuple[int, int]:
    """(output size, padding after the input) of torch's pooling along one axis: the windows
    start at ``i * s - p``; in ceil mode a last window that starts beyond the padded input is
    dropped. A negative padding crops."""
    span = n_in + 2 * p - k
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n_in + p:
        out -= 1
    return out, (out - 1) * s + k - n_in - p


def _pad_or_crop(x: Any, axis: int, before: int, after: int, value: float) -> Any:
    if after < 0:
        x = _take(x, list(range(_static(x, axis, "pooling") + after)), axis)
        after = 0
    if before or after:
        widths = [(0, 0)] * len(x.shape)
        widths[axis] = (before, after)
        x = ops.pad(x, widths, constant_values=value)
    return x


def _pool_args(kernel_size: Any, stride: Any, padding: Any, n: int) -> tuple[tuple[int, ...], ...]:
    k = tuple(int(v) for v in _per_axis(kernel_size, n, "kernel_size"))
    s = k if stride is None or stride == [] else tuple(int(v) for v in _per_axis(stride, n, "stride"))
    p = tuple(int(v) for v in _per_axis(padding, n, "padding"))
    return k, s, p


def max_pool(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False) -> Any:
    """``F.max_pool{1,2}d`` on a channels-last tensor: -inf padding, torch's output size."""
    n = len(x.shape) - 2
    k, s, p = _pool_args(kernel_size, stride, padding, n)
    for i in range(n):
        _, after = pool_geometry(_static(x, i + 1, "max pooling"), k[i], s[i], p[i], ceil_mode)
        x = _pad_or_crop(x, i + 1, p[i], after, float("-inf"))
    return ops.max_pool(x, k, s, padding="valid")


def avg_pool(
    x: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Any:
    """``F.avg_pool{1,2}d`` on a channels-last tensor: window sums over the zero-padded input,
    divided as torch divides (the padding counted or not; the ceil-mode overhang never)."""
    n = len(x.shape) - 2
    k, s, p = _pool_args(kernel_size, stride, padding, n)
    divisor: Any = None
    rank = len(x.shape)
    for i in range(n):
        axis = i + 1
        n_in = _static(x, axis, "average pooling")
        out, after = pool_geometry(n_in, k[i], s[i], p[i], ceil_mode)
        start = np.arange(out) * s[i] - p[i]
        end = np.minimum(start + k[i], n_in + p[i])
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, n_in)
        counts = (end - start).astype(np.float32)
        part = _along(counts, axis, rank, x.dtype)
        divisor = part if divisor is None else divisor * part
        x = _pad_or_crop(x, axis, p[i], after, 0.0)
    sums = ops.average_pool(x, k, s, padding="valid") * float(math.prod(k))
    if divisor_override:
        return sums / float(divisor_override)
    return sums / divisor


class _Pool(keras.layers.Layer):  # type: ignore[misc]
    def __init__(
        self, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.ceil_mode = ceil_mode

    def compute_output_shape(self, input_shape: Any) -> Any:
        n = len(input_shape) - 2
        k, s, p = _pool_args(self.kernel_size, self.stride, self.padding, n)
        spatial = [
            None if d is None else pool_geometry(d, k[i], s[i], p[i], self.ceil_mode)[0]
            for i, d in enumerate(input_shape[1:-1])
        ]
        return (input_shape[0], *spatial, input_shape[-1])

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "kernel_size": self.kernel_size,
            "stride": self.stride,
            "padding": self.padding,
            "ceil_mode": self.ceil_mode,
        }


@keras.saving.register_keras_serializable(package="fwmigrate")
class MaxPool(_Pool):
    """``nn.MaxPool{1,2}d`` with torch's padding and ``ceil_mode`` on a channels-last map."""

    def call(self, inputs: Any) -> Any:
        return max_pool(inputs, self.kernel_size, self.stride, self.padding, self.ceil_mode)


@keras.saving.register_keras_serializable(package="fwmigrate")
class AvgPool(_Pool):
    """``nn.AvgPool{1,2}d`` with torch's padding, ``ceil_mode``, ``count_include_pad`` and
    ``divisor_override`` on a channels-last map."""

    def __init__(
        self,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(kernel_size, stride, padding, ceil_mode, **kwargs)
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def call(self, inputs: Any) -> Any:
        return avg_pool(
            inputs,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
        )

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "count_include_pad": self.count_include_pad,
            "divisor_override": self.divisor_override,
        }


# ----------------------------------------------------------------------------- activations


@keras.saving.register_keras_serializable(package="fwmigrate")
class PReLU(keras.layers.Layer):  # type: ignore[misc]
    """``nn.PReLU(num_parameters, init)``: ``alpha`` of shape ``(num_parameters,)`` on the last
    (channels) axis, or one slope for every element; any input rank."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_parameters = int(num_parameters)
        self.init = float(init)

    def build(self, input_shape: Any) -> None:
        self.alpha = self.add_weight(
            name="alpha",
            shape=(self.num_parameters,),
            initializer=keras.initializers.Constant(self.init),
        )

    def call(self, inputs: Any) -> Any:
        alpha = ops.cast(self.alpha, inputs.dtype)
        return ops.where(inputs >= 0, inputs, alpha * inputs)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "num_parameters": self.num_parameters, "init": self.init}


# ---------------------------------------------------------------------------- normalisation


@keras.saving.register_keras_serializable(package="fwmigrate")
class InstanceNorm(keras.layers.Layer):  # type: ignore[misc]
    """``nn.InstanceNorm{1,2,3}d(C, eps, momentum, affine, track_running_stats=True)`` on a
    channels-last map. Training normalises each sample and channel by its own statistics and moves
    the running ones (torch's momentum: ``new = (1 - m) * old + m * batch mean of the instance
    statistics``, unbiased variance); inference uses the running statistics. Weights in
    ``BatchNormalization``'s order: [gamma, beta, moving_mean, moving_variance]."""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        affine: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.num_features = int(num_features)
        self.eps = float(eps)
        self.momentum = float(momentum)
        self.affine = bool(affine)

    def build(self, input_shape: Any) -> None:
        c = (self.num_features,)
        if self.affine:
            self.gamma = self.add_weight(name="gamma", shape=c, initializer="ones")
            self.beta = self.add_weight(name="beta", shape=c, initializer="zeros")
        self.moving_mean = self.add_weight(name="moving_mean", shape=c, initializer="zeros", trainable=False)
        self.moving_variance = self.add_weight(
            name="moving_variance", shape=c, initializer="ones", trainable=False
        )

    def call(self, inputs: Any, training: Any = None) -> Any:
        x = inputs
        if training:
            axes = tuple(range(1, len(x.shape) - 1))
            mean = ops.mean(x, axis=axes, keepdims=True)
            var = ops.mean(ops.square(x - mean), axis=axes, keepdims=True)
            n = float(math.prod(int(d) for d in x.shape[1:-1]))
            unbiased = var * (n / max(n - 1.0, 1.0))
            m = self.momentum
            self.moving_mean.assign(
                self.moving_mean * (1.0 - m)
                + ops.mean(ops.reshape(mean, (-1, self.num_features)), axis=0) * m
            )
            self.moving_variance.assign(
                self.moving_variance * (1.0 - m)
                + ops.mean(ops.reshape(unbiased, (-1, self.num_features)), axis=0) * m
            )
            y = (x - mean) / ops.sqrt(var + self.eps)
        else:
            y = (x - self.moving_mean) / ops.sqrt(self.moving_variance + self.eps)
        if self.affine:
            y = y * self.gamma + self.beta
        return y

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "num_features": self.num_features,
            "eps": self.eps,
            "momentum": self.momentum,
            "affine": self.affine,
        }


# ---------------------------------------------------------------------------------- embedding


@keras.saving.register_keras_serializable(package="fwmigrate")
class Embedding(keras.layers.Embedding):  # type: ignore[misc]
    """``keras.layers.Embedding`` with torch's ``padding_idx``: that row starts at zero and never
    receives a gradient (its output is the row, held constant)."""

    def __init__(
        self, input_dim: int, output_dim: int, padding_idx: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(input_dim, output_dim, **kwargs)
        if padding_idx is not None and padding_idx < 0:
            padding_idx += int(input_dim)
        self.padding_idx = padding_idx

    def build(self, input_shape: Any = None) -> None:
        super().build(input_shape)
        if self.padding_idx is not None:
            table = np.array(ops.convert_to_numpy(self.embeddings))
            table[self.padding_idx] = 0.0
            self.embeddings.assign(table)

    def call(self, inputs: Any) -> Any:
        out = super().call(inputs)
        if self.padding_idx is None:
            return out
        at_pad = ops.expand_dims(ops.equal(ops.cast(inputs, "int32"), self.padding_idx), -1)
        return ops.where(at_pad, ops.stop_gradient(out), out)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "padding_idx": self.padding_idx}


__all__ = [
    "AdaptiveAvgPool",
    "AdaptiveMaxPool",
    "AvgPool",
    "Embedding",
    "InstanceNorm",
    "Interpolate",
    "MaxPool",
    "PReLU",
    "Pad",
    "adaptive_avg_pool",
    "adaptive_max_pool",
    "avg_pool",
    "interpolate",
    "max_pool",
    "pad",
]
