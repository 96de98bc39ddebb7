"""Parse a user's source file with libcst, without validating each node the parser builds.

Every libcst node validates itself in ``__post_init__`` (parentheses balanced, whitespace where a
keyword needs it, ...). That is what catches a malformed tree built by hand, but the parser's own
output is well formed by construction, and the checks are ~12% of parsing a model file. libcst's
source says as much: "It might make more sense to move validation work into the visitor, which
would allow us to avoid validating the tree when parsing a file." (``libcst/_nodes/base.py``).

So, for the duration of one ``parse_module`` call, ``CSTNode.__post_init__`` is a no-op. Nodes the
engine builds afterwards are validated as usual. If libcst ever moves its validation elsewhere
(``__post_init__`` no longer defined on ``CSTNode``, or overridden by a node class), the plain
parser is used. A lock keeps two parses in different threads from interleaving the swap; a node
another thread builds during a parse is not validated, which cannot make a valid node invalid.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cache

import libcst as cst

_LOCK = threading.Lock()


def _skip_validation(self: cst.CSTNode) -> None:
    return None


@cache
def _validating_hook() -> Callable[[cst.CSTNode], None] | None:
    """libcst's validating ``__post_init__``, if it is where this module expects it: defined on
    ``CSTNode`` and overridden by no node class (decided once per process)."""
    hook: Callable[[cst.CSTNode], None] | None = cst.CSTNode.__dict__.get("__post_init__")
    if not callable(hook):
        return None
    stack = list(cst.CSTNode.__subclasses__())
    while stack:
        sub = stack.pop()
        if "__post_init__" in sub.__dict__:
            return None
        stack.extend(sub.__subclasses__())
    return hook


def parse_module(source: str) -> cst.Module:
    """``libcst.parse_module`` without node validation; raises ``libcst.ParserSyntaxError``."""
    with _LOCK:  # also around the first look at the hook, which must not see the swapped one
        hook = _validating_hook()
        if hook is None:
            return cst.parse_module(source)
        cst.CSTNode.__post_init__ = _skip_validation  # type: ignore[method-assign]
        try:
            return cst.parse_module(source)
        finally:
            cst.CSTNode.__post_init__ = hook  # type: ignore[method-assign,assignment]
