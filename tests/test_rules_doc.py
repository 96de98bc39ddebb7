"""The rule reference pages in docs/rules/ are generated from the rule files and must be current."""

from __future__ import annotations

import pytest

from migrator.report.rules_doc import page_path, render_page
from migrator.rules.loader import load_rules
from migrator.types import Direction
from tests.conftest import ROOT


@pytest.mark.parametrize("direction", list(Direction))
def test_reference_page_is_current(direction: Direction) -> None:
    page = page_path(ROOT / "docs", direction)
    assert page.is_file(), f"{page} is missing: run `python -m migrator.report.rules_doc`"
    assert page.read_text(encoding="utf-8") == render_page(direction), (
        f"{page.relative_to(ROOT)} is out of date: run `make docs` (python -m migrator.report.rules_doc)"
    )


@pytest.mark.parametrize("direction", list(Direction))
def test_every_rule_is_on_its_page(direction: Direction) -> None:
    text = render_page(direction)
    for rule in load_rules(direction, cache_dir=None).rules:
        assert f"\n### {rule.id}\n" in text
        for example in rule.examples:
            assert example.before.strip().splitlines()[0] in text
    assert "unsupported" in text or "Not migrated" in text


@pytest.mark.parametrize("direction", list(Direction))
def test_what_a_rule_refuses_is_on_its_page_with_the_reason(direction: Direction) -> None:
    text = render_page(direction)
    refusing = 0
    for rule in load_rules(direction, cache_dir=None).rules:
        section = text.split(f"\n### {rule.id}\n", 1)[1].split("\n### ", 1)[0]
        if rule.unsupported is not None:
            assert f"Not migrated: {rule.unsupported}" in section
        for name, spec in rule.args.items():
            if spec.only:
                refusing += 1
                assert f"| `{name}` |" in section and "other values unsupported" in section, rule.id
                assert spec.reason.replace("|", "\\|") in section, rule.id
    assert refusing > 0
