"""Line and column numbers for findings, from CPython's ``ast`` (fast) instead of libcst's
PositionProvider (a full code generation pass).

Statements are matched between the two trees in lockstep (both keep bodies in source order), so a
statement's position is exact. Calls inside a statement are matched in source order; if the two
orders ever disagreed, a finding would still carry its statement's line.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

import libcst as cst

Pos = tuple[int, int]


@dataclass
class StmtPos:
    pos: Pos
    calls: list[Pos]  # calls in this statement's own expressions (not nested statements), in order
    bodies: list[list[StmtPos]]  # nested bodies, in the order libcst visits them


def index_module(source: str) -> list[StmtPos]:
    return _body(ast.parse(source).body)


def _body(stmts: list[ast.stmt]) -> list[StmtPos]:
    return [_stmt(s) for s in stmts]


def _stmt(s: ast.stmt) -> StmtPos:
    calls: list[tuple[int, int, int, int]] = []
    bodies: list[list[StmtPos]] = []
    stack: list[ast.AST] = [c for c in ast.iter_child_nodes(s) if not isinstance(c, ast.stmt)]
    while stack:
        n = stack.pop()
        if isinstance(n, ast.Call):
            calls.append((n.lineno, n.col_offset, -(n.end_lineno or 0), -(n.end_col_offset or 0)))
        stack.extend(c for c in ast.iter_child_nodes(n) if not isinstance(c, ast.stmt))
    calls.sort()
    for name in ("body", "handlers", "orelse", "finalbody", "cases"):
        part = getattr(s, name, None)
        if not part:
            continue
        if name == "handlers":
            bodies.extend(_body(h.body) for h in part)
        elif name == "cases":
            bodies.extend(_body(c.body) for c in part)
        elif name == "orelse" and len(part) == 1 and isinstance(part[0], ast.If) and isinstance(s, ast.If):
            bodies.append(_body(part))  # elif: libcst nests it as an If too
        else:
            bodies.append(_body(part))
    return StmtPos((s.lineno, s.col_offset + 1), [(c[0], c[1] + 1) for c in calls], bodies)


_STATEMENTS = frozenset(
    {
        cst.SimpleStatementLine,
        cst.If,
        cst.For,
        cst.While,
        cst.With,
        cst.Try,
        cst.TryStar,
        cst.FunctionDef,
        cst.ClassDef,
        cst.Match,
    }
)


HOOK_TYPES = _STATEMENTS | {cst.Call, cst.IndentedBlock, cst.SimpleStatementSuite}


class PositionTracker:
    """Follows a walk over the libcst tree (``enter``/``exit`` for every node) and records the
    position of each statement and call it meets, keyed by the original node's id."""

    def __init__(self, index: list[StmtPos]) -> None:
        self._pending: list[list[StmtPos]] = [list(reversed(index))]  # statements still to match
        self._frames: list[tuple[int, StmtPos, int]] = []  # (node id, position, pending depth)
        self._calls: list[list[Pos]] = []
        self.positions: dict[int, Pos] = {}

    def enter(self, node: cst.CSTNode) -> None:
        t = type(node)
        if t is cst.Call:
            if self._calls and self._calls[-1]:
                self.positions[id(node)] = self._calls[-1].pop()
        elif t in _STATEMENTS or t is cst.SimpleStatementSuite:
            self._enter_statement(node)

    def exit(self, node: cst.CSTNode) -> None:
        t = type(node)
        is_statement = t in _STATEMENTS or t is cst.SimpleStatementSuite
        if is_statement and self._frames and self._frames[-1][0] == id(node):
            _, _, depth = self._frames.pop()
            self._calls.pop()
            del self._pending[depth:]
        if (t is cst.IndentedBlock or t is cst.SimpleStatementSuite) and len(self._pending) > 1:
            self._pending.pop()

    def _enter_statement(self, node: cst.CSTNode) -> None:
        pending = self._pending[-1] if self._pending else []
        count = len(node.body) if isinstance(node, cst.SimpleStatementLine | cst.SimpleStatementSuite) else 1
        got = [pending.pop() for _ in range(count) if pending]
        if not got:
            return
        calls = [c for sp in got for c in sp.calls]
        self.positions[id(node)] = got[0].pos
        self._frames.append((id(node), got[0], len(self._pending)))
        self._calls.append(list(reversed(calls)))
        for body in reversed(got[0].bodies):
            self._pending.append(list(reversed(body)))

    def position(self, node: cst.CSTNode) -> Pos:
        """The node's own position if it was matched, else its statement's."""
        hit = self.positions.get(id(node))
        if hit is not None:
            return hit
        return self._frames[-1][1].pos if self._frames else (0, 0)
