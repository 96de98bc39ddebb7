"""Static shape arithmetic for Keras layers, in Keras's own layout (batch first, channels last).

A dimension is an ``int`` when it is known, a code string when it is an expression of the
constructor's arguments (``"filters"``, ``"num_classes * 2"``), or None when it cannot be known
statically. Shape functions never evaluate user code: they read literals and keep the rest as text.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import libcst as cst

from migrator.engine.emitter import code_of
from migrator.engine.values import NOT_LITERAL, literal

Dim = int | str | None
Shape = tuple[Dim, ...]


def dim_code(d: Dim) -> str | None:
    return None if d is None else str(d)


def _is_int(d: Dim) -> bool:
    return isinstance(d, int) and not isinstance(d, bool)


def mul(a: Dim, b: Dim) -> Dim:
    if a is None or b is None:
        return None
    if _is_int(a) and _is_int(b):
        return int(a) * int(b)
    if a == 1:
        return b
    if b == 1:
        return a
    return f"{_paren(a)} * {_paren(b)}"


def add(a: Dim, b: Dim) -> Dim:
    if a is None or b is None:
        return None
    if _is_int(a) and _is_int(b):
        return int(a) + int(b)
    if a == 0:
        return b
    if b == 0:
        return a
    return f"{a} + {b}"


def _paren(d: Dim) -> str:
    s = str(d)
    return f"({s})" if isinstance(d, str) and any(c in s for c in "+-") else s


def product(dims: Sequence[Dim]) -> Dim:
    """The product, ints folded first so ``7 * 7 * filters`` reads ``49 * filters``."""
    ints = [d for d in dims if _is_int(d)]
    rest = [d for d in dims if not _is_int(d)]
    if any(d is None for d in rest):
        return None
    out: Dim = math.prod(ints)  # type: ignore[arg-type]
    for d in rest:
        out = mul(out, d)
    return out


@dataclass(frozen=True)
class LayerArgs:
    """A Keras layer constructor's arguments, bound to parameter names (code nodes, unevaluated).

    ``resolve`` reads a size argument in the scope where the layer is built: a literal, a name the
    analysis knows (a helper's argument at one call site), or the argument's own code."""

    bound: Mapping[str, cst.BaseExpression]
    resolve: Callable[[cst.BaseExpression], Dim] | None = None

    def value(self, name: str, default: Any = None) -> Any:
        """The literal value, ``default`` when absent, NOT_LITERAL when it is an expression."""
        node = self.bound.get(name)
        if node is None:
            return default
        v = literal(node)
        if v is NOT_LITERAL and self.resolve is not None:
            r = self.resolve(node)
            if isinstance(r, int):
                return r
        return v

    def code(self, name: str) -> str | None:
        node = self.bound.get(name)
        return None if node is None else code_of(node)

    def dim(self, name: str, default: Dim = None) -> Dim:
        """A size argument: an int when literal, else its code (valid where the layer is built)."""
        node = self.bound.get(name)
        if node is None:
            return default
        v = literal(node)
        if isinstance(v, int) and not isinstance(v, bool):
            return v
        if self.resolve is not None:
            return self.resolve(node)
        return code_of(node)

    def dim_of(self, node: cst.BaseExpression) -> Dim:
        """A size given as an expression (an element of a shape tuple)."""
        v = literal(node)
        if isinstance(v, int) and not isinstance(v, bool):
            return v
        return self.resolve(node) if self.resolve is not None else code_of(node)

    def ints(self, name: str, n: int, default: int | tuple[int, ...] | None) -> tuple[int, ...] | None:
        """An int-or-tuple argument (kernel_size, strides) as ``n`` ints; None when not literal."""
        v = self.value(name, default)
        if v is None or v is NOT_LITERAL:
            return None
        if isinstance(v, int) and not isinstance(v, bool):
            return (v,) * n
        if isinstance(v, tuple | list) and len(v) == n and all(isinstance(i, int) for i in v):
            return tuple(v)
        return None

    def string(self, name: str, default: str | None = None) -> str | None:
        v = self.value(name, default)
        return v.lower() if isinstance(v, str) else None


def conv_length(n: Dim, k: int, s: int, d: int, padding: str | None) -> Dim:
    """Output length of a Keras convolution or pooling window along one axis."""
    if padding == "same" or padding == "causal":
        if s == 1:
            return n
        return None if not _is_int(n) else -(-int(n) // s)  # type: ignore[arg-type]
    if padding == "valid" and _is_int(n):
        return (int(n) - d * (k - 1) - 1) // s + 1  # type: ignore[arg-type]
    return None


def same_padding(n: int, k: int, s: int, d: int) -> tuple[int, int]:
    """TF's 'same' padding (before, after) on one axis: the extra pixel goes after."""
    total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


ShapeFn = Callable[[LayerArgs, Sequence[Shape | None]], "Shape | tuple[Shape, ...] | None"]


def _first(inputs: Sequence[Shape | None]) -> Shape | None:
    return inputs[0] if inputs else None


def _same(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    return _first(inputs)


def _dense(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    s = _first(inputs)
    if s is None:
        return None
    return (*s[:-1], args.dim("units"))


def _spatial(
    args: LayerArgs, s: Shape, size_name: str, stride_name: str, default_stride: Any, rate: bool
) -> tuple[Dim, ...] | None:
    n = len(s) - 2
    k = args.ints(size_name, n, None)
    strides = args.ints(stride_name, n, default_stride if default_stride is not None else k)
    dil = args.ints("dilation_rate", n, 1) if rate else (1,) * n
    padding = args.string("padding", "valid")
    if k is None or strides is None or dil is None:
        return None
    return tuple(conv_length(s[1 + i], k[i], strides[i], dil[i], padding) for i in range(n))


def _conv(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    s = _first(inputs)
    if s is None:
        return None
    sp = _spatial(args, s, "kernel_size", "strides", 1, rate=True)
    spatial = sp if sp is not None else (None,) * (len(s) - 2)
    return (s[0], *spatial, args.dim("filters"))


def _depthwise(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    s = _first(inputs)
    if s is None:
        return None
    sp = _spatial(args, s, "kernel_size", "strides", 1, rate=True)
    spatial = sp if sp is not None else (None,) * (len(s) - 2)
    return (s[0], *spatial, mul(s[-1], args.dim("depth_multiplier", 1)))


def _conv_transpose(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    s = _first(inputs)
    if s is None:
        return None
    n = len(s) - 2
    k = args.ints("kernel_size", n, None)
    st = args.ints("strides", n, 1)
    padding = args.string("padding", "valid")
    spatial: list[Dim] = []
    for i in range(n):
        d = s[1 + i]
        if k is None or st is None or not _is_int(d):
            spatial.append(None)
        elif padding == "same":
            spatial.append(int(d) * st[i])  # type: ignore[arg-type]
        else:
            spatial.append(int(d) * st[i] + max(k[i] - st[i], 0))  # type: ignore[arg-type]
    return (s[0], *spatial, args.dim("filters"))


def _pool(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    s = _first(inputs)
    if s is None:
        return None
    n = len(s) - 2
    pool = args.ints("pool_size", n, 2)
    if pool is None:
        return (s[0], *(None,) * n, s[-1])
    strides = args.ints("strides", n, pool)
    padding = args.string("padding", "valid")
    if strides is None:
        return (s[0], *(None,) * n, s[-1])
    spatial = tuple(conv_length(s[1 + i], pool[i], strides[i], 1, padding) for i in range(n))
    return (s[0], *spatial, s[-1])


def _global_pool(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    s = _first(inputs)
    if s is None:
        return None
    if args.value("keepdims", False) is True:
        return (s[0], *(1,) * (len(s) - 2), s[-1])
    return (s[0], s[-1])


def _flatten(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    s = _first(inputs)
    if s is None:
        return None
    return (s[0], product(s[1:]))


def _embedding(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    s = _first(inputs)
    if s is None:
        return None
    return (*s, args.dim("output_dim"))


def _recurrent(states: int) -> ShapeFn:
    def shape(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | tuple[Shape, ...] | None:
        s = _first(inputs)
        if s is None:
            return None
        units = args.dim("units")
        seq = args.value("return_sequences", False) is True
        out: Shape = (s[0], s[1], units) if seq else (s[0], units)
        if args.value("return_state", False) is True:
            return (out, *((s[0], units),) * states)
        return out

    return shape


def _upsample(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    s = _first(inputs)
    if s is None:
        return None
    n = len(s) - 2
    size = args.ints("size", n, 2) or (None,) * n
    return (s[0], *(mul(s[1 + i], size[i]) for i in range(n)), s[-1])


def _zero_pad(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    s = _first(inputs)
    if s is None:
        return None
    pads = zero_pad_amounts(args, len(s) - 2)
    if pads is None:
        return (s[0], *(None,) * (len(s) - 2), s[-1])
    return (s[0], *(add(s[1 + i], pads[i][0] + pads[i][1]) for i in range(len(s) - 2)), s[-1])


def zero_pad_amounts(args: LayerArgs, n: int) -> tuple[tuple[int, int], ...] | None:
    v = args.value("padding", 1)
    if isinstance(v, int) and not isinstance(v, bool):
        return ((v, v),) * n
    if isinstance(v, tuple | list) and len(v) == n:
        out = []
        for p in v:
            if isinstance(p, int):
                out.append((p, p))
            elif isinstance(p, tuple | list) and len(p) == 2 and all(isinstance(i, int) for i in p):
                out.append((p[0], p[1]))
            else:
                return None
        return tuple(out)
    return None


def crop_amounts(args: LayerArgs, n: int) -> tuple[tuple[int, int], ...] | None:
    v = args.value("cropping", ((0, 0),) * n)
    if isinstance(v, int) and not isinstance(v, bool):
        return ((v, v),) * n
    if isinstance(v, tuple | list) and len(v) == n:
        out = []
        for p in v:
            if isinstance(p, int):
                out.append((p, p))
            elif isinstance(p, tuple | list) and len(p) == 2 and all(isinstance(i, int) for i in p):
                out.append((p[0], p[1]))
            else:
                return None
        return tuple(out)
    return None


def _crop(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    s = _first(inputs)
    if s is None:
        return None
    crops = crop_amounts(args, len(s) - 2)
    if crops is None:
        return (s[0], *(None,) * (len(s) - 2), s[-1])
    return (s[0], *(add(s[1 + i], -(crops[i][0] + crops[i][1])) for i in range(len(s) - 2)), s[-1])


def pad_pair_1d(args: LayerArgs, name: str, default: Any) -> tuple[int, int] | None:
    """ZeroPadding1D(padding) / Cropping1D(cropping): an int or (before, after)."""
    v = args.value(name, default)
    if isinstance(v, int) and not isinstance(v, bool):
        return v, v
    if isinstance(v, tuple | list) and len(v) == 2 and all(isinstance(i, int) for i in v):
        return v[0], v[1]
    return None


def _pad_1d(sign: int, name: str, default: Any) -> ShapeFn:
    def shape(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
        s = _first(inputs)
        if s is None or len(s) != 3:
            return s
        pair = pad_pair_1d(args, name, default)
        return (s[0], None if pair is None else add(s[1], sign * (pair[0] + pair[1])), s[2])

    return shape


def _resize(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    """Resizing(height, width): (N, height, width, C)."""
    s = _first(inputs)
    if s is None:
        return None
    return (s[0], args.dim("height"), args.dim("width"), s[-1])


def _per_axis(v: Any, n: int) -> tuple[Any, ...] | None:
    """An int (or None) for each of n axes, from one value or a sequence of n."""
    if isinstance(v, list | tuple):
        return tuple(v) if len(v) == n else None
    return None if v is NOT_LITERAL else (v,) * n


def _support_spatial(s: Shape, out: Sequence[Dim]) -> Shape:
    return (s[0], *out, s[-1])


def _interpolate(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    """keras_support.Interpolate / interpolate (torch's arguments): the size, or floor(in * factor)."""
    s = _first(inputs)
    if s is None:
        return None
    n = len(s) - 2
    size = _per_axis(args.value("size"), n)
    factor = _per_axis(args.value("scale_factor"), n)
    out: list[Dim] = []
    for i in range(n):
        d = s[1 + i]
        if size is not None and size[0] is not None:
            out.append(size[i] if isinstance(size[i], int) else None)
        elif factor is not None and isinstance(factor[i], int | float) and _is_int(d):
            out.append(math.floor(int(d) * float(factor[i])))  # type: ignore[arg-type]
        else:
            out.append(None)
    return _support_spatial(s, out)


def _adaptive(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    """keras_support.AdaptiveAvgPool / AdaptiveMaxPool: the output size (None keeps the input's)."""
    s = _first(inputs)
    if s is None:
        return None
    sizes = _per_axis(args.value("output_size"), len(s) - 2)
    if sizes is None:
        return _support_spatial(s, [None] * (len(s) - 2))
    return _support_spatial(s, [s[1 + i] if v is None else v for i, v in enumerate(sizes)])


def torch_pool_length(n: Dim, k: int, st: int, p: int, ceil: bool) -> Dim:
    """torch's pooling output length (ceil mode drops a last window starting past the padded input)."""
    if not _is_int(n):
        return None
    span = int(n) + 2 * p - k  # type: ignore[arg-type]
    out = (span + (st - 1 if ceil else 0)) // st + 1
    if ceil and (out - 1) * st >= int(n) + p:  # type: ignore[arg-type]
        out -= 1
    return out


def _torch_pool(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    """keras_support.MaxPool / AvgPool (torch's kernel_size, stride, padding, ceil_mode)."""
    s = _first(inputs)
    if s is None:
        return None
    n = len(s) - 2
    k = args.ints("kernel_size", n, None)
    st = args.ints("stride", n, k) if args.value("stride") is not None else k
    p = args.ints("padding", n, 0)
    ceil = args.value("ceil_mode", False)
    if k is None or st is None or p is None or not isinstance(ceil, bool):
        return _support_spatial(s, [None] * n)
    return _support_spatial(s, [torch_pool_length(s[1 + i], k[i], st[i], p[i], ceil) for i in range(n)])


def support_pad_pairs(args: LayerArgs, n: int) -> tuple[tuple[int, int], ...] | None:
    """keras_support.Pad's padding: an int, one per spatial axis, or (before, after) per axis."""
    v = args.value("padding")
    if isinstance(v, int) and not isinstance(v, bool):
        return ((v, v),) * n
    if isinstance(v, list | tuple) and len(v) == n:
        if all(isinstance(p, int) for p in v):
            return tuple((p, p) for p in v)
        if all(isinstance(p, list | tuple) and len(p) == 2 and all(isinstance(i, int) for i in p) for p in v):
            return tuple((p[0], p[1]) for p in v)
    return None


def _support_pad(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    s = _first(inputs)
    if s is None:
        return None
    pairs = support_pad_pairs(args, len(s) - 2)
    if pairs is None:
        return _support_spatial(s, [None] * (len(s) - 2))
    return _support_spatial(s, [add(s[1 + i], a + b) for i, (a, b) in enumerate(pairs)])


def _concat(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    if not inputs or any(s is None for s in inputs):
        return None
    first = inputs[0]
    assert first is not None
    axis = args.value("axis", 0 if "xs" in args.bound else -1)
    if not isinstance(axis, int):
        return None
    a = axis % len(first)
    total: Dim = 0
    for s in inputs:
        assert s is not None
        total = add(total, s[a])
    return (*first[:a], total, *first[a + 1 :])


def _merge(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    return _first(inputs)


def _reshape(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    s = _first(inputs)
    v = args.value("target_shape")
    if s is None or not isinstance(v, tuple | list) or not all(isinstance(i, int) for i in v):
        return None
    dims = list(v)
    if -1 in dims:
        total = product(s[1:])
        known = math.prod(d for d in dims if d != -1)
        dims[dims.index(-1)] = total // known if isinstance(total, int) else None
    return (s[0], *dims)


def _reduce(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    s = _first(inputs)
    axes = args.value("axis")
    if s is None or axes is NOT_LITERAL:
        return None
    keep = args.value("keepdims", False) is True
    if axes is None:
        return (1,) * len(s) if keep else ()
    if isinstance(axes, int):
        axes = (axes,)
    gone = {a % len(s) for a in axes}
    if args.value("keepdims", False) is True:
        return tuple(1 if i in gone else d for i, d in enumerate(s))
    return tuple(d for i, d in enumerate(s) if i not in gone)


def _reshape_op(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    s = _first(inputs)
    node = args.bound.get("new_shape")
    if s is None or not isinstance(node, cst.Tuple | cst.List):
        return None
    dims: list[Dim] = []
    for i, el in enumerate(node.elements):
        v = literal(el.value)
        if i == 0 and _is_batch_size(el.value):
            dims.append(None)  # ops.shape(x)[0] / tf.shape(x)[0]: the batch
            continue
        dims.append(v if isinstance(v, int) and v != -1 else (None if v == -1 else args.dim_of(el.value)))
    if -1 in [literal(el.value) for el in node.elements]:
        batch = _is_batch_size(node.elements[0].value) or literal(node.elements[0].value) == -1
        known = [d for d in dims[1:] if d is not None] if batch else [d for d in dims if d is not None]
        total = product(s[1:]) if s else None
        unknown = len(dims) - 1 - len(known) if batch else len(dims) - len(known)
        if batch and unknown == 1 and literal(node.elements[0].value) != -1:
            if all(isinstance(d, int) for d in known) and isinstance(total, int):
                missing = total // math.prod(int(d) for d in known if isinstance(d, int))
                return (None, *(missing if d is None else d for d in dims[1:]))
            return None
        if len(known) == len(dims) - 1 and all(isinstance(d, int) for d in known) and isinstance(total, int):
            missing = total // math.prod(int(d) for d in known if isinstance(d, int)) if known else total
            dims = [missing if d is None else d for d in dims]
    return tuple(dims)


def _is_batch_size(node: cst.BaseExpression) -> bool:
    """``ops.shape(x)[0]``, ``tf.shape(x)[0]``, ``x.shape[0]``: the batch size."""
    if not isinstance(node, cst.Subscript) or len(node.slice) != 1:
        return False
    idx = node.slice[0].slice
    if not isinstance(idx, cst.Index) or literal(idx.value) != 0:
        return False
    v = node.value
    if isinstance(v, cst.Call) and isinstance(v.func, cst.Attribute) and v.func.attr.value == "shape":
        return True
    return isinstance(v, cst.Attribute) and v.attr.value == "shape"


def _transpose_op(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    s = _first(inputs)
    axes = args.value("axes")
    if s is None:
        return None
    if axes is None:
        return tuple(reversed(s))
    if not isinstance(axes, tuple | list) or len(axes) != len(s):
        return None
    return tuple(s[a] for a in axes)


def _matmul(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    if len(inputs) < 2 or inputs[0] is None or inputs[1] is None:
        return None
    a, b = inputs[0], inputs[1]
    if len(a) < 2 or len(b) < 2:
        return None
    batch = a[:-2] if len(a) >= len(b) else b[:-2]
    return (*batch, a[-2], b[-1])


def _bidirectional(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | tuple[Shape, ...] | None:
    return None  # computed by the engine from the wrapped layer


# ---------------------------------------------------------------------- tensor ops in call()


def _int(v: object) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _ints(v: object) -> tuple[int, ...] | None:
    """An int or a tuple/list of ints, as a tuple; None otherwise."""
    if _int(v) is not None:
        return (int(v),)  # type: ignore[call-overload]
    if isinstance(v, tuple | list) and all(_int(i) is not None for i in v):
        return tuple(v)
    return None


def _axis(args: LayerArgs, rank: int, default: object = None) -> int | None:
    """The literal int ``axis`` argument normalised to [0, rank), else None."""
    a = _int(args.value("axis", default))
    return None if a is None or rank == 0 else a % rank


def _with(s: Shape, a: int, d: Dim) -> Shape:
    return (*s[:a], d, *s[a + 1 :])


def _squeeze(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    """ops.squeeze / tf.squeeze: the given axes go; without axes every axis of size 1 (known
    statically; the batch axis, unknown, is assumed kept, as at any batch size but 1)."""
    s = _first(inputs)
    axes = args.value("axis")
    if s is None or axes is NOT_LITERAL:
        return None
    if axes is None:
        gone = squeezed_axes(s)
        return None if gone is None else tuple(d for i, d in enumerate(s) if i not in gone)
    dims = _ints(axes)
    if dims is None or not s:
        return None
    drop = {a % len(s) for a in dims}
    return tuple(d for i, d in enumerate(s) if i not in drop)


def squeezed_axes(s: Shape) -> tuple[int, ...] | None:
    """The axes a squeeze without axes removes, when every non-batch size is known."""
    if any(not _is_int(d) for d in s[1:]):
        return None
    return tuple(i for i, d in enumerate(s) if i > 0 and d == 1)


def _expand_dims(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    s = _first(inputs)
    a = _int(args.value("axis"))
    if s is None or a is None:
        return None
    a %= len(s) + 1
    return (*s[:a], 1, *s[a:])


def _split_count(s: Shape, a: int, n: int) -> tuple[Shape, ...]:
    d = s[a]
    part: Dim = int(d) // n if _is_int(d) and n else None  # type: ignore[arg-type]
    return tuple(_with(s, a, part) for _ in range(n))


def _split_sizes(args: LayerArgs, inputs: Sequence[Shape | None]) -> tuple[Shape, ...] | None:
    """tf.split(x, n) gives n equal parts; tf.split(x, [s0, s1, ...]) parts of those sizes."""
    s = _first(inputs)
    if s is None:
        return None
    a = _axis(args, len(s), 0)
    v = args.value("num_or_size_splits")
    if a is None:
        return None
    if _int(v) is not None:
        return _split_count(s, a, int(v))
    sizes = _ints(v)
    if sizes is None or isinstance(v, int):
        return None
    return tuple(_with(s, a, size if size >= 0 else None) for size in sizes)


def _split_sections(args: LayerArgs, inputs: Sequence[Shape | None]) -> tuple[Shape, ...] | None:
    """ops.split(x, n) gives n equal parts; ops.split(x, [i0, i1, ...]) splits at those indices
    (numpy), giving one part more than indices."""
    s = _first(inputs)
    if s is None:
        return None
    a = _axis(args, len(s), 0)
    v = args.value("indices_or_sections")
    if a is None:
        return None
    if _int(v) is not None:
        return _split_count(s, a, int(v))
    cuts = _ints(v)
    if cuts is None or isinstance(v, int):
        return None
    d = s[a]
    bounds: list[int | None] = [0, *cuts, int(d) if _is_int(d) else None]  # type: ignore[arg-type]
    out = []
    for lo, hi in itertools.pairwise(bounds):
        out.append(_with(s, a, hi - lo if lo is not None and hi is not None else None))
    return tuple(out)


def _top_k(args: LayerArgs, inputs: Sequence[Shape | None]) -> tuple[Shape, ...] | None:
    s = _first(inputs)
    if s is None or not s:
        return None
    part = _with(s, len(s) - 1, args.dim("k", 1))
    return (part, part)


def _gather(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    """tf.gather(x, idx, axis) / ops.take(x, idx, axis) with 1-D indices: the axis gets their length."""
    s = _first(inputs)
    if s is None:
        return None
    a = _axis(args, len(s), 0 if "params" in args.bound else None)
    if a is None:
        return None
    idx = args.value("indices")
    n: Dim = len(idx) if isinstance(idx, tuple | list) else None
    return _with(s, a, n)


def _take_along(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    s = _first(inputs)
    if s is None:
        return None
    a = _axis(args, len(s))
    return None if a is None else _with(s, a, None)


def _tile(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    s = _first(inputs)
    reps = _ints(args.value("repeats", args.value("multiples")))
    if s is None or reps is None or len(reps) != len(s):
        return None
    return tuple(mul(d, r) for d, r in zip(s, reps, strict=True))


def _repeat(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    """ops.repeat / tf.repeat (numpy repeat): along an axis, or over the flattened tensor."""
    s = _first(inputs)
    if s is None:
        return None
    r = _int(args.value("repeats"))
    if args.value("axis") is None:
        return (mul(product(s), r),)
    a = _axis(args, len(s))
    if a is None:
        return None
    return _with(s, a, mul(s[a], r))


def pad_pairs(v: object, rank: int) -> tuple[tuple[int, int], ...] | None:
    """numpy-style pad widths (an int, one (before, after) pair, or a pair per axis) per axis."""
    if _int(v) is not None:
        return ((int(v), int(v)),) * rank  # type: ignore[call-overload]
    if isinstance(v, tuple | list) and len(v) == 2 and all(_int(i) is not None for i in v):
        return ((int(v[0]), int(v[1])),) * rank
    if isinstance(v, tuple | list) and len(v) == rank:
        out = []
        for p in v:
            if isinstance(p, tuple | list) and len(p) == 2 and all(_int(i) is not None for i in p):
                out.append((int(p[0]), int(p[1])))
            elif isinstance(p, tuple | list) and len(p) == 1 and _int(p[0]) is not None:
                out.append((int(p[0]), int(p[0])))
            else:
                return None
        return tuple(out)
    return None


def _pad(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    s = _first(inputs)
    if s is None:
        return None
    pairs = pad_pairs(args.value("pad_width", args.value("paddings")), len(s))
    if pairs is None:
        return None
    return tuple(add(d, b + a) for d, (b, a) in zip(s, pairs, strict=True))


def _keras_flat(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    """ops.cumsum / ops.cumprod: the same shape along an axis; numpy's axis=None flattens first."""
    s = _first(inputs)
    if s is None:
        return None
    return (product(s),) if args.value("axis") is None else s


def _einsum(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    spec = args.value("subscripts")
    if not isinstance(spec, str) or "->" not in spec or "." in spec:
        return None
    lhs, rhs = spec.replace(" ", "").split("->")
    terms = lhs.split(",")
    if len(terms) != len(inputs):
        return None
    sizes: dict[str, Dim] = {}
    for term, shape in zip(terms, inputs, strict=True):
        if shape is None or len(shape) != len(term):
            return None
        for letter, d in zip(term, shape, strict=True):
            if sizes.get(letter) is None:
                sizes[letter] = d
    return tuple(sizes.get(letter) for letter in rhs)


def _shape_arg(args: LayerArgs, name: str) -> Shape | None:
    node = args.bound.get(name)
    if isinstance(node, cst.Tuple | cst.List):
        return tuple(args.dim_of(e.value) for e in node.elements)
    v = _int(literal(node)) if node is not None else None
    return (v,) if v is not None else None


def _broadcast_to(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    return _shape_arg(args, "shape")


def _create(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    """ops.zeros(shape) / tf.fill(dims, v): a new tensor of the given (Keras-order) shape."""
    return _shape_arg(args, "shape") or _shape_arg(args, "dims")


def _eye(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    """ops.eye(N, M) / tf.eye(num_rows, num_columns)."""
    rows, cols = ("N", "M") if "N" in args.bound else ("num_rows", "num_columns")
    n = args.dim(rows)
    m = args.dim(cols) if args.value(cols) is not None else n
    return (n, m)


def _arange(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    """ops.arange(start, stop, step) / tf.range(start, limit, delta)."""
    stop_name, step_name = (
        ("limit", "delta") if "limit" in args.bound or "delta" in args.bound else ("stop", "step")
    )
    start, stop, step = args.value("start"), args.value(stop_name), args.value(step_name, 1)
    if stop is None:
        start, stop = 0, start
    if step is None:
        step = 1
    if all(_int(v) is not None for v in (start, stop, step)) and step:
        return (len(range(start, stop, step)),)
    return (None,)


def _linspace(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    return (args.dim("num", 50),)


def _literal(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    """tf.constant([[1, 2], [3, 4]]): the nesting of a literal."""
    v = args.value("value")
    if v is NOT_LITERAL:
        return None
    shape: list[Dim] = []
    while isinstance(v, tuple | list):
        shape.append(len(v))
        v = v[0] if v else None
    return tuple(shape)


def _one_hot(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    s = _first(inputs)
    if s is None:
        return None
    n = args.dim("num_classes") if "num_classes" in args.bound else args.dim("depth")
    return (*s, n)


def _stack(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    s = _first(inputs)
    if s is None:
        return None
    a = _int(args.value("axis", 0))
    if a is None:
        return None
    a %= len(s) + 1
    return (*s[:a], len(inputs), *s[a:])


def _swapaxes(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    s = _first(inputs)
    a, b = _int(args.value("axis1")), _int(args.value("axis2"))
    if s is None or a is None or b is None:
        return None
    out = list(s)
    a, b = a % len(s), b % len(s)
    out[a], out[b] = out[b], out[a]
    return tuple(out)


def _moveaxis(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    s = _first(inputs)
    src, dst = _ints(args.value("source")), _ints(args.value("destination"))
    if s is None or src is None or dst is None or len(src) != len(dst):
        return None
    r = len(s)
    src = tuple(a % r for a in src)
    dst = tuple(a % r for a in dst)
    rest = [i for i in range(r) if i not in src]
    order: list[int | None] = [None] * r
    for a, d in sorted(zip(dst, src, strict=True)):
        order[a] = d
    it = iter(rest)
    return tuple(s[o if o is not None else next(it)] for o in order)


def _attention(args: LayerArgs, inputs: Sequence[Shape | None]) -> Shape | None:
    """MultiHeadAttention: the query's shape, its last axis ``output_shape`` when given."""
    first = _first(inputs)
    out = args.value("output_shape")
    if first is None or out is None:
        return first
    size = out[0] if isinstance(out, tuple | list) and len(out) == 1 else out
    return (*first[:-1], size if isinstance(size, int) and not isinstance(size, bool) else None)


SHAPES: Mapping[str, ShapeFn] = MappingProxyType(
    {
        "same": _same,
        "attention": _attention,
        "dense": _dense,
        "conv": _conv,
        "depthwise": _depthwise,
        "conv_transpose": _conv_transpose,
        "pool": _pool,
        "global_pool": _global_pool,
        "flatten": _flatten,
        "embedding": _embedding,
        "lstm": _recurrent(2),
        "gru": _recurrent(1),
        "simple_rnn": _recurrent(1),
        "upsample": _upsample,
        "zero_pad": _zero_pad,
        "concat": _concat,
        "merge": _merge,
        "reshape": _reshape,
        "bidirectional": _bidirectional,
        "reduce": _reduce,
        "reshape_op": _reshape_op,
        "pool_op": _pool,
        "crop": _crop,
        "zero_pad_1d": _pad_1d(1, "padding", 1),
        "crop_1d": _pad_1d(-1, "cropping", (1, 1)),
        "resize": _resize,
        "interpolate": _interpolate,
        "adaptive": _adaptive,
        "torch_pool": _torch_pool,
        "support_pad": _support_pad,
        "transpose_op": _transpose_op,
        "matmul": _matmul,
        "arg_reduce": _reduce,
        "squeeze": _squeeze,
        "expand_dims": _expand_dims,
        "split_sizes": _split_sizes,
        "split_sections": _split_sections,
        "top_k": _top_k,
        "gather": _gather,
        "take_along": _take_along,
        "tile": _tile,
        "repeat": _repeat,
        "pad": _pad,
        "keras_flat": _keras_flat,
        "roll": _same,
        "einsum": _einsum,
        "broadcast_to": _broadcast_to,
        "create": _create,
        "eye": _eye,
        "arange": _arange,
        "linspace": _linspace,
        "literal": _literal,
        "one_hot": _one_hot,
        "stack": _stack,
        "swapaxes": _swapaxes,
        "moveaxis": _moveaxis,
    }
)

# Ops whose later arguments are not operands sharing the first's layout (indices, repeat counts):
# only the first parameter's tensor is followed.
FIRST_OPERAND_ONLY = frozenset({"gather", "tile", "repeat", "pad", "top_k", "split_sizes", "split_sections"})
# Ops that, without an axis, work on the flattened tensor (numpy semantics): the element order
# is Keras's, so a feature map is brought back to channels-last order first.
FLAT_WITHOUT_AXIS = frozenset({"arg_reduce", "keras_flat", "repeat", "roll", "gather", "take_along"})
# Ops that make a new tensor (in Keras's order) from sizes and values, without a tensor operand.
CREATES = frozenset({"create", "eye", "arange", "linspace", "literal"})
