"""tf2torch: pairing the original Keras layers with the migrated torch modules through the
migration record, and moving the weights Keras -> torch through the named transforms
(``migrator.weights.KERAS_TO_TORCH``). A torch module with weights the record does not list
(layers built in a loop, a helper's Sequential) is paired with the Keras layer at the same path,
its transform inferred from its type (``pair_by_path``). Runs in the verification subprocess."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from migrator.verify.arrays import keras_layers
from migrator.verify.transfer import TransferError
from migrator.weights import TransformContext, TransformError, apply_keras_transform

__all__ = [
    "KerasPair",
    "RunTrace",
    "TransferError",
    "join_path",
    "keras_get",
    "keras_named",
    "model_owner",
    "pair_by_path",
    "pair_layers",
    "transfer",
]


@dataclass
class KerasPair:
    source: str  # Keras path from the top model ("5", "block1.conv")
    target: str  # torch path from the top model of the compared module (a wrapper, when there is one)
    keras_layer: Any
    torch_module: Any  # the module whose output is compared
    weighted: Any  # the module whose state the transform fills
    weighted_path: str
    transform: str
    owner: str
    extra: dict[str, Any] = field(default_factory=dict)
    nested_owner: bool = False  # an instance of a recorded user class: its own layers carry the weights
    by_path: bool = False  # not in the record: paired by path, the transform inferred (``pair_by_path``)

    @property
    def label(self) -> str:
        return f"{self.source} ({type(self.keras_layer).__name__} -> {type(self.weighted).__name__})"

    @property
    def by_path_note(self) -> str:
        """The warning a pairing by path gives: it is never silent."""
        kpath = "" if self.source == self.weighted_path else f" {self.source}"
        return (
            f"paired by path: {self.weighted_path} ({type(self.weighted).__name__} <- "
            f"{type(self.keras_layer).__name__}{kpath}), transform {self.transform} inferred "
            "(not in the migration record)"
        )


def join_path(prefix: str, path: str) -> str:
    return f"{prefix}.{path}" if prefix and path else prefix or path


def _is_graph_model(obj: Any) -> bool:
    """Sequential and functional models: digits in a path index their ``.layers``."""
    return any(c.__name__ in ("Sequential", "Functional") for c in type(obj).__mro__)


def _is_functional(obj: Any) -> bool:
    """A functional model (``keras.Model(inputs, outputs)``): its layers have names, not indices."""
    return any(c.__name__ == "Functional" for c in type(obj).__mro__)


def _by_name(model: Any, name: str) -> Any:
    try:
        return model.get_layer(name)
    except ValueError:
        return None


def _keras_sublayers(model: Any) -> list[Any]:
    """A Sequential's or functional model's layers, without its inputs."""
    return [c for c in model.layers if type(c).__name__ != "InputLayer"]


def _keras_child(obj: Any, name: str) -> Any:
    """One step of a Keras path: digits index a list or tuple attribute, a Sequential's
    ``.layers`` or a functional model's layers (without its inputs, as ``nn.Sequential`` has
    none); names are dict keys, layer names in a Sequential or functional model, or attributes."""
    if name.isdigit():
        if isinstance(obj, list | tuple):
            seq: Any = obj
        elif _is_graph_model(obj):
            seq = _keras_sublayers(obj)
        else:
            seq = getattr(obj, "layers", None)
        i = int(name)
        return seq[i] if isinstance(seq, list | tuple) and i < len(seq) else None
    if isinstance(obj, Mapping):
        return obj.get(name)
    if _is_graph_model(obj):
        return _by_name(obj, name)
    return getattr(obj, name, None)


def keras_get(obj: Any, path: str) -> Any:
    """The Keras layer at ``path`` below ``obj``, or None: attribute names (layer names in a
    Sequential or functional model, which a migration may turn into a class); digits index a
    Sequential's ``.layers`` or a list."""
    for name in path.split(".") if path else []:
        obj = _keras_child(obj, name)
        if obj is None:
            return None
    return obj


def keras_named(obj: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every Keras layer below ``obj`` with its path, parents before children."""
    import keras

    if _is_functional(obj):
        children: list[tuple[str, Any]] = [(c.name, c) for c in obj.layers]
    elif _is_graph_model(obj):
        children = [(str(i), c) for i, c in enumerate(obj.layers)]
    else:
        children = []
        for name, value in vars(obj).items():
            if name.startswith("_"):
                continue
            if isinstance(value, keras.layers.Layer):
                children.append((name, value))
            elif isinstance(value, list | tuple):
                children.extend(
                    (f"{name}.{i}", v) for i, v in enumerate(value) if isinstance(v, keras.layers.Layer)
                )
    for name, child in children:
        path = join_path(prefix, name)
        yield path, child
        yield from keras_named(child, path)


def model_owner(record: Mapping[str, Any], keras_model: Any, torch_model: Any, builder: str | None) -> str:
    """The record's owner of the top model: its class when recorded (the Keras class of a
    subclassed model, or the torch class a functional model became), else the builder function
    the model expression calls (a function returning a Sequential)."""
    classes = record.get("classes", {})
    for model in (keras_model, torch_model):
        name = type(model).__name__
        if name in classes and classes[name].get("base") != "function":
            return name
    if builder is not None and builder in classes:
        return builder
    known = ", ".join(sorted(classes)) or "none"
    raise TransferError(
        f"the migration record has no class {type(keras_model).__name__!r} or "
        f"{type(torch_model).__name__!r} or builder {builder!r} for this model (recorded: {known})"
    )


@dataclass
class _Walk:
    classes: Mapping[str, Any]
    records: dict[str, list[Mapping[str, Any]]]
    pairs: list[KerasPair] = field(default_factory=list)


def pair_layers(
    keras_model: Any,
    torch_model: Any,
    record: Mapping[str, Any],
    owner: str,
    trace: RunTrace | None = None,
) -> list[KerasPair]:
    """Every recorded layer of the owner, then the owners nested in it (user layer classes), each
    resolved on both sides; then every torch module with weights the record does not cover,
    paired by path (``pair_by_path``). A record naming a layer either model does not have is an
    error. ``trace`` (a run of both models) gives the map a Flatten before a Dense flattened."""
    records: dict[str, list[Mapping[str, Any]]] = {}
    for r in record.get("layers", []):
        records.setdefault(r["owner"], []).append(r)
    walk = _Walk(record.get("classes", {}), records)
    _pair_owner(walk, owner, keras_model, torch_model, "", "")
    trace = trace if trace is not None else RunTrace()
    for p in walk.pairs:
        if p.transform == "linear_after_flatten" and not p.extra.get("flatten_shape_last"):
            p.extra["flatten_shape_last"] = list(_recorded_flatten_shape(p, trace))
    return walk.pairs + pair_by_path(walk.pairs, keras_model, torch_model, trace)


def _torch_get(module: Any, path: str, what: str) -> Any:
    try:
        return module.get_submodule(path) if path else module
    except AttributeError:
        raise TransferError(f"{what}: no module {path!r} in the migrated model") from None


def _torch_missing(module: Any, path: str) -> bool:
    try:
        module.get_submodule(path)
    except AttributeError:
        return True
    return False


def _pair_owner(walk: _Walk, owner: str, kobj: Any, tobj: Any, kprefix: str, tprefix: str) -> None:
    for rec in walk.records.get(owner, []):
        path, target = str(rec["path"]), str(rec["target"])
        where = f"{join_path(kprefix, path)} (recorded as {owner}.{path} -> {target})"
        klayer = keras_get(kobj, path)
        if klayer is None:
            if _torch_missing(tobj, target):
                continue  # built conditionally, and not in this instance on either side (shortcut = None)
            raise TransferError(f"{where}: no such layer in the original model")
        weighted = _torch_get(tobj, target, where)
        # a target deeper than its Keras path is the weighted module inside a wrapper
        wrapped = path and target.count(".") > path.count(".")
        compared_rel = target.rsplit(".", 1)[0] if wrapped else target
        walk.pairs.append(
            KerasPair(
                source=join_path(kprefix, path),
                target=join_path(tprefix, compared_rel),
                keras_layer=klayer,
                torch_module=_torch_get(tobj, compared_rel, where),
                weighted=weighted,
                weighted_path=join_path(tprefix, target),
                transform=str(rec["transform"]),
                owner=owner,
                extra=dict(rec.get("extra", {})),
                nested_owner=type(klayer).__name__ in walk.classes,
            )
        )
    for trel, tchild, krel, kchild in _nested_owners(walk, tobj, kobj, kprefix):
        _pair_owner(
            walk, type(tchild).__name__, kchild, tchild, join_path(kprefix, krel), join_path(tprefix, trel)
        )


def _owner_instances(walk: _Walk, tobj: Any) -> list[tuple[str, Any]]:
    """Instances of recorded user classes below ``tobj``, outermost only."""
    found: list[tuple[str, Any]] = []
    for path, module in tobj.named_modules():
        if not path or any(path.startswith(p + ".") for p, _ in found):
            continue
        cls = walk.classes.get(type(module).__name__)
        if cls is not None and cls.get("base") != "function":
            found.append((path, module))
    return found


def _nested_owners(walk: _Walk, tobj: Any, kobj: Any, kprefix: str) -> Iterator[tuple[str, Any, str, Any]]:
    """(torch path, module, Keras path, layer) of each nested owner: by the same attribute path,
    else (inside a Sequential) the n-th instance of the class on one side is the n-th on the other."""
    instances = _owner_instances(walk, tobj)
    keras_by_class: dict[str, list[tuple[str, Any]]] = {}
    for kpath, layer in keras_named(kobj):
        keras_by_class.setdefault(type(layer).__name__, []).append((kpath, layer))
    seen: dict[str, int] = {}
    for trel, tchild in instances:
        name = type(tchild).__name__
        n = seen.get(name, 0)
        seen[name] = n + 1
        # digits index nn.Sequential and Keras .layers differently (fused activations): by order
        same = None if any(c.isdigit() for c in trel.split(".")) else keras_get(kobj, trel)
        if same is not None and type(same).__name__ == name:
            yield trel, tchild, trel, same
            continue
        candidates = keras_by_class.get(name, [])
        if n >= len(candidates):
            raise TransferError(
                f"{join_path(kprefix, trel)} ({name}): no {name} layer in the original model "
                "to take its weights from"
            )
        kpath, layer = candidates[n]
        yield trel, tchild, kpath, layer


# ------------------------------------------------------------------ what a run of both models shows

# Keras layers that give their input's values back in the same order (a Flatten's output read
# through them is still the Flatten's)
_PASS_THROUGH = (
    "Dropout",
    "AlphaDropout",
    "GaussianDropout",
    "GaussianNoise",
    "ActivityRegularization",
    "Activation",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "Softmax",
    "Identity",
)


def _kinds(obj: Any) -> set[str]:
    return {c.__name__ for c in type(obj).__mro__}


def _shape(x: Any) -> tuple[int, ...] | None:
    """The shape of a tensor without its batch axis, or None."""
    try:
        return tuple(int(d) for d in tuple(x.shape)[1:])
    except (AttributeError, TypeError, ValueError):
        return None


def _first_input(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
    return args[0] if args else kwargs.get("inputs")


@dataclass
class RunTrace:
    """What one run of both models showed about flattening, for a Dense after a Flatten: the map
    (without batch) each Keras Flatten flattened, the Flattens whose output each Dense was given
    (directly or through layers such as Dropout; None for any other input), and the map each
    torch ``nn.Flatten`` flattened."""

    keras_flattens: dict[int, tuple[str, tuple[int, ...]]] = field(default_factory=dict)
    fed: dict[int, set[int | None]] = field(default_factory=dict)  # id(Dense) -> ids of Flattens
    torch_flattens: dict[str, tuple[int, ...]] = field(default_factory=dict)

    @contextmanager
    def keras(self, model: Any) -> Iterator[None]:
        """Record the Keras side while the body runs ``model``."""
        paths: dict[int, str] = {}
        for path, layer in keras_named(model):
            paths.setdefault(id(layer), path)
        derived: dict[int, tuple[Any, int]] = {}  # id(tensor) -> (tensor, id(Flatten)); holds the tensor
        saved: list[tuple[Any, Any]] = []
        for layer in keras_layers(model):
            kinds = _kinds(layer)
            if "Flatten" in kinds:
                wrapper = self._flatten(layer, paths.get(id(layer), ""), derived)
            elif "Dense" in kinds:
                wrapper = self._dense(layer, derived)
            elif kinds & set(_PASS_THROUGH):
                wrapper = self._pass_through(layer, derived)
            else:
                continue
            saved.append((layer, layer.call))
            layer.call = wrapper
        try:
            yield
        finally:
            for layer, call in saved:
                layer.call = call
            derived.clear()

    def _flatten(self, layer: Any, path: str, derived: dict[int, tuple[Any, int]]) -> Any:
        call = layer.call

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            out = call(*args, **kwargs)
            shape = _shape(_first_input(args, kwargs))
            if shape is not None:
                self.keras_flattens[id(layer)] = (path, shape)
                derived[id(out)] = (out, id(layer))
            return out

        return wrapped

    def _dense(self, layer: Any, derived: dict[int, tuple[Any, int]]) -> Any:
        call = layer.call

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            src = derived.get(id(_first_input(args, kwargs)))
            self.fed.setdefault(id(layer), set()).add(src[1] if src is not None else None)
            return call(*args, **kwargs)

        return wrapped

    @staticmethod
    def _pass_through(layer: Any, derived: dict[int, tuple[Any, int]]) -> Any:
        call = layer.call

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            x = _first_input(args, kwargs)
            out = call(*args, **kwargs)
            src = derived.get(id(x))
            if src is not None and _shape(out) == _shape(x):
                derived[id(out)] = (out, src[1])
            return out

        return wrapped

    @contextmanager
    def torch(self, model: Any) -> Iterator[None]:
        """Record the torch side while the body runs ``model``."""
        handles = []
        for path, module in model.named_modules():
            if type(module).__name__ == "Flatten":

                def hook(module: Any, args: Any, output: Any, path: str = path) -> None:
                    shape = _shape(args[0]) if args else None
                    if shape is not None:
                        self.torch_flattens[path] = shape

                handles.append(module.register_forward_hook(hook))
        try:
            yield
        finally:
            for h in handles:
                h.remove()

    def feeding(self, dense: Any) -> tuple[str, tuple[int, ...]] | None:
        """(Keras path, map shape) of the one Flatten the run gave ``dense``'s input from; None
        when it was given something else each time. TransferError when it cannot be told: not
        called, or fed by a Flatten in some calls only, or given something else while a Flatten
        of a map with the same number of values is in the model (code the trace cannot follow,
        such as ``ops.relu(flatten(x))``, may lie between)."""
        label = f"{type(dense).__name__} {dense.name!r}"
        fed = self.fed.get(id(dense), set())
        flatten = next(iter(fed)) if len(fed) == 1 else None
        if flatten is not None:
            return self.keras_flattens.get(flatten)
        if len(fed) > 1:
            raise TransferError(f"{label} was given the output of different Flattens, or not always one")
        kernel = getattr(dense, "kernel", None)
        rows = int(kernel.shape[0]) if kernel is not None else None
        alike = [
            f"{path or 'a Flatten'} of a {shape} map"
            for path, shape in self.keras_flattens.values()
            if math.prod(shape) == rows and math.prod(shape[:-1]) > 1
        ]
        if alike and not fed:
            raise TransferError(
                f"{label} was not called while running the original model, and it takes {rows} "
                f"features, as many as the {', '.join(alike)} gives"
            )
        if alike:
            raise TransferError(
                f"{label} takes {rows} features, as many as the {', '.join(alike)} gives, but the "
                "run could not tell whether that Flatten feeds it"
            )
        return None


def _torch_flatten_shape(trace: RunTrace, kpath: str, pairs: Sequence[KerasPair]) -> tuple[int, ...] | None:
    """The map the torch counterpart of the Keras Flatten at ``kpath`` flattened: the recorded
    target's, else the one at the same path; None when no nn.Flatten there ran."""
    for p in pairs:
        if p.source == kpath and p.target in trace.torch_flattens:
            return trace.torch_flattens[p.target]
    return trace.torch_flattens.get(kpath)


def _recorded_flatten_shape(p: KerasPair, trace: RunTrace) -> tuple[int, ...]:
    """The (*S, C) map of a recorded ``linear_after_flatten`` without ``flatten_shape_last``: from
    the record's ``flatten_spatial`` (S, the channels a parameter) and the kernel, else from the
    run of the original model."""
    kernel = getattr(p.keras_layer, "kernel", None)
    rows = int(kernel.shape[0]) if kernel is not None else 0
    spatial = p.extra.get("flatten_spatial")
    if spatial and rows and rows % math.prod(int(d) for d in spatial) == 0:
        return (*(int(d) for d in spatial), rows // math.prod(int(d) for d in spatial))
    try:
        fed = trace.feeding(p.keras_layer)
    except TransferError as exc:
        fed, why = None, f": {exc}"
    else:
        why = ": the run of the original model showed no Flatten feeding it"
    if fed is None:
        raise TransferError(
            f"{p.label}: recorded as linear_after_flatten, but the shape of the map its Flatten "
            f"flattens is neither in the record (flatten_shape_last) nor known from running it{why}"
        )
    return fed[1]


def _linear_by_path(
    where: str, dense: Any, trace: RunTrace, pairs: Sequence[KerasPair]
) -> tuple[str, dict[str, Any]]:
    """The transform of a Linear paired by path with ``dense``: ``linear``, or
    ``linear_after_flatten`` when a Flatten of a feature map (spatial size > 1) that torch
    flattens channels-first feeds it."""
    try:
        fed = trace.feeding(dense)
    except TransferError as exc:
        raise TransferError(
            f"{where}: the migration record does not list it and the flatten order it needs cannot "
            f"be inferred ({exc}): the record must give its transform (linear or "
            "linear_after_flatten with flatten_shape_last)"
        ) from None
    if fed is None:
        return "linear", {}
    kpath, shape = fed
    if math.prod(shape[:-1]) == 1:
        return "linear", {}  # a 1x1 map (after a global pooling): both orders agree
    torch_shape = _torch_flatten_shape(trace, kpath, pairs)
    channels_first = (shape[-1], *shape[:-1])
    if torch_shape == shape and shape != channels_first:
        return "linear", {}  # torch flattens the map in Keras's order (a sequence (T, F))
    # a feature map (2 spatial axes or more) is channels-first in the migration: torch flattens (C, *S)
    feature_map = len(shape) >= 3 and torch_shape in (None, channels_first)
    if feature_map or (torch_shape == channels_first and shape != channels_first):
        return "linear_after_flatten", {"flatten_shape_last": list(shape)}
    seen = f"torch flattens a {torch_shape} map" if torch_shape else "no nn.Flatten ran at that path in torch"
    raise TransferError(
        f"{where}: fed by the Keras Flatten {kpath or '(unnamed)'} of a {shape} map, but {seen}: "
        "the flatten order cannot be inferred and the migration record does not list the layer"
    )


# ------------------------------------------------------------------ pairing by path

# torch module type -> (transform, Keras classes it is the migration of)
_BY_TYPE: dict[str, tuple[str, tuple[str, ...]]] = {
    "Linear": ("linear", ("Dense",)),
    "Conv1d": ("conv1d", ("Conv1D",)),
    "Conv2d": ("conv2d", ("Conv2D",)),
    "Conv3d": ("conv3d", ("Conv3D",)),
    "ConvTranspose1d": ("conv_transpose1d", ("Conv1DTranspose",)),
    "ConvTranspose2d": ("conv_transpose2d", ("Conv2DTranspose",)),
    "BatchNorm1d": ("batchnorm", ("BatchNormalization",)),
    "BatchNorm2d": ("batchnorm", ("BatchNormalization",)),
    "BatchNorm3d": ("batchnorm", ("BatchNormalization",)),
    "LayerNorm": ("layernorm", ("LayerNormalization",)),
    "Embedding": ("embedding", ("Embedding",)),
    "LSTM": ("lstm", ("LSTM",)),
    "GRU": ("gru", ("GRU",)),
    "RNN": ("simple_rnn", ("SimpleRNN",)),
    "PReLU": ("prelu", ("PReLU",)),
    "MultiheadAttention": ("multihead_attention", ("MultiHeadAttention",)),
    "KerasMultiHeadAttention": ("keras_multi_head_attention", ("MultiHeadAttention",)),
    "GroupNorm": ("layernorm", ("GroupNormalization",)),
    "RMSNorm": ("layernorm", ("RMSNormalization",)),
}


def _own_state(module: Any) -> list[str]:
    """The module's own state_dict entries (not its children's)."""
    return [k for k in module.state_dict(keep_vars=True) if "." not in k]


def _is_separable(module: Any) -> bool:
    """``nn.Sequential(depthwise Conv2d, pointwise 1x1 Conv2d)``: a SeparableConv2D's migration."""
    mods = list(module.children()) if type(module).__name__ == "Sequential" else []
    if len(mods) != 2 or any(type(m).__name__ != "Conv2d" for m in mods):
        return False
    dw, pw = mods
    return bool(dw.groups == dw.in_channels and tuple(pw.kernel_size) == (1, 1) and not _own_state(module))


def _infer_transform(module: Any, layer: Any) -> tuple[str, str]:
    """(transform, "") from the torch module's type, checked against the Keras layer's; ("", why)
    when none is known or the two do not go together (why: "is a Dropout, not a Dense")."""
    tname, kname = type(module).__name__, type(layer).__name__
    kinds = _kinds(layer)
    if _is_separable(module):
        if "SeparableConv2D" in kinds:
            return "separable_conv2d", ""
        return "", f"is a {kname}, not a SeparableConv2D"
    transform, keras_classes = _BY_TYPE.get(tname, ("", ()))
    if not transform:
        return "", f"is a {kname}, and no weight transform is inferred for a {tname}"
    if tname in ("LSTM", "GRU", "RNN") and getattr(module, "bidirectional", False):
        if "Bidirectional" in kinds and keras_classes[0] in _kinds(getattr(layer, "forward_layer", None)):
            return f"bidirectional_{transform}", ""
        return "", f"is a {kname}, not a Bidirectional({keras_classes[0]})"
    if tname in ("Conv1d", "Conv2d") and f"DepthwiseConv{tname[4]}D" in kinds:
        cin, cout = module.in_channels, module.out_channels
        if module.groups == cin and cout % cin == 0:
            return f"depthwise_{transform}", ""
        return "", f"is a {kname}, but the {tname} is not depthwise (groups={module.groups})"
    if kinds & set(keras_classes):
        return transform, ""
    return "", f"is a {kname}, not a {' or '.join(keras_classes)}"


def _single_weighted(layer: Any, path: str) -> tuple[Any, str]:
    """A Keras Sequential or functional model with a single layer with weights, where torch has
    the weighted module alone (``Sequential([ZeroPadding2D, Conv2D])`` -> ``Conv2d(padding=1)``):
    that layer, and its path."""
    while _is_graph_model(layer):
        weighted = [(i, c) for i, c in enumerate(_keras_sublayers(layer)) if c.weights]
        if len(weighted) != 1:
            break
        i, layer = weighted[0]
        path = join_path(path, str(i))
    return layer, path


def _aligned(tseq: Any, kseq: Any) -> dict[int, int]:
    """Index in a Keras Sequential of each child with weights of the torch ``nn.Sequential`` it
    became, when the indices differ (a fused activation becomes a module of its own: ``Dense(16,
    activation="relu")`` -> ``nn.Linear, nn.ReLU``): the n-th with weights on one side is the n-th
    on the other. Empty when the counts differ or the indices agree."""
    tw = [i for i, c in enumerate(tseq.children()) if len(c.state_dict())]
    kw = [j for j, c in enumerate(_keras_sublayers(kseq)) if c.weights]
    return dict(zip(tw, kw, strict=True)) if len(tw) == len(kw) and tw != kw else {}


def _keras_at(kmodel: Any, tmodel: Any, tpath: str) -> tuple[Any, str, str] | None:
    """The Keras counterpart of the torch module at ``tpath``, by the same path: (layer, its Keras
    path, torch path of the module to compare). Digits in an ``nn.Sequential`` whose Keras
    Sequential has its layers with weights at other indices go by their order (``_aligned``). A
    torch wrapper deeper than the Keras layer (``nn.Sequential(nn.ZeroPad2d, nn.Conv2d)`` for
    ``Conv2D(padding="same")``) is compared whole."""
    obj: Any = kmodel
    tobj: Any = tmodel
    parts = tpath.split(".")
    kparts: list[str] = []
    for i, name in enumerate(parts):
        kname = name
        if name.isdigit() and type(tobj).__name__ == "Sequential" and _is_graph_model(obj):
            kname = str(_aligned(tobj, obj).get(int(name), int(name)))
        child = _keras_child(obj, kname)
        if child is None:
            inside = i > 0 and all(c.isdigit() for c in parts[i:]) and not _is_graph_model(obj)
            if inside and hasattr(obj, "get_weights"):
                return obj, ".".join(kparts), ".".join(parts[:i])
            return None
        obj, tobj = child, tobj.get_submodule(name)
        kparts.append(kname)
    if not hasattr(obj, "get_weights"):
        return None  # a list, not a layer
    layer, kpath = _single_weighted(obj, ".".join(kparts))
    return layer, kpath, tpath


def pair_by_path(
    pairs: Sequence[KerasPair], keras_model: Any, torch_model: Any, trace: RunTrace
) -> list[KerasPair]:
    """Every torch module with parameters or buffers that no pair covers, paired with the Keras
    layer at the same path (attribute names; digits index an ``nn.Sequential``/``nn.ModuleList``
    on the torch side, a Keras Sequential's ``.layers``, a list attribute or a functional model's
    layers on the Keras side; see ``_keras_at``), its transform inferred from the torch module's
    type and checked against the Keras layer's. A type that does not fit, a type with no known
    transform or a Keras layer already paired is a TransferError naming the module; a module with
    no Keras layer at its path stays unpaired, for ``transfer``'s completeness check to name."""
    covered: set[int] = set()
    used: dict[int, str] = {}
    for p in pairs:
        if p.nested_owner:
            continue
        if p.transform != "identity":  # an identity pair may be a container: its children are walked
            covered.update(id(m) for m in p.weighted.modules())
        used.setdefault(id(p.keras_layer), p.weighted_path or "the model")
    found: list[KerasPair] = []

    def visit(module: Any, path: str) -> None:
        for name, child in module.named_children():
            cpath = join_path(path, name)
            if id(child) in covered:
                continue
            if _own_state(child) or _is_separable(child):
                pair = _pair_one(cpath, child)
                if pair is not None:
                    found.append(pair)
                    covered.update(id(m) for m in child.modules())
                    used[id(pair.keras_layer)] = cpath
                    continue
            visit(child, cpath)

    def _pair_one(cpath: str, child: Any) -> KerasPair | None:
        tname = type(child).__name__
        where = f"{cpath} ({tname}): the migration record does not list it"
        hit = _keras_at(keras_model, torch_model, cpath)
        transform, why = _infer_transform(child, hit[0]) if hit is not None else ("", "")
        if hit is None or (_is_separable(child) and not transform):
            # no layer there: left for the completeness check, which names both sides; a
            # Sequential(Conv2d, Conv2d) that is not a SeparableConv2D: its convolutions one by one
            return None
        layer, kpath, compared = hit
        if not transform:
            raise TransferError(f"{where}, and the original's layer at {kpath} {why}")
        if id(layer) in used:
            raise TransferError(
                f"{where}, and the original's layer at {kpath} ({type(layer).__name__}) already gives "
                f"its weights to {used[id(layer)]}"
            )
        extra: dict[str, Any] = {}
        if transform == "linear":
            where = f"{kpath} ({type(layer).__name__} -> {tname})"
            transform, extra = _linear_by_path(where, layer, trace, pairs)
        return KerasPair(
            source=kpath,
            target=compared,
            keras_layer=layer,
            torch_module=torch_model.get_submodule(compared),
            weighted=child,
            weighted_path=cpath,
            transform=transform,
            owner="",
            extra=extra,
            by_path=True,
        )

    visit(torch_model, "")
    return found


def _wrapped(layer: Any) -> Any:
    """The recurrent layer a Bidirectional wraps (its options are the wrapper's), else the layer."""
    return getattr(layer, "forward_layer", None) or layer


def _flag(layer: Any, name: str, extra: Mapping[str, Any]) -> bool:
    """A Keras layer's bool option (``center``, ``scale``), else the record's extra, else True."""
    v = getattr(layer, name, None)
    return v if isinstance(v, bool) else bool(extra.get(name, True))


def context(p: KerasPair) -> TransformContext:
    """The transform context: the Keras layer's own options, the record's extra for the rest."""
    layer, extra = p.keras_layer, p.extra
    last = extra.get("flatten_shape_last")
    norm = p.transform in ("batchnorm", "layernorm")
    axis = getattr(layer, "axis", -1)
    return TransformContext(
        flatten_shape_last=tuple(int(d) for d in last) if last else None,
        layernorm_rank=len(axis) if p.transform == "layernorm" and isinstance(axis, list | tuple) else 1,
        use_bias=bool(getattr(_wrapped(layer), "use_bias", extra.get("use_bias", True))),
        depth_multiplier=int(getattr(layer, "depth_multiplier", None) or extra.get("depth_multiplier", 1)),
        # RMSNormalization: `scale` is its weight, not a flag, and it has no offset
        center=_flag(layer, "center", extra) and type(layer).__name__ != "RMSNormalization" if norm else True,
        scale=_flag(layer, "scale", extra) if norm else True,
        reset_after=bool(getattr(_wrapped(layer), "reset_after", True)),
    )


def transfer(pairs: Sequence[KerasPair], keras_model: Any, torch_model: Any) -> None:
    """Load every pair's Keras weights into its torch module (``strict=True``). Every Keras weight
    must be consumed and every torch parameter and buffer assigned: anything else is a
    TransferError naming the layers, never a silently random weight."""
    import torch

    consumed: set[int] = set()
    assigned: set[int] = set()
    for p in pairs:
        if p.nested_owner:
            continue  # the pairs of its own layers move its weights
        arrays = p.keras_layer.get_weights()
        own = p.weighted.state_dict(keep_vars=True)
        if not arrays and not own and p.transform == "identity":
            continue
        try:
            state = apply_keras_transform(p.transform, arrays, context(p))
        except (TransformError, KeyError) as exc:
            raise TransferError(f"{p.label}: {exc}") from None
        try:
            p.weighted.load_state_dict(
                {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}, strict=True
            )
        except RuntimeError as exc:
            detail = " ".join(str(exc).split())
            raise TransferError(
                f"{p.label}: transform {p.transform} does not fit {p.weighted_path or 'the model'}: {detail}"
            ) from None
        consumed.update(id(w) for w in p.keras_layer.weights)
        assigned.update(id(t) for t in own.values())
    _check_complete(consumed, assigned, keras_model, torch_model)


def _check_complete(consumed: set[int], assigned: set[int], keras_model: Any, torch_model: Any) -> None:
    names: dict[int, str] = {}
    for path, layer in keras_named(keras_model):
        for w in layer.weights:
            names[id(w)] = f"{path} ({type(layer).__name__}) {w.name}"
    missing = [names.get(id(w), w.path) for w in keras_model.weights if id(w) not in consumed]
    if missing:
        raise TransferError(
            f"weights of the original model with no counterpart in the migrated one: {_few(missing)}"
        )
    modules = dict(torch_model.named_modules())
    unset = []
    for name, t in torch_model.state_dict(keep_vars=True).items():
        if id(t) not in assigned:
            owner = modules.get(name.rpartition(".")[0])
            unset.append(f"{name} ({type(owner).__name__})" if owner is not None else name)
    if unset:
        raise TransferError(
            "parameters of the migrated model with no source in the original (neither in the migration "
            f"record nor at the same path in the original): {_few(unset)}"
        )


def _few(items: list[str]) -> str:
    return ", ".join(items[:5]) + (f" and {len(items) - 5} more" if len(items) > 5 else "")
