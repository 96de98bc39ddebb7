"""Each generated Keras file is imported and its model built on an input in the migrated layout
(from the migration record); the output must have the expected shape. Needs TensorFlow."""

from __future__ import annotations

import importlib.util
import json
import tomllib
from pathlib import Path

import pytest

from migrator.api import migrate_source
from migrator.rules.loader import RuleSet
from migrator.types import Direction
from tests.conftest import FIXTURES

NAMES = sorted(p.name for p in FIXTURES.iterdir() if (p / "fixture.toml").is_file())


def _permute(shape: list[int], perm: list[int] | None) -> list[int]:
    return [shape[p] for p in perm] if perm else list(shape)


@pytest.mark.frameworks
@pytest.mark.parametrize("name", NAMES)
def test_generated_model_builds(torch2tf_rules: RuleSet, name: str, tmp_path: Path) -> None:
    import numpy as np

    d = FIXTURES / name
    meta = tomllib.loads((d / "fixture.toml").read_text(encoding="utf-8"))
    result = migrate_source((d / "input.py").read_text(encoding="utf-8"), Direction.TORCH2TF, torch2tf_rules)
    out = tmp_path / f"{name}_tf.py"
    out.write_text(result.code, encoding="utf-8")
    record = json.loads(result.record.dumps())
    spec = importlib.util.spec_from_file_location(f"fwm_generated_{name}", out)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert "torch" not in module.__dict__, "the generated file must not import torch"
    model = getattr(module, meta["model"])()
    cls = record["classes"][meta["model"]]
    shape = _permute(meta["input_shape"], cls["inputs"][0]["perm"])
    rng = np.random.default_rng(0)
    if meta.get("input_dtype") == "int64":
        x = rng.integers(0, meta.get("input_high", 10), size=shape).astype("int32")
    else:
        x = rng.standard_normal(shape).astype("float32")
    y = model(x, training=False)
    assert list(y.shape) == _permute(meta["output_shape"], cls["outputs"][0]["perm"])
    assert np.isfinite(np.asarray(y)).all()
