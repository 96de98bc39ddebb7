"""tf2torch hooks: normalisation variants (GroupNormalization, RMSNormalization,
UnitNormalization), PReLU, resizing (UpSampling1D, Resizing), 1-D padding and cropping, Keras
'same' pooling with TF's asymmetric padding, and Embedding(mask_zero=True).

Keras's defaults are made explicit (GroupNormalization epsilon 1e-3, RMSNormalization 1e-6, PReLU
alpha initialised to zeros); where no torch module computes what Keras does, the layers of
``migrator.runtime.torch_support``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from migrator.engine.emitter import code_of, int_node, kwarg, tuple_node
from migrator.engine.layout import Layout
from migrator.engine.site import CallSite, Note
from migrator.engine.tf2torch.emit import dim_node, order_positional
from migrator.engine.tf2torch.shapes import LayerArgs, Shape, pad_pair_1d, same_padding
from migrator.engine.tf2torch.values import channels_first
from migrator.engine.values import format_number
from migrator.transforms.keras_common import layer_out as _out
from migrator.transforms.keras_common import mapped_args as _rest
from migrator.types import Severity

if TYPE_CHECKING:
    from migrator.engine.tf2torch.transformer import KerasToTorch, LayerOut

HELPER = "migrator.runtime.torch_support"
_FALSE = cst.Name("False")


def _float(args: LayerArgs, site: CallSite, name: str, default: float) -> cst.BaseExpression:
    v = args.value(name, default)
    if isinstance(v, int | float) and not isinstance(v, bool):
        return cst.Float(format_number(float(v)))
    return site.bound[name]


def _channels(shape: Shape | None) -> object:
    return shape[-1] if shape else None


def _last_axis(args: LayerArgs, shape: Shape | None) -> bool:
    axis = args.value("axis", -1)
    return axis == -1 or (shape is not None and axis == len(shape) - 1)


# ------------------------------------------------------------------------- normalisation


def group_norm(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    """GroupNormalization(groups=32, epsilon=1e-3) -> nn.GroupNorm(groups, C, eps=0.001);
    groups=-1 is one group per channel; center=scale=False is affine=False."""
    args = LayerArgs(site.bound)
    if not _last_axis(args, shape):
        return "only the channels axis (-1) is supported"
    c = _channels(shape)
    if c is None:
        return "the input channels could not be inferred (torch has no Lazy GroupNorm)"
    groups = args.value("groups", 32)
    if groups == -1:
        g: cst.BaseExpression = dim_node(c)  # type: ignore[arg-type]
    elif isinstance(groups, int) and not isinstance(groups, bool):
        g = int_node(groups)
        if isinstance(c, int) and c % groups:
            return f"groups={groups} does not divide the {c} channels"
    else:
        g = site.bound["groups"]
    center, scale = args.value("center", True), args.value("scale", True)
    if center is not scale or not isinstance(center, bool):
        return "center and scale must both be True or both False (torch has one affine flag)"
    rest = _rest(tools, site, ("groups", "axis", "epsilon", "center", "scale"))
    if isinstance(rest, str):
        return rest
    out = [cst.Arg(g), cst.Arg(dim_node(c)), kwarg("eps", _float(args, site, "epsilon", 1e-3)), *rest]  # type: ignore[arg-type]
    if not center:
        out.append(kwarg("affine", _FALSE))
    assert site.rule.emit is not None
    return _out(tools.call(site.rule.emit, out), site, "layernorm")


def rms_norm(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    """RMSNormalization(axis=-1, epsilon=1e-6) -> nn.RMSNorm(C, eps=1e-06) (torch's default eps is
    float32's machine epsilon). Keras always has the scale: torch's weight."""
    args = LayerArgs(site.bound)
    if not _last_axis(args, shape):
        return "only the last axis is supported"
    c = _channels(shape)
    if c is None:
        return "the input features could not be inferred (torch has no Lazy RMSNorm)"
    rest = _rest(tools, site, ("axis", "epsilon"))
    if isinstance(rest, str):
        return rest
    out = [cst.Arg(dim_node(c)), kwarg("eps", _float(args, site, "epsilon", 1e-6)), *rest]  # type: ignore[arg-type]
    assert site.rule.emit is not None
    result = _out(tools.call(site.rule.emit, out), site, "layernorm")
    result.extra["center"] = False  # the Keras layer has its scale and no offset
    return result


def unit_norm(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    """UnitNormalization(axis) -> torch_support.UnitNormalization(dim): ``x / max(||x||, 1e-12)``
    (Keras: ``x * min(rsqrt(sum x^2), 1e12)``), the axis on the channels-first tensor."""
    args = LayerArgs(site.bound)
    axis = args.value("axis", -1)
    axes = tuple(axis) if isinstance(axis, list | tuple) else (axis,)
    if not all(isinstance(a, int) and not isinstance(a, bool) for a in axes):
        return "axis must be a literal int or list of ints"
    rest = _rest(tools, site, ("axis",))
    if isinstance(rest, str):
        return rest
    if axes == (-1,):
        dims: tuple[int, ...] = (1,)
    elif shape is None:
        return "an axis other than -1 needs the input rank, which could not be inferred"
    else:
        lay = Layout(channels_first(len(shape)))
        dims = tuple(lay.axis(a % len(shape)) for a in axes)
    dim = int_node(dims[0]) if len(dims) == 1 else tuple_node(list(dims))
    return _out(tools.call(f"{HELPER}.UnitNormalization", [kwarg("dim", dim), *rest]), site, "identity")


def prelu(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    """PReLU(shared_axes) -> nn.PReLU(num_parameters=C or 1, init=0.0): torch has one slope per
    channel or one in all, so Keras's alpha must be shared over every axis but the channels (or
    over all). Keras initialises alpha to zeros, torch to 0.25."""
    args = LayerArgs(site.bound)
    if shape is None:
        return "the input shape could not be inferred (the slopes' shape depends on it)"
    rank = len(shape)
    shared = args.value("shared_axes", None)
    if shared is None:
        shared_set: set[int] = set()
    elif isinstance(shared, int) and not isinstance(shared, bool):
        shared_set = {shared}
    elif isinstance(shared, list | tuple) and all(isinstance(a, int) for a in shared):
        shared_set = set(shared)
    else:
        return "shared_axes must be a literal"
    spatial = set(range(1, rank - 1))
    if shared_set == spatial | {rank - 1}:
        n: cst.BaseExpression = int_node(1)
    elif shared_set == spatial:
        c = _channels(shape)
        if c is None:
            return "the input channels could not be inferred"
        n = dim_node(c)  # type: ignore[arg-type]
    else:
        kept = sorted(set(range(1, rank)) - shared_set)
        return (
            f"Keras learns a slope per position of axes {kept}; torch's PReLU has one slope per "
            "channel or one in all (share every axis but the last)"
        )
    init = args.value("alpha_initializer", "Zeros")
    rest = _rest(tools, site, ("shared_axes", "alpha_initializer"))
    if isinstance(rest, str):
        return rest
    if not (isinstance(init, str) and init.lower() == "zeros"):
        why = (
            f"alpha_initializer={code_of(site.bound['alpha_initializer'])}: torch's PReLU starts from "
            "init=0.0 here; set the initial slope by hand if training starts from scratch"
        )
        tools.note(Note(Severity.REVIEW, why))
    assert site.rule.emit is not None
    out = [kwarg("num_parameters", n), kwarg("init", cst.Float("0.0")), *rest]
    return _out(tools.call(site.rule.emit, out), site, "prelu")


# ------------------------------------------------------------------------------ resizing


def upsample_1d(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    """UpSampling1D(size) -> nn.Upsample(scale_factor=size, mode="nearest"): a repeat in both (torch's
    float32 nearest index equals a repeat for factors up to 40)."""
    rest = _rest(tools, site, ("size",))
    if isinstance(rest, str):
        return rest
    size = LayerArgs(site.bound).value("size", 2)
    if not isinstance(size, int) or isinstance(size, bool):
        return "size must be a literal int"
    if size > 32:
        return "size above 32: torch's float32 nearest index is not a repeat for some factors above 40"
    out = [kwarg("scale_factor", int_node(size)), kwarg("mode", cst.SimpleString('"nearest"'))]
    return _out(tools.call("torch.nn.Upsample", out), site, "identity")


def resizing(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    """Resizing(h, w) -> nn.Upsample(size=(h, w), mode="bilinear", align_corners=False) (half-pixel
    in both, no antialiasing); interpolation="nearest" is torch's "nearest-exact"."""
    args = LayerArgs(site.bound)
    if "height" not in site.bound or "width" not in site.bound:
        return "height and width are required"
    mode = args.string("interpolation", "bilinear")
    if mode not in ("bilinear", "nearest"):
        given = code_of(site.bound["interpolation"]) if "interpolation" in site.bound else "?"
        return f"interpolation={given}: no torch mode computes the same (bicubic: Keys a=-0.5, torch a=-0.75)"
    for flag, why in (
        ("crop_to_aspect_ratio", "crops the input to the output's aspect ratio first"),
        ("pad_to_aspect_ratio", "pads the input to the output's aspect ratio first"),
        ("antialias", "antialiased downsampling differs"),
    ):
        if args.value(flag, False) is not False:
            return f"{flag}=True: {why}; not migrated"
    rest = _rest(
        tools,
        site,
        (
            "height",
            "width",
            "interpolation",
            "crop_to_aspect_ratio",
            "pad_to_aspect_ratio",
            "antialias",
            "fill_mode",
            "fill_value",
        ),
    )
    if isinstance(rest, str):
        return rest
    size = cst.Tuple(
        [
            cst.Element(site.bound["height"], comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))),
            cst.Element(site.bound["width"]),
        ]
    )
    out = [
        kwarg("size", size),
        kwarg("mode", cst.SimpleString(f'"{"nearest-exact" if mode == "nearest" else mode}"')),
    ]
    if mode == "bilinear":
        out.append(kwarg("align_corners", _FALSE))
    return _out(tools.call("torch.nn.Upsample", out), site, "identity")


def zero_pad_1d(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    """ZeroPadding1D(p or (a, b)) -> nn.ConstantPad1d((a, b), 0.0) on (N, C, L)."""
    return _pad_1d(tools, site, "padding", 1, 1)


def cropping_1d(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    """Cropping1D((a, b)) -> nn.ConstantPad1d((-a, -b), 0.0): negative padding crops."""
    return _pad_1d(tools, site, "cropping", (1, 1), -1)


def _pad_1d(tools: KerasToTorch, site: CallSite, name: str, default: object, sign: int) -> LayerOut | str:
    rest = _rest(tools, site, (name,))
    if isinstance(rest, str):
        return rest
    pair = pad_pair_1d(LayerArgs(site.bound), name, default)
    if pair is None:
        return f"{name} must be a literal int or pair"
    amounts = tuple_node([sign * pair[0], sign * pair[1]])
    return _out(
        tools.call("torch.nn.ConstantPad1d", [cst.Arg(amounts), cst.Arg(cst.Float("0.0"))]), site, "identity"
    )


# ------------------------------------------------------------------------------- pooling


def same_pool(
    tools: KerasToTorch,
    site: CallSite,
    shape: Shape | None,
    k: tuple[int, ...],
    s: tuple[int, ...],
    out: list[cst.Arg],
) -> LayerOut | str:
    """Keras 'same' pooling: TF pads ``total // 2`` before and the rest after, and max and average
    pooling both ignore the padding. Per axis:

    * stride 1: TF pads ``(k - 1) // 2`` and ``k // 2`` whatever the size: torch's ``padding``
      (average: ``count_include_pad=False``), or for an even window one more and the first output
      cropped;
    * stride > 1, window <= 2: TF never pads before, and at most one pixel after: torch's
      ``ceil_mode=True``, whose overhanging last window is clipped the same way, for every size;
    * stride > 1, window >= 3: the padding depends on the size: with the size known, torch's
      ``padding`` (and ``ceil_mode=True`` where TF pads one more after); unknown, torch_support's
      Keras{Max,Avg}PoolSame, which pads as TF does for each input.

    Output sizes agree for every size, window and stride (checked by brute force up to 80 x 7 x 7),
    also where ``ceil_mode`` is on for another axis."""
    rule = site.rule
    n = len(k)
    avg = "Avg" in (rule.emit or "")
    assert rule.emit is not None
    spatial = shape[1:-1] if shape else None
    padding: list[int] = []
    crop: list[int] = []
    ceil = False
    for i in range(n):
        if s[i] == 1:
            before, after = (k[i] - 1) // 2, k[i] // 2
            padding.append(after)
            crop.append(after - before)
        elif k[i] <= 2:
            padding.append(0)
            crop.append(0)
            ceil = True
        elif spatial is not None and isinstance(spatial[i], int):
            before, after = same_padding(int(spatial[i]), k[i], s[i], 1)  # type: ignore[arg-type]
            padding.append(before)
            crop.append(0)
            ceil = ceil or after > before
        else:
            args = [kwarg("kernel_size", tuple_node(list(k))), kwarg("stride", tuple_node(list(s)))]
            why = "runtime helper: TF's 'same' padding depends on the input size, known only when it runs"
            tools.note(Note(Severity.MIGRATED, why))
            return _out(
                tools.call(f"{HELPER}.Keras{'Avg' if avg else 'Max'}PoolSame", args), site, "identity"
            )
    if any(padding):
        out.append(kwarg("padding", int_node(padding[0]) if len(set(padding)) == 1 else tuple_node(padding)))
    if ceil:
        out.append(kwarg("ceil_mode", cst.Name("True")))
    if avg and (any(padding) or ceil):
        out.append(kwarg("count_include_pad", _FALSE))
    pool = tools.call(rule.emit, order_positional(out, rule.signature))
    if not any(crop):
        return _out(pool, site, "identity")
    if n == 1:
        cut = tools.call("torch.nn.ConstantPad1d", [cst.Arg(tuple_node([-1, 0])), cst.Arg(cst.Float("0.0"))])
    else:
        cut = tools.call("torch.nn.ZeroPad2d", [cst.Arg(tuple_node([-crop[1], 0, -crop[0], 0]))])
    why = "TF's extra pixel after: torch pads one more on both sides, the first output cropped"
    tools.note(Note(Severity.MIGRATED, why))
    return _out(tools.call("torch.nn.Sequential", [cst.Arg(pool), cst.Arg(cut)]), site, "identity", "0")


# ------------------------------------------------------- keras_support helpers, migrated back
# A torch2tf output uses keras_support layers where Keras lacks torch's arithmetic; migrated back
# they are the torch modules they came from, of the input's rank.


def _spatial_dims(shape: Shape | None, site: CallSite, names: tuple[str, ...]) -> int | None:
    """How many spatial axes: from the input shape, else from a tuple argument's length."""
    if shape is not None:
        return len(shape) - 2
    args = LayerArgs(site.bound)
    for name in names:
        v = args.value(name)
        if isinstance(v, list | tuple):
            return len(v)
    return None


def _passed(site: CallSite, names: tuple[str, ...]) -> list[cst.Arg]:
    return [kwarg(name, site.bound[name]) for name in names if name in site.bound]


def support_instance_norm(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    """keras_support.InstanceNorm(C, eps, momentum, affine) -> nn.InstanceNorm{1,2,3}d(...,
    track_running_stats=True)."""
    n = _spatial_dims(shape, site, ())
    if n is None or n not in (1, 2, 3):
        return "the input rank could not be inferred (InstanceNorm1d, 2d or 3d)"
    affine = LayerArgs(site.bound).value("affine", False)
    if not isinstance(affine, bool):
        return "affine must be a literal True/False"
    rest = _rest(tools, site, ("num_features", "eps", "momentum", "affine"))
    if isinstance(rest, str):
        return rest
    args = [cst.Arg(site.bound["num_features"]), *_passed(site, ("eps", "momentum", "affine")), *rest]
    args.append(kwarg("track_running_stats", cst.Name("True")))
    result = _out(tools.call(f"torch.nn.InstanceNorm{n}d", args), site, "batchnorm")
    if not affine:
        result.extra.update(center=False, scale=False)
    return result


_PAD_CLASSES = {
    "reflect": "Reflection",
    "replicate": "Replication",
    "circular": "Circular",
    "constant": "Constant",
}


def support_pad(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    """keras_support.Pad(padding, mode) -> nn.ReflectionPad{n}d / ReplicationPad / CircularPad /
    ConstantPad, torch's padding order (the last axis first)."""
    from migrator.engine.tf2torch.shapes import support_pad_pairs

    args = LayerArgs(site.bound)
    n = _spatial_dims(shape, site, ("padding",))
    mode = args.string("mode", "reflect")
    if n is None or n not in (1, 2, 3):
        return "the input rank could not be inferred"
    if mode not in _PAD_CLASSES:
        return "mode must be a literal 'reflect', 'replicate', 'circular' or 'constant'"
    pairs = support_pad_pairs(args, n)
    value = args.value("value", 0.0)
    if pairs is None or not isinstance(value, int | float):
        return "padding and value must be literals"
    rest = _rest(tools, site, ("padding", "mode", "value"))
    if isinstance(rest, str):
        return rest
    flat = [v for pair in reversed(pairs) for v in pair]
    amounts: cst.BaseExpression = int_node(flat[0]) if len(set(flat)) == 1 else tuple_node(flat)
    out = [cst.Arg(amounts)]
    if mode == "constant":
        out.append(cst.Arg(cst.Float(format_number(float(value)))))
    return _out(tools.call(f"torch.nn.{_PAD_CLASSES[mode]}Pad{n}d", out), site, "identity")


def support_adaptive_pool(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    """keras_support.AdaptiveAvgPool / AdaptiveMaxPool(output_size) -> nn.Adaptive*Pool{n}d."""
    n = _spatial_dims(shape, site, ("output_size",))
    if n is None or n not in (1, 2, 3):
        return "the input rank could not be inferred"
    rest = _rest(tools, site, ("output_size",))
    if isinstance(rest, str):
        return rest
    kind = "Max" if site.rule.match[0].endswith("MaxPool") else "Avg"
    layer = tools.call(f"torch.nn.Adaptive{kind}Pool{n}d", [cst.Arg(site.bound["output_size"]), *rest])
    return _out(layer, site, "identity")


def support_pool(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    """keras_support.MaxPool / AvgPool (torch's arguments) -> nn.MaxPool{n}d / nn.AvgPool{n}d."""
    n = _spatial_dims(shape, site, ("kernel_size", "stride", "padding"))
    if n is None or n not in (1, 2):
        return "the input rank could not be inferred"
    names = ("stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")
    rest = _rest(tools, site, ("kernel_size", *names))
    if isinstance(rest, str):
        return rest
    kind = "Max" if site.rule.match[0].endswith("MaxPool") else "Avg"
    layer = tools.call(
        f"torch.nn.{kind}Pool{n}d", [cst.Arg(site.bound["kernel_size"]), *_passed(site, names), *rest]
    )
    return _out(layer, site, "identity")


# ------------------------------------------------------------------------------ embedding

# Keras layers that read the mask an Embedding(mask_zero=True) attaches to its output
MASK_READERS = frozenset(
    {
        "keras.layers.LSTM",
        "keras.layers.GRU",
        "keras.layers.SimpleRNN",
        "keras.layers.RNN",
        "keras.layers.Bidirectional",
        "keras.layers.ConvLSTM1D",
        "keras.layers.MultiHeadAttention",
        "keras.layers.Attention",
        "keras.layers.AdditiveAttention",
        "keras.layers.GlobalAveragePooling1D",
        "keras.layers.GlobalAvgPool1D",
        "keras.layers.TimeDistributed",
        "keras.layers.Masking",
    }
)


def _mask_readers(tools: KerasToTorch) -> list[str]:
    """Every mask-reading Keras layer built in the file, in order."""
    from migrator.engine.tf2torch.analysis import canonical

    found: list[str] = []

    class Finder(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> None:
            name = canonical(tools.imports.resolve(node.func))
            if name in MASK_READERS:
                found.append(name)

    tools.analysis.module.visit(Finder())
    return found


def embedding(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    """Embedding(n, d) -> nn.Embedding(n, d). mask_zero=True: the embedding itself is the same, but
    Keras attaches a mask that recurrent, attention and masked-pooling layers (and a compiled loss)
    then follow; torch has no implicit masks. Unsupported when the file builds such a layer, for
    review when it trains, otherwise migrated with a note."""
    rule = site.rule
    mask = LayerArgs(site.bound).value("mask_zero", False)
    if mask not in (True, False):
        return "mask_zero must be a literal True/False"
    rest = _rest(tools, site, ("mask_zero",))
    if isinstance(rest, str):
        return rest
    if mask:
        readers = _mask_readers(tools)
        if readers:
            return (
                f"mask_zero=True: Keras passes the padding mask to {readers[0].rsplit('.', 1)[-1]}, which "
                "skips the masked steps; torch has no implicit masks (pass lengths or a mask explicitly)"
            )
        if tools.train_plan.trains:
            why = (
                "mask_zero=True: the outputs are the same, but a mask that reaches the model's output "
                "also masks the compiled loss in Keras; torch's loss counts every position"
            )
            tools.note(Note(Severity.REVIEW, why))
        else:
            why = "mask_zero=True dropped: no layer in this file reads Keras's mask"
            tools.note(Note(Severity.MIGRATED, why))
    assert rule.emit is not None
    return _out(tools.call(rule.emit, order_positional(rest, rule.signature)), site, rule.weights)


__all__ = [
    "MASK_READERS",
    "cropping_1d",
    "embedding",
    "group_norm",
    "prelu",
    "resizing",
    "rms_norm",
    "same_pool",
    "support_adaptive_pool",
    "support_instance_norm",
    "support_pad",
    "support_pool",
    "unit_norm",
    "upsample_1d",
    "zero_pad_1d",
]
