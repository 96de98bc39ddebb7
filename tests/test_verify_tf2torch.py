"""`fwmigrate verify` in the tf2torch direction: a Keras original, its torch migration, inputs in
Keras's layout. Correct migrations pass; deliberately wrong ones fail (exit 1) and name the first
divergent layer; a weight that cannot be moved is an error naming the layer."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from migrator.api import migrate_source, write_outputs
from migrator.types import Direction
from migrator.verify.expr import called_name
from migrator.verify.inputs import shape_variants
from migrator.verify.result import Tolerance, Verdict
from migrator.verify.spec import InputSpec, LoadMode
from migrator.verify.static import forward_warnings

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "tf2torch"
FWMIGRATE = str(Path(sys.executable).parent / "fwmigrate")


def _migrate(source: str, tmp_path: Path) -> tuple[Path, Path]:
    src = tmp_path / "model.py"
    src.write_text(source, encoding="utf-8")
    result = migrate_source(source, Direction.TF2TORCH, None, "model.py")
    assert result.complete, [f.message for f in result.findings if f.severity.value == "unsupported"]
    out = tmp_path / "model_torch.py"
    write_outputs(result, out, force=True)
    return src, out


def _fixture(name: str, tmp_path: Path) -> tuple[Path, Path, str, str]:
    """Migrate a fixture into tmp_path: (original, migrated, --model, --input)."""
    meta = tomllib.loads((FIXTURES / name / "fixture.toml").read_text(encoding="utf-8"))
    src, out = _migrate((FIXTURES / name / "input.py").read_text(encoding="utf-8"), tmp_path)
    spec = ",".join(str(d) for d in meta["input_shape"])
    if meta.get("input_dtype", "float32") != "float32":
        spec += f":{meta['input_dtype']}"
        if meta["input_dtype"].startswith("int"):
            spec += f":0:{meta.get('input_high', 100)}"
    return src, out, meta["model"], spec


def _verify(src: Path, out: Path, model: str, spec: str, *extra: str) -> tuple[int, dict[str, Any], str]:
    report = out.with_name("report.json")
    proc = subprocess.run(
        [
            FWMIGRATE,
            "verify",
            str(src),
            str(out),
            "--model",
            model,
            "--input",
            spec,
            "--json",
            str(report),
            *extra,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    data = json.loads(report.read_text(encoding="utf-8")) if report.exists() else {}
    return proc.returncode, data, proc.stdout + proc.stderr


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def _record(out: Path) -> Path:
    return out.with_name(f"{out.stem}.migration.json")


def _request(src: Path, out: Path, model: str, spec: str, samples: int = 1) -> dict[str, Any]:
    """A worker request: verification in this process (faster than the CLI, same code)."""
    return {
        "original": str(src),
        "migrated": str(out),
        "record": str(_record(out)),
        "model": model,
        "inputs": [spec],
        "samples": samples,
        "seed": 0,
        "tolerance": asdict(Tolerance()),
        "load_mode": LoadMode.GUARDED.value,
        "warnings": [],
    }


@pytest.mark.frameworks
@pytest.mark.parametrize("name", ["mlp_sequential", "lenet_add", "activations_zoo"])
def test_fixture_is_equivalent(name: str, tmp_path: Path) -> None:
    src, out, model, spec = _fixture(name, tmp_path)
    code, data, text = _verify(src, out, model, spec)
    assert code == 0, text
    assert data["direction"] == "tf2torch" and data["verdict"] == "equivalent"
    assert data["inputs"][0]["shape"] == [int(d) for d in spec.split(",")]  # Keras layout
    assert data["float64_error"] is not None, data["warnings"]
    assert data["layers"] and all(c["status"] == "pass" for c in data["layers"]), text
    assert data["first_divergent_layer"] is None


# (fixture, file edited, old, new, first divergent layer): the migrated code or its record made wrong
MUTATIONS = [
    pytest.param(
        "activations_zoo",
        "code",
        "nn.LayerNorm(units, eps=0.001)",
        "nn.LayerNorm(units)",
        "12",
        id="layernorm eps",
    ),
    pytest.param(
        "activations_zoo",
        "code",
        "negative_slope=0.3",
        "negative_slope=0.01",
        "5",
        id="leaky_relu torch default",
    ),
    pytest.param(
        "activations_zoo",
        "code",
        "nn.GELU()",
        'nn.GELU(approximate="tanh")',
        "3 (activation gelu)",
        id="fused gelu approximated",
    ),
    pytest.param(
        "lenet_add",
        "record",
        '"transform": "linear_after_flatten"',
        '"transform": "linear"',
        "5",
        id="flatten order ignored",
    ),
]


@pytest.mark.frameworks
@pytest.mark.parametrize(("name", "where", "old", "new", "layer"), MUTATIONS)
def test_mutation_is_caught(name: str, where: str, old: str, new: str, layer: str, tmp_path: Path) -> None:
    src, out, model, spec = _fixture(name, tmp_path)
    _edit(out if where == "code" else _record(out), old, new)
    code, data, text = _verify(src, out, model, spec, "--samples", "1")
    assert code == 1, text
    assert data["verdict"] == "not_equivalent"
    assert data["first_divergent_layer"]["source"] == layer, text
    assert f"first divergent layer: {layer} " in text


BN_MODEL = """import keras
from keras import layers, ops


def build_model(num_classes=4):
    return keras.Sequential(
        [
            keras.Input(shape=(9, 9, 3)),
            layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False),
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2),
            layers.BatchNormalization(momentum=0.9, epsilon=1e-5),
            layers.GlobalAveragePooling2D(),
            layers.Dense(num_classes),
        ]
    )


class Block(layers.Layer):
    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.conv = layers.Conv2D(filters, 3, padding="same")
        self.bn = layers.BatchNormalization(momentum=0.9, epsilon=1e-5)

    def call(self, x, training=False):
        return ops.relu(self.bn(self.conv(x), training=training))


class Net(keras.Model):
    def __init__(self, num_classes=4):
        super().__init__()
        self.block1 = Block(8)
        self.block2 = Block(8)
        self.pool = layers.GlobalAveragePooling2D()
        self.fc = layers.Dense(num_classes, activation="relu")

    def call(self, x, training=False):
        x = self.block1(x, training=training)
        x = self.block2(x, training=training)
        return self.fc(self.pool(x))
"""


@pytest.mark.frameworks
def test_batchnorm_statistics_and_momentum(tmp_path: Path) -> None:
    """BatchNorm moving statistics are randomised before the transfer, and one training step checks
    the momentum: torch's must be 1 - Keras's."""
    from migrator.verify import worker

    src, out = _migrate(BN_MODEL, tmp_path)
    result = worker.run(_request(src, out, "build_model()", "2,9,9,3"))
    assert result.verdict is Verdict.EQUIVALENT, [(c.source, c.status.value) for c in result.layers]
    momentum = [c for c in result.layers if "after a training step" in c.source]
    assert [c.source.split()[0] for c in momentum] == ["1", "4"]
    assert all(c.status.value == "pass" for c in momentum)

    _edit(out, "nn.BatchNorm2d(8, eps=0.001, momentum=0.01)", "nn.BatchNorm2d(8, eps=0.001, momentum=0.99)")
    result = worker.run(_request(src, out, "build_model()", "2,9,9,3"))
    assert result.verdict is Verdict.NOT_EQUIVALENT
    assert all(o.status.value == "pass" for o in result.outputs)  # invisible at inference
    first = result.first_divergent_layer
    assert first is not None and first.source == "1 (moving_mean after a training step)"


@pytest.mark.frameworks
def test_nested_user_layers(tmp_path: Path) -> None:
    """A subclassed model owns its layers; a user layer class used twice owns its own, per instance."""
    src, out = _migrate(BN_MODEL, tmp_path)
    record = json.loads(_record(out).read_text(encoding="utf-8"))
    for name, output in (("Net", [0, 1]), ("Block", [0, 3, 1, 2])):  # layouts, where not inferred yet
        cls = record["classes"][name]
        cls["inputs"][0]["perm"] = cls["inputs"][0]["perm"] or [0, 3, 1, 2]
        cls["outputs"][0]["perm"] = cls["outputs"][0]["perm"] or output
    _record(out).write_text(json.dumps(record), encoding="utf-8")
    from migrator.verify import worker

    result = worker.run(_request(src, out, "Net()", "2,9,9,3", samples=2))
    sources = [c.source for c in result.layers]
    assert result.verdict is Verdict.EQUIVALENT, [(c.source, c.status.value) for c in result.layers]
    assert sources[:5] == ["block1.conv", "block1.bn", "block2.conv", "block2.bn", "pool"], sources
    assert [c.target for c in result.layers][:2] == ["block1.conv", "block1.bn"]
    assert result.samples[1].shapes == ((2, 8, 8, 3),)  # spatial sizes flipped (9 -> 8), channels last


@pytest.mark.frameworks
def test_transposed_linear_weight_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A `linear` transform that forgets to transpose fits every square Dense: caught at the first."""
    from migrator.verify import tf2torch_transfer, worker

    real = tf2torch_transfer.apply_keras_transform

    def wrong(name: str, weights: Sequence[np.ndarray], ctx: Any = None) -> dict[str, np.ndarray]:
        state = real(name, weights, ctx)
        if name == "linear" and weights[0].shape[0] == weights[0].shape[1]:
            state["weight"] = np.ascontiguousarray(weights[0])
        return state

    monkeypatch.setattr(tf2torch_transfer, "apply_keras_transform", wrong)
    src, out, model, spec = _fixture("activations_zoo", tmp_path)
    result = worker.run(_request(src, out, model, spec))
    assert result.verdict is Verdict.NOT_EQUIVALENT
    first = result.first_divergent_layer
    assert first is not None and (first.source, first.transform) == ("3", "linear")


@pytest.mark.frameworks
def test_untransferable_weights_are_named(tmp_path: Path) -> None:
    """A Keras layer missing from the record, or a torch module the record does not cover, is an
    error naming it: a weight is never left random."""
    from migrator.verify import worker
    from migrator.verify.driver import UserCodeError

    src, out, model, spec = _fixture("lenet_add", tmp_path)
    original_record = _record(out).read_text(encoding="utf-8")
    record = json.loads(original_record)
    record["layers"] = [r for r in record["layers"] if r["path"] != "6"]
    _record(out).write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(UserCodeError, match=r"no counterpart in the migrated one: 6 \(Dense\) kernel"):
        worker.run(_request(src, out, model, spec))

    _record(out).write_text(original_record, encoding="utf-8")
    _edit(out, "model.append(nn.Linear(64, 32))", "model.append(nn.Linear(64, 32, bias=False))")
    with pytest.raises(UserCodeError, match=r"6 \(Dense -> Linear\): transform linear does not fit 9"):
        worker.run(_request(src, out, model, spec))


def test_channels_last_shape_variants() -> None:
    spec = InputSpec((2, 28, 28, 1))
    assert shape_variants(spec, True, 2, channels_last=True) == [(2, 28, 28, 1), (2, 29, 29, 1)]


def test_model_owner_name() -> None:
    assert called_name("build_model()") == "build_model"
    assert called_name("models.SubclassedCNN(num_classes=3)") == "SubclassedCNN"
    assert called_name("Net") == "Net"


def test_static_warnings_read_keras_call() -> None:
    source = """
class M(keras.Model):
    def call(self, x, training=False, mask=None):
        if training:
            x = x + keras.random.normal(ops.shape(x))
        if ops.sum(x) > 0:
            x = -x
        return x
"""
    warnings = forward_warnings(source, "call")
    assert len(warnings) == 2, warnings  # `if training:` is a flag, not a tensor value
    assert warnings[0].startswith("M.call line 6: `if` on tensor values")
    assert "`normal` draws random numbers" in warnings[1]


# the other Keras fixtures, verified in this process (same code as the CLI's subprocess, faster)
MORE_FIXTURES = [
    "attention_pool_ops",
    "functional_resnet",
    "gated_multiply",
    "gru_seq",
    "inception_concat",
    "lstm_classifier",
    "mobilenet_tfkeras",
    "subclassed_cnn",
    "text_cnn_1d",
    "unet_tiny",
]


@pytest.mark.frameworks
@pytest.mark.parametrize("name", MORE_FIXTURES)
def test_more_fixtures_are_equivalent(name: str, tmp_path: Path) -> None:
    from migrator.verify import worker

    src, out, model, spec = _fixture(name, tmp_path)
    result = worker.run(_request(src, out, model, spec, samples=2))
    assert result.verdict is Verdict.EQUIVALENT, [(c.source, c.status.value, c.note) for c in result.layers]
    assert all(c.status.value == "pass" for c in result.layers), [(c.source, c.note) for c in result.layers]
