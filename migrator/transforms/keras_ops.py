"""tf2torch hooks for tensor ops in ``call()`` whose torch form data cannot state: the operand's
layout reorders per-axis lists (tile multiples, pad widths, roll shifts), a literal operand changes
the torch function (``ops.maximum(x, 0.0)`` is ``torch.clamp``), an axis of ``None`` means every
axis or the flattened tensor, or a dtype is spelled the TensorFlow way (``tf.float32``).

Each hook returns the torch expression, or a string saying why the call cannot be migrated
exactly. Axes are Keras axes; ``site.layouts`` says where each lives in the torch tensor."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

import libcst as cst

from migrator.engine.emitter import code_of, int_node, kwarg, tuple_node
from migrator.engine.layout import Layout
from migrator.engine.names import dotted
from migrator.engine.site import CallSite, Note
from migrator.engine.tf2torch.shapes import Shape, pad_pairs
from migrator.engine.tf2torch.values import expanded
from migrator.engine.values import NOT_LITERAL, format_number, literal
from migrator.types import Severity

if TYPE_CHECKING:
    from migrator.engine.tf2torch.transformer import KerasToTorch, LayerOut

Perm = tuple[int, ...] | None

# dtype names both frameworks spell alike (``"float32"``, ``tf.float32``, ``np.float32``)
_DTYPES = frozenset(
    {
        "bool",
        "uint8",
        "int8",
        "int16",
        "int32",
        "int64",
        "float16",
        "bfloat16",
        "float32",
        "float64",
        "complex64",
        "complex128",
    }
)
_DTYPE_ROOTS = ("tensorflow", "tensorflow.dtypes", "keras", "numpy", "np")

# torch functions that return int64 indices already
_INT64 = frozenset({"torch.argsort", "torch.argmax", "torch.argmin"})

# a comparison whose operands are swapped (``ops.less(0.5, x)`` is ``torch.gt(x, 0.5)``)
_MIRRORED: Mapping[str, str] = MappingProxyType(
    {
        "torch.eq": "torch.eq",
        "torch.ne": "torch.ne",
        "torch.lt": "torch.gt",
        "torch.gt": "torch.lt",
        "torch.le": "torch.ge",
        "torch.ge": "torch.le",
    }
)


def _out(expr: cst.BaseExpression, site: CallSite) -> LayerOut:
    from migrator.engine.tf2torch.transformer import LayerOut

    return LayerOut(expr, None, None, site.rule, None)


def _mapped(tools: KerasToTorch, site: CallSite, skip: tuple[str, ...] = ()) -> list[cst.Arg] | str:
    """The rule's ordinary argument mapping for everything but ``skip``."""
    mapped = tools.map_args(site, skip=skip)
    if mapped.unsupported is not None:
        return mapped.unsupported
    for note in mapped.notes:
        tools.note(note)
    return list(mapped.args)


def _first(site: CallSite) -> tuple[str, cst.BaseExpression] | None:
    name = site.rule.params[0]
    node = site.bound.get(name)
    return None if node is None else (name, node)


def _layout(site: CallSite) -> Layout | None:
    return site.layouts.get(site.rule.params[0])


def _rank(tools: KerasToTorch, site: CallSite) -> int | None:
    """The rank of the op's tensor operand: from its layout, else from its shape."""
    lay = _layout(site)
    if lay is not None:
        return lay.rank
    t = tools.operands.get(site.rule.params[0])
    return t.rank if t is not None else None


def _tuple_of(items: list[cst.BaseExpression]) -> cst.Tuple:
    space = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    last: cst.Comma | cst.MaybeSentinel = cst.Comma() if len(items) == 1 else cst.MaybeSentinel.DEFAULT
    return cst.Tuple(
        [cst.Element(i, comma=space if k < len(items) - 1 else last) for k, i in enumerate(items)]
    )


def _torch_axis(site: CallSite, axis: int) -> int:
    """The torch axis holding Keras axis ``axis`` (the same when the layout is unknown)."""
    lay = _layout(site)
    if lay is None or lay.is_identity:
        return axis
    a = lay.axis(axis)
    return -1 if a == lay.rank - 1 and lay.rank > 2 else a


def _number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def torch_dtype(tools: KerasToTorch, node: cst.BaseExpression) -> cst.BaseExpression | None:
    """``"float32"`` / ``tf.float32`` / ``np.int32`` / ``keras.ops.float32`` -> ``torch.<name>``."""
    v = literal(node)
    name: str | None = v if isinstance(v, str) else None
    if name is None:
        text = tools.imports.resolve(node) or dotted(node)
        if text is not None and "." in text:
            root, _, last = text.rpartition(".")
            if root in _DTYPE_ROOTS or root.startswith(("tensorflow.", "keras.")):
                name = last
    if name is None or name not in _DTYPES:
        return None
    return tools.name(f"torch.{name}")


def _with_dtype(
    tools: KerasToTorch, site: CallSite, args: list[cst.Arg], default: str | None = None
) -> list[cst.Arg] | str:
    """``args`` plus ``dtype=torch.<name>`` for the call's dtype argument (or ``default``)."""
    node = site.bound.get("dtype")
    if node is None or literal(node) is None:
        return [*args, kwarg("dtype", tools.name(default))] if default is not None else args
    dt = torch_dtype(tools, node)
    if dt is None:
        return f"dtype={code_of(node)}: not a dtype name fwmigrate can map (float32, int32, tf.float32, ...)"
    return [*args, kwarg("dtype", dt)]


# ---------------------------------------------------------------------- elementwise


def binary(tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: Perm) -> LayerOut | str:
    """Two-operand elementwise ops. torch.maximum/minimum and the logical ops need two tensors:
    a literal number becomes ``torch.clamp(x, min=v)`` / ``max=v``, a literal bool a 0-d tensor;
    a comparison with a literal first operand is mirrored (``ops.less(0, x)`` -> ``torch.gt(x, 0)``)."""
    target = site.rule.emit
    assert target is not None
    p1, p2 = site.rule.params[0], site.rule.params[1]
    a, b = site.bound.get(p1), site.bound.get(p2)
    if a is None or b is None:
        return f"{site.rule.match[0]} needs both operands"
    va, vb = literal(a), literal(b)
    if target in ("torch.maximum", "torch.minimum") and (_number(va) or _number(vb)):
        if _number(va) and _number(vb):
            return "both operands are numbers: there is no tensor to compute on"
        tensor, bound = (b, a) if _number(va) else (a, b)
        key = "min" if target == "torch.maximum" else "max"
        return _out(tools.call("torch.clamp", [cst.Arg(tensor), kwarg(key, bound)]), site)
    if target in _MIRRORED and _number(va) and not _number(vb):
        return _out(tools.call(_MIRRORED[target], [cst.Arg(b), cst.Arg(a)]), site)
    if target.startswith("torch.logical_"):
        a, b = (_as_tensor(tools, a, va), _as_tensor(tools, b, vb))
    return _out(tools.call(target, [cst.Arg(a), cst.Arg(b)]), site)


def _as_tensor(tools: KerasToTorch, node: cst.BaseExpression, v: object) -> cst.BaseExpression:
    if v is NOT_LITERAL:
        return node
    return tools.call("torch.tensor", [cst.Arg(node)])


def where(tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: Perm) -> LayerOut | str:
    """``ops.where(c, x, y)`` -> ``torch.where(c, x, y)``; ``ops.where(c)`` alone returns the indices
    of the true elements, which depend on the element order: only without a layout change."""
    if "x1" not in site.bound and "x2" not in site.bound:
        lay = site.layouts.get("condition")
        if lay is not None and not lay.is_identity:
            return "where(condition) returns indices in Keras's axis order; the tensor is held channels-first"
    elif "x1" not in site.bound or "x2" not in site.bound:
        return "where needs both x1 and x2 (or neither)"
    args = _mapped(tools, site)
    if isinstance(args, str):
        return args
    return _out(tools.call("torch.where", args), site)


# ---------------------------------------------------------------------- reductions


def reduce_dims(tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: Perm) -> LayerOut | str:
    """Reductions whose torch function takes one dim (``torch.prod``: reduced one axis at a time)
    or needs its dims (``torch.logsumexp``: every axis when Keras's axis is None)."""
    target = site.rule.emit
    assert target is not None
    first = _first(site)
    if first is None:
        return "the tensor operand is missing"
    args = _mapped(tools, site)
    if isinstance(args, str):
        return args
    x = args[0].value
    rest = [a for a in args[1:] if a.keyword is None or a.keyword.value != "dim"]
    dim = next((a.value for a in args if a.keyword is not None and a.keyword.value == "dim"), None)
    keep = any(a.keyword is not None and a.keyword.value == "keepdim" for a in rest)
    if dim is None and (target == "torch.logsumexp" or keep):  # torch.prod(x) has no keepdim
        rank = _rank(tools, site)
        if rank is None:
            return "a reduction over every axis needs the tensor's rank here, which could not be inferred"
        dim = tuple_node(list(range(rank)))
    dims = literal(dim) if dim is not None else None
    if target == "torch.prod" and isinstance(dims, tuple | list):
        order = list(dims) if keep else sorted(dims, reverse=True)  # later axes first: indices stay
        expr = x
        for d in order:
            expr = tools.call(target, [cst.Arg(expr), kwarg("dim", int_node(d)), *rest])
        return _out(expr, site)
    out = [cst.Arg(x), *([kwarg("dim", dim)] if dim is not None else []), *rest]
    return _out(tools.call(target, out), site)


def norm(tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: Perm) -> LayerOut | str:
    """``ops.norm`` / ``tf.norm`` -> ``torch.linalg.vector_norm``: vector norms over one axis or the
    whole tensor, and the Frobenius norm over two axes. Matrix norms (ord 1, 2, inf, 'nuc' over two
    axes) depend on which axis is rows: not migrated."""
    args = _mapped(tools, site, skip=("ord",))
    if isinstance(args, str):
        return args
    ord_node = site.bound.get("ord")
    v = literal(ord_node) if ord_node is not None else None
    axis = literal(site.bound["axis"]) if "axis" in site.bound else None
    pair = isinstance(axis, tuple | list) and len(axis) == 2
    tf_norm = "name" in site.rule.params  # tf.norm: ord with no axis is a vector norm
    if ord_node is not None and v is NOT_LITERAL:
        tools.note(
            Note(
                Severity.REVIEW, f"ord={code_of(ord_node)} is not a literal: check it is a vector-norm order"
            )
        )
    if pair and v not in (None, "fro", "euclidean"):
        return f"ord={code_of(ord_node) if ord_node is not None else None} over two axes is a matrix norm"
    if v in ("nuc",) or (v == "fro" and not pair):
        return f"ord={v!r} is a matrix norm"
    if axis is None and ord_node is not None and v not in ("euclidean",) and not tf_norm:
        return "ops.norm with ord and no axis is a matrix norm for 2-D input: give axis"
    extra: list[cst.Arg] = []
    if ord_node is not None and v not in (None, "fro", "euclidean", 2):
        extra.append(kwarg("ord", ord_node))
    return _out(tools.call("torch.linalg.vector_norm", [args[0], *extra, *args[1:]]), site)


def normalize(tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: Perm) -> LayerOut | str:
    """``ops.normalize(x, axis)`` -> ``F.normalize(x, dim, eps=1e-07)``: Keras divides by
    max(|x|, epsilon) with backend epsilon 1e-7. ``tf.math.l2_normalize(x, axis, epsilon=1e-12)``
    clamps the sum of squares, i.e. |x| at sqrt(epsilon): ``eps=1e-06``."""
    args = _mapped(tools, site, skip=("epsilon", "order"))
    if isinstance(args, str):
        return args
    order = literal(site.bound["order"]) if "order" in site.bound else 2
    if order != 2:
        return f"order={order}: only the L2 norm is migrated"
    eps_node = site.bound.get("epsilon")
    eps = literal(eps_node) if eps_node is not None else None
    squared = "order" not in site.rule.params  # tf.math.l2_normalize clamps the squared norm
    if eps is None:
        eps_code: cst.BaseExpression = cst.Float("1e-06" if squared else "1e-07")
    elif _number(eps):
        value = float(eps) ** 0.5 if squared else float(eps)
        eps_code = cst.Float(_float_text(value))
    else:
        assert eps_node is not None
        eps_code = cst.BinaryOperation(eps_node, cst.Power(), cst.Float("0.5")) if squared else eps_node
    has_dim = any(a.keyword is not None and a.keyword.value == "dim" for a in args)
    if not has_dim:
        rank = _rank(tools, site)
        if rank is None:
            return "normalising over every axis needs the tensor's rank, which could not be inferred"
        args.append(kwarg("dim", tuple_node(list(range(rank)))))
    return _out(tools.call("torch.nn.functional.normalize", [*args, kwarg("eps", eps_code)]), site)


def _float_text(v: float) -> str:
    text = repr(v)
    return text if ("." in text or "e" in text) else format_number(v)


# ---------------------------------------------------------------------- axis ops


def flat_cumulative(tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: Perm) -> LayerOut | str:
    """``ops.cumsum(x)`` (axis None) runs over the flattened tensor: ``torch.cumsum(torch.flatten(x), 0)``
    (the analysis brings a feature map back to Keras's order first)."""
    args = _mapped(tools, site)
    if isinstance(args, str):
        return args
    target = site.rule.emit
    assert target is not None
    if any(a.keyword is not None and a.keyword.value == "dim" for a in args):
        return _out(tools.call(target, args), site)
    flat = tools.call("torch.flatten", [args[0]])
    return _out(tools.call(target, [cst.Arg(flat), kwarg("dim", int_node(0)), *args[1:]]), site)


def flip(tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: Perm) -> LayerOut | str:
    """``ops.flip(x, axis)`` / ``tf.reverse(x, axis)`` -> ``torch.flip(x, dims)``, which needs a tuple:
    without an axis every axis is listed."""
    args = _mapped(tools, site)
    if isinstance(args, str):
        return args
    dims = next((a for a in args if a.keyword is not None and a.keyword.value == "dims"), None)
    if dims is None:
        rank = _rank(tools, site)
        if rank is None:
            return "flip over every axis needs the tensor's rank, which could not be inferred"
        args.append(kwarg("dims", tuple_node(list(range(rank)))))
    elif isinstance(literal(dims.value), int):  # torch.flip takes a tuple only
        args = [kwarg("dims", tuple_node([literal(dims.value)])) if a is dims else a for a in args]
    return _out(tools.call("torch.flip", args), site)


def roll(tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: Perm) -> LayerOut | str:
    """``ops.roll(x, shift, axis)`` -> ``torch.roll(x, shifts, dims)``, each axis mapped on its own so
    that it stays paired with its shift; without an axis both roll the flattened tensor."""
    first = _first(site)
    shift = site.bound.get("shift")
    if first is None or shift is None:
        return "roll needs its tensor and shift"
    out = [cst.Arg(first[1]), kwarg("shifts", shift)]
    axis = site.bound.get("axis")
    if axis is not None and literal(axis) is not None:
        v = literal(axis)
        if isinstance(v, int) and not isinstance(v, bool):
            out.append(kwarg("dims", int_node(_torch_axis(site, v))))
        elif isinstance(v, tuple | list) and all(isinstance(a, int) for a in v):
            out.append(kwarg("dims", tuple_node([_torch_axis(site, a) for a in v])))
        elif _layout(site) is None or _layout(site).is_identity:  # type: ignore[union-attr]
            out.append(kwarg("dims", axis))
        else:
            return f"axis={code_of(axis)}: a non-literal axis on a tensor whose layout changed"
    return _out(tools.call("torch.roll", out), site)


def values_of(tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: Perm) -> LayerOut | str:
    """``ops.sort`` returns the sorted values; ``torch.sort`` returns (values, indices)."""
    args = _mapped(tools, site)
    if isinstance(args, str):
        return args
    target = site.rule.emit
    assert target is not None
    return _out(cst.Attribute(tools.call(target, args), cst.Name("values")), site)


def top_k(tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: Perm) -> LayerOut | str:
    """``ops.top_k(x, k)`` works on the last Keras axis: ``torch.topk(x, k, dim=<its torch axis>)``;
    both return (values, indices)."""
    first = _first(site)
    if first is None:
        return "top_k needs its tensor"
    args = _mapped(tools, site)
    if isinstance(args, str):
        return args
    if "k" not in site.bound:  # tf.math.top_k's default
        args.insert(1, cst.Arg(int_node(1)))
    lay = _layout(site)
    dim = -1 if lay is None else _torch_axis(site, lay.rank - 1)
    return _out(tools.call("torch.topk", [*args[:2], kwarg("dim", int_node(dim)), *args[2:]]), site)


# ---------------------------------------------------------------------- shape ops


def expand_dims(tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: Perm) -> LayerOut | str:
    """``ops.expand_dims(x, axis)`` -> ``torch.unsqueeze(x, dim)``: on a feature map held
    channels-first, the new axis goes before the torch axis of the Keras axis it precedes."""
    first = _first(site)
    axis = site.bound.get("axis")
    if first is None or axis is None:
        return "expand_dims needs its tensor and axis"
    v = literal(axis)
    lay = _layout(site)
    if lay is None or lay.is_identity:
        return _out(tools.call("torch.unsqueeze", [cst.Arg(first[1]), cst.Arg(axis)]), site)
    if not isinstance(v, int) or isinstance(v, bool):
        return f"axis={code_of(axis)}: a single literal axis is needed on a tensor whose layout changed"
    a = v % (lay.rank + 1)
    pos = expanded(lay.perm, a)[1]
    dim = -1 if pos == lay.rank else pos
    return _out(tools.call("torch.unsqueeze", [cst.Arg(first[1]), cst.Arg(int_node(dim))]), site)


def tf_split(tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: Perm) -> LayerOut | str:
    """``tf.split(x, n)`` makes n equal chunks (``torch.chunk``); ``tf.split(x, [a, b])`` chunks of
    those sizes (``torch.split``, whose int argument would be a chunk size)."""
    first = _first(site)
    how = site.bound.get("num_or_size_splits")
    if first is None or how is None:
        return "tf.split needs its tensor and num_or_size_splits"
    args = _mapped(tools, site, skip=("num_or_size_splits", "num"))
    if isinstance(args, str):
        return args
    v = literal(how)
    if isinstance(v, int) and not isinstance(v, bool):
        return _out(tools.call("torch.chunk", [args[0], cst.Arg(how), *args[1:]]), site)
    if isinstance(v, tuple | list) and all(isinstance(i, int) and not isinstance(i, bool) for i in v):
        if any(i < 0 for i in v):
            return "a size of -1 (the rest) has no torch.split form: give every size"
        return _out(tools.call("torch.split", [args[0], cst.Arg(how), *args[1:]]), site)
    return (
        f"num_or_size_splits={code_of(how)} is not a literal: an int makes that many chunks "
        "(torch.chunk), a list gives the sizes (torch.split)"
    )


def tile(tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: Perm) -> LayerOut | str:
    """``ops.tile`` / ``tf.tile`` -> ``torch.tile``, the repeats reordered to the torch axes."""
    first = _first(site)
    name = site.rule.params[1]
    reps = site.bound.get(name)
    if first is None or reps is None:
        return "tile needs its tensor and repeats"
    lay = _layout(site)
    if lay is not None and not lay.is_identity:
        v = literal(reps)
        if not isinstance(v, tuple | list) or len(v) != lay.rank:
            why = "one literal count per axis is needed on a tensor whose layout changed"
            return f"{name}={code_of(reps)}: {why}"
        if isinstance(reps, cst.Tuple | cst.List):
            reps = _tuple_of([reps.elements[p].value for p in lay.perm])
        else:
            reps = tuple_node([v[p] for p in lay.perm])
    return _out(tools.call("torch.tile", [cst.Arg(first[1]), cst.Arg(reps)]), site)


def pad(tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: Perm) -> LayerOut | str:
    """``ops.pad`` / ``tf.pad`` (a (before, after) pair per axis, first axis first) ->
    ``F.pad(x, pad)`` (pairs from the last torch axis backwards), constant mode only."""
    first = _first(site)
    name = site.rule.params[1]
    widths = site.bound.get(name)
    if first is None or widths is None:
        return "pad needs its tensor and widths"
    mode = literal(site.bound["mode"]) if "mode" in site.bound else "constant"
    if not isinstance(mode, str) or mode.lower() != "constant":
        return f"mode={code_of(site.bound['mode'])}: only constant padding is migrated"
    rank = _rank(tools, site)
    if rank is None:
        return "the tensor's rank could not be inferred"
    pairs = pad_pairs(literal(widths), rank)
    if pairs is None:
        return f"{name}={code_of(widths)}: the widths must be literal"
    lay = _layout(site)
    torch_pairs = [pairs[p] for p in lay.perm] if lay is not None else list(pairs)
    while torch_pairs and torch_pairs[0] == (0, 0):
        torch_pairs.pop(0)  # F.pad lists the last axes only
    flat = [w for pair in reversed(torch_pairs) for w in pair]
    out = [cst.Arg(first[1]), cst.Arg(tuple_node(flat))]
    value = site.bound.get("constant_values")
    if value is not None and literal(value) not in (None, 0, 0.0):
        out.append(kwarg("value", value))
    return _out(tools.call("torch.nn.functional.pad", out), site)


# ---------------------------------------------------------------------- indexing


def take(tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: Perm) -> LayerOut | str:
    """``ops.take(x, idx, axis)`` -> ``torch.index_select(x, dim, idx)`` (1-D indices);
    without an axis the flattened tensor: ``torch.take(x, idx)``."""
    first = _first(site)
    idx = site.bound.get("indices")
    if first is None or idx is None:
        return "take needs its tensor and indices"
    args = _mapped(tools, site, skip=("indices",))
    if isinstance(args, str):
        return args
    dim = next((a for a in args if a.keyword is not None and a.keyword.value == "dim"), None)
    if dim is None:  # torch.take needs int64 indices; Keras makes int32 ones (ops.arange)
        return _out(tools.call("torch.take", [args[0], cst.Arg(_long(idx))]), site)
    return _out(tools.call("torch.index_select", [args[0], dim, kwarg("index", idx)]), site)


def take_along(tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: Perm) -> LayerOut | str:
    """``ops.take_along_axis(x, idx, axis)`` -> ``torch.take_along_dim(x, idx.long(), dim)``: numpy's
    take_along_axis with broadcasting; torch wants int64 indices where Keras makes int32 ones."""
    idx = site.bound.get("indices")
    if idx is None:
        return "take_along_axis needs its indices"
    args = _mapped(tools, site, skip=("indices",))
    if isinstance(args, str):
        return args
    return _out(tools.call("torch.take_along_dim", [args[0], cst.Arg(_long(idx)), *args[1:]]), site)


def _long(node: cst.BaseExpression) -> cst.BaseExpression:
    """``node.long()``, unless it is already an int64 index maker (torch.argsort, torch.argmax, ...)."""
    if isinstance(node, cst.Call) and dotted(node.func) in _INT64:
        return node
    if not isinstance(node, cst.Name | cst.Attribute | cst.Call | cst.Subscript):
        node = node.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return cst.Call(cst.Attribute(node, cst.Name("long")), [])


def one_hot(tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: Perm) -> LayerOut | str:
    """``ops.one_hot(x, n)`` (float32) -> ``F.one_hot(x.long(), n).to(torch.float32)``: torch takes
    int64 ids and gives int64."""
    first = _first(site)
    depth_name = site.rule.params[1]
    n = site.bound.get(depth_name)
    if first is None or n is None:
        return "one_hot needs its indices and number of classes"
    axis = literal(site.bound["axis"]) if "axis" in site.bound else -1
    if axis not in (-1, None):
        return f"axis={axis}: only the new last axis is migrated"
    for extra in ("on_value", "off_value"):
        if extra in site.bound:
            return f"{extra}= has no F.one_hot counterpart"
    if "sparse" in site.bound and literal(site.bound["sparse"]) is not False:
        return "sparse one-hot tensors have no torch counterpart here"
    expr = tools.call("torch.nn.functional.one_hot", [cst.Arg(_long(first[1])), cst.Arg(n)])
    dtype = site.bound.get("dtype")
    dt = (
        torch_dtype(tools, dtype)
        if dtype is not None and literal(dtype) is not None
        else tools.name("torch.float32")
    )
    if dt is None:
        return f"dtype={code_of(dtype)}: not a dtype name fwmigrate can map"  # type: ignore[arg-type]
    return _out(cst.Call(cst.Attribute(expr, cst.Name("to")), [cst.Arg(dt)]), site)


# ---------------------------------------------------------------------- creation and dtypes


def dtyped(tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: Perm) -> LayerOut | str:
    """Constructors with a ``dtype=``: ``"float32"`` / ``tf.float32`` become ``torch.float32``."""
    args = _mapped(tools, site, skip=("dtype",))
    if isinstance(args, str):
        return args
    out = _with_dtype(tools, site, args)
    if isinstance(out, str):
        return out
    target = site.rule.emit
    assert target is not None
    return _out(tools.call(target, out), site)


def full(tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: Perm) -> LayerOut | str:
    """``ops.full(shape, v)`` is float32 whatever v (Keras's floatx); ``tf.fill(dims, v)`` takes v's
    dtype (int32 for an int). torch.full would make an int64 tensor from an int."""
    args = _mapped(tools, site, skip=("dtype",))
    if isinstance(args, str):
        return args
    value_name = site.rule.params[1]
    v = literal(site.bound[value_name]) if value_name in site.bound else NOT_LITERAL
    if site.rule.params[0] == "dims":  # tf.fill
        if isinstance(v, bool):
            default: str | None = "torch.bool"
        elif isinstance(v, int):
            default = "torch.int32"
        elif isinstance(v, float):
            default = "torch.float32"
        else:
            default = None
            tools.note(Note(Severity.REVIEW, "tf.fill takes the dtype of its value: check torch.full's"))
    else:
        default = "torch.float32"
    out = _with_dtype(tools, site, args, default)
    if isinstance(out, str):
        return out
    return _out(tools.call("torch.full", out), site)


def arange(tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: Perm) -> LayerOut | str:
    """``ops.arange`` / ``tf.range`` with int bounds make int32 (torch: int64), float bounds float32."""
    args = _mapped(tools, site, skip=("dtype",))
    if isinstance(args, str):
        return args
    bounds = [
        literal(site.bound[p])
        for p in site.rule.params[:3]
        if p in site.bound and literal(site.bound[p]) is not None
    ]
    default: str | None = None
    if bounds and all(isinstance(b, int) and not isinstance(b, bool) for b in bounds):
        default = "torch.int32"
    elif bounds and all(_number(b) for b in bounds):
        default = "torch.float32"
    else:
        tools.note(
            Note(Severity.REVIEW, "bounds that are not literals: Keras makes int32 from ints, torch int64")
        )
    out = _with_dtype(tools, site, args, default)
    if isinstance(out, str):
        return out
    return _out(tools.call("torch.arange", out), site)


def constant(tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: Perm) -> LayerOut | str:
    """``tf.constant([1, 2])`` / ``ops.convert_to_tensor`` -> ``torch.tensor`` (int32 for ints, as TF)."""
    value = site.bound.get("value")
    if value is None:
        return "the value is missing"
    args = _mapped(tools, site, skip=("dtype",))
    if isinstance(args, str):
        return args
    v = literal(value)
    leaves: list[object] = []
    stack: list[object] = [v]
    while stack:
        item = stack.pop()
        if isinstance(item, tuple | list):
            stack.extend(item)
        else:
            leaves.append(item)
    default: str | None = None
    if (
        v is not NOT_LITERAL
        and leaves
        and all(isinstance(x, int) and not isinstance(x, bool) for x in leaves)
    ):
        default = "torch.int32"
    elif v is not NOT_LITERAL and leaves and all(_number(x) for x in leaves):
        default = "torch.float32"
    out = _with_dtype(tools, site, args, default)
    if isinstance(out, str):
        return out
    target = "torch.tensor" if v is not NOT_LITERAL else "torch.as_tensor"
    return _out(tools.call(target, out), site)


def cast(tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: Perm) -> LayerOut | str:
    """``ops.cast(x, "float32")`` / ``tf.cast(x, tf.int32)`` -> ``x.to(torch.float32)``; float to int
    truncates toward zero in both."""
    first = _first(site)
    dtype = site.bound.get("dtype")
    if first is None or dtype is None:
        return "cast needs its tensor and dtype"
    dt = torch_dtype(tools, dtype)
    if dt is None:
        return f"dtype={code_of(dtype)}: not a dtype name fwmigrate can map (float32, int32, tf.float32, ...)"
    x = first[1]
    if not isinstance(x, cst.Name | cst.Attribute | cst.Call | cst.Subscript):
        x = x.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return _out(cst.Call(cst.Attribute(x, cst.Name("to")), [cst.Arg(dt)]), site)


__all__ = [
    "arange",
    "binary",
    "cast",
    "constant",
    "dtyped",
    "expand_dims",
    "flat_cumulative",
    "flip",
    "full",
    "norm",
    "normalize",
    "one_hot",
    "pad",
    "reduce_dims",
    "roll",
    "take",
    "take_along",
    "tf_split",
    "tile",
    "top_k",
    "torch_dtype",
    "values_of",
    "where",
]
