"""Reading literal values out of code without evaluating it (``ast.literal_eval`` only)."""

from __future__ import annotations

import ast
from functools import lru_cache
from typing import Any

import libcst as cst

from migrator.engine.emitter import code_of


class _NotLiteral:
    def __repr__(self) -> str:
        return "NOT_LITERAL"


NOT_LITERAL: Any = _NotLiteral()


_NAMES = {"True": True, "False": False, "None": None}


def _fast(node: cst.BaseExpression) -> Any:
    """The common literal forms, read straight off the tree (no code generation)."""
    t = type(node)
    if t is cst.Integer:
        try:
            return int(node.value, 0)  # type: ignore[attr-defined]
        except ValueError:
            return NOT_LITERAL
    if t is cst.Float:
        return float(node.value)  # type: ignore[attr-defined]
    if t is cst.Name:
        return _NAMES.get(node.value, NOT_LITERAL)  # type: ignore[attr-defined]
    if t is cst.UnaryOperation and type(node.operator) is cst.Minus:  # type: ignore[attr-defined]
        inner = _fast(node.expression)  # type: ignore[attr-defined]
        return -inner if type(inner) in (int, float) else NOT_LITERAL
    if t is cst.Tuple or t is cst.List:
        items = []
        for e in node.elements:  # type: ignore[attr-defined]
            if type(e) is not cst.Element:
                return NOT_LITERAL
            v = _fast(e.value)
            if v is NOT_LITERAL or v is _SLOW:
                return v
            items.append(v)
        return tuple(items) if t is cst.Tuple else items
    return _SLOW


_SLOW: Any = object()
_NEVER = frozenset({cst.Attribute, cst.Call, cst.BinaryOperation, cst.Subscript, cst.Lambda})
_NOT_LITERAL = frozenset({cst.Attribute, cst.Call, cst.BinaryOperation, cst.Subscript})


def literal(node: cst.BaseExpression | str) -> Any:
    """The Python value of a literal expression (numbers, strings, tuples, None), else NOT_LITERAL."""
    if not isinstance(node, str):
        t = type(node)  # concrete classes: an exact test spares isinstance's ABC machinery
        if t in _NOT_LITERAL or (t is cst.Name and node.value not in _NAMES):  # type: ignore[attr-defined]
            return NOT_LITERAL
        v = _fast(node)
        if v is not _SLOW:
            return v
    return _literal_text(node if isinstance(node, str) else code_of(node))


@lru_cache(maxsize=4096)
def _literal_text(text: str) -> Any:
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


@lru_cache(maxsize=4096)
def parse_code(text: str) -> cst.BaseExpression:
    """Parse a code string from a rule file, once. libcst nodes are immutable, so sharing is safe."""
    return cst.parse_expression(text)
