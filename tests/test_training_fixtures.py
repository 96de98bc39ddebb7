"""The training fixtures (``fixtures/*/train_*``): each script migrates with exit 0, the original
and the migrated script both train, evaluate and save end to end on CPU, and
``verify --train-steps 5`` passes on the pair."""

from __future__ import annotations

import importlib.util
import math
import os
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from migrator.api import load_rules, migrate_source, verify, write_outputs
from migrator.types import Direction, Severity
from migrator.verify.result import Verdict
from migrator.verify.spec import InputSpec, VerifyOptions

pytestmark = pytest.mark.frameworks

ROOT = Path(__file__).resolve().parent.parent / "fixtures"
CASES = [
    pytest.param(direction, p.name, id=f"{direction.value}-{p.name}")
    for direction in Direction
    for p in sorted((ROOT / direction.value).iterdir())
    if p.name.startswith("train_")
]
SUFFIX = {Direction.TORCH2TF: "_tf", Direction.TF2TORCH: "_torch"}


def _migrate(direction: Direction, name: str, d: Path) -> tuple[Path, Path, dict[str, Any]]:
    src = d / f"{name}.py"
    src.write_text((ROOT / direction.value / name / "input.py").read_text(encoding="utf-8"), encoding="utf-8")
    result = migrate_source(src.read_text(encoding="utf-8"), direction, load_rules(direction), src.name)
    assert result.complete, [f for f in result.findings if f.severity is Severity.UNSUPPORTED]
    out = d / f"{name}{SUFFIX[direction]}.py"
    write_outputs(result, out, force=True)
    meta = tomllib.loads((ROOT / direction.value / name / "fixture.toml").read_text(encoding="utf-8"))
    return src, out, meta


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"fwm_train_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _numbers(value: Any) -> Iterator[float]:
    if isinstance(value, int | float):
        yield float(value)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _numbers(v)
    elif hasattr(value, "shape"):  # an array of predictions
        yield from (float(v) for v in value.reshape(-1))


def test_there_are_four_training_fixtures_per_direction() -> None:
    for direction in Direction:
        assert sum(1 for c in CASES if c.values[0] is direction) >= 4


@pytest.mark.parametrize(("direction", "name"), CASES)
def test_both_scripts_train_evaluate_and_save(direction: Direction, name: str, tmp_path: Path) -> None:
    src, out, _ = _migrate(direction, name, tmp_path)
    cwd = Path.cwd()
    results = {}
    try:
        for path in (src, out):
            work = tmp_path / path.stem  # each script saves its checkpoint in its own directory
            work.mkdir()
            os.chdir(work)
            results[path.name] = _load(path).train()
            saved = [p.name for p in work.iterdir()]
            assert any(n.endswith((".pt", ".weights.h5", ".keras")) for n in saved), f"{path.name}: {saved}"
    finally:
        os.chdir(cwd)
    for key, value in results.items():
        numbers = list(_numbers(value))
        assert numbers, f"{key} returned no figures: {value!r}"
        assert all(math.isfinite(v) for v in numbers), f"{key}: {value!r}"


@pytest.mark.parametrize(("direction", "name"), CASES)
def test_train_steps_verify(direction: Direction, name: str, tmp_path: Path) -> None:
    src, out, meta = _migrate(direction, name, tmp_path)
    spec = ",".join(str(d) for d in meta["input_shape"])
    if meta.get("input_dtype") == "int64":
        spec += f":int64:0:{meta['input_high']}"
    options = VerifyOptions(model="build_model()", inputs=(InputSpec.parse(spec),), train_steps=5)
    result = verify(src, out, options)
    assert result.verdict is Verdict.EQUIVALENT, result.error or result.dumps()
    training = result.training
    assert training is not None and training.error is None, result.dumps()
    assert training.verdict is Verdict.EQUIVALENT
    assert len(training.losses) == 5 and training.outputs
    assert training.uses.get("optimizer") and training.uses.get("loss")
