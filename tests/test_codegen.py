"""The engine's code generation gives libcst's text, token for token (trees the engine builds are
covered by the fixture snapshots, which were written by libcst's own code generation)."""

from __future__ import annotations

import libcst as cst
import pytest

from migrator.engine.codegen import module_code, node_code
from tests.conftest import ROOT

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
