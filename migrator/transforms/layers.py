"""Hooks for layer constructors whose mapping depends on argument values (padding, depthwise, ...)."""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from migrator.engine.layout import channels_last
from migrator.engine.site import CallSite, HookResult, ModuleInfo, Note, Tools
from migrator.rules.schema import Contract
from migrator.transforms import norm_resize
from migrator.transforms.common import (
    NOT_LITERAL,
    code_of,
    int_node,
    kwarg,
    literal,
    onednn_stride_bug,
    per_dim,
    str_node,
    tuple_node,
    value_node,
)
from migrator.types import Severity


def _n(site: CallSite) -> int:
    assert site.rule.rank is not None
    return site.rule.rank - 2


def _wrap(
    tools: Tools,
    pre: Sequence[cst.BaseExpression],
    layer: cst.BaseExpression,
    post: Sequence[cst.BaseExpression] = (),
) -> cst.BaseExpression:
    elems = [*pre, layer, *post]
    return tools.call(
        "keras.Sequential",
        [
            cst.Arg(
                cst.List(
                    [
                        cst.Element(e, comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
                        if i < len(elems) - 1
                        else cst.Element(e)
                        for i, e in enumerate(elems)
                    ]
                )
            )
        ],
    )


def _info(site: CallSite, transform: str | None, suffix: str = "", **extra: object) -> ModuleInfo:
    return ModuleInfo(
        Contract.CHANNELS,
        rank=site.rule.rank,
        rule_id=site.rule.id,
        transform=transform,
        target_suffix=suffix,
        line=site.line,
        extra=dict(extra),
    )


def conv(site: CallSite, tools: Tools) -> HookResult | str:
    """Conv{1,2,3}d: explicit paddings are reproduced exactly (TF 'same' pads asymmetrically at
    stride 2); groups == in_channels becomes a depthwise convolution."""
    n = _n(site)
    b = site.bound
    in_ch, out_ch, groups = b.get("in_channels"), b.get("out_channels"), b.get("groups")
    depthwise = False
    if groups is not None and in_ch is not None:
        g, c = literal(groups), literal(in_ch)
        same_code = code_of(groups) == code_of(in_ch)
        depthwise = (same_code or (g is not NOT_LITERAL and g == c)) and g != 1
    if depthwise and n == 3:
        return "depthwise Conv3d has no Keras layer"
    skip = ("padding", "groups", "out_channels") if depthwise else ("padding",)
    mapped = tools.map_args(site, skip=skip)
    if mapped.unsupported is not None:
        return mapped.unsupported
    args = list(mapped.args)
    notes = list(mapped.notes)
    if depthwise:
        assert out_ch is not None and in_ch is not None
        o, c = literal(out_ch), literal(in_ch)
        if code_of(out_ch) == code_of(in_ch):
            mult: cst.BaseExpression = int_node(1)
        elif isinstance(o, int) and isinstance(c, int):
            if o % c:
                return "grouped conv with out_channels not a multiple of in_channels"
            mult = int_node(o // c)
        else:
            mult = cst.parse_expression(f"({code_of(out_ch)}) // ({code_of(in_ch)})")
        args.insert(1, kwarg("depth_multiplier", mult))
    padding = b.get("padding")
    pad_value = literal(padding) if padding is not None else 0
    k = per_dim(b.get("kernel_size"), n, 1)
    s = per_dim(b.get("stride"), n, 1)
    d = per_dim(b.get("dilation"), n, 1)
    p = per_dim(padding, n, 0) if not isinstance(pad_value, str) else None
    if s is not None and d is not None and any(si > 1 for si in s) and any(di > 1 for di in d):
        return "stride > 1 together with dilation > 1: Keras convolutions refuse the combination"
    if onednn_stride_bug(s):
        notes.append(Note(Severity.REVIEW, ONEDNN_STRIDES))
    pre: list[cst.BaseExpression] = []
    mode: str | None = None
    moded = norm_resize.conv_mode_padding(site, tools, n, pad_value, k, d, p)  # padding_mode
    if isinstance(moded, str):
        return moded
    if moded[0] is not None and moded[1] is not None:
        pre.append(moded[0])
        notes.append(moded[1])
    elif pad_value == "valid" or p == (0,) * n:
        mode = None
    elif pad_value == "same":
        mode = "same"
    elif (
        p is not None
        and k is not None
        and s is not None
        and d is not None
        and all(si == 1 and 2 * pi == di * (ki - 1) for pi, si, di, ki in zip(p, s, d, k, strict=True))
    ):
        mode = "same"  # stride 1, symmetric: TF 'same' pads exactly p on both sides
    else:
        pad_expr: cst.BaseExpression = value_node(p) if p is not None else padding  # type: ignore[assignment]
        pre.append(tools.call(f"keras.layers.ZeroPadding{n}D", [kwarg("padding", pad_expr)]))
    if mode is not None:
        args.append(kwarg("padding", str_node(mode)))
    target = f"keras.layers.DepthwiseConv{n}D" if depthwise else f"keras.layers.Conv{n}D"
    layer = tools.call(target, args)
    transform = f"depthwise_conv{n}d" if depthwise else site.rule.weights
    if pre:
        if moded[0] is None:
            notes.append(Note(Severity.MIGRATED, "explicit padding kept exact with ZeroPadding + 'valid'"))
        return HookResult(_wrap(tools, pre, layer), module=_info(site, transform, "1"), notes=tuple(notes))
    return HookResult(layer, module=_info(site, transform), notes=tuple(notes))


ONEDNN_STRIDES = (
    "strides (1, s) with s > 1: on CPU, TensorFlow's oneDNN convolution (on by default) returns "
    "wrong values for some input sizes (measured with tf.nn.conv2d, stride (1, 2), kernel (1, 2) on a "
    "2x3 input: error 0.69, and up to 5.7e3); exact with TF_ENABLE_ONEDNN_OPTS=0"
)


def conv_transpose(site: CallSite, tools: Tools) -> HookResult | str:
    """ConvTranspose: 'same' only where it is exact; otherwise 'valid' and a crop of
    ``[p : -(p - output_padding)]``, which reproduces torch's output exactly."""
    n = _n(site)
    b = site.bound
    k = per_dim(b.get("kernel_size"), n, 1)
    s = per_dim(b.get("stride"), n, 1)
    p = per_dim(b.get("padding"), n, 0)
    op = per_dim(b.get("output_padding"), n, 0)
    d = per_dim(b.get("dilation"), n, 1)
    if k is None or s is None or p is None or op is None or d is None:
        return "kernel_size, stride, padding, output_padding and dilation must be literals"
    if any(di != 1 for di in d) and any(pi or oi for pi, oi in zip(p, op, strict=True)):
        return "dilated transposed conv with padding"
    if any(ki * 1 < si for ki, si in zip(k, s, strict=True)):
        return "kernel smaller than stride (Keras 'valid' output length differs)"
    mapped = tools.map_args(site, skip=("padding", "output_padding"))
    if mapped.unsupported is not None:
        return mapped.unsupported
    args = list(mapped.args)
    if all(oi == 0 and ki - 2 * pi == si for ki, si, pi, oi in zip(k, s, p, op, strict=True)):
        args.append(kwarg("padding", str_node("same")))
        return HookResult(
            tools.call(f"keras.layers.Conv{n}DTranspose", args),
            module=_info(site, site.rule.weights),
            notes=mapped.notes,
        )
    if any(pi - oi < 0 for pi, oi in zip(p, op, strict=True)):
        return "output_padding larger than padding"
    layer = tools.call(f"keras.layers.Conv{n}DTranspose", args)
    if all(pi == 0 for pi in p):
        return HookResult(layer, module=_info(site, site.rule.weights), notes=mapped.notes)
    crop = [(pi, pi - oi) for pi, oi in zip(p, op, strict=True)]
    crop_expr: cst.BaseExpression = (
        tuple_node([crop[0][0], crop[0][1]])
        if n == 1
        else cst.Tuple(
            [
                cst.Element(
                    tuple_node(c),
                    comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
                    if i < n - 1
                    else cst.MaybeSentinel.DEFAULT,
                )
                for i, c in enumerate(crop)
            ]
        )
    )
    post = [tools.call(f"keras.layers.Cropping{n}D", [kwarg("cropping", crop_expr)])]
    notes = (
        *mapped.notes,
        Note(Severity.MIGRATED, "padding/output_padding reproduced by 'valid' + Cropping"),
    )
    return HookResult(_wrap(tools, [], layer, post), module=_info(site, site.rule.weights, "0"), notes=notes)


def pool(site: CallSite, tools: Tools) -> HookResult | str:
    """Max/AvgPool{1,2}d. Max pooling pads with -inf; average pooling counts the zero padding
    (count_include_pad=True, the torch default), which TF 'same' does not."""
    n = _n(site)
    b = site.bound
    is_max = "Max" in site.rule.match[0]
    k = per_dim(b.get("kernel_size"), n, 1)
    s = (
        per_dim(b.get("stride"), n, 1)
        if b.get("stride") is not None and literal(b["stride"]) is not None
        else k
    )
    p = per_dim(b.get("padding"), n, 0)
    if k is None or s is None or p is None:
        return "kernel_size, stride and padding must be literals"
    ceil = "ceil_mode" in b and literal(b["ceil_mode"]) is not False  # torch's output size
    if ceil or ("divisor_override" in b and literal(b["divisor_override"]) is not None):
        return norm_resize.torch_pool(site, tools, k, s, p, is_max)  # a runtime helper
    mapped = tools.map_args(site, skip=("padding", "ceil_mode", "count_include_pad"))
    if mapped.unsupported is not None:
        return mapped.unsupported
    args = list(mapped.args)
    target = f"keras.layers.{'Max' if is_max else 'Average'}Pooling{n}D"
    if all(pi == 0 for pi in p):
        return HookResult(tools.call(target, args), module=_info(site, "identity"), notes=mapped.notes)
    include = literal(b["count_include_pad"]) if "count_include_pad" in b else True
    same_ok = all(si == 1 and 2 * pi == ki - 1 for si, pi, ki in zip(s, p, k, strict=True))
    if same_ok and (is_max or include is False):
        args.append(kwarg("padding", str_node("same")))
        return HookResult(tools.call(target, args), module=_info(site, "identity"), notes=mapped.notes)
    if not is_max and include is not True:
        return norm_resize.torch_pool(site, tools, k, s, p, is_max)
    layer = tools.call(target, args)
    if is_max:
        widths = ", ".join(["(0, 0)", *(f"({pi}, {pi})" for pi in p), "(0, 0)"])
        pad = tools.call(
            "keras.layers.Lambda",
            [cst.Arg(tools.code(f'lambda t: keras.ops.pad(t, ({widths}), constant_values=float("-inf"))'))],
        )
    else:
        pad = tools.call(f"keras.layers.ZeroPadding{n}D", [kwarg("padding", value_node(p))])
    notes = (
        *mapped.notes,
        Note(Severity.MIGRATED, "padding reproduced exactly before a 'valid' pool"),
    )
    return HookResult(_wrap(tools, [pad], layer), module=_info(site, "identity", "1"), notes=notes)


def adaptive_avg_pool(site: CallSite, tools: Tools) -> HookResult | str:
    n = _n(site)
    size = literal(site.bound["output_size"]) if "output_size" in site.bound else NOT_LITERAL
    if size != 1 and size != (1,) * n and size != [1] * n:
        return norm_resize.adaptive_pool(site, tools)  # torch's bins: a runtime helper
    layer = tools.call(f"keras.layers.GlobalAveragePooling{n}D", [kwarg("keepdims", cst.Name("True"))])
    return HookResult(layer, module=_info(site, "identity"))


def batch_norm(site: CallSite, tools: Tools) -> HookResult | str:
    """BatchNorm: eps made explicit (Keras default 1e-3), momentum = 1 - torch momentum."""
    b = site.bound
    if "momentum" in b and literal(b["momentum"]) is None:
        return "momentum=None (cumulative moving average) has no Keras equivalent"
    if "track_running_stats" in b and literal(b["track_running_stats"]) is not True:
        return "track_running_stats=False (batch statistics at inference) has no Keras layer option"
    mapped = tools.map_args(site, skip=("affine",))
    if mapped.unsupported is not None:
        return mapped.unsupported
    args = list(mapped.args)
    affine = literal(b["affine"]) if "affine" in b else True
    if affine is False:
        args += [kwarg("center", cst.Name("False")), kwarg("scale", cst.Name("False"))]
    elif affine is not True:
        return "affine must be a literal True/False"
    notes = list(mapped.notes)
    target = "keras.layers.BatchNormalization"
    if tools.training_plan().trains:  # trained in this file: torch's running-variance update
        target = "migrator.runtime.keras_support.BatchNormalization"
        notes.append(Note(Severity.MIGRATED, f"runtime helper: {_BN_TRAINING}"))
    layer = tools.call(target, args)
    return HookResult(layer, module=_info(site, site.rule.weights), notes=tuple(notes))


_BN_TRAINING = (
    "the file trains the model, and torch updates the running variance with the unbiased batch "
    "variance (Keras: biased)"
)


def layer_norm(site: CallSite, tools: Tools) -> HookResult | str:
    """LayerNorm(normalized_shape): the last k source dims; for k > 1 the axes of a channels-first
    map become [1..k] of the channels-last tensor and gamma/beta are permuted."""
    shape = site.bound.get("normalized_shape")
    affine = site.bound.get("elementwise_affine")
    affine_value = literal(affine) if affine is not None else True
    if affine_value not in (True, False):
        return "elementwise_affine must be a literal True/False"
    # without the affine transform torch has neither weight nor bias, whatever `bias` says
    skip = ("normalized_shape", "elementwise_affine") + (("bias",) if affine_value is False else ())
    mapped = tools.map_args(site, skip=skip)
    if mapped.unsupported is not None:
        return mapped.unsupported
    v = literal(shape) if shape is not None else NOT_LITERAL
    k = 1
    if isinstance(v, list | tuple):
        k = len(v)
    elif v is NOT_LITERAL and shape is not None and isinstance(shape, cst.List | cst.Tuple):
        k = len(shape.elements)
    args = list(mapped.args)
    extra: dict[str, object] = {}
    if k == 1:
        axis: cst.BaseExpression = int_node(-1)
        contract = Contract.LAST_DIM
    else:
        axis = cst.List(
            [
                cst.Element(
                    int_node(i),
                    comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
                    if i < k
                    else cst.MaybeSentinel.DEFAULT,
                )
                for i in range(1, k + 1)
            ]
        )
        contract = Contract.CHANNELS
        extra["layernorm_rank"] = k
    args.insert(0, kwarg("axis", axis))
    if affine_value is False:
        args += [kwarg("center", cst.Name("False")), kwarg("scale", cst.Name("False"))]
    layer = tools.call("keras.layers.LayerNormalization", args)
    info = ModuleInfo(
        contract,
        rank=k + 1 if k > 1 else None,
        rule_id=site.rule.id,
        transform=site.rule.weights,
        line=site.line,
        extra=extra,
    )
    return HookResult(layer, module=info, notes=mapped.notes)


def softmax_layer(site: CallSite, tools: Tools) -> HookResult | str:
    """Softmax/LogSoftmax(dim): built before its input is known, so dim 1 is taken as the channel
    axis (correct for (N, C) and for channels-first maps); the call site checks the assumption."""
    dim = site.bound.get("dim")
    d = literal(dim) if dim is not None else NOT_LITERAL
    notes: list[Note] = []
    if dim is None:
        notes.append(
            Note(
                Severity.REVIEW,
                "no dim: torch picks dim 0 for 1-D/3-D inputs and 1 otherwise; assumed 1",
            )
        )
        d = 1
    if not isinstance(d, int):
        return "dim must be a literal int"
    axis = -1 if d in (1, -1) else d
    if "LogSoftmax" in site.rule.match[0]:
        if axis == -1:
            layer = tools.call("keras.layers.Activation", [cst.Arg(str_node("log_softmax"))])
        else:
            layer = tools.call(
                "keras.layers.Activation",
                [cst.Arg(tools.code(f"lambda t: keras.ops.log_softmax(t, axis={axis})"))],
            )
    else:
        layer = tools.call("keras.layers.Softmax", [kwarg("axis", int_node(axis))])
    info = ModuleInfo(
        Contract.ELEMENTWISE,
        rule_id=site.rule.id,
        transform="identity",
        line=site.line,
        axis=(d, axis),
    )
    return HookResult(layer, module=info, notes=tuple(notes))


def flatten_layer(site: CallSite, tools: Tools) -> HookResult | str:
    mapped = tools.map_args(site)
    if mapped.unsupported is not None:
        return mapped.unsupported
    info = ModuleInfo(Contract.FLATTEN, rule_id=site.rule.id, transform="identity", line=site.line)
    return HookResult(tools.call("keras.layers.Flatten", []), module=info, notes=mapped.notes)


__all__ = [
    "adaptive_avg_pool",
    "batch_norm",
    "channels_last",
    "conv",
    "conv_transpose",
    "flatten_layer",
    "layer_norm",
    "pool",
    "softmax_layer",
]
