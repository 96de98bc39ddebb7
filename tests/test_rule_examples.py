"""Every example in every rule file is a test: exact output, valid Python, and idempotent."""

from __future__ import annotations

import libcst as cst
import pytest

from migrator.api import migrate_source
from migrator.rules.loader import RuleSet, load_rules
from migrator.types import Direction
from tests.conftest import PREAMBLE, body_after_imports

_RULES = load_rules(Direction.TORCH2TF)
CASES = [
    pytest.param(rule, i, ex, id=f"{rule.id}[{i}]")
    for rule in _RULES.rules
    for i, ex in enumerate(rule.examples)
]
UNCHANGED = [
    pytest.param(rule, code, id=f"{rule.id}[unchanged{i}]")
    for rule in _RULES.rules
    for i, code in enumerate(rule.unchanged)
]


@pytest.mark.parametrize(("rule", "index", "example"), CASES)
def test_example(torch2tf_rules: RuleSet, rule: object, index: int, example: object) -> None:
    source = PREAMBLE + example.before.strip() + "\n"  # type: ignore[attr-defined]
    result = migrate_source(source, Direction.TORCH2TF, torch2tf_rules)
    assert body_after_imports(result.code) == example.after.strip() + "\n"  # type: ignore[attr-defined]
    cst.parse_module(result.code)  # valid Python
    again = migrate_source(result.code, Direction.TORCH2TF, torch2tf_rules)
    assert again.code == result.code, "migrating the output again changed it"


@pytest.mark.parametrize(("rule", "code"), UNCHANGED)
def test_unchanged(torch2tf_rules: RuleSet, rule: object, code: str) -> None:
    source = PREAMBLE + code.strip() + "\n"
    result = migrate_source(source, Direction.TORCH2TF, torch2tf_rules)
    assert body_after_imports(result.code) == code.strip() + "\n"


def test_there_are_examples() -> None:
    assert len(CASES) >= 60
