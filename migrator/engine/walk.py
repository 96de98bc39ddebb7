"""A fast tree walk with libcst's transformer protocol (``visit_X`` / ``leave_X``).

libcst's own visitor machinery rebuilds every node and dispatches by name on each one; on this
machine an empty ``CSTTransformer`` pass costs as much as parsing. This walker follows dataclass
fields directly, skips whitespace-only nodes, and rebuilds a node only when a child changed, which
is what keeps migration within 2x of parse + codegen (docs/performance.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import cache
from typing import Any

import libcst as cst

# Nodes that hold only whitespace, punctuation or comments: nothing in them is ever migrated.
_SKIP: tuple[type[cst.CSTNode], ...] = (
    cst.SimpleWhitespace,
    cst.ParenthesizedWhitespace,
    cst.Newline,
    cst.TrailingWhitespace,
    cst.EmptyLine,
    cst.Comment,
    cst.Comma,
    cst.Dot,
    cst.AssignEqual,
    cst.LeftParen,
    cst.RightParen,
    cst.LeftSquareBracket,
    cst.RightSquareBracket,
    cst.LeftCurlyBrace,
    cst.RightCurlyBrace,
    cst.Colon,
    cst.Semicolon,
    cst.SimpleString,
    cst.Integer,
    cst.Float,
    cst.Imaginary,
    cst.BaseBinaryOp,
    cst.BaseUnaryOp,
    cst.BaseBooleanOp,
    cst.BaseCompOp,
    cst.BaseAugOp,
)

_SKIP_SET = frozenset(_SKIP)

# Fields that only ever hold whitespace, punctuation, comments or parentheses.
_FORMATTING = frozenset(
    {
        "lpar",
        "rpar",
        "comma",
        "semicolon",
        "leading_lines",
        "lines_after_decorators",
        "header",
        "footer",
        "equal",
        "star",
        "dot",
        "lbracket",
        "rbracket",
        "lbrace",
        "rbrace",
        "colon",
        "trailing_whitespace",
        "newline",
        "indent",
        "default_indent",
        "default_newline",
        "encoding",
        "asynchronous",
        "operator",
        "value_quote",
        "prefix",
        "quote",
    }
)


def _formatting_field(name: str) -> bool:
    return name in _FORMATTING or name.startswith("whitespace")


# Source order where it differs from the dataclass field order (positions are matched in order).
_ORDER: dict[type[cst.CSTNode], tuple[str, ...]] = {
    cst.FunctionDef: ("decorators", "name", "params", "returns", "body"),
    cst.ClassDef: ("decorators", "name", "bases", "keywords", "body"),
    cst.IfExp: ("body", "test", "orelse"),
}

Visit = Callable[[Any], Any]

# isinstance() against libcst's abstract bases is slow (ABC machinery); decide once per concrete type.
_KIND: dict[type, int] = {}  # 0: not a node, 1: node to walk, 2: node to skip
_SEQ = (tuple, list)


def _kind(t: type) -> int:
    k = _KIND.get(t)
    if k is None:
        # the class's own bases, not issubclass(): libcst's node classes are ABCs, and the first
        # subclass check of each pair goes through abc's registry machinery (~10 ms per process)
        mro = t.__mro__
        k = 0 if cst.CSTNode not in mro else (2 if any(b in _SKIP_SET for b in mro) else 1)
        _KIND[t] = k
    return k


Leave = Callable[[Any, Any], Any]


@cache
def _field_names(t: type) -> tuple[str, ...]:
    """The fields of a node type that can hold nodes to walk, in source order (per type, once)."""
    names = tuple(x.name for x in dataclasses.fields(t) if not _formatting_field(x.name))
    order = _ORDER.get(t)
    if order is not None:
        names = order + tuple(n for n in names if n not in order)
    return names


class Walker:
    """Walks a libcst tree calling ``visitor.visit_<Type>`` and ``visitor.leave_<Type>``.

    ``enter``/``exit`` hooks (``on_enter(node)``, ``on_exit(node)``) let the caller keep positions
    in step with the walk. ``visit_X`` returning False skips the node's children.
    """

    def __init__(
        self,
        visitor: object,
        on_enter: Callable[[cst.CSTNode], None] | None = None,
        on_exit: Callable[[cst.CSTNode], None] | None = None,
        hook_types: frozenset[type] = frozenset(),
    ) -> None:
        self._visitor = visitor
        self._on_enter = on_enter
        self._on_exit = on_exit
        self._hook_types = hook_types  # enter/exit are called for these node types only
        self._dispatch: dict[type, tuple[Visit | None, Leave | None]] = {}

    def _handlers(self, t: type) -> tuple[Visit | None, Leave | None]:
        h = self._dispatch.get(t)
        if h is None:
            h = (self._own(f"visit_{t.__name__}"), self._own(f"leave_{t.__name__}"))
            self._dispatch[t] = h
        return h

    def _own(self, name: str) -> Callable[..., Any] | None:
        """The visitor's handler, unless it is libcst's no-op default (``CSTTransformer`` defines
        ``visit_X``/``leave_X`` for every node type; calling them costs two calls per node)."""
        fn = getattr(type(self._visitor), name, None)
        if fn is None or getattr(fn, "__module__", "").startswith("libcst."):
            return None
        return getattr(self._visitor, name)  # type: ignore[no-any-return]

    def walk(self, node: cst.CSTNode) -> Any:
        t = type(node)
        h = self._dispatch.get(t)
        visit, leave = h if h is not None else self._handlers(t)
        hooked = t in self._hook_types
        if hooked and self._on_enter is not None:
            self._on_enter(node)
        descend = True
        if visit is not None and visit(node) is False:
            descend = False
        updated = node
        if descend:
            changes: dict[str, Any] = {}
            kinds = _KIND
            for name in _field_names(t):
                value = getattr(node, name)
                t = type(value)
                k = kinds.get(t)
                if k is None:
                    k = _kind(t)
                if k == 1:
                    new = self.walk(value)
                    if new is not value:
                        changes[name] = new
                elif k == 0 and t in _SEQ and value:
                    new_items: list[Any] = []
                    changed = False
                    for item in value:
                        ti = type(item)
                        ki = kinds.get(ti)
                        if ki is None:
                            ki = _kind(ti)
                        if ki == 1:
                            new_item = self.walk(item)
                            if new_item is not item:
                                changed = True
                                if isinstance(new_item, cst.FlattenSentinel):
                                    new_items.extend(new_item.nodes)
                                    continue
                                if new_item is cst.RemovalSentinel.REMOVE:
                                    continue
                            new_items.append(new_item)
                        else:
                            new_items.append(item)
                    if changed:
                        changes[name] = tuple(new_items)
            if changes:
                updated = node.with_changes(**changes)
        if hooked and self._on_exit is not None:
            self._on_exit(node)
        if leave is not None:
            return leave(node, updated)
        return updated
