"""tf2torch hooks for attention: ``keras.layers.MultiHeadAttention`` and
``keras.ops.dot_product_attention`` (SEMANTICS.md §1.5).

``MultiHeadAttention(num_heads, key_dim)`` becomes ``nn.MultiheadAttention(E, num_heads,
batch_first=True)`` when its sizes fit torch's (``num_heads * key_dim`` is the query size E,
``value_dim`` is ``key_dim``, the output has size E); other sizes become
``torch_support.KerasMultiHeadAttention``, which keeps Keras's sizes and call. The calls of a stock
``nn.MultiheadAttention`` are rewritten (:func:`attention_call`): Keras's ``(query, value, key=None)``
becomes torch's ``(query, key, value)``, Keras's masks (True = attend) torch's (True = masked out),
and ``return_attention_scores`` torch's per-head weights (``average_attn_weights=False``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import libcst as cst

from migrator.engine.emitter import code_of, commas, int_node, kwarg
from migrator.engine.site import CallSite, Note
from migrator.engine.tf2torch.emit import dim_node, order_positional
from migrator.engine.tf2torch.shapes import LayerArgs, Shape
from migrator.engine.values import NOT_LITERAL, literal
from migrator.types import Severity

if TYPE_CHECKING:
    from migrator.engine.tf2torch.transformer import KerasToTorch, LayerOut

HELPER = "migrator.runtime.torch_support.KerasMultiHeadAttention"


@dataclass(frozen=True)
class AttentionCall:
    """What the call sites of a migrated MultiHeadAttention need."""

    stock: bool  # nn.MultiheadAttention (else the helper, which takes Keras's call as it is)
    heads: int | None  # num_heads when literal
    rule_id: str


def _same(a: object, b: object) -> bool:
    """Two sizes that are equal: the same int, or the same code."""
    return a is not None and b is not None and str(a) == str(b)


def _fits(heads: object, key_dim: object, embed: object) -> bool:
    """num_heads * key_dim == E, for literals, or key_dim written as ``E // num_heads``."""
    if isinstance(heads, int) and isinstance(key_dim, int) and isinstance(embed, int):
        return heads * key_dim == embed
    return _same(key_dim, f"{embed} // {heads}")


def multi_head_attention(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    """MultiHeadAttention -> nn.MultiheadAttention(E, h, batch_first=True), or the helper."""
    from migrator.engine.tf2torch.transformer import LayerOut

    rule = site.rule
    args = LayerArgs(site.bound)
    if shape is None:
        return "the query's size could not be inferred (torch's attention layers need it)"
    if len(shape) != 3:
        return f"a rank-{len(shape)} query: attention over more than one axis has no torch layer"
    if args.value("attention_axes") not in (None, 1, -2, (1,), [1], (-2,), [-2]):
        return "attention_axes other than the sequence axis have no torch layer"
    for name, why in (("use_gate", "gated attention"), ("sliding_window", "a sliding-window mask")):
        if args.value(name) not in (None, False):
            return f"{name}={args.code(name)}: {why} is not migrated"
    mapped = tools.map_args(
        site,
        skip=("num_heads", "key_dim", "value_dim", "dropout", "use_bias", "output_shape", "attention_axes"),
    )
    if mapped.unsupported is not None:
        return mapped.unsupported
    for note in mapped.notes:
        tools.note(note)
    embed = shape[-1]
    heads, key_dim = args.dim("num_heads"), args.dim("key_dim")
    value_dim = args.dim("value_dim")
    output = args.dim("output_shape")
    original = tools.original_layer
    shapes = tools.ann.call_shapes.get(id(original), {}) if original is not None else {}
    value_shape = shapes.get("value", shapes.get("1"))
    key_shape = shapes.get("key", shapes.get("2", value_shape))
    vdim = value_shape[-1] if value_shape else None
    kdim = key_shape[-1] if key_shape else vdim
    if vdim is None:
        tools.note(
            Note(
                Severity.REVIEW,
                "the value's (and key's) size could not be inferred: taken to be the query's",
            )
        )
    stock = (
        (value_dim is None or _same(value_dim, key_dim))
        and (output is None or _same(output, embed))
        and _fits(heads, key_dim, embed)
    )
    common: list[cst.Arg] = []
    dropout = site.bound.get("dropout")
    if dropout is not None and literal(dropout) not in (0, 0.0):
        common.append(kwarg("dropout", dropout))
    use_bias = args.value("use_bias", True)
    heads_literal = heads if isinstance(heads, int) else None
    if stock:
        out = [cst.Arg(dim_node(embed)), cst.Arg(site.bound["num_heads"]), *common]
        if use_bias is not True:
            out.append(kwarg("bias", site.bound["use_bias"]))
        if kdim is not None and not _same(kdim, embed):
            out.append(kwarg("kdim", dim_node(kdim)))
        if vdim is not None and not _same(vdim, embed):
            out.append(kwarg("vdim", dim_node(vdim)))
        out.append(kwarg("batch_first", cst.Name("True")))
        result = LayerOut(
            tools.call("torch.nn.MultiheadAttention", out), None, None, rule, "multihead_attention"
        )
    else:
        out = [
            kwarg("query_dim", dim_node(embed)),
            kwarg("num_heads", site.bound["num_heads"]),
            kwarg("key_dim", site.bound["key_dim"]),
        ]
        if value_dim is not None:
            out.append(kwarg("value_dim", site.bound["value_dim"]))
        out += common
        if use_bias is not True:
            out.append(kwarg("use_bias", site.bound["use_bias"]))
        if output is not None:
            out.append(kwarg("output_shape", site.bound["output_shape"]))
        if kdim is not None and not _same(kdim, vdim):
            out.append(kwarg("key_input_dim", dim_node(kdim)))
        if vdim is not None and not _same(vdim, embed):
            out.append(kwarg("value_input_dim", dim_node(vdim)))
        tools.note(
            Note(
                Severity.MIGRATED,
                "runtime helper: nn.MultiheadAttention needs num_heads * key_dim == value_dim * "
                "num_heads == the query size == the output size",
            )
        )
        result = LayerOut(
            tools.call(HELPER, order_positional(out, ())), None, None, rule, "keras_multi_head_attention"
        )
    result.attention = AttentionCall(stock, heads_literal, rule.id)
    return result


def encoder_layer(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    """keras_support.TransformerEncoderLayer (a torch2tf output migrated back) ->
    nn.TransformerEncoderLayer(..., batch_first=True): the helper takes batch-major (N, L, E) and
    torch's call, which its calls keep (all their arguments, in a functional builder too)."""
    from migrator.engine.tf2torch.transformer import LayerOut

    mapped = tools.map_args(site)
    if mapped.unsupported is not None:
        return mapped.unsupported
    for note in mapped.notes:
        tools.note(note)
    assert site.rule.emit is not None
    result = LayerOut(tools.call(site.rule.emit, mapped.args), None, None, site.rule, site.rule.weights)
    result.attention = AttentionCall(False, None, site.rule.id)
    return result


# ------------------------------------------------------------------------------ call sites

_CALL = (
    "query",
    "value",
    "key",
    "query_mask",
    "value_mask",
    "key_mask",
    "attention_mask",
    "return_attention_scores",
    "training",
    "use_causal_mask",
)


def _not(tools: KerasToTorch, node: cst.BaseExpression) -> cst.Call:
    return tools.call("torch.logical_not", [cst.Arg(node)])


def _or(tools: KerasToTorch, parts: list[cst.BaseExpression]) -> cst.BaseExpression:
    out = parts[0]
    for p in parts[1:]:
        out = tools.call("torch.logical_or", [cst.Arg(out), cst.Arg(p)])
    return out


def _method(node: cst.BaseExpression, name: str, *args: cst.Arg) -> cst.Call:
    if not isinstance(node, cst.Name | cst.Attribute | cst.Call | cst.Subscript):
        node = node.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return cst.Call(cst.Attribute(node, cst.Name(name)), list(args))


def _size(node: cst.BaseExpression, axis: int) -> cst.BaseExpression:
    shape = cst.Attribute(node, cst.Name("shape"))
    return cst.Subscript(shape, [cst.SubscriptElement(cst.Index(int_node(axis)))])


def _squeezed(node: cst.BaseExpression) -> cst.BaseExpression | None:
    """``x`` for ``torch.unsqueeze(x, 1)`` (the migrated ``ops.expand_dims(x, 1)``), else None."""
    if (
        isinstance(node, cst.Call)
        and code_of(node.func) in ("torch.unsqueeze",)
        and len(node.args) == 2
        and literal(node.args[1].value) == 1
    ):
        return node.args[0].value
    return None


def attention_call(
    tools: KerasToTorch, original: cst.Call, call: cst.Call, info: AttentionCall
) -> cst.BaseExpression:
    """``mha(q, v, key=k, attention_mask=m)`` -> ``mha(q, k, v, attn_mask=~m per head, ...)``."""
    if not info.stock:
        return call  # the helper takes Keras's call
    api = code_of(original.func)

    def refuse(why: str) -> cst.BaseExpression:
        tools._find(original, Severity.UNSUPPORTED, api, why, info.rule_id)
        return call

    bound: dict[str, cst.BaseExpression] = {}
    originals: dict[str, cst.BaseExpression] = {}
    for i, (arg, orig) in enumerate(zip(call.args, original.args, strict=False)):
        if arg.star:
            return refuse(f"{arg.star}-arguments cannot be mapped statically")
        name = arg.keyword.value if arg.keyword is not None else (_CALL[i] if i < len(_CALL) else "")
        if name not in _CALL:
            return refuse(f"argument {name or i!r} has no mapping")
        bound[name], originals[name] = arg.value, orig.value
    if "query" not in bound or "value" not in bound:
        return refuse("query and value are required")
    q, v = bound["query"], bound["value"]
    k = bound.get("key", v)
    scores = literal(bound["return_attention_scores"]) if "return_attention_scores" in bound else False
    causal = literal(bound["use_causal_mask"]) if "use_causal_mask" in bound else False
    if not isinstance(scores, bool) or not isinstance(causal, bool):
        return refuse("return_attention_scores and use_causal_mask must be literal True/False")
    done = ["torch takes (query, key, value)"]
    padding: list[cst.BaseExpression] = []
    for name in ("value_mask", "key_mask") if "key" in bound else ("value_mask",):
        if name in bound:
            padding.append(_not(tools, bound[name]))
    if "query_mask" in bound:
        tools._find(
            original,
            Severity.REVIEW,
            api,
            "query_mask is dropped: Keras ignores the argument too (it reads the query's own Keras mask)",
            info.rule_id,
        )
    blocked: cst.BaseExpression | None = None
    per_batch = False
    mask = bound.get("attention_mask")
    if mask is not None:
        t = tools.ann.tensors.get(id(originals["attention_mask"]))
        mshape = t.shape if t is not None else None
        if mshape is not None and len(mshape) == 3 and mshape[1] == 1:
            # (N, 1, S): the same keys for every query, torch's key_padding_mask
            first = _squeezed(mask) or cst.Subscript(
                mask,
                [
                    cst.SubscriptElement(
                        cst.Slice(lower=None, upper=None),
                        comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")),
                    ),
                    cst.SubscriptElement(cst.Index(int_node(0))),
                ],
            )
            padding.append(_not(tools, first))
        elif mshape is not None and len(mshape) != 3:
            return refuse(f"attention_mask of rank {len(mshape)}: Keras's mask is (N, T, S)")
        else:
            blocked, per_batch = _not(tools, mask), True
            if mshape is None and isinstance(q, cst.Name):  # it may be (N, 1, S): torch needs (N, T, S)
                minus = cst.UnaryOperation(cst.Minus(), cst.Integer("1"))
                blocked = _method(blocked, "expand", cst.Arg(minus), cst.Arg(_size(q, 1)), cst.Arg(minus))
        done.append("masks inverted (Keras attends where True, torch masks where True)")
    if causal:
        if not isinstance(q, cst.Name) or not isinstance(v, cst.Name):
            return refuse(
                "use_causal_mask=True with a query or value that is not a variable: assign it first"
            )
        ones = tools.call(
            "torch.ones",
            [
                cst.Arg(_size(q, 1)),
                cst.Arg(_size(v, 1)),
                kwarg("dtype", tools.name("torch.bool")),
                kwarg("device", cst.Attribute(q, cst.Name("device"))),
            ],
        )
        upper = _method(ones, "triu", cst.Arg(int_node(1)))
        blocked = (
            upper if blocked is None else tools.call("torch.logical_or", [cst.Arg(blocked), cst.Arg(upper)])
        )
        done.append("the causal mask made explicit (torch's is_causal is only a hint)")
    args = [cst.Arg(q), cst.Arg(k), cst.Arg(v)]
    if padding:
        args.append(kwarg("key_padding_mask", _or(tools, padding)))
    if blocked is not None:
        if per_batch:  # (N, T, S): torch takes a 3-D attn_mask as (N * num_heads, T, S)
            heads: cst.BaseExpression = (
                int_node(info.heads)
                if info.heads is not None
                else cst.Attribute(call.func, cst.Name("num_heads"))
            )
            blocked = _method(blocked, "repeat_interleave", cst.Arg(heads), kwarg("dim", int_node(0)))
        args.append(kwarg("attn_mask", blocked))
    if scores:
        args.append(kwarg("average_attn_weights", cst.Name("False")))
        done.append("per-head weights, as Keras returns its scores")
    else:
        args.append(kwarg("need_weights", cst.Name("False")))
    tools._find(original, Severity.MIGRATED, api, "call: " + "; ".join(done), info.rule_id)
    torch_call = call.with_changes(args=commas(args))
    if scores:
        return torch_call
    return cst.Subscript(torch_call, [cst.SubscriptElement(cst.Index(int_node(0)))])


# ------------------------------------------------------------------------------ functional


def dot_product_attention(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    """ops.dot_product_attention on (N, T, H, D) -> F.scaled_dot_product_attention on
    (N, H, T, D): each operand ``.transpose(1, 2)``, and the result back. A boolean mask means
    *attend* in both; Keras's ``bias`` is torch's float ``attn_mask``."""
    from migrator.engine.tf2torch.transformer import LayerOut

    b = site.bound
    for name in ("query", "key", "value"):
        if name not in b:
            return f"{name} is required"
        lay = site.layouts.get(name)
        if lay is not None and not lay.is_identity:
            return f"{name} is held in another layout than Keras's (N, T, H, D)"
    mask, bias = b.get("mask"), b.get("bias")
    given = [n for n in ("mask", "bias") if b.get(n) is not None and literal(b[n]) is not None]
    if len(given) == 2:
        return "both mask and bias: torch takes one attn_mask (combine them: bias.masked_fill(~mask, -inf))"
    if "attn_logits_soft_cap" in b and literal(b["attn_logits_soft_cap"]) is not None:
        return "attn_logits_soft_cap has no torch counterpart"
    causal = literal(b["is_causal"]) if "is_causal" in b else False
    if causal is NOT_LITERAL or not isinstance(causal, bool):
        return "is_causal must be a literal True/False"
    if causal and given:
        return "is_causal together with a mask or bias: torch refuses both (build one attn_mask)"
    args = [
        cst.Arg(_method(b[n], "transpose", cst.Arg(int_node(1)), cst.Arg(int_node(2))))
        for n in ("query", "key", "value")
    ]
    if given:
        args.append(kwarg("attn_mask", mask if given == ["mask"] else bias))  # type: ignore[arg-type]
    if "scale" in b and literal(b["scale"]) is not None:
        args.append(kwarg("scale", b["scale"]))
    if causal:
        args.append(kwarg("is_causal", cst.Name("True")))
    out = tools.call("torch.nn.functional.scaled_dot_product_attention", args)
    return LayerOut(_method(out, "transpose", cst.Arg(int_node(1)), cst.Arg(int_node(2))), rule=site.rule)


__all__ = [
    "AttentionCall",
    "attention_call",
    "dot_product_attention",
    "encoder_layer",
    "multi_head_attention",
]
