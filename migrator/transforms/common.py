"""Small helpers shared by hooks."""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from migrator.engine.emitter import code_of, int_node, kwarg, tuple_node
from migrator.engine.values import NOT_LITERAL, int_or_ints, literal

__all__ = [
    "NOT_LITERAL",
    "code_of",
    "int_node",
    "int_or_ints",
    "kwarg",
    "literal",
    "per_dim",
    "str_node",
    "tuple_node",
    "value_node",
]


def per_dim(node: cst.BaseExpression | None, n: int, default: int) -> tuple[int, ...] | None:
    """An int-or-tuple argument as an n-tuple of ints; None when it is not a literal."""
    if node is None:
        return (default,) * n
    v = int_or_ints(node)
    if v is None:
        return None
    if isinstance(v, int):
        return (v,) * n
    return v if len(v) == n else None


def str_node(text: str) -> cst.SimpleString:
    return cst.SimpleString(f'"{text}"')


def value_node(values: Sequence[int]) -> cst.BaseExpression:
    """An int when all entries agree, else a tuple (keras accepts both)."""
    if len(set(values)) == 1:
        return int_node(values[0])
    return tuple_node(values)
