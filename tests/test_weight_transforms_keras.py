"""Tests for migrator.weights.keras_to_torch: Keras layer -> transform -> torch module -> same output.

Every framework test builds a real channels-last Keras 3 layer with random weights (and
random BatchNormalization moving statistics), converts ``layer.get_weights()`` with
``apply_keras_transform``, loads the result into the matching torch module with
``load_state_dict(strict=True)``, runs both on the same random input (N...C for Keras,
NC... for torch) and compares the outputs. Pure-numpy property tests check that each
keras -> torch transform is the exact inverse of the torch -> keras one of the same name.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import numpy.typing as npt
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from migrator.weights import (
    KERAS_TO_TORCH,
    TRANSFORMS,
    KerasWeightTransform,
    TransformContext,
    TransformError,
    apply_keras_transform,
    apply_transform,
    get_keras_transform,
)
from tests.conftest import layernorm_atol

Array = npt.NDArray[Any]

REPO_ROOT = Path(__file__).resolve().parents[1]

SETTINGS = settings(
    max_examples=6,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
FEW = settings(SETTINGS, max_examples=4)

seeds = st.integers(0, 2**32 - 1)
batches = st.integers(2, 3)
# Two different spatial sizes (so H/W swaps are caught).
distinct_hw = st.tuples(st.integers(3, 7), st.integers(1, 3), st.booleans()).map(
    lambda t: (t[0], t[0] + t[1]) if t[2] else (t[0] + t[1], t[0])
)


# ---------------------------------------------------------------------------- helpers


def randomize_keras_(layer: keras.layers.Layer, rng: np.random.Generator) -> list[Array]:
    """Overwrite every weight with N(0, 0.5), BN moving stats with non-trivial values; return them."""
    weights: list[Array] = []
    for w in layer.weights:
        shape = tuple(w.shape)
        leaf = w.path.rsplit("/", 1)[-1]
        if leaf == "moving_mean":
            value = rng.normal(0.5, 1.0, size=shape)
        elif leaf == "moving_variance":
            value = rng.uniform(0.01, 2.0, size=shape)
        else:
            value = rng.normal(0.0, 0.5, size=shape)
        weights.append(value.astype(np.float32))
    layer.set_weights(weights)
    got: list[Array] = layer.get_weights()
    return got


def build_random(
    layer: keras.layers.Layer, input_shape: tuple[int, ...], rng: np.random.Generator
) -> list[Array]:
    layer.build(input_shape)
    return randomize_keras_(layer, rng)


def load(
    name: str,
    weights: list[Array],
    module: torch.nn.Module,
    ctx: TransformContext | None = None,
) -> dict[str, Array]:
    """Convert and load with strict=True; the produced keys are exactly the module's state keys."""
    state = apply_keras_transform(name, weights, ctx or TransformContext())
    assert list(state) == list(module.state_dict())
    assert set(state) <= set(get_keras_transform(name).produces)
    module.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    module.eval()
    return state


def run_torch(module: torch.nn.Module, x: Array) -> Array:
    with torch.no_grad():
        out = module(torch.from_numpy(x))
    if isinstance(out, tuple):  # recurrent layers: (sequence, state)
        out = out[0]
    result: Array = out.numpy()
    return result


def run_keras(layer: keras.layers.Layer, x: Array, **kwargs: Any) -> Array:
    out: Array = keras.ops.convert_to_numpy(layer(x, **kwargs))
    return out


def to_last(x: Array) -> Array:
    return np.ascontiguousarray(np.moveaxis(x, 1, -1))


def to_first(x: Array) -> Array:
    return np.ascontiguousarray(np.moveaxis(x, -1, 1))


def assert_close(actual: Array, expected: Array) -> None:
    assert actual.shape == expected.shape
    scale = float(np.abs(expected).max()) if expected.size else 0.0
    np.testing.assert_allclose(actual, expected, atol=1e-5 * scale + 1e-6)


def randn(rng: np.random.Generator, *shape: int) -> Array:
    return rng.standard_normal(shape).astype(np.float32)


def check_channels_last(
    layer: keras.layers.Layer, module: torch.nn.Module, x_first: Array, **kwargs: Any
) -> None:
    """Run keras on the channels-last input, torch on the channels-first one; compare."""
    assert_close(to_first(run_keras(layer, to_last(x_first), **kwargs)), run_torch(module, x_first))


# ------------------------------------------------------------------- dense / linear


@pytest.mark.frameworks
@SETTINGS
@given(seed=seeds, n=batches, d_in=st.integers(1, 9), d_out=st.integers(1, 9), bias=st.booleans())
def test_dense_to_linear(seed: int, n: int, d_in: int, d_out: int, bias: bool) -> None:
    rng = np.random.default_rng(seed)
    layer = keras.layers.Dense(d_out, use_bias=bias)
    weights = build_random(layer, (n, d_in), rng)
    module = torch.nn.Linear(d_in, d_out, bias=bias)
    load("linear", weights, module, TransformContext(use_bias=bias))
    x = randn(rng, n, d_in)
    assert_close(run_torch(module, x), run_keras(layer, x))


@pytest.mark.frameworks
@SETTINGS
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
def test_flatten_dense_to_flatten_linear(
    seed: int, n: int, c: int, spatial: tuple[int, ...], d_out: int
) -> None:
    rng = np.random.default_rng(seed)
    features = c * int(np.prod(spatial))
    dense = keras.layers.Dense(d_out)
    weights = build_random(dense, (n, features), rng)
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(features, d_out))
    ctx = TransformContext(flatten_shape_last=(*spatial, c))
    load("linear_after_flatten", weights, module[1], ctx)
    x = randn(rng, n, c, *spatial)
    expected = run_keras(dense, run_keras(keras.layers.Flatten(), to_last(x)))
    assert_close(run_torch(module, x), expected)


@pytest.mark.frameworks
def test_plain_linear_instead_of_linear_after_flatten_is_detected() -> None:
    rng = np.random.default_rng(0)
    c, h, w, d_out, n = 3, 4, 5, 6, 2
    dense = keras.layers.Dense(d_out)
    weights = build_random(dense, (n, c * h * w), rng)
    x = randn(rng, n, c, h, w)
    expected = run_keras(dense, run_keras(keras.layers.Flatten(), to_last(x)))
    linear = torch.nn.Linear(c * h * w, d_out)
    load("linear", weights, linear)
    assert float(np.abs(run_torch(linear, x.reshape(n, -1)) - expected).max()) > 1e-2


# ------------------------------------------------------------------------ convolutions


@pytest.mark.frameworks
@SETTINGS
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
def test_conv1d(
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
    layer = keras.layers.Conv1D(c_out, k, strides=stride, groups=groups, use_bias=bias)
    weights = build_random(layer, (n, length, c_in), rng)
    module = torch.nn.Conv1d(c_in, c_out, k, stride=stride, groups=groups, bias=bias)
    load("conv1d", weights, module, TransformContext(use_bias=bias))
    check_channels_last(layer, module, randn(rng, n, c_in, length))


@pytest.mark.frameworks
@pytest.mark.parametrize("groups", [1, 2])
@SETTINGS
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
def test_conv2d(
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
    layer = keras.layers.Conv2D(c_out, kernel, strides=stride, groups=groups, use_bias=bias)
    weights = build_random(layer, (n, *hw, c_in), rng)
    module = torch.nn.Conv2d(c_in, c_out, kernel, stride=stride, groups=groups, bias=bias)
    load("conv2d", weights, module, TransformContext(use_bias=bias))
    check_channels_last(layer, module, randn(rng, n, c_in, *hw))


@pytest.mark.frameworks
@FEW
@given(
    seed=seeds,
    n=batches,
    c_in=st.integers(1, 3),
    c_out=st.integers(1, 3),
    kernel=st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 2)),
    dhw=st.tuples(st.integers(3, 4), st.integers(4, 5), st.integers(3, 6)),
)
def test_conv3d(
    seed: int, n: int, c_in: int, c_out: int, kernel: tuple[int, int, int], dhw: tuple[int, int, int]
) -> None:
    rng = np.random.default_rng(seed)
    layer = keras.layers.Conv3D(c_out, kernel)
    weights = build_random(layer, (n, *dhw, c_in), rng)
    module = torch.nn.Conv3d(c_in, c_out, kernel)
    load("conv3d", weights, module)
    check_channels_last(layer, module, randn(rng, n, c_in, *dhw))


@pytest.mark.frameworks
@SETTINGS
@given(
    seed=seeds,
    n=batches,
    c=st.integers(1, 4),
    m=st.sampled_from([1, 2, 3]),
    k=st.integers(1, 3),
    length=st.integers(3, 8),
    bias=st.booleans(),
)
def test_depthwise_conv1d(seed: int, n: int, c: int, m: int, k: int, length: int, bias: bool) -> None:
    rng = np.random.default_rng(seed)
    layer = keras.layers.DepthwiseConv1D(k, depth_multiplier=m, use_bias=bias)
    weights = build_random(layer, (n, length, c), rng)
    module = torch.nn.Conv1d(c, c * m, k, groups=c, bias=bias)
    load("depthwise_conv1d", weights, module, TransformContext(use_bias=bias))
    check_channels_last(layer, module, randn(rng, n, c, length))


@pytest.mark.frameworks
@pytest.mark.parametrize("m", [1, 2])
@SETTINGS
@given(
    seed=seeds,
    n=batches,
    c=st.integers(1, 4),
    kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    hw=distinct_hw,
    stride=st.integers(1, 2),
)
def test_depthwise_conv2d(
    m: int, seed: int, n: int, c: int, kernel: tuple[int, int], hw: tuple[int, int], stride: int
) -> None:
    rng = np.random.default_rng(seed)
    layer = keras.layers.DepthwiseConv2D(kernel, strides=stride, depth_multiplier=m)
    weights = build_random(layer, (n, *hw, c), rng)
    module = torch.nn.Conv2d(c, c * m, kernel, stride=stride, groups=c)
    # depth_multiplier is read from the kernel: the default context is enough.
    load("depthwise_conv2d", weights, module)
    check_channels_last(layer, module, randn(rng, n, c, *hw))


@pytest.mark.frameworks
@pytest.mark.parametrize(("k", "s"), [(2, 2), (3, 2), (3, 1)])
@FEW
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
    layer = keras.layers.Conv2DTranspose(c_out, k, strides=s, padding="valid", use_bias=bias)
    weights = build_random(layer, (n, *hw, c_in), rng)
    module = torch.nn.ConvTranspose2d(c_in, c_out, k, stride=s, bias=bias)
    load("conv_transpose2d", weights, module, TransformContext(use_bias=bias))
    check_channels_last(layer, module, randn(rng, n, c_in, *hw))


@pytest.mark.frameworks
@SETTINGS
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
    layer = keras.layers.Conv1DTranspose(c_out, k, strides=s, padding="valid")
    weights = build_random(layer, (n, length, c_in), rng)
    module = torch.nn.ConvTranspose1d(c_in, c_out, k, stride=s)
    load("conv_transpose1d", weights, module)
    check_channels_last(layer, module, randn(rng, n, c_in, length))


@pytest.mark.frameworks
@SETTINGS
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
    layer = keras.layers.SeparableConv2D(c_out, kernel, strides=stride, depth_multiplier=m, use_bias=bias)
    weights = build_random(layer, (n, *hw, c), rng)
    module = torch.nn.Sequential(
        torch.nn.Conv2d(c, c * m, kernel, stride=stride, groups=c, bias=False),
        torch.nn.Conv2d(c * m, c_out, 1, bias=bias),
    )
    load("separable_conv2d", weights, module, TransformContext(use_bias=bias))
    check_channels_last(layer, module, randn(rng, n, c, *hw))


# ----------------------------------------------------------------------- normalization


@pytest.mark.frameworks
@SETTINGS
@given(
    seed=seeds,
    n=batches,
    c=st.integers(1, 6),
    hw=distinct_hw,
    flags=st.sampled_from([(True, True), (True, False), (False, True), (False, False)]),
)
def test_batchnorm2d(seed: int, n: int, c: int, hw: tuple[int, int], flags: tuple[bool, bool]) -> None:
    rng = np.random.default_rng(seed)
    center, scale = flags
    layer = keras.layers.BatchNormalization(epsilon=1e-5, center=center, scale=scale)
    weights = build_random(layer, (n, *hw, c), rng)
    module = torch.nn.BatchNorm2d(c, affine=center or scale)
    state = load("batchnorm", weights, module, TransformContext(center=center, scale=scale))
    assert state["num_batches_tracked"].dtype == np.int64
    check_channels_last(layer, module, randn(rng, n, c, *hw), training=False)


@pytest.mark.frameworks
def test_batchnorm_all_flag_combinations_and_1d() -> None:
    rng = np.random.default_rng(7)
    for center in (True, False):
        for scale in (True, False):
            layer = keras.layers.BatchNormalization(epsilon=1e-5, center=center, scale=scale)
            weights = build_random(layer, (3, 5), rng)
            module = torch.nn.BatchNorm1d(5, affine=center or scale)
            load("batchnorm", weights, module, TransformContext(center=center, scale=scale))
            x = randn(rng, 3, 5)
            assert_close(run_torch(module, x), run_keras(layer, x, training=False))


@pytest.mark.frameworks
def test_torch_fills_num_batches_tracked_for_plain_dicts() -> None:
    # Surprise worth pinning: BatchNorm's _load_from_state_dict adds a missing
    # num_batches_tracked when the dict has no version metadata, so strict=True passes
    # without it. The transform produces it anyway so its keys equal state_dict()'s.
    module = torch.nn.BatchNorm1d(3)
    state = {k: v for k, v in module.state_dict().items() if k != "num_batches_tracked"}
    assert not module.load_state_dict(state, strict=True).missing_keys


@pytest.mark.frameworks
@SETTINGS
@given(
    seed=seeds,
    n=batches,
    length=st.integers(1, 5),
    c=st.integers(2, 8),
    flags=st.sampled_from([(True, True), (True, False), (False, True), (False, False)]),
)
def test_layernorm_last_dim(seed: int, n: int, length: int, c: int, flags: tuple[bool, bool]) -> None:
    rng = np.random.default_rng(seed)
    center, scale = flags
    layer = keras.layers.LayerNormalization(epsilon=1e-5, center=center, scale=scale)
    weights = build_random(layer, (n, length, c), rng)
    module = torch.nn.LayerNorm(c, elementwise_affine=center or scale, bias=center)
    load("layernorm", weights, module, TransformContext(center=center, scale=scale))
    x = randn(rng, n, length, c)  # (N, L, C): same layout in both frameworks
    got, want = run_torch(module, x), run_keras(layer, x)
    np.testing.assert_allclose(got, want, atol=layernorm_atol(x, want))


@pytest.mark.frameworks
@SETTINGS
@given(seed=seeds, n=batches, c=st.integers(1, 4), hw=distinct_hw)
def test_layernorm_chw(seed: int, n: int, c: int, hw: tuple[int, int]) -> None:
    rng = np.random.default_rng(seed)
    layer = keras.layers.LayerNormalization(axis=[1, 2, 3], epsilon=1e-5)
    weights = build_random(layer, (n, *hw, c), rng)
    module = torch.nn.LayerNorm([c, *hw])
    load("layernorm", weights, module, TransformContext(layernorm_rank=3))
    check_channels_last(layer, module, randn(rng, n, c, *hw))


# -------------------------------------------------------------------- recurrent layers


@pytest.mark.frameworks
@FEW
@given(
    seed=seeds, n=batches, t=st.integers(2, 8), f=st.integers(1, 5), h=st.integers(1, 6), bias=st.booleans()
)
def test_gru(seed: int, n: int, t: int, f: int, h: int, bias: bool) -> None:
    rng = np.random.default_rng(seed)
    layer = keras.layers.GRU(h, return_sequences=True, reset_after=True, use_bias=bias)
    weights = build_random(layer, (n, t, f), rng)
    module = torch.nn.GRU(f, h, bias=bias, batch_first=True)
    load("gru", weights, module, TransformContext(use_bias=bias))
    x = randn(rng, n, t, f)
    assert_close(run_torch(module, x), run_keras(layer, x))


@pytest.mark.frameworks
def test_gru_reset_before_has_no_torch_counterpart() -> None:
    rng = np.random.default_rng(8)
    layer = keras.layers.GRU(4, reset_after=False)
    weights = build_random(layer, (2, 5, 3), rng)
    assert weights[2].shape == (12,)
    with pytest.raises(TransformError, match=r"'gru'.*reset_after=False.*no weights make them equal"):
        apply_keras_transform("gru", weights)
    # Without a bias the arrays look the same as reset_after=True: the context must say so.
    no_bias = keras.layers.GRU(4, reset_after=False, use_bias=False)
    no_bias_weights = build_random(no_bias, (2, 5, 3), rng)
    with pytest.raises(TransformError, match=r"'gru'.*context.reset_after=False"):
        apply_keras_transform("gru", no_bias_weights, TransformContext(use_bias=False, reset_after=False))


@pytest.mark.frameworks
@FEW
@given(
    seed=seeds, n=batches, t=st.integers(2, 8), f=st.integers(1, 5), h=st.integers(1, 6), bias=st.booleans()
)
def test_lstm(seed: int, n: int, t: int, f: int, h: int, bias: bool) -> None:
    rng = np.random.default_rng(seed)
    layer = keras.layers.LSTM(h, return_sequences=True, use_bias=bias)
    weights = build_random(layer, (n, t, f), rng)
    module = torch.nn.LSTM(f, h, bias=bias, batch_first=True)
    state = load("lstm", weights, module, TransformContext(use_bias=bias))
    if bias:
        np.testing.assert_array_equal(state["bias_hh_l0"], np.zeros(4 * h, np.float32))
    x = randn(rng, n, t, f)
    assert_close(run_torch(module, x), run_keras(layer, x))


@pytest.mark.frameworks
@pytest.mark.parametrize("kind", ["lstm", "gru"])
@FEW
@given(seed=seeds, n=batches, t=st.integers(1, 5), f=st.integers(1, 5), h=st.integers(1, 5))
def test_bidirectional(kind: str, seed: int, n: int, t: int, f: int, h: int) -> None:
    rng = np.random.default_rng(seed)
    inner = (
        keras.layers.LSTM(h, return_sequences=True)
        if kind == "lstm"
        else keras.layers.GRU(h, return_sequences=True)
    )
    layer = keras.layers.Bidirectional(inner)
    weights = build_random(layer, (n, t, f), rng)
    cls = torch.nn.LSTM if kind == "lstm" else torch.nn.GRU
    module = cls(f, h, batch_first=True, bidirectional=True)
    load(f"bidirectional_{kind}", weights, module)
    x = randn(rng, n, t, f)
    assert_close(run_torch(module, x), run_keras(layer, x))


# ------------------------------------------------------------------ embedding / prelu


@pytest.mark.frameworks
@SETTINGS
@given(seed=seeds, n=batches, num=st.integers(2, 20), dim=st.integers(1, 8), length=st.integers(1, 6))
def test_embedding(seed: int, n: int, num: int, dim: int, length: int) -> None:
    rng = np.random.default_rng(seed)
    layer = keras.layers.Embedding(num, dim)
    weights = build_random(layer, (n, length), rng)
    module = torch.nn.Embedding(num, dim)
    load("embedding", weights, module)
    ids = rng.integers(0, num, size=(n, length))
    assert_close(run_torch(module, ids), run_keras(layer, ids.astype(np.int32)))


@pytest.mark.frameworks
@SETTINGS
@given(
    seed=seeds,
    n=batches,
    c=st.integers(1, 4),
    spatial=st.one_of(st.just(()), st.tuples(st.integers(2, 6)), distinct_hw),
    shared=st.booleans(),
)
def test_prelu(seed: int, n: int, c: int, spatial: tuple[int, ...], shared: bool) -> None:
    rng = np.random.default_rng(seed)
    rank = len(spatial) + 1
    axes = list(range(1, rank + 1)) if shared else list(range(1, rank))
    layer = keras.layers.PReLU(shared_axes=axes or None)
    weights = build_random(layer, (n, *spatial, c), rng)
    module = torch.nn.PReLU(1 if shared else c)
    load("prelu", weights, module)
    check_channels_last(layer, module, randn(rng, n, c, *spatial))


@pytest.mark.frameworks
def test_prelu_per_element_alpha_is_refused() -> None:
    layer = keras.layers.PReLU()  # keras default: no shared axes, one alpha per element
    weights = build_random(layer, (2, 4, 5, 3), np.random.default_rng(9))
    assert weights[0].shape == (4, 5, 3)
    with pytest.raises(TransformError, match=r"'prelu'.*\(4, 5, 3\).*shared_axes"):
        apply_keras_transform("prelu", weights)


@pytest.mark.frameworks
def test_identity_for_weightless_layers() -> None:
    for layer, shape in (
        (keras.layers.ReLU(), (2, 3)),
        (keras.layers.Dropout(0.3), (2, 3)),
        (keras.layers.Flatten(), (2, 3, 4)),
        (keras.layers.MaxPooling2D(2), (2, 4, 4, 3)),
    ):
        layer.build(shape)
        assert apply_keras_transform("identity", layer.get_weights()) == {}


# ------------------------------------------------------- pure numpy: exact inverses

StateCase = tuple[dict[str, Array], TransformContext]
Builder = Callable[[np.random.Generator], list[StateCase]]


def _w(rng: np.random.Generator, *shape: int) -> Array:
    return rng.standard_normal(shape).astype(np.float32)


def _size(rng: np.random.Generator, low: int = 1, high: int = 5) -> int:
    return int(rng.integers(low, high + 1))


def _with_and_without_bias(weight: Array, bias: Array) -> list[StateCase]:
    return [
        ({"weight": weight, "bias": bias}, TransformContext()),
        ({"weight": weight}, TransformContext(use_bias=False)),
    ]


def _linear_states(rng: np.random.Generator) -> list[StateCase]:
    o, i = _size(rng), _size(rng)
    return _with_and_without_bias(_w(rng, o, i), _w(rng, o))


def _flatten_states(rng: np.random.Generator) -> list[StateCase]:
    c, o = _size(rng), _size(rng)
    spatial = tuple(_size(rng, 1, 4) for _ in range(_size(rng, 1, 3)))
    weight, bias = _w(rng, o, c * int(np.prod(spatial))), _w(rng, o)
    state = {"weight": weight, "bias": bias}
    return [
        (state, TransformContext(flatten_shape=(c, *spatial))),
        (state, TransformContext(flatten_shape_last=(*spatial, c))),
        (state, TransformContext(flatten_shape=(c, *spatial), flatten_shape_last=(*spatial, c))),
        ({"weight": weight}, TransformContext(flatten_shape=(c, *spatial), use_bias=False)),
    ]


def _conv_states(rank: int) -> Builder:
    def build(rng: np.random.Generator) -> list[StateCase]:
        g = _size(rng, 1, 2)
        o, i = g * _size(rng, 1, 3), _size(rng, 1, 3)
        kernel = tuple(_size(rng, 1, 3) for _ in range(rank))
        return _with_and_without_bias(_w(rng, o, i, *kernel), _w(rng, o))

    return build


def _depthwise_states(rank: int) -> Builder:
    def build(rng: np.random.Generator) -> list[StateCase]:
        c, m = _size(rng, 1, 4), _size(rng, 1, 3)
        kernel = tuple(_size(rng, 1, 3) for _ in range(rank))
        cases = _with_and_without_bias(_w(rng, c * m, 1, *kernel), _w(rng, c * m))
        return [(state, TransformContext(depth_multiplier=m, use_bias=ctx.use_bias)) for state, ctx in cases]

    return build


def _conv_transpose_states(rank: int) -> Builder:
    def build(rng: np.random.Generator) -> list[StateCase]:
        i, o = _size(rng), _size(rng)
        kernel = tuple(_size(rng, 1, 3) for _ in range(rank))
        return _with_and_without_bias(_w(rng, i, o, *kernel), _w(rng, o))

    return build


def _batchnorm_states(rng: np.random.Generator) -> list[StateCase]:
    c = _size(rng, 1, 6)
    stats = {
        "running_mean": _w(rng, c),
        "running_var": rng.uniform(0.1, 2.0, c).astype(np.float32),
        "num_batches_tracked": np.array(0, dtype=np.int64),
    }
    gamma, beta = _w(rng, c), _w(rng, c)
    ones, zeros = np.ones(c, np.float32), np.zeros(c, np.float32)
    return [
        ({"weight": gamma, "bias": beta, **stats}, TransformContext()),
        ({"weight": gamma, "bias": zeros, **stats}, TransformContext(center=False)),
        ({"weight": ones, "bias": beta, **stats}, TransformContext(scale=False)),
        (stats, TransformContext(center=False, scale=False)),
    ]


def _layernorm_states(rng: np.random.Generator) -> list[StateCase]:
    rank = _size(rng, 1, 3)
    shape = tuple(_size(rng, 1, 4) for _ in range(rank))
    gamma, beta = _w(rng, *shape), _w(rng, *shape)
    return [
        ({"weight": gamma, "bias": beta}, TransformContext(layernorm_rank=rank)),
        ({"weight": gamma}, TransformContext(layernorm_rank=rank, center=False)),
        (
            {"weight": np.ones(shape, np.float32), "bias": beta},
            TransformContext(layernorm_rank=rank, scale=False),
        ),
        ({}, TransformContext(layernorm_rank=rank, center=False, scale=False)),
    ]


def _recurrent_states(gates: int, zero_hh_bias: bool, stacked: bool = False) -> Builder:
    """One layer, one direction; with ``stacked``, also num_layers 2-3, uni- and bidirectional
    (keys ``*_l{k}[_reverse]``, the layer count and directions in the context)."""

    def build(rng: np.random.Generator) -> list[StateCase]:
        f, h = _size(rng), _size(rng)
        # The keras LSTM / SimpleRNN keep only b_ih + b_hh, which comes back as (sum, zeros).
        b_hh = np.zeros(gates * h, np.float32) if zero_hh_bias else _w(rng, gates * h)
        weights = {"weight_ih_l0": _w(rng, gates * h, f), "weight_hh_l0": _w(rng, gates * h, h)}
        cases = [
            ({**weights, "bias_ih_l0": _w(rng, gates * h), "bias_hh_l0": b_hh}, TransformContext()),
            (weights, TransformContext(use_bias=False)),
        ]
        if not stacked:
            return cases
        for layers, directions in ((2, ("",)), (3, ("", "_reverse")), (1, ("", "_reverse"))):
            for bias in (True, False):
                state: dict[str, Array] = {}
                for k in range(layers):
                    fin = f if k == 0 else h * len(directions)
                    for d in directions:
                        state[f"weight_ih_l{k}{d}"] = _w(rng, gates * h, fin)
                        state[f"weight_hh_l{k}{d}"] = _w(rng, gates * h, h)
                        if bias:
                            state[f"bias_ih_l{k}{d}"] = _w(rng, gates * h)
                            state[f"bias_hh_l{k}{d}"] = b_hh.copy() if zero_hh_bias else _w(rng, gates * h)
                ctx = TransformContext(use_bias=bias, rnn_layers=layers, bidirectional=len(directions) == 2)
                cases.append((state, ctx))
        return cases

    return build


def _bidirectional_states(gates: int, zero_hh_bias: bool) -> Builder:
    single = _recurrent_states(gates, zero_hh_bias)

    def build(rng: np.random.Generator) -> list[StateCase]:
        out: list[StateCase] = []
        for (fwd, ctx), (bwd, _) in zip(single(rng), single(rng), strict=True):
            # both directions share the input and hidden sizes
            bwd = {k: _w(rng, *v.shape) if v.any() else v for k, v in fwd.items()}
            out.append(({**fwd, **{f"{k}_reverse": v for k, v in bwd.items()}}, ctx))
        return out

    return build


def _embedding_states(rng: np.random.Generator) -> list[StateCase]:
    return [({"weight": _w(rng, _size(rng, 2, 9), _size(rng))}, TransformContext())]


def _separable_states(rng: np.random.Generator) -> list[StateCase]:
    c, m, o = _size(rng, 1, 3), _size(rng, 1, 3), _size(rng)
    kh, kw = _size(rng, 1, 3), _size(rng, 1, 3)
    weights = {"0.weight": _w(rng, c * m, 1, kh, kw), "1.weight": _w(rng, o, c * m, 1, 1)}
    return [
        ({**weights, "1.bias": _w(rng, o)}, TransformContext(depth_multiplier=m)),
        (weights, TransformContext(depth_multiplier=m, use_bias=False)),
    ]


def _prelu_states(rng: np.random.Generator) -> list[StateCase]:
    c = _size(rng, 2, 5)
    return [
        ({"weight": _w(rng, p)}, TransformContext(prelu_rank=rank)) for p in (1, c) for rank in (1, 2, 3, 4)
    ]


def _attention_states(rng: np.random.Generator) -> list[StateCase]:
    h, d = _size(rng, 1, 3), _size(rng, 1, 3)
    e, kdim, vdim = h * d, _size(rng), _size(rng)
    if kdim == vdim == e:
        kdim = e + 1  # torch keeps separate projections only when kdim or vdim differs from embed_dim
    packed = {"in_proj_weight": _w(rng, 3 * e, e), "out_proj.weight": _w(rng, e, e)}
    separate = {
        "q_proj_weight": _w(rng, e, e),
        "k_proj_weight": _w(rng, e, kdim),
        "v_proj_weight": _w(rng, e, vdim),
        "out_proj.weight": _w(rng, e, e),
    }
    biases = {"in_proj_bias": _w(rng, 3 * e), "out_proj.bias": _w(rng, e)}
    return [
        ({**packed, **biases}, TransformContext(num_heads=h)),
        (packed, TransformContext(num_heads=h, use_bias=False)),
        ({**separate, **biases}, TransformContext(num_heads=h)),
    ]


def _encoder_layer_state(rng: np.random.Generator, e: int, bias: bool) -> dict[str, Array]:
    f = _size(rng)
    state = {
        "self_attn.in_proj_weight": _w(rng, 3 * e, e),
        "self_attn.out_proj.weight": _w(rng, e, e),
        "linear1.weight": _w(rng, f, e),
        "linear2.weight": _w(rng, e, f),
        "norm1.weight": _w(rng, e),
        "norm2.weight": _w(rng, e),
    }
    if bias:
        state.update(
            {
                "self_attn.in_proj_bias": _w(rng, 3 * e),
                "self_attn.out_proj.bias": _w(rng, e),
                "linear1.bias": _w(rng, f),
                "linear2.bias": _w(rng, e),
                "norm1.bias": _w(rng, e),
                "norm2.bias": _w(rng, e),
            }
        )
    return state


def _encoder_layer_states(rng: np.random.Generator) -> list[StateCase]:
    h = _size(rng, 1, 3)
    e = h * _size(rng, 1, 3)
    return [
        (_encoder_layer_state(rng, e, bias), TransformContext(num_heads=h, use_bias=bias))
        for bias in (True, False)
    ]


def _encoder_states(rng: np.random.Generator) -> list[StateCase]:
    h = _size(rng, 1, 3)
    e = h * _size(rng, 1, 3)
    out: list[StateCase] = []
    norms = ({"weight": _w(rng, e), "bias": _w(rng, e)}, {"weight": _w(rng, e)}, {})
    for bias, norm in zip((True, False, True), norms, strict=True):
        state = {
            f"layers.{i}.{k}": v
            for i in range(_size(rng, 1, 3))
            for k, v in _encoder_layer_state(rng, e, bias).items()
        }
        state.update({f"norm.{k}": v for k, v in norm.items()})
        out.append((state, TransformContext(num_heads=h, use_bias=bias)))
    return out


def _keras_attention_states(rng: np.random.Generator) -> list[StateCase]:
    h, k, v = _size(rng, 1, 3), _size(rng), _size(rng)
    e_q, e_k, e_v, out = _size(rng), _size(rng), _size(rng), _size(rng)
    kernels = {
        "query_kernel": _w(rng, e_q, h, k),
        "key_kernel": _w(rng, e_k, h, k),
        "value_kernel": _w(rng, e_v, h, v),
        "output_kernel": _w(rng, h, v, out),
    }
    biases = {
        "query_bias": _w(rng, h, k),
        "key_bias": _w(rng, h, k),
        "value_bias": _w(rng, h, v),
        "output_bias": _w(rng, out),
    }
    return [({**kernels, **biases}, TransformContext()), (kernels, TransformContext(use_bias=False))]


BUILDERS: dict[str, Builder] = {
    "identity": lambda rng: [({}, TransformContext())],
    "linear": _linear_states,
    "linear_after_flatten": _flatten_states,
    "conv1d": _conv_states(1),
    "conv2d": _conv_states(2),
    "conv3d": _conv_states(3),
    "depthwise_conv1d": _depthwise_states(1),
    "depthwise_conv2d": _depthwise_states(2),
    "conv_transpose1d": _conv_transpose_states(1),
    "conv_transpose2d": _conv_transpose_states(2),
    "batchnorm": _batchnorm_states,
    "layernorm": _layernorm_states,
    "gru": _recurrent_states(3, zero_hh_bias=False, stacked=True),
    "lstm": _recurrent_states(4, zero_hh_bias=True, stacked=True),
    "simple_rnn": _recurrent_states(1, zero_hh_bias=True, stacked=True),
    "bidirectional_gru": _bidirectional_states(3, zero_hh_bias=False),
    "bidirectional_lstm": _bidirectional_states(4, zero_hh_bias=True),
    "bidirectional_simple_rnn": _bidirectional_states(1, zero_hh_bias=True),
    "embedding": _embedding_states,
    "separable_conv2d": _separable_states,
    "prelu": _prelu_states,
    "multihead_attention": _attention_states,
    "transformer_encoder_layer": _encoder_layer_states,
    "transformer_encoder": _encoder_states,
    "keras_multi_head_attention": _keras_attention_states,
}


def assert_same_arrays(actual: Any, expected: Any) -> None:
    """Exact equality, including dtype, of two dicts or lists of arrays."""
    if isinstance(expected, dict):
        assert set(actual) == set(expected)
        pairs = [(actual[k], expected[k]) for k in expected]
    else:
        assert len(actual) == len(expected)
        pairs = list(zip(actual, expected, strict=True))
    for got, want in pairs:
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want, strict=True)


def test_builders_cover_both_registries() -> None:
    assert set(KERAS_TO_TORCH) == set(TRANSFORMS) == set(BUILDERS)


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
@SETTINGS
@given(seed=seeds)
@example(seed=22892972)  # once drew kdim == vdim == embed_dim with separate projections (CI)
def test_torch_to_keras_to_torch_is_exact(name: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    transform = get_keras_transform(name)
    for state, ctx in BUILDERS[name](rng):
        keras_weights = apply_transform(name, state, ctx)
        assert transform.min_arrays <= len(keras_weights) <= transform.max_arrays
        back = apply_keras_transform(name, keras_weights, ctx)
        assert set(back) <= set(transform.produces)
        assert_same_arrays(back, state)


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
@SETTINGS
@given(seed=seeds)
def test_keras_to_torch_to_keras_is_exact(name: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for state, ctx in BUILDERS[name](rng):
        # Random Keras weights of the shapes the forward transform gives.
        keras_weights = [_w(rng, *a.shape) for a in apply_transform(name, state, ctx)]
        again = apply_transform(name, apply_keras_transform(name, keras_weights, ctx), ctx)
        assert_same_arrays(again, keras_weights)


def test_lstm_keeps_only_the_sum_of_its_biases() -> None:
    rng = np.random.default_rng(10)
    state = {
        "weight_ih_l0": _w(rng, 8, 3),
        "weight_hh_l0": _w(rng, 8, 2),
        "bias_ih_l0": _w(rng, 8),
        "bias_hh_l0": _w(rng, 8),
    }
    back = apply_keras_transform("lstm", apply_transform("lstm", state))
    np.testing.assert_array_equal(back["bias_ih_l0"], state["bias_ih_l0"] + state["bias_hh_l0"])
    np.testing.assert_array_equal(back["bias_hh_l0"], np.zeros(8, np.float32))


# --------------------------------------------------------------------- negative / API


def test_registry_is_read_only_and_documented() -> None:
    for name, transform in KERAS_TO_TORCH.items():
        assert isinstance(transform, KerasWeightTransform)
        assert transform.name == name
        assert transform.doc
        assert 0 <= transform.min_arrays <= transform.max_arrays
    with pytest.raises(TypeError):
        KERAS_TO_TORCH["new"] = KERAS_TO_TORCH["linear"]  # type: ignore[index]


def test_unknown_name_lists_known() -> None:
    with pytest.raises(KeyError, match=r"known: .*conv2d"):
        apply_keras_transform("conv4d", [])


def test_array_count_outside_the_range_raises() -> None:
    k = np.zeros((3, 4), np.float32)
    with pytest.raises(TransformError, match=r"'linear'.*expects 1 to 2 Keras weight array\(s\), got 0"):
        apply_keras_transform("linear", [])
    with pytest.raises(TransformError, match=r"'embedding'.*expects 1 Keras weight array\(s\), got 2"):
        apply_keras_transform("embedding", [k, k])
    with pytest.raises(TransformError, match=r"'identity'.*expects 0 .*got 1"):
        apply_keras_transform("identity", [k])


def test_array_count_must_match_the_context() -> None:
    k, b = np.zeros((3, 4), np.float32), np.zeros(4, np.float32)
    with pytest.raises(TransformError, match=r"'linear'.*\[kernel, bias\] \(context.use_bias=True\), got 1"):
        apply_keras_transform("linear", [k])
    with pytest.raises(TransformError, match=r"'linear'.*\[kernel\] \(context.use_bias=False\), got 2"):
        apply_keras_transform("linear", [k, b], TransformContext(use_bias=False))
    v = np.ones(4, np.float32)
    with pytest.raises(TransformError, match=r"'batchnorm'.*\[gamma, beta, moving_mean, moving_variance\]"):
        apply_keras_transform("batchnorm", [v, v, v])
    with pytest.raises(TransformError, match=r"'layernorm'.*\[gamma\] \(context.scale=True, center=False\)"):
        apply_keras_transform("layernorm", [v, v], TransformContext(center=False))


def test_wrong_ndim_and_shapes_raise() -> None:
    flat = np.zeros((4, 12), np.float32)
    cases: list[tuple[str, list[Array], TransformContext, str]] = [
        ("conv2d", [flat, np.zeros(12, np.float32)], TransformContext(), r"'conv2d'.*'kernel' must have 4"),
        ("conv_transpose1d", [flat], TransformContext(use_bias=False), r"'conv_transpose1d'.*'kernel'.*3"),
        (
            "depthwise_conv2d",
            [np.zeros((3, 3, 2), np.float32)],
            TransformContext(use_bias=False),
            r"must have 4",
        ),
        (
            "embedding",
            [np.zeros(5, np.float32)],
            TransformContext(),
            r"'embedding'.*'embeddings' must have 2",
        ),
        ("linear", [flat, np.zeros(5, np.float32)], TransformContext(), r"'linear'.*'bias'.*12 outputs"),
        ("gru", [flat, np.zeros((4, 8), np.float32)], TransformContext(use_bias=False), r"'gru'.*3 gates"),
        ("lstm", [flat, flat, np.zeros(16, np.float32)], TransformContext(), r"'lstm'.*4 gates"),
        (
            "prelu",
            [np.zeros((1, 3, 4), np.float32)],
            TransformContext(),
            r"'prelu'.*\(1, 3, 4\).*shared_axes",
        ),
        ("prelu", [np.array(0.5, np.float32)], TransformContext(), r"'prelu'.*shape \(\)"),
        (
            "batchnorm",
            [np.ones(3, np.float32), np.ones(3, np.float32), np.ones(3, np.float32), np.ones(4, np.float32)],
            TransformContext(),
            r"'batchnorm'.*'moving_variance' shape \(4\) differs",
        ),
        (
            "layernorm",
            [np.ones((2, 3), np.float32)],
            TransformContext(center=False),
            r"'layernorm'.*'gamma' must have 1 dimensions",
        ),
        (
            "separable_conv2d",
            [np.zeros((3, 3, 2, 2), np.float32), np.zeros((1, 1, 3, 5), np.float32)],
            TransformContext(use_bias=False),
            r"'separable_conv2d'.*'pointwise_kernel'.*\(1, 1, 4, out\)",
        ),
        (
            "gru",
            [np.zeros((3, 12), np.float32), np.zeros((4, 12), np.float32), np.zeros((2, 9), np.float32)],
            TransformContext(),
            r"'gru'.*'bias'.*expected \(2, 12\)",
        ),
    ]
    for name, arrays, ctx, pattern in cases:
        with pytest.raises(TransformError, match=pattern):
            apply_keras_transform(name, arrays, ctx)


def test_flatten_context_is_required_and_checked() -> None:
    kernel = np.zeros((12, 4), np.float32)
    with pytest.raises(TransformError, match=r"'linear_after_flatten'.*flatten_shape is required"):
        apply_keras_transform("linear_after_flatten", [kernel], TransformContext(use_bias=False))
    with pytest.raises(TransformError, match="12 input features"):
        apply_keras_transform(
            "linear_after_flatten", [kernel], TransformContext(use_bias=False, flatten_shape_last=(2, 5))
        )
    with pytest.raises(TransformError, match="describe different maps"):
        apply_keras_transform(
            "linear_after_flatten",
            [kernel],
            TransformContext(use_bias=False, flatten_shape=(3, 2, 2), flatten_shape_last=(3, 2, 2)),
        )
    with pytest.raises(TransformError, match=r"flatten_shape_last must be \(\*spatial, C\)"):
        apply_keras_transform(
            "linear_after_flatten", [kernel], TransformContext(use_bias=False, flatten_shape_last=(12,))
        )


def test_outputs_do_not_alias_inputs() -> None:
    kernel = np.arange(12, dtype=np.float32).reshape(3, 4)
    for name in ("embedding", "linear"):
        state = apply_keras_transform(name, [kernel], TransformContext(use_bias=False))
        state["weight"][...] = 100.0
        assert kernel.max() == 11.0


def test_module_is_pure_numpy() -> None:
    code = (
        "import sys, migrator.weights.keras_to_torch\n"
        "bad = {'torch', 'tensorflow', 'keras'} & set(sys.modules)\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True)
