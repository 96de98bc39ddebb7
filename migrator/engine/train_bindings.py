"""Literal values of local names that a recorded training set-up refers to.

``verify --train-steps`` evaluates the optimizer, schedule and loss expressions of both files in
each module's namespace; a name local to the training function (``lr=lr``, ``T_max=epochs``) is
not there. When the file gives such a name one literal value (a parameter default or a plain
assignment), that value is prepended to the set-up; other names stay, and the check reports them.
"""

from __future__ import annotations

import ast
import builtins
import re
from collections.abc import Iterator, Mapping, Sequence

import libcst as cst

from migrator.engine.emitter import code_of
from migrator.engine.values import NOT_LITERAL, literal
from migrator.engine.walk import Walker

_BUILTINS = frozenset(dir(builtins))


def literal_names(module: cst.Module) -> dict[str, str]:
    """Name -> literal code for every name the file binds to exactly one literal value."""
    seen: dict[str, set[str]] = {}

    class Collect:
        def visit_Param(self, node: cst.Param) -> None:
            if node.default is not None and literal(node.default) is not NOT_LITERAL:
                seen.setdefault(node.name.value, set()).add(code_of(node.default))

        def visit_Assign(self, node: cst.Assign) -> None:
            for t in node.targets:
                if isinstance(t.target, cst.Name):
                    value = code_of(node.value) if literal(node.value) is not NOT_LITERAL else "\0"
                    seen.setdefault(t.target.value, set()).add(value)

    Walker(Collect()).walk(module)
    return {k: next(iter(v)) for k, v in seen.items() if len(v) == 1 and "\0" not in v}


class LiteralNames(Mapping[str, str]):
    """``literal_names(module)``, computed the first time a name is looked up: most training
    set-ups have no free name, and the file is then not walked at all."""

    def __init__(self, module: cst.Module) -> None:
        self._module = module
        self._names: dict[str, str] | None = None

    def _all(self) -> dict[str, str]:
        if self._names is None:
            self._names = literal_names(self._module)
        return self._names

    def __getitem__(self, name: str) -> str:
        return self._all()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


def one_line(code: str) -> str:
    """Code spread over lines inside brackets, on one line."""
    flat = re.sub(r"\s*\n\s*", " ", code.strip())
    return re.sub(
        r"([(\[{]) | ([)\]}])|,( [)\]}])", lambda m: m.group(1) or m.group(2) or m.group(3)[1:], flat
    )


def _free(expr: str) -> list[str]:
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError:
        return []
    return [n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id not in _BUILTINS]


def with_bindings(setup: Sequence[Sequence[str]], known: Mapping[str, str], model: str) -> list[list[str]]:
    """The set-up, each entry preceded by definitions (from ``known``: literal values, training
    objects built earlier in the file) of the free names it uses and nothing before defines."""
    bound = {model, "steps_per_epoch", "_fwm_pred", "_fwm_target"}
    out: list[list[str]] = []

    def define(name: str, expr: str, depth: int) -> None:
        for free in _free(expr):
            if free not in bound and free in known and depth < 8:
                define(free, known[free], depth + 1)
        out.append([name, one_line(expr)])
        bound.add(name)

    for name, expr in setup:
        if expr.strip() != name:  # `optimizer = optimizer`: bound by its own definition above
            define(name, expr, 0)
        elif name not in bound and name in known:
            define(name, known[name], 0)
    return out
