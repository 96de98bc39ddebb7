"""Attention in both directions: what the rules refuse or flag (static), the runtime helpers
against the framework they imitate, the weight transforms against real layers, and mutations of
the attention fixtures that verify must catch (a mask left uninverted, keys and values swapped).

The property tests (tests/props/cases_attention.py) cover the random valid combinations."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from migrator.api import migrate_source
from migrator.rules.loader import load_rules
from migrator.types import Direction, Severity
from tests.conftest import PREAMBLE, body_after_imports, migrate_fixture

KERAS_PREAMBLE = "import keras\nfrom keras import layers, ops\n\n"
FIXTURES_TF2TORCH = Path(__file__).resolve().parent.parent / "fixtures" / "tf2torch"


def _migrate(direction: Direction, code: str) -> tuple[str, list[str]]:
    preamble = PREAMBLE if direction is Direction.TORCH2TF else KERAS_PREAMBLE
    result = migrate_source(preamble + code, direction, load_rules(direction), "m.py")
    found = [f"{f.severity.value}: {f.api}: {f.message}" for f in result.findings]
    return result.code, found


def _module(attn: str, call: str, args: str = "x") -> str:
    return f"""
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = {attn}

    def forward(self, {args}):
        {call}
"""


# ------------------------------------------------------------------------------ torch2tf, static

REFUSED_TORCH = [
    (
        "nn.MultiheadAttention(8, 2, add_zero_attn=True)",
        "return self.attn(x, x, x)[0]",
        "add_zero_attn=True appends a zero key and value",
    ),
    (
        "nn.MultiheadAttention(8, 2, batch_first=flag)",
        "return self.attn(x, x, x)[0]",
        "batch_first must be a literal",
    ),
    (
        "nn.MultiheadAttention(8, 2, batch_first=True)",
        "return self.attn(x, x, x, need_weights=flag)[0]",
        "need_weights must be a literal",
    ),
    (
        "nn.MultiheadAttention(8, 2, batch_first=True)",
        "return self.attn(x, x, x, is_causal=True)[0]",
        "is_causal=True without attn_mask",
    ),
    (
        "nn.TransformerEncoderLayer(8, 2, activation=act)",
        "return self.attn(x)",
        "only 'relu' and 'gelu' (as strings)",
    ),
    (
        "nn.TransformerEncoder(make_layer(), 2)",
        "return self.attn(x)",
        "encoder_layer must be an nn.TransformerEncoderLayer",
    ),
    (
        "nn.Identity()",
        "return F.scaled_dot_product_attention(x, x, x, dropout_p=0.1)",
        "keras.ops.dot_product_attention has no dropout",
    ),
    (
        "nn.Identity()",
        "return F.scaled_dot_product_attention(x, x, x, enable_gqa=True)",
        "grouped-query attention is not migrated",
    ),
]


@pytest.mark.parametrize(("attn", "call", "reason"), REFUSED_TORCH)
def test_torch_attention_refused_with_the_reason(attn: str, call: str, reason: str) -> None:
    code, found = _migrate(Direction.TORCH2TF, _module(attn, call))
    assert any(line.startswith("unsupported") and reason in line for line in found), found
    assert "# fwmigrate: unsupported:" in code


def test_sdpa_flags_a_mask_of_unknown_dtype_and_keeps_training_dropout_for_review() -> None:
    dropout = "self.p if self.training else 0.0"
    call = f"return F.scaled_dot_product_attention(x, x, x, attn_mask=m, dropout_p={dropout})"
    code, found = _migrate(Direction.TORCH2TF, _module("nn.Identity()", call, "x, m"))
    assert "mask=m" in code
    reviews = [f for f in found if f.startswith("review")]
    assert any("is taken as boolean" in f for f in reviews) and any("has no dropout" in f for f in reviews)


def test_time_major_cross_attention_converts_every_operand_and_simplifies_the_first_element() -> None:
    """batch_first=False: query, key and value are held batch-major (bound at the inputs), the
    weights are not computed when only [0] is used, and a float attn_mask of unknown rank goes
    through keras_support.attention_mask."""
    code, found = _migrate(
        Direction.TORCH2TF,
        _module(
            "nn.MultiheadAttention(8, 2, kdim=3, vdim=5)",
            "return self.attn(q, k, v, attn_mask=m)[0]",
            "q, k, v, m",
        ),
    )
    body = body_after_imports(code)
    assert (
        "self.attn(q, v, key=k, attention_mask=keras_support.attention_mask(attn_mask=m, num_heads=2))"
        in body
    )
    assert "return_attention_scores" not in body and "[0]" not in body
    assert not [f for f in found if not f.startswith("migrated")], found


def test_per_head_weights_stay_per_head_and_averaged_weights_are_averaged() -> None:
    per_head, _ = _migrate(
        Direction.TORCH2TF,
        _module(
            "nn.MultiheadAttention(8, 2, batch_first=True)",
            "return self.attn(x, x, x, average_attn_weights=False)",
        ),
    )
    assert "return self.attn(x, x, return_attention_scores=True)" in per_head
    averaged, _ = _migrate(
        Direction.TORCH2TF,
        _module("nn.MultiheadAttention(8, 2, batch_first=True)", "return self.attn(x, x, x)"),
    )
    assert "keras_support.mean_attention_weights(self.attn(x, x, return_attention_scores=True))" in averaged


# ------------------------------------------------------------------------------ tf2torch, static


def _keras_layer(attn: str, call: str, shape: str = "(None, 6, 8)", args: str = "x") -> str:
    return f"""
class Block(layers.Layer):
    def __init__(self):
        super().__init__()
        self.attn = {attn}

    def call(self, {args}):
        return {call}


def build_model():
    model = Block()
    model.build({shape})
    return model
"""


REFUSED_KERAS = [
    ("layers.MultiHeadAttention(2, 4, use_gate=True)", "self.attn(x, x)", "gated attention is not migrated"),
    (
        "layers.MultiHeadAttention(2, 4, attention_axes=(1, 2))",
        "self.attn(x, x)",
        "attention_axes other than the sequence axis",
    ),
    ("layers.MultiHeadAttention(2, 4)", "self.attn(x, x, return_attention_scores=flag)", "must be literal"),
    ("layers.MultiHeadAttention(2, 4)", "self.attn(x * 2.0, x, use_causal_mask=True)", "assign it first"),
    (
        "layers.Dense(8)",
        "ops.dot_product_attention(x, x, x, mask=x > 0, bias=x)",
        "both mask and bias",
    ),
    (
        "layers.Dense(8)",
        "ops.dot_product_attention(x, x, x, attn_logits_soft_cap=30.0)",
        "attn_logits_soft_cap",
    ),
]


@pytest.mark.parametrize(("attn", "call", "reason"), REFUSED_KERAS)
def test_keras_attention_refused_with_the_reason(attn: str, call: str, reason: str) -> None:
    shape = "(None, 6, 2, 4)" if "dot_product" in call else "(None, 6, 8)"
    code, found = _migrate(Direction.TF2TORCH, _keras_layer(attn, call, shape))
    assert any(line.startswith("unsupported") and reason in line for line in found), found
    assert "# fwmigrate: unsupported:" in code


def test_keras_query_mask_is_dropped_for_review_and_value_mask_is_a_key_padding_mask() -> None:
    code, found = _migrate(
        Direction.TF2TORCH,
        _keras_layer(
            "layers.MultiHeadAttention(2, 4)", "self.attn(x, x, query_mask=q, value_mask=v)", args="x, q, v"
        ),
    )
    assert "self.attn(x, x, x, key_padding_mask=torch.logical_not(v), need_weights=False)[0]" in code
    assert any(f.startswith("review") and "Keras ignores the argument too" in f for f in found)


def test_keras_sizes_torch_cannot_take_use_the_helper_with_keras_call() -> None:
    code, found = _migrate(
        Direction.TF2TORCH,
        _keras_layer(
            "layers.MultiHeadAttention(2, 3, value_dim=5, output_shape=7)",
            "self.attn(x, x, attention_mask=m)",
            args="x, m",
        ),
    )
    helper = "torch_support.KerasMultiHeadAttention(query_dim=8, num_heads=2, key_dim=3, value_dim=5"
    assert f"{helper}, output_shape=7)" in code
    assert "self.attn(x, x, attention_mask=m)" in code
    assert any("runtime helper" in f for f in found)


def test_keras_attention_in_a_builder_with_an_untraceable_operand_is_refused() -> None:
    _, found = _migrate(
        Direction.TF2TORCH,
        """
def build_model():
    x = keras.Input(shape=(5, 8))
    m = keras.Input(shape=(5,))
    y = layers.MultiHeadAttention(2, 4)(x, x, attention_mask=ops.greater(m, 0.0)[:, None, :])
    return keras.Model([x, m], y)
""",
    )
    assert any("could not be traced" in f for f in found), found


# ------------------------------------------------------------------------------ runtime helpers


def _close(a: Any, b: Any, tol: float = 1e-5) -> None:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape
    assert float(np.max(np.abs(a - b))) <= tol * max(1.0, float(np.max(np.abs(a)))), float(
        np.max(np.abs(a - b))
    )


def _torch_state(module: Any) -> dict[str, np.ndarray[Any, Any]]:
    return {k: v.detach().numpy() for k, v in module.state_dict().items()}


@pytest.mark.frameworks
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"norm_first": True, "activation": "gelu"}, {"bias": False, "layer_norm_eps": 1e-3}],
    ids=["post-norm", "pre-norm-gelu", "no-bias"],
)
def test_keras_transformer_encoder_layer_matches_torch(kwargs: dict[str, Any]) -> None:
    """Masks in torch's convention: a (N * heads, L, S) float src_mask and a key padding mask."""
    import torch

    from migrator.runtime import keras_support
    from migrator.weights import TransformContext, apply_transform

    torch.manual_seed(0)
    d, heads, n, length = 12, 3, 2, 7
    ref = torch.nn.TransformerEncoderLayer(d, heads, 20, batch_first=True, **kwargs).eval()
    with torch.no_grad():
        for p in ref.parameters():
            p.normal_(0.0, 0.3)
    layer = keras_support.TransformerEncoderLayer(d, heads, 20, batch_first=True, **kwargs)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, length, d)).astype(np.float32)
    layer(x)
    ctx = TransformContext(num_heads=heads, use_bias=kwargs.get("bias", True))
    layer.set_weights(apply_transform("transformer_encoder_layer", _torch_state(ref), ctx))
    blocked = rng.random((n * heads, length, length)) < 0.3
    blocked[..., 0] = False  # every query keeps a key
    float_mask = np.where(blocked, -np.inf, 0.0).astype(np.float32)
    pad = np.zeros((n, length), dtype=bool)
    pad[0, 5:] = True
    with torch.no_grad():
        want = ref(
            torch.from_numpy(x),
            src_mask=torch.from_numpy(float_mask),
            src_key_padding_mask=torch.from_numpy(pad),
        )
    got = layer(x, src_mask=float_mask, src_key_padding_mask=pad)
    _close(want.numpy(), got)


@pytest.mark.frameworks
def test_keras_transformer_encoder_zeroes_padding_as_torch_inference_does() -> None:
    import torch

    from migrator.runtime import keras_support
    from migrator.weights import TransformContext, apply_transform

    torch.manual_seed(1)
    d, heads = 8, 2
    ref = torch.nn.TransformerEncoder(
        torch.nn.TransformerEncoderLayer(d, heads, 16, batch_first=True), 2, norm=torch.nn.LayerNorm(d)
    ).eval()
    with torch.no_grad():
        for p in ref.parameters():
            p.normal_(0.0, 0.3)
    import keras

    layer = keras_support.TransformerEncoder(
        keras_support.TransformerEncoderLayer(d, heads, 16, batch_first=True),
        2,
        norm=keras.layers.LayerNormalization(epsilon=1e-5),
    )
    x = np.random.default_rng(1).standard_normal((3, 6, d)).astype(np.float32)
    layer(x)
    layer.set_weights(
        apply_transform("transformer_encoder", _torch_state(ref), TransformContext(num_heads=heads))
    )
    pad = np.zeros((3, 6), dtype=bool)
    pad[0, 4:] = True
    pad[1, 2:] = True
    shuffled = pad.copy()
    shuffled[2, 0] = True  # padding not at the end: torch keeps the padded positions' values
    for mask in (pad, shuffled, None):
        with torch.no_grad():
            want = ref(
                torch.from_numpy(x), src_key_padding_mask=None if mask is None else torch.from_numpy(mask)
            )
        _close(want.numpy(), layer(x, src_key_padding_mask=mask))
        if mask is pad:  # zeros, then the final norm: its bias at the padded positions
            _close(want[1, 3].numpy(), ref.norm.bias.detach().numpy())


@pytest.mark.frameworks
def test_torch_keras_multi_head_attention_matches_keras() -> None:
    """The helper keeps Keras's sizes (key_dim independent of the query, value_dim, output_shape),
    masks (attention_mask, value_mask, causal) and scores."""
    import keras
    import torch

    from migrator.runtime import torch_support
    from migrator.weights import apply_keras_transform

    rng = np.random.default_rng(2)
    q = rng.standard_normal((2, 5, 6)).astype(np.float32)
    v = rng.standard_normal((2, 7, 3)).astype(np.float32)
    k = rng.standard_normal((2, 7, 4)).astype(np.float32)
    ref = keras.layers.MultiHeadAttention(2, 9, value_dim=4, output_shape=5)
    keep = rng.random((2, 5, 7)) < 0.7
    keep[..., 0] = True
    value_mask = np.ones((2, 7), dtype=np.float32)
    value_mask[1, 4:] = 0.0
    want, scores = ref(
        q,
        v,
        key=k,
        attention_mask=keep,
        value_mask=value_mask,
        use_causal_mask=True,
        return_attention_scores=True,
    )
    mod = torch_support.KerasMultiHeadAttention(
        6, 2, 9, value_dim=4, output_shape=5, key_input_dim=4, value_input_dim=3
    )
    state = apply_keras_transform("keras_multi_head_attention", ref.get_weights())
    mod.load_state_dict({name: torch.from_numpy(a) for name, a in state.items()})
    got, got_scores = mod(
        *(torch.from_numpy(a) for a in (q, v, k)),
        attention_mask=torch.from_numpy(keep),
        value_mask=torch.from_numpy(value_mask),
        use_causal_mask=True,
        return_attention_scores=True,
    )
    _close(want, got.detach().numpy())
    _close(scores, got_scores.detach().numpy())


@pytest.mark.frameworks
@pytest.mark.parametrize("bias", [True, False])
def test_multihead_attention_weights_with_kdim_and_vdim_both_ways(bias: bool) -> None:
    """Separate q/k/v_proj_weight (kdim, vdim != E) torch -> Keras, then back."""
    import keras
    import torch

    from migrator.weights import TransformContext, apply_keras_transform, apply_transform

    torch.manual_seed(3)
    ref = torch.nn.MultiheadAttention(6, 3, bias=bias, kdim=4, vdim=5, batch_first=True).eval()
    if bias:
        with torch.no_grad():
            ref.in_proj_bias.normal_()
            ref.out_proj.bias.normal_()
    rng = np.random.default_rng(3)
    q, k, v = (rng.standard_normal(s).astype(np.float32) for s in ((2, 3, 6), (2, 4, 4), (2, 4, 5)))
    layer = keras.layers.MultiHeadAttention(3, 2, use_bias=bias)
    layer(q, v, key=k)
    ctx = TransformContext(num_heads=3, use_bias=bias)
    layer.set_weights(apply_transform("multihead_attention", _torch_state(ref), ctx))
    with torch.no_grad():
        want, weights = ref(*(torch.from_numpy(a) for a in (q, k, v)))
    got, scores = layer(q, v, key=k, return_attention_scores=True)
    _close(want.numpy(), got)
    _close(weights.numpy(), np.asarray(scores).mean(axis=1))
    back = apply_keras_transform("multihead_attention", layer.get_weights(), ctx)
    assert set(back) == set(ref.state_dict())
    for name, array in back.items():
        np.testing.assert_allclose(array, ref.state_dict()[name].numpy(), rtol=0, atol=0)


# ------------------------------------------------------------------------------ mutations


def _torch2tf_verify(tmp_path: Path, name: str, old: str, new: str) -> Any:
    from migrator.verify import worker
    from migrator.verify.result import Tolerance
    from tests.conftest import fixture_spec

    src, out = migrate_fixture(name, tmp_path)
    text = out.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in the migration"
    out.write_text(text.replace(old, new), encoding="utf-8")
    model, spec = fixture_spec(name)
    return worker.run(_request(src, out, model, spec, Tolerance))


def _request(src: Path, out: Path, model: str, spec: str, tolerance: Any) -> dict[str, Any]:
    return {
        "original": str(src),
        "migrated": str(out),
        "record": str(out.with_name(f"{out.stem}.migration.json")),
        "model": model,
        "inputs": [spec],
        "samples": 1,
        "seed": 0,
        "tolerance": asdict(tolerance()),
        "load_mode": "guarded",
        "warnings": [],
    }


MUTATIONS_TORCH2TF = [
    pytest.param(
        "masked_sequence",
        "attention_mask=ops.logical_not(pad)[:, None, :]",
        "attention_mask=pad[:, None, :]",
        id="key_padding_mask passed without inverting it",
    ),
    pytest.param(
        "masked_sequence",
        "layers.MultiHeadAttention(num_heads=heads, key_dim=dim // heads)",
        "layers.MultiHeadAttention(num_heads=heads, key_dim=dim)",
        id="key_dim = embed_dim instead of per head",
    ),
]


@pytest.mark.frameworks
@pytest.mark.parametrize(("name", "old", "new"), MUTATIONS_TORCH2TF)
def test_torch2tf_attention_mistakes_are_caught(name: str, old: str, new: str, tmp_path: Path) -> None:
    from migrator.verify.driver import UserCodeError
    from migrator.verify.result import Verdict

    try:
        result = _torch2tf_verify(tmp_path, name, old, new)
    except UserCodeError as exc:  # key_dim=E: the weights do not fit the layer (named, not silent)
        assert "attn" in str(exc) and "multihead_attention" in str(exc), exc
        return
    assert result.verdict is Verdict.NOT_EQUIVALENT
    assert result.first_divergent_layer is not None and result.first_divergent_layer.source == "attn"


@pytest.mark.frameworks
def test_tf2torch_attention_mistakes_are_caught(tmp_path: Path) -> None:
    """Masks passed to torch uninverted, and keys/values swapped in a cross call, are not equivalent."""
    from migrator.api import write_outputs
    from migrator.verify import worker
    from migrator.verify.result import Tolerance, Verdict

    src = tmp_path / "model.py"
    src.write_text(
        (FIXTURES_TF2TORCH / "masked_sequence" / "input.py").read_text(encoding="utf-8"), encoding="utf-8"
    )
    result = migrate_source(
        src.read_text(encoding="utf-8"), Direction.TF2TORCH, load_rules(Direction.TF2TORCH), "model.py"
    )
    assert result.complete and not [f for f in result.findings if f.severity is Severity.UNSUPPORTED]
    out = tmp_path / "model_torch.py"
    write_outputs(result, out, force=True)
    good = worker.run(_request(src, out, "build_model()", "3,10:int32:0:6", Tolerance))
    assert good.verdict is Verdict.EQUIVALENT
    text = out.read_text(encoding="utf-8")
    wrong = "key_padding_mask=torch.logical_not(real)"
    assert wrong in text
    out.write_text(text.replace(wrong, "key_padding_mask=real"), encoding="utf-8")
    bad = worker.run(_request(src, out, "build_model()", "3,10:int32:0:6", Tolerance))
    assert bad.verdict is Verdict.NOT_EQUIVALENT
    assert bad.first_divergent_layer is not None and bad.first_divergent_layer.source == "attn"
