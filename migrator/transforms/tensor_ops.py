"""Hooks for tensor operations whose meaning depends on the layout of their operands."""

from __future__ import annotations

import re
from dataclasses import replace

import libcst as cst

from migrator.engine.emitter import commas
from migrator.engine.layout import Flattened, Layout, identity, transpose_dims
from migrator.engine.site import CallSite, HookResult, Note, Tools
from migrator.transforms.common import (
    NOT_LITERAL,
    code_of,
    int_node,
    int_or_ints,
    kwarg,
    literal,
    tuple_node,
)
from migrator.types import Severity


def _operand(site: CallSite) -> tuple[cst.BaseExpression, Layout | None]:
    if "self" in site.bound:
        x = site.bound["self"]
        if x.lpar:  # `(x + 1).std()`: an argument needs no parentheses
            x = x.with_changes(lpar=[], rpar=[])
        return x, site.layouts.get("self")
    first = site.rule.params[0]
    return site.bound[first], site.layouts.get(first)


def _rest_args(site: CallSite) -> list[cst.Arg]:
    """Positional arguments after the operand (varargs methods: view(*shape), permute(*dims))."""
    args = list(site.call.args)
    if "self" not in site.bound:
        args = args[1:]
    return [a for a in args if a.keyword is None]


def _axis(layout: Layout | None, dim: int) -> int:
    if layout is None or layout.is_identity:
        return dim
    a = layout.axis(dim)
    return -1 if a == layout.rank - 1 and layout.rank > 2 else a


def _list_elements(node: cst.BaseExpression) -> list[cst.BaseExpression] | None:
    if isinstance(node, cst.List | cst.Tuple):
        return [e.value for e in node.elements if isinstance(e, cst.Element)]
    return None


def concat(site: CallSite, tools: Tools) -> HookResult | str:
    """torch.cat(tensors, dim): the axis follows the operands' layout (dim=1 on NCHW is -1 on NHWC)."""
    tensors = site.bound.get("tensors")
    if tensors is None:
        return "no tensors argument"
    dim_node = site.bound.get("dim")
    dim = literal(dim_node) if dim_node is not None else 0
    if not isinstance(dim, int):
        return "dim must be a literal int"
    elems = _list_elements(tensors)
    lays = [tools.layout_of(e) for e in elems] if elems is not None else []
    if isinstance(tensors, cst.ListComp):
        lays = [tools.layout_of(tensors.elt)]
    lay = next((x for x in lays if x is not None), None)
    if elems is not None and lay is not None:
        fixed = []
        for e, el in zip(elems, lays, strict=True):
            fixed.append(
                tools.convert(e, el, lay)
                if el is not None and el.perm != lay.perm and el.rank == lay.rank
                else e
            )
        tensors = cst.List([cst.Element(e) for e in fixed])
        tensors = tensors.with_changes(
            elements=[
                el.with_changes(comma=c) for el, c in zip(tensors.elements, _commas(len(fixed)), strict=True)
            ]
        )
    if lay is not None and lay.flattened is not None:
        return "concatenating a tensor flattened from channels-last"
    expr = tools.call("keras.ops.concatenate", [cst.Arg(tensors), kwarg("axis", int_node(_axis(lay, dim)))])
    return HookResult(expr, layout=lay)


def _commas(n: int) -> list[cst.Comma | cst.MaybeSentinel]:
    return [
        cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")) if i < n - 1 else cst.MaybeSentinel.DEFAULT
        for i in range(n)
    ]


def stack(site: CallSite, tools: Tools) -> HookResult | str:
    tensors = site.bound.get("tensors")
    if tensors is None:
        return "no tensors argument"
    dim_node = site.bound.get("dim")
    dim = literal(dim_node) if dim_node is not None else 0
    if not isinstance(dim, int):
        return "dim must be a literal int"
    elems = _list_elements(tensors)
    if isinstance(tensors, cst.ListComp):
        lays = [tools.layout_of(tensors.elt)]
    else:
        lays = [tools.layout_of(e) for e in elems] if elems is not None else []
    lay = next((x for x in lays if x is not None), None)
    if lay is None or lay.is_identity:
        rank = lay.rank + 1 if lay is not None else None
        expr = tools.call("keras.ops.stack", [cst.Arg(tensors), kwarg("axis", int_node(dim))])
        return HookResult(expr, layout=identity(rank) if rank is not None else None)
    d = dim % (lay.rank + 1)
    perm = (*(e if e < d else e + 1 for e in lay.perm), d)
    expr = tools.call("keras.ops.stack", [cst.Arg(tensors), kwarg("axis", int_node(-1))])
    return HookResult(expr, layout=Layout(perm))


def _flatten_expr(tools: Tools, x: cst.BaseExpression) -> cst.BaseExpression:
    if not isinstance(x, cst.Name):
        # never evaluate the operand twice: a stateless Flatten layer does the same reshape
        return cst.Call(func=tools.call("keras.layers.Flatten", []), args=[cst.Arg(x)])
    shape0 = cst.Subscript(
        value=tools.call("keras.ops.shape", [cst.Arg(x)]),
        slice=[cst.SubscriptElement(cst.Index(cst.Integer("0")))],
    )
    return tools.call("keras.ops.reshape", [cst.Arg(x), cst.Arg(tuple_node_expr([shape0, int_node(-1)]))])


def tuple_node_expr(items: list[cst.BaseExpression]) -> cst.Tuple:
    return cst.Tuple([cst.Element(e, comma=c) for e, c in zip(items, _commas(len(items)), strict=True)])


def _flattened(site: CallSite, tools: Tools, x: cst.BaseExpression, lay: Layout | None) -> HookResult:
    expr = _flatten_expr(tools, x)
    if lay is None or lay.is_identity or lay.rank <= 2:
        return HookResult(expr, layout=identity(2))
    return HookResult(
        expr,
        layout=Layout((0, 1), Flattened(lay.perm, site.line)),
        notes=(Note(Severity.MIGRATED, "flattened channels-last; the next Linear's kernel is permuted"),),
    )


def flatten(site: CallSite, tools: Tools) -> HookResult | str:
    """flatten(x, start_dim, end_dim): start_dim=1 flattens per sample; in channels-last order the
    element order differs, which the migration record hands to the next Linear's weight transform."""
    x, lay = _operand(site)
    start = literal(site.bound["start_dim"]) if "start_dim" in site.bound else 0
    end = literal(site.bound["end_dim"]) if "end_dim" in site.bound else -1
    if end != -1 or not isinstance(start, int):
        return "only flatten(start_dim, end_dim=-1) with a literal start_dim is supported"
    if start == 1:
        return _flattened(site, tools, x, lay)
    if start == 0:
        if lay is not None and not lay.is_identity:
            x = tools.convert(x, lay, identity(lay.rank))
        return HookResult(
            tools.call("keras.ops.reshape", [cst.Arg(x), cst.Arg(tuple_node([-1]))]),
            layout=identity(1),
        )
    return "flatten with start_dim > 1"


def _is_batch(node: cst.BaseExpression) -> bool:
    if isinstance(node, cst.Subscript) and len(node.slice) == 1:
        idx = node.slice[0].slice
        return isinstance(idx, cst.Index) and literal(idx.value) == 0
    return isinstance(node, cst.Name)


def view(site: CallSite, tools: Tools) -> HookResult | str:
    """view/reshape. (N, -1) and (-1, K) on a feature map are flattens; any other reshape of a
    permuted tensor first transposes it back to source order, so the element order is torch's."""
    x, lay = _operand(site)
    rest = _rest_args(site)
    if "shape" in site.bound and "self" not in site.bound:
        shape_node: cst.BaseExpression = site.bound["shape"]
        items = _list_elements(shape_node)
    elif len(rest) == 1 and _list_elements(rest[0].value) is not None:
        shape_node = rest[0].value
        items = _list_elements(shape_node)
    else:
        items = [a.value for a in rest]
        shape_node = tuple_node_expr(items)
    if any(a.star for a in rest):
        return "a starred shape cannot be checked statically"
    if items is not None and len(items) == 2 and lay is not None and lay.rank > 2:
        second = literal(items[1])
        first = literal(items[0])
        if (second == -1 and _is_batch(items[0])) or (first == -1 and second is not NOT_LITERAL):
            return _flattened(site, tools, x, lay)
    out_rank = len(items) if items is not None else None
    if lay is not None and not lay.is_identity:
        if lay.flattened is not None:
            return "reshaping a tensor flattened from channels-last"
        x = tools.convert(x, lay, identity(lay.rank))
    expr = tools.call("keras.ops.reshape", [cst.Arg(x), cst.Arg(shape_node)])
    return HookResult(expr, layout=identity(out_rank) if out_rank is not None else None)


def permute(site: CallSite, tools: Tools) -> HookResult | str:
    """x.permute(dims): nothing is emitted; the new order is carried in the layout, and later
    layout-sensitive operations read it."""
    x, lay = _operand(site)
    rest = _rest_args(site)
    if "dims" in site.bound and "self" not in site.bound:
        dims = int_or_ints(site.bound["dims"])
    elif len(rest) == 1:
        dims = int_or_ints(rest[0].value)
    else:
        got = [int_or_ints(a.value) for a in rest]
        dims = tuple(g for g in got if isinstance(g, int)) if all(isinstance(g, int) for g in got) else None
    if not isinstance(dims, tuple):
        return "permute dims must be literal ints"
    if lay is None:
        lay = identity(len(dims))
    if lay.flattened is not None or lay.rank != len(dims):
        return "permute of a tensor of unexpected rank"
    dims = tuple(d % len(dims) for d in dims)
    return HookResult(x, layout=lay.permuted(dims))


def transpose(site: CallSite, tools: Tools) -> HookResult | str:
    x, lay = _operand(site)
    d0, d1 = site.bound.get("dim0"), site.bound.get("dim1")
    a = literal(d0) if d0 is not None else NOT_LITERAL
    b = literal(d1) if d1 is not None else NOT_LITERAL
    if not isinstance(a, int) or not isinstance(b, int):
        return "transpose dims must be literal ints"
    if lay is None:
        rank = max(a, b, -min(a, b) - 1) + 1
        if a < 0 or b < 0:
            return "negative transpose dims on a tensor of unknown rank"
        lay = identity(max(rank, 2) if rank > 2 else 3) if rank <= 2 else identity(rank)
    if lay.flattened is not None:
        return "transpose of a flattened tensor"
    return HookResult(x, layout=lay.permuted(transpose_dims(lay.rank, a, b)))


def size(site: CallSite, tools: Tools) -> HookResult | str:
    x, lay = _operand(site)
    dim_node = site.bound.get("dim")
    shape = tools.call("keras.ops.shape", [cst.Arg(x)])
    if dim_node is None:
        tools.mark_shape(shape, x)
        return HookResult(shape)
    d = literal(dim_node)
    if not isinstance(d, int):
        if lay is not None and not lay.is_identity:
            return "size(dim) with a non-literal dim on a permuted tensor"
        d_expr: cst.BaseExpression = dim_node
    else:
        d_expr = int_node(lay.axis(d) if lay is not None and not lay.is_identity else d)
    return HookResult(cst.Subscript(value=shape, slice=[cst.SubscriptElement(cst.Index(d_expr))]))


def reduce(site: CallSite, tools: Tools) -> HookResult | str:
    """mean/sum/amax over dims, with keepdim; dims remapped, and the result layout follows."""
    x, lay = _operand(site)
    dim_node = site.bound.get("dim")
    keep_node = site.bound.get("keepdim")
    keep = literal(keep_node) if keep_node is not None else False
    if not isinstance(keep, bool):
        return "keepdim must be a literal bool"
    target = (
        site.rule.emit
        or {
            "mean": "keras.ops.mean",
            "sum": "keras.ops.sum",
            "amax": "keras.ops.max",
            "amin": "keras.ops.min",
        }[site.rule.id.rsplit(".", 1)[-1]]
    )
    args = [cst.Arg(x)]
    if dim_node is None:
        if keep:
            args.append(kwarg("keepdims", cst.Name("True")))
        out = lay if keep else (Layout(()) if lay is not None else None)
        return HookResult(tools.call(target, args), layout=out)
    dims = int_or_ints(dim_node)
    if dims is None:
        if lay is not None and not lay.is_identity:
            return "reduction over a non-literal dim of a permuted tensor"
        args.append(kwarg("axis", dim_node))
        if keep:
            args.append(kwarg("keepdims", cst.Name("True")))
        return HookResult(tools.call(target, args), layout=lay if keep else None)
    dims_t = (dims,) if isinstance(dims, int) else dims
    if lay is not None and lay.flattened is not None:
        return "reduction over a tensor flattened from channels-last"
    if lay is None or lay.is_identity:
        args.append(kwarg("axis", dim_node))
        out_lay = None if lay is None else lay.reduce(dims_t, keep)
    else:
        axes = sorted(lay.axis(d) for d in dims_t)
        ax_node = int_node(axes[0]) if isinstance(dims, int) else tuple_node(axes)
        args.append(kwarg("axis", ax_node))
        out_lay = lay.reduce(dims_t, keep)
    if keep:
        args.append(kwarg("keepdims", cst.Name("True")))
    return HookResult(tools.call(target, args), layout=out_lay)


def matmul(site: CallSite, tools: Tools) -> HookResult | str:
    """matmul contracts the last two axes: both operands go back to source order first."""
    if "self" in site.bound:
        a, la = site.bound["self"], site.layouts.get("self")
        rest = _rest_args(site)
        if len(rest) != 1:
            return "matmul takes one other operand"
        b = rest[0].value
    else:
        a, la = site.bound["input"], site.layouts.get("input")
        b = site.bound[site.rule.params[1]]  # other (matmul), mat2 (bmm)
    lb = tools.layout_of(b)
    if la is not None and not la.is_identity:
        a = tools.convert(a, la, identity(la.rank))
    if lb is not None and not lb.is_identity:
        b = tools.convert(b, lb, identity(lb.rank))
    rank = max((x.rank for x in (la, lb) if x is not None), default=None)
    return HookResult(
        tools.call("keras.ops.matmul", [cst.Arg(a), cst.Arg(b)]),
        layout=identity(rank) if rank else None,
    )


def contiguous(site: CallSite, tools: Tools) -> HookResult | str:
    x, lay = _operand(site)
    return HookResult(x, layout=lay)


def functional_pool(site: CallSite, tools: Tools) -> HookResult | str:
    """F.max_pool2d / F.avg_pool2d on channels-last tensors, padding reproduced exactly."""
    assert site.rule.rank is not None
    n = site.rule.rank - 2
    from migrator.transforms.common import per_dim

    b = site.bound
    is_max = "max" in site.rule.match[0]
    if "ceil_mode" in b and literal(b["ceil_mode"]) is not False:
        return "ceil_mode=True"
    k = per_dim(b.get("kernel_size"), n, 1)
    s = per_dim(b["stride"], n, 1) if b.get("stride") is not None and literal(b["stride"]) is not None else k
    p = per_dim(b.get("padding"), n, 0)
    if k is None or s is None or p is None:
        return "kernel_size, stride and padding must be literals"
    if not is_max and "count_include_pad" in b and literal(b["count_include_pad"]) is not True and any(p):
        return "count_include_pad=False with padding"
    x, _ = _operand(site)
    if any(p):
        widths = ", ".join(["(0, 0)", *(f"({pi}, {pi})" for pi in p), "(0, 0)"])
        fill = ', constant_values=float("-inf")' if is_max else ""
        x = tools.code(f"keras.ops.pad(X, ({widths}){fill})")
        assert isinstance(x, cst.Call)
        x = x.with_changes(
            func=tools.name("keras.ops.pad"),
            args=[x.args[0].with_changes(value=_operand(site)[0]), *x.args[1:]],
        )
    from migrator.transforms.common import value_node

    args = [cst.Arg(x), kwarg("pool_size", value_node(k)), kwarg("strides", value_node(s))]
    target = "keras.ops.max_pool" if is_max else "keras.ops.average_pool"
    return HookResult(tools.call(target, commas(args)), layout=None)


def adaptive_avg_pool_fn(site: CallSite, tools: Tools) -> HookResult | str:
    assert site.rule.rank is not None
    n = site.rule.rank - 2
    size = literal(site.bound["output_size"]) if "output_size" in site.bound else NOT_LITERAL
    if size != 1 and size != (1,) * n and size != [1] * n:
        return "only output_size=1 is supported"
    x, _ = _operand(site)
    axes = tuple(range(1, n + 1))
    expr = tools.call(
        "keras.ops.mean",
        [cst.Arg(x), kwarg("axis", tuple_node(axes)), kwarg("keepdims", cst.Name("True"))],
    )
    return HookResult(expr, layout=None)


def implicit_dim(site: CallSite, tools: Tools) -> HookResult | str:
    """softmax/log_softmax: an explicit dim is remapped; a missing one is torch's implicit choice."""
    mapped = tools.map_args(site)
    if mapped.unsupported is not None:
        return mapped.unsupported
    notes = list(mapped.notes)
    if "dim" not in site.bound:
        notes.append(
            Note(
                Severity.REVIEW,
                "no dim: torch's implicit dim (0 for 1-D/3-D, else 1) was replaced by the last axis",
            )
        )
    args = list(mapped.args)
    if "self" in site.bound:
        args.insert(0, cst.Arg(site.bound["self"]))
    assert site.rule.emit is not None
    _, lay = _operand(site)
    return HookResult(tools.call(site.rule.emit, args), layout=lay, notes=tuple(notes))


# ---------------------------------------------------------------------------------------------
# More tensor operations (rules/torch2tf/tensor_ops_*.toml). Every dim is a source dim, remapped
# through the operand's tracked layout; what cannot be mapped exactly is refused with the reason.

_FLAT = "a tensor flattened from channels-last (its element order differs)"


def _ops(tools: Tools, name: str, *args: cst.BaseExpression, **kw: cst.BaseExpression) -> cst.Call:
    """``ops.<name>(*args, **kw)`` in the file's import style."""
    return tools.call(
        f"keras.ops.{name}", [*(cst.Arg(a) for a in args), *(kwarg(k, v) for k, v in kw.items())]
    )


def _fn(tools: Tools, name: str) -> str:
    """The code text of ``keras.ops.<name>`` in the file's import style (for composite code)."""
    return code_of(tools.name(f"keras.ops.{name}"))


def _paren(node: cst.BaseExpression) -> cst.BaseExpression:
    compound = cst.BinaryOperation | cst.UnaryOperation | cst.Comparison | cst.BooleanOperation
    if isinstance(node, compound) and not node.lpar:
        return node.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return node


def _precedence(node: cst.BaseExpression) -> int:
    """Python's binding strength of an expression's top operator (atoms bind tightest)."""
    if node.lpar:
        return 9
    if isinstance(node, cst.BinaryOperation):
        op = node.operator
        if isinstance(op, cst.Power):
            return 7
        if isinstance(op, cst.Multiply | cst.Divide | cst.FloorDivide | cst.Modulo | cst.MatrixMultiply):
            return 5
        if isinstance(op, cst.Add | cst.Subtract):
            return 4
        return 3
    if isinstance(node, cst.UnaryOperation):
        return 6
    if isinstance(node, cst.Comparison | cst.BooleanOperation | cst.IfExp | cst.Lambda):
        return 1
    return 9


def _bin(left: cst.BaseExpression, op: cst.BaseBinaryOp, right: cst.BaseExpression) -> cst.BinaryOperation:
    """``left op right`` with parentheses only where Python's precedence needs them."""
    space = cst.SimpleWhitespace(" ")
    p = _precedence(cst.BinaryOperation(left=cst.Name("a"), operator=op, right=cst.Name("b")))
    power = isinstance(op, cst.Power)
    if _precedence(left) < p or (power and _precedence(left) <= p):
        left = _paren(left)
    if _precedence(right) < p or (not power and _precedence(right) == p):
        right = _paren(right)
    return cst.BinaryOperation(
        left=left,
        operator=op.with_changes(whitespace_before=space, whitespace_after=space),
        right=right,
    )


def _simple(node: cst.BaseExpression) -> bool:
    """A name or attribute chain: reading it twice computes nothing twice."""
    while isinstance(node, cst.Attribute):
        node = node.value
    return isinstance(node, cst.Name)


def _reusable(node: cst.BaseExpression, tools: Tools) -> bool:
    """Whether the operand may be written twice: a name or attribute chain, a literal, or keras.ops
    calls, arithmetic and indexing of those (pure: the copy recomputes the same value). A layer call
    or any other call is not."""
    if _simple(node) or literal(node) is not NOT_LITERAL:
        return True
    if isinstance(node, cst.Call):
        prefix = _fn(tools, "abs")[: -len("abs")]
        return code_of(node.func).startswith(prefix) and all(
            _reusable(a.value, tools) for a in node.args if not a.star
        )
    if isinstance(node, cst.Subscript):
        return _reusable(node.value, tools) and all(
            _reusable(e.slice.value, tools) if isinstance(e.slice, cst.Index) else True for e in node.slice
        )
    if isinstance(node, cst.BinaryOperation):
        return _reusable(node.left, tools) and _reusable(node.right, tools)
    if isinstance(node, cst.UnaryOperation):
        return _reusable(node.expression, tools)
    if isinstance(node, cst.Comparison):
        return _reusable(node.left, tools) and all(_reusable(c.comparator, tools) for c in node.comparisons)
    return False


_TWICE = Note(Severity.MIGRATED, "the operand expression is written twice (computed twice)")
_TWICE_REVIEW = Note(Severity.REVIEW, "the operand is computed twice (for the values and for the indices)")


def _twice(x: cst.BaseExpression, tools: Tools) -> tuple[Note, ...]:
    """The note for an operand written twice: none for a name, a review when it is not pure."""
    if _simple(x):
        return ()
    return (_TWICE,) if _reusable(x, tools) else (_TWICE_REVIEW,)


def _permuted(lay: Layout | None) -> bool:
    return lay is not None and not lay.is_identity


def _dims_of(site: CallSite, name: str = "dim") -> object:
    """The dims argument: an int, a tuple of ints, None (absent or None), or NOT_LITERAL."""
    node = site.bound.get(name)
    if node is None or literal(node) is None:
        return None
    got = int_or_ints(node)
    return got if got is not None else NOT_LITERAL


def _axes(lay: Layout | None, dims: int | tuple[int, ...]) -> cst.BaseExpression:
    """The target axis (or sorted axes) holding source ``dims``."""
    if isinstance(dims, int):
        return int_node(_axis(lay, dims))
    if lay is None or lay.is_identity:
        return tuple_node(dims)
    return tuple_node(sorted(lay.axis(d) for d in dims))


def _reduced(lay: Layout | None, dims: int | tuple[int, ...] | None, keep: bool) -> Layout | None:
    """The layout after reducing ``dims`` (None: all) of a tensor in ``lay``."""
    if lay is None:
        return None
    if dims is None:
        return lay if keep else Layout(())
    return lay.reduce((dims,) if isinstance(dims, int) else dims, keep)


def _keep(site: CallSite, name: str = "keepdim") -> bool | None:
    node = site.bound.get(name)
    v = literal(node) if node is not None else False
    return v if isinstance(v, bool) else None


def _reduction_kw(
    site: CallSite, lay: Layout | None, dims: object, what: str
) -> tuple[bool, dict[str, cst.BaseExpression]] | str:
    """``keepdim`` and the ``axis``/``keepdims`` keywords of a reduction over ``dims`` (an int, a
    tuple, None for all, or NOT_LITERAL as :func:`_dims_of` gives it), or why it cannot migrate."""
    keep = _keep(site)
    if keep is None:
        return "keepdim must be a literal bool"
    if dims is NOT_LITERAL:
        return "dim must be a literal int or tuple of ints"
    if lay is not None and lay.flattened is not None and dims is not None:
        return f"{what} over a dim of {_FLAT}"
    kw: dict[str, cst.BaseExpression] = {}
    if dims is not None:
        assert isinstance(dims, int | tuple)
        kw["axis"] = _axes(lay, dims)
    if keep:
        kw["keepdims"] = cst.Name("True")
    return keep, kw


def _aligned(
    site: CallSite, tools: Tools, names: list[str]
) -> tuple[dict[str, cst.BaseExpression], Layout | None, list[Note]] | str:
    """Operands ``names`` brought into one layout (the highest-rank tracked operand's), as ``a + b``
    is: (operands, their layout, notes) or why they cannot be."""
    lays = {n: (site.layouts.get(n) if n in site.layouts else tools.layout_of(site.bound[n])) for n in names}
    ref: Layout | None = None
    for lay in lays.values():
        if lay is not None and (ref is None or lay.rank > ref.rank):
            ref = lay
    out = {n: site.bound[n] for n in names}
    notes: list[Note] = []
    if ref is None:
        return out, None, notes
    for n, lay in lays.items():
        if lay is None or lay is ref or (lay.perm == ref.perm and lay.flattened == ref.flattened):
            continue
        if lay.rank == ref.rank:
            if lay.flattened is not None or ref.flattened is not None:
                return f"mixing {_FLAT} with a tensor in another layout"
            out[n] = tools.convert(out[n], lay, ref)
        elif lay.rank > 0 and _permuted(ref):
            notes.append(
                Note(
                    Severity.REVIEW,
                    f"a rank-{lay.rank} tensor is broadcast against a permuted (channels-last) tensor: "
                    "torch aligns it with the source's trailing dims",
                )
            )
    return out, ref, notes


def _operands(site: CallSite) -> list[str]:
    """The tensor operands of an elementwise rule: the receiver and the positional arguments."""
    names = ["self"] if "self" in site.bound else []
    return names + [
        p
        for p in site.rule.params
        if p in site.bound and p in site.rule.args and site.rule.args[p].positional
    ]


def elementwise(site: CallSite, tools: Tools) -> HookResult | str:
    """Elementwise ops of several tensors (maximum, pow, comparisons, logical ops): the operands are
    brought into one layout first, and the result has it."""
    got = _aligned(site, tools, _operands(site))
    if isinstance(got, str):
        return got
    operands, lay, notes = got
    mapped = tools.map_args(replace(site, bound={**site.bound, **operands}))
    if mapped.unsupported is not None:
        return mapped.unsupported
    args = list(mapped.args)
    if "self" in operands:
        args.insert(0, cst.Arg(operands["self"]))
    assert site.rule.emit is not None
    return HookResult(tools.call(site.rule.emit, args), layout=lay, notes=(*mapped.notes, *notes))


def where(site: CallSite, tools: Tools) -> HookResult | str:
    """torch.where(c, x, y) / x.where(c, y) becomes ops.where(c, x, y), the three in one layout."""
    b = dict(site.bound)
    if "self" in b:  # x.where(condition, y)
        b["input"] = b.pop("self")
    if "input" not in b or "other" not in b:
        return "torch.where(condition) alone returns index tuples (use torch.nonzero explicitly)"
    lays = dict(site.layouts)
    if "self" in lays:
        lays["input"] = lays.pop("self")
    got = _aligned(replace(site, bound=b, layouts=lays), tools, ["condition", "input", "other"])
    if isinstance(got, str):
        return got
    ops_, lay, notes = got
    expr = _ops(tools, "where", ops_["condition"], ops_["input"], ops_["other"])
    return HookResult(expr, layout=lay, notes=tuple(notes))


def masked_fill(site: CallSite, tools: Tools) -> HookResult | str:
    """x.masked_fill(mask, v) becomes ops.where(mask, v, x), the mask in x's layout."""
    x_name = "self" if "self" in site.bound else "input"
    if "mask" not in site.bound or "value" not in site.bound:
        return "masked_fill needs a mask and a value"
    got = _aligned(site, tools, [x_name, "mask"])
    if isinstance(got, str):
        return got
    ops_, lay, notes = got
    expr = _ops(tools, "where", ops_["mask"], site.bound["value"], ops_[x_name])
    return HookResult(expr, layout=lay, notes=tuple(notes))


def clamp(site: CallSite, tools: Tools) -> HookResult | str:
    """clamp(x, min, max) is min(max(x, lo), hi) in torch (hi wins when lo > hi). ops.clip when both
    bounds are literals with lo <= hi, else the nested ops.maximum / ops.minimum; one bound alone is
    ops.maximum or ops.minimum."""
    x_name = "self" if "self" in site.bound else "input"
    names = [x_name] + [n for n in ("min", "max") if n in site.bound and literal(site.bound[n]) is not None]
    if len(names) == 1:
        return "clamp needs min or max"
    got = _aligned(site, tools, names)
    if isinstance(got, str):
        return got
    o, lay, notes = got
    lo, hi = o.get("min"), o.get("max")
    x = o[x_name]
    if lo is not None and hi is not None:
        a, b = literal(lo), literal(hi)
        if isinstance(a, int | float) and isinstance(b, int | float) and a <= b:
            expr: cst.BaseExpression = _ops(tools, "clip", x, lo, hi)
        else:
            expr = _ops(tools, "minimum", _ops(tools, "maximum", x, lo), hi)
    elif lo is not None:
        expr = _ops(tools, "maximum", x, lo)
    else:
        assert hi is not None
        expr = _ops(tools, "minimum", x, hi)
    return HookResult(expr, layout=lay, notes=tuple(notes))


def arg_reduce(site: CallSite, tools: Tools) -> HookResult | str:
    """argmax/argmin. Without a dim torch indexes the flattened *source* tensor, so a permuted
    operand goes back to source order first. Indices are int32 in Keras (int64 in torch)."""
    x, lay = _operand(site)
    target = "argmax" if site.rule.id.endswith("argmax") else "argmin"
    keep = _keep(site)
    if keep is None:
        return "keepdim must be a literal bool"
    dims = _dims_of(site)
    if lay is not None and lay.flattened is not None:
        return f"{target} of {_FLAT}"
    kw: dict[str, cst.BaseExpression] = {}
    if dims is None:
        if _permuted(lay):
            assert lay is not None
            x = tools.convert(x, lay, identity(lay.rank))
            lay = identity(lay.rank)
        if keep:
            kw["keepdims"] = cst.Name("True")
        return HookResult(_ops(tools, target, x, **kw), layout=_reduced(lay, None, keep))
    if not isinstance(dims, int):
        if _permuted(lay) or dims is not NOT_LITERAL:
            return "dim must be a literal int"
        kw["axis"] = site.bound["dim"]
        if keep:
            kw["keepdims"] = cst.Name("True")
        return HookResult(_ops(tools, target, x, **kw), layout=None)
    kw["axis"] = _axes(lay, dims)
    if keep:
        kw["keepdims"] = cst.Name("True")
    return HookResult(_ops(tools, target, x, **kw), layout=_reduced(lay, dims, keep))


def max_min(site: CallSite, tools: Tools) -> HookResult | str:
    """torch.max / torch.min in their three forms: no dim (the reduction, ops.max), a dim ((values,
    indices): ops.max and ops.argmax over the remapped axis; ties resolve to the first index in
    both), and a tensor (ops.maximum, the operands in one layout)."""
    x, lay = _operand(site)
    is_max = site.rule.id.endswith("max")
    reduce_fn, arg_fn, pair_fn = ("max", "argmax", "maximum") if is_max else ("min", "argmin", "minimum")
    x_name = "self" if "self" in site.bound else "input"
    other = site.bound.get("other")
    dim_node = site.bound.get("dim")
    if other is None and dim_node is not None:
        d = literal(dim_node)
        if d is NOT_LITERAL and tools.layout_of(dim_node) is not None:
            other, dim_node = dim_node, None  # torch.max(x, y): y is a tensor
        elif d is NOT_LITERAL or isinstance(d, bool) or not isinstance(d, int):
            return (
                "the second argument is neither a literal dim nor a tracked tensor "
                "(write dim= or torch.maximum)"
            )
    if other is not None:
        b = {**site.bound, "other": other}
        got = _aligned(replace(site, bound=b), tools, [x_name, "other"])
        if isinstance(got, str):
            return got
        o, out_lay, notes = got
        return HookResult(_ops(tools, pair_fn, o[x_name], o["other"]), layout=out_lay, notes=tuple(notes))
    keep = _keep(site)
    if keep is None:
        return "keepdim must be a literal bool"
    if dim_node is None:
        return HookResult(_ops(tools, reduce_fn, x), layout=_reduced(lay, None, False))
    d = literal(dim_node)
    assert isinstance(d, int)
    if lay is not None and lay.flattened is not None:
        return f"{reduce_fn} over a dim of {_FLAT}"
    kw: dict[str, cst.BaseExpression] = {"axis": _axes(lay, d)}
    if keep:
        kw["keepdims"] = cst.Name("True")
    values = _ops(tools, reduce_fn, x, **kw)
    indices = _ops(tools, arg_fn, x, **kw)
    return HookResult(
        tuple_node_expr([values, indices]), layout=_reduced(lay, d, keep), notes=_twice(x, tools)
    )


def _count(tools: Tools, x: cst.BaseExpression, lay: Layout | None, dims: tuple[int, ...] | None) -> str:
    """Code for the number of elements reduced over source ``dims`` (None: all) of ``x``. The batch
    dim is dynamic under tf.function, so a count that includes it is read as a float tensor."""
    xs = code_of(x)
    cast = _fn(tools, "cast")
    if dims is None:
        return f"{cast}({_fn(tools, 'size')}({xs}), {xs}.dtype)"
    n = " * ".join(f"{_fn(tools, 'shape')}({xs})[{_axis(lay, d)}]" for d in dims)
    batch = any((d % lay.rank if lay is not None else d) == 0 for d in dims)
    return f"{cast}({n}, {xs}.dtype)" if batch else n


def std_var(site: CallSite, tools: Tools) -> HookResult | str:
    """torch.std / var are unbiased by default (correction=1); keras.ops.std / var are biased. The
    biased value is scaled by n / (n - correction), n the number of reduced elements read off
    ``ops.shape`` (so the operand must be a name: it is read twice)."""
    x, lay = _operand(site)
    name = "std" if site.rule.id.endswith("std") else "var"
    dims = _dims_of(site)
    unbiased_node = site.bound.get("unbiased")
    if isinstance(literal(site.bound["dim"]) if "dim" in site.bound else None, bool):
        unbiased_node, dims = site.bound["dim"], None  # torch.std(x, False): the old (input, unbiased) form
    corr: float = 1
    if "correction" in site.bound:
        c = literal(site.bound["correction"])
        if not isinstance(c, int | float) or isinstance(c, bool):
            return "correction must be a literal number"
        corr = c
    elif unbiased_node is not None:
        u = literal(unbiased_node)
        if not isinstance(u, bool):
            return "unbiased must be a literal bool"
        corr = 1 if u else 0
    got = _reduction_kw(site, lay, dims, name)
    if isinstance(got, str):
        return got
    keep, kw = got
    dims_t: tuple[int, ...] | None = None
    if dims is not None:
        assert isinstance(dims, int | tuple)
        dims_t = (dims,) if isinstance(dims, int) else dims
    biased = _ops(tools, name, x, **kw)
    out_lay = _reduced(lay, dims_t, keep)
    if corr == 0:
        return HookResult(biased, layout=out_lay)
    if not _reusable(x, tools):
        return f"unbiased {name} needs the operand's size: assign the operand to a variable first"
    n = _count(tools, x, lay, dims_t)
    c = repr(corr) if not float(corr).is_integer() else str(int(corr))
    factor = f"(1 - {c} / ({n}))" if " * " in n else f"(1 - {c} / {n})"
    if name == "std":
        factor += " ** 0.5"
    expr = _bin(biased, cst.Divide(), cst.parse_expression(factor))
    note = Note(Severity.MIGRATED, f"ops.{name} is biased: scaled to correction={c}")
    return HookResult(expr, layout=out_lay, notes=(note, *_twice(x, tools)))


def norm(site: CallSite, tools: Tools) -> HookResult | str:
    """torch.norm(x, p, dim) / vector_norm: the vector p-norm over the dims (all of them together, even
    for a 2-tuple: keras.ops.norm would take a matrix norm there), written out with ops.sum."""
    x, lay = _operand(site)
    p_name = "ord" if "ord" in site.rule.params else "p"
    p_node = site.bound.get(p_name)
    p = literal(p_node) if p_node is not None else 2
    if p in ("fro", None):
        p = 2
    if isinstance(p, bool) or not isinstance(p, int | float) or p <= 0:
        return f"{p_name} must be 'fro' or a literal positive number"
    if "dtype" in site.bound and literal(site.bound["dtype"]) is not None:
        return "dtype= (cast the operand first)"
    dims = _dims_of(site)
    got = _reduction_kw(site, lay, dims, "norm")
    if isinstance(got, str):
        return got
    keep, kw = got
    if p == 2:
        expr: cst.BaseExpression = _ops(tools, "sqrt", _ops(tools, "sum", _ops(tools, "square", x), **kw))
    elif p == 1:
        expr = _ops(tools, "sum", _ops(tools, "abs", x), **kw)
    else:
        pn = cst.parse_expression(repr(p))
        inner = _ops(tools, "sum", _ops(tools, "power", _ops(tools, "abs", x), pn), **kw)
        expr = _ops(tools, "power", inner, _bin(cst.Float("1.0"), cst.Divide(), pn))
    dims_t = None if dims is None else ((dims,) if isinstance(dims, int) else dims)
    assert dims_t is None or isinstance(dims_t, tuple)
    return HookResult(expr, layout=_reduced(lay, dims_t, keep))


def normalize(site: CallSite, tools: Tools) -> HookResult | str:
    """F.normalize(x, p, dim, eps) is x / max(||x||_p, eps): ops.normalize with the same epsilon
    (keras's default is 1e-7, torch's 1e-12) and the dim remapped (default 1: channels)."""
    x, lay = _operand(site)
    p_node = site.bound.get("p")
    p = literal(p_node) if p_node is not None else 2
    if isinstance(p, bool) or not isinstance(p, int | float) or p < 1 or not float(p).is_integer():
        return "p must be a literal integer >= 1 (ops.normalize takes an int order)"
    d = literal(site.bound["dim"]) if "dim" in site.bound else 1
    if not isinstance(d, int) or isinstance(d, bool):
        return "dim must be a literal int"
    if lay is not None and lay.flattened is not None:
        return f"normalize of {_FLAT}"
    kw: dict[str, cst.BaseExpression] = {"axis": int_node(_axis(lay, d))}
    if int(p) != 2:
        kw["order"] = int_node(int(p))
    kw["epsilon"] = site.bound.get("eps", cst.Float("1e-12"))
    return HookResult(_ops(tools, "normalize", x, **kw), layout=lay)


def split(site: CallSite, tools: Tools) -> HookResult | str:
    """torch.split takes a chunk SIZE (or a list of sizes), torch.chunk a COUNT; ops.split takes a
    count or split indices. split(x, s) becomes ops.split(x, ops.shape(x)[axis] // s, axis),
    split(x, [a, b]) the indices [a], chunk(x, k) ops.split(x, k, axis)."""
    x, lay = _operand(site)
    is_chunk = site.rule.id.endswith("chunk")
    size_name = "chunks" if is_chunk else "split_size_or_sections"
    size = site.bound.get(size_name, site.bound.get("split_size"))
    if size is None:
        return f"{size_name} is missing"
    if isinstance(literal(size), str):
        return "a string split (str.split), not a tensor op"
    d = literal(site.bound["dim"]) if "dim" in site.bound else 0
    if not isinstance(d, int) or isinstance(d, bool):
        return "dim must be a literal int"
    if lay is not None and lay.flattened is not None:
        return f"split of {_FLAT}"
    axis = _axis(lay, d)
    s = literal(size)
    if is_chunk:
        parts: cst.BaseExpression = size
    elif isinstance(s, list | tuple):
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in s):
            return "split sizes must be literal ints"
        ends = [sum(s[: i + 1]) for i in range(len(s) - 1)]
        parts = cst.List(
            [
                cst.Element(e, comma=c)
                for e, c in zip([int_node(v) for v in ends], _commas(len(ends)), strict=True)
            ]
        )
    else:
        if not _reusable(x, tools):
            return "split by chunk size needs the operand's size: assign the operand to a variable first"
        shape = cst.Subscript(
            value=_ops(tools, "shape", x), slice=[cst.SubscriptElement(cst.Index(int_node(axis)))]
        )
        parts = _bin(shape, cst.FloorDivide(), size)
    notes = _twice(x, tools) if not is_chunk and not isinstance(s, list | tuple) else ()
    return HookResult(_ops(tools, "split", x, parts, axis=int_node(axis)), layout=lay, notes=notes)


def unbind(site: CallSite, tools: Tools) -> HookResult | str:
    x, lay = _operand(site)
    d = literal(site.bound["dim"]) if "dim" in site.bound else 0
    if not isinstance(d, int) or isinstance(d, bool):
        return "dim must be a literal int"
    if lay is not None and lay.flattened is not None:
        return f"unbind of {_FLAT}"
    return HookResult(_ops(tools, "unstack", x, axis=int_node(_axis(lay, d))), layout=_reduced(lay, d, False))


def squeeze(site: CallSite, tools: Tools) -> HookResult | str:
    """squeeze(d) becomes ops.squeeze(x, axis) on the remapped axis (ops.squeeze raises where torch's
    squeeze of a dim that is not 1 is a no-op). Without a dim, which dims go is known only at run
    time, so a permuted operand goes back to source order first."""
    x, lay = _operand(site)
    dims = _dims_of(site)
    if lay is not None and lay.flattened is not None:
        return f"squeeze of {_FLAT}"
    if dims is None:
        if _permuted(lay):
            assert lay is not None
            x = tools.convert(x, lay, identity(lay.rank))
        return HookResult(_ops(tools, "squeeze", x), layout=None)
    if dims is NOT_LITERAL:
        if _permuted(lay):
            return "dim must be a literal int on a permuted tensor"
        return HookResult(_ops(tools, "squeeze", x, axis=site.bound["dim"]), layout=None)
    assert isinstance(dims, int | tuple)
    note = Note(Severity.MIGRATED, "ops.squeeze raises where torch leaves a dim that is not 1")
    return HookResult(
        _ops(tools, "squeeze", x, axis=_axes(lay, dims)),
        layout=_reduced(lay, dims if isinstance(dims, tuple) else (dims,), False),
        notes=(note,),
    )


def unsqueeze(site: CallSite, tools: Tools) -> HookResult | str:
    """unsqueeze(d) becomes ops.expand_dims. On a permuted tensor the new axis goes just before the
    target axis holding source dim d (last for d = rank), and the layout records it."""
    x, lay = _operand(site)
    d = literal(site.bound["dim"]) if "dim" in site.bound else NOT_LITERAL
    if not isinstance(d, int) or isinstance(d, bool):
        if _permuted(lay) or "dim" not in site.bound:
            return "dim must be a literal int"
        return HookResult(_ops(tools, "expand_dims", x, site.bound["dim"]), layout=None)
    if lay is None:
        return HookResult(_ops(tools, "expand_dims", x, int_node(d)), layout=None)
    if lay.flattened is not None:
        return f"unsqueeze of {_FLAT}"
    r = lay.rank
    dd = d % (r + 1)
    if lay.is_identity:
        return HookResult(_ops(tools, "expand_dims", x, int_node(d)), layout=identity(r + 1))
    t = lay.perm.index(dd) if dd < r else r
    shifted = [p + 1 if p >= dd else p for p in lay.perm]
    perm = (*shifted[:t], dd, *shifted[t:])
    return HookResult(_ops(tools, "expand_dims", x, int_node(t if t < r else -1)), layout=Layout(perm))


def _sizes(site: CallSite, name: str) -> list[cst.BaseExpression] | None:
    """Sizes given as varargs (x.repeat(1, 2)) or one sequence (x.repeat((1, 2)), torch.tile(x, dims));
    None when they are not written out (a variable holding a shape)."""
    if name in site.bound:
        return _list_elements(site.bound[name])
    rest = _rest_args(site)
    if any(a.star for a in rest):
        return None
    if len(rest) == 1 and _list_elements(rest[0].value) is not None:
        return _list_elements(rest[0].value)
    if len(rest) == 1 and not isinstance(literal(rest[0].value), int):
        return None
    return [a.value for a in rest]


def _lead(lay: Layout, k: int) -> Layout:
    """``lay`` with ``k`` new leading source dims, held as leading target axes too."""
    return Layout((*range(k), *(p + k for p in lay.perm)))


def repeat(site: CallSite, tools: Tools) -> HookResult | str:
    """x.repeat(*sizes) and torch.tile(x, dims) are ops.tile (ops.repeat is repeat_interleave); the
    repetition counts follow the layout, extra leading counts add leading dims as in torch."""
    x, lay = _operand(site)
    is_tile = site.rule.id.endswith("tile")
    sizes = _sizes(site, "dims" if is_tile else "sizes")
    if sizes is None:
        return "the repetition counts must be given one by one or as a literal tuple"
    if lay is not None and lay.flattened is not None:
        return f"tiling {_FLAT}"
    if not _permuted(lay):
        out = None if lay is None else identity(max(lay.rank, len(sizes)))
        return HookResult(_ops(tools, "tile", x, _tuple_of(sizes)), layout=out)
    assert lay is not None
    r = lay.rank
    if is_tile and len(sizes) < r:
        sizes = [cst.Integer("1")] * (r - len(sizes)) + sizes
    if len(sizes) < r:
        return "fewer repetition counts than dims"
    k = len(sizes) - r
    reps = sizes[:k] + [sizes[k + p] for p in lay.perm]
    return HookResult(_ops(tools, "tile", x, _tuple_of(reps)), layout=_lead(lay, k))


def _tuple_of(items: list[cst.BaseExpression]) -> cst.Tuple:
    elems = [cst.Element(e, comma=c) for e, c in zip(items, _commas(len(items)), strict=True)]
    if len(elems) == 1:
        elems = [elems[0].with_changes(comma=cst.Comma())]
    return cst.Tuple(elems)


def expand(site: CallSite, tools: Tools) -> HookResult | str:
    """x.expand(*sizes) / torch.broadcast_to(x, shape) become ops.broadcast_to; a -1 keeps the
    operand's size (read off ops.shape, so the operand must be a name), sizes follow the layout."""
    x, lay = _operand(site)
    sizes = _sizes(site, "size" if "size" in site.rule.params else "shape")
    if sizes is None:
        return "the sizes must be given one by one or as a literal tuple"
    if lay is not None and lay.flattened is not None:
        return f"expanding {_FLAT}"
    keep = [i for i, s in enumerate(sizes) if literal(s) == -1]
    if keep and not _reusable(x, tools):
        return "a -1 size needs the operand's shape: assign the operand to a variable first"
    notes = _twice(x, tools) if keep else ()

    def dim_size(target_axis: int) -> cst.BaseExpression:
        return cst.Subscript(
            value=_ops(tools, "shape", x), slice=[cst.SubscriptElement(cst.Index(int_node(target_axis)))]
        )

    n = len(sizes)
    if not _permuted(lay):
        shape = [dim_size(i - n) if i in keep else s for i, s in enumerate(sizes)]
        out = None if lay is None else identity(max(lay.rank, n))
        return HookResult(_ops(tools, "broadcast_to", x, _tuple_of(shape)), layout=out, notes=notes)
    assert lay is not None
    r = lay.rank
    if n < r:
        return "fewer sizes than dims"
    k = n - r
    target = sizes[:k] + [dim_size(t) if k + p in keep else sizes[k + p] for t, p in enumerate(lay.perm)]
    return HookResult(_ops(tools, "broadcast_to", x, _tuple_of(target)), layout=_lead(lay, k), notes=notes)


def expand_as(site: CallSite, tools: Tools) -> HookResult | str:
    """x.expand_as(y) becomes ops.broadcast_to(x, ops.shape(y)), x in y's layout."""
    x, lx = _operand(site)
    other = site.bound.get("other")
    if other is None:
        return "expand_as needs the other tensor"
    lo = tools.layout_of(other)
    if _permuted(lo):
        assert lo is not None
        if lx is None or lx.rank != lo.rank:
            return "the operand's layout is not known against a permuted (channels-last) target shape"
        if lx.perm != lo.perm:
            if lx.flattened is not None or lo.flattened is not None:
                return f"expanding {_FLAT}"
            x = tools.convert(x, lx, lo)
    elif _permuted(lx):
        assert lx is not None
        if lo is None or lo.rank != lx.rank:
            return "a permuted operand expanded to a shape whose layout is not known"
        x = tools.convert(x, lx, lo)
    return HookResult(_ops(tools, "broadcast_to", x, _ops(tools, "shape", other)), layout=lo or lx)


def repeat_interleave(site: CallSite, tools: Tools) -> HookResult | str:
    """repeat_interleave is ops.repeat; without a dim torch flattens in source order first."""
    x, lay = _operand(site)
    reps = site.bound.get("repeats")
    if reps is None:
        return "torch.repeat_interleave(repeats) alone (the index form) has no ops equivalent"
    d = literal(site.bound["dim"]) if "dim" in site.bound else None
    if lay is not None and lay.flattened is not None:
        return f"repeat_interleave of {_FLAT}"
    if d is None:
        if _permuted(lay):
            assert lay is not None
            x = tools.convert(x, lay, identity(lay.rank))
        return HookResult(_ops(tools, "repeat", x, reps), layout=identity(1))
    if not isinstance(d, int) or isinstance(d, bool):
        return "dim must be a literal int"
    return HookResult(_ops(tools, "repeat", x, reps, axis=int_node(_axis(lay, d))), layout=lay)


def roll(site: CallSite, tools: Tools) -> HookResult | str:
    """roll(x, shifts, dims): each dim remapped (in order, matching its shift); without dims torch
    rolls the flattened source tensor, so a permuted operand goes back to source order first."""
    x, lay = _operand(site)
    shifts = site.bound.get("shifts")
    if shifts is None:
        return "shifts is missing"
    if lay is not None and lay.flattened is not None:
        return f"roll of {_FLAT}"
    dims = _dims_of(site, "dims")
    if dims is None:
        if _permuted(lay):
            assert lay is not None
            x = tools.convert(x, lay, identity(lay.rank))
            lay = identity(lay.rank)
        return HookResult(_ops(tools, "roll", x, shifts), layout=lay)
    if dims is NOT_LITERAL:
        return "dims must be literal ints"
    if isinstance(dims, int):
        axis: cst.BaseExpression = int_node(_axis(lay, dims))
    else:
        assert isinstance(dims, tuple)
        axis = tuple_node([_axis(lay, d) for d in dims])
    return HookResult(_ops(tools, "roll", x, shifts, axis=axis), layout=lay)


def flip(site: CallSite, tools: Tools) -> HookResult | str:
    """flip(x, dims) becomes ops.flip(x, axis) with the dims remapped."""
    x, lay = _operand(site)
    if "dims" in site.bound:
        dims = int_or_ints(site.bound["dims"])
    else:
        got = [int_or_ints(a.value) for a in _rest_args(site)]
        ints = [g for g in got if isinstance(g, int)]
        dims = tuple(ints) if got and len(ints) == len(got) else None
        if len(got) == 1:
            dims = got[0]
    if dims is None:
        return "dims must be literal ints"
    if lay is not None and lay.flattened is not None:
        return f"flip of {_FLAT}"
    return HookResult(_ops(tools, "flip", x, axis=_axes(lay, dims)), layout=lay)


def triangle(site: CallSite, tools: Tools) -> HookResult | str:
    """tril / triu act on the last two dims: an operand whose last two target axes are not the
    source's last two goes back to source order first."""
    x, lay = _operand(site)
    name = "tril" if site.rule.id.endswith("tril") else "triu"
    if lay is not None and lay.flattened is not None:
        return f"{name} of {_FLAT}"
    if lay is not None and lay.perm[-2:] != (lay.rank - 2, lay.rank - 1):
        x = tools.convert(x, lay, identity(lay.rank))
        lay = identity(lay.rank)
    kw = {}
    if "diagonal" in site.bound and literal(site.bound["diagonal"]) != 0:
        kw["k"] = site.bound["diagonal"]
    return HookResult(_ops(tools, name, x, **kw), layout=lay)


def pad(site: CallSite, tools: Tools) -> HookResult | str:
    """F.pad's pairs run from the LAST source dim backwards; ops.pad takes one pair per target axis.
    Constant (value) and reflect padding; the rank must be known to write every pair."""
    x, lay = _operand(site)
    widths = literal(site.bound["pad"]) if "pad" in site.bound else NOT_LITERAL
    if (
        not isinstance(widths, tuple | list)
        or len(widths) % 2
        or not all(isinstance(w, int) and not isinstance(w, bool) for w in widths)
    ):
        return "pad must be a literal tuple of ints of even length"
    if any(w < 0 for w in widths):
        return "negative padding (cropping)"
    mode = literal(site.bound["mode"]) if "mode" in site.bound else "constant"
    if mode not in ("constant", "reflect"):
        return (
            f"mode={mode!r}: only 'constant' and 'reflect' padding map exactly (TF has no edge/wrap padding)"
        )
    if lay is None:
        return "the rank of the operand is not known here (ops.pad needs a pair for every axis)"
    if lay.flattened is not None:
        return f"padding {_FLAT}"
    r = lay.rank
    if len(widths) // 2 > r:
        return "more padding pairs than dims"
    src = [(0, 0)] * r
    for i in range(len(widths) // 2):
        src[r - 1 - i] = (widths[2 * i], widths[2 * i + 1])
    target = [src[p] for p in lay.perm]
    pairs = cst.parse_expression(
        "(" + ", ".join(f"({a}, {b})" for a, b in target) + ("," if r == 1 else "") + ")"
    )
    kw: dict[str, cst.BaseExpression] = {}
    if mode == "reflect":
        kw["mode"] = cst.SimpleString('"reflect"')
    value = site.bound.get("value")
    if value is not None and literal(value) not in (None, 0, 0.0):
        if mode != "constant":
            return "value= with a non-constant mode"
        kw["constant_values"] = value
    return HookResult(_ops(tools, "pad", x, pairs, **kw), layout=lay)


def gather(site: CallSite, tools: Tools) -> HookResult | str:
    """torch.gather(x, dim, index) is ops.take_along_axis(x, index, axis) (tf.gather is index_select);
    the index must be in x's layout."""
    x, lay = _operand(site)
    index = site.bound.get("index")
    d = literal(site.bound["dim"]) if "dim" in site.bound else NOT_LITERAL
    if index is None or not isinstance(d, int) or isinstance(d, bool):
        return "gather needs a literal int dim and an index"
    li = tools.layout_of(index)
    if (lay is not None and lay.flattened is not None) or (li is not None and li.flattened is not None):
        return f"gather from {_FLAT}"
    if _permuted(lay):
        assert lay is not None
        if li is None or li.rank != lay.rank:
            return "the index's layout is not known, and the operand is permuted (channels-last)"
        if li.perm != lay.perm:
            index = tools.convert(index, li, lay)
    elif _permuted(li):
        assert li is not None
        index = tools.convert(index, li, identity(li.rank))
        lay = identity(li.rank)
    out = lay if lay is not None else li
    return HookResult(_ops(tools, "take_along_axis", x, index, axis=int_node(_axis(lay, d))), layout=out)


def index_select(site: CallSite, tools: Tools) -> HookResult | str:
    """index_select(x, dim, index) is ops.take(x, index, axis) (tf.gather), index 1-D."""
    x, lay = _operand(site)
    index = site.bound.get("index")
    d = literal(site.bound["dim"]) if "dim" in site.bound else NOT_LITERAL
    if index is None or not isinstance(d, int) or isinstance(d, bool):
        return "index_select needs a literal int dim and an index"
    if lay is not None and lay.flattened is not None:
        return f"index_select from {_FLAT}"
    return HookResult(_ops(tools, "take", x, index, axis=int_node(_axis(lay, d))), layout=lay)


def _to_last(
    tools: Tools, x: cst.BaseExpression, lay: Layout | None, d: int
) -> tuple[cst.BaseExpression, Layout | None] | str:
    """``x`` with source dim ``d`` on the last target axis (ops.top_k works there only)."""
    if lay is None:
        if d == -1:
            return x, None
        return "dim must be -1 when the operand's rank is not known (ops.top_k works on the last axis)"
    if lay.flattened is not None:
        return f"top_k over {_FLAT}"
    a = lay.axis(d)
    if a == lay.rank - 1:
        return x, lay
    perm = (*(p for p in lay.perm if p != lay.perm[a]), lay.perm[a])
    want = Layout(perm)
    return tools.convert(x, lay, want), want


def topk(site: CallSite, tools: Tools) -> HookResult | str:
    """topk(x, k, dim) is ops.top_k on the last axis: another dim is moved last (a transpose the
    layout records). largest=False has no ops form."""
    x, lay = _operand(site)
    k = site.bound.get("k")
    if k is None:
        return "k is missing"
    if "largest" in site.bound and literal(site.bound["largest"]) is not True:
        return "largest=False: ops.top_k has no smallest-k mode (negate the operand explicitly)"
    d = literal(site.bound["dim"]) if "dim" in site.bound else -1
    if not isinstance(d, int) or isinstance(d, bool):
        return "dim must be a literal int"
    got = _to_last(tools, x, lay, d)
    if isinstance(got, str):
        return got
    x, lay = got
    kw = {}
    if "sorted" in site.bound and literal(site.bound["sorted"]) is not True:
        kw["sorted"] = site.bound["sorted"]
    return HookResult(_ops(tools, "top_k", x, k, **kw), layout=lay)


def sort(site: CallSite, tools: Tools) -> HookResult | str:
    """sort(x, dim, descending) returns (values, indices): ops.sort and ops.argsort over the remapped
    axis; descending flips the values and sorts the negated operand for the indices (ties keep their
    order, as torch's stable sort does)."""
    x, lay = _operand(site)
    is_arg = site.rule.id.endswith("argsort")
    d = literal(site.bound["dim"]) if "dim" in site.bound else -1
    if not isinstance(d, int) or isinstance(d, bool):
        return "dim must be a literal int"
    desc = literal(site.bound["descending"]) if "descending" in site.bound else False
    if not isinstance(desc, bool):
        return "descending must be a literal bool"
    if lay is not None and lay.flattened is not None:
        return f"sorting {_FLAT}"
    axis = int_node(_axis(lay, d))
    indices = _ops(tools, "argsort", _ops(tools, "negative", x) if desc else x, axis=axis)
    if is_arg:
        return HookResult(indices, layout=lay)
    values: cst.BaseExpression = _ops(tools, "sort", x, axis=axis)
    if desc:
        values = _ops(tools, "flip", values, axis=axis)
    return HookResult(tuple_node_expr([values, indices]), layout=lay, notes=_twice(x, tools))


def one_hot(site: CallSite, tools: Tools) -> HookResult | str:
    """F.one_hot(t, n) is ops.one_hot(t, n, dtype="int32"): torch's result is an integer tensor
    (int64), keras's float32 by default. The new class axis is last on both sides."""
    x, lay = _operand(site)
    n = site.bound.get("num_classes")
    if n is None or literal(n) == -1:
        return "num_classes=-1 takes the count from the data (give num_classes)"
    if lay is not None and lay.flattened is not None:
        return f"one_hot of {_FLAT}"
    expr = _ops(tools, "one_hot", x, n, dtype=cst.SimpleString('"int32"'))
    out = None if lay is None else Layout((*lay.perm, lay.rank))
    return HookResult(expr, layout=out)


def einsum(site: CallSite, tools: Tools) -> HookResult | str:
    """torch.einsum(eq, *operands) is ops.einsum with the same subscripts, on operands in source order."""
    positional = [a for a in site.call.args if a.keyword is None]
    if not positional or any(a.star for a in positional):
        return "the equation and operands must be given positionally, without stars"
    eq_node = positional[0].value
    eq = literal(eq_node)
    operands = [a.value for a in positional[1:]]
    if len(operands) == 1 and _list_elements(operands[0]) is not None:
        operands = _list_elements(operands[0]) or []
    fixed = []
    for o in operands:
        lay = tools.layout_of(o)
        if lay is not None and lay.flattened is not None:
            return f"einsum of {_FLAT}"
        fixed.append(tools.convert(o, lay, identity(lay.rank)) if _permuted(lay) and lay is not None else o)
    out: Layout | None = None
    if isinstance(eq, str) and "." not in eq:
        spec = eq.replace(" ", "")
        if "->" in spec:
            rank = len(spec.split("->")[1])
        else:
            letters = spec.replace(",", "")
            rank = len({c for c in letters if letters.count(c) == 1})
        out = identity(rank)
    return HookResult(_ops(tools, "einsum", eq_node, *fixed), layout=out)


def create(site: CallSite, tools: Tools) -> HookResult | str:
    """torch.zeros / ones / full / empty(*size, dtype=...): the size is a source-order shape of a
    new tensor. torch.full infers an integer or bool dtype from the fill value, Keras uses float32."""
    name = site.rule.id.rsplit(".", 1)[-1]
    mapped = tools.map_args(site, skip=("size", "fill_value"))
    if mapped.unsupported is not None:
        return mapped.unsupported
    if "size" in site.bound:
        shape: cst.BaseExpression = site.bound["size"]
    else:
        rest = [a for a in site.call.args if a.keyword is None]
        if any(a.star for a in rest) or not rest:
            return "the size must be given one by one or as a tuple"
        shape = (
            rest[0].value
            if len(rest) == 1 and not isinstance(literal(rest[0].value), int)
            else _tuple_of([a.value for a in rest])
        )
    items = _list_elements(shape)
    lay = identity(len(items)) if items is not None else None
    if isinstance(shape, cst.Attribute) and shape.attr.value == "shape":
        lay = tools.layout_of(shape.value)  # torch.zeros(x.shape): x's shape in x's (target) order
    args = [cst.Arg(shape)]
    extra = list(mapped.args)
    if name == "full":
        fill = site.bound.get("fill_value")
        if fill is None:
            return "fill_value is missing"
        args.append(cst.Arg(fill))
        v = literal(fill)
        if "dtype" not in site.bound:
            if isinstance(v, bool):
                extra.append(kwarg("dtype", cst.SimpleString('"bool"')))
            elif isinstance(v, int):
                extra.append(kwarg("dtype", cst.SimpleString('"int32"')))
            elif v is NOT_LITERAL:
                return HookResult(
                    tools.call("keras.ops.full", [*args, *extra]),
                    layout=lay,
                    notes=(
                        Note(
                            Severity.REVIEW,
                            "torch infers the dtype from fill_value (int64/bool); Keras uses float32",
                        ),
                    ),
                )
    target = {
        "zeros": "keras.ops.zeros",
        "ones": "keras.ops.ones",
        "full": "keras.ops.full",
        "empty": "keras.ops.zeros",
    }[name]
    return HookResult(tools.call(target, [*args, *extra]), layout=lay, notes=mapped.notes)


_DTYPES = frozenset(
    {
        "float16",
        "float32",
        "float64",
        "bfloat16",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "bool",
        "half",
        "float",
        "double",
        "short",
        "int",
        "long",
    }
)


def _is_dtype(node: cst.BaseExpression) -> bool:
    parts = code_of(node).split(".")
    return len(parts) == 2 and parts[0] in ("tf", "tensorflow", "torch") and parts[1] in _DTYPES


_DEVICE_NAMES = re.compile(r"(\w*_)?(device|dev|rank|gpu|gpu_id)")


def _is_device(node: cst.BaseExpression, tools: Tools) -> bool:
    """A device: a string (``"cuda"``, a migrated ``torch.device``), a device index (``rank``), a
    name bound to ``torch.device(...)`` or named like one, ``x.device``, or a choice between two."""
    v = literal(node)
    if isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool)):
        return True
    if isinstance(node, cst.IfExp):
        return _is_device(node.body, tools) and _is_device(node.orelse, tools)
    if isinstance(node, cst.Name):
        return node.value in tools.training_plan().devices or _DEVICE_NAMES.fullmatch(node.value) is not None
    return isinstance(node, cst.Attribute) and _DEVICE_NAMES.fullmatch(node.attr.value) is not None


def to(site: CallSite, tools: Tools) -> HookResult | str:
    """x.to(dtype) is ops.cast; device moves (.to('cuda'), .to(device=...)) have no meaning in Keras
    and are dropped. A positional argument that is neither is refused: it might be a tensor."""
    x, lay = _operand(site)
    dtype = site.bound.get("dtype")
    for a in _rest_args(site):
        if a.star:
            return "starred arguments cannot be checked statically"
        if _is_dtype(a.value):
            dtype = a.value
        elif _is_device(a.value, tools):
            continue
        else:
            return f"cannot tell whether {code_of(a.value)} is a dtype, a device or a tensor"
    if dtype is None:
        return HookResult(
            x, layout=lay, notes=(Note(Severity.MIGRATED, "a device move: nothing to do in Keras"),)
        )
    return HookResult(_ops(tools, "cast", x, dtype), layout=lay)


def type_as(site: CallSite, tools: Tools) -> HookResult | str:
    x, lay = _operand(site)
    other = site.bound.get("other")
    if other is None:
        return "type_as needs the other tensor"
    return HookResult(_ops(tools, "cast", x, cst.Attribute(value=other, attr=cst.Name("dtype"))), layout=lay)


def softplus(site: CallSite, tools: Tools) -> HookResult | str:
    """F.softplus(x, beta, threshold) is log(1 + exp(beta x)) / beta, and x itself where
    beta x > threshold. ops.softplus(beta x) / beta agrees to float precision above a threshold of
    15; a smaller threshold is written out with ops.where."""
    x, lay = _operand(site)
    beta = site.bound.get("beta")
    b = literal(beta) if beta is not None else 1
    t_node = site.bound.get("threshold")
    t = literal(t_node) if t_node is not None else 20
    if not isinstance(t, int | float) or isinstance(t, bool):
        return "threshold must be a literal number"
    if beta is not None and b == 1:
        beta = None
    scaled = x if beta is None else _bin(x, cst.Multiply(), beta)
    expr: cst.BaseExpression = _ops(tools, "softplus", scaled)
    if beta is not None:
        expr = _bin(expr, cst.Divide(), beta)
    if t < 15:
        if not _reusable(x, tools) or (beta is not None and not _reusable(beta, tools)):
            return "a threshold below 15 needs the operand twice: assign it to a variable first"
        cond = cst.Comparison(
            left=scaled,
            comparisons=[
                cst.ComparisonTarget(cst.GreaterThan(), t_node if t_node is not None else cst.Integer("20"))
            ],
        )
        return HookResult(_ops(tools, "where", cond, x, expr), layout=lay, notes=_twice(x, tools))
    return HookResult(expr, layout=lay)


def along_axis(site: CallSite, tools: Tools) -> HookResult | str:
    """An op along one dim (cumsum, cumprod), mapped by the rule's data with the dim remapped;
    refused on a tensor flattened from channels-last, whose element order along that dim differs."""
    x, lay = _operand(site)
    if lay is not None and lay.flattened is not None:
        return f"{site.rule.id.rsplit('.', 1)[-1]} along {_FLAT}"
    mapped = tools.map_args(site)
    if mapped.unsupported is not None:
        return mapped.unsupported
    args = list(mapped.args)
    if "self" in site.bound:
        args.insert(0, cst.Arg(x))
    assert site.rule.emit is not None
    return HookResult(tools.call(site.rule.emit, args), layout=lay, notes=mapped.notes)
