"""Snapshot tests: each fixture's migrated code, migration record and summary are checked in.

Refresh after an intended change with::

    FWMIGRATE_UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/test_fixtures.py

and review the diff before committing it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from migrator.api import migrate_source
from migrator.report.summary import render_summary
from migrator.rules.loader import RuleSet
from migrator.types import Direction
from tests.conftest import FIXTURES

UPDATE = os.environ.get("FWMIGRATE_UPDATE_SNAPSHOTS") == "1"
NAMES = sorted(p.name for p in FIXTURES.iterdir() if (p / "input.py").is_file())


def _check(path: Path, actual: str) -> None:
    if UPDATE:
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"missing snapshot {path}; run with FWMIGRATE_UPDATE_SNAPSHOTS=1"
    assert actual == path.read_text(encoding="utf-8"), f"{path} differs"


@pytest.mark.parametrize("name", NAMES)
def test_fixture_snapshot(torch2tf_rules: RuleSet, name: str) -> None:
    d = FIXTURES / name
    result = migrate_source(
        (d / "input.py").read_text(encoding="utf-8"), Direction.TORCH2TF, torch2tf_rules, "input.py"
    )
    _check(d / "expected.py", result.code)
    _check(d / "expected.migration.json", result.record.dumps())
    _check(d / "expected.summary.txt", render_summary(result, "input.py", verbose=True))
    assert result.complete, "fixtures are written to migrate completely"


@pytest.mark.parametrize("name", NAMES)
def test_fixture_idempotent(torch2tf_rules: RuleSet, name: str) -> None:
    d = FIXTURES / name
    first = migrate_source((d / "input.py").read_text(encoding="utf-8"), Direction.TORCH2TF, torch2tf_rules)
    second = migrate_source(first.code, Direction.TORCH2TF, torch2tf_rules)
    assert second.code == first.code
    assert not second.changed


def test_there_are_enough_fixtures() -> None:
    assert len(NAMES) >= 10
