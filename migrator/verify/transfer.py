"""Pairing the original torch modules with the migrated Keras layers, and moving the weights
through the named transforms the migration recorded. Runs in the verification subprocess."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from migrator.weights import TransformContext, TransformError, apply_transform


class TransferError(RuntimeError):
    """A weight that could not be moved, or a layer with no counterpart: named, never silent."""


@dataclass
class Pair:
    path: str  # attribute path in the original model ("features.0")
    torch_module: Any
    keras_layer: Any  # the counterpart whose output is compared (may be a wrapper Sequential)
    weighted: Any  # the Keras layer that receives the weights
    transform: str
    owner: str
    rel_path: str
    extra: dict[str, Any] = field(default_factory=dict)


_INFER = {
    "Linear": "linear",
    "Conv1d": "conv1d",
    "Conv2d": "conv2d",
    "Conv3d": "conv3d",
    "ConvTranspose1d": "conv_transpose1d",
    "ConvTranspose2d": "conv_transpose2d",
    "BatchNorm1d": "batchnorm",
    "BatchNorm2d": "batchnorm",
    "BatchNorm3d": "batchnorm",
    "LayerNorm": "layernorm",
    "GroupNorm": "layernorm",
    "RMSNorm": "layernorm",
    "PReLU": "prelu",
    "Embedding": "embedding",
    "MultiheadAttention": "multihead_attention",
    "TransformerEncoderLayer": "transformer_encoder_layer",
    "TransformerEncoder": "transformer_encoder",
}
# modules whose transform moves their whole state (sub-modules included: out_proj, linear1, ...)
_WHOLE = frozenset({"MultiheadAttention", "TransformerEncoderLayer", "TransformerEncoder"})


def _child(layer: Any, name: str) -> Any:
    if name.isdigit():
        i = int(name)
        seq = getattr(layer, "layers", None) if not isinstance(layer, list | tuple) else layer
        if isinstance(seq, list | tuple) and i < len(seq):
            return seq[i]
        return None
    return getattr(layer, name, None)


_RECURRENT = ("lstm", "gru", "simple_rnn")


class LayerStack:
    """The Keras layers one torch recurrent module became (``num_layers > 1``: a list of them) seen
    as one weighted layer: their weights in order, set in order."""

    def __init__(self, layers: list[Any]) -> None:
        self.layers = layers

    @property
    def weights(self) -> list[Any]:
        return [w for layer in self.layers for w in layer.weights]

    def set_weights(self, arrays: list[np.ndarray]) -> None:
        i = 0
        for layer in self.layers:
            n = len(layer.weights)
            layer.set_weights(arrays[i : i + n])
            i += n


def _recurrent_use_bias(layer: Any) -> bool:
    """``use_bias`` of a Keras recurrent layer, of the one a Bidirectional wraps, or of a stack's."""
    if isinstance(layer, LayerStack):
        return _recurrent_use_bias(layer.layers[0]) if layer.layers else True
    inner = getattr(layer, "forward_layer", layer)
    return bool(getattr(inner, "use_bias", True))


def _own_state(module: Any) -> dict[str, np.ndarray]:
    state = {}
    for name, p in module.named_parameters(recurse=False):
        state[name] = p.detach().cpu().numpy()
    for name, b in module.named_buffers(recurse=False):
        if b is not None:
            state[name] = b.detach().cpu().numpy()
    return state


def _weighted(layer: Any, suffix: str | None) -> Any:
    """The layer inside a wrapper that holds the weights (ZeroPadding2D + Conv2D -> the Conv2D)."""
    if suffix:
        inner = _child(layer, suffix)
        if inner is not None:
            return inner
    inner_layers = getattr(layer, "layers", None)
    if inner_layers and type(layer).__name__ == "Sequential":
        with_w = [x for x in inner_layers if x.weights]
        if len(with_w) == 1:
            return with_w[0]
    return layer


def pair_modules(torch_model: Any, keras_model: Any, record: Mapping[str, Any]) -> list[Pair]:
    """Walk both trees by attribute names. Every torch module with its own parameters or buffers
    must find a counterpart, or TransferError names it."""
    classes = record.get("classes", {})
    by_key = {(r["owner"], r["path"]): r for r in record.get("layers", [])}
    owner = type(torch_model).__name__
    pairs: list[Pair] = []
    for path, rel, own, tmod, klayer in _walk(torch_model, keras_model, "", owner, "", classes):
        rec = by_key.get((own, rel))
        type_name = type(tmod).__name__
        if rec is not None:
            transform = rec["transform"]
            target_suffix = rec["target"][len(rec["path"]) + 1 :] if rec["target"] != rec["path"] else None
            extra = dict(rec.get("extra", {}))
        else:
            transform = _INFER.get(type_name, "identity" if not _own_state(tmod) else "")
            target_suffix = None
            extra = {}
        weighted = _weighted(klayer, target_suffix)
        if transform in _RECURRENT and isinstance(klayer, list | tuple) and klayer:
            # a stacked recurrent module: its output is the last Keras layer's
            weighted, klayer = LayerStack(list(klayer)), klayer[-1]
        if transform in ("conv1d", "conv2d") and type(weighted).__name__.startswith("DepthwiseConv"):
            transform = "depthwise_" + transform
        pairs.append(Pair(path, tmod, klayer, weighted, transform, own, rel, extra))
    return pairs


def _walk(
    tmod: Any, klayer: Any, path: str, owner: str, rel: str, classes: Mapping[str, Any]
) -> Iterator[tuple[str, str, str, Any, Any]]:
    for name, child in tmod.named_children():
        cpath = f"{path}.{name}" if path else name
        crel = f"{rel}.{name}" if rel else name
        kchild = _child(klayer, name)
        if kchild is None:
            if _own_state(child) or any(True for _ in child.parameters()):
                raise TransferError(
                    f"{cpath} ({type(child).__name__}) has no counterpart in the migrated model"
                )
            continue
        own = owner
        child_rel = crel
        if type(child).__name__ in classes:
            own, child_rel = type(child).__name__, ""
        yield cpath, crel, owner, child, kchild
        if type(child).__name__ in _WHOLE:
            continue
        yield from _walk(child, kchild, cpath, own, child_rel, classes)


def moved_tensors(module: Any) -> dict[str, Any]:
    """The torch tensors the pair of ``module`` moves: its own parameters and buffers, or, for a
    module whose transform moves its whole state (attention, encoder layers), its ``state_dict``."""
    if type(module).__name__ in _WHOLE:
        return dict(module.state_dict(keep_vars=True))
    state = dict(module.named_parameters(recurse=False))
    state.update((name, b) for name, b in module.named_buffers(recurse=False) if b is not None)
    return state


_ATTENTION = frozenset({"multihead_attention", "transformer_encoder_layer", "transformer_encoder"})


def _attention_context(layer: Any) -> TransformContext:
    """Heads and biases of a Keras MultiHeadAttention, or of the helper layers built on one."""
    if hasattr(layer, "layers") and layer.layers:  # keras_support.TransformerEncoder
        layer = layer.layers[0]
    attn = getattr(layer, "self_attn", layer)  # keras_support.TransformerEncoderLayer
    return TransformContext(
        num_heads=int(getattr(attn, "num_heads", 1)), use_bias=bool(getattr(attn, "_use_bias", True))
    )


def transfer(pairs: list[Pair], flatten_shapes: Mapping[int, tuple[int, ...]], keras_model: Any) -> None:
    """Set every counterpart's weights. Every torch parameter and buffer is consumed by exactly one
    transform (the transforms check their keys), and every Keras weight must be assigned: anything
    else is a TransferError naming the layers, never a silently random weight."""
    assigned: set[int] = set()
    for p in pairs:
        state = {k: v.detach().cpu().numpy() for k, v in moved_tensors(p.torch_module).items()}
        if not state:
            continue  # a container: its children carry the weights
        if not p.transform:
            raise TransferError(f"{p.path} ({type(p.torch_module).__name__}): no weight transform is known")
        ctx = TransformContext()
        if p.transform == "linear_after_flatten":
            line = p.extra.get("flatten_line")
            shape = flatten_shapes.get(int(line)) if line is not None else None
            if shape is None:
                raise TransferError(
                    f"{p.path}: the flatten feeding it (line {line}) was not seen while running"
                )
            ctx = TransformContext(flatten_shape=tuple(shape))
        elif p.transform == "layernorm":
            ctx = TransformContext(layernorm_rank=int(p.extra.get("layernorm_rank", 1)))
        elif p.transform == "prelu" and p.weighted.weights:  # alpha's rank: stock PReLU or the helper's (P,)
            ctx = TransformContext(prelu_rank=len(p.weighted.weights[0].shape))
        elif p.transform in _RECURRENT:
            ctx = TransformContext(use_bias=_recurrent_use_bias(p.weighted))
        elif p.transform.startswith("depthwise"):
            w = state.get("weight")
            groups = getattr(p.torch_module, "groups", 1)
            ctx = TransformContext(depth_multiplier=int(w.shape[0] // groups) if w is not None else 1)
        if p.transform in ("linear", "linear_after_flatten") or p.transform.startswith(("conv", "depthwise")):
            ctx = TransformContext(
                flatten_shape=ctx.flatten_shape,
                layernorm_rank=ctx.layernorm_rank,
                depth_multiplier=ctx.depth_multiplier,
                use_bias=bool(getattr(p.weighted, "use_bias", True)),
            )
        if p.transform in _ATTENTION:
            ctx = _attention_context(p.weighted)
        try:
            arrays = apply_transform(p.transform, state, ctx)
        except TransformError as exc:
            raise TransferError(
                f"{p.path} ({type(p.torch_module).__name__} -> {type(p.weighted).__name__}): {exc}"
            ) from None
        expected = [tuple(w.shape) for w in p.weighted.weights]
        got = [tuple(a.shape) for a in arrays]
        if expected != got:
            raise TransferError(
                f"{p.path} ({type(p.torch_module).__name__} -> {type(p.weighted).__name__}): "
                f"transform {p.transform} gives shapes {got}, the layer has {expected}"
            )
        p.weighted.set_weights(arrays)
        assigned.update(id(w) for w in p.weighted.weights)
    missing = [w.path for w in keras_model.weights if id(w) not in assigned]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise TransferError(f"weights of the migrated model with no source in the original: {shown}")
