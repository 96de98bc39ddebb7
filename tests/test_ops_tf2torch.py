"""The tf2torch op rules checked numerically: each case is a small Keras model whose ``call`` uses
an op, migrated with the shipped rules; the generated torch code is imported, the Keras weights
are moved with verify's own transfer (``pair_layers`` + ``transfer``), both models run on one
seeded input, and the torch output, put back in Keras's layout as the migration record says, must
match. Most cases apply the op to a Conv2D output: a (N, H, W, C) map held as (N, C, H, W) in
torch, with H, W and C all different, so an axis that is not remapped shows.

For the traps of SEMANTICS.md §3 (biased std/var, tf.split counts, repeat vs tile, tf.gather,
pad order, squeeze, round half to even, transpose without axes, ...) the case also names a naive
rewrite of the generated code, and the test checks that it gives another answer.
"""

from __future__ import annotations

import importlib.util
import itertools
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from migrator.api import migrate_source
from migrator.rules.loader import load_rules
from migrator.types import Direction, MigrationResult, Severity

pytestmark = [
    pytest.mark.frameworks,
    # the models call build() on a subclassed model without a build method, as users do
    pytest.mark.filterwarnings("ignore:`build\\(\\)` was called on layer"),
]

RULES = load_rules(Direction.TF2TORCH)
ROOT = Path(__file__).resolve().parent.parent
_COUNTER = itertools.count()

HEADER = "import keras\nimport tensorflow as tf\nfrom keras import layers\n\n\n"
CLASS = """class Net(keras.Model):
    def __init__(self):
        super().__init__()
{layers}
    def call(self, x):
{body}


def build_model():
    model = Net()
    model.build({shape})
    return model
"""
FUNCTIONAL = """def build_model():
    inputs = keras.Input(shape={shape})
    y = layers.Conv2D(6, 3)(inputs)
{body}
    return keras.Model(inputs, out)
"""
# (layers of __init__, the tensor call() starts from, input shape without batch)
BASES: dict[str, tuple[str, str, tuple[int, ...]]] = {
    # (2, 9, 7, 3) -> Conv2D -> (2, 7, 5, 6): H, W and C differ
    "conv": ("self.conv = layers.Conv2D(6, 3)", "y = self.conv(x)", (9, 7, 3)),
    "conv1": ("self.conv = layers.Conv2D(1, 3)", "y = self.conv(x)", (9, 7, 3)),
    "dense": ("self.fc = layers.Dense(6)", "y = self.fc(x)", (5, 4)),
    "plain": ("pass", "y = x", (3, 4)),
}


@dataclass(frozen=True)
class Case:
    name: str
    body: str  # call() after ``y = <base tensor>``: statements ending with ``return``
    rules: tuple[str, ...]  # the rule ids (without "tf2torch.ops.") that must migrate it
    base: str = "conv"
    naive: tuple[str, str] | None = None  # (generated text, naive replacement): must differ
    dtype: bool = False  # the torch dtype must be Keras's (int32 stays int32)
    data: str = "normal"  # "halves": x.5 values (round)
    functional: bool = False  # a functional builder (traced), ``out = ...`` instead of return

    def source(self) -> str:
        if self.functional:
            body = "\n".join("    " + ln for ln in self.body.strip().splitlines())
            return HEADER + FUNCTIONAL.format(shape=BASES[self.base][2], body=body)
        init, start, shape = BASES[self.base]
        body = "\n".join("        " + ln for ln in [start, *self.body.strip().splitlines()])
        return HEADER + CLASS.format(layers="        " + init + "\n", body=body, shape=(None, *shape))


def C(name: str, body: str, *rules: str, **kw: Any) -> Any:
    return pytest.param(Case(name, body, rules, **kw), id=name)


CASES = [
    # ------------------------------------------------------------------ elementwise math
    C("exp", "return keras.ops.exp(y * 0.5) + tf.exp(y * 0.1)", "exp"),
    C("log_abs", "return tf.math.log(keras.ops.abs(y) + 0.5)", "log", "abs"),
    C("log1p_expm1", "return keras.ops.log1p(tf.abs(y)) + keras.ops.expm1(y)", "log1p", "abs", "expm1"),
    C(
        "sqrt_rsqrt",
        "return tf.sqrt(tf.abs(y)) + keras.ops.rsqrt(keras.ops.abs(y) + 1.0)",
        "sqrt",
        "rsqrt",
        "abs",
    ),
    C(
        "square_negative_sign",
        "return tf.square(y) + keras.ops.negative(y) * keras.ops.sign(y)",
        "square",
        "negative",
        "sign",
    ),
    C("floor_ceil", "return keras.ops.floor(y * 3.0) + tf.math.ceil(y * 2.0)", "floor", "ceil"),
    C(
        "round_half_even",
        "return keras.ops.round(y)",
        "round",
        base="plain",
        data="halves",
        naive=("torch.round(y)", "torch.floor(y + 0.5)"),
    ),
    C("tf_round", "return tf.round(y)", "round", base="plain", data="halves"),
    C("round_decimals", "return keras.ops.round(y, 1)", "round", base="plain"),
    C("reciprocal", "return keras.ops.reciprocal(keras.ops.abs(y) + 1.0)", "reciprocal", "abs"),
    C("trig", "return keras.ops.sin(y) + tf.cos(y) + keras.ops.tan(y * 0.3)", "sin", "cos", "tan"),
    C("erf", "return tf.math.erf(y)", "erf"),
    C("isnan", "return keras.ops.isnan(keras.ops.log(y))", "isnan", "log"),
    C(
        "isinf",
        "return keras.ops.isinf(keras.ops.reciprocal(keras.ops.floor(y)))",
        "isinf",
        "reciprocal",
        "floor",
    ),
    C("isfinite", "return tf.math.is_finite(keras.ops.log(y))", "isfinite", "log"),
    C("logical_not", "return keras.ops.logical_not(y > 0)", "logical_not"),
    C("softplus", "return keras.ops.softplus(y * 3.0) + tf.nn.softplus(y)", "softplus"),
    C("softsign_selu", "return keras.ops.softsign(y * 3.0) + keras.ops.selu(y * 2.0)", "softsign", "selu"),
    C(
        "relu6_log_sigmoid",
        "return keras.ops.relu6(y * 5.0) + keras.ops.log_sigmoid(y)",
        "relu6",
        "log_sigmoid",
    ),
    C(
        "hard_sigmoid_silu",
        "return keras.ops.hard_sigmoid(y * 3.0) + keras.ops.hard_silu(y * 3.0)",
        "hard_sigmoid",
        "hard_silu",
    ),
    C(
        "gelu_tanh_default",
        "return keras.ops.gelu(y * 2.0)",
        "gelu",
        naive=("F.gelu(y * 2.0, approximate='tanh')", "F.gelu(y * 2.0)"),
    ),
    C(
        "gelu_exact",
        "return keras.ops.gelu(y, approximate=False) + keras.activations.gelu(y)",
        "gelu",
        "gelu_exact",
    ),
    C("tf_gelu_tanh", "return tf.nn.gelu(y, approximate=True)", "gelu_exact"),
    C("stop_gradient", "return keras.ops.stop_gradient(y) * 2.0", "stop_gradient"),
    C(
        "add_subtract",
        "return keras.ops.add(y, 1.0) * keras.ops.subtract(1.0, y) + tf.add(y, y)",
        "add",
        "subtract",
    ),
    C(
        "multiply_divide",
        "return keras.ops.multiply(y, y) + keras.ops.divide(y, 2.0) + tf.divide(3.0, y)",
        "multiply",
        "divide",
    ),
    C(
        "power",
        "return keras.ops.power(y, 2) + tf.pow(2.0, y) + keras.ops.power(keras.ops.abs(y), y)",
        "power",
        "abs",
    ),
    C(
        "maximum_minimum",
        "return keras.ops.maximum(y, 0.0) + keras.ops.minimum(0.5, y) + tf.maximum(y, y * 0.5)",
        "maximum",
        "minimum",
    ),
    C(
        "compare",
        "return keras.ops.less(0.2, y) | tf.greater_equal(y, 1.0) | keras.ops.equal(y, y * 2.0)",
        "less",
        "greater_equal",
        "equal",
    ),
    C(
        "compare2",
        "return keras.ops.not_equal(y, 0.0) & tf.less_equal(y, 0.5) & keras.ops.greater(y, -0.5)",
        "not_equal",
        "less_equal",
        "greater",
    ),
    C(
        "logical",
        "both = keras.ops.logical_and(y > 0, y < 1)\n"
        "return keras.ops.logical_xor(both, keras.ops.logical_or(y > 1.5, True))",
        "logical_and",
        "logical_or",
        "logical_xor",
    ),
    C("floor_divide", "return keras.ops.floor_divide(y, 0.3)", "floor_divide"),
    C(
        "mod_sign_of_divisor",
        "return keras.ops.mod(y, 0.7) + tf.math.floormod(y, -0.4)",
        "mod",
        naive=("torch.remainder(y, 0.7)", "torch.fmod(y, 0.7)"),
    ),
    C("where", "return keras.ops.where(y > 0, y, 0.1 * y) + tf.where(y > 0.5, 1.0, 0.0)", "where"),
    C(
        "clip",
        "return keras.ops.clip(y, -0.5, 0.5) + tf.clip_by_value(y, clip_value_min=-0.2, clip_value_max=0.3)",
        "clip",
        "clip_by_value",
    ),
    # ------------------------------------------------------------------ reductions
    C(
        "std_biased",
        "return keras.ops.std(y, axis=-1)",
        "std",
        naive=("torch.std(y, dim=1, correction=0)", "torch.std(y, dim=1)"),
    ),
    C("tf_reduce_std_keepdims", "return tf.math.reduce_std(y, axis=(1, 2), keepdims=True)", "std"),
    C("std_all", "return keras.ops.std(y)", "std"),
    C(
        "var_biased",
        "return keras.ops.var(y, axis=[1, 2])",
        "var",
        naive=("torch.var(y, dim=(2, 3), correction=0)", "torch.var(y, dim=(2, 3))"),
    ),
    C("tf_reduce_variance", "return tf.math.reduce_variance(y, axis=-2)", "var"),
    C(
        "min",
        "return keras.ops.min(y, axis=-2) + keras.ops.mean(tf.reduce_min(y, axis=1, keepdims=True))",
        "min",
    ),
    C("prod", "return keras.ops.prod(y * 0.2 + 1.0, axis=(1, 2))", "prod"),
    C("prod_all_keepdims", "return keras.ops.prod(y * 0.1 + 1.0, keepdims=True)", "prod"),
    C("prod_keepdims", "return tf.reduce_prod(y * 0.2 + 1.0, axis=[-1, 1], keepdims=True)", "prod"),
    C("any_all", "return keras.ops.any(y > 1.0, axis=-1) | tf.reduce_all(y > -1.5, axis=[3])", "any", "all"),
    C("logsumexp", "return keras.ops.logsumexp(y, axis=-1)", "logsumexp"),
    C(
        "logsumexp_all",
        "return keras.ops.logsumexp(y) + tf.reduce_logsumexp(y, axis=[1, 2])[0, 0]",
        "logsumexp",
    ),
    C("argmax_axis", "return keras.ops.argmax(y, axis=-1)", "argmax"),
    C(
        "argmax_flat",
        "return keras.ops.argmax(y)",
        "argmax",
        naive=("torch.argmax(y.permute(0, 2, 3, 1))", "torch.argmax(y)"),
    ),
    C("argmin", "return keras.ops.argmin(y, axis=1, keepdims=True)", "argmin"),
    C("tf_argmax_default_axis0", "return tf.argmax(y)", "tf_argmax"),
    C("tf_argmin", "return tf.math.argmin(y, axis=2)", "tf_argmin"),
    C("count_nonzero", "return keras.ops.count_nonzero(y > 0, axis=(1, 2))", "count_nonzero"),
    C(
        "norm",
        "return keras.ops.norm(y, axis=-1)[:, 0, :] + keras.ops.norm(y, ord=1, axis=1)[:, :, 0]",
        "norm",
    ),
    C("norm_2d_frobenius", "return keras.ops.norm(keras.ops.mean(y, axis=(1, 2)))", "norm"),
    C("tf_norm_frobenius", "return tf.norm(y, axis=[1, 2], keepdims=True)", "tf_norm"),
    C("normalize", "return keras.ops.normalize(y) + keras.ops.normalize(y, axis=1)", "normalize"),
    C("l2_normalize", "return tf.math.l2_normalize(y, axis=-1)", "l2_normalize"),
    C(
        "l2_normalize_tiny",
        "return tf.math.l2_normalize(y * 1e-9, axis=-1)",
        "l2_normalize",
        naive=("eps=1e-06", "eps=1e-12"),
    ),
    # ------------------------------------------------------------------ axis ops
    C(
        "cumsum_axis",
        "return keras.ops.cumsum(y, axis=-1) + tf.math.cumsum(y, axis=2)",
        "cumsum",
        "tf_cumsum",
    ),
    C(
        "cumsum_flat",
        "return keras.ops.cumsum(y)",
        "cumsum",
        naive=("torch.flatten(y.permute(0, 2, 3, 1))", "torch.flatten(y)"),
    ),
    C(
        "cumprod",
        "return keras.ops.cumprod(y * 0.1 + 1.0, axis=1) + tf.math.cumprod(y * 0.1 + 1.0, axis=-1)",
        "cumprod",
        "tf_cumprod",
    ),
    C("tf_cumsum_default_axis0", "return tf.math.cumsum(y)", "tf_cumsum"),
    C("flip", "return keras.ops.flip(y, axis=-1) + tf.reverse(y, axis=[1, 2]) + keras.ops.flip(y)", "flip"),
    C("roll", "return keras.ops.roll(y, 2, axis=-1) + tf.roll(y, shift=[1, -2], axis=[3, 1])", "roll"),
    C("roll_flat", "return keras.ops.roll(y, 3)", "roll"),
    C("sort", 'return keras.ops.sort(y) + tf.sort(y, axis=1, direction="DESCENDING")', "sort", "tf_sort"),
    C("argsort", "return keras.ops.argsort(y, axis=-1)", "argsort"),
    C("tf_argsort_descending", 'return tf.argsort(y, axis=2, direction="DESCENDING")', "argsort"),
    C("top_k_values", "values, indices = keras.ops.top_k(y, 3)\nreturn values", "top_k"),
    C("top_k_indices", "return tf.math.top_k(y, k=2)[1]", "top_k"),
    # ------------------------------------------------------------------ shape ops
    C(
        "squeeze_axis",
        "return keras.ops.squeeze(y, axis=-1)",
        "squeeze",
        base="conv1",
        naive=("torch.squeeze(y, dim=1)", "torch.squeeze(y, dim=-1)"),
    ),
    C("squeeze_all", "return keras.ops.squeeze(y)", "squeeze", base="conv1"),
    C(
        "tf_squeeze",
        "return tf.squeeze(keras.ops.mean(y, axis=(1, 2), keepdims=True), axis=[1, 2])",
        "squeeze",
    ),
    C("expand_dims", "return keras.ops.expand_dims(y, 1) + keras.ops.expand_dims(y, 1)", "expand_dims"),
    C("expand_dims_last", "return tf.expand_dims(y, -1)", "expand_dims"),
    C(
        "expand_dims_then_axis",
        "z = keras.ops.expand_dims(y, 2)\nreturn keras.ops.sum(z, axis=-1)",
        "expand_dims",
    ),
    C("split_count", "a, b = keras.ops.split(y, 2, axis=-1)\nreturn a * b", "split"),
    C("split_indices", "parts = keras.ops.split(y, [3, 5], axis=1)\nreturn parts[1] + 1.0", "split"),
    C(
        "tf_split_count",
        "parts = tf.split(y, 3, axis=-1)\nreturn parts[0]",
        "tf_split",
        naive=("torch.chunk(y, 3, dim=1)", "torch.split(y, 3, dim=1)"),
    ),
    C("tf_split_sizes", "a, b = tf.split(y, [2, 4], axis=-1)\nreturn b", "tf_split"),
    C(
        "tile",
        "return keras.ops.tile(y, (1, 2, 1, 3))",
        "tile",
        naive=("torch.tile(y, (1, 3, 2, 1))", "torch.tile(y, (1, 2, 1, 3))"),
    ),
    C(
        "tf_tile_not_repeat",
        "return tf.tile(y, [1, 1, 1, 2])",
        "tf_tile",
        naive=("torch.tile(y, (1, 2, 1, 1))", "torch.repeat_interleave(y, 2, dim=1)"),
    ),
    C(
        "repeat_not_tile",
        "return keras.ops.repeat(y, 2, axis=-1)",
        "repeat",
        naive=("torch.repeat_interleave(y, 2, dim=1)", "y.repeat(1, 2, 1, 1)"),
    ),
    C("tf_repeat_flat", "return tf.repeat(y, 3)", "repeat"),
    C(
        "pad",
        "return keras.ops.pad(y, [[0, 0], [1, 2], [3, 4], [0, 0]])",
        "pad",
        naive=("(3, 4, 1, 2)", "(0, 0, 1, 2, 3, 4, 0, 0)"),
    ),
    C(
        "pad_channels_value",
        "return keras.ops.pad(y, [[0, 0], [0, 0], [0, 0], [2, 1]], constant_values=1.0)",
        "pad",
    ),
    C("tf_pad", "return tf.pad(y, [[0, 0], [1, 1], [2, 0], [0, 0]])", "tf_pad"),
    C(
        "broadcast_to",
        "return keras.ops.broadcast_to(keras.ops.mean(y, axis=(1, 2), keepdims=True), (2, 7, 5, 6))",
        "broadcast_to",
    ),
    C("tril_triu", "return keras.ops.tril(y) + keras.ops.triu(y, k=1)", "tril", "triu"),
    C("tril_dense", "return keras.ops.tril(y, k=-1)", "tril", base="dense"),
    C("swapaxes", "return keras.ops.swapaxes(y, 1, 2)", "swapaxes", base="dense"),
    C("moveaxis", "return keras.ops.moveaxis(y, -1, 1)", "moveaxis"),
    C("einsum_pool", 'return tf.einsum("bhwc->bc", y)', "einsum"),
    C("einsum_attention", 'return keras.ops.einsum("btd,bsd->bts", y, y * 0.5)', "einsum", base="dense"),
    C(
        "transpose_all_axes",
        "return keras.ops.transpose(y)",
        naive=("torch.permute(y.permute(0, 2, 3, 1), (3, 2, 1, 0))", "torch.permute(y, (3, 2, 1, 0))"),
    ),
    C("stack", "return keras.ops.stack([y, y * 2.0], axis=1)"),
    # ------------------------------------------------------------------ indexing
    C(
        "gather_is_index_select",
        "idx = tf.constant([2, 0, 5])\nreturn tf.gather(y, idx, axis=-1)",
        "gather",
        "constant",
        naive=("torch.index_select(y, dim=1, index=idx)", "torch.gather(y, 1, idx.long())"),
    ),
    C("gather_default_axis0", "return tf.gather(y, tf.constant([1, 1, 0]))", "gather", "constant"),
    C("take", "return keras.ops.take(y, keras.ops.arange(3), axis=1)", "take", "arange"),
    C("take_flat", "return keras.ops.take(y, keras.ops.arange(5) * 7)", "take", "arange"),
    C(
        "take_along_axis",
        "return keras.ops.take_along_axis(y, keras.ops.argsort(y, axis=-1), axis=-1)",
        "take_along_axis",
        "argsort",
    ),
    C(
        "one_hot",
        "return keras.ops.one_hot(keras.ops.argmax(y, axis=-1), 4)",
        "one_hot",
        "argmax",
        base="plain",
    ),
    C("tf_one_hot", "return tf.one_hot(tf.argmax(y, axis=-1), 5)", "tf_one_hot", "tf_argmax", base="plain"),
    C(
        "cast",
        'return keras.ops.cast(y > 0, "float32") + tf.cast(tf.cast(y * 3.0, tf.int32), tf.float32)',
        "cast",
    ),
    C("cast_int", 'return keras.ops.cast(y * 4.0, "int32")', "cast", dtype=True),
    # ------------------------------------------------------------------ constructors
    C(
        "zeros_ones",
        "return y + keras.ops.zeros((2, 7, 5, 6)) + keras.ops.ones((1, 7, 5, 6)) * 2.0",
        "zeros",
        "ones",
    ),
    C("tf_ones_int", "return tf.ones([2, 3], dtype=tf.int32)", "ones", base="plain", dtype=True),
    C(
        "like",
        "return keras.ops.zeros_like(y) + keras.ops.full_like(y, 0.5) * y + tf.ones_like(y)",
        "zeros_like",
        "full_like",
        "ones_like",
    ),
    C("ones_like_int", 'return keras.ops.ones_like(y, dtype="int32")', "ones_like", dtype=True),
    C(
        "full_is_float32",
        "return keras.ops.full((2, 3), 2)",
        "full",
        base="plain",
        dtype=True,
        naive=("torch.full((2, 3), 2, dtype=torch.float32)", "torch.full((2, 3), 2)"),
    ),
    C("full_broadcast", "return y + keras.ops.full((1, 1, 1, 6), 2)", "full"),
    C("fill_int32", "return tf.fill([2, 3], 7)", "fill", base="plain", dtype=True),
    C(
        "arange_int32",
        "return keras.ops.arange(6)",
        "arange",
        base="plain",
        dtype=True,
        naive=("torch.arange(6, dtype=torch.int32)", "torch.arange(6)"),
    ),
    C("arange_float", "return keras.ops.arange(0.0, 1.0, 0.25)", "arange", base="plain", dtype=True),
    C("range", "return tf.range(2, 10, 3)", "range", base="plain", dtype=True),
    C("arange_broadcast", 'return y * keras.ops.cast(keras.ops.arange(6), "float32")', "arange", "cast"),
    C("eye", "return keras.ops.matmul(y, keras.ops.eye(6)) + tf.eye(6)[0]", "eye", "tf_eye", base="dense"),
    C("constant", "return y * tf.constant([0.5, 2.0, 1.0, -1.0])", "constant", base="plain"),
    C(
        "convert_to_tensor",
        "return y + keras.ops.convert_to_tensor([1.0, 2.0, 3.0, 4.0])",
        "convert_to_tensor",
        base="plain",
    ),
    # ------------------------------------------------------------------ functional builders (traced)
    C("fn_reshape_after_conv", "out = keras.ops.reshape(y, (-1, 7 * 5 * 6))", functional=True),
    C("fn_std", "out = keras.ops.std(y, axis=-1)", "std", functional=True),
    C("fn_split", "a, b, c = keras.ops.split(y, 3, axis=-1)\nout = a * b + c", "split", functional=True),
    C(
        "fn_compare",
        "out = keras.ops.where(y > 0.5, y, keras.ops.zeros_like(y))",
        "where",
        "zeros_like",
        functional=True,
    ),
    C("fn_flat", "out = keras.ops.cumsum(y)", "cumsum", functional=True),
    C(
        "fn_broadcast_vector",
        'out = y * keras.ops.cast(keras.ops.arange(6), "float32")',
        "arange",
        "cast",
        functional=True,
    ),
]


# ---------------------------------------------------------------------- running the two sides


def _load(code: str, tmp_path: Path, stem: str) -> Any:
    name = f"_ops_tf2torch_{stem}_{next(_COUNTER)}"
    path = tmp_path / f"{name}.py"
    path.write_text(code, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


def _input(case: Case, rng: np.random.Generator) -> Any:
    shape = (2, *BASES[case.base][2])
    if case.data == "halves":  # k + 0.5 (and some plain values): round half to even shows
        x = rng.integers(-4, 5, size=shape).astype(np.float32) + 0.5
        x.flat[::3] = rng.standard_normal(x.size)[::3] * 3.0
        return x
    return rng.standard_normal(shape).astype(np.float32)


def _keras_layout(y: Any, perm: tuple[int, ...] | None) -> Any:
    """A torch output held as ``perm`` (torch axis i is Keras axis perm[i]) in Keras's order."""
    out = y.detach().numpy() if hasattr(y, "detach") else np.asarray(y)
    if perm is None or tuple(perm) == tuple(range(out.ndim)) or len(perm) != out.ndim:
        return out
    return np.transpose(out, np.argsort(perm))


@dataclass
class Run:
    result: MigrationResult
    keras_out: Any
    torch_model: Any
    torch_in: Any
    out_perm: tuple[int, ...] | None
    tmp: Path


def _run(case: Case, tmp_path: Path) -> Run:
    import keras
    import torch

    from migrator.verify.tf2torch_transfer import pair_layers, transfer

    source = case.source()
    result = migrate_source(source, Direction.TF2TORCH, RULES, "model.py")
    bad = [f"{f.line}: {f.api}: {f.message}" for f in result.findings if f.severity is Severity.UNSUPPORTED]
    assert not bad, f"unsupported:\n{result.code}\n" + "\n".join(bad)
    fired = {f.rule_id for f in result.findings if f.severity is Severity.MIGRATED}
    missing = [r for r in case.rules if f"tf2torch.ops.{r}" not in fired]
    assert not missing, f"rules {missing} did not migrate anything in:\n{result.code}"
    kmod = _load(source, tmp_path, case.name + "_keras")
    tmod = _load(result.code, tmp_path, case.name + "_torch")
    if case.functional:  # Keras names the layers (conv2d, conv2d_1, ...) as in a fresh process
        keras.backend.clear_session()
    kmodel, tmodel = kmod.build_model(), tmod.build_model()
    tmodel.eval()
    record = result.record.to_json()
    owner = type(kmodel).__name__ if type(kmodel).__name__ in record["classes"] else type(tmodel).__name__
    cls = record["classes"][owner]
    x = _input(case, np.random.default_rng(7))
    in_perm = cls["inputs"][0]["perm"] if cls["inputs"] and cls["inputs"][0]["perm"] else range(x.ndim)
    xt = torch.from_numpy(np.ascontiguousarray(np.transpose(x, tuple(in_perm))))
    kmodel(x)
    with torch.no_grad():
        tmodel(xt)
    transfer(pair_layers(kmodel, tmodel, record, owner), kmodel, tmodel)
    keras_out = np.asarray(kmodel(x))
    assert cls["outputs"], f"the record has no output layout for {owner}:\n{result.code}"
    out_perm = cls["outputs"][0]["perm"]
    return Run(result, keras_out, tmodel, xt, tuple(out_perm) if out_perm is not None else None, tmp_path)


def _torch_out(run: Run, model: Any) -> Any:
    import torch

    with torch.no_grad():
        return _keras_layout(model(run.torch_in), run.out_perm)


def _mismatch(want: Any, got: Any, check_dtype: bool = False) -> str | None:
    """Why ``got`` (torch, in Keras's layout) is not ``want`` (Keras), or None. The float tolerance
    is SEMANTICS.md §9's pass bound: 1e-5 of the output's scale plus 1e-6."""
    got = np.asarray(got)
    if want.shape != got.shape:
        return f"shape {got.shape} instead of {want.shape}"
    if check_dtype and np.dtype(want.dtype) != np.dtype(got.dtype):
        return f"dtype {got.dtype} instead of {want.dtype}"
    if want.dtype.kind in "biu" and got.dtype.kind in "biu":
        wrong = int(np.sum(want.astype(np.int64) != got.astype(np.int64)))
        return f"{wrong} values differ" if wrong else None
    w, g = want.astype(np.float64), got.astype(np.float64)
    same_nan = np.isnan(w) == np.isnan(g)
    if not same_nan.all():
        return "NaNs in other places"
    finite = ~np.isnan(w)
    scale = float(np.max(np.abs(w[finite]), initial=0.0))
    err = float(np.max(np.abs(w[finite] - g[finite]), initial=0.0))
    bound = 1e-5 * scale + 1e-6
    return f"max abs difference {err:.3g} > {bound:.3g}" if err > bound else None


@pytest.mark.parametrize("case", CASES)
def test_op_matches_keras(case: Case, tmp_path: Path) -> None:
    run = _run(case, tmp_path)
    got = _torch_out(run, run.torch_model)
    why = _mismatch(run.keras_out, got, case.dtype)
    assert why is None, f"{case.name}: {why}\n{run.result.code}"
    if case.naive is None:
        return
    old, new = case.naive
    assert old in run.result.code, f"the naive rewrite expects {old!r} in:\n{run.result.code}"
    naive = _load(run.result.code.replace(old, new), run.tmp, case.name + "_naive").build_model()
    naive.load_state_dict(run.torch_model.state_dict())
    naive.eval()
    try:
        naive_out: Any = _torch_out(run, naive)
    except (RuntimeError, ValueError, IndexError) as exc:  # the naive mapping does not even run
        naive_out = exc
    if not isinstance(naive_out, Exception):
        assert _mismatch(run.keras_out, naive_out, case.dtype) is not None, (
            f"{case.name}: the naive mapping {new!r} gives the same result, so the case shows no trap"
        )


def test_every_new_rule_has_a_numerical_case() -> None:
    """Every rule of rules/tf2torch/ops_*.toml is exercised by a case above."""
    ids = {r.id for r in RULES.rules if r.source.name.startswith("ops_")}
    covered = {f"tf2torch.ops.{r}" for p in CASES for r in p.values[0].rules}
    assert len(ids) >= 60
    assert ids <= covered, f"rules without a numerical case: {sorted(ids - covered)}"


def test_tf_squeeze_of_a_wider_axis_raises_where_torch_does_not() -> None:
    """The other half of the squeeze trap: tf.squeeze on an axis whose size is not 1 raises, while
    torch.squeeze leaves the tensor alone; the migration maps the axis, so this never arises."""
    import tensorflow as tf
    import torch

    x = np.zeros((2, 3, 1), np.float32)
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.squeeze(x, axis=1)
    assert tuple(torch.squeeze(torch.from_numpy(x), dim=1).shape) == (2, 3, 1)


def test_keras_std_is_biased_and_torch_default_is_not() -> None:
    """The std/var trap measured directly, independent of any migration."""
    import keras
    import torch

    x = np.random.default_rng(3).standard_normal((4, 10)).astype(np.float32)
    want = np.asarray(keras.ops.std(x, axis=-1))
    assert np.allclose(torch.std(torch.from_numpy(x), dim=-1, correction=0).numpy(), want, atol=1e-6)
    assert not np.allclose(torch.std(torch.from_numpy(x), dim=-1).numpy(), want, atol=1e-3)
