"""The engine's parser skips libcst's node validation while it parses, and only then."""

from __future__ import annotations

import subprocess
import sys
import threading

import libcst as cst
import pytest

from migrator.engine.parse import parse_module
from tests.conftest import ROOT

SOURCES = sorted((ROOT / "fixtures").glob("*/*/input.py"))


def test_every_fixture_is_compared():
    assert len(SOURCES) > 40  # both directions' fixtures; an empty glob would skip the comparison


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}")
def test_same_tree_as_libcst(path):
    source = path.read_text()
    fast = parse_module(source)
    assert fast.deep_equals(cst.parse_module(source))
    assert fast.code == source


def test_nodes_built_after_a_parse_are_validated():
    parse_module("x = 1\n")
    with pytest.raises(cst.CSTValidationError):
        cst.Name("")


def test_validation_is_restored_after_a_syntax_error():
    with pytest.raises(cst.ParserSyntaxError):
        parse_module("def broken(:\n")
    with pytest.raises(cst.CSTValidationError):
        cst.Name("")


def test_parses_in_threads_leave_validation_in_place():
    source = (ROOT / "fixtures" / "torch2tf" / "lenet" / "input.py").read_text()
    expected = cst.parse_module(source)
    results: list[bool] = []

    def work() -> None:
        for _ in range(20):
            results.append(parse_module(source).deep_equals(expected))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 80
    with pytest.raises(cst.CSTValidationError):
        cst.Name("")


_BUDGET = """
import libcst as cst
from migrator.engine.parse import _WORTH, parse_module

def state():
    return f"{cst.Name.__init__.__code__.co_filename}|{cst.CSTNode._codegen.__module__}"

line = "x = f(a, b)\\n"
parse_module(line * 100)
print(state())
parse_module(line * (_WORTH // len(line)))
print(state())
"""


def test_the_libcst_replacements_wait_for_enough_source():
    """A one-file run keeps stock libcst (installing costs more than it saves there); a longer run
    gets the cheaper constructors and code generation."""
    out = subprocess.run(
        [sys.executable, "-c", _BUDGET], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.splitlines()
    assert out[0] == "<string>|libcst._nodes.base"
    assert out[1].startswith("<fwmigrate libcst constructor/") and out[1].endswith("|migrator.engine.codegen")
