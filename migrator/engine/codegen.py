"""Code generation: libcst's, without its per-node position bookkeeping.

libcst renders a node by calling ``_codegen`` on it with a ``CodegenState``. Every node enters a
``record_syntactic_position`` context, a ``contextlib.contextmanager`` that only
``PositionProvider``'s state uses: for plain rendering it is a generator built, entered and closed
per node, ~40% of the render. This state hands out one reusable no-op context instead; the tokens,
and so the text, are the same (tests/test_codegen.py compares them on every fixture).
"""

from __future__ import annotations

from types import TracebackType

import libcst as cst
from libcst._nodes.internal import CodegenState


class _NoPosition:
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


_NO_POSITION = _NoPosition()


class _State(CodegenState):
    def record_syntactic_position(  # type: ignore[override]
        self,
        node: cst.CSTNode,
        *,
        start_node: cst.CSTNode | None = None,
        end_node: cst.CSTNode | None = None,
    ) -> _NoPosition:
        return _NO_POSITION


def module_code(module: cst.Module) -> str:
    """``module.code``."""
    return node_code(module, module)


def node_code(node: cst.CSTNode, module: cst.Module) -> str:
    """``module.code_for_node(node)``: the node in the module's indentation and newline style."""
    state = _State(default_indent=module.default_indent, default_newline=module.default_newline)
    node._codegen(state)
    return "".join(state.tokens)
