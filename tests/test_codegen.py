"""The engine's code generation gives libcst's text, token for token (trees the engine builds are
covered by the fixture snapshots, which were written by libcst's own code generation), and the
methods it replaces in libcst's classes change neither libcst's text nor its positions."""

from __future__ import annotations

import json

import libcst as cst
import pytest
from libcst._nodes.internal import CodegenState
from libcst.metadata import MetadataWrapper, PositionProvider

from migrator.engine import codegen
from migrator.engine.codegen import module_code, node_code
from migrator.engine.parse import install_speedups
from tests.conftest import ROOT, run_stock

SOURCES = sorted((ROOT / "fixtures").glob("*/*/input.py"))


def test_every_fixture_is_compared():
    assert len(SOURCES) > 40


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}")
def test_same_text_as_libcst(path):
    source = path.read_text()
    module = cst.parse_module(source)
    assert module_code(module) == module.code == source
    for stmt in module.body:
        assert node_code(stmt, module) == module.code_for_node(stmt)


def test_indentation_and_newlines_follow_the_module():
    module = cst.parse_module("class A:\r\n\tdef f(self):\r\n\t\treturn 1\r\n")
    assert module_code(module) == module.code
    body = module.body[0]
    assert node_code(body, module) == module.code_for_node(body)


def positions(source: str) -> list[list[object]]:
    """libcst's PositionProvider for every node, in traversal order, with each node's own text."""
    wrapper = MetadataWrapper(cst.parse_module(source))
    found = wrapper.resolve(PositionProvider)
    out: list[list[object]] = []

    class Collect(cst.CSTVisitor):
        def on_visit(self, node: cst.CSTNode) -> bool:
            r = found.get(node)
            where = None if r is None else [r.start.line, r.start.column, r.end.line, r.end.column]
            out.append([type(node).__name__, where, wrapper.module.code_for_node(node)])
            return True

    wrapper.module.visit(Collect())
    return out


_STOCK = """
import json, sys
from pathlib import Path
from tests.test_codegen import positions
print(json.dumps([positions(Path(p).read_text()) for p in sys.argv[1:]]))
"""


def test_libcst_text_and_positions_are_unchanged():
    """Stock libcst runs in a process of its own; this one has the replacements installed."""
    stock = run_stock(_STOCK, SOURCES)
    install_speedups()
    assert cst.CSTNode._codegen is codegen._codegen  # installed, so the comparison compares something
    assert json.dumps([positions(p.read_text()) for p in SOURCES]) + "\n" == stock


def test_parentheses_around_an_error_are_left_open_as_libcst_leaves_them():
    install_speedups()
    node = cst.Name("x", lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    state = CodegenState(default_indent="    ", default_newline="\n")
    with pytest.raises(ValueError), node._parenthesize(state):
        raise ValueError
    assert "".join(state.tokens) == "("
    state = CodegenState(default_indent="    ", default_newline="\n")
    with node._parenthesize(state):
        state.add_token("x")
    assert "".join(state.tokens) == "(x)"
