"""Hooks for tensor operations whose meaning depends on the layout of their operands."""

from __future__ import annotations

import libcst as cst

from migrator.engine.emitter import commas
from migrator.engine.layout import Flattened, Layout, identity, transpose_dims
from migrator.engine.site import CallSite, HookResult, Note, Tools
from migrator.transforms.common import (
    NOT_LITERAL,
    int_node,
    int_or_ints,
    kwarg,
    literal,
    tuple_node,
)
from migrator.types import Severity


def _operand(site: CallSite) -> tuple[cst.BaseExpression, Layout | None]:
    if "self" in site.bound:
        return site.bound["self"], site.layouts.get("self")
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
    target = {
        "mean": "keras.ops.mean",
        "sum": "keras.ops.sum",
        "amax": "keras.ops.max",
        "amin": "keras.ops.min",
    }[site.rule.id.rsplit(".", 1)[-1]]
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
        b = site.bound["other"]
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
