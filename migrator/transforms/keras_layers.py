"""tf2torch hooks: Keras layers whose torch form depends on the inferred input shape or on
arithmetic a rule file cannot state (TF 'same' padding at stride > 1, causal padding, BatchNorm's
rank-dependent class and momentum convention, activation layers)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

import libcst as cst

from migrator.engine.emitter import code_of, commas, int_node, kwarg, tuple_node
from migrator.engine.layout import Layout
from migrator.engine.site import CallSite, Note
from migrator.engine.tf2torch.emit import ACTIVATIONS, activation_module, dim_node, order_positional
from migrator.engine.tf2torch.shapes import LayerArgs, Shape, same_padding
from migrator.engine.values import NOT_LITERAL, format_number
from migrator.transforms import (
    keras_attention,
    keras_ecosystem,
    keras_norm_resize,
    keras_ops,
    keras_recurrent,
    keras_training,
)
from migrator.transforms.common import onednn_stride_bug
from migrator.transforms.keras_common import layer_out as _out
from migrator.transforms.keras_common import mapped_args as _rest
from migrator.types import Severity

if TYPE_CHECKING:
    from migrator.engine.tf2torch.transformer import KerasToTorch, LayerOut

KerasHook = Callable[["KerasToTorch", CallSite, "Shape | None", "tuple[int, ...] | None"], "LayerOut | str"]


_ONEDNN_ORIGINAL = (
    "the Keras original itself: strides (1, s) with s > 1 hit a TensorFlow oneDNN bug on CPU (wrong "
    "values for some input sizes; exact with TF_ENABLE_ONEDNN_OPTS=0); the torch convolution is "
    "right, so verify may report a difference that is the original's"
)


def conv(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    """Conv1D/2D/3D and DepthwiseConv1D/2D: channels, stride, dilation, groups and TF padding."""
    rule = site.rule
    n = (rule.rank or 4) - 2
    args = LayerArgs(site.bound)
    depthwise = "depthwise" in (rule.weights or "")
    k = args.ints("kernel_size", n, None)
    s = args.ints("strides", n, 1)
    d = args.ints("dilation_rate", n, 1)
    padding = args.string("padding", "valid")
    if k is None or d is None or padding is None:
        return "kernel_size, dilation_rate and padding must be literals"
    same_class = False  # TF 'same' padding computed per input by a small subclass in the output
    if s is None:  # strides given by a parameter: the padding depends on its value
        if padding == "same":
            same_class = True
        s = (2,) * n  # not 1: emit stride= below
    in_ch = shape[-1] if shape else None
    out: list[cst.Arg] = []
    if in_ch is not None:
        out.append(kwarg("in_channels", dim_node(in_ch)))
    if depthwise:
        m = args.dim("depth_multiplier", 1)
        if in_ch is None:
            return "a depthwise convolution needs its input channels, which could not be inferred"
        from migrator.engine.tf2torch.shapes import mul

        out.append(kwarg("out_channels", dim_node(mul(in_ch, m))))
    else:
        out.append(kwarg("out_channels", site.bound["filters"]))
    out.append(kwarg("kernel_size", site.bound["kernel_size"]))
    if any(v != 1 for v in s):
        out.append(kwarg("stride", site.bound["strides"]))
    if onednn_stride_bug(s):
        tools.note(Note(Severity.REVIEW, _ONEDNN_ORIGINAL))
    if any(v != 1 for v in d):
        out.append(kwarg("dilation", site.bound["dilation_rate"]))
    groups = args.value("groups", 1)
    if depthwise:
        out.append(kwarg("groups", dim_node(in_ch)))
    elif groups != 1:
        out.append(kwarg("groups", site.bound["groups"]))
    pad_module: cst.BaseExpression | None = None
    if same_class:
        pass
    elif padding == "same":
        if all(v == 1 for v in s):
            out.append(kwarg("padding", cst.SimpleString('"same"')))
        else:
            spatial = shape[1:-1] if shape else None
            if spatial is None or not all(isinstance(x, int) for x in spatial):
                same_class = True
                pads = [(0, 0)]
            else:
                pads = [same_padding(int(spatial[i]), k[i], s[i], d[i]) for i in range(n)]  # type: ignore[arg-type]
            if same_class:
                pass
            elif all(a == b for a, b in pads):
                out.append(
                    kwarg(
                        "padding",
                        int_node(pads[0][0]) if len(set(pads)) == 1 else tuple_node([a for a, _ in pads]),
                    )
                )
            else:
                pad_module = _zero_pad(tools, pads)
    elif padding == "causal":
        pad_module = tools.call(
            "torch.nn.ConstantPad1d",
            [cst.Arg(tuple_node([d[0] * (k[0] - 1), 0])), cst.Arg(cst.Float("0.0"))],
        )
    elif padding != "valid":
        return f"padding={padding!r} has no torch equivalent"
    rest = _rest(
        tools,
        site,
        (
            "filters",
            "kernel_size",
            "strides",
            "dilation_rate",
            "padding",
            "groups",
            "depth_multiplier",
            "activation",
        ),
    )
    if isinstance(rest, str):
        return rest
    target = rule.emit
    if in_ch is None:
        if rule.lazy is None:
            return "input channels could not be inferred"
        target = rule.lazy
        out = [a for a in out if a.keyword is None or a.keyword.value != "in_channels"]
        tools._find(
            site.call,
            Severity.REVIEW,
            rule.match[0],
            f"input channels not inferred statically: {rule.lazy.rsplit('.', 1)[-1]} infers them when called",
            rule.id,
        )
    assert target is not None
    if same_class:
        if in_ch is None or depthwise or n not in (1, 2):
            return "TF 'same' padding here depends on the input size and a stride given by a parameter"
        name = tools.support_class(f"Conv{n}dSame")
        layer = cst.Call(cst.Name(name), commas(order_positional([*out, *rest], rule.signature)))
        tools._find(
            site.call,
            Severity.MIGRATED,
            rule.match[0],
            f"'same' padding with a stride from a parameter: {name} (defined in the output) pads as TF does",
            rule.id,
        )
        return _out(layer, site, rule.weights)
    layer = tools.call(target, order_positional([*out, *rest], rule.signature))
    if pad_module is not None:
        return _out(
            tools.call("torch.nn.Sequential", [cst.Arg(pad_module), cst.Arg(layer)]), site, rule.weights, "1"
        )
    return _out(layer, site, rule.weights)


def _zero_pad(tools: KerasToTorch, pads: list[tuple[int, int]]) -> cst.BaseExpression:
    """torch pads the last axis first: (left, right, top, bottom)."""
    flat = [v for pair in reversed(pads) for v in pair]
    if len(pads) == 1:
        return tools.call("torch.nn.ConstantPad1d", [cst.Arg(tuple_node(flat)), cst.Arg(cst.Float("0.0"))])
    return tools.call("torch.nn.ZeroPad2d", [cst.Arg(tuple_node(flat))])


def pool(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    """Max/AveragePooling1D/2D: window, stride (defaults to the window), 'same' padding."""
    rule = site.rule
    n = (rule.rank or 4) - 2
    args = LayerArgs(site.bound)
    k = args.ints("pool_size", n, 2)
    s = args.ints("strides", n, k)
    padding = args.string("padding", "valid")
    if k is None or s is None:
        return "pool_size and strides must be literals"
    out = [kwarg("kernel_size", site.bound.get("pool_size", int_node(2)))]
    if s != k:
        out.append(kwarg("stride", site.bound["strides"]))
    checked = _rest(tools, site, ("pool_size", "strides", "padding"))
    if isinstance(checked, str):
        return checked
    if padding == "same":  # TF pads asymmetrically: see keras_norm_resize.same_pool
        return keras_norm_resize.same_pool(tools, site, shape, k, s, out)
    if padding != "valid":
        return f"padding={padding!r} has no torch equivalent"
    assert rule.emit is not None
    return _out(tools.call(rule.emit, order_positional(out, rule.signature)), site, "identity")


def global_pool(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    """GlobalAverage/MaxPooling: an adaptive pool to 1, then a flatten unless keepdims=True."""
    rule = site.rule
    assert rule.emit is not None
    checked = _rest(tools, site, ("keepdims",))
    if isinstance(checked, str):
        return checked
    pooled = tools.call(rule.emit, [cst.Arg(int_node(1))])
    keep = LayerArgs(site.bound).value("keepdims", False)
    if keep is True:
        return _out(pooled, site, "identity")
    if keep is not False:
        return "keepdims must be a literal"
    return _out(
        tools.call("torch.nn.Sequential", [cst.Arg(pooled), cst.Arg(tools.call("torch.nn.Flatten", []))]),
        site,
        "identity",
    )


def batch_norm(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    """BatchNormalization -> BatchNorm{1,2,3}d by input rank; eps 1e-3 and momentum 1 - 0.99 made explicit."""
    args = LayerArgs(site.bound)
    rank = len(shape) if shape else None
    axis = args.value("axis", -1)
    if not (axis == -1 or (rank is not None and axis == rank - 1)):
        return "only the channels axis (-1) is supported"
    dims = {2: 1, 3: 1, 4: 2, 5: 3}.get(rank or 0)
    in_ch = shape[-1] if shape else None
    out: list[cst.Arg] = []
    if in_ch is not None and dims is not None:
        target = f"torch.nn.BatchNorm{dims}d"
        if tools.train_plan.trains:  # trained in this file: Keras's (biased) running variance
            target = f"migrator.runtime.torch_support.KerasBatchNorm{dims}d"
            tools.note(
                Note(
                    Severity.MIGRATED,
                    "runtime helper: the file trains the model, and Keras updates the running "
                    "variance with the biased batch variance (torch: unbiased)",
                )
            )
        out.append(kwarg("num_features", dim_node(in_ch)))
    else:
        target = f"torch.nn.LazyBatchNorm{dims or 2}d"
        tools._find(
            site.call,
            Severity.REVIEW,
            site.rule.match[0],
            "input shape not inferred statically: a Lazy BatchNorm infers it",
            site.rule.id,
        )
    eps = args.value("epsilon", 1e-3)
    out.append(
        kwarg(
            "eps",
            cst.Float(format_number(float(eps))) if isinstance(eps, int | float) else site.bound["epsilon"],
        )
    )
    mom = args.value("momentum", 0.99)
    if isinstance(mom, int | float):
        out.append(kwarg("momentum", cst.Float(format_number(1 - float(mom)))))
    else:
        out.append(kwarg("momentum", cst.parse_expression(f"1 - {code_of(site.bound['momentum'])}")))
    center, scale = args.value("center", True), args.value("scale", True)
    if center is False and scale is False:
        out.append(kwarg("affine", cst.Name("False")))
    elif center is not True or scale is not True:
        return "center/scale must both be True or both False (torch has one affine flag)"
    rest = _rest(tools, site, ("axis", "epsilon", "momentum", "center", "scale"))
    if isinstance(rest, str):
        return rest
    return _out(tools.call(target, order_positional([*out, *rest], ("num_features",))), site, "batchnorm")


def activation_layer(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    """Activation("name"), ReLU(max_value=6), LeakyReLU (Keras slope 0.3), Softmax(axis)."""
    rule = site.rule
    args = LayerArgs(site.bound)
    dim = _torch_axis(shape, perm, args.value("axis", -1))
    if rule.id.endswith("Activation"):
        name = args.value("activation")
        if not isinstance(name, str) or name not in ACTIVATIONS:
            given = code_of(site.bound["activation"]) if "activation" in site.bound else "?"
            return f"activation={given}: no torch activation for it"
        return _out(activation_module(tools.emit, ACTIVATIONS[name], dim), site, "identity")
    if rule.id.endswith("ReLU") and not rule.id.endswith("LeakyReLU"):
        mx = args.value("max_value")
        slope = args.value("negative_slope", 0.0)
        thr = args.value("threshold", 0.0)
        if slope not in (0, 0.0) or thr not in (0, 0.0):
            return "negative_slope/threshold have no nn.ReLU counterpart"
        if mx is None:
            return _out(tools.call("torch.nn.ReLU", []), site, "identity")
        if mx == 6:
            return _out(tools.call("torch.nn.ReLU6", []), site, "identity")
        if mx is NOT_LITERAL:
            return "max_value must be a literal"
        return _out(
            tools.call(
                "torch.nn.Hardtanh",
                [kwarg("min_val", cst.Float("0.0")), kwarg("max_val", cst.Float(format_number(float(mx))))],
            ),
            site,
            "identity",
        )
    if rule.id.endswith("LeakyReLU"):
        slope = args.value("negative_slope", 0.3)
        node = (
            cst.Float(format_number(float(slope)))
            if isinstance(slope, int | float)
            else site.bound["negative_slope"]
        )
        return _out(tools.call("torch.nn.LeakyReLU", [kwarg("negative_slope", node)]), site, "identity")
    if rule.id.endswith("Softmax"):
        return _out(tools.call("torch.nn.Softmax", [kwarg("dim", int_node(dim))]), site, "identity")
    return f"no hook case for {rule.id}"


def _torch_axis(shape: Shape | None, perm: tuple[int, ...] | None, axis: object) -> int:
    if not isinstance(axis, int) or shape is None or perm is None:
        return -1 if axis == -1 else (axis if isinstance(axis, int) else -1)
    rank = len(shape)
    a = Layout(perm).axis(axis % rank)
    return -1 if a == rank - 1 else a


def merge(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    """Add/Subtract/Multiply/Concatenate are operators in torch: functional builders write them
    inline (``a + b``, ``torch.cat``); as a stored layer they have no module to become."""
    return "a merge layer outside a functional model: write the operator (a + b, torch.cat) in forward"


def conv_transpose(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    """Conv2DTranspose: Keras 'valid' gives in*s + max(k - s, 0), 'same' in*s; torch gives
    (in - 1)*s - 2p + k + output_padding, so p and output_padding are chosen to match."""
    rule = site.rule
    args = LayerArgs(site.bound)
    k = args.ints("kernel_size", 2, None)
    s = args.ints("strides", 2, 1)
    d = args.ints("dilation_rate", 2, 1)
    padding = args.string("padding", "valid")
    if k is None or s is None or d is None or padding is None:
        return "kernel_size, strides, dilation_rate and padding must be literals"
    if any(v != 1 for v in d) or args.value("output_padding") is not None:
        return "dilation_rate and output_padding are not supported yet"
    pads: list[int] = []
    extra: list[int] = []
    for ki, si in zip(k, s, strict=True):
        if padding == "valid":
            pads.append(0)
            extra.append(max(si - ki, 0))
        elif padding == "same" and (ki - si) % 2 == 0 and ki >= si:
            pads.append((ki - si) // 2)
            extra.append(0)
        else:
            return f"padding={padding!r} with kernel {ki} and stride {si} crops differently in torch"
    in_ch = shape[-1] if shape else None
    out: list[cst.Arg] = []
    if in_ch is not None:
        out.append(kwarg("in_channels", dim_node(in_ch)))
    out += [kwarg("out_channels", site.bound["filters"]), kwarg("kernel_size", site.bound["kernel_size"])]
    if any(v != 1 for v in s):
        out.append(kwarg("stride", site.bound["strides"]))
    if any(pads):
        out.append(kwarg("padding", int_node(pads[0]) if len(set(pads)) == 1 else tuple_node(pads)))
    if any(extra):
        out.append(kwarg("output_padding", int_node(extra[0]) if len(set(extra)) == 1 else tuple_node(extra)))
    handled = (
        "filters",
        "kernel_size",
        "strides",
        "padding",
        "dilation_rate",
        "output_padding",
        "activation",
    )
    rest = _rest(tools, site, handled)
    if isinstance(rest, str):
        return rest
    target = rule.emit if in_ch is not None else rule.lazy
    assert target is not None
    return _out(tools.call(target, order_positional([*out, *rest], rule.signature)), site, rule.weights)


def separable_conv(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    """SeparableConv2D: a depthwise conv (groups=C, no bias) then a 1x1 pointwise conv."""
    from migrator.engine.tf2torch.shapes import mul

    args = LayerArgs(site.bound)
    k = args.ints("kernel_size", 2, None)
    s = args.ints("strides", 2, 1)
    padding = args.string("padding", "valid")
    m = args.dim("depth_multiplier", 1)
    in_ch = shape[-1] if shape else None
    if k is None or s is None or padding is None:
        return "kernel_size, strides and padding must be literals"
    if in_ch is None:
        return "a separable convolution needs its input channels, which could not be inferred"
    if args.value("dilation_rate", 1) not in (1, (1, 1)):
        return "dilation_rate is not supported yet"
    dw: list[cst.Arg] = [
        cst.Arg(dim_node(in_ch)),
        cst.Arg(dim_node(mul(in_ch, m))),
        cst.Arg(site.bound["kernel_size"]),
    ]
    if any(v != 1 for v in s):
        dw.append(kwarg("stride", site.bound["strides"]))
    if padding == "same":
        if all(v == 1 for v in s):
            dw.append(kwarg("padding", cst.SimpleString('"same"')))
        else:
            spatial = shape[1:-1] if shape else None
            if spatial is None or not all(isinstance(x, int) for x in spatial):
                return "'same' padding at stride > 1 depends on the input size, which could not be inferred"
            pads = [same_padding(int(spatial[i]), k[i], s[i], 1) for i in range(2)]  # type: ignore[arg-type]
            if not all(a == b for a, b in pads):
                return (
                    "TF 'same' pads this input asymmetrically; not supported for separable convolutions yet"
                )
            dw.append(kwarg("padding", tuple_node([a for a, _ in pads])))
    elif padding != "valid":
        return f"padding={padding!r} has no torch equivalent"
    dw += [kwarg("groups", dim_node(in_ch)), kwarg("bias", cst.Name("False"))]
    pw: list[cst.Arg] = [
        cst.Arg(dim_node(mul(in_ch, m))),
        cst.Arg(site.bound["filters"]),
        cst.Arg(int_node(1)),
    ]
    if args.value("use_bias", True) is False:
        pw.append(kwarg("bias", cst.Name("False")))
    depthwise = tools.call("torch.nn.Conv2d", dw)
    pointwise = tools.call("torch.nn.Conv2d", pw)
    return _out(
        tools.call("torch.nn.Sequential", [cst.Arg(depthwise), cst.Arg(pointwise)]), site, "separable_conv2d"
    )


def zero_pad(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    """ZeroPadding2D(p): ((top, bottom), (left, right)) in Keras, (left, right, top, bottom) in torch."""
    from migrator.engine.tf2torch.shapes import zero_pad_amounts

    checked = _rest(tools, site, ("padding",))
    if isinstance(checked, str):
        return checked
    pads = zero_pad_amounts(LayerArgs(site.bound), 2)
    if pads is None:
        return "padding must be a literal"
    (t, b), (left, r) = pads
    arg: cst.BaseExpression = int_node(t) if t == b == left == r else tuple_node([left, r, t, b])
    return _out(tools.call("torch.nn.ZeroPad2d", [cst.Arg(arg)]), site, "identity")


def upsample(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    """UpSampling2D(size): nn.Upsample(scale_factor=size); 'bilinear' is half-pixel on both sides."""
    checked = _rest(tools, site, ("size", "interpolation"))
    if isinstance(checked, str):
        return checked
    args = LayerArgs(site.bound)
    size = args.ints("size", 2, 2)
    mode = args.string("interpolation", "nearest")
    if size is None or mode not in ("nearest", "bilinear"):
        return "size must be a literal and interpolation 'nearest' or 'bilinear'"
    factor: cst.BaseExpression = int_node(size[0]) if size[0] == size[1] else tuple_node(list(size))
    out = [kwarg("scale_factor", factor), kwarg("mode", cst.SimpleString(f'"{mode}"'))]
    if mode == "bilinear":
        out.append(kwarg("align_corners", cst.Name("False")))
    return _out(tools.call("torch.nn.Upsample", out), site, "identity")


def commas_elements(items: list[cst.Element]) -> list[cst.Element]:
    space = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    return [e.with_changes(comma=space) if i < len(items) - 1 else e for i, e in enumerate(items)]


def shape_of(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    """ops.shape(x) -> x.shape (the batch axis is axis 0 on both sides)."""
    x = site.bound.get("x")
    if x is None:
        return "ops.shape needs its tensor"
    shape_attr = cst.Attribute(x, cst.Name("shape"))
    lay = site.layouts.get("x")
    if lay is None or lay.is_identity:
        return _out(shape_attr, site, None)
    # a feature map held channels-first: give the sizes in Keras's order
    items = [
        cst.Element(cst.Subscript(shape_attr, [cst.SubscriptElement(cst.Index(int_node(lay.axis(k))))]))
        for k in range(lay.rank)
    ]
    return _out(cst.Tuple(commas_elements(items)), site, None)


def transpose(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    """ops.transpose(x, axes) -> torch.permute(x, axes); without axes Keras reverses every axis."""
    x = site.bound.get("x")
    if x is None:
        return "ops.transpose needs its tensor"
    axes = site.bound.get("axes")
    if axes is None:
        lay = site.layouts.get("x")
        if lay is None:
            return "ops.transpose without axes needs the tensor's rank, which could not be inferred"
        axes = tuple_node(list(reversed(range(lay.rank))))
    return _out(tools.call("torch.permute", [cst.Arg(x), cst.Arg(axes)]), site, None)


def functional_pool(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    """ops.max_pool / ops.average_pool -> F.max_pool{1,2}d / F.avg_pool{1,2}d on the NCHW map."""
    lay = site.layouts.get("inputs")
    if lay is None or lay.rank not in (3, 4):
        return "the input's rank could not be inferred (1-D or 2-D pooling)"
    n = lay.rank - 2
    args = LayerArgs(site.bound)
    k = args.ints("pool_size", n, None)
    st = args.ints("strides", n, k)
    padding = args.string("padding", "valid")
    if k is None or st is None or padding != "valid":
        return "pool_size and strides must be literals, and padding 'valid'"
    avg = (
        site.rule.match[0].endswith("average_pool")
        if site.call is None
        else "average" in code_of(site.call.func)
    )
    name = f"torch.nn.functional.{'avg' if avg else 'max'}_pool{n}d"
    out = [cst.Arg(site.bound["inputs"]), kwarg("kernel_size", site.bound["pool_size"])]
    if st != k:
        out.append(kwarg("stride", site.bound["strides"]))
    return _out(tools.call(name, out), site, None)


def cropping(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    """Cropping2D(((t, b), (l, r))) -> nn.ZeroPad2d((-l, -r, -t, -b)): negative padding crops."""
    from migrator.engine.tf2torch.shapes import crop_amounts

    checked = _rest(tools, site, ("cropping",))
    if isinstance(checked, str):
        return checked
    crops = crop_amounts(LayerArgs(site.bound), 2)
    if crops is None:
        return "cropping must be a literal"
    (t, b), (left, r) = crops
    arg: cst.BaseExpression = int_node(-t) if t == b == left == r else tuple_node([-left, -r, -t, -b])
    return _out(tools.call("torch.nn.ZeroPad2d", [cst.Arg(arg)]), site, "identity")


def sequential(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    return "handled by the engine"  # the engine builds nn.Sequential itself (see transformer._sequential)


KERAS_HOOKS: Mapping[str, KerasHook] = MappingProxyType(
    {
        "keras_conv": conv,
        "keras_pool": pool,
        "keras_global_pool": global_pool,
        "keras_batch_norm": batch_norm,
        "keras_activation": activation_layer,
        "sequential": sequential,
        "keras_merge": merge,
        "keras_conv_transpose": conv_transpose,
        "keras_separable_conv": separable_conv,
        "keras_zero_pad": zero_pad,
        "keras_upsample": upsample,
        "keras_rnn": keras_recurrent.rnn,
        "keras_shape": shape_of,
        "keras_transpose": transpose,
        "keras_functional_pool": functional_pool,
        "keras_cropping": cropping,
        "keras_group_norm": keras_norm_resize.group_norm,
        "keras_rms_norm": keras_norm_resize.rms_norm,
        "keras_unit_norm": keras_norm_resize.unit_norm,
        "keras_prelu": keras_norm_resize.prelu,
        "keras_upsample_1d": keras_norm_resize.upsample_1d,
        "keras_resizing": keras_norm_resize.resizing,
        "keras_zero_pad_1d": keras_norm_resize.zero_pad_1d,
        "keras_cropping_1d": keras_norm_resize.cropping_1d,
        "keras_embedding": keras_norm_resize.embedding,
        "keras_support_instance_norm": keras_norm_resize.support_instance_norm,
        "keras_support_pad": keras_norm_resize.support_pad,
        "keras_support_adaptive_pool": keras_norm_resize.support_adaptive_pool,
        "keras_support_pool": keras_norm_resize.support_pool,
        "keras_bidirectional": keras_recurrent.bidirectional,
        "keras_multi_head_attention": keras_attention.multi_head_attention,
        "keras_dot_product_attention": keras_attention.dot_product_attention,
        "keras_support_encoder_layer": keras_attention.encoder_layer,
        "keras_binary": keras_ops.binary,
        "keras_where": keras_ops.where,
        "keras_reduce_dims": keras_ops.reduce_dims,
        "keras_norm": keras_ops.norm,
        "keras_normalize": keras_ops.normalize,
        "keras_flat_cumulative": keras_ops.flat_cumulative,
        "keras_flip": keras_ops.flip,
        "keras_roll": keras_ops.roll,
        "keras_values": keras_ops.values_of,
        "keras_top_k": keras_ops.top_k,
        "keras_expand_dims": keras_ops.expand_dims,
        "keras_tf_split": keras_ops.tf_split,
        "keras_tile": keras_ops.tile,
        "keras_pad": keras_ops.pad,
        "keras_take": keras_ops.take,
        "keras_take_along": keras_ops.take_along,
        "keras_one_hot": keras_ops.one_hot,
        "keras_dtyped": keras_ops.dtyped,
        "keras_full": keras_ops.full,
        "keras_arange": keras_ops.arange,
        "keras_constant": keras_ops.constant,
        "keras_cast": keras_ops.cast,
        "keras_optimizer": keras_training.keras_optimizer,
        "keras_loss": keras_training.keras_loss,
        "keras_schedule": keras_training.keras_schedule,
        "keras_lr_function": keras_training.keras_lr_function,
        "keras_device": keras_ecosystem.device,
        "keras_list_devices": keras_ecosystem.list_devices,
        "keras_removed": keras_ecosystem.removed,
        "keras_strategy": keras_ecosystem.strategy,
        "keras_summary": keras_ecosystem.summary,
        "keras_function": keras_ecosystem.function,
        "keras_global_policy": keras_ecosystem.global_policy,
        "keras_loss_scale": keras_ecosystem.loss_scale,
        "keras_tensorboard": keras_ecosystem.tensorboard,
        "keras_saved_model": keras_ecosystem.saved_model,
        "keras_from_tensor_slices": keras_ecosystem.from_tensor_slices,
    }
)
