"""Indexing a tracked tensor: ``x[:, -1]`` means source dims, so on a permuted tensor the index
items move to the target axes that hold those dims (a time-major ``out[-1]`` is the last time step,
not the last batch element)."""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from migrator.engine.layout import Layout, identity


@dataclass(frozen=True)
class Indexed:
    node: cst.Subscript  # the (possibly reordered) subscript
    layout: Layout | None  # layout of the result
    problem: str | None = None  # set when the index cannot be remapped


def _is_full(e: cst.SubscriptElement) -> bool:
    s = e.slice
    return isinstance(s, cst.Slice) and s.lower is None and s.upper is None and s.step is None


def remap(node: cst.Subscript, layout: Layout) -> Indexed:
    items = list(node.slice)
    for e in items:
        s = e.slice
        if isinstance(s, cst.Index) and (
            isinstance(s.value, cst.Ellipsis) or (isinstance(s.value, cst.Name) and s.value.value == "None")
        ):
            return Indexed(node, None, "indexing with ... or None on a tensor whose layout changed")
        if isinstance(s, cst.Index) and s.star is not None:
            return Indexed(node, None, "starred index")
    if len(items) > layout.rank:
        return Indexed(node, None, "more indices than dimensions")
    if layout.flattened is not None:
        return Indexed(node, None, "indexing a tensor flattened from channels-last")
    full = cst.SubscriptElement(cst.Slice(lower=None, upper=None))
    source = items + [full] * (layout.rank - len(items))
    dropped = tuple(d for d, e in enumerate(source) if isinstance(e.slice, cst.Index))
    result = layout.reduce(dropped, keepdim=False) if dropped else layout
    if len(result.perm) == 0:
        result = identity(0)
    if layout.is_identity:
        return Indexed(node, result)
    target = [source[p] for p in layout.perm]
    while target and _is_full(target[-1]):
        target.pop()
    if not target:
        target = [full]
    fixed = [
        e.with_changes(
            comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
            if i < len(target) - 1
            else cst.MaybeSentinel.DEFAULT
        )
        for i, e in enumerate(target)
    ]
    return Indexed(node.with_changes(slice=fixed), result)
