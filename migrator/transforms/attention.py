"""torch2tf hooks for attention: ``nn.MultiheadAttention``, ``nn.TransformerEncoderLayer``,
``nn.TransformerEncoder`` and ``F.scaled_dot_product_attention`` (SEMANTICS.md §1.5).

Constructors are rule hooks. Where a module is *called* the arguments change too (Keras's
``(query, value, key=...)`` order, inverted boolean masks, ``return_attention_scores``), so the
constructors leave a ``"call"`` entry in their :class:`ModuleInfo` and the engine hands each call of
such a module to :data:`MODULE_CALLS`. Time-major tensors (``batch_first=False``, torch's default)
are held batch-major, as for recurrent layers: the layout tracking transposes where needed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import libcst as cst

from migrator.engine.emitter import code_of, int_node, kwarg
from migrator.engine.layout import Layout, identity
from migrator.engine.site import CallSite, HookResult, ModuleInfo, Note, Tools
from migrator.rules.schema import Contract
from migrator.transforms.common import literal
from migrator.types import Severity

SUPPORT = "migrator.runtime.keras_support"
TIME_MAJOR = Layout((1, 0, 2))  # torch (L, N, E) held as Keras (N, L, E)


@dataclass(frozen=True)
class ModuleCall:
    """A call of a module whose constructor asked for call-site rewriting (``extra["call"]``)."""

    info: ModuleInfo
    call: cst.Call  # the call, its arguments already migrated
    path: str  # ``self.<path>`` or the local name the module is called through
    use: str  # how the result is used: "first" (``[0]``), "pair_discarded" (``out, _ = ...``) or ""


@dataclass(frozen=True)
class CallResult:
    expr: cst.BaseExpression
    layout: Layout | None = None  # a tensor result
    parts: tuple[Layout | None, ...] | None = None  # a tuple result: the layout of each element
    notes: tuple[Note, ...] = ()


ModuleCallHook = Callable[[ModuleCall, Tools], "CallResult | str"]


def _given(bound: Mapping[str, cst.BaseExpression], name: str) -> cst.BaseExpression | None:
    """The bound argument, None when absent or a literal None."""
    node = bound.get(name)
    if node is None or (isinstance(node, cst.Name) and node.value == "None"):
        return None
    return node


def _flag(bound: Mapping[str, cst.BaseExpression], name: str, default: bool) -> bool | None:
    """A literal True/False argument (the default when absent); None when not a literal bool."""
    node = bound.get(name)
    if node is None:
        return default
    value = literal(node)
    return value if isinstance(value, bool) else None


def _sequence_info(
    site: CallSite, transform: str, time_major: bool, call: str, **extra: object
) -> ModuleInfo:
    return ModuleInfo(
        Contract.SEQUENCE,
        rank=3,
        rule_id=site.rule.id,
        transform=transform,
        line=site.line,
        extra={"time_major": time_major, "call": call, **extra},
    )


def _floor_div(a: cst.BaseExpression, b: cst.BaseExpression) -> cst.BaseExpression:
    x, y = literal(a), literal(b)
    if isinstance(x, int) and isinstance(y, int) and not isinstance(x, bool) and y:
        return int_node(x // y)
    return cst.parse_expression(f"{_operand(a)} // {_operand(b)}")


def _operand(node: cst.BaseExpression) -> str:
    text = code_of(node)
    return text if isinstance(node, cst.Name | cst.Attribute | cst.Integer | cst.Call) else f"({text})"


# ------------------------------------------------------------------------------ constructors


def multihead_attention(site: CallSite, tools: Tools) -> HookResult | str:
    """nn.MultiheadAttention(E, h) -> layers.MultiHeadAttention(num_heads=h, key_dim=E // h):
    Keras's key_dim is per head. kdim/vdim are dropped (Keras reads the key and value sizes off
    its inputs); the packed projections are split by the ``multihead_attention`` transform."""
    b = site.bound
    batch_first = _flag(b, "batch_first", False)
    if batch_first is None:
        return "batch_first must be a literal True/False"
    for name, why in (
        ("add_bias_kv", "add_bias_kv=True appends learned bias_k/bias_v to the keys and values"),
        ("add_zero_attn", "add_zero_attn=True appends a zero key and value"),
    ):
        value = _flag(b, name, False)
        if value is None:
            return f"{name} must be a literal True/False"
        if value:
            return f"{why}: Keras's MultiHeadAttention has no such option"
    if "embed_dim" not in b or "num_heads" not in b:
        return "embed_dim and num_heads are required"
    mapped = tools.map_args(site, skip=("embed_dim", "batch_first", "add_bias_kv", "add_zero_attn"))
    if mapped.unsupported is not None:
        return mapped.unsupported
    args = list(mapped.args)
    key_dim = kwarg("key_dim", _floor_div(b["embed_dim"], b["num_heads"]))
    at = next(
        (i + 1 for i, a in enumerate(args) if a.keyword is not None and a.keyword.value == "num_heads"), 0
    )
    args.insert(at, key_dim)
    heads = literal(b["num_heads"])
    extra = {"num_heads": heads} if isinstance(heads, int) and not isinstance(heads, bool) else {}
    info = _sequence_info(site, "multihead_attention", not batch_first, "multihead_attention", **extra)
    return HookResult(tools.call("keras.layers.MultiHeadAttention", args), module=info, notes=mapped.notes)


_ACTIVATIONS = ("relu", "gelu")


def transformer_encoder_layer(site: CallSite, tools: Tools) -> HookResult | str:
    """nn.TransformerEncoderLayer -> keras_support.TransformerEncoderLayer (Keras has no such
    layer): the same arguments, torch's post-/pre-norm order, masks in torch's convention."""
    b = site.bound
    batch_first = _flag(b, "batch_first", False)
    if batch_first is None:
        return "batch_first must be a literal True/False"
    for name in ("norm_first", "bias"):
        if _flag(b, name, name == "bias") is None:
            return f"{name} must be a literal True/False"
    act = b.get("activation")
    if act is not None and literal(act) not in _ACTIVATIONS:
        return (
            f"activation={code_of(act)}: only 'relu' and 'gelu' (as strings) are migrated; "
            "a callable activation is not read statically"
        )
    if "d_model" not in b or "nhead" not in b:
        return "d_model and nhead are required"
    mapped = tools.map_args(site)
    if mapped.unsupported is not None:
        return mapped.unsupported
    info = _sequence_info(site, "transformer_encoder_layer", not batch_first, "transformer")
    layer = tools.call(f"{SUPPORT}.TransformerEncoderLayer", mapped.args)
    note = Note(Severity.MIGRATED, "runtime helper: Keras has no TransformerEncoderLayer")
    return HookResult(layer, module=info, notes=(*mapped.notes, note))


def transformer_encoder(site: CallSite, tools: Tools) -> HookResult | str:
    """nn.TransformerEncoder(layer, n) -> keras_support.TransformerEncoder(layer, n): the layer must
    be a migrated nn.TransformerEncoderLayer (built in the call or assigned to a name before)."""
    b = site.bound
    layer = b.get("encoder_layer")
    inner = tools.module_of(layer) if layer is not None else None
    if inner is None or inner.transform != "transformer_encoder_layer":
        return "encoder_layer must be an nn.TransformerEncoderLayer built in this file"
    for name, default in (("enable_nested_tensor", True), ("mask_check", True)):
        if _flag(b, name, default) is None:
            return f"{name} must be a literal True/False"
    norm = _given(b, "norm")
    if norm is not None:
        got = tools.module_of(norm)
        if got is None or got.transform != "layernorm":
            return "norm must be an nn.LayerNorm (or None)"
    mapped = tools.map_args(site)
    if mapped.unsupported is not None:
        return mapped.unsupported
    time_major = bool(inner.extra.get("time_major", True))
    info = _sequence_info(site, "transformer_encoder", time_major, "transformer")
    encoder = tools.call(f"{SUPPORT}.TransformerEncoder", mapped.args)
    notes = [Note(Severity.MIGRATED, "runtime helper: Keras has no TransformerEncoder")]
    nested = _flag(b, "enable_nested_tensor", True)
    if nested and not time_major:
        notes.append(
            Note(
                Severity.REVIEW,
                "with a src_key_padding_mask, torch's inference path (eval mode without gradients) "
                "outputs zeros at padded positions; the helper does so whenever training is off, "
                "torch keeps their values when gradients are enabled",
            )
        )
    return HookResult(encoder, module=info, notes=(*mapped.notes, *notes))


# ------------------------------------------------------------------------------ functional


def scaled_dot_product_attention(site: CallSite, tools: Tools) -> HookResult | str:
    """F.scaled_dot_product_attention(q, k, v) on (N, H, L, D) -> ops.dot_product_attention on
    (N, L, H, D): the operands are brought to that layout (nothing is emitted when the code already
    holds them so, after ``.transpose(1, 2)`` of a (N, L, H, D) view) and the result is held in it.
    A boolean mask means *attend* in both (unlike nn.MultiheadAttention's); a float mask is added to
    the scores, Keras's ``bias``."""
    b = site.bound
    want = Layout((0, 2, 1, 3))
    args: list[cst.Arg] = []
    for name in ("query", "key", "value"):
        node = b.get(name)
        if node is None:
            return f"{name} is required"
        lay = tools.layout_of(node)
        if lay is None:
            lay = identity(4)  # untracked: the source's own (N, H, L, D) order
        if lay.rank != 4:
            return f"{name} has rank {lay.rank}: keras.ops.dot_product_attention takes (N, L, H, D) only"
        args.append(cst.Arg(tools.convert(node, lay, want)))
    notes: list[Note] = []
    dropout = b.get("dropout_p")
    if dropout is not None and literal(dropout) not in (0, 0.0):
        if _training_conditional(dropout):
            notes.append(
                Note(
                    Severity.REVIEW,
                    f"dropout_p={code_of(dropout)}: keras.ops.dot_product_attention has no dropout; "
                    "dropped (no effect in inference)",
                )
            )
        else:
            return f"dropout_p={code_of(dropout)}: keras.ops.dot_product_attention has no dropout"
    gqa = _flag(b, "enable_gqa", False)
    if gqa is not False:
        return "enable_gqa: grouped-query attention is not migrated"
    mask = _given(b, "attn_mask")
    if mask is not None:
        kind = _mask_kind(mask, tools)
        if kind == "float":
            args.append(kwarg("bias", mask))
        else:
            args.append(kwarg("mask", mask))
            if kind is None:
                notes.append(
                    Note(
                        Severity.REVIEW,
                        f"attn_mask={code_of(mask)} is taken as boolean (True: attend); a float mask "
                        "is added to the scores in torch: pass it as bias= instead",
                    )
                )
    scale = _given(b, "scale")
    if scale is not None:
        args.append(kwarg("scale", scale))
    causal = _flag(b, "is_causal", False)
    if causal is None:
        return "is_causal must be a literal True/False"
    if causal:
        args.append(kwarg("is_causal", cst.Name("True")))
    out = tools.call("keras.ops.dot_product_attention", args)
    return HookResult(out, layout=want, notes=tuple(notes))


def _training_conditional(node: cst.BaseExpression) -> bool:
    """``p if self.training else 0.0``: dropout only while training."""
    return (
        isinstance(node, cst.IfExp) and "training" in code_of(node.test) and literal(node.orelse) in (0, 0.0)
    )


def _mask_kind(node: cst.BaseExpression, tools: Tools) -> str | None:
    """ "bool" for an expression that is a boolean tensor by construction (a comparison, a logical
    op, ``.bool()``, ``dtype=torch.bool``), "float" for ``.float()``; None when unknown."""
    text = code_of(node)
    if isinstance(node, cst.Comparison) or (
        isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.BitInvert)
    ):
        return "bool"
    if any(s in text for s in ("logical_", ".bool()", "bool)", '"bool"', "'bool'", "torch.bool", "tf.bool")):
        return "bool"
    if text.endswith((".float()", "float32)")):
        return "float"
    return None


# ------------------------------------------------------------------------------ call sites

_MHA_CALL = (
    "query",
    "key",
    "value",
    "key_padding_mask",
    "need_weights",
    "attn_mask",
    "average_attn_weights",
    "is_causal",
)
_TRANSFORMER_CALL = {
    "transformer_encoder_layer": ("src", "src_mask", "src_key_padding_mask", "is_causal"),
    "transformer_encoder": ("src", "mask", "src_key_padding_mask", "is_causal"),
}


def _bind(call: cst.Call, params: Sequence[str]) -> dict[str, cst.BaseExpression] | str:
    bound: dict[str, cst.BaseExpression] = {}
    for i, arg in enumerate(call.args):
        if arg.star:
            return f"{arg.star}-arguments cannot be mapped statically"
        if arg.keyword is None:
            if i >= len(params):
                return "more positional arguments than the module takes"
            bound[params[i]] = arg.value
        elif arg.keyword.value in params:
            bound[arg.keyword.value] = arg.value
        else:
            return f"argument {arg.keyword.value!r} has no mapping"
    return bound


def _to_layout(tools: Tools, node: cst.BaseExpression, want: Layout) -> cst.BaseExpression:
    lay = tools.layout_of(node)
    if lay is None or lay.rank != want.rank:
        return node
    return tools.convert(node, lay, want)


def _not(tools: Tools, node: cst.BaseExpression) -> cst.BaseExpression:
    return tools.call("keras.ops.logical_not", [cst.Arg(node)])


def _kpm_expanded(node: cst.BaseExpression) -> cst.BaseExpression:
    """``kpm[:, None, :]``: (N, S) -> (N, 1, S), broadcast over the queries."""
    full = cst.Slice(lower=None, upper=None)
    sep = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    return cst.Subscript(
        node,
        [
            cst.SubscriptElement(full, comma=sep),
            cst.SubscriptElement(cst.Index(cst.Name("None")), comma=sep),
            cst.SubscriptElement(full),
        ],
    )


def _attention_mask(
    tools: Tools, site: ModuleCall, bound: Mapping[str, cst.BaseExpression]
) -> tuple[cst.BaseExpression | None, list[str]]:
    """Keras's attention_mask (True = attend) for torch's masks (True / non-zero = masked out), and
    what was done, for the finding."""
    kpm, am = _given(bound, "key_padding_mask"), _given(bound, "attn_mask")
    if kpm is None and am is None:
        return None, []
    said = [n for n, v in (("key_padding_mask", kpm), ("attn_mask", am)) if v is not None]
    done = [f"{' and '.join(said)} inverted (torch masks where True, Keras attends where True)"]
    am_layout = tools.layout_of(am) if am is not None else None
    am_rank = am_layout.rank if am_layout is not None else None
    if am is not None and am_rank != 2:
        # (L, S) or (N * num_heads, L, S): the helper tells them apart when it runs
        args = [kwarg("attn_mask", am)]
        if kpm is not None:
            args.append(kwarg("key_padding_mask", kpm))
        args.append(kwarg("num_heads", _heads(site)))
        return tools.call(f"{SUPPORT}.attention_mask", args), done
    if am is None:
        assert kpm is not None
        return _kpm_expanded(_not(tools, kpm)), done
    if kpm is None:
        return _not(tools, am), done
    both = tools.call("keras.ops.logical_or", [cst.Arg(am), cst.Arg(_kpm_expanded(kpm))])
    return _not(tools, both), done


def _heads(site: ModuleCall) -> cst.BaseExpression:
    """num_heads: the constructor's literal, else read off the Keras layer."""
    heads = site.info.extra.get("num_heads")
    if isinstance(heads, int):
        return int_node(heads)
    return cst.Attribute(site.call.func, cst.Name("num_heads"))


def mha_call(site: ModuleCall, tools: Tools) -> CallResult | str:
    """``attn(q, k, v, key_padding_mask=m)`` -> ``attn(q, v, key=k, attention_mask=~m[:, None, :])``:
    Keras takes (query, value, key); masks are inverted and combined; torch returns
    (output, weights averaged over the heads) unless need_weights=False."""
    bound = _bind(site.call, _MHA_CALL)
    if isinstance(bound, str):
        return bound
    if any(n not in bound for n in ("query", "key", "value")):
        return "query, key and value are required"
    want = TIME_MAJOR if site.info.extra.get("time_major") else identity(3)
    q, k, v = (_to_layout(tools, bound[n], want) for n in ("query", "key", "value"))
    need = _flag(bound, "need_weights", True)
    average = _flag(bound, "average_attn_weights", True)
    causal = _flag(bound, "is_causal", False)
    for name, value in (("need_weights", need), ("average_attn_weights", average), ("is_causal", causal)):
        if value is None:
            return f"{name} must be a literal True/False"
    args = [cst.Arg(q), cst.Arg(v)]
    done: list[str] = ["Keras takes (query, value, key)"]
    if code_of(bound["key"]) != code_of(bound["value"]):
        args.append(kwarg("key", k))
    mask, said = _attention_mask(tools, site, bound)
    done += said
    if mask is not None:
        args.append(kwarg("attention_mask", mask))
    if causal:
        if _given(bound, "attn_mask") is None:
            return "is_causal=True without attn_mask (torch refuses it: is_causal is a hint about attn_mask)"
        args.append(kwarg("use_causal_mask", cst.Name("True")))
    func = site.call.func
    if not need or site.use == "first":
        call = cst.Call(func, args)
        pair = cst.Tuple([cst.Element(call), cst.Element(cst.Name("None"))])
        if need:
            done.append("the weights are not used: not computed")
        return CallResult(pair, parts=(want, None), notes=(_done(done),))
    args.append(kwarg("return_attention_scores", cst.Name("True")))
    call = cst.Call(func, args)
    if not average:
        return CallResult(call, parts=(want, identity(4)), notes=(_done(done),))
    if site.use == "pair_discarded":
        done.append("the weights are discarded (Keras's are per head)")
        return CallResult(call, parts=(want, identity(4)), notes=(_done(done),))
    averaged = tools.call(f"{SUPPORT}.mean_attention_weights", [cst.Arg(call)])
    done.append("the weights are averaged over the heads, as torch returns them")
    return CallResult(averaged, parts=(want, identity(3)), notes=(_done(done),))


def _done(parts: list[str]) -> Note:
    return Note(Severity.MIGRATED, "call: " + "; ".join(parts))


def transformer_call(site: ModuleCall, tools: Tools) -> CallResult | str:
    """``layer(src, src_mask, src_key_padding_mask)``: the helper takes torch's arguments and mask
    convention; only a time-major ``src`` is brought to the batch-major layout it is held in."""
    params = _TRANSFORMER_CALL.get(site.info.transform or "", _TRANSFORMER_CALL["transformer_encoder_layer"])
    bound = _bind(site.call, params)
    if isinstance(bound, str):
        return bound
    if "src" not in bound:
        return "src is required"
    want = TIME_MAJOR if site.info.extra.get("time_major") else identity(3)
    first = site.call.args[0]
    new = first.with_changes(value=_to_layout(tools, first.value, want))
    call = site.call.with_changes(args=[new, *site.call.args[1:]])
    return CallResult(call, layout=want)


__all__ = [
    "CallResult",
    "ModuleCall",
    "multihead_attention",
    "scaled_dot_product_attention",
    "transformer_encoder",
    "transformer_encoder_layer",
]
