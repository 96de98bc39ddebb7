"""Check that every torch2tf fixture model runs under PyTorch with the declared shapes."""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path
from typing import Any

import pytest

FIXTURES_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "torch2tf"

FIXTURE_DIRS = (
    sorted(p for p in FIXTURES_DIR.iterdir() if p.is_dir() and (p / "fixture.toml").is_file())
    if FIXTURES_DIR.is_dir()
    else []
)


def _load_config(fixture_dir: Path) -> dict[str, Any]:
    with (fixture_dir / "fixture.toml").open("rb") as fh:
        return tomllib.load(fh)


def _load_module(fixture_dir: Path) -> Any:
    module_name = f"_fwmigrate_fixture_torch2tf_{fixture_dir.name}"
    spec = importlib.util.spec_from_file_location(module_name, fixture_dir / "input.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fixtures_present() -> None:
    assert FIXTURE_DIRS, f"no fixtures with fixture.toml found under {FIXTURES_DIR}"


@pytest.mark.frameworks
@pytest.mark.parametrize("fixture_dir", FIXTURE_DIRS, ids=[p.name for p in FIXTURE_DIRS])
def test_fixture_runs_under_torch(fixture_dir: Path) -> None:
    import torch

    config = _load_config(fixture_dir)
    for key in ("model", "input_shape", "input_dtype", "output_shape", "description"):
        assert key in config, f"{fixture_dir.name}/fixture.toml is missing {key!r}"

    module = _load_module(fixture_dir)
    model_cls = getattr(module, config["model"])
    model = model_cls()
    model.eval()

    torch.manual_seed(0)
    shape = tuple(config["input_shape"])
    dtype = config["input_dtype"]
    if dtype == "float32":
        x = torch.randn(*shape, dtype=torch.float32)
    elif dtype == "int64":
        x = torch.randint(0, int(config["input_high"]), shape, dtype=torch.int64)
    else:
        pytest.fail(f"unsupported input_dtype {dtype!r} in {fixture_dir.name}")

    with torch.no_grad():
        out = model(x)

    assert isinstance(out, torch.Tensor)
    assert list(out.shape) == list(config["output_shape"])
    assert bool(torch.isfinite(out).all())
