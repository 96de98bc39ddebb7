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
    "onednn_stride_bug",
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


def onednn_stride_bug(strides: tuple[int, ...] | None) -> bool:
    """Whether TensorFlow's oneDNN CPU convolution (on by default) can return wrong values for
    these strides: a spatial stride of 1 followed by a larger one. Measured over 2,592
    tf.nn.conv2d cases against float64: (1, 2) and (1, 3) fail for some input sizes, equal strides
    and (s, 1) never; Conv3D with (1, 1, 2) and (2, 1, 2) fails too. Strides that are not
    literals (None; a block's ``stride`` parameter) are not flagged: the usual values are equal."""
    if strides is None:
        return False
    return any(a == 1 and b > 1 for i, a in enumerate(strides) for b in strides[i + 1 :])
