"""Code generation: libcst's, without its per-node position bookkeeping.

libcst renders a node by calling ``_codegen`` on it with a ``CodegenState``. Every node enters a
``record_syntactic_position`` context, a ``contextlib.contextmanager`` that only
``PositionProvider``'s state uses: for plain rendering it is a generator built, entered and closed
per node, ~40% of the render. This state hands out one reusable no-op context instead; the tokens,
and so the text, are the same (tests/test_codegen.py compares them on every fixture).

Two more costs of the same kind are in libcst's classes themselves, so ``install`` (once per
process, see ``engine/parse.py`` for when) replaces them with code that does the same for every
state:

- ``CSTNode._codegen`` calls the state's ``before_codegen`` and ``after_codegen`` around each node;
  both are no-ops on this module's state, so they are skipped for it (and only for it).
- Parentheses, brackets and braces are emitted in ``contextlib.contextmanager`` generators
  (``_parenthesize``, ``_bracketize``, ``_braceize``): a generator per expression. They become small
  context-manager objects emitting the same tokens in the same order, with the same
  ``record_syntactic_position`` call inside the parentheses (``PositionProvider`` sees no change),
  and an empty pair of parentheses costs nothing.

tests/test_codegen.py compares text and positions with stock libcst, run in a process of its own.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import libcst as cst
from libcst._nodes.expression import BaseList, _BaseParenthesizedNode, _BaseSetOrDict
from libcst._nodes.internal import CodegenState


class _NoOp:
    """A context that does nothing: a position nobody records, parentheses a node does not have."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


_NO_OP = _NoOp()


class _State(CodegenState):
    def record_syntactic_position(  # type: ignore[override]
        self,
        node: cst.CSTNode,
        *,
        start_node: cst.CSTNode | None = None,
        end_node: cst.CSTNode | None = None,
    ) -> _NoOp:
        return _NO_OP


class _Parens:
    """``_BaseParenthesizedNode._parenthesize``: ``(``s, the node's position context, ``)``s."""

    __slots__ = ("node", "position", "state")

    def __init__(self, node: _BaseParenthesizedNode, state: CodegenState) -> None:
        self.node = node
        self.state = state

    def __enter__(self) -> None:
        for lpar in self.node.lpar:
            lpar._codegen(self.state)
        self.position = self.state.record_syntactic_position(self.node)
        self.position.__enter__()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        # as the generator: an exception the position context does not swallow ends it here
        if self.position.__exit__(exc_type, exc, tb) or exc_type is None:
            for rpar in self.node.rpar:
                rpar._codegen(self.state)
            return exc_type is not None
        return False


class _Pair:
    """``_bracketize`` / ``_braceize``: the opening token's node, the body, the closing one's."""

    __slots__ = ("close", "open", "state")

    def __init__(self, open_: cst.CSTNode, close: cst.CSTNode, state: CodegenState) -> None:
        self.open = open_
        self.close = close
        self.state = state

    def __enter__(self) -> None:
        self.open._codegen(self.state)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:  # as the generator: nothing after the body when it raised
            self.close._codegen(self.state)


def _parenthesize(self: _BaseParenthesizedNode, state: CodegenState) -> _Parens | _NoOp:
    if not self.lpar and not self.rpar and type(state) is _State:  # nothing to emit or record
        return _NO_OP
    return _Parens(self, state)


def _bracketize(self: BaseList, state: CodegenState) -> _Pair:
    return _Pair(self.lbracket, self.rbracket, state)


def _braceize(self: _BaseSetOrDict, state: CodegenState) -> _Pair:
    return _Pair(self.lbrace, self.rbrace, state)


def _codegen(self: cst.CSTNode, state: CodegenState, **kwargs: Any) -> None:
    if type(state) is _State:  # its before_codegen and after_codegen do nothing
        self._codegen_impl(state, **kwargs)
        return
    state.before_codegen(self)
    self._codegen_impl(state, **kwargs)
    state.after_codegen(self)


_REPLACED = (
    (cst.CSTNode, "_codegen", _codegen),
    (_BaseParenthesizedNode, "_parenthesize", _parenthesize),
    (BaseList, "_bracketize", _bracketize),
    (_BaseSetOrDict, "_braceize", _braceize),
)


def install(classes: list[type[cst.CSTNode]]) -> None:
    """Replace libcst's per-node generators as described above, given every node class. Skipped
    for a method that is not where this module expects it or that a subclass overrides
    (``engine/parse.py`` calls this once per process, under its lock)."""
    for owner, name, replacement in _REPLACED:
        overridden = any(name in c.__dict__ for c in classes if c is not owner and owner in c.__mro__)
        if callable(owner.__dict__.get(name)) and not overridden:
            setattr(owner, name, replacement)


def module_code(module: cst.Module) -> str:
    """``module.code``."""
    return node_code(module, module)


def node_code(node: cst.CSTNode, module: cst.Module) -> str:
    """``module.code_for_node(node)``: the node in the module's indentation and newline style."""
    state = _State(default_indent=module.default_indent, default_newline=module.default_newline)
    node._codegen(state)
    return "".join(state.tokens)
