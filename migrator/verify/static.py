"""Static warnings about the original model that limit what a comparison can show (no user code
runs here): control flow that depends on tensor values, and randomness in forward."""

from __future__ import annotations

import ast

_RANDOM = {
    "randn",
    "rand",
    "randint",
    "randn_like",
    "rand_like",
    "randint_like",
    "bernoulli",
    "normal",
    "multinomial",
    "randperm",
    "uniform",
    "truncated_normal",
    "categorical",
}
_DROPOUT = {"dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout"}


_FLAGS = {"training", "mask"}  # Keras call() arguments that are flags, not tensors


def forward_warnings(source: str, method: str = "forward") -> list[str]:
    """Warnings about the original's ``forward`` methods (``call`` for a Keras original)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    out: list[str] = []
    for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        for fn in cls.body:
            if isinstance(fn, ast.FunctionDef) and fn.name == method:
                out.extend(_check_forward(cls.name, fn))
    return out


def _check_forward(cls: str, fn: ast.FunctionDef) -> list[str]:
    keras = fn.name == "call"
    params = {a.arg for a in fn.args.args[1:]} - (_FLAGS if keras else set())
    tensors = set(params)
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call | ast.BinOp | ast.Subscript):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    tensors.add(t.id)
    out = []
    for node in ast.walk(fn):
        if isinstance(node, ast.If | ast.While | ast.IfExp) and _data_dependent(node.test, tensors):
            kind = "while" if isinstance(node, ast.While) else "if"
            out.append(
                f"{cls}.{fn.name} line {node.lineno}: `{kind}` on tensor values: "
                "equivalence is shown for the inputs tried only"
            )
        if isinstance(node, ast.Call):
            name = (
                node.func.attr
                if isinstance(node.func, ast.Attribute)
                else node.func.id
                if isinstance(node.func, ast.Name)
                else ""
            )
            if name in _RANDOM:
                out.append(
                    f"{cls}.{fn.name} line {node.lineno}: `{name}` draws random numbers: "
                    "the two models use different random streams"
                )
            on_self = (  # self.dropout(h): an nn.Dropout module, off in eval mode
                isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "self"
            )
            dropout = name in _DROPOUT and not on_self
            if not keras and dropout and not any(k.arg == "training" for k in node.keywords):
                out.append(
                    f"{cls}.forward line {node.lineno}: `{name}` without training=self.training "
                    "is active even in eval mode"
                )
    return out


def _data_dependent(test: ast.expr, tensors: set[str]) -> bool:
    for n in ast.walk(test):
        if isinstance(n, ast.Compare) and any(isinstance(op, ast.Is | ast.IsNot) for op in n.ops):
            return False  # `x is None`
        if (
            isinstance(n, ast.Call)
            and isinstance(n.func, ast.Name)
            and n.func.id in ("isinstance", "len", "hasattr")
        ):
            return False
        if isinstance(n, ast.Attribute) and n.attr in ("shape", "ndim", "training", "dtype", "device"):
            return False
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in ("size", "dim"):
            return False
    return any(isinstance(n, ast.Name) and n.id in tensors for n in ast.walk(test))
