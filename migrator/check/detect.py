"""Which direction a file migrates in, from its imports (``--direction auto``).

Like the engines, only top-level ``import`` statements count: ``torch`` makes a file torch2tf,
``keras`` or ``tensorflow`` tf2torch. A file importing both is checked in the direction whose
imported names it uses more often (torch2tf on a tie), and the reason says so.
"""

from __future__ import annotations

import ast
import warnings
from collections import Counter
from dataclasses import dataclass

from migrator.api import InputError
from migrator.types import Direction

# The import roots each engine reads (the same sets as migrator.engine.migrate and
# migrator.engine.tf2torch.migrate; a test keeps them in step).
ROOTS = {
    Direction.TORCH2TF: frozenset({"torch"}),
    Direction.TF2TORCH: frozenset({"keras", "tensorflow"}),
}
_FRAMEWORK = {Direction.TORCH2TF: "torch", Direction.TF2TORCH: "keras/tensorflow"}


@dataclass(frozen=True)
class Detection:
    direction: Direction | None  # None: no framework imports, nothing to check
    reason: str
    ambiguous: bool = False  # both frameworks imported


def parse(source: str, name: str) -> ast.Module:
    """``ast.parse``, with a syntax error as a one-line InputError naming the file and line
    (the format of the migration commands')."""
    try:
        with warnings.catch_warnings():  # invalid escape sequences and the like: not ours to report
            warnings.simplefilter("ignore")
            return ast.parse(source, filename=name)
    except SyntaxError as err:
        raise InputError(f"{name}:{err.lineno}:{err.offset}: syntax error: {err.msg}") from None


def detect(tree: ast.Module) -> Detection:
    bound = _imported_names(tree)
    present = [d for d in Direction if d in bound.values()]
    if not present:
        return Detection(None, "no top-level torch, keras or tensorflow imports")
    if len(present) == 1:
        d = present[0]
        return Detection(d, f"{_FRAMEWORK[d]} imports")
    uses = Counter(bound[n.id] for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in bound)
    t, k = uses[Direction.TORCH2TF], uses[Direction.TF2TORCH]
    d = Direction.TF2TORCH if k > t else Direction.TORCH2TF
    if t == k:
        counts = f"{_uses(t)} each, torch2tf on a tie"
    else:
        counts = f"{_uses(t)} of torch vs {_uses(k)} of keras/tensorflow"
    reason = f"imports both torch and keras/tensorflow: {counts}"
    return Detection(d, reason, ambiguous=True)


def _uses(n: int) -> str:
    return f"{n} use{'s' if n != 1 else ''}"


def _imported_names(tree: ast.Module) -> dict[str, Direction]:
    """Local names bound by top-level framework imports, and the direction of each."""
    out: dict[str, Direction] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Import):
            pairs = [(a.name, a.asname or a.name.split(".")[0]) for a in stmt.names]
        elif isinstance(stmt, ast.ImportFrom) and stmt.module and not stmt.level:
            pairs = [(stmt.module, a.asname or a.name) for a in stmt.names if a.name != "*"]
        else:
            continue
        for module, local in pairs:
            root = module.split(".")[0]
            for d, roots in ROOTS.items():
                if root in roots:
                    out[local] = d
    return out
