"""Cases for the attention layer rules, both directions: heads and per-head sizes that differ from
each other, query and key lengths that differ (even and odd), batch >= 2, ``batch_first`` both ways,
with and without masks.

Masks are model inputs: a float input ``m`` of the key (or query x key) shape, compared in forward
with its first column, ``m > m[:, :1] + t``: random masks that never mask the first key, so no
query has all its keys masked, even with both masks (a query with every key masked gets NaN in
torch and a uniform average in Keras; the rules document that difference rather than hide it)."""

from __future__ import annotations

from hypothesis import strategies as st

from tests.props import Case

BATCH = st.integers(2, 3)
LENGTH = st.integers(1, 7)
THRESHOLD = st.sampled_from([0.2, 0.5, 1.0])


def _spec(*dims: int) -> str:
    return ",".join(str(d) for d in dims)


@st.composite
def _heads(draw: st.DrawFn) -> tuple[int, int]:
    """(heads, head size), different from each other so a heads/size swap shows."""
    heads = draw(st.integers(1, 3))
    size = draw(st.integers(1, 4).filter(lambda d: d != heads))
    return heads, size


def _torch_mask(name: str, t: float) -> str:
    """torch: True where masked (above the first key's value + t; never the first key)."""
    return f"{name} > {name}[:, :1] + {t}"


def _keras_keep(name: str, t: float) -> str:
    """Keras: True where attended (the complement of ``_torch_mask``)."""
    return f"ops.less_equal({name}, {name}[:, :1] + {t})"


# ------------------------------------------------------------------------------ torch2tf


@st.composite
def multihead_attention(draw: st.DrawFn) -> Case:
    heads, size = draw(_heads())
    embed = heads * size
    batch, q_len, k_len = draw(BATCH), draw(LENGTH), draw(LENGTH)
    batch_first = draw(st.booleans())
    cross = draw(st.booleans())
    kdim = draw(st.integers(1, 5)) if cross and draw(st.booleans()) else embed
    vdim = draw(st.integers(1, 5)) if cross and draw(st.booleans()) else embed
    bias = draw(st.booleans())
    mask = draw(st.sampled_from(["none", "padding", "attn", "both", "causal", "causal_padding"]))
    weights = draw(st.sampled_from(["output", "averaged", "per_head", "discarded"]))
    t = draw(THRESHOLD)
    extra = ""
    if kdim != embed or vdim != embed:
        extra = f", kdim={kdim}, vdim={vdim}"
    layer = f"nn.MultiheadAttention({embed}, {heads}, bias={bias}, batch_first={batch_first}{extra})"

    def seq(length: int, dim: int) -> str:
        return _spec(batch, length, dim) if batch_first else _spec(length, batch, dim)

    if cross:
        inputs = [seq(q_len, embed), seq(k_len, kdim), seq(k_len, vdim)]
        qkv = "x0, x1, x2"
    else:
        k_len = q_len
        inputs = [seq(q_len, embed)]
        qkv = "x0, x0, x0"
    lines: list[str] = []
    kwargs: list[str] = []
    if mask in ("padding", "both", "causal_padding"):
        name = f"x{len(inputs)}"
        inputs.append(_spec(batch, k_len))
        lines.append(f"pad = {_torch_mask(name, t)}")
        kwargs.append("key_padding_mask=pad")
    if mask in ("attn", "both"):
        name = f"x{len(inputs)}"
        inputs.append(_spec(q_len, k_len))
        lines.append(f"blocked = {_torch_mask(name, t)}")
        kwargs.append("attn_mask=blocked")
    if mask.startswith("causal"):  # made in forward: a (L, S) mask of known rank, inverted inline
        axis = 1 if batch_first else 0
        key = "x1" if cross else "x0"
        ones = f"torch.ones(x0.size({axis}), {key}.size({axis}), dtype=torch.bool)"
        lines.append(f"causal = torch.triu({ones}, diagonal=1)")
        kwargs.append("attn_mask=causal")
        if draw(st.booleans()):
            kwargs.append("is_causal=True")
    if weights == "per_head":
        kwargs.append("average_attn_weights=False")
    call = f"{{layer}}({', '.join([qkv, *kwargs])})"
    if weights == "output":
        lines.append(f"return {call}[0]")
    elif weights == "discarded":
        lines += [f"out, _ = {call}", "return out"]
    else:
        lines += [f"out, w = {call}", "return out, w"]
    return Case(layer, tuple(inputs), "\n".join(lines))


@st.composite
def transformer_encoder_layer(draw: st.DrawFn) -> Case:
    heads, size = draw(_heads())
    d_model = heads * size
    batch, length = draw(BATCH), draw(LENGTH)
    ff = draw(st.integers(1, 9))
    batch_first = draw(st.booleans())
    norm_first = draw(st.booleans())
    activation = draw(st.sampled_from(["relu", "gelu"]))
    eps = draw(st.sampled_from([1e-5, 1e-3]))
    bias = draw(st.booleans())
    layer = (
        f"nn.TransformerEncoderLayer({d_model}, {heads}, dim_feedforward={ff}, dropout=0.1, "
        f'activation="{activation}", layer_norm_eps={eps}, batch_first={batch_first}, '
        f"norm_first={norm_first}, bias={bias})"
    )
    x = _spec(batch, length, d_model) if batch_first else _spec(length, batch, d_model)
    mask = draw(st.sampled_from(["none", "padding", "attn"]))
    t = draw(THRESHOLD)
    if mask == "none":
        return Case(layer, (x,))
    if mask == "padding":
        body = f"pad = {_torch_mask('x1', t)}\nreturn {{layer}}(x0, src_key_padding_mask=pad)"
        return Case(layer, (x, _spec(batch, length)), body)
    body = f"blocked = {_torch_mask('x1', t)}\nreturn {{layer}}(x0, src_mask=blocked)"
    return Case(layer, (x, _spec(length, length)), body)


@st.composite
def transformer_encoder(draw: st.DrawFn) -> Case:
    """Without a padding mask: with one, torch's inference path runs the layers on nested tensors
    (tests/test_attention.py compares that path with the helper directly)."""
    heads, size = draw(_heads())
    d_model = heads * size
    batch, length = draw(BATCH), draw(LENGTH)
    batch_first = draw(st.booleans())
    layers = draw(st.integers(1, 3))
    norm = f"nn.LayerNorm({d_model})" if draw(st.booleans()) else "None"
    layer = (
        f"nn.TransformerEncoder(nn.TransformerEncoderLayer({d_model}, {heads}, dim_feedforward=6, "
        f"batch_first={batch_first}), {layers}, norm={norm}, enable_nested_tensor=False)"
    )
    x = _spec(batch, length, d_model) if batch_first else _spec(length, batch, d_model)
    return Case(layer, (x,))


@st.composite
def scaled_dot_product_attention(draw: st.DrawFn) -> Case:
    """F.scaled_dot_product_attention on (N, H, L, D) inputs; the function rule is exercised through
    a parameter-free module (the property harness builds one layer)."""
    heads, size = draw(_heads())
    batch, q_len, k_len = draw(BATCH), draw(LENGTH), draw(LENGTH)
    scale = draw(st.sampled_from(["", ", scale=0.3"]))
    mask = draw(st.sampled_from(["none", "bool", "causal"]))
    t = draw(THRESHOLD)
    q = _spec(batch, heads, q_len, size)
    kv = _spec(batch, heads, k_len, size)
    if mask == "bool":
        keep = f"x3 <= x3[:, :1] + {t}"  # a comparison: boolean by construction
        body = f"return F.scaled_dot_product_attention(x0, x1, x2, attn_mask={keep}{scale})"
        return Case("nn.Identity()", (q, kv, kv, _spec(q_len, k_len)), body)
    causal = ", is_causal=True" if mask == "causal" else ""
    body = f"return F.scaled_dot_product_attention(x0, x1, x2{causal}{scale})"
    return Case("nn.Identity()", (q, kv, kv), body)


# ------------------------------------------------------------------------------ tf2torch


@st.composite
def keras_multi_head_attention(draw: st.DrawFn) -> Case:
    """Stock sizes (num_heads * key_dim == the query size) become nn.MultiheadAttention, others
    (a free key_dim, value_dim, output_shape) torch_support.KerasMultiHeadAttention."""
    heads, size = draw(_heads())
    stock = draw(st.booleans())
    embed = heads * size if stock else draw(st.integers(1, 6))
    batch, q_len, k_len = draw(BATCH), draw(LENGTH), draw(LENGTH)
    cross = draw(st.booleans())
    vdim = draw(st.integers(1, 5)) if cross else embed
    extra = ""
    if not stock:
        if draw(st.booleans()):
            extra += f", value_dim={draw(st.integers(1, 4))}"
        if draw(st.booleans()):
            extra += f", output_shape={draw(st.integers(1, 5))}"
    bias = draw(st.booleans())
    layer = f"layers.MultiHeadAttention({heads}, {size}, use_bias={bias}{extra})"
    if not cross:
        k_len = q_len
    inputs = [_spec(batch, q_len, embed)] + ([_spec(batch, k_len, vdim)] if cross else [])
    value = "x1" if cross else "x0"
    kwargs: list[str] = []
    mask = draw(st.sampled_from(["none", "padding", "value_mask", "full", "causal"]))
    t = draw(THRESHOLD)
    name = f"x{len(inputs)}"
    if mask in ("padding", "value_mask"):
        inputs.append(_spec(batch, k_len))
        keep = _keras_keep(name, t)
        kwargs.append(
            f"attention_mask=ops.expand_dims({keep}, 1)" if mask == "padding" else f"value_mask={keep}"
        )
    elif mask == "full":
        inputs.append(_spec(batch, q_len, k_len))
        kwargs.append(f"attention_mask=ops.less_equal({name}, {name}[:, :, :1] + {t})")
    elif mask == "causal":
        kwargs.append("use_causal_mask=True")
    call = ", ".join(["x0", value, *kwargs])
    return Case(layer, tuple(inputs), f"{{layer}}({call})")


@st.composite
def keras_dot_product_attention(draw: st.DrawFn) -> Case:
    heads, size = draw(_heads())
    batch, q_len, k_len = draw(BATCH), draw(LENGTH), draw(LENGTH)
    q = _spec(batch, q_len, heads, size)
    kv = _spec(batch, k_len, heads, size)
    kind = draw(st.sampled_from(["none", "mask", "bias", "causal"]))
    scale = draw(st.sampled_from(["", ", scale=0.3"]))
    t = draw(THRESHOLD)
    extra = {
        "none": "",
        "mask": f", mask=ops.less_equal(x3, x3[:, :, :, :1] + {t})",
        "bias": ", bias=x3",
        "causal": ", is_causal=True",
    }[kind]
    inputs = (q, kv, kv) + ((_spec(batch, heads, q_len, k_len),) if kind in ("mask", "bias") else ())
    return Case("", inputs, f"ops.dot_product_attention(x0, x1, x2{extra}{scale})")


@st.composite
def keras_support_encoder_layer(draw: st.DrawFn) -> Case:
    """fwmigrate's Keras TransformerEncoderLayer (a torch2tf output), migrated back: torch's mask
    convention in its call (True: masked out)."""
    heads, size = draw(_heads())
    d_model = heads * size
    batch, length = draw(BATCH), draw(LENGTH)
    norm_first, activation = draw(st.booleans()), draw(st.sampled_from(["relu", "gelu"]))
    layer = (
        f"keras_support.TransformerEncoderLayer(d_model={d_model}, nhead={heads}, "
        f'dim_feedforward={draw(st.integers(1, 9))}, activation="{activation}", norm_first={norm_first}, '
        f"bias={draw(st.booleans())})"
    )
    x = _spec(batch, length, d_model)
    imports = "from migrator.runtime import keras_support\n"
    if draw(st.booleans()):
        t = draw(THRESHOLD)
        padding = f"ops.greater(x1, x1[:, :1] + {t})"
        return Case(
            layer,
            (x, _spec(batch, length)),
            f"{{layer}}(x0, src_key_padding_mask={padding})",
            imports=imports,
        )
    return Case(layer, (x,), imports=imports)


CASES = {
    "torch2tf.nn.MultiheadAttention": multihead_attention(),
    "torch2tf.nn.TransformerEncoderLayer": transformer_encoder_layer(),
    "torch2tf.nn.TransformerEncoder": transformer_encoder(),
    "torch2tf.F.scaled_dot_product_attention": scaled_dot_product_attention(),
    "tf2torch.layers.MultiHeadAttention": keras_multi_head_attention(),
    "tf2torch.ops.dot_product_attention": keras_dot_product_attention(),
    "tf2torch.keras_support.TransformerEncoderLayer": keras_support_encoder_layer(),
}
