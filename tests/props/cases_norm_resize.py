"""Cases for the normalisation-variant, resizing, padding and PReLU layer rules of both directions
(rules/*/layers_norm_more.toml, rules/*/layers_resize.toml). Sizes are small, differ per axis, are
even or odd; the batch is at least 2.

The rules these modules widened but do not own (pooling's ceil_mode and count_include_pad, conv
padding_mode, adaptive average pooling to sizes above 1; Keras 'same' pooling and
Embedding(mask_zero)) are property-tested in tests/test_norm_resize.py under their own ids."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import strategies as st

from tests.props import Case

BATCH = st.integers(2, 3)
EPS = st.sampled_from([1e-5, 1e-3, 0.1])


def _spec(*dims: int) -> str:
    return ",".join(str(d) for d in dims)


def _one(t: tuple[int, ...]) -> object:
    return t[0] if len(t) == 1 else t


# ------------------------------------------------------------------------------------ torch2tf


@st.composite
def group_norm(draw: st.DrawFn) -> Case:
    """On the maps of a convolution (the layer cannot know the rank of a raw input: a known limit
    shared with BatchNorm1d) or on (N, C) features. At least 4 values per group: normalising one
    or two is float32 rounding over a tiny spread."""
    groups = draw(st.integers(1, 3))
    dims = draw(st.integers(0, 2))
    c = groups * draw(st.integers(4, 5) if dims == 0 else st.integers(1, 3))
    norm = f"nn.GroupNorm({groups}, {c}, eps={draw(EPS)}, affine={draw(st.booleans())})"
    if dims == 0:
        return Case(norm, (_spec(draw(BATCH), c),))
    sizes = tuple(draw(st.integers(4 if dims == 1 else 2, 6)) for _ in range(dims))
    return Case(f"nn.Sequential(nn.Conv{dims}d({c}, {c}, 1), {norm})", (_spec(draw(BATCH), c, *sizes),))


@st.composite
def instance_norm(draw: st.DrawFn, dims: int) -> Case:
    c = draw(st.integers(1, 5))
    affine, track = draw(st.booleans()), draw(st.booleans())
    momentum = draw(st.sampled_from([0.1, 0.3]))
    layer = (
        f"nn.InstanceNorm{dims}d({c}, eps={draw(EPS)}, momentum={momentum}, affine={affine}, "
        f"track_running_stats={track})"
    )
    sizes = tuple(draw(st.integers(4 if dims == 1 else 2, 6)) for _ in range(dims))  # >= 4 values
    return Case(layer, (_spec(draw(BATCH), c, *sizes),))


@st.composite
def rms_norm(draw: st.DrawFn) -> Case:
    """Over the last dim of any input, or over every dim but the batch of a channels-first map.
    At least 3 normalised values (one or two are ill-conditioned for float32 comparisons)."""
    lead = [draw(st.integers(1, 5)) for _ in range(draw(st.integers(0, 2)))]
    shape = (*lead, draw(st.integers(3, 7)))
    normalized = shape if len(shape) == 3 and draw(st.booleans()) else shape[-1:]
    arg = normalized[0] if len(normalized) == 1 and draw(st.booleans()) else list(normalized)
    eps = draw(st.sampled_from(["", ", eps=None", ", eps=1e-5", ", eps=0.01"]))
    affine = draw(st.booleans())
    return Case(f"nn.RMSNorm({arg!r}{eps}, elementwise_affine={affine})", (_spec(draw(BATCH), *shape),))


@st.composite
def prelu(draw: st.DrawFn) -> Case:
    """One slope on any input, or one per channel of (N, C) features or of a convolution's maps."""
    init = draw(st.sampled_from([0.25, -0.5, 1.5]))
    if draw(st.booleans()):
        dims = tuple(draw(st.integers(1, 5)) for _ in range(draw(st.integers(1, 3))))
        return Case(f"nn.PReLU(init={init})", (_spec(draw(BATCH), *dims),))
    c = draw(st.integers(2, 5))
    dims_n = draw(st.integers(0, 2))
    layer = f"nn.PReLU({c}, init={init})"
    if dims_n == 0:
        return Case(layer, (_spec(draw(BATCH), c),))
    sizes = tuple(draw(st.integers(1, 5)) for _ in range(dims_n))
    return Case(f"nn.Sequential(nn.Conv{dims_n}d({c}, {c}, 1), {layer})", (_spec(draw(BATCH), c, *sizes),))


_LINEAR = {1: "linear", 2: "bilinear"}


def _reaches_one(n: int) -> Callable[[float], bool]:
    """A scale factor that leaves at least one output element of a size-n axis."""
    return lambda f: int(n * f) >= 1


@st.composite
def resize_args(draw: st.DrawFn, dims: int, sizes: tuple[int, ...]) -> str:
    """size= or scale_factor= (ints, floats, per-axis tuples) and a mode, for an input of ``sizes``."""
    mode = draw(st.sampled_from(["nearest", "nearest-exact", _LINEAR[dims], "area"]))
    corners = ""
    if mode == _LINEAR[dims]:
        corners = f", align_corners={draw(st.booleans())}"
    # a scalar size or factor says nothing of the rank: 2-D is assumed, so 1-D cases give tuples
    # unless the mode is linear
    scalar = (dims == 2 or mode == "linear") and draw(st.booleans())
    if draw(st.booleans()):
        out = tuple(draw(st.integers(1, 9)) for _ in range(dims))
        if scalar:
            out = (out[0],) * dims
        how = f"size={out[0] if scalar else out!r}"
    else:
        factor = st.sampled_from([1, 2, 3, 2.0, 1.5, 0.5, 0.7, 2.5])
        if scalar:
            f = draw(factor.filter(lambda f: all(int(n * f) >= 1 for n in sizes)))
            fs: tuple[float, ...] = (f,) * dims
            how = f"scale_factor={f!r}"
        else:
            fs = tuple(draw(factor.filter(_reaches_one(n))) for n in sizes)
            how = f"scale_factor={fs!r}"
        if draw(st.booleans()) and any(isinstance(f, float) and not f.is_integer() for f in fs):
            how += ", recompute_scale_factor=True"
    return f"{how}, mode={mode!r}{corners}"


@st.composite
def upsample(draw: st.DrawFn) -> Case:
    dims = draw(st.integers(1, 2))
    sizes = tuple(draw(st.integers(1, 6)) for _ in range(dims))
    args = draw(resize_args(dims, sizes))
    return Case(f"nn.Upsample({args})", (_spec(draw(BATCH), draw(st.integers(1, 4)), *sizes),))


@st.composite
def upsampling_2d(draw: st.DrawFn, kind: str) -> Case:
    sizes = (draw(st.integers(1, 6)), draw(st.integers(1, 6)))
    if draw(st.booleans()):
        how = f"size={(draw(st.integers(1, 9)), draw(st.integers(1, 9)))!r}"
    else:
        how = f"scale_factor={draw(st.sampled_from([1, 2, 3, (2, 3), 1.5]))!r}"
    return Case(f"nn.Upsampling{kind}2d({how})", (_spec(draw(BATCH), draw(st.integers(1, 4)), *sizes),))


@st.composite
def interpolate(draw: st.DrawFn) -> Case:
    """F.interpolate on a convolution's channels-last map, 1-D or 2-D."""
    dims = draw(st.integers(1, 2))
    c = draw(st.integers(1, 4))
    sizes = tuple(draw(st.integers(1, 6)) for _ in range(dims))
    args = draw(resize_args(dims, sizes))
    # the deprecated F.upsample has no recompute_scale_factor
    name = "interpolate" if "recompute" in args else draw(st.sampled_from(["interpolate", "upsample"]))
    return Case(
        f"nn.Conv{dims}d({c}, {c}, 1)",
        (_spec(draw(BATCH), c, *sizes),),
        forward=f"return F.{name}({{layer}}(x0), {args})",
    )


@st.composite
def adaptive_max(draw: st.DrawFn, dims: int) -> Case:
    sizes = tuple(draw(st.integers(1, 8)) for _ in range(dims))
    out = st.one_of(st.integers(1, 5), st.none()) if dims > 1 else st.integers(1, 5)
    outs = tuple(draw(out) for _ in range(dims))
    arg: object = outs
    if dims == 1 or (len(set(outs)) == 1 and outs[0] is not None and draw(st.booleans())):
        arg = outs[0]
    return Case(f"nn.AdaptiveMaxPool{dims}d({arg!r})", (_spec(draw(BATCH), draw(st.integers(1, 4)), *sizes),))


@st.composite
def pad_layer(draw: st.DrawFn, kind: str, dims: int) -> Case:
    """torch requires reflect padding below the size, circular padding at most the size."""
    sizes = tuple(draw(st.integers(2, 6)) for _ in range(dims))
    limit = {"Reflection": -1, "Replication": 3, "Circular": 0}[kind]
    pads: list[int] = []
    for n in reversed(sizes):  # torch lists the last axis first
        top = n + limit if kind != "Replication" else limit
        pads += [draw(st.integers(0, top)), draw(st.integers(0, top))]
    uniform = min(min(sizes) + limit, 3) if kind != "Replication" else 3
    arg: object = draw(st.integers(0, uniform)) if draw(st.booleans()) else tuple(pads)
    return Case(f"nn.{kind}Pad{dims}d({arg!r})", (_spec(draw(BATCH), draw(st.integers(1, 4)), *sizes),))


# ------------------------------------------------------------------------------------ tf2torch


@st.composite
def keras_group_norm(draw: st.DrawFn) -> Case:
    groups = draw(st.integers(1, 3))
    dims = tuple(draw(st.integers(2, 5)) for _ in range(draw(st.integers(0, 2))))
    c = groups * draw(st.integers(4, 5) if not dims else st.integers(1, 3))  # >= 4 values per group
    if len(dims) == 1 and c // groups * dims[0] < 4:
        dims = (4,)
    g = -1 if groups == c and draw(st.booleans()) else groups
    affine = draw(st.booleans())
    layer = f"layers.GroupNormalization(groups={g}, epsilon={draw(EPS)}, center={affine}, scale={affine})"
    return Case(layer, (_spec(draw(BATCH), *dims, c),))


@st.composite
def keras_rms_norm(draw: st.DrawFn) -> Case:
    dims = tuple(draw(st.integers(1, 4)) for _ in range(draw(st.integers(0, 2))))
    eps = draw(st.sampled_from(["", "epsilon=1e-5", "epsilon=0.01"]))
    return Case(f"layers.RMSNormalization({eps})", (_spec(draw(BATCH), *dims, draw(st.integers(3, 7))),))


@st.composite
def keras_prelu(draw: st.DrawFn) -> Case:
    """Shared over every axis but the channels (one slope per channel), or over all of them.
    Keras starts the slopes at zero, which would hide a slope moved to the wrong channel: random
    slopes too (the rule flags a non-zero initializer for review: torch starts from init=0.0)."""
    spatial = tuple(draw(st.integers(1, 5)) for _ in range(draw(st.integers(0, 2))))
    rank = len(spatial) + 2
    every = list(range(1, rank))
    shared = every if draw(st.booleans()) else every[:-1]
    args = [f"shared_axes={shared!r}"] if shared else []
    random = draw(st.booleans())
    if random:
        args.append('alpha_initializer="random_normal"')
    layer = f"layers.PReLU({', '.join(args)})"
    return Case(layer, (_spec(draw(BATCH), *spatial, draw(st.integers(1, 5))),), allow_review=random)


@st.composite
def keras_upsampling_1d(draw: st.DrawFn) -> Case:
    return Case(
        f"layers.UpSampling1D(size={draw(st.integers(1, 4))})",
        (_spec(draw(BATCH), draw(st.integers(1, 6)), draw(st.integers(1, 4))),),
    )


@st.composite
def keras_upsampling_2d(draw: st.DrawFn) -> Case:
    size = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    arg = size[0] if size[0] == size[1] and draw(st.booleans()) else size
    mode = draw(st.sampled_from(["nearest", "bilinear"]))
    sizes = (draw(st.integers(1, 6)), draw(st.integers(1, 6)), draw(st.integers(1, 3)))
    return Case(f'layers.UpSampling2D({arg!r}, interpolation="{mode}")', (_spec(draw(BATCH), *sizes),))


@st.composite
def keras_resizing(draw: st.DrawFn) -> Case:
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    mode = draw(st.sampled_from(["bilinear", "nearest"]))
    return Case(
        f'layers.Resizing({h}, {w}, interpolation="{mode}")',
        (_spec(draw(BATCH), draw(st.integers(1, 7)), draw(st.integers(1, 7)), draw(st.integers(1, 3))),),
    )


@st.composite
def keras_pad_crop_1d(draw: st.DrawFn, kind: str) -> Case:
    length = draw(st.integers(5, 9))
    a, b = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    arg = draw(st.sampled_from([str(a), f"({a}, {b})"]))
    name = "ZeroPadding1D(padding=" if kind == "pad" else "Cropping1D(cropping="
    return Case(f"layers.{name}{arg})", (_spec(draw(BATCH), length, draw(st.integers(1, 4))),))


@st.composite
def keras_unit_norm(draw: st.DrawFn) -> Case:
    dims = tuple(draw(st.integers(1, 4)) for _ in range(draw(st.integers(0, 2))))
    return Case("layers.UnitNormalization()", (_spec(draw(BATCH), *dims, draw(st.integers(2, 6))),))


# ------------------------------------------------- tf2torch: fwmigrate's Keras helpers, migrated back

SUPPORT = "from migrator.runtime import keras_support\n"


def _keras_map(draw: st.DrawFn, dims: int, lo: int = 1) -> str:
    return _spec(draw(BATCH), *(draw(st.integers(lo, 7)) for _ in range(dims)), draw(st.integers(1, 4)))


@st.composite
def support_prelu(draw: st.DrawFn) -> Case:
    dims = draw(st.integers(0, 2))
    spec = _keras_map(draw, dims)
    c = int(spec.split(",")[-1])
    n = c if draw(st.booleans()) else 1
    layer = f"keras_support.PReLU(num_parameters={n}, init={draw(st.sampled_from([0.25, -0.5, 1.5]))})"
    return Case(layer, (spec,), imports=SUPPORT)


@st.composite
def support_instance_norm(draw: st.DrawFn) -> Case:
    dims = draw(st.integers(1, 2))
    spec = _keras_map(draw, dims, lo=2)
    c = int(spec.split(",")[-1])
    layer = (
        f"keras_support.InstanceNorm({c}, eps={draw(EPS)}, momentum={draw(st.sampled_from([0.1, 0.3]))}, "
        f"affine={draw(st.booleans())})"
    )
    return Case(layer, (spec,), imports=SUPPORT)


@st.composite
def support_embedding(draw: st.DrawFn) -> Case:
    num, dim, length = draw(st.integers(2, 12)), draw(st.integers(1, 5)), draw(st.integers(1, 6))
    pad = draw(st.integers(0, num - 1))
    layer = f"keras_support.Embedding({num}, {dim}, padding_idx={pad})"
    return Case(layer, (f"{draw(BATCH)},{length}:int32:0:{num}",), imports=SUPPORT)


@st.composite
def support_interpolate(draw: st.DrawFn, function: bool) -> Case:
    dims = draw(st.integers(1, 2))
    sizes = tuple(draw(st.integers(1, 6)) for _ in range(dims))
    args = draw(resize_args(dims, sizes))
    spec = _spec(draw(BATCH), *sizes, draw(st.integers(1, 3)))
    if function:
        return Case(
            "keras_support.interpolate",
            (spec,),
            forward=f"keras_support.interpolate(x0, {args})",
            imports=SUPPORT,
        )
    return Case(f"keras_support.Interpolate({args})", (spec,), imports=SUPPORT)


@st.composite
def support_adaptive(draw: st.DrawFn, kind: str) -> Case:
    dims = draw(st.integers(1, 2))
    outs = tuple(draw(st.integers(1, 5)) for _ in range(dims))
    arg: object = outs if dims > 1 or draw(st.booleans()) else outs[0]
    return Case(
        f"keras_support.Adaptive{kind}Pool(output_size={arg!r})", (_keras_map(draw, dims),), imports=SUPPORT
    )


@st.composite
def support_pool(draw: st.DrawFn, kind: str) -> Case:
    """torch's pooling options: padding up to half the kernel, ceil_mode, count_include_pad."""
    dims = draw(st.integers(1, 2))
    k = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    pad = tuple(draw(st.integers(0, ki // 2)) for ki in k)
    sizes = tuple(ki + draw(st.integers(0, 5)) for ki in k)
    extra = f", ceil_mode={draw(st.booleans())}"
    if kind == "Avg":
        extra += f", count_include_pad={draw(st.booleans())}"
    layer = f"keras_support.{kind}Pool(kernel_size={k!r}, stride={stride!r}, padding={pad!r}{extra})"
    return Case(layer, (_spec(draw(BATCH), *sizes, draw(st.integers(1, 3))),), imports=SUPPORT)


@st.composite
def support_pad(draw: st.DrawFn) -> Case:
    dims = draw(st.integers(1, 2))
    sizes = tuple(draw(st.integers(2, 6)) for _ in range(dims))
    mode = draw(st.sampled_from(["reflect", "replicate", "circular", "constant"]))
    top = {"reflect": -1, "circular": 0}
    pairs = tuple(
        (
            draw(st.integers(0, n + top[mode] if mode in top else 3)),
            draw(st.integers(0, n + top[mode] if mode in top else 3)),
        )
        for n in sizes
    )
    value = f", value={draw(st.sampled_from([0.0, 1.5]))}" if mode == "constant" else ""
    layer = f"keras_support.Pad(padding={pairs!r}, mode={mode!r}{value})"
    return Case(layer, (_spec(draw(BATCH), *sizes, draw(st.integers(1, 3))),), imports=SUPPORT)


CASES = {
    "torch2tf.nn.GroupNorm": group_norm(),
    "torch2tf.nn.InstanceNorm1d": instance_norm(1),
    "torch2tf.nn.InstanceNorm2d": instance_norm(2),
    "torch2tf.nn.RMSNorm": rms_norm(),
    "torch2tf.nn.PReLU": prelu(),
    "torch2tf.nn.Upsample": upsample(),
    "torch2tf.nn.UpsamplingNearest2d": upsampling_2d("Nearest"),
    "torch2tf.nn.UpsamplingBilinear2d": upsampling_2d("Bilinear"),
    "torch2tf.F.interpolate": interpolate(),
    "torch2tf.nn.AdaptiveMaxPool1d": adaptive_max(1),
    "torch2tf.nn.AdaptiveMaxPool2d": adaptive_max(2),
    "torch2tf.nn.ReflectionPad1d": pad_layer("Reflection", 1),
    "torch2tf.nn.ReflectionPad2d": pad_layer("Reflection", 2),
    "torch2tf.nn.ReplicationPad1d": pad_layer("Replication", 1),
    "torch2tf.nn.ReplicationPad2d": pad_layer("Replication", 2),
    "torch2tf.nn.CircularPad1d": pad_layer("Circular", 1),
    "torch2tf.nn.CircularPad2d": pad_layer("Circular", 2),
    "tf2torch.layers.GroupNormalization": keras_group_norm(),
    "tf2torch.layers.RMSNormalization": keras_rms_norm(),
    "tf2torch.layers.PReLU": keras_prelu(),
    "tf2torch.layers.UpSampling1D": keras_upsampling_1d(),
    "tf2torch.layers.UpSampling2D": keras_upsampling_2d(),
    "tf2torch.layers.Resizing": keras_resizing(),
    "tf2torch.layers.ZeroPadding1D": keras_pad_crop_1d("pad"),
    "tf2torch.layers.Cropping1D": keras_pad_crop_1d("crop"),
    "tf2torch.layers.UnitNormalization": keras_unit_norm(),
    "tf2torch.keras_support.PReLU": support_prelu(),
    "tf2torch.keras_support.InstanceNorm": support_instance_norm(),
    "tf2torch.keras_support.Embedding": support_embedding(),
    "tf2torch.keras_support.Interpolate": support_interpolate(function=False),
    "tf2torch.keras_support.interpolate": support_interpolate(function=True),
    "tf2torch.keras_support.AdaptiveAvgPool": support_adaptive("Avg"),
    "tf2torch.keras_support.AdaptiveMaxPool": support_adaptive("Max"),
    "tf2torch.keras_support.MaxPool": support_pool("Max"),
    "tf2torch.keras_support.AvgPool": support_pool("Avg"),
    "tf2torch.keras_support.Pad": support_pad(),
}
