"""Loading a user's model file inside the verification subprocess."""

from __future__ import annotations

import ast
import importlib.util
import sys
import types
from pathlib import Path

from migrator.verify.spec import LoadMode


class LoadError(RuntimeError):
    pass


def definitions_only(source: str) -> str:
    """Keep imports, function/class definitions and assignments of constants; drop everything
    else at module level (argument parsing, data loading, training)."""
    tree = ast.parse(source)
    keep: list[ast.stmt] = []
    for stmt in tree.body:
        if isinstance(
            stmt, ast.Import | ast.ImportFrom | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
        ) or (isinstance(stmt, ast.Assign | ast.AnnAssign) and _is_constant(stmt.value)):
            keep.append(stmt)
        elif (
            isinstance(stmt, ast.Expr)
            and isinstance(stmt.value, ast.Constant)
            and isinstance(stmt.value.value, str)
        ):
            keep.append(stmt)  # docstring
    tree.body = keep
    return ast.unparse(tree)


def _is_constant(node: ast.expr | None) -> bool:
    if node is None:
        return True
    for n in ast.walk(node):
        if isinstance(n, ast.Call | ast.Lambda | ast.Await | ast.Yield | ast.NamedExpr):
            return False
    return True


def load_module(path: Path, name: str, mode: LoadMode) -> types.ModuleType:
    """Import the file as module ``name``. ``__name__`` is not "__main__", so guarded script code
    does not run; with DEFINITIONS only definitions and constants run at all."""
    source = path.read_text(encoding="utf-8")
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module
    if mode is LoadMode.DEFINITIONS:
        code = compile(definitions_only(source), str(path), "exec")
        exec(code, module.__dict__)  # the user's own definitions, in the sandboxed subprocess
        return module
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise LoadError(f"{path}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
