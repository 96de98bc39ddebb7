"""Every torch2tf fixture, migrated, verifies as equivalent at the default tolerance, with a
per-layer table in which every compared layer passes."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.api import verify
from migrator.verify.result import Status, Verdict
from migrator.verify.spec import InputSpec, VerifyOptions
from tests.conftest import FIXTURES, fixture_spec, migrate_fixture

NAMES = sorted(p.name for p in FIXTURES.iterdir() if (p / "fixture.toml").is_file())


@pytest.mark.frameworks
@pytest.mark.parametrize("name", NAMES)
def test_fixture_verifies_as_equivalent(name: str, tmp_path: Path) -> None:
    src, out = migrate_fixture(name, tmp_path)
    model, spec = fixture_spec(name)
    result = verify(src, out, VerifyOptions(model=model, inputs=(InputSpec.parse(spec),)))
    assert result.verdict is Verdict.EQUIVALENT, result.error or result.dumps()
    assert result.max_abs_diff is not None and result.max_abs_diff <= 1e-6 + 1e-5 * result.outputs[0].scale
    assert result.layers, "a per-layer table"
    compared = [c for c in result.layers if c.status is not Status.NOT_COMPARED]
    assert len(compared) >= len(result.layers) // 2
    assert all(c.status is Status.PASS for c in compared), [
        c for c in compared if c.status is not Status.PASS
    ]
    assert result.first_divergent_layer is None
    assert result.float64_error is not None
    assert len(result.samples) == 3
