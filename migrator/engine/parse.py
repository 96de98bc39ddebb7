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

Once a process has parsed about 300 lines (``_WORTH`` characters), it also installs the cheaper
libcst constructors (``engine/node_init.py``) and code generation (``engine/codegen.py``). That
costs about 13 ms once and saves about a fifth of the time per line after it (~60 us per line on
this machine), so it pays off after roughly 200 more lines: a long run (a project, a benchmark)
earns it back many times; a one-file ``check`` of a small model would not. Both give the same
trees and text, so whether they are installed changes nothing but the speed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cache

import libcst as cst

from migrator.engine import codegen, node_init

_LOCK = threading.Lock()
_WORTH = 10_000  # characters parsed before the cheaper libcst constructors and codegen pay off


class _Budget:
    """Characters parsed in this process until the replacements are installed."""

    def __init__(self) -> None:
        self.parsed = 0
        self.installed = False

    def note(self, source: str) -> None:
        if self.installed:
            return
        self.parsed += len(source)
        if self.parsed >= _WORTH:
            install_speedups()


_BUDGET = _Budget()


def install_speedups() -> None:
    """Install the cheaper libcst constructors and code generation now (once per process)."""
    with _LOCK:
        if _BUDGET.installed:
            return
        classes = node_init.node_classes()
        node_init.install(classes)
        codegen.install(classes)
        _BUDGET.installed = True


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
    _BUDGET.note(source)
    with _LOCK:  # also around the first look at the hook, which must not see the swapped one
        hook = _validating_hook()
        if hook is None:
            return cst.parse_module(source)
        cst.CSTNode.__post_init__ = _skip_validation  # type: ignore[method-assign]
        try:
            return cst.parse_module(source)
        finally:
            cst.CSTNode.__post_init__ = hook  # type: ignore[method-assign,assignment]
