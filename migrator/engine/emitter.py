"""Build target-code expressions and remember which imports they need."""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from migrator.engine.codegen import node_code

# target module prefix -> (local alias, import statement that binds it)
_PREFIXES: tuple[tuple[str, str, str], ...] = (
    ("keras.layers.", "layers", "from keras import layers"),
    ("keras.ops.", "ops", "from keras import ops"),
    ("tensorflow.", "tf", "import tensorflow as tf"),
    ("keras.", "keras", "import keras"),
    ("migrator.runtime.keras_support.", "keras_support", "from migrator.runtime import keras_support"),
)


def parse_dotted(text: str) -> cst.BaseExpression:
    parts = text.split(".")
    node: cst.BaseExpression = cst.Name(parts[0])
    for p in parts[1:]:
        node = cst.Attribute(value=node, attr=cst.Name(p))
    return node


class Emitter:
    """One per migration run: the import style chosen for the file and the imports used so far."""

    def __init__(self, taken_names: frozenset[str]) -> None:
        # A file that already uses `layers` or `ops` as a name gets fully qualified keras.* names.
        self._short = {
            "layers": "layers" not in taken_names,
            "ops": "ops" not in taken_names,
            "tf": "tf" not in taken_names,
        }
        self.used: set[str] = set()
        self._qualified: dict[int, tuple[cst.BaseExpression, str]] = {}

    def qualified_of(self, node: cst.BaseExpression) -> str | None:
        """The qualified target name an emitted name node stands for."""
        hit = self._qualified.get(id(node))
        return hit[1] if hit is not None else None

    def name(self, qualified: str) -> cst.BaseExpression:
        node = self._name(qualified)
        self._qualified[id(node)] = (node, qualified)
        return node

    def _name(self, qualified: str) -> cst.BaseExpression:
        for prefix, alias, _ in _PREFIXES:
            if qualified.startswith(prefix):
                rest = qualified[len(prefix) :]
                if alias in ("keras", "keras_support"):
                    self.used.add(alias)
                    return parse_dotted(qualified if alias == "keras" else f"{alias}.{rest}")
                if self._short[alias]:
                    self.used.add(alias)
                    return parse_dotted(f"{alias}.{rest}")
                self.used.add("keras" if alias != "tf" else "tensorflow")
                return parse_dotted(qualified)
        raise ValueError(f"cannot emit {qualified!r}: unknown target module")

    def call(self, qualified: str, args: Sequence[cst.Arg]) -> cst.Call:
        return cst.Call(func=self.name(qualified), args=_commas(args))

    def import_lines(self) -> list[str]:
        lines = []
        if "keras" in self.used:
            lines.append("import keras")
        if "tensorflow" in self.used:
            lines.append("import tensorflow")
        if "tf" in self.used:
            lines.append("import tensorflow as tf")
        names = [n for n in ("layers", "ops") if n in self.used]
        if names:
            lines.append(f"from keras import {', '.join(names)}")
        if "keras_support" in self.used:
            lines.append("from migrator.runtime import keras_support")
        return lines


# libcst nodes are immutable, so punctuation can be shared; constructing them validates each one.
_COMMA = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
_NONE = cst.SimpleWhitespace("")
_EQUAL = cst.AssignEqual(whitespace_before=_NONE, whitespace_after=_NONE)


def _commas(args: Sequence[cst.Arg]) -> list[cst.Arg]:
    out = []
    for i, a in enumerate(args):
        if i < len(args) - 1:
            if a.comma is not _COMMA:
                a = a.with_changes(comma=_COMMA)
        elif a.comma is not cst.MaybeSentinel.DEFAULT:
            a = a.with_changes(comma=cst.MaybeSentinel.DEFAULT)
        out.append(a)
    return out


def commas(args: Sequence[cst.Arg]) -> list[cst.Arg]:
    return _commas(args)


def kwarg(name: str, value: cst.BaseExpression) -> cst.Arg:
    return cst.Arg(value=value, keyword=cst.Name(name), equal=_EQUAL)


def int_node(v: int) -> cst.BaseExpression:
    if v < 0:
        return cst.UnaryOperation(operator=cst.Minus(), expression=cst.Integer(str(-v)))
    return cst.Integer(str(v))


def tuple_node(values: Sequence[int]) -> cst.Tuple:
    elems = [int_node(v) for v in values]
    out = []
    for i, e in enumerate(elems):
        comma: cst.Comma | cst.MaybeSentinel = cst.MaybeSentinel.DEFAULT
        if i < len(elems) - 1:
            comma = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
        elif len(elems) == 1:
            comma = cst.Comma()
        out.append(cst.Element(value=e, comma=comma))
    return cst.Tuple(elements=out)


# One empty module renders every node: building a Module per call costs as much as the render.
_RENDER = cst.Module(body=[])


def code_of(node: cst.CSTNode) -> str:
    return node_code(node, _RENDER)
