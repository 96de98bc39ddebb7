"""Cases for the tf2torch layer rules of the foundation: dense, convolution, pooling, padding and
cropping, norms, embedding, dropout, flatten, merge layers, Sequential and activation layers.
Models are functional builders over ``keras.Input`` (channels-last, the batch not declared);
sizes are small, differ per axis, and are even or odd; the batch is at least 2. (UpSampling2D
belongs to cases_norm_resize.py, recurrent layers to cases_recurrent.py.)"""

from __future__ import annotations

from hypothesis import strategies as st

from tests.props import Case

BATCH = st.integers(2, 3)
SIZE = st.integers(1, 6)
ACTIVATIONS = st.sampled_from(["None", '"relu"', '"tanh"', '"sigmoid"', '"gelu"', '"softmax"'])


def _spec(*dims: int) -> str:
    return ",".join(str(d) for d in dims)


@st.composite
def dense(draw: st.DrawFn) -> Case:
    units, fin = draw(SIZE), draw(SIZE)
    middle = draw(st.lists(st.integers(1, 4), max_size=2))
    act, bias = draw(ACTIVATIONS), draw(st.booleans())
    return Case(
        f"layers.Dense({units}, activation={act}, use_bias={bias})", (_spec(draw(BATCH), *middle, fin),)
    )


@st.composite
def conv(draw: st.DrawFn, dims: int) -> Case:
    """valid or same padding, strides or dilations (Keras refuses both above 1), groups."""
    groups = draw(st.sampled_from([1, 1, 2]))
    cin, filters = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(dims))
    dilated = draw(st.booleans())
    dilation = tuple(draw(st.integers(1, 2)) if dilated else 1 for _ in range(dims))
    strides = tuple(1 if dilated else draw(st.integers(1, 3)) for _ in range(dims))
    strides = tuple(sorted(strides, reverse=True))  # never a 1 before a larger one: a TF oneDNN bug
    padding = draw(st.sampled_from(['"valid"', '"same"']))
    sizes = tuple(d * (k - 1) + 1 + draw(st.integers(0, 6)) for k, d in zip(kernel, dilation, strict=True))
    act, bias = draw(ACTIVATIONS), draw(st.booleans())
    layer = (
        f"layers.Conv{dims}D({filters}, {kernel!r}, strides={strides!r}, padding={padding}, "
        f"dilation_rate={dilation!r}, groups={groups}, activation={act}, use_bias={bias})"
    )
    return Case(layer, (_spec(draw(BATCH), *sizes, cin),))


@st.composite
def depthwise(draw: st.DrawFn) -> Case:
    cin, mult = draw(st.integers(1, 4)), draw(st.integers(1, 2))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    strides = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    strides = (max(strides), strides[1])  # never (1, 2): the original hits a TF oneDNN bug there
    padding = draw(st.sampled_from(['"valid"', '"same"']))
    sizes = tuple(k + draw(st.integers(0, 5)) for k in kernel)
    layer = (
        f"layers.DepthwiseConv2D({kernel!r}, strides={strides!r}, padding={padding}, depth_multiplier={mult})"
    )
    return Case(layer, (_spec(draw(BATCH), *sizes, cin),))


@st.composite
def separable(draw: st.DrawFn) -> Case:
    cin, filters, mult = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 2))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(st.sampled_from(['"valid"', '"same"']))
    sizes = tuple(k + draw(st.integers(0, 5)) for k in kernel)
    layer = f"layers.SeparableConv2D({filters}, {kernel!r}, padding={padding}, depth_multiplier={mult})"
    return Case(layer, (_spec(draw(BATCH), *sizes, cin),))


@st.composite
def conv_transpose(draw: st.DrawFn) -> Case:
    """'valid' padding, and 'same' where torch can crop the same (kernel >= stride, even excess)."""
    cin, filters = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    strides = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    same = draw(st.booleans())
    if same:  # 'same' pads kernel - stride in total; torch crops it evenly when that is even
        kernel = tuple(s + 2 * draw(st.integers(0, 1)) for s in strides)
    else:
        kernel = tuple(s + draw(st.integers(0, 2)) for s in strides)
    padding = '"same"' if same else '"valid"'
    sizes = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    layer = f"layers.Conv2DTranspose({filters}, {kernel!r}, strides={strides!r}, padding={padding})"
    return Case(layer, (_spec(draw(BATCH), *sizes, cin),))


@st.composite
def pool(draw: st.DrawFn, kind: str, dims: int) -> Case:
    """'valid' and 'same' padding (TF pads 'same' asymmetrically: the extra pixel after)."""
    size = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    strides = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    padding = draw(st.sampled_from(['"valid"', '"same"']))
    sizes = tuple(k + draw(st.integers(0, 6)) for k in size)
    one = size if dims > 1 else size[0]
    s = strides if dims > 1 else strides[0]
    return Case(
        f"layers.{kind}Pooling{dims}D({one!r}, strides={s!r}, padding={padding})",
        (_spec(draw(BATCH), *sizes, draw(SIZE)),),
    )


@st.composite
def global_pool(draw: st.DrawFn, kind: str, dims: int) -> Case:
    sizes = tuple(draw(st.integers(1, 5)) for _ in range(dims))
    keep = draw(st.booleans())
    return Case(
        f"layers.Global{kind}Pooling{dims}D(keepdims={keep})", (_spec(draw(BATCH), *sizes, draw(SIZE)),)
    )


@st.composite
def zero_padding(draw: st.DrawFn) -> Case:
    pads = (
        (draw(st.integers(0, 2)), draw(st.integers(0, 2))),
        (draw(st.integers(0, 2)), draw(st.integers(0, 2))),
    )
    sizes = (draw(SIZE), draw(SIZE))
    return Case(f"layers.ZeroPadding2D({pads!r})", (_spec(draw(BATCH), *sizes, draw(SIZE)),))


@st.composite
def cropping(draw: st.DrawFn) -> Case:
    crops = (
        (draw(st.integers(0, 2)), draw(st.integers(0, 2))),
        (draw(st.integers(0, 2)), draw(st.integers(0, 2))),
    )
    sizes = tuple(a + b + draw(st.integers(1, 4)) for a, b in crops)
    return Case(f"layers.Cropping2D({crops!r})", (_spec(draw(BATCH), *sizes, draw(SIZE)),))


@st.composite
def batch_norm(draw: st.DrawFn) -> Case:
    """On features, or on the maps of a convolution (channels-first in the migrated code)."""
    eps, momentum = draw(st.sampled_from([1e-3, 1e-5, 0.1])), draw(st.sampled_from([0.99, 0.9, 0.5]))
    center = scale = draw(st.booleans())  # torch has one affine flag: mixed values are refused
    norm = f"layers.BatchNormalization(epsilon={eps}, momentum={momentum}, center={center}, scale={scale})"
    c = draw(SIZE)
    if draw(st.booleans()):
        return Case(norm, (_spec(draw(BATCH), c),))
    sizes = (draw(SIZE), draw(SIZE))
    return Case(norm, (_spec(draw(BATCH), *sizes, c),), forward=f"{{layer}}(layers.Conv2D({c}, 1)(x0))")


@st.composite
def layer_norm(draw: st.DrawFn) -> Case:
    """Over the last axis (at least 4 values: fewer is ill-conditioned), of features or sequences."""
    eps = draw(st.sampled_from([1e-3, 1e-5, 1e-6]))
    center = scale = True  # the rule refuses center=False/scale=False (REFUSED)
    lead = [draw(st.integers(1, 4)) for _ in range(draw(st.integers(0, 2)))]
    shape = (*lead, draw(st.integers(4, 7)))
    return Case(
        f"layers.LayerNormalization(epsilon={eps}, center={center}, scale={scale})",
        (_spec(draw(BATCH), *shape),),
    )


@st.composite
def embedding(draw: st.DrawFn) -> Case:
    num, dim = draw(st.integers(2, 20)), draw(SIZE)
    length = draw(st.integers(1, 6))
    return Case(f"layers.Embedding({num}, {dim})", (f"{draw(BATCH)},{length}:int32:0:{num}",))


@st.composite
def any_shape(draw: st.DrawFn, layer: str) -> Case:
    dims = tuple(draw(st.integers(1, 5)) for _ in range(draw(st.integers(1, 3))))
    return Case(layer, (_spec(draw(BATCH), *dims),))


@st.composite
def flatten(draw: st.DrawFn) -> Case:
    """Of features, sequences, or a convolution's maps (the order of the flattened values)."""
    if draw(st.booleans()):
        return draw(any_shape("layers.Flatten()"))
    c = draw(SIZE)
    sizes = (draw(SIZE), draw(SIZE))
    return Case(
        "layers.Flatten()", (_spec(draw(BATCH), *sizes, c),), forward=f"{{layer}}(layers.Conv2D({c}, 1)(x0))"
    )


@st.composite
def merge(draw: st.DrawFn, name: str) -> Case:
    dims = tuple(draw(st.integers(1, 4)) for _ in range(draw(st.integers(1, 3))))
    spec = _spec(draw(BATCH), *dims)
    return Case(f"layers.{name}()", (spec, spec))


@st.composite
def concatenate(draw: st.DrawFn) -> Case:
    """Along any axis of raw inputs, or the channels of two convolutions' maps."""
    if draw(st.booleans()):
        c1, c2 = draw(SIZE), draw(SIZE)
        sizes = (draw(SIZE), draw(SIZE))
        batch = draw(BATCH)
        return Case(
            "layers.Concatenate()",
            (_spec(batch, *sizes, c1), _spec(batch, *sizes, c2)),
            forward=f"{{layer}}([layers.Conv2D({c1}, 1)(x0), layers.Conv2D({c2}, 1)(x1)])",
        )
    rank = draw(st.integers(2, 4))
    axis = draw(st.integers(1, rank - 1))
    batch = draw(BATCH)
    a = [draw(st.integers(1, 4)) for _ in range(rank - 1)]
    b = list(a)
    b[axis - 1] = draw(st.integers(1, 4))
    neg = draw(st.booleans())
    return Case(
        f"layers.Concatenate(axis={axis - rank if neg else axis})", (_spec(batch, *a), _spec(batch, *b))
    )


@st.composite
def sequential(draw: st.DrawFn) -> Case:
    """A Sequential model of its own (a Sequential used as a layer of a functional model is not
    migrated)."""
    a, b, c = draw(SIZE), draw(SIZE), draw(SIZE)
    act = draw(st.sampled_from(['"relu"', '"tanh"', "None"]))
    layers_ = f"keras.Input(shape=({a},)), layers.Dense({b}, activation={act}), layers.Dense({c})"
    return Case("", (_spec(draw(BATCH), a),), builder=f"return keras.Sequential([{layers_}])")


@st.composite
def softmax(draw: st.DrawFn) -> Case:
    """Over the channels of maps (channels-first in the migrated code), or any axis of features."""
    if draw(st.booleans()):
        c = draw(SIZE)
        sizes = (draw(SIZE), draw(SIZE))
        return Case(
            "layers.Softmax()",
            (_spec(draw(BATCH), *sizes, c),),
            forward=f"{{layer}}(layers.Conv2D({c}, 1)(x0))",
        )
    rank = draw(st.integers(2, 4))
    dims = tuple(draw(st.integers(1, 5)) for _ in range(rank - 1))
    axis = draw(st.integers(1, rank - 1))
    return Case(
        f"layers.Softmax(axis={axis if draw(st.booleans()) else axis - rank})", (_spec(draw(BATCH), *dims),)
    )


@st.composite
def activation_layer(draw: st.DrawFn) -> Case:
    name = draw(
        st.sampled_from(
            ['"relu"', '"tanh"', '"sigmoid"', '"gelu"', '"elu"', '"selu"', '"softplus"', '"swish"']
        )
    )
    return draw(any_shape(f"layers.Activation({name})"))


CASES = {
    "tf2torch.layers.Dense": dense(),
    "tf2torch.layers.Conv1D": conv(1),
    "tf2torch.layers.Conv2D": conv(2),
    "tf2torch.layers.DepthwiseConv2D": depthwise(),
    "tf2torch.layers.SeparableConv2D": separable(),
    "tf2torch.layers.Conv2DTranspose": conv_transpose(),
    "tf2torch.layers.ZeroPadding2D": zero_padding(),
    "tf2torch.layers.Cropping2D": cropping(),
    "tf2torch.layers.MaxPooling1D": pool("Max", 1),
    "tf2torch.layers.MaxPooling2D": pool("Max", 2),
    "tf2torch.layers.AveragePooling1D": pool("Average", 1),
    "tf2torch.layers.AveragePooling2D": pool("Average", 2),
    "tf2torch.layers.GlobalMaxPooling1D": global_pool("Max", 1),
    "tf2torch.layers.GlobalMaxPooling2D": global_pool("Max", 2),
    "tf2torch.layers.GlobalAveragePooling1D": global_pool("Average", 1),
    "tf2torch.layers.GlobalAveragePooling2D": global_pool("Average", 2),
    "tf2torch.layers.BatchNormalization": batch_norm(),
    "tf2torch.layers.LayerNormalization": layer_norm(),
    "tf2torch.layers.Embedding": embedding(),
    "tf2torch.layers.Dropout": any_shape("layers.Dropout(0.3)"),
    "tf2torch.layers.Flatten": flatten(),
    "tf2torch.layers.Add": merge("Add"),
    "tf2torch.layers.Subtract": merge("Subtract"),
    "tf2torch.layers.Multiply": merge("Multiply"),
    "tf2torch.layers.Concatenate": concatenate(),
    "tf2torch.Sequential": sequential(),
    "tf2torch.layers.Activation": activation_layer(),
    "tf2torch.layers.ReLU": any_shape("layers.ReLU()"),
    "tf2torch.layers.LeakyReLU": any_shape("layers.LeakyReLU(negative_slope=0.2)"),
    "tf2torch.layers.Softmax": softmax(),
}
