"""Evaluate `--model EXPR` in a module namespace without ``eval``: names, literals, attribute
access and calls only (``Net``, ``LeNet5(num_classes=3)``, ``ResNet(BasicBlock, [2, 2, 2])``)."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Any


class ExprError(ValueError):
    pass


def check_expr(text: str) -> ast.expr:
    """Parse EXPR and reject anything but names, literals, attributes and calls."""
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ExprError(f"--model {text!r} is not a Python expression: {exc.msg}") from None
    for node in ast.walk(tree):
        if not isinstance(
            node,
            ast.Name
            | ast.Constant
            | ast.Attribute
            | ast.Call
            | ast.keyword
            | ast.List
            | ast.Tuple
            | ast.Dict
            | ast.UnaryOp
            | ast.USub
            | ast.UAdd
            | ast.Load,
        ):
            raise ExprError(
                f"--model {text!r}: {type(node).__name__} is not allowed (names, literals and calls only)"
            )
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise ExprError(f"--model {text!r}: private attribute {node.attr!r} is not allowed")
        if isinstance(node, ast.Name) and node.id.startswith("__"):
            raise ExprError(f"--model {text!r}: the name {node.id!r} is not allowed")
    return tree


def evaluate(text: str, namespace: Mapping[str, Any]) -> Any:
    """Build the model: a bare class or function name is called with no arguments."""
    tree = check_expr(text)
    value = _eval(tree, namespace)
    if isinstance(tree, ast.Name | ast.Attribute) and callable(value):
        value = value()
    return value


def _eval(node: ast.expr, ns: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in ns:
            raise ExprError(f"name {node.id!r} is not defined in the file")
        return ns[node.id]
    if isinstance(node, ast.Attribute):
        return getattr(_eval(node.value, ns), node.attr)
    if isinstance(node, ast.List):
        return [_eval(e, ns) for e in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_eval(e, ns) for e in node.elts)
    if isinstance(node, ast.Dict):
        return {
            _eval(k, ns): _eval(v, ns) for k, v in zip(node.keys, node.values, strict=True) if k is not None
        }
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        v = _eval(node.operand, ns)
        return -v if isinstance(node.op, ast.USub) else +v
    if isinstance(node, ast.Call):
        func = _eval(node.func, ns)
        args = [_eval(a, ns) for a in node.args]
        kwargs = {k.arg: _eval(k.value, ns) for k in node.keywords if k.arg is not None}
        return func(*args, **kwargs)
    raise ExprError(f"unsupported expression {ast.dump(node)}")


def called_name(text: str) -> str | None:
    """The class or function EXPR builds the model with: ``build_model`` for ``build_model()``,
    ``ResNet`` for ``models.ResNet(BasicBlock, [2, 2])`` and for a bare ``ResNet``."""
    node = check_expr(text)
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None
