"""torch2tf hooks: normalisation variants (GroupNorm, InstanceNorm, RMSNorm), PReLU, resizing
(Upsample, F.interpolate), adaptive pooling with output sizes above 1, torch pooling options
(ceil_mode, count_include_pad), padding modes (reflect, replicate, circular) and Embedding's
padding_idx when the file trains (SEMANTICS.md 1.1-1.3).

Stock Keras layers where they compute exactly what torch does; otherwise the layers of
``migrator.runtime.keras_support`` (torch's arithmetic on channels-last tensors)."""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from migrator.engine.layout import channels_last
from migrator.engine.site import CallSite, HookResult, ModuleInfo, Note, Tools
from migrator.rules.schema import Contract
from migrator.transforms.common import (
    NOT_LITERAL,
    code_of,
    int_node,
    kwarg,
    literal,
    str_node,
    tuple_node,
    value_node,
)
from migrator.types import Severity

HELPER = "migrator.runtime.keras_support"
FLOAT32_EPS = "1.1920928955078125e-07"  # torch.finfo(torch.float32).eps: RMSNorm's eps=None
MAX_REPEAT_FACTOR = 32  # torch's float32 nearest index equals a repeat up to 40 (measured); margin kept
_TRUE, _FALSE = cst.Name("True"), cst.Name("False")


def _info(
    site: CallSite,
    transform: str | None,
    contract: Contract = Contract.CHANNELS,
    rank: int | None = None,
    suffix: str = "",
    **extra: object,
) -> ModuleInfo:
    return ModuleInfo(
        contract,
        rank=rank if rank is not None else site.rule.rank,
        rule_id=site.rule.id,
        transform=transform,
        target_suffix=suffix,
        line=site.line,
        extra=dict(extra),
    )


def _helper_note(why: str) -> Note:
    return Note(Severity.MIGRATED, f"runtime helper: {why}")


def _flag(site: CallSite, name: str, default: bool) -> bool | None:
    """A literal bool argument, its default when absent, None when it is not a literal bool."""
    if name not in site.bound:
        return default
    v = literal(site.bound[name])
    return v if isinstance(v, bool) else None


# ------------------------------------------------------------------------- normalisation


def group_norm(site: CallSite, tools: Tools) -> HookResult | str:
    """GroupNorm(G, C): GroupNormalization(groups=G, epsilon=1e-5) on the channels-last axis (Keras
    defaults: groups=32, epsilon=1e-3); affine=False is center=False, scale=False."""
    affine = _flag(site, "affine", True)
    if affine is None:
        return "affine must be a literal True/False"
    mapped = tools.map_args(site, skip=("affine",))
    if mapped.unsupported is not None:
        return mapped.unsupported
    args = list(mapped.args)
    if not affine:
        args += [kwarg("center", _FALSE), kwarg("scale", _FALSE)]
    layer = tools.call("keras.layers.GroupNormalization", args)
    return HookResult(layer, module=_info(site, site.rule.weights), notes=mapped.notes)


def instance_norm(site: CallSite, tools: Tools) -> HookResult | str:
    """InstanceNorm{1,2}d(C): GroupNormalization(groups=C, epsilon=1e-5) (one group per channel);
    with track_running_stats=True, the runtime helper keras_support.InstanceNorm."""
    b = site.bound
    affine = _flag(site, "affine", False)
    track = _flag(site, "track_running_stats", False)
    if affine is None or track is None:
        return "affine and track_running_stats must be literal True/False"
    mapped = tools.map_args(site, skip=("num_features", "eps", "momentum", "affine", "track_running_stats"))
    if mapped.unsupported is not None:
        return mapped.unsupported
    eps = b.get("eps", cst.Float("1e-05"))
    if not track:
        args = [kwarg("groups", b["num_features"]), kwarg("epsilon", eps)]
        if not affine:
            args += [kwarg("center", _FALSE), kwarg("scale", _FALSE)]
        layer = tools.call("keras.layers.GroupNormalization", args)
        return HookResult(layer, module=_info(site, "layernorm"))
    if "momentum" in b and literal(b["momentum"]) is None:
        return "momentum=None (cumulative moving average) has no Keras equivalent"
    args = [cst.Arg(b["num_features"]), kwarg("eps", eps)]
    if "momentum" in b:
        args.append(kwarg("momentum", b["momentum"]))
    args.append(kwarg("affine", _TRUE if affine else _FALSE))
    layer = tools.call(f"{HELPER}.InstanceNorm", args)
    note = _helper_note(
        "track_running_stats=True: instance statistics in training, running statistics at inference "
        "(no Keras layer does both)"
    )
    return HookResult(layer, module=_info(site, "batchnorm"), notes=(note,))


def _shape_rank(node: cst.BaseExpression | None) -> int:
    """How many trailing dims a normalized_shape names (1 for an int or an unknown value)."""
    if node is None:
        return 1
    v = literal(node)
    if isinstance(v, list | tuple):
        return len(v)
    if isinstance(node, cst.List | cst.Tuple):
        return len(node.elements)
    return 1


def _axes(k: int) -> cst.BaseExpression:
    if k == 1:
        return int_node(-1)
    space = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    return cst.List(
        [
            cst.Element(int_node(i), comma=space if i < k else cst.MaybeSentinel.DEFAULT)
            for i in range(1, k + 1)
        ]
    )


def rms_norm(site: CallSite, tools: Tools) -> HookResult | str:
    """RMSNorm(shape, eps=None): RMSNormalization(axis, epsilon) with torch's eps made explicit
    (None is float32's machine epsilon; Keras's default is 1e-6). Without the affine weight, Keras's
    RMSNormalization would still learn a scale: ``keras.ops.rms_normalization`` in a Lambda."""
    b = site.bound
    affine = _flag(site, "elementwise_affine", True)
    if affine is None:
        return "elementwise_affine must be a literal True/False"
    k = _shape_rank(b.get("normalized_shape"))
    eps_node = b.get("eps")
    notes: list[Note] = []
    if eps_node is None or literal(eps_node) is None:
        eps: cst.BaseExpression = cst.Float(FLOAT32_EPS)
        notes.append(Note(Severity.MIGRATED, "eps=None is torch.finfo(float32).eps, written out"))
    else:
        eps = eps_node
    axis = _axes(k)
    if affine:
        layer: cst.BaseExpression = tools.call(
            "keras.layers.RMSNormalization", [kwarg("axis", axis), kwarg("epsilon", eps)]
        )
    else:
        fn = tools.code(
            f"lambda t: keras.ops.rms_normalization(t, axis={code_of(axis)}, epsilon={code_of(eps)})"
        )
        layer = tools.call("keras.layers.Lambda", [cst.Arg(fn)])
    if k == 1:
        info = _info(site, "layernorm", Contract.LAST_DIM)
    else:
        info = _info(site, "layernorm", Contract.CHANNELS, rank=k + 1, layernorm_rank=k)
    return HookResult(layer, module=info, notes=tuple(notes))


def prelu(site: CallSite, tools: Tools) -> HookResult | str:
    """PReLU(num_parameters, init): keras_support.PReLU, one slope per channel on the last axis (or
    one in all) whatever the input rank; Keras's PReLU needs shared_axes written for one rank."""
    mapped = tools.map_args(site)
    if mapped.unsupported is not None:
        return mapped.unsupported
    n = literal(site.bound["num_parameters"]) if "num_parameters" in site.bound else 1
    layer = tools.call(f"{HELPER}.PReLU", mapped.args)
    note = _helper_note("Keras's PReLU takes shared_axes for one input rank; torch's works on any")
    contract = Contract.ELEMENTWISE if n == 1 else Contract.CHANNELS
    return HookResult(layer, module=_info(site, site.rule.weights, contract), notes=(*mapped.notes, note))


# ------------------------------------------------------------------------------ resizing

_RANK_OF_MODE = {"linear": 3, "bilinear": 4, "bicubic": 4, "trilinear": 5}
_MODES = ("nearest", "nearest-exact", "linear", "bilinear", "trilinear", "area")


class _Resize:
    """The arguments of one nn.Upsample / F.interpolate call, read literally where possible."""

    def __init__(self, site: CallSite, mode: str | None, corners: bool | None) -> None:
        b = site.bound
        self.size = b.get("size")
        self.scale = b.get("scale_factor")
        self.mode = mode if mode is not None else literal(b["mode"]) if "mode" in b else "nearest"
        self.corners = (
            corners if corners is not None else literal(b["align_corners"]) if "align_corners" in b else None
        )
        self.recompute = literal(b["recompute_scale_factor"]) if "recompute_scale_factor" in b else None
        self.antialias = literal(b["antialias"]) if "antialias" in b else False

    def problem(self) -> str | None:
        if not isinstance(self.mode, str):
            return "mode must be a literal string"
        if self.mode == "bicubic":
            return "mode='bicubic': torch uses a = -0.75, TensorFlow a = -0.5 (Keys); no exact Keras form"
        if self.mode not in _MODES:
            return f"mode={self.mode!r} has no Keras form"
        if (self.size is None) == (self.scale is None):
            return "exactly one of size and scale_factor must be given"
        if self.corners not in (None, True, False):
            return "align_corners must be a literal True/False"
        if self.corners and self.mode not in ("linear", "bilinear", "trilinear"):
            return f"align_corners=True only applies to linear modes, not {self.mode!r}"
        if self.recompute not in (None, True, False):
            return "recompute_scale_factor must be a literal"
        if self.antialias is not False:
            return "antialias=True has no exact Keras form"
        return None

    def rank(self) -> int | None:
        if isinstance(self.mode, str) and self.mode in _RANK_OF_MODE:
            return _RANK_OF_MODE[self.mode]
        for node in (self.size, self.scale):
            v = literal(node) if node is not None else NOT_LITERAL
            if isinstance(v, list | tuple):
                return len(v) + 2
        return None

    def int_factors(self, n: int) -> tuple[int, ...] | None:
        """The scale factor as n positive ints (2, 2.0 or (2, 3)), None otherwise."""
        if self.scale is None:
            return None
        v = literal(self.scale)
        items = list(v) if isinstance(v, list | tuple) else [v] * n
        if len(items) != n or not all(
            isinstance(i, int | float) and not isinstance(i, bool) and float(i).is_integer() and i >= 1
            for i in items
        ):
            return None
        return tuple(int(i) for i in items)

    def helper_args(self) -> list[cst.Arg]:
        args: list[cst.Arg] = []
        if self.size is not None:
            args.append(kwarg("size", self.size))
        if self.scale is not None:
            args.append(kwarg("scale_factor", self.scale))
        args.append(kwarg("mode", str_node(str(self.mode))))
        if self.corners is not None and self.mode in ("linear", "bilinear", "trilinear"):
            args.append(kwarg("align_corners", _TRUE if self.corners else _FALSE))
        if self.recompute:
            args.append(kwarg("recompute_scale_factor", _TRUE))
        return args

    def why_helper(self) -> str:
        if self.corners:
            return "align_corners=True has no Keras option"
        if self.mode == "nearest" and self.size is not None:
            return "torch's nearest takes floor(dst * in / out); Keras's nearest is torch's nearest-exact"
        if self.mode == "nearest-exact":
            return "torch's nearest-exact index arithmetic (float32) kept exactly"
        if self.mode == "area":
            return "mode='area' is adaptive average pooling with torch's bins"
        return (
            "torch maps coordinates with 1 / scale_factor (Keras: in / out), and rounds indices its own way"
        )


def _factor_node(f: tuple[int, ...]) -> cst.BaseExpression:
    return int_node(f[0]) if len(set(f)) == 1 else tuple_node(list(f))


def upsample(site: CallSite, tools: Tools) -> HookResult | str:
    """nn.Upsample / UpsamplingNearest2d / UpsamplingBilinear2d. Stock where exact: nearest by an
    integer factor is UpSampling{1,2,3}D (a repeat), bilinear by an integer factor is
    UpSampling2D(interpolation="bilinear"), bilinear to a size is Resizing; the rest
    keras_support.Interpolate with torch's index arithmetic."""
    kind = site.rule.match[0].rsplit(".", 1)[-1]
    mode = {"UpsamplingNearest2d": "nearest", "UpsamplingBilinear2d": "bilinear"}.get(kind)
    r = _Resize(site, mode, True if kind == "UpsamplingBilinear2d" else None)
    why = r.problem()
    if why is not None:
        return why
    known = r.rank() if kind == "Upsample" else 4
    rank = known or 4
    n = rank - 2
    factors = r.int_factors(n)
    notes: list[Note] = []
    if known is None:
        notes.append(
            Note(Severity.MIGRATED, "taken to be 2-D (N, C, H, W): size/scale_factor do not give the rank")
        )
    info = _info(site, "identity", rank=rank)
    if r.mode == "nearest" and factors is not None and max(factors) <= MAX_REPEAT_FACTOR:
        layer = tools.call(f"keras.layers.UpSampling{n}D", [kwarg("size", _factor_node(factors))])
        return HookResult(layer, module=info, notes=tuple(notes))
    if r.mode == "bilinear" and not r.corners:
        if factors is not None:
            args = [kwarg("size", _factor_node(factors)), kwarg("interpolation", str_node("bilinear"))]
            return HookResult(tools.call("keras.layers.UpSampling2D", args), module=info, notes=tuple(notes))
        if r.size is not None:
            hw = _two(r.size)
            if hw is not None:
                args = [
                    kwarg("height", hw[0]),
                    kwarg("width", hw[1]),
                    kwarg("interpolation", str_node("bilinear")),
                ]
                return HookResult(tools.call("keras.layers.Resizing", args), module=info, notes=tuple(notes))
    layer = tools.call(f"{HELPER}.Interpolate", r.helper_args())
    return HookResult(layer, module=info, notes=(*notes, _helper_note(r.why_helper())))


def _two(size: cst.BaseExpression) -> tuple[cst.BaseExpression, cst.BaseExpression] | None:
    """(height, width) code of a 2-D size: an int, a literal pair, or a 2-element tuple/list."""
    v = literal(size)
    if isinstance(v, int) and not isinstance(v, bool):
        return size, size
    if isinstance(size, cst.Tuple | cst.List) and len(size.elements) == 2:
        return size.elements[0].value, size.elements[1].value
    return None


def _shape_slice(node: cst.BaseExpression, tools: Tools) -> cst.BaseExpression | None:
    """``size=skip.shape[2:]`` (or ``skip.size()[-2:]``): the sizes of another tensor, sliced in
    torch's order. For a tensor held channels-last, the same sizes in Keras's order
    (``ops.shape(skip)[1:3]``); None when the node is not such a slice or the layout is unknown."""
    if not isinstance(node, cst.Subscript) or len(node.slice) != 1:
        return None
    part = node.slice[0].slice
    if not isinstance(part, cst.Slice) or part.step is not None:
        return None
    owner = node.value
    if isinstance(owner, cst.Attribute) and owner.attr.value == "shape":
        tensor = owner.value
    elif isinstance(owner, cst.Call) and code_of(owner.func).endswith("shape") and len(owner.args) == 1:
        tensor = owner.args[0].value
    else:
        return None
    lay = tools.layout_of(tensor)
    lower = literal(part.lower) if part.lower is not None else None
    upper = literal(part.upper) if part.upper is not None else None
    if lay is None or not all(
        v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in (lower, upper)
    ):
        return None
    axes = [lay.axis(d) for d in list(range(lay.rank))[lower:upper]]
    shape = tools.call("keras.ops.shape", [cst.Arg(tensor)])
    if axes and axes == list(range(axes[0], axes[-1] + 1)):
        piece = cst.Slice(lower=int_node(axes[0]), upper=int_node(axes[-1] + 1))
        return cst.Subscript(shape, [cst.SubscriptElement(piece)])
    space = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    items = [cst.Subscript(shape, [cst.SubscriptElement(cst.Index(int_node(a)))]) for a in axes]
    return cst.Tuple(
        [
            cst.Element(e, comma=space if i < len(items) - 1 else cst.MaybeSentinel.DEFAULT)
            for i, e in enumerate(items)
        ]
    )


def interpolate_fn(site: CallSite, tools: Tools) -> HookResult | str:
    """F.interpolate / F.upsample in forward, on the channels-last tensor: a repeat for nearest by
    an integer factor, ``ops.image.resize`` for bilinear to a size, else
    ``keras_support.interpolate`` (torch's arithmetic)."""
    r = _Resize(site, None, None)
    why = r.problem()
    if why is not None:
        return why
    x = site.bound["input"]
    lay = site.layouts.get("input")
    rank = lay.rank if lay is not None else r.rank()
    notes: list[Note] = []
    if rank is None or rank < 3:
        return "the input's rank is not known (give size/scale_factor as a tuple, or a linear mode)"
    if lay is None:
        notes.append(Note(Severity.REVIEW, "the input's layout is not known: taken to be channels-last"))
    elif lay != channels_last(rank):
        x = tools.convert(x, lay, channels_last(rank))
    n = rank - 2
    if r.size is not None:
        r.size = _shape_slice(r.size, tools) or r.size
    factors = r.int_factors(n)
    out_layout = channels_last(rank)
    if r.mode == "nearest" and factors is not None and max(factors) <= MAX_REPEAT_FACTOR:
        for i, f in enumerate(factors):
            if f != 1:
                x = tools.call(
                    "keras.ops.repeat", [cst.Arg(x), cst.Arg(int_node(f)), kwarg("axis", int_node(i + 1))]
                )
        return HookResult(x, layout=out_layout, notes=tuple(notes))
    if r.mode == "bilinear" and not r.corners and r.size is not None and n == 2:
        hw = _two(r.size)
        if hw is not None:
            size = cst.Tuple(
                [
                    cst.Element(hw[0], comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))),
                    cst.Element(hw[1]),
                ]
            )
            expr = tools.call(
                "keras.ops.image.resize",
                [cst.Arg(x), cst.Arg(size), kwarg("interpolation", str_node("bilinear"))],
            )
            return HookResult(expr, layout=out_layout, notes=tuple(notes))
    expr = tools.call(f"{HELPER}.interpolate", [cst.Arg(x), *r.helper_args()])
    return HookResult(expr, layout=out_layout, notes=(*notes, _helper_note(r.why_helper())))


# ------------------------------------------------------------------------------- pooling


def _is_one(size: object, n: int) -> bool:
    return size == 1 or size == (1,) * n or size == [1] * n


def adaptive_pool(site: CallSite, tools: Tools) -> HookResult | str:
    """AdaptiveAvg/MaxPool{1,2}d: output size 1 is a global pooling with keepdims; other sizes
    keras_support.AdaptiveAvgPool/AdaptiveMaxPool, torch's bins (uneven when the output size does
    not divide the input)."""
    assert site.rule.rank is not None
    n = site.rule.rank - 2
    is_max = "Max" in site.rule.match[0]
    if "return_indices" in site.bound and literal(site.bound["return_indices"]) is not False:
        return "return_indices=True: Keras pooling does not return indices"
    node = site.bound.get("output_size")
    if node is None:
        return "output_size is required"
    size = literal(node)
    kind = "Max" if is_max else "Average"
    if _is_one(size, n):
        layer = tools.call(f"keras.layers.Global{kind}Pooling{n}D", [kwarg("keepdims", _TRUE)])
        return HookResult(layer, module=_info(site, "identity"))
    layer = tools.call(f"{HELPER}.Adaptive{'Max' if is_max else 'Avg'}Pool", [kwarg("output_size", node)])
    note = _helper_note("torch's adaptive bins [floor(i*in/out), ceil((i+1)*in/out)) have no Keras layer")
    return HookResult(layer, module=_info(site, "identity"), notes=(note,))


def torch_pool(
    site: CallSite,
    tools: Tools,
    k: tuple[int, ...],
    s: tuple[int, ...],
    p: tuple[int, ...],
    is_max: bool,
) -> HookResult | str:
    """Max/AvgPool with ceil_mode=True, or average pooling with padding and count_include_pad=False
    where Keras 'same' is not exact: keras_support.MaxPool/AvgPool. Stock 'same' is exact in ceil
    mode only without padding, with kernel == stride <= 2 (TF puts a lone extra pixel after)."""
    n = len(k)
    b = site.bound
    ceil = _flag(site, "ceil_mode", False)
    include = _flag(site, "count_include_pad", True)
    if ceil is None or include is None:
        return "ceil_mode and count_include_pad must be literal True/False"
    if any(2 * pi > ki for pi, ki in zip(p, k, strict=True)):
        return "padding larger than half the kernel (torch refuses it)"
    mapped = tools.map_args(site, skip=("padding", "ceil_mode", "count_include_pad", "divisor_override"))
    if mapped.unsupported is not None:
        return mapped.unsupported
    has_divisor = "divisor_override" in b and literal(b["divisor_override"]) is not None
    if (
        ceil
        and not has_divisor
        and all(pi == 0 and ki == si and si <= 2 for pi, ki, si in zip(p, k, s, strict=True))
    ):
        args = [*mapped.args, kwarg("padding", str_node("same"))]
        target = f"keras.layers.{'Max' if is_max else 'Average'}Pooling{n}D"
        note = Note(
            Severity.MIGRATED, "ceil_mode=True without padding, kernel == stride <= 2: TF 'same' is exact"
        )
        return HookResult(
            tools.call(target, args), module=_info(site, "identity"), notes=(*mapped.notes, note)
        )
    args = [kwarg("kernel_size", b["kernel_size"])]
    if b.get("stride") is not None and literal(b["stride"]) is not None:
        args.append(kwarg("stride", b["stride"]))
    if any(p):
        args.append(kwarg("padding", value_node(p)))
    if ceil:
        args.append(kwarg("ceil_mode", _TRUE))
    if not is_max and not include:
        args.append(kwarg("count_include_pad", _FALSE))
    if has_divisor:
        args.append(kwarg("divisor_override", b["divisor_override"]))
    layer = tools.call(f"{HELPER}.{'MaxPool' if is_max else 'AvgPool'}", args)
    why = "ceil_mode=True: torch's output size and window overhang" if ceil else "count_include_pad=False"
    return HookResult(
        layer, module=_info(site, "identity"), notes=(_helper_note(f"{why} have no exact Keras form"),)
    )


# ------------------------------------------------------------------------------- padding


def _pad_pairs(node: cst.BaseExpression, n: int) -> tuple[tuple[int, int], ...] | None:
    """torch's padding of a ReflectionPad{n}d & co (last axis first: (left, right, top, bottom)) as
    (before, after) per spatial axis, first axis first."""
    v = literal(node)
    if isinstance(v, int) and not isinstance(v, bool):
        return ((v, v),) * n
    if isinstance(v, list | tuple) and len(v) == 2 * n and all(isinstance(i, int) for i in v):
        pairs = [(v[2 * i], v[2 * i + 1]) for i in range(n)]
        return tuple(reversed(pairs))
    return None


def pairs_node(pairs: Sequence[tuple[int, int]]) -> cst.BaseExpression:
    """An int when every side pads the same, else ((before, after), ...) per spatial axis."""
    flat = {v for pair in pairs for v in pair}
    if len(flat) == 1:
        return int_node(pairs[0][0])
    space = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    items = [tuple_node(list(pair)) for pair in pairs]
    return cst.Tuple(
        [
            cst.Element(
                e,
                comma=space
                if i < len(items) - 1
                else (cst.Comma() if len(items) == 1 else cst.MaybeSentinel.DEFAULT),
            )
            for i, e in enumerate(items)
        ]
    )


def pad_layer(site: CallSite, tools: Tools) -> HookResult | str:
    """ReflectionPad / ReplicationPad / CircularPad{1,2}d: keras_support.Pad with torch's mode
    (keras.ops.pad on TensorFlow has no edge or wrap mode, and TF's SYMMETRIC is not reflect)."""
    assert site.rule.rank is not None
    n = site.rule.rank - 2
    pairs = _pad_pairs(site.bound["padding"], n)
    if pairs is None:
        return "padding must be a literal int or tuple"
    kind = site.rule.match[0].rsplit(".", 1)[-1]
    mode = (
        "reflect"
        if kind.startswith("Reflection")
        else "replicate"
        if kind.startswith("Replication")
        else "circular"
    )
    layer = tools.call(f"{HELPER}.Pad", [kwarg("padding", pairs_node(pairs)), kwarg("mode", str_node(mode))])
    note = _helper_note(f"padding mode {mode!r}: keras.ops.pad on TensorFlow has no exact equivalent")
    return HookResult(layer, module=_info(site, "identity"), notes=(note,))


def conv_mode_padding(
    site: CallSite,
    tools: Tools,
    n: int,
    padding: object,
    k: tuple[int, ...] | None,
    d: tuple[int, ...] | None,
    p: tuple[int, ...] | None,
) -> tuple[cst.BaseExpression | None, Note | None] | str:
    """Conv{1,2}d(padding_mode='reflect'/'replicate'/'circular'): the keras_support.Pad layer that
    goes before a 'valid' convolution (None when nothing is padded)."""
    mode = literal(site.bound["padding_mode"]) if "padding_mode" in site.bound else "zeros"
    if mode == "zeros":
        return None, None
    if mode not in ("reflect", "replicate", "circular"):
        return f"padding_mode={mode!r} has no Keras form"
    if padding == "valid" or p == (0,) * n:
        return None, None
    if padding == "same":
        if k is None or d is None:
            return "padding='same' with a padding_mode needs literal kernel_size and dilation"
        totals = [di * (ki - 1) for ki, di in zip(k, d, strict=True)]
        pairs = [(t // 2, t - t // 2) for t in totals]
    elif p is not None:
        pairs = [(pi, pi) for pi in p]
    else:
        return "padding must be a literal with a padding_mode"
    if not any(a or b for a, b in pairs):
        return None, None
    layer = tools.call(
        f"{HELPER}.Pad", [kwarg("padding", pairs_node(pairs)), kwarg("mode", str_node(str(mode)))]
    )
    note = _helper_note(f"padding_mode={mode!r} before a 'valid' convolution (no Keras padding layer has it)")
    return layer, note


# ------------------------------------------------------------------------------ embedding


def embedding(site: CallSite, tools: Tools) -> HookResult | str:
    """Embedding: stock layers.Embedding; with padding_idx in a file that trains, the runtime
    helper keras_support.Embedding, whose padding row starts at zero and gets no gradient (torch's
    behaviour; stock Keras updates it)."""
    info = ModuleInfo(
        site.rule.contract,
        rank=site.rule.rank,
        rule_id=site.rule.id,
        transform=site.rule.weights,
        line=site.line,
    )
    padded = "padding_idx" in site.bound and literal(site.bound["padding_idx"]) is not None
    if not (padded and tools.training_plan().trains):
        mapped = tools.map_args(site)
        if mapped.unsupported is not None:
            return mapped.unsupported
        return HookResult(tools.call("keras.layers.Embedding", mapped.args), module=info, notes=mapped.notes)
    mapped = tools.map_args(site, skip=("padding_idx",))
    if mapped.unsupported is not None:
        return mapped.unsupported
    args = [*mapped.args, kwarg("padding_idx", site.bound["padding_idx"])]
    note = _helper_note(
        "the file trains the model, and torch never updates the padding row (stock Keras does)"
    )
    return HookResult(tools.call(f"{HELPER}.Embedding", args), module=info, notes=(*mapped.notes, note))


__all__ = [
    "adaptive_pool",
    "conv_mode_padding",
    "embedding",
    "group_norm",
    "instance_norm",
    "interpolate_fn",
    "pad_layer",
    "pairs_node",
    "prelu",
    "rms_norm",
    "torch_pool",
    "upsample",
]
