"""Check that every tf2torch fixture model builds and runs under Keras 3 with the declared shapes."""

from __future__ import annotations

import importlib.util
import os
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from migrator.verify.expr import evaluate

FIXTURES_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "tf2torch"

FIXTURE_DIRS = (
    sorted(p for p in FIXTURES_DIR.iterdir() if p.is_dir() and (p / "fixture.toml").is_file())
    if FIXTURES_DIR.is_dir()
    else []
)

REQUIRED_KEYS = ("model", "input_shape", "input_dtype", "output_shape", "description")

# `import tensorflow as tf` used as `tf.keras.…`, or `from tensorflow import keras`
TF_KERAS_STYLE = re.compile(
    r"^from tensorflow import keras\b|^import tensorflow as tf\b(?=[\s\S]*\btf\.keras\.)", re.MULTILINE
)


def _load_config(fixture_dir: Path) -> dict[str, Any]:
    with (fixture_dir / "fixture.toml").open("rb") as fh:
        return tomllib.load(fh)


def _load_module(fixture_dir: Path) -> Any:
    module_name = f"_fwmigrate_fixture_tf2torch_{fixture_dir.name}"
    spec = importlib.util.spec_from_file_location(module_name, fixture_dir / "input.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_enough_fixtures_and_tf_keras_styles() -> None:
    assert len(FIXTURE_DIRS) >= 10, f"expected at least 10 fixtures under {FIXTURES_DIR}"
    tf_style = [d.name for d in FIXTURE_DIRS if TF_KERAS_STYLE.search((d / "input.py").read_text("utf-8"))]
    assert len(tf_style) >= 2, f"at least two fixtures must use tf.keras-style imports, got {tf_style}"


@pytest.mark.parametrize("fixture_dir", FIXTURE_DIRS, ids=[p.name for p in FIXTURE_DIRS])
def test_fixture_config_complete(fixture_dir: Path) -> None:
    config = _load_config(fixture_dir)
    for key in REQUIRED_KEYS:
        assert key in config, f"{fixture_dir.name}/fixture.toml is missing {key!r}"
    assert config["input_dtype"] in ("float32", "int32")
    if config["input_dtype"] == "int32":
        assert int(config["input_high"]) > 0
    assert config["input_shape"][0] >= 2, "batch must be at least 2"
    assert config["output_shape"][0] == config["input_shape"][0]


@pytest.mark.frameworks
@pytest.mark.parametrize("fixture_dir", FIXTURE_DIRS, ids=[p.name for p in FIXTURE_DIRS])
def test_fixture_runs_under_keras(fixture_dir: Path) -> None:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras
    import numpy as np

    config = _load_config(fixture_dir)
    for key in REQUIRED_KEYS:
        assert key in config, f"{fixture_dir.name}/fixture.toml is missing {key!r}"

    module = _load_module(fixture_dir)
    model = evaluate(config["model"], vars(module))
    assert isinstance(model, keras.Model)

    rng = np.random.default_rng(0)
    shape = tuple(config["input_shape"])
    dtype = config["input_dtype"]
    if dtype == "float32":
        x = rng.standard_normal(shape).astype("float32")
    elif dtype == "int32":
        x = rng.integers(0, int(config["input_high"]), size=shape).astype("int32")
    else:
        pytest.fail(f"unsupported input_dtype {dtype!r} in {fixture_dir.name}")

    out = keras.ops.convert_to_numpy(model(x, training=False))
    assert list(out.shape) == list(config["output_shape"])
    assert bool(np.isfinite(out).all())
    # Checked after the first call: in Keras 3, `model.build(shape)` on a subclassed model without its
    # own build() only marks it built (with a UserWarning); the sub-layers create weights when called.
    assert len(model.trainable_weights) > 0, "the model has no trainable weights"
