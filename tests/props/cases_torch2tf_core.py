"""Cases for the torch2tf layer rules of the foundation: dense, convolution, pooling, norms,
embedding, dropout, flatten, containers and activation modules. Sizes are small, differ per axis,
and are even or odd; the batch is at least 2."""

from __future__ import annotations

import itertools

from hypothesis import strategies as st

from tests.props import Case

BATCH = st.integers(2, 3)
SIZE = st.integers(1, 6)
FLOATS = st.sampled_from([1e-5, 1e-3, 0.1])


def _spec(*dims: int) -> str:
    return ",".join(str(d) for d in dims)


def _pair(draw: st.DrawFn, lo: int, hi: int) -> tuple[int, int]:
    return draw(st.integers(lo, hi)), draw(st.integers(lo, hi))


@st.composite
def linear(draw: st.DrawFn) -> Case:
    fin, fout = draw(SIZE), draw(SIZE)
    bias = draw(st.booleans())
    middle = draw(st.lists(st.integers(1, 4), max_size=2))
    return Case(f"nn.Linear({fin}, {fout}, bias={bias})", (_spec(draw(BATCH), *middle, fin),))


@st.composite
def conv(draw: st.DrawFn, dims: int) -> Case:
    """Grouped and depthwise (groups == in_channels; not for Conv3d, which Keras lacks) too.
    Keras refuses stride > 1 with dilation > 1, so does the rule: a case has one or the other.
    Strides (1, s > 1) are not drawn: TensorFlow's oneDNN convolution is wrong for some sizes
    there, and the rule flags them for review (tests/test_layer_properties.py REFUSED)."""
    groups = draw(st.sampled_from([1, 1, 2, 3])) if dims < 3 else 1
    cin, cout = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(dims))
    dilated = draw(st.booleans())
    dilation = tuple(draw(st.integers(1, 2)) if dilated else 1 for _ in range(dims))
    same = draw(st.booleans())
    strided = not same and not dilated
    stride = tuple(draw(st.integers(1, 3)) if strided else 1 for _ in range(dims))
    stride = tuple(sorted(stride, reverse=True))  # never a 1 before a larger stride: the oneDNN pattern
    if same:
        padding = "'same'"
    else:
        pads = tuple(draw(st.integers(0, (k - 1) * d // 2)) for k, d in zip(kernel, dilation, strict=True))
        padding = repr(pads if dims > 1 else pads[0])
    sizes = tuple(d * (k - 1) + 1 + draw(st.integers(0, 6)) for k, d in zip(kernel, dilation, strict=True))
    bias = draw(st.booleans())
    name = f"Conv{dims}d"
    k = kernel if dims > 1 else kernel[0]
    s = stride if dims > 1 else stride[0]
    dil = dilation if dims > 1 else dilation[0]
    layer = (
        f"nn.{name}({cin}, {cout}, kernel_size={k!r}, stride={s!r}, padding={padding}, "
        f"dilation={dil!r}, groups={groups}, bias={bias})"
    )
    return Case(layer, (_spec(draw(BATCH), cin, *sizes),))


@st.composite
def conv_transpose(draw: st.DrawFn, dims: int) -> Case:
    """Kernels at least the stride (the rule refuses smaller ones: Keras's output length differs)."""
    cin, cout = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    kernel = tuple(s + draw(st.integers(0, 2)) for s in stride)
    padding = tuple(draw(st.integers(0, (k - 1) // 2)) for k in kernel)
    # output_padding at most the padding (the rule refuses more)
    out_pad = tuple(draw(st.integers(0, min(s - 1, p))) for s, p in zip(stride, padding, strict=True))
    sizes = tuple(draw(st.integers(1, 6)) for _ in range(dims))
    bias = draw(st.booleans())

    def one(t: tuple[int, ...]) -> object:
        return t if dims > 1 else t[0]

    layer = (
        f"nn.ConvTranspose{dims}d({cin}, {cout}, kernel_size={one(kernel)!r}, stride={one(stride)!r}, "
        f"padding={one(padding)!r}, output_padding={one(out_pad)!r}, bias={bias})"
    )
    return Case(layer, (_spec(draw(BATCH), cin, *sizes),))


@st.composite
def pool(draw: st.DrawFn, kind: str, dims: int) -> Case:
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    sizes = tuple(k + draw(st.integers(0, 6)) for k in kernel)

    def one(t: tuple[int, ...]) -> object:
        return t if dims > 1 else t[0]

    extra = ""
    if kind == "Avg" and any(padding):
        extra = ", count_include_pad=True"
    args = f"kernel_size={one(kernel)!r}, stride={one(stride)!r}, padding={one(padding)!r}{extra}"
    layer = f"nn.{kind}Pool{dims}d({args})"
    return Case(layer, (_spec(draw(BATCH), draw(SIZE), *sizes),))


@st.composite
def adaptive(draw: st.DrawFn, dims: int) -> Case:
    sizes = tuple(draw(st.integers(1, 7)) for _ in range(dims))
    return Case(f"nn.AdaptiveAvgPool{dims}d(1)", (_spec(draw(BATCH), draw(SIZE), *sizes),))


@st.composite
def batch_norm(draw: st.DrawFn, dims: int) -> Case:
    """On (N, C) features, or on the maps of a convolution ((N, C, L) for BatchNorm1d, (N, C, H, W)
    for BatchNorm2d), where the layout is channels-last in the migrated code."""
    c = draw(SIZE)
    eps, momentum = draw(FLOATS), draw(st.sampled_from([0.1, 0.01, 0.3]))
    affine = draw(st.booleans())
    norm = f"nn.BatchNorm{dims}d({c}, eps={eps}, momentum={momentum}, affine={affine})"
    if dims == 1 and draw(st.booleans()):
        return Case(norm, (_spec(draw(BATCH), c),))
    sizes = tuple(draw(st.integers(1, 5)) for _ in range(dims))
    return Case(f"nn.Sequential(nn.Conv{dims}d({c}, {c}, 1), {norm})", (_spec(draw(BATCH), c, *sizes),))


@st.composite
def layer_norm(draw: st.DrawFn) -> Case:
    """Over the last dim of any input, or over every dim but the batch ([C, H, W] of a map: the
    rule's multi-dim form assumes a channels-first map). At least 4 normalised values: normalising
    one or two values is ill-conditioned (the output is float32 rounding over a tiny spread)."""
    lead = [draw(st.integers(1, 5)) for _ in range(draw(st.integers(0, 2)))]
    shape = (*lead, draw(st.integers(4, 7)))
    normalized = shape if draw(st.booleans()) else shape[-1:]
    eps = draw(FLOATS)
    affine = draw(st.booleans())
    arg = normalized[0] if len(normalized) == 1 and draw(st.booleans()) else list(normalized)
    return Case(
        f"nn.LayerNorm({arg!r}, eps={eps}, elementwise_affine={affine})", (_spec(draw(BATCH), *shape),)
    )


@st.composite
def embedding(draw: st.DrawFn) -> Case:
    num, dim = draw(st.integers(2, 20)), draw(SIZE)
    length = draw(st.integers(1, 6))
    return Case(f"nn.Embedding({num}, {dim})", (f"{draw(BATCH)},{length}:int64:0:{num}",))


@st.composite
def any_shape(draw: st.DrawFn, layer: str) -> Case:
    dims = tuple(draw(st.integers(1, 5)) for _ in range(draw(st.integers(1, 3))))
    return Case(layer, (_spec(draw(BATCH), *dims),))


@st.composite
def activation(draw: st.DrawFn, name: str, args: st.SearchStrategy[str] | None = None) -> Case:
    return draw(any_shape(f"nn.{name}({draw(args) if args is not None else ''})"))


@st.composite
def softmax(draw: st.DrawFn, name: str) -> Case:
    """Over (N, C) features, the channels of a convolution's (N, C, H, W) maps, or the last dim of
    a raw input of any rank. The layer is built before its input is seen: dims 1 and -1 are taken
    as the channel axis, right for features and for the channels of maps. Other dims of maps get a
    review finding at the call (tests/test_layer_properties.py); dim=1 of a raw 3-D+ input is a
    known limit (docs/torch2tf.md), caught by verify."""
    context = draw(st.sampled_from(["features", "maps", "last"]))
    if context == "features":
        return Case(f"nn.{name}(dim={draw(st.sampled_from([1, -1]))})", (_spec(draw(BATCH), draw(SIZE)),))
    if context == "maps":
        c = draw(SIZE)
        layer = f"nn.Sequential(nn.Conv2d({c}, {c}, 1), nn.{name}(dim=1))"
        return Case(layer, (_spec(draw(BATCH), c, draw(SIZE), draw(SIZE)),))
    dims = tuple(draw(st.integers(1, 5)) for _ in range(draw(st.integers(1, 3))))
    return Case(f"nn.{name}(dim=-1)", (_spec(draw(BATCH), *dims),))


@st.composite
def flatten(draw: st.DrawFn) -> Case:
    rank = draw(st.integers(2, 4))
    dims = tuple(draw(st.integers(1, 4)) for _ in range(rank - 1))
    return Case("nn.Flatten()", (_spec(draw(BATCH), *dims),))


@st.composite
def sequential(draw: st.DrawFn) -> Case:
    a, b, c = draw(SIZE), draw(SIZE), draw(SIZE)
    act = draw(st.sampled_from(["nn.ReLU()", "nn.Tanh()", "nn.GELU()"]))
    return Case(f"nn.Sequential(nn.Linear({a}, {b}), {act}, nn.Linear({b}, {c}))", (_spec(draw(BATCH), a),))


@st.composite
def module_list(draw: st.DrawFn) -> Case:
    widths = [draw(SIZE) for _ in range(draw(st.integers(2, 4)))]
    linears = ", ".join(f"nn.Linear({i}, {o})" for i, o in itertools.pairwise(widths))
    return Case(
        f"nn.ModuleList([{linears}])",
        (_spec(draw(BATCH), widths[0]),),
        forward="for m in {layer}:\n    x0 = m(x0)\nreturn x0",
    )


CASES = {
    "torch2tf.nn.Linear": linear(),
    "torch2tf.nn.Conv1d": conv(1),
    "torch2tf.nn.Conv2d": conv(2),
    "torch2tf.nn.Conv3d": conv(3),
    "torch2tf.nn.ConvTranspose1d": conv_transpose(1),
    "torch2tf.nn.ConvTranspose2d": conv_transpose(2),
    "torch2tf.nn.MaxPool1d": pool("Max", 1),
    "torch2tf.nn.MaxPool2d": pool("Max", 2),
    "torch2tf.nn.AvgPool1d": pool("Avg", 1),
    "torch2tf.nn.AvgPool2d": pool("Avg", 2),
    "torch2tf.nn.AdaptiveAvgPool1d": adaptive(1),
    "torch2tf.nn.AdaptiveAvgPool2d": adaptive(2),
    "torch2tf.nn.BatchNorm1d": batch_norm(1),
    "torch2tf.nn.BatchNorm2d": batch_norm(2),
    "torch2tf.nn.LayerNorm": layer_norm(),
    "torch2tf.nn.Embedding": embedding(),
    "torch2tf.nn.Dropout": activation("Dropout", st.sampled_from(["", "0.5", "p=0.2"])),
    "torch2tf.nn.Identity": activation("Identity"),
    "torch2tf.nn.Flatten": flatten(),
    "torch2tf.nn.Sequential": sequential(),
    "torch2tf.nn.ModuleList": module_list(),
    "torch2tf.nn.ReLU": activation("ReLU"),
    "torch2tf.nn.ReLU6": activation("ReLU6"),
    "torch2tf.nn.LeakyReLU": activation("LeakyReLU", st.sampled_from(["", "0.2", "negative_slope=0.05"])),
    "torch2tf.nn.GELU": activation("GELU", st.sampled_from(["", "approximate='tanh'", "approximate='none'"])),
    "torch2tf.nn.Sigmoid": activation("Sigmoid"),
    "torch2tf.nn.Tanh": activation("Tanh"),
    "torch2tf.nn.SiLU": activation("SiLU"),
    "torch2tf.nn.Hardswish": activation("Hardswish"),
    "torch2tf.nn.ELU": activation("ELU", st.sampled_from(["", "alpha=0.5", "2.0"])),
    "torch2tf.nn.Softmax": softmax("Softmax"),
    "torch2tf.nn.LogSoftmax": softmax("LogSoftmax"),
}
