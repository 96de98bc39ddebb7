"""Normalisation variants, resizing, pooling options, padding modes, PReLU and embedding padding in
both directions (rules/*/layers_norm_more.toml, rules/*/layers_resize.toml and the widened pooling,
conv and embedding rules).

* Properties for the rules this work widened but whose foundation cases live elsewhere (pooling
  with ceil_mode / count_include_pad / divisor_override, conv padding_mode, adaptive average
  pooling to sizes above 1, Keras 'same' pooling, Embedding(mask_zero=True)): the same harness as
  tests/test_layer_properties.py, under the rules' own ids.
* The runtime helpers against the other framework where verify cannot see the difference
  (InstanceNorm running statistics, the padding row of an embedding in training), and the stock
  mapping each helper replaces, which must miss.
* What stays unsupported is marked, with the reason.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrator import api
from migrator.rules.loader import RuleSet, load_rules
from migrator.types import Direction
from tests.props import Case, render, run_case

EXAMPLES = int(os.environ.get("FWMIGRATE_NORM_RESIZE_EXAMPLES", "4"))
RULES: dict[Direction, RuleSet] = {}
BATCH = st.integers(2, 3)


def _rules(direction: Direction) -> RuleSet:
    if direction not in RULES:
        RULES[direction] = load_rules(direction)
    return RULES[direction]


def _spec(*dims: int) -> str:
    return ",".join(str(d) for d in dims)


# ------------------------------------------------------------------ widened torch2tf rules


@st.composite
def torch_pool(draw: st.DrawFn, kind: str, dims: int) -> Case:
    """ceil_mode, count_include_pad=False and divisor_override, with padding up to half the
    kernel; sizes at least the kernel (torch refuses windows larger than the padded input)."""
    k = tuple(draw(st.integers(1, 4)) for _ in range(dims))
    s = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    p = tuple(draw(st.integers(0, ki // 2)) for ki in k)
    sizes = tuple(ki + draw(st.integers(0, 6)) for ki in k)
    ceil = draw(st.booleans())
    extra = f", ceil_mode={ceil}"
    if kind == "Avg":
        extra += f", count_include_pad={draw(st.booleans())}"
        if dims == 2 and draw(st.integers(0, 3)) == 0:
            extra += f", divisor_override={draw(st.integers(1, 5))}"

    def one(t: tuple[int, ...]) -> object:
        return t if dims > 1 else t[0]

    layer = f"nn.{kind}Pool{dims}d({one(k)!r}, stride={one(s)!r}, padding={one(p)!r}{extra})"
    return Case(layer, (_spec(draw(BATCH), draw(st.integers(1, 3)), *sizes),))


@st.composite
def adaptive_avg(draw: st.DrawFn, dims: int) -> Case:
    sizes = tuple(draw(st.integers(1, 9)) for _ in range(dims))
    outs: tuple[int | None, ...] = tuple(draw(st.integers(1, 5)) for _ in range(dims))
    if dims == 2 and draw(st.booleans()):
        outs = (outs[0], None)
    arg: object = outs if dims > 1 else outs[0]
    return Case(f"nn.AdaptiveAvgPool{dims}d({arg!r})", (_spec(draw(BATCH), draw(st.integers(1, 3)), *sizes),))


@st.composite
def mode_conv(draw: st.DrawFn, dims: int) -> Case:
    """padding_mode reflect/replicate/circular with explicit or 'same' padding (stride 1 for
    'same', which torch requires); torch needs reflect padding below the size."""
    mode = draw(st.sampled_from(["reflect", "replicate", "circular"]))
    k = tuple(draw(st.integers(1, 4)) for _ in range(dims))
    sizes = tuple(ki + draw(st.integers(1, 5)) for ki in k)
    cin, cout = draw(st.integers(1, 3)), draw(st.integers(1, 3))

    def one(t: tuple[int, ...]) -> object:
        return t if dims > 1 else t[0]

    if draw(st.booleans()):
        padding, stride = "'same'", 1
    else:
        pads = tuple(draw(st.integers(0, min(ki, n - 1))) for ki, n in zip(k, sizes, strict=True))
        padding, stride = repr(one(pads)), draw(st.integers(1, 2))
    args = f"{one(k)!r}, stride={stride}, padding={padding}, padding_mode={mode!r}"
    layer = f"nn.Conv{dims}d({cin}, {cout}, {args})"
    return Case(layer, (_spec(draw(BATCH), cin, *sizes),))


# ------------------------------------------------------------------ widened tf2torch rules


@st.composite
def keras_same_pool(draw: st.DrawFn, kind: str, dims: int) -> Case:
    k = tuple(draw(st.integers(1, 4)) for _ in range(dims))
    s = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    sizes = tuple(draw(st.integers(1, 9)) for _ in range(dims))

    def one(t: tuple[int, ...]) -> object:
        return t if dims > 1 else t[0]

    layer = f'layers.{kind}Pooling{dims}D({one(k)!r}, strides={one(s)!r}, padding="same")'
    return Case(layer, (_spec(draw(BATCH), *sizes, draw(st.integers(1, 3))),))


@st.composite
def keras_masked_embedding(draw: st.DrawFn) -> Case:
    num, dim, length = draw(st.integers(2, 12)), draw(st.integers(1, 5)), draw(st.integers(1, 6))
    return Case(f"layers.Embedding({num}, {dim}, mask_zero=True)", (f"{draw(BATCH)},{length}:int32:0:{num}",))


WIDENED: list[tuple[Direction, str, st.SearchStrategy[Case]]] = [
    (Direction.TORCH2TF, "torch2tf.nn.MaxPool1d", torch_pool("Max", 1)),
    (Direction.TORCH2TF, "torch2tf.nn.MaxPool2d", torch_pool("Max", 2)),
    (Direction.TORCH2TF, "torch2tf.nn.AvgPool1d", torch_pool("Avg", 1)),
    (Direction.TORCH2TF, "torch2tf.nn.AvgPool2d", torch_pool("Avg", 2)),
    (Direction.TORCH2TF, "torch2tf.nn.AdaptiveAvgPool1d", adaptive_avg(1)),
    (Direction.TORCH2TF, "torch2tf.nn.AdaptiveAvgPool2d", adaptive_avg(2)),
    (Direction.TORCH2TF, "torch2tf.nn.Conv1d", mode_conv(1)),
    (Direction.TORCH2TF, "torch2tf.nn.Conv2d", mode_conv(2)),
    (Direction.TF2TORCH, "tf2torch.layers.MaxPooling1D", keras_same_pool("Max", 1)),
    (Direction.TF2TORCH, "tf2torch.layers.MaxPooling2D", keras_same_pool("Max", 2)),
    (Direction.TF2TORCH, "tf2torch.layers.AveragePooling1D", keras_same_pool("Average", 1)),
    (Direction.TF2TORCH, "tf2torch.layers.AveragePooling2D", keras_same_pool("Average", 2)),
    (Direction.TF2TORCH, "tf2torch.layers.Embedding", keras_masked_embedding()),
]


@pytest.mark.frameworks
@pytest.mark.parametrize(("direction", "rule_id", "strategy"), WIDENED, ids=[r for _, r, _ in WIDENED])
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_widened_rule_matches_the_original(
    direction: Direction, rule_id: str, strategy: st.SearchStrategy[Case], data: Any
) -> None:
    case = data.draw(strategy, label="case")
    outcome = run_case(direction, rule_id, case, _rules(direction))
    assert outcome.fired, f"{rule_id} did not apply\n{outcome.explain()}"
    assert not outcome.problems, f"{rule_id}: findings\n{outcome.explain()}"
    assert outcome.equivalent, f"{rule_id}: not equivalent\n{outcome.explain()}"


# ------------------------------------------------------------------ what stays marked

MARKED = [
    (
        Direction.TORCH2TF,
        "nn.Upsample(scale_factor=2, mode='bicubic')",
        "2,2,5,5",
        "unsupported",
        "a = -0.75",
    ),
    (
        Direction.TORCH2TF,
        "nn.InstanceNorm2d(2, momentum=None, track_running_stats=True)",
        "2,2,5,5",
        "unsupported",
        "momentum=None",
    ),
    (
        Direction.TORCH2TF,
        "nn.AdaptiveMaxPool2d(2, return_indices=True)",
        "2,2,5,5",
        "unsupported",
        "return_indices",
    ),
    (
        Direction.TORCH2TF,
        "nn.Conv3d(2, 2, 3, padding=1, padding_mode='reflect')",
        "2,2,5,5,5",
        "unsupported",
        "padding_mode",
    ),
    (
        Direction.TF2TORCH,
        "layers.PReLU()",
        "2,5,4,3",
        "unsupported",
        "a slope per position of axes [1, 2, 3]",
    ),
    (
        Direction.TF2TORCH,
        'layers.Resizing(4, 4, interpolation="bicubic")',
        "2,5,4,3",
        "unsupported",
        "bicubic",
    ),
    (
        Direction.TF2TORCH,
        "layers.Resizing(4, 4, crop_to_aspect_ratio=True)",
        "2,5,4,3",
        "unsupported",
        "crop_to_aspect_ratio",
    ),
    (
        Direction.TF2TORCH,
        "layers.GroupNormalization(groups=2, center=False)",
        "2,5,4",
        "unsupported",
        "center and scale",
    ),
]


@pytest.mark.parametrize(("direction", "layer", "spec", "severity", "reason"), MARKED)
def test_what_cannot_be_migrated_is_marked(
    direction: Direction, layer: str, spec: str, severity: str, reason: str
) -> None:
    source, _ = render(direction, Case(layer, (spec,)))
    result = api.migrate_source(source, direction, _rules(direction), source_name="m.py")
    found = [f"{f.severity.value}: {f.message}" for f in result.findings]
    assert any(line.startswith(severity) and reason in line for line in found), found
    assert f"# fwmigrate: {severity}:" in result.code


MASKED = """import keras
from keras import layers


def build_model():
    ids = keras.Input(shape=(12,), dtype="int32")
    x = layers.Embedding(50, 8, mask_zero=True)(ids)
    x = layers.{reader}
    return keras.Model(ids, layers.Dense(2)(x))
"""


@pytest.mark.parametrize(
    "reader", ["LSTM(4)(x)", "GlobalAveragePooling1D()(x)", "MultiHeadAttention(2, 4)(x, x)"]
)
def test_a_mask_that_a_layer_reads_is_unsupported(reader: str) -> None:
    result = api.migrate_source(
        MASKED.replace("{reader}", reader), Direction.TF2TORCH, _rules(Direction.TF2TORCH)
    )
    why = [f.message for f in result.findings if f.api == "keras.layers.Embedding"]
    assert why and why[0].startswith("mask_zero=True: Keras passes the padding mask to "), why


def test_embedding_padding_idx_is_a_review_unless_the_file_trains() -> None:
    """The documented review stays where the file does not train (the padding row is only a
    training difference); a file that trains gets the exact helper and no review."""
    plain = "import torch.nn as nn\n\nemb = nn.Embedding(10, 4, padding_idx=0)\n"
    result = api.migrate_source(plain, Direction.TORCH2TF, _rules(Direction.TORCH2TF))
    assert [f.severity.value for f in result.findings if f.api == "torch.nn.Embedding"] == ["review"]
    assert "layers.Embedding(input_dim=10, output_dim=4)" in result.code


# ------------------------------------------------------------------ helpers against the other side


def _max_diff(a: Any, b: Any) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


@pytest.mark.frameworks
def test_instance_norm_helper_follows_torch_running_statistics() -> None:
    """Inference with non-trivial running statistics, then one training step: the normalised
    output and the updated running mean and (unbiased) variance match torch; stock
    GroupNormalization ignores the running statistics and misses."""
    import keras
    import torch

    from migrator.runtime import keras_support as ks
    from migrator.weights import apply_transform

    rng = np.random.default_rng(3)
    c = 3
    tnorm = torch.nn.InstanceNorm2d(c, eps=1e-3, momentum=0.2, affine=True, track_running_stats=True)
    assert tnorm.running_mean is not None and tnorm.running_var is not None
    with torch.no_grad():
        tnorm.running_mean.copy_(torch.from_numpy(rng.normal(0, 0.5, c).astype(np.float32)))
        tnorm.running_var.copy_(torch.from_numpy(rng.uniform(0.1, 2.0, c).astype(np.float32)))
        tnorm.weight.copy_(torch.from_numpy(rng.uniform(0.5, 1.5, c).astype(np.float32)))
        tnorm.bias.copy_(torch.from_numpy(rng.normal(0, 0.2, c).astype(np.float32)))
    x = rng.normal(0.7, 1.3, (2, c, 5, 4)).astype(np.float32)
    xk = x.transpose(0, 2, 3, 1)
    knorm = ks.InstanceNorm(c, eps=1e-3, momentum=0.2, affine=True)
    knorm.build(xk.shape)
    state = {k: v.detach().numpy() for k, v in tnorm.state_dict().items()}
    knorm.set_weights(apply_transform("batchnorm", state))
    tnorm.eval()
    want = tnorm(torch.from_numpy(x)).detach().numpy().transpose(0, 2, 3, 1)
    assert _max_diff(knorm(xk, training=False), want) < 1e-5
    stock = keras.layers.GroupNormalization(groups=c, epsilon=1e-3)
    assert _max_diff(stock(xk), want) > 1e-2
    tnorm.train()
    train_out = tnorm(torch.from_numpy(x)).detach().numpy().transpose(0, 2, 3, 1)
    assert _max_diff(knorm(xk, training=True), train_out) < 1e-5
    assert _max_diff(knorm.moving_mean, tnorm.running_mean.numpy()) < 1e-6
    assert _max_diff(knorm.moving_variance, tnorm.running_var.numpy()) < 1e-5


@pytest.mark.frameworks
def test_embedding_helper_never_updates_the_padding_row() -> None:
    """One SGD step on both sides: torch leaves the padding row at zero, the helper too, and the
    other rows move alike; stock Keras moves the padding row."""
    import keras
    import tensorflow as tf
    import torch

    from migrator.runtime import keras_support as ks

    rng = np.random.default_rng(5)
    ids = np.array([[0, 2, 1, 0], [3, 0, 2, 2]], dtype=np.int64)
    target = rng.normal(size=(2, 4, 3)).astype(np.float32)
    temb = torch.nn.Embedding(5, 3, padding_idx=0)
    assert float(temb.weight[0].abs().sum()) == 0.0
    table = temb.weight.detach().numpy().copy()
    opt = torch.optim.SGD(temb.parameters(), lr=0.5)
    loss = ((temb(torch.from_numpy(ids)) - torch.from_numpy(target)) ** 2).mean()
    loss.backward()
    opt.step()

    def keras_step(layer: Any) -> np.ndarray[Any, Any]:
        layer.build((2, 4))
        layer.set_weights([table])
        with tf.GradientTape() as tape:
            out = layer(ids.astype(np.int32))
            kloss = keras.ops.mean((out - target) ** 2)
        grads = tape.gradient(kloss, layer.trainable_variables)
        keras.optimizers.SGD(learning_rate=0.5).apply_gradients(
            zip(grads, layer.trainable_variables, strict=True)
        )
        return np.asarray(layer.embeddings)

    helper = keras_step(ks.Embedding(5, 3, padding_idx=0))
    assert _max_diff(helper, temb.weight.detach().numpy()) < 1e-6
    assert np.all(helper[0] == 0.0)
    stock = keras_step(keras.layers.Embedding(5, 3))
    assert _max_diff(stock[0], 0.0) > 1e-3
    fresh = ks.Embedding(5, 3, padding_idx=-5)
    fresh.build((2, 4))
    assert np.all(np.asarray(fresh.embeddings)[0] == 0.0)


@pytest.mark.frameworks
def test_stock_keras_misses_where_the_helpers_are_used() -> None:
    """The cases the rules send to a helper: TF's SYMMETRIC is not reflect, Keras's nearest is
    torch's nearest-exact, UpSampling2D is half-pixel where align_corners=True is not, Keras
    'same' average pooling divides differently from ceil mode with padding; the helpers match."""
    import keras
    import tensorflow as tf
    import torch
    import torch.nn.functional as F

    from migrator.runtime import keras_layers as kl
    from migrator.runtime import keras_support as ks

    rng = np.random.default_rng(11)
    x = rng.normal(size=(2, 3, 7, 5)).astype(np.float32)
    xt, xk = torch.from_numpy(x), x.transpose(0, 2, 3, 1)

    def nchw(t: Any) -> np.ndarray[Any, Any]:
        return np.asarray(t.detach().numpy()).transpose(0, 2, 3, 1)

    reflect = nchw(F.pad(xt, (2, 2, 2, 2), mode="reflect"))
    assert _max_diff(ks.pad(xk, ((2, 2), (2, 2)), "reflect"), reflect) == 0.0
    assert _max_diff(tf.pad(xk, [[0, 0], [2, 2], [2, 2], [0, 0]], mode="SYMMETRIC"), reflect) > 0.5
    nearest = nchw(F.interpolate(xt, size=(10, 4), mode="nearest"))
    assert _max_diff(ks.interpolate(xk, size=(10, 4), mode="nearest"), nearest) == 0.0
    assert _max_diff(keras.layers.Resizing(10, 4, interpolation="nearest")(xk), nearest) > 0.5
    corners = nchw(F.interpolate(xt, scale_factor=2, mode="bilinear", align_corners=True))
    assert _max_diff(ks.interpolate(xk, scale_factor=2, mode="bilinear", align_corners=True), corners) < 1e-5
    assert _max_diff(keras.layers.UpSampling2D(2, interpolation="bilinear")(xk), corners) > 0.1
    pooled = nchw(F.avg_pool2d(xt, 3, 2, 1, ceil_mode=True, count_include_pad=True))
    assert _max_diff(kl.avg_pool(xk, 3, 2, 1, ceil_mode=True), pooled) < 1e-5
    assert _max_diff(keras.layers.AveragePooling2D(3, 2, padding="same")(xk), pooled) > 0.1
    bins = nchw(F.adaptive_avg_pool2d(xt, (3, 4)))
    assert _max_diff(ks.adaptive_avg_pool(xk, (3, 4)), bins) < 1e-6


@pytest.mark.frameworks
def test_torch_helpers_follow_keras() -> None:
    """UnitNormalization and 'same' average pooling at stride 1 with an even window (TF pads one
    more pixel after) against Keras; zero padding counted in the divisor misses the latter."""
    import keras
    import torch

    from migrator.runtime import torch_support as ts

    rng = np.random.default_rng(13)
    x = rng.normal(size=(2, 6, 5, 3)).astype(np.float32)
    xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    want = np.asarray(keras.layers.UnitNormalization()(x))
    got = ts.UnitNormalization(dim=1)(xt).numpy().transpose(0, 2, 3, 1)
    assert _max_diff(got, want) < 1e-6
    want = np.asarray(keras.layers.AveragePooling2D(2, strides=1, padding="same")(x))
    got = ts.KerasAvgPoolSame((2, 2), (1, 1))(xt).numpy().transpose(0, 2, 3, 1)
    assert _max_diff(got, want) < 1e-6
    counted = torch.nn.functional.avg_pool2d(torch.nn.functional.pad(xt, (0, 1, 0, 1)), 2, 1)  # zeros counted
    assert _max_diff(counted.numpy().transpose(0, 2, 3, 1), want) > 0.1


@pytest.mark.frameworks
def test_rms_norm_weights_move_in_both_directions() -> None:
    """verify leaves RMSNorm's weight at ones, which would hide a weight moved to the wrong place:
    random weights here. torch RMSNorm([C, H, W]) -> Keras RMSNormalization(axis=[1, 2, 3]) (the
    weight moved channels-last), and Keras RMSNormalization -> torch RMSNorm through the tf2torch
    transfer context (Keras's `scale` is a weight, not a flag, and there is no offset)."""
    import keras
    import torch

    from migrator.verify.tf2torch_transfer import KerasPair, transfer
    from migrator.weights import TransformContext, apply_transform

    rng = np.random.default_rng(17)
    x = rng.normal(0.5, 1.0, (2, 4, 5, 3)).astype(np.float32)
    tnorm = torch.nn.RMSNorm([4, 5, 3], eps=1e-6)
    with torch.no_grad():
        tnorm.weight.copy_(torch.from_numpy(rng.uniform(0.5, 1.5, (4, 5, 3)).astype(np.float32)))
    knorm = keras.layers.RMSNormalization(axis=[1, 2, 3], epsilon=1e-6)
    knorm.build((2, 5, 3, 4))
    state = {"weight": tnorm.weight.detach().numpy()}
    knorm.set_weights(apply_transform("layernorm", state, TransformContext(layernorm_rank=3)))
    want = tnorm(torch.from_numpy(x)).detach().numpy().transpose(0, 2, 3, 1)
    assert _max_diff(knorm(x.transpose(0, 2, 3, 1)), want) < 1e-5

    klast = keras.layers.RMSNormalization(epsilon=1e-6)
    klast.build((2, 7, 6))
    klast.set_weights([rng.uniform(0.5, 1.5, 6).astype(np.float32)])
    tlast = torch.nn.RMSNorm(6, eps=1e-6)
    pair = KerasPair("rms", "rms", klast, tlast, tlast, "rms", "layernorm", "", {"center": False})
    transfer([pair], keras.Sequential([klast]), tlast)
    y = rng.normal(size=(2, 7, 6)).astype(np.float32)
    assert _max_diff(tlast(torch.from_numpy(y)).detach().numpy(), klast(y)) < 1e-6
