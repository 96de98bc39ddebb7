"""tf2torch: pairing the original Keras layers with the migrated torch modules through the
migration record, and moving the weights Keras -> torch through the named transforms
(``migrator.weights.KERAS_TO_TORCH``). Runs in the verification subprocess."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from migrator.verify.transfer import TransferError
from migrator.weights import TransformContext, TransformError, apply_keras_transform

__all__ = [
    "KerasPair",
    "TransferError",
    "join_path",
    "keras_get",
    "keras_named",
    "model_owner",
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

    @property
    def label(self) -> str:
        return f"{self.source} ({type(self.keras_layer).__name__} -> {type(self.weighted).__name__})"


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


def keras_get(obj: Any, path: str) -> Any:
    """The Keras layer at ``path`` below ``obj``, or None: attribute names (layer names in a
    Sequential or functional model, which a migration may turn into a class); digits index a
    Sequential's ``.layers`` or a list."""
    for name in path.split(".") if path else []:
        if name.isdigit():
            seq = obj if isinstance(obj, list | tuple) else getattr(obj, "layers", None)
            i = int(name)
            obj = seq[i] if isinstance(seq, list | tuple) and i < len(seq) else None
        elif _is_graph_model(obj):
            obj = _by_name(obj, name)
        else:
            obj = getattr(obj, name, None)
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


def pair_layers(keras_model: Any, torch_model: Any, record: Mapping[str, Any], owner: str) -> list[KerasPair]:
    """Every recorded layer of the owner, then the owners nested in it (user layer classes), each
    resolved on both sides. A record naming a layer either model does not have is an error."""
    records: dict[str, list[Mapping[str, Any]]] = {}
    for r in record.get("layers", []):
        records.setdefault(r["owner"], []).append(r)
    walk = _Walk(record.get("classes", {}), records)
    _pair_owner(walk, owner, keras_model, torch_model, "", "")
    return walk.pairs


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


def context(p: KerasPair) -> TransformContext:
    """The transform context: the Keras layer's own options, the record's extra for the rest."""
    layer, extra = p.keras_layer, p.extra
    last = extra.get("flatten_shape_last")
    norm = p.transform in ("batchnorm", "layernorm")
    axis = getattr(layer, "axis", -1)
    return TransformContext(
        flatten_shape_last=tuple(int(d) for d in last) if last else None,
        layernorm_rank=len(axis) if p.transform == "layernorm" and isinstance(axis, list | tuple) else 1,
        use_bias=bool(getattr(layer, "use_bias", extra.get("use_bias", True))),
        depth_multiplier=int(getattr(layer, "depth_multiplier", None) or extra.get("depth_multiplier", 1)),
        center=bool(getattr(layer, "center", extra.get("center", True)) if norm else True),
        scale=bool(getattr(layer, "scale", extra.get("scale", True)) if norm else True),
        reset_after=bool(getattr(layer, "reset_after", True)),
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
        raise TransferError(f"parameters of the migrated model with no source in the original: {_few(unset)}")


def _few(items: list[str]) -> str:
    return ", ".join(items[:5]) + (f" and {len(items) - 5} more" if len(items) > 5 else "")
