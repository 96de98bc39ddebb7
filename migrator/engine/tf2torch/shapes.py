"""Static shape arithmetic for Keras layers, in Keras's own layout (batch first, channels last).

A dimension is an ``int`` when it is known, a code string when it is an expression of the
constructor's arguments (``"filters"``, ``"num_classes * 2"``), or None when it cannot be known
statically. Shape functions never evaluate user code: they read literals and keep the rest as text.
"""

from __future__ import annotations

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
    if axes is None:
        return ()
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


SHAPES: Mapping[str, ShapeFn] = MappingProxyType(
    {
        "same": _same,
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
        "transpose_op": _transpose_op,
        "matmul": _matmul,
    }
)
