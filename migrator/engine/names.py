"""Resolve dotted names through the file's imports (an alias table: cheap, and enough for matching).

``import torch.nn as nn``, ``from torch import nn``, ``from torch.nn import Conv2d as C`` and
``import torch`` all make ``...Conv2d`` resolve to ``torch.nn.Conv2d``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import libcst as cst

from migrator.engine.walk import Walker

# Some APIs are re-exported under several names; map them to the one rules use.
_CANONICAL = MappingProxyType(
    {
        "torch.nn.modules.module.Module": "torch.nn.Module",
        "torch.functional.F": "torch.nn.functional",
    }
)


def dotted(node: cst.BaseExpression) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, else None."""
    # exact types: libcst's classes are ABCs, and isinstance() on a miss goes through abc's hooks
    parts: list[str] = []
    while type(node) is cst.Attribute:
        parts.append(node.attr.value)
        node = node.value
    if type(node) is not cst.Name:
        return None
    parts.append(node.value)
    return ".".join(reversed(parts))


def module_name(node: cst.BaseExpression | None) -> str | None:
    if node is None:
        return None
    return dotted(node)


@dataclass(frozen=True)
class Binding:
    """A local name bound by an import statement."""

    local: str
    qualified: str


@dataclass(frozen=True)
class ImportTable:
    bindings: Mapping[str, str]  # local name -> qualified name

    def resolve(self, node: cst.BaseExpression) -> str | None:
        """The qualified name of a dotted expression whose root is imported, else None."""
        name = dotted(node)
        if name is None:
            return None
        return self.resolve_dotted(name)

    def resolve_dotted(self, name: str) -> str | None:
        root, _, rest = name.partition(".")
        target = self.bindings.get(root)
        if target is None:
            return None
        full = f"{target}.{rest}" if rest else target
        return _CANONICAL.get(full, full)

    def root_of(self, node: cst.BaseExpression) -> str | None:
        """The local root name of a dotted expression (``nn`` for ``nn.Conv2d``)."""
        while isinstance(node, cst.Attribute):
            node = node.value
        return node.value if isinstance(node, cst.Name) else None


def local_names(fn: cst.FunctionDef) -> set[str]:
    """Names a function binds itself (parameters, assignment and loop targets): inside it they
    shadow module-level imports of the same name."""
    names = {p.name.value for p in [*fn.params.posonly_params, *fn.params.params, *fn.params.kwonly_params]}
    for star in (fn.params.star_arg, fn.params.star_kwarg):
        if isinstance(star, cst.Param):
            names.add(star.name.value)

    class Targets(cst.CSTVisitor):
        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            return node is fn  # nested functions have their own scope

        def visit_ClassDef(self, node: cst.ClassDef) -> bool:
            return False

        def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
            _collect(node.target, names)

        def visit_For(self, node: cst.For) -> None:
            _collect(node.target, names)

        def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
            _collect(node.target, names)

    Walker(Targets()).walk(fn)
    return names


def _collect(target: cst.BaseExpression, out: set[str]) -> None:
    if isinstance(target, cst.Name):
        out.add(target.value)
    elif isinstance(target, cst.Tuple | cst.List):
        for el in target.elements:
            _collect(el.value, out)


def without(table: ImportTable, names: set[str]) -> ImportTable:
    """The table with the bindings that ``names`` shadow removed (the same table if none)."""
    if not names & set(table.bindings):
        return table
    return ImportTable(MappingProxyType({k: v for k, v in table.bindings.items() if k not in names}))


def import_bindings(stmt: cst.Import | cst.ImportFrom) -> list[Binding]:
    """The names one import statement binds (star imports and relative imports bind none we track)."""
    out: list[Binding] = []
    if isinstance(stmt, cst.Import):
        for alias in stmt.names:
            full = dotted(alias.name)
            if full is None:
                continue
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                out.append(Binding(alias.asname.name.value, full))
            else:
                root = full.split(".", 1)[0]
                out.append(Binding(root, root))
        return out
    if stmt.relative or isinstance(stmt.names, cst.ImportStar):
        return out
    mod = module_name(stmt.module)
    if mod is None:
        return out
    for alias in stmt.names:
        name = dotted(alias.name)
        if name is None:
            continue
        local = name
        if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
            local = alias.asname.name.value
        out.append(Binding(local, f"{mod}.{name}"))
    return out


def build_import_table(module: cst.Module, roots: frozenset[str]) -> ImportTable:
    """Collect top-level imports whose module starts with one of ``roots`` (e.g. {"torch"})."""
    table: dict[str, str] = {}
    for stmt in module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if isinstance(small, cst.Import | cst.ImportFrom):
                for b in import_bindings(small):
                    if b.qualified.split(".", 1)[0] in roots:
                        table[b.local] = b.qualified
    return ImportTable(MappingProxyType(table))
