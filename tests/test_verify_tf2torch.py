"""`fwmigrate verify` in the tf2torch direction: a Keras original, its torch migration, inputs in
Keras's layout. Correct migrations pass; deliberately wrong ones fail (exit 1) and name the first
divergent layer; a weight that cannot be moved is an error naming the layer."""

from __future__ import annotations

import json
import re
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


def _migrate(source: str, tmp_path: Path, input_shape: tuple[int, ...] | None = None) -> tuple[Path, Path]:
    src = tmp_path / "model.py"
    src.write_text(source, encoding="utf-8")
    result = migrate_source(source, Direction.TF2TORCH, None, "model.py", input_shape=input_shape)
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
    """A Keras layer missing from the record is paired by path, with a warning (in a Sequential the
    n-th layer with weights on each side: a fused activation shifts torch's indices); a layer with
    no counterpart on the other side, or whose weights do not fit, is an error naming it: a
    weight is never left random."""
    from migrator.verify import worker
    from migrator.verify.driver import UserCodeError

    src, out, model, spec = _fixture("lenet_add", tmp_path)
    original_record = _record(out).read_text(encoding="utf-8")
    record = json.loads(original_record)
    record["layers"] = [r for r in record["layers"] if r["path"] != "6"]
    _record(out).write_text(json.dumps(record), encoding="utf-8")
    result = worker.run(_request(src, out, model, spec))
    assert result.verdict is Verdict.EQUIVALENT, [(c.source, c.status.value) for c in result.layers]
    assert any(
        w.startswith("paired by path: 9 (Linear <- Dense 6), transform linear") for w in result.warnings
    )

    _record(out).write_text(original_record, encoding="utf-8")
    _edit(out, "model.append(nn.Linear(64, 32))", "model.append(nn.Linear(64, 32, bias=False))")
    with pytest.raises(UserCodeError, match=r"6 \(Dense -> Linear\): transform linear does not fit 9"):
        worker.run(_request(src, out, model, spec))

    # no torch module at the Keras layer's path (a renamed attribute): named on both sides
    src, out, model, spec = _fixture("subclassed_cnn", tmp_path)
    record = json.loads(_record(out).read_text(encoding="utf-8"))
    record["layers"] = [r for r in record["layers"] if r["path"] != "fc"]
    _record(out).write_text(json.dumps(record), encoding="utf-8")
    _edit(out, "self.fc", "self.head")
    with pytest.raises(UserCodeError, match=r"no counterpart in the migrated one: fc \(Dense\) kernel"):
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
    "bilstm_text",
    "functional_resnet",
    "gated_multiply",
    "gru_seq",
    "inception_concat",
    "lstm_classifier",
    "masked_sequence",
    "mobilenet_tfkeras",
    "subclassed_cnn",
    "text_cnn_1d",
    "transformer_encoder",
    "unet_tiny",
    "upsample_norms",
]


@pytest.mark.frameworks
@pytest.mark.parametrize("name", MORE_FIXTURES)
def test_more_fixtures_are_equivalent(name: str, tmp_path: Path) -> None:
    from migrator.verify import worker

    src, out, model, spec = _fixture(name, tmp_path)
    result = worker.run(_request(src, out, model, spec, samples=2))
    assert result.verdict is Verdict.EQUIVALENT, [(c.source, c.status.value, c.note) for c in result.layers]
    assert all(c.status.value == "pass" for c in result.layers), [(c.source, c.note) for c in result.layers]


# Modules a migration cannot list in its record: layers appended in a loop and wrapped in a
# Sequential, a list attribute whose length is a parameter, Sequentials built by a helper and
# stored on attributes. The verifier pairs them by path and infers their transforms.
LOOP_AND_LIST = """import keras
from keras import layers, ops


def make_mlp(sizes):
    mlp = []
    for a, b in zip(sizes, sizes[1:]):
        mlp.append(layers.Dense(b))
        mlp.append(layers.Activation("tanh"))
    return keras.Sequential(mlp)


class MultiHead(keras.Model):
    def __init__(self, num_heads=3, head_dim=4):
        super().__init__()
        self.trunk = make_mlp([12, 32, 16])
        self.heads = [layers.Dense(head_dim) for _ in range(num_heads)]

    def call(self, x):
        h = self.trunk(x)
        return ops.stack([head(h) for head in self.heads], axis=1)


def build_model():
    model = MultiHead()
    model.build((None, 12))
    return model
"""

HELPERS = """import keras
from keras import layers, ops


def conv_bn_relu(cout, stride=1):
    return keras.Sequential(
        [
            keras.Sequential(
                [layers.ZeroPadding2D(padding=1), layers.Conv2D(cout, 3, strides=stride, use_bias=False)]
            ),
            layers.BatchNormalization(epsilon=1e-5, momentum=0.9),
            layers.ReLU(),
        ]
    )


def conv_act_bn(cout):
    return keras.Sequential([layers.Conv2D(cout, 1, activation="relu"), layers.BatchNormalization()])


class SmallNet(keras.Model):
    def __init__(self, num_classes=5):
        super().__init__()
        self.stem = conv_bn_relu(4)
        self.stage = conv_bn_relu(8, stride=2)
        self.mix = conv_act_bn(8)
        self.flatten = layers.Flatten()
        self.fc = layers.Dense(num_classes)

    def call(self, x, training=False):
        x = self.stage(self.stem(x, training=training), training=training)
        x = self.mix(x, training=training)
        return self.fc(self.flatten(x))


def build_model():
    model = SmallNet()
    model.build((None, 9, 9, 3))
    return model
"""

TYPES = """import keras
from keras import layers


class Zoo(keras.Model):
    def __init__(self, filters=4):
        super().__init__()
        self.sep = layers.SeparableConv2D(filters, 3, padding="same", depth_multiplier=2)
        self.dw = layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2)
        self.bn = layers.BatchNormalization()
        self.up = layers.Conv2DTranspose(filters, 2, strides=2)
        self.pool = layers.GlobalAveragePooling2D()
        self.norm = layers.LayerNormalization()
        self.fc = layers.Dense(3)

    def call(self, x):
        x = self.up(self.bn(self.dw(self.sep(x))))
        return self.fc(self.norm(self.pool(x)))
"""

# (source, --model, --input, Keras input shape for the migration, pairs by path with no record)
BY_PATH = {
    "loop_and_list": (
        LOOP_AND_LIST,
        "build_model()",
        "2,12",
        None,
        [
            "trunk.0 (Linear <- Dense), transform linear",
            "trunk.2 (Linear <- Dense), transform linear",
            "heads.0 (Linear <- Dense), transform linear",
            "heads.1 (Linear <- Dense), transform linear",
            "heads.2 (Linear <- Dense), transform linear",
        ],
    ),
    "helpers": (
        HELPERS,
        "build_model()",
        "2,9,9,3",
        None,
        [
            "stem.0.1 (Conv2d <- Conv2D), transform conv2d",
            "stem.1 (BatchNorm2d <- BatchNormalization), transform batchnorm",
            "stage.0.1 (Conv2d <- Conv2D), transform conv2d",
            "stage.1 (BatchNorm2d <- BatchNormalization), transform batchnorm",
            "mix.0 (Conv2d <- Conv2D), transform conv2d",
            # the fused relu is a module of its own in torch: the n-th layer with weights
            "mix.2 (BatchNorm2d <- BatchNormalization mix.1), transform batchnorm",
            # a Flatten of a 5x5 map feeds it: seen while running both models
            "fc (Linear <- Dense), transform linear_after_flatten",
        ],
    ),
    "types": (
        TYPES,
        "Zoo()",
        "2,6,6,3",
        (6, 6, 3),
        [
            "sep (Sequential <- SeparableConv2D), transform separable_conv2d",
            "dw (Conv2d <- DepthwiseConv2D), transform depthwise_conv2d",
            "bn (BatchNorm2d <- BatchNormalization), transform batchnorm",
            "up (ConvTranspose2d <- Conv2DTranspose), transform conv_transpose2d",
            "norm (LayerNorm <- LayerNormalization), transform layernorm",
            # a Flatten of a 1x1 map (after the global pooling): no permutation
            "fc (Linear <- Dense), transform linear",
        ],
    ),
}


def _drop_recorded_layers(out: Path) -> None:
    """The record without its layers: every torch module with weights must be paired by path."""
    record = json.loads(_record(out).read_text(encoding="utf-8"))
    record["layers"] = []
    _record(out).write_text(json.dumps(record), encoding="utf-8")


def _by_path(warnings: Sequence[str]) -> list[str]:
    prefix = "paired by path: "
    return [w[len(prefix) :].split(" inferred")[0] for w in warnings if w.startswith(prefix)]


def _rows(result: Any) -> list[tuple[str, str, str, str]]:
    return [(c.source, c.target, c.status.value, c.note) for c in result.layers]


@pytest.mark.frameworks
@pytest.mark.parametrize("name", sorted(BY_PATH))
def test_unlisted_modules_are_paired_by_path(name: str, tmp_path: Path) -> None:
    """As migrated, then with a record listing no layer at all: every torch module with weights is
    paired with the Keras layer at its path, its transform inferred from its type (a Dense after a
    Flatten from the run), each pairing a warning; both models compute the same."""
    from migrator.verify import worker

    source, model, spec, shape, expected = BY_PATH[name]
    src, out = _migrate(source, tmp_path, shape)
    result = worker.run(_request(src, out, model, spec))
    assert result.verdict is Verdict.EQUIVALENT, (_rows(result), result.error)
    assert all(c.status.value == "pass" for c in result.layers), _rows(result)

    _drop_recorded_layers(out)
    result = worker.run(_request(src, out, model, spec, samples=2))
    assert result.verdict is Verdict.EQUIVALENT, (_rows(result), result.error)
    assert all(c.status.value == "pass" for c in result.layers), _rows(result)
    assert sorted(_by_path(result.warnings)) == sorted(expected), result.warnings
    weighted = {c.target for c in result.layers if c.transform != "identity"}
    assert {e.split(" ")[0] for e in expected} <= weighted  # every pair compared


_HEADS = re.compile(r"nn\.(?:Lazy)?Linear\([^()]*\)(?= for _ in range\(num_heads\))")


@pytest.mark.frameworks
def test_wrong_module_paired_by_path_is_named(tmp_path: Path) -> None:
    """A module paired by path whose weights do not fit, or whose type is not the migration of the
    Keras layer at its path, is an error naming it."""
    from migrator.verify import worker
    from migrator.verify.driver import UserCodeError

    src, out = _migrate(LOOP_AND_LIST, tmp_path)
    migrated = out.read_text(encoding="utf-8")
    head = _HEADS.search(migrated)
    assert head is not None, migrated
    out.write_text(migrated.replace(head[0], head[0][:-1] + ", bias=False)"), encoding="utf-8")
    with pytest.raises(
        UserCodeError, match=r"heads\.0 \(Dense -> Linear\): transform linear does not fit heads\.0"
    ):
        worker.run(_request(src, out, "build_model()", "2,12"))

    out.write_text(migrated.replace(head[0], "nn.LayerNorm(16)"), encoding="utf-8")
    with pytest.raises(
        UserCodeError,
        match=r"heads\.0 \(LayerNorm\): the migration record does not list it, and the original's layer "
        r"at heads\.0 is a Dense, not a LayerNormalization",
    ):
        worker.run(_request(src, out, "build_model()", "2,12"))


@pytest.mark.frameworks
def test_flatten_order_of_a_linear_paired_by_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Linear paired by path after a Flatten of a 5x5 map needs the flatten permutation: without
    it the verdict fails at that layer; when the run cannot tell which Flatten feeds the Dense
    (code between them), it is an error asking for the record."""
    from migrator.verify import tf2torch_transfer, worker
    from migrator.verify.driver import UserCodeError

    src, out = _migrate(HELPERS, tmp_path)
    _drop_recorded_layers(out)
    monkeypatch.setattr(tf2torch_transfer, "_linear_by_path", lambda *args: ("linear", {}))
    result = worker.run(_request(src, out, "build_model()", "2,9,9,3"))
    assert result.verdict is Verdict.NOT_EQUIVALENT
    first = result.first_divergent_layer
    assert first is not None and (first.source, first.transform) == ("fc", "linear"), _rows(result)
    monkeypatch.undo()

    src, out = _migrate(
        HELPERS.replace("self.fc(self.flatten(x))", "self.fc(ops.relu(self.flatten(x)))"), tmp_path
    )
    result = worker.run(_request(src, out, "build_model()", "2,9,9,3"))  # the record gives it
    assert result.verdict is Verdict.EQUIVALENT, (_rows(result), result.error)
    _drop_recorded_layers(out)
    with pytest.raises(
        UserCodeError,
        match=r"fc \(Dense -> Linear\): the migration record does not list it and the flatten order it "
        r"needs cannot be inferred \(Dense 'dense' takes 200 features, as many as the flatten of a "
        r"\(5, 5, 8\) map gives",
    ):
        worker.run(_request(src, out, "build_model()", "2,9,9,3"))
