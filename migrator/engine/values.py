"""Reading literal values out of code without evaluating it (``ast.literal_eval`` only)."""

from __future__ import annotations

import ast
from typing import Any

import libcst as cst

from migrator.engine.emitter import code_of


class _NotLiteral:
    def __repr__(self) -> str:
        return "NOT_LITERAL"


NOT_LITERAL: Any = _NotLiteral()


def literal(node: cst.BaseExpression | str) -> Any:
    """The Python value of a literal expression (numbers, strings, tuples, None), else NOT_LITERAL."""
    text = node if isinstance(node, str) else code_of(node)
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return NOT_LITERAL


def int_or_ints(node: cst.BaseExpression) -> int | tuple[int, ...] | None:
    v = literal(node)
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, tuple | list) and v and all(isinstance(i, int) and not isinstance(i, bool) for i in v):
        return tuple(v)
    return None


def same_literal(a: Any, b: Any) -> bool:
    if a is NOT_LITERAL or b is NOT_LITERAL:
        return False
    return (type(a) is type(b) and a == b) or (
        isinstance(a, int | float)
        and isinstance(b, int | float)
        and not isinstance(a, bool)
        and not isinstance(b, bool)
        and a == b
    )


def format_number(v: float) -> str:
    r = round(v, 12)
    if r == int(r) and abs(r) < 1e15:
        return f"{r:.1f}"
    return repr(r)
