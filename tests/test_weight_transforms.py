"""Numerical tests for migrator.weights: torch module -> transform -> Keras layer -> same output.

Every framework test builds a real torch module with random parameters (and random
BatchNorm running statistics), transfers the state with ``apply_transform`` into the
matching channels-last Keras 3 layer, runs both on the same random input (NC... for
torch, N...C for Keras) and compares the outputs.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import subprocess
import sys
from pathlib import Path
from typing import Any

import keras
import numpy as np
import numpy.typing as npt
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrator.weights import (
    TRANSFORMS,
    TransformContext,
    TransformError,
    WeightTransform,
    apply_transform,
    get_transform,
)
from tests.conftest import layernorm_atol

Array = npt.NDArray[Any]

REPO_ROOT = Path(__file__).resolve().parents[1]

FRAMEWORK_SETTINGS = settings(
    max_examples=12,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
SLOW_SETTINGS = settings(FRAMEWORK_SETTINGS, max_examples=6)

seeds = st.integers(0, 2**32 - 1)
batches = st.integers(2, 3)
# Two different spatial sizes (so H/W swaps are caught), each even or odd.
distinct_hw = st.tuples(st.integers(3, 8), st.integers(1, 3), st.booleans()).map(
    lambda t: (t[0], t[0] + t[1]) if t[2] else (t[0] + t[1], t[0])
)
PARAM_SETTINGS = settings(FRAMEWORK_SETTINGS, max_examples=7)


# ---------------------------------------------------------------------------- helpers


def randomize_(module: torch.nn.Module, rng: np.random.Generator) -> None:
    """Overwrite every parameter with N(0, 0.5) and BN running stats with non-trivial values."""
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.from_numpy(rng.normal(0.0, 0.5, size=tuple(param.shape))))
        for name, buf in module.named_buffers():
            if name.endswith("running_mean"):
                buf.copy_(torch.from_numpy(rng.normal(0.5, 1.0, size=tuple(buf.shape))))
            elif name.endswith("running_var"):
                buf.copy_(torch.from_numpy(rng.uniform(0.01, 2.0, size=tuple(buf.shape))))
    module.eval()


def state_of(module: torch.nn.Module) -> dict[str, Array]:
    return {key: value.detach().cpu().numpy() for key, value in module.state_dict().items()}


def run_torch(module: torch.nn.Module, x: Array) -> Array:
    with torch.no_grad():
        out: Array = module(torch.from_numpy(x)).numpy()
    return out


def run_keras(layer: keras.layers.Layer, x: Array, **kwargs: Any) -> Array:
    out: Array = keras.ops.convert_to_numpy(layer(x, **kwargs))
    return out


def transfer(
    name: str,
    module: torch.nn.Module,
    layer: keras.layers.Layer,
    input_shape: tuple[int, ...],
    ctx: TransformContext | None = None,
) -> None:
    layer.build(input_shape)
    weights = apply_transform(name, state_of(module), ctx or TransformContext())
    layer.set_weights(weights)


def to_last(x: Array) -> Array:
    return np.ascontiguousarray(np.moveaxis(x, 1, -1))


def to_first(x: Array) -> Array:
    return np.ascontiguousarray(np.moveaxis(x, -1, 1))


def assert_close(actual: Array, expected: Array) -> None:
    assert actual.shape == expected.shape
    scale = float(np.abs(expected).max()) if expected.size else 0.0
    np.testing.assert_allclose(actual, expected, atol=1e-5 * scale + 1e-6)


def max_diff(a: Array, b: Array) -> float:
    return float(np.abs(a - b).max())


def randn(rng: np.random.Generator, *shape: int) -> Array:
    return rng.standard_normal(shape).astype(np.float32)


# ------------------------------------------------------------------- dense / linear


@pytest.mark.frameworks
@FRAMEWORK_SETTINGS
@given(seed=seeds, n=batches, d_in=st.integers(1, 9), d_out=st.integers(1, 9), bias=st.booleans())
def test_linear_to_dense(seed: int, n: int, d_in: int, d_out: int, bias: bool) -> None:
    rng = np.random.default_rng(seed)
    module = torch.nn.Linear(d_in, d_out, bias=bias)
    randomize_(module, rng)
    layer = keras.layers.Dense(d_out, use_bias=bias)
    transfer("linear", module, layer, (n, d_in), TransformContext(use_bias=bias))
    x = randn(rng, n, d_in)
    assert_close(run_keras(layer, x), run_torch(module, x))


@pytest.mark.frameworks
@FRAMEWORK_SETTINGS
@given(
    seed=seeds,
    n=batches,
    c=st.integers(1, 4),
    spatial=st.one_of(
        st.tuples(st.integers(2, 7)),
        distinct_hw,
        st.tuples(st.integers(2, 3), st.integers(2, 4), st.integers(2, 5)),
    ),
    d_out=st.integers(1, 6),
)
def test_flatten_linear_to_flatten_dense(
    seed: int, n: int, c: int, spatial: tuple[int, ...], d_out: int
) -> None:
    rng = np.random.default_rng(seed)
    features = c * int(np.prod(spatial))
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(features, d_out))
    randomize_(module, rng)
    dense = keras.layers.Dense(d_out)
    dense.build((n, features))
    ctx = TransformContext(flatten_shape=(c, *spatial))
    dense.set_weights(apply_transform("linear_after_flatten", state_of(module[1]), ctx))
    x = randn(rng, n, c, *spatial)
    got = run_keras(dense, run_keras(keras.layers.Flatten(), to_last(x)))
    assert_close(got, run_torch(module, x))


# ------------------------------------------------------------------------ convolutions


@pytest.mark.frameworks
@FRAMEWORK_SETTINGS
@given(
    seed=seeds,
    n=batches,
    groups=st.sampled_from([1, 2]),
    c_in_per_group=st.integers(1, 3),
    c_out_per_group=st.integers(1, 3),
    k=st.integers(1, 4),
    length=st.integers(4, 9),
    stride=st.integers(1, 2),
    bias=st.booleans(),
)
def test_conv1d_to_conv1d(
    seed: int,
    n: int,
    groups: int,
    c_in_per_group: int,
    c_out_per_group: int,
    k: int,
    length: int,
    stride: int,
    bias: bool,
) -> None:
    rng = np.random.default_rng(seed)
    c_in, c_out = groups * c_in_per_group, groups * c_out_per_group
    module = torch.nn.Conv1d(c_in, c_out, k, stride=stride, groups=groups, bias=bias)
    randomize_(module, rng)
    layer = keras.layers.Conv1D(c_out, k, strides=stride, groups=groups, use_bias=bias)
    transfer("conv1d", module, layer, (n, length, c_in), TransformContext(use_bias=bias))
    x = randn(rng, n, c_in, length)
    assert_close(to_first(run_keras(layer, to_last(x))), run_torch(module, x))


@pytest.mark.frameworks
@pytest.mark.parametrize("groups", [1, 2])
@PARAM_SETTINGS
@given(
    seed=seeds,
    n=batches,
    c_in_per_group=st.integers(1, 3),
    c_out_per_group=st.integers(1, 3),
    kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    hw=distinct_hw,
    stride=st.integers(1, 2),
    bias=st.booleans(),
)
def test_conv2d_to_conv2d(
    groups: int,
    seed: int,
    n: int,
    c_in_per_group: int,
    c_out_per_group: int,
    kernel: tuple[int, int],
    hw: tuple[int, int],
    stride: int,
    bias: bool,
) -> None:
    rng = np.random.default_rng(seed)
    c_in, c_out = groups * c_in_per_group, groups * c_out_per_group
    module = torch.nn.Conv2d(c_in, c_out, kernel, stride=stride, groups=groups, bias=bias)
    randomize_(module, rng)
    layer = keras.layers.Conv2D(c_out, kernel, strides=stride, groups=groups, use_bias=bias)
    transfer("conv2d", module, layer, (n, *hw, c_in), TransformContext(use_bias=bias))
    x = randn(rng, n, c_in, *hw)
    assert_close(to_first(run_keras(layer, to_last(x))), run_torch(module, x))


@pytest.mark.frameworks
@SLOW_SETTINGS
@given(
    seed=seeds,
    n=batches,
    c_in=st.integers(1, 3),
    c_out=st.integers(1, 3),
    kernel=st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 2)),
    dhw=st.tuples(st.integers(3, 4), st.integers(4, 5), st.integers(3, 6)),
)
def test_conv3d_to_conv3d(
    seed: int,
    n: int,
    c_in: int,
    c_out: int,
    kernel: tuple[int, int, int],
    dhw: tuple[int, int, int],
) -> None:
    rng = np.random.default_rng(seed)
    module = torch.nn.Conv3d(c_in, c_out, kernel)
    randomize_(module, rng)
    layer = keras.layers.Conv3D(c_out, kernel)
    transfer("conv3d", module, layer, (n, *dhw, c_in))
    x = randn(rng, n, c_in, *dhw)
    assert_close(to_first(run_keras(layer, to_last(x))), run_torch(module, x))


@pytest.mark.frameworks
@pytest.mark.parametrize("m", [1, 2])
@PARAM_SETTINGS
@given(
    seed=seeds,
    n=batches,
    c=st.integers(1, 4),
    kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    hw=distinct_hw,
    bias=st.booleans(),
)
def test_depthwise_conv2d(
    m: int,
    seed: int,
    n: int,
    c: int,
    kernel: tuple[int, int],
    hw: tuple[int, int],
    bias: bool,
) -> None:
    rng = np.random.default_rng(seed)
    module = torch.nn.Conv2d(c, c * m, kernel, groups=c, bias=bias)
    randomize_(module, rng)
    layer = keras.layers.DepthwiseConv2D(kernel, depth_multiplier=m, use_bias=bias)
    ctx = TransformContext(depth_multiplier=m, use_bias=bias)
    transfer("depthwise_conv2d", module, layer, (n, *hw, c), ctx)
    x = randn(rng, n, c, *hw)
    assert_close(to_first(run_keras(layer, to_last(x))), run_torch(module, x))


@pytest.mark.frameworks
@FRAMEWORK_SETTINGS
@given(
    seed=seeds,
    n=batches,
    c=st.integers(1, 4),
    m=st.sampled_from([1, 2, 3]),
    k=st.integers(1, 3),
    length=st.integers(3, 8),
)
def test_depthwise_conv1d(seed: int, n: int, c: int, m: int, k: int, length: int) -> None:
    rng = np.random.default_rng(seed)
    module = torch.nn.Conv1d(c, c * m, k, groups=c)
    randomize_(module, rng)
    layer = keras.layers.DepthwiseConv1D(k, depth_multiplier=m)
    transfer("depthwise_conv1d", module, layer, (n, length, c), TransformContext(depth_multiplier=m))
    x = randn(rng, n, c, length)
    assert_close(to_first(run_keras(layer, to_last(x))), run_torch(module, x))


@pytest.mark.frameworks
@pytest.mark.parametrize(("k", "s"), [(2, 2), (3, 2), (3, 1)])
@settings(FRAMEWORK_SETTINGS, max_examples=5)
@given(
    seed=seeds,
    n=batches,
    c_in=st.integers(1, 4),
    c_out=st.integers(1, 4),
    hw=distinct_hw,
    bias=st.booleans(),
)
def test_conv_transpose2d(
    k: int, s: int, seed: int, n: int, c_in: int, c_out: int, hw: tuple[int, int], bias: bool
) -> None:
    rng = np.random.default_rng(seed)
    module = torch.nn.ConvTranspose2d(c_in, c_out, k, stride=s, bias=bias)
    randomize_(module, rng)
    layer = keras.layers.Conv2DTranspose(c_out, k, strides=s, padding="valid", use_bias=bias)
    transfer("conv_transpose2d", module, layer, (n, *hw, c_in), TransformContext(use_bias=bias))
    x = randn(rng, n, c_in, *hw)
    assert_close(to_first(run_keras(layer, to_last(x))), run_torch(module, x))


@pytest.mark.frameworks
@SLOW_SETTINGS
@given(
    seed=seeds,
    n=batches,
    c_in=st.integers(1, 4),
    c_out=st.integers(1, 4),
    ks=st.sampled_from([(2, 2), (3, 1), (3, 2)]),
    length=st.integers(2, 7),
)
def test_conv_transpose1d(seed: int, n: int, c_in: int, c_out: int, ks: tuple[int, int], length: int) -> None:
    rng = np.random.default_rng(seed)
    k, s = ks
    module = torch.nn.ConvTranspose1d(c_in, c_out, k, stride=s)
    randomize_(module, rng)
    layer = keras.layers.Conv1DTranspose(c_out, k, strides=s, padding="valid")
    transfer("conv_transpose1d", module, layer, (n, length, c_in))
    x = randn(rng, n, c_in, length)
    assert_close(to_first(run_keras(layer, to_last(x))), run_torch(module, x))


# ----------------------------------------------------------------------- normalization


@pytest.mark.frameworks
@pytest.mark.parametrize("affine", [True, False])
@PARAM_SETTINGS
@given(seed=seeds, n=batches, c=st.integers(1, 6), hw=distinct_hw)
def test_batchnorm2d(affine: bool, seed: int, n: int, c: int, hw: tuple[int, int]) -> None:
    rng = np.random.default_rng(seed)
    module = torch.nn.BatchNorm2d(c, affine=affine)
    randomize_(module, rng)
    assert "num_batches_tracked" in state_of(module)
    layer = keras.layers.BatchNormalization(epsilon=1e-5, center=affine, scale=affine)
    transfer("batchnorm", module, layer, (n, *hw, c))
    x = randn(rng, n, c, *hw)
    assert_close(to_first(run_keras(layer, to_last(x), training=False)), run_torch(module, x))


@pytest.mark.frameworks
@FRAMEWORK_SETTINGS
@given(seed=seeds, n=batches, length=st.integers(1, 5), c=st.integers(2, 8), bias=st.booleans())
def test_layernorm_last_dim(seed: int, n: int, length: int, c: int, bias: bool) -> None:
    rng = np.random.default_rng(seed)
    module = torch.nn.LayerNorm(c, bias=bias)
    randomize_(module, rng)
    layer = keras.layers.LayerNormalization(epsilon=1e-5, center=bias)
    transfer("layernorm", module, layer, (n, length, c))
    x = randn(rng, n, length, c)  # (N, L, C): same layout in both frameworks
    got, want = run_keras(layer, x), run_torch(module, x)
    np.testing.assert_allclose(got, want, atol=layernorm_atol(x, want))


@pytest.mark.frameworks
@FRAMEWORK_SETTINGS
@given(seed=seeds, n=batches, c=st.integers(1, 4), hw=distinct_hw)
def test_layernorm_chw(seed: int, n: int, c: int, hw: tuple[int, int]) -> None:
    rng = np.random.default_rng(seed)
    module = torch.nn.LayerNorm([c, *hw])
    randomize_(module, rng)
    layer = keras.layers.LayerNormalization(axis=[1, 2, 3], epsilon=1e-5)
    transfer("layernorm", module, layer, (n, *hw, c), TransformContext(layernorm_rank=3))
    x = randn(rng, n, c, *hw)
    assert_close(to_first(run_keras(layer, to_last(x))), run_torch(module, x))


@pytest.mark.frameworks
def test_layernorm_without_affine_has_no_weights() -> None:
    module = torch.nn.LayerNorm(5, elementwise_affine=False)
    assert apply_transform("layernorm", state_of(module)) == []


# --------------------------------------------------------------------------- embedding


@pytest.mark.frameworks
@FRAMEWORK_SETTINGS
@given(seed=seeds, n=batches, num=st.integers(2, 20), dim=st.integers(1, 8), length=st.integers(1, 6))
def test_embedding(seed: int, n: int, num: int, dim: int, length: int) -> None:
    rng = np.random.default_rng(seed)
    module = torch.nn.Embedding(num, dim)
    randomize_(module, rng)
    layer = keras.layers.Embedding(num, dim)
    transfer("embedding", module, layer, (n, length))
    ids = rng.integers(0, num, size=(n, length))
    assert_close(run_keras(layer, ids.astype(np.int32)), run_torch(module, ids))


# ----------------------------------------------------------------------------- identity


@pytest.mark.frameworks
def test_identity_for_weightless_modules() -> None:
    for module in (
        torch.nn.ReLU(),
        torch.nn.Dropout(0.3),
        torch.nn.Flatten(),
        torch.nn.MaxPool2d(2),
    ):
        assert apply_transform("identity", state_of(module)) == []


# ------------------------------------------------------------ mutation: tests can fail


@pytest.mark.frameworks
def test_mutation_linear_instead_of_linear_after_flatten_is_detected() -> None:
    rng = np.random.default_rng(0)
    c, h, w, d_out, n = 3, 4, 5, 6, 2
    linear = torch.nn.Linear(c * h * w, d_out)
    randomize_(linear, rng)
    x = randn(rng, n, c, h, w)
    expected = run_torch(linear, x.reshape(n, -1))
    flat = run_keras(keras.layers.Flatten(), to_last(x))

    def dense_output(name: str, ctx: TransformContext) -> Array:
        dense = keras.layers.Dense(d_out)
        dense.build((n, c * h * w))
        dense.set_weights(apply_transform(name, state_of(linear), ctx))
        return run_keras(dense, flat)

    assert_close(dense_output("linear_after_flatten", TransformContext(flatten_shape=(c, h, w))), expected)
    assert max_diff(dense_output("linear", TransformContext()), expected) > 1e-2


@pytest.mark.frameworks
def test_mutation_conv2d_instead_of_depthwise_is_detected() -> None:
    rng = np.random.default_rng(1)
    c, m = 3, 2
    module = torch.nn.Conv2d(c, c * m, 3, groups=c)
    randomize_(module, rng)
    layer = keras.layers.DepthwiseConv2D(3, depth_multiplier=m)
    layer.build((2, 6, 7, c))
    wrong = apply_transform("conv2d", state_of(module))
    assert wrong[0].shape == (3, 3, 1, c * m)  # keras expects (3, 3, c, m)
    with pytest.raises(ValueError):
        layer.set_weights(wrong)
    # A same-shaped kernel with the channel/multiplier order swapped ((m, C) instead of
    # (C, m)) is wrong numerically; this is the mistake the depthwise test guards against.
    weight = state_of(module)["weight"]
    swapped = weight.reshape(m, c, 3, 3).transpose(2, 3, 1, 0)
    layer.set_weights([swapped, state_of(module)["bias"]])
    x = randn(rng, 2, c, 6, 7)
    assert max_diff(to_first(run_keras(layer, to_last(x))), run_torch(module, x)) > 1e-2


# --------------------------------------------------------------------- negative / API


def test_missing_required_key_raises() -> None:
    with pytest.raises(TransformError, match=r"'linear'.*missing.*'weight'"):
        apply_transform("linear", {"bias": np.zeros(3, np.float32)})
    with pytest.raises(TransformError, match=r"'batchnorm'.*missing.*'running_var'"):
        apply_transform("batchnorm", {"running_mean": np.zeros(3, np.float32)})


def test_unexpected_key_raises() -> None:
    state = {"weight": np.zeros((4, 3), np.float32), "bias": np.zeros(4, np.float32)}
    with pytest.raises(TransformError, match=r"'linear'.*unexpected.*'running_mean'"):
        apply_transform("linear", {**state, "running_mean": np.zeros(4, np.float32)})
    with pytest.raises(TransformError, match=r"'identity'.*unexpected.*'weight'"):
        apply_transform("identity", {"weight": np.zeros(2, np.float32)})


def test_bad_shapes_and_context_raise() -> None:
    w = np.zeros((4, 12), np.float32)
    with pytest.raises(TransformError, match="flatten_shape is required"):
        apply_transform("linear_after_flatten", {"weight": w})
    with pytest.raises(TransformError, match="12 input features"):
        apply_transform("linear_after_flatten", {"weight": w}, TransformContext(flatten_shape=(5, 2)))
    with pytest.raises(TransformError, match=r"'conv2d'.*4 dimensions"):
        apply_transform("conv2d", {"weight": w})
    with pytest.raises(TransformError, match="depth_multiplier"):
        apply_transform(
            "depthwise_conv2d",
            {"weight": np.zeros((6, 1, 3, 3), np.float32)},
            TransformContext(depth_multiplier=4),
        )
    with pytest.raises(TransformError, match="use_bias=False"):
        apply_transform(
            "linear",
            {"weight": w, "bias": np.zeros(4, np.float32)},
            TransformContext(use_bias=False),
        )
    with pytest.raises(TransformError, match="'bias' is present but 'weight' is missing"):
        apply_transform(
            "batchnorm",
            {k: np.zeros(3, np.float32) for k in ("bias", "running_mean", "running_var")},
        )


def test_missing_bias_becomes_zeros_when_keras_layer_has_bias() -> None:
    w = np.ones((4, 3), np.float32)
    kernel, bias = apply_transform("linear", {"weight": w})
    assert kernel.shape == (3, 4)
    np.testing.assert_array_equal(bias, np.zeros(4, np.float32))
    assert len(apply_transform("linear", {"weight": w}, TransformContext(use_bias=False))) == 1


def test_outputs_do_not_alias_inputs() -> None:
    w = np.arange(12, dtype=np.float32).reshape(4, 3)
    (embedding,) = apply_transform("embedding", {"weight": w})
    embedding[0, 0] = 100.0
    assert w[0, 0] == 0.0


@pytest.mark.frameworks
@SLOW_SETTINGS
@given(
    seed=seeds, n=batches, t=st.integers(2, 9), f=st.integers(1, 6), h=st.integers(1, 7), bias=st.booleans()
)
def test_gru_to_gru(seed: int, n: int, t: int, f: int, h: int, bias: bool) -> None:
    rng = np.random.default_rng(seed)
    module = torch.nn.GRU(f, h, bias=bias, batch_first=True)
    randomize_(module, rng)
    layer = keras.layers.GRU(h, return_sequences=True, reset_after=True, use_bias=True)
    transfer("gru", module, layer, (n, t, f))
    x = randn(rng, n, t, f)
    with torch.no_grad():
        expected = module(torch.from_numpy(x))[0].numpy()
    assert_close(run_keras(layer, x), expected)


@pytest.mark.frameworks
def test_gru_without_the_gate_reorder_is_wrong() -> None:
    rng = np.random.default_rng(3)
    module = torch.nn.GRU(4, 5, batch_first=True)
    randomize_(module, rng)
    layer = keras.layers.GRU(5, return_sequences=True, reset_after=True)
    layer.build((2, 6, 4))
    st_ = state_of(module)
    naive = [st_["weight_ih_l0"].T, st_["weight_hh_l0"].T, np.stack([st_["bias_ih_l0"], st_["bias_hh_l0"]])]
    layer.set_weights(naive)
    x = randn(rng, 2, 6, 4)
    with torch.no_grad():
        expected = module(torch.from_numpy(x))[0].numpy()
    assert max_diff(run_keras(layer, x), expected) > 1e-2


@pytest.mark.frameworks
@SLOW_SETTINGS
@given(
    seed=seeds, n=batches, t=st.integers(2, 9), f=st.integers(1, 6), h=st.integers(1, 7), bias=st.booleans()
)
def test_lstm_to_lstm(seed: int, n: int, t: int, f: int, h: int, bias: bool) -> None:
    rng = np.random.default_rng(seed)
    module = torch.nn.LSTM(f, h, bias=bias, batch_first=True)
    randomize_(module, rng)
    layer = keras.layers.LSTM(h, return_sequences=True, use_bias=bias)
    transfer("lstm", module, layer, (n, t, f), TransformContext(use_bias=bias))
    x = randn(rng, n, t, f)
    with torch.no_grad():
        expected = module(torch.from_numpy(x))[0].numpy()
    assert_close(run_keras(layer, x), expected)


@pytest.mark.frameworks
def test_lstm_without_bias_into_keras_with_bias_gets_zeros() -> None:
    rng = np.random.default_rng(4)
    module = torch.nn.LSTM(3, 4, bias=False, batch_first=True)
    randomize_(module, rng)
    layer = keras.layers.LSTM(4, return_sequences=True)
    transfer("lstm", module, layer, (2, 5, 3))
    np.testing.assert_array_equal(layer.get_weights()[2], np.zeros(16, np.float32))
    x = randn(rng, 2, 5, 3)
    with torch.no_grad():
        expected = module(torch.from_numpy(x))[0].numpy()
    assert_close(run_keras(layer, x), expected)


@pytest.mark.frameworks
def test_gru_without_bias_to_keras_gru_without_bias() -> None:
    rng = np.random.default_rng(5)
    module = torch.nn.GRU(3, 4, bias=False, batch_first=True)
    randomize_(module, rng)
    layer = keras.layers.GRU(4, return_sequences=True, use_bias=False)
    transfer("gru", module, layer, (2, 5, 3), TransformContext(use_bias=False))
    x = randn(rng, 2, 5, 3)
    with torch.no_grad():
        expected = module(torch.from_numpy(x))[0].numpy()
    assert_close(run_keras(layer, x), expected)


@pytest.mark.frameworks
@SLOW_SETTINGS
@given(
    seed=seeds,
    n=batches,
    c=st.integers(1, 3),
    m=st.integers(1, 2),
    c_out=st.integers(1, 4),
    kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    hw=distinct_hw,
    stride=st.integers(1, 2),
    bias=st.booleans(),
)
def test_separable_conv2d(
    seed: int,
    n: int,
    c: int,
    m: int,
    c_out: int,
    kernel: tuple[int, int],
    hw: tuple[int, int],
    stride: int,
    bias: bool,
) -> None:
    rng = np.random.default_rng(seed)
    module = torch.nn.Sequential(
        torch.nn.Conv2d(c, c * m, kernel, stride=stride, groups=c, bias=False),
        torch.nn.Conv2d(c * m, c_out, 1, bias=bias),
    )
    randomize_(module, rng)
    layer = keras.layers.SeparableConv2D(c_out, kernel, strides=stride, depth_multiplier=m, use_bias=bias)
    ctx = TransformContext(depth_multiplier=m, use_bias=bias)
    transfer("separable_conv2d", module, layer, (n, *hw, c), ctx)
    x = randn(rng, n, c, *hw)
    assert_close(to_first(run_keras(layer, to_last(x))), run_torch(module, x))


@pytest.mark.frameworks
@SLOW_SETTINGS
@given(
    seed=seeds,
    n=batches,
    c=st.integers(1, 4),
    spatial=st.one_of(st.just(()), st.tuples(st.integers(2, 6)), distinct_hw),
    shared=st.booleans(),
)
def test_prelu(seed: int, n: int, c: int, spatial: tuple[int, ...], shared: bool) -> None:
    rng = np.random.default_rng(seed)
    module = torch.nn.PReLU(1 if shared else c)
    randomize_(module, rng)
    rank = len(spatial) + 1
    axes = list(range(1, rank + 1)) if shared else list(range(1, rank))
    layer = keras.layers.PReLU(shared_axes=axes or None)
    transfer("prelu", module, layer, (n, *spatial, c), TransformContext(prelu_rank=rank))
    assert layer.get_weights()[0].shape == (1,) * (rank - 1) + ((1,) if shared else (c,))
    x = randn(rng, n, c, *spatial)
    assert_close(to_first(run_keras(layer, to_last(x))), run_torch(module, x))


def test_flatten_shape_last_is_accepted_and_must_agree() -> None:
    w = np.arange(4 * 12, dtype=np.float32).reshape(4, 12)
    first = apply_transform("linear_after_flatten", {"weight": w}, TransformContext(flatten_shape=(3, 2, 2)))
    last = apply_transform(
        "linear_after_flatten", {"weight": w}, TransformContext(flatten_shape_last=(2, 2, 3))
    )
    np.testing.assert_array_equal(first[0], last[0])
    with pytest.raises(TransformError, match="describe different maps"):
        apply_transform(
            "linear_after_flatten",
            {"weight": w},
            TransformContext(flatten_shape=(3, 2, 2), flatten_shape_last=(3, 2, 2)),
        )


@pytest.mark.parametrize(
    ("ctx", "expected"),
    [
        (TransformContext(), ["gamma", "beta", "mean", "var"]),
        (TransformContext(center=False), ["gamma", "mean", "var"]),
        (TransformContext(scale=False), ["beta", "mean", "var"]),
        (TransformContext(center=False, scale=False), ["mean", "var"]),
    ],
)
def test_batchnorm_drops_identity_affine_parameters_for_keras_without_them(
    ctx: TransformContext, expected: list[str]
) -> None:
    values = {"gamma": 1.0, "beta": 0.0, "mean": 2.0, "var": 3.0}
    state = {
        "weight": np.ones(3, np.float32),
        "bias": np.zeros(3, np.float32),
        "running_mean": np.full(3, 2.0, np.float32),
        "running_var": np.full(3, 3.0, np.float32),
    }
    got = apply_transform("batchnorm", state, ctx)
    assert [float(a[0]) for a in got] == [values[k] for k in expected]
    with pytest.raises(TransformError, match=r"center=False.*'bias' is not all 0"):
        apply_transform(
            "batchnorm", {**state, "bias": np.full(3, 0.5, np.float32)}, TransformContext(center=False)
        )
    with pytest.raises(TransformError, match=r"scale=False.*'weight' is not all 1"):
        apply_transform("layernorm", {"weight": np.full(3, 2.0, np.float32)}, TransformContext(scale=False))


def test_new_context_fields_fail_clearly() -> None:
    gru_state = {"weight_ih_l0": np.zeros((6, 3), np.float32), "weight_hh_l0": np.zeros((6, 2), np.float32)}
    with pytest.raises(TransformError, match=r"'gru'.*reset_after=False"):
        apply_transform("gru", gru_state, TransformContext(reset_after=False))
    with pytest.raises(TransformError, match=r"'lstm'.*use_bias=False"):
        apply_transform(
            "lstm",
            {
                "weight_ih_l0": np.zeros((8, 3), np.float32),
                "weight_hh_l0": np.zeros((8, 2), np.float32),
                "bias_ih_l0": np.zeros(8, np.float32),
            },
            TransformContext(use_bias=False),
        )
    with pytest.raises(TransformError, match=r"'lstm'.*not 4 gates"):
        apply_transform("lstm", gru_state)
    with pytest.raises(TransformError, match="prelu_rank must be >= 1"):
        apply_transform("prelu", {"weight": np.zeros(3, np.float32)}, TransformContext(prelu_rank=0))
    with pytest.raises(TransformError, match=r"'separable_conv2d'.*'1.weight'.*\(out, 6, 1, 1\)"):
        apply_transform(
            "separable_conv2d",
            {"0.weight": np.zeros((6, 1, 3, 3), np.float32), "1.weight": np.zeros((4, 5, 1, 1), np.float32)},
            TransformContext(depth_multiplier=2),
        )


def test_registry_is_read_only_and_complete() -> None:
    expected = {
        "identity",
        "linear",
        "linear_after_flatten",
        "conv1d",
        "conv2d",
        "conv3d",
        "depthwise_conv1d",
        "depthwise_conv2d",
        "conv_transpose1d",
        "conv_transpose2d",
        "batchnorm",
        "layernorm",
        "embedding",
        "gru",
        "lstm",
        "bidirectional_lstm",
        "bidirectional_gru",
        "simple_rnn",
        "bidirectional_simple_rnn",
        "separable_conv2d",
        "prelu",
        "multihead_attention",
        "transformer_encoder_layer",
        "transformer_encoder",
        "keras_multi_head_attention",
    }
    assert set(TRANSFORMS) == expected
    for name, transform in TRANSFORMS.items():
        assert isinstance(transform, WeightTransform)
        assert transform.name == name
        assert transform.doc
    with pytest.raises(TypeError):
        TRANSFORMS["new"] = TRANSFORMS["linear"]  # type: ignore[index]


def test_get_transform_unknown_name_lists_known() -> None:
    assert get_transform("conv2d").name == "conv2d"
    with pytest.raises(KeyError, match=r"known: .*conv2d"):
        get_transform("conv4d")


def test_module_is_pure_numpy() -> None:
    code = (
        "import sys, migrator.weights\n"
        "bad = {'torch', 'tensorflow', 'keras'} & set(sys.modules)\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True)
