"""A fast tree walk with libcst's transformer protocol (``visit_X`` / ``leave_X``).

libcst's own visitor machinery rebuilds every node and dispatches by name on each one; on this
machine an empty ``CSTTransformer`` pass costs as much as parsing. This walker follows dataclass
fields directly, skips whitespace-only nodes, and rebuilds a node only when a child changed, which
is what keeps migration within 2x of parse + codegen (docs/performance.md).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Sequence
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
_Entry = tuple[Visit | None, Leave | None, bool, tuple[str, ...]]


def _data_only(annotation: object) -> bool:
    """A field typed ``str``, ``bool`` or an optional string never holds a node (``Name.value``)."""
    if annotation in (str, bool):
        return True
    args = typing.get_args(annotation)
    return bool(args) and all(a in (str, type(None), cst.MaybeSentinel) for a in args)


@cache
def _field_names(t: type) -> tuple[str, ...]:
    """The fields of a node type that can hold nodes to walk, in source order (per type, once)."""
    names = tuple(
        x.name for x in dataclasses.fields(t) if not _formatting_field(x.name) and not _data_only(x.type)
    )
    order = _ORDER.get(t)
    if order is not None:
        names = order + tuple(n for n in names if n not in order)
    return names


# (module, qualified name of the visitor class, node type) -> its visit_X / leave_X names
_HANDLERS: dict[tuple[str, str, type], tuple[str | None, str | None]] = {}


def _handler_names(visitor: type, t: type) -> tuple[str | None, str | None]:
    """The visitor class's ``visit_X``/``leave_X`` for a node type, unless absent or libcst's no-op
    default (``CSTTransformer`` defines both for every node type; calling them costs two calls per
    node). Decided once per (class statement, node type), not once per walk: a class statement
    inside a function makes a new class with the same methods on every call, so the key is where
    the class was defined, not the class object (which would also keep every such class alive)."""
    key = (visitor.__module__, visitor.__qualname__, t)
    names = _HANDLERS.get(key)
    if names is None:
        names = _HANDLERS[key] = (_own(visitor, f"visit_{t.__name__}"), _own(visitor, f"leave_{t.__name__}"))
    return names


def _own(visitor: type, name: str) -> str | None:
    fn = getattr(visitor, name, None)
    if fn is None or getattr(fn, "__module__", "").startswith("libcst."):
        return None
    return name


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
        # per node type: visit_X, leave_X, whether enter/exit apply, the fields to walk
        self._dispatch: dict[type, _Entry] = {}

    def _entry(self, t: type) -> _Entry:
        visitor_type: type = type(self._visitor)
        visit, leave = _handler_names(visitor_type, t)
        entry = (
            getattr(self._visitor, visit) if visit is not None else None,
            getattr(self._visitor, leave) if leave is not None else None,
            (self._on_enter is not None or self._on_exit is not None) and t in self._hook_types,
            _field_names(t),
        )
        self._dispatch[t] = entry
        return entry

    def walk(self, node: cst.CSTNode) -> Any:
        t = type(node)
        entry = self._dispatch.get(t)
        visit, leave, hooked, names = entry if entry is not None else self._entry(t)
        if hooked and self._on_enter is not None:
            self._on_enter(node)
        updated = node
        if visit is None or visit(node) is not False:
            changes: dict[str, Any] | None = None
            kinds = _KIND
            for name in names:
                value = getattr(node, name)
                t = type(value)
                k = kinds.get(t)
                if k is None:
                    k = _kind(t)
                if k == 1:
                    new = self.walk(value)
                    if new is not value:
                        if changes is None:
                            changes = {}
                        changes[name] = new
                elif k == 0 and t in _SEQ and value:
                    new_items = self._walk_items(value)
                    if new_items is not None:
                        if changes is None:
                            changes = {}
                        changes[name] = new_items
            if changes is not None:
                updated = _replace(node, changes)
        if hooked and self._on_exit is not None:
            self._on_exit(node)
        if leave is not None:
            return leave(node, updated)
        return updated

    def _walk_items(self, value: Sequence[Any]) -> tuple[Any, ...] | None:
        """The walked items of a sequence field, or None when none of them changed."""
        kinds = _KIND
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
                    if type(new_item) is cst.FlattenSentinel:  # not isinstance: an ABC
                        new_items.extend(new_item.nodes)
                        continue
                    if new_item is cst.RemovalSentinel.REMOVE:
                        continue
                new_items.append(new_item)
            else:
                new_items.append(item)
        return tuple(new_items) if changed else None


_set = object.__setattr__


@cache
def _all_fields(t: type) -> tuple[str, ...]:
    return tuple(x.name for x in dataclasses.fields(t))


def _replace(node: cst.CSTNode, changes: dict[str, Any]) -> cst.CSTNode:
    """``node.with_changes(**changes)``, validated the same way, without ``dataclasses.replace``'s
    per-call field introspection and keyword plumbing (a node is rebuilt for every changed child)."""
    t = type(node)
    new = object.__new__(t)
    for name in _all_fields(t):
        _set(new, name, changes[name] if name in changes else getattr(node, name))
    new._validate()
    return new
