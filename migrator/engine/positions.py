"""Line and column numbers for findings, from CPython's ``ast`` (fast) instead of libcst's
PositionProvider (a full code generation pass).

Statements are matched between the two trees in lockstep (both keep bodies in source order), so a
statement's position is exact. Calls inside a statement are matched in source order; if the two
orders ever disagreed, a finding would still carry its statement's line.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache

import libcst as cst

Pos = tuple[int, int]


@dataclass
class StmtPos:
    pos: Pos
    node: ast.stmt
    bodies: list[list[StmtPos]]  # nested bodies, in the order libcst visits them


def index_module(source: str) -> list[StmtPos]:
    return _body(ast.parse(source).body)


def _body(stmts: list[ast.stmt]) -> list[StmtPos]:
    return [_stmt(s) for s in stmts]


def _stmt(s: ast.stmt) -> StmtPos:
    bodies: list[list[StmtPos]] = []
    for name in ("body", "handlers", "orelse", "finalbody", "cases"):
        part = getattr(s, name, None)
        if not part:
            continue
        if name == "handlers":
            bodies.extend(_body(h.body) for h in part)
        elif name == "cases":
            bodies.extend(_body(c.body) for c in part)
        else:
            bodies.append(_body(part))  # an elif is an If in orelse, in both trees
    return StmtPos((s.lineno, s.col_offset + 1), s, bodies)


def call_positions(stmts: list[StmtPos]) -> list[Pos]:
    """The calls in these statements' own expressions (not in nested statements), in source
    order: outer calls before the calls they contain. Computed only when a finding needs them."""
    calls: list[tuple[int, int, int, int]] = []
    stack: list[ast.AST] = []
    for sp in stmts:
        stack.extend(c for c in ast.iter_child_nodes(sp.node) if not isinstance(c, ast.stmt))
    push = stack.append
    while stack:
        n = stack.pop()
        t: type = type(n)
        if isinstance(n, ast.Call):
            calls.append((n.lineno, n.col_offset, -(n.end_lineno or 0), -(n.end_col_offset or 0)))
        for name in _child_fields(t):
            v = getattr(n, name)
            if type(v) is list:
                for c in v:
                    if isinstance(c, ast.AST) and not isinstance(c, ast.stmt):
                        push(c)
            elif isinstance(v, ast.AST) and not isinstance(v, ast.stmt):
                push(v)
    calls.sort()
    return [(c[0], c[1] + 1) for c in calls]


@cache
def _child_fields(t: type) -> tuple[str, ...]:
    """The fields of an ast node type that may hold child nodes (``ctx`` is always Load/Store/Del);
    ``ast.iter_child_nodes`` costs a generator and an isinstance per field."""
    fields: tuple[str, ...] = getattr(t, "_fields", ())
    return tuple(f for f in fields if f != "ctx")


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


class _Frame:
    """A libcst statement matched to its ast statement(s), and the calls met in it so far."""

    __slots__ = ("calls", "depth", "key", "matched", "seen")

    def __init__(self, key: int, matched: list[StmtPos], depth: int) -> None:
        self.key = key
        self.matched = matched
        self.depth = depth
        self.seen = 0
        self.calls: list[Pos] | None = None

    def call(self, k: int) -> Pos:
        if self.calls is None:
            self.calls = call_positions(self.matched)
        return self.calls[k] if k < len(self.calls) else self.matched[0].pos


class PositionTracker:
    """Follows a walk over the libcst tree (``enter``/``exit`` for statements, blocks and calls)
    and gives the position of each statement and call it met, keyed by the original node's id."""

    def __init__(self, index: list[StmtPos]) -> None:
        self._pending: list[list[StmtPos]] = [list(reversed(index))]  # statements still to match
        self._frames: list[_Frame] = []
        self._statements: dict[int, Pos] = {}
        self._calls: dict[int, tuple[_Frame, int]] = {}
        self.spans: dict[int, tuple[int, int]] = {}  # statement -> (first line, last line)

    @property
    def positions(self) -> dict[int, Pos]:
        """Every matched node's position (computes all call positions: for tests and tools)."""
        out = dict(self._statements)
        out.update({key: frame.call(k) for key, (frame, k) in self._calls.items()})
        return out

    def enter(self, node: cst.CSTNode) -> None:
        t = type(node)
        if t is cst.Call:
            if self._frames:
                frame = self._frames[-1]
                self._calls[id(node)] = (frame, frame.seen)
                frame.seen += 1
        elif t in _STATEMENTS or t is cst.SimpleStatementSuite:
            self._enter_statement(node)

    def exit(self, node: cst.CSTNode) -> None:
        t = type(node)
        is_statement = t in _STATEMENTS or t is cst.SimpleStatementSuite
        if is_statement and self._frames and self._frames[-1].key == id(node):
            del self._pending[self._frames.pop().depth :]
        if (t is cst.IndentedBlock or t is cst.SimpleStatementSuite) and len(self._pending) > 1:
            self._pending.pop()

    def _enter_statement(self, node: cst.CSTNode) -> None:
        pending = self._pending[-1] if self._pending else []
        count = len(node.body) if isinstance(node, cst.SimpleStatementLine | cst.SimpleStatementSuite) else 1
        got = [pending.pop() for _ in range(count) if pending]
        if not got:
            return
        self._statements[id(node)] = got[0].pos
        self.spans[id(node)] = (got[0].node.lineno, got[-1].node.end_lineno or got[-1].node.lineno)
        self._frames.append(_Frame(id(node), got, len(self._pending)))
        for body in reversed(got[0].bodies):
            self._pending.append(list(reversed(body)))

    def position(self, node: cst.CSTNode) -> Pos:
        """The node's own position if it was matched, else its statement's."""
        hit = self._statements.get(id(node))
        if hit is not None:
            return hit
        slot = self._calls.get(id(node))
        if slot is not None:
            return slot[0].call(slot[1])
        return self._frames[-1].matched[0].pos if self._frames else (0, 0)
