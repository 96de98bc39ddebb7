"""Deliberately wrong mappings must be caught: not equivalent (exit 1), with the right layer named
as the first divergent one. Two kinds: mistakes in the migrated code or record (as a naive tool
would write them), and mistakes in each weight transform (injected into the transfer)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from migrator.verify.result import Tolerance, Verdict
from migrator.verify.spec import LoadMode
from tests.conftest import fixture_spec, migrate_fixture

CODE_MUTATIONS = [
    pytest.param(
        "conv_bn_helper",
        "keras.Sequential([layers.ZeroPadding2D(padding=1), layers.Conv2D(filters=cout, kernel_size=3, "
        "strides=stride, use_bias=False)])",
        'layers.Conv2D(filters=cout, kernel_size=3, strides=stride, use_bias=False, padding="same")',
        "stage1.0",
        id="padding: TF 'same' at stride 2",
    ),
    pytest.param(
        "conv_bn_helper",
        "layers.BatchNormalization(epsilon=1e-05, momentum=0.9)",
        "layers.BatchNormalization(momentum=0.9)",
        "stem.1",
        id="batchnorm: Keras default epsilon",
    ),
    pytest.param(
        "conv_bn_helper",
        "layers.BatchNormalization(epsilon=1e-05, momentum=0.9)",
        "layers.BatchNormalization(epsilon=1e-05, momentum=0.1)",
        "stem.1 (running_mean after a training step)",
        id="batchnorm: torch momentum copied literally",
    ),
    pytest.param(
        "attention_pool",
        "ops.softmax(scores, axis=-1)",
        "ops.softmax(scores, axis=1)",
        "proj",  # softmax is a function, not a layer: the first layer fed by it is named
        id="layout: softmax over the wrong axis",
    ),
]


def _cli_verify(src: Path, out: Path, name: str, tmp_path: Path) -> tuple[int, dict[str, Any]]:
    model, spec = fixture_spec(name)
    report = tmp_path / "report.json"
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "fwmigrate"),
            "verify",
            str(src),
            str(out),
            "--model",
            model,
            "--input",
            spec,
            "--samples",
            "2",
            "--json",
            str(report),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.returncode, json.loads(report.read_text())


@pytest.mark.frameworks
@pytest.mark.parametrize(("name", "old", "new", "layer"), CODE_MUTATIONS)
def test_code_mutation_is_caught(name: str, old: str, new: str, layer: str, tmp_path: Path) -> None:
    src, out = migrate_fixture(name, tmp_path)
    code = out.read_text()
    assert old in code, "the mutation no longer applies to the generated code"
    out.write_text(code.replace(old, new))
    exit_code, report = _cli_verify(src, out, name, tmp_path)
    assert exit_code == 1, report.get("error")
    assert report["equivalent"] is False
    assert report["first_divergent_layer"]["source"] == layer


@pytest.mark.frameworks
def test_flatten_order_mistake_in_the_record_is_caught(tmp_path: Path) -> None:
    src, out = migrate_fixture("lenet", tmp_path)
    record_path = out.with_name("model_tf.migration.json")
    record = json.loads(record_path.read_text())
    fc1 = next(r for r in record["layers"] if r["path"] == "fc1")
    assert fc1["transform"] == "linear_after_flatten"
    fc1["transform"] = "linear"  # W.T as if the flatten were in NCHW order: the classic silent bug
    record_path.write_text(json.dumps(record))
    exit_code, report = _cli_verify(src, out, "lenet", tmp_path)
    assert exit_code == 1
    assert report["first_divergent_layer"]["source"] == "fc1"


# ---------------------------------------------------------------- weight transform mistakes

Mistake = Callable[[Mapping[str, np.ndarray], list[np.ndarray]], list[np.ndarray]]


def _reshape_kernel(state: Mapping[str, np.ndarray], good: list[np.ndarray]) -> list[np.ndarray]:
    return [state["weight"].reshape(good[0].shape), *good[1:]]  # reshape instead of transpose


def _m_major_depthwise(state: Mapping[str, np.ndarray], good: list[np.ndarray]) -> list[np.ndarray]:
    w = state["weight"]
    kh, kw, c, m = good[0].shape
    return [w.reshape(m, c, kh, kw).transpose(2, 3, 1, 0), *good[1:]] if m > 1 else good


def _flip(state: Mapping[str, np.ndarray], good: list[np.ndarray]) -> list[np.ndarray]:
    return [good[0][::-1, ::-1].copy(), *good[1:]]  # correlation vs convolution


def _swap_mean_var(state: Mapping[str, np.ndarray], good: list[np.ndarray]) -> list[np.ndarray]:
    return [good[0], good[1], good[3], good[2]]


def _swap_gamma_beta(state: Mapping[str, np.ndarray], good: list[np.ndarray]) -> list[np.ndarray]:
    return [good[1], good[0]]


def _shift_rows(state: Mapping[str, np.ndarray], good: list[np.ndarray]) -> list[np.ndarray]:
    return [np.roll(good[0], 1, axis=0)]


def _no_gate_reorder(state: Mapping[str, np.ndarray], good: list[np.ndarray]) -> list[np.ndarray]:
    def swap(a: np.ndarray) -> np.ndarray:  # keras [z, r, h] back to torch's [r, z, n]: no reorder
        z, r, n = np.split(a, 3, axis=-1)
        return np.concatenate([r, z, n], axis=-1)

    return [swap(g) for g in good]


TRANSFORM_MUTATIONS = [
    pytest.param("gru_tagger", "gru", _no_gate_reorder, "gru", id="gru gate order"),
    pytest.param("mlp", "linear", _reshape_kernel, "fc1", id="linear"),
    pytest.param("lenet", "conv2d", _reshape_kernel, "conv1", id="conv2d"),
    pytest.param("conv1d_audio", "conv1d", _reshape_kernel, "conv1", id="conv1d"),
    pytest.param(
        "depthwise_separable",
        "depthwise_conv2d",
        _m_major_depthwise,
        "block2.depthwise.0",
        id="depthwise_conv2d",
    ),
    pytest.param("autoencoder", "conv_transpose2d", _flip, "decoder.0", id="conv_transpose2d"),
    pytest.param("conv_bn_helper", "batchnorm", _swap_mean_var, "stem.1", id="batchnorm"),
    pytest.param("convnext_block", "layernorm", _swap_gamma_beta, "blocks.0.norm", id="layernorm"),
    pytest.param("embedding_classifier", "embedding", _shift_rows, "embed", id="embedding"),
]


@pytest.mark.frameworks
@pytest.mark.parametrize(("name", "transform", "mistake", "layer"), TRANSFORM_MUTATIONS)
def test_weight_transform_mistake_is_caught(
    name: str, transform: str, mistake: Mistake, layer: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from migrator.verify import transfer, worker

    real = transfer.apply_transform

    def wrong(t: str, state: Mapping[str, np.ndarray], ctx: Any = None) -> list[np.ndarray]:
        good = real(t, state, ctx) if ctx is not None else real(t, state)
        return mistake(state, good) if t == transform else good

    monkeypatch.setattr(transfer, "apply_transform", wrong)
    src, out = migrate_fixture(name, tmp_path)
    model, spec = fixture_spec(name)
    request = {
        "original": str(src),
        "migrated": str(out),
        "record": str(out.with_name("model_tf.migration.json")),
        "model": model,
        "inputs": [spec],
        "samples": 1,
        "seed": 0,
        "tolerance": asdict(Tolerance()),
        "load_mode": LoadMode.GUARDED.value,
        "warnings": [],
    }
    result = worker.run(request)
    assert result.verdict is Verdict.NOT_EQUIVALENT
    first = result.first_divergent_layer
    assert first is not None and first.source == layer, [(c.source, c.status.value) for c in result.layers]
    assert first.transform == transform
