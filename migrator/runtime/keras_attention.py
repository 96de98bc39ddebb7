"""torch's attention semantics on Keras 3, for models migrated torch -> Keras.

``nn.MultiheadAttention`` itself becomes the stock ``keras.layers.MultiHeadAttention`` (the
migration rewrites its call); what stock Keras lacks is here:

* :func:`attention_mask`: torch's ``attn_mask`` / ``key_padding_mask`` (True, or a non-zero
  float, means *masked out*; ``attn_mask`` is ``(L, S)`` or ``(N * num_heads, L, S)``) as the one
  boolean mask ``MultiHeadAttention`` takes (True means *attend*), broadcastable to
  ``(N, num_heads, L, S)``.
* :func:`mean_attention_weights`: ``(output, scores)`` with the per-head scores averaged over the
  heads, as torch returns them by default (``average_attn_weights=True``).
* :class:`TransformerEncoderLayer` / :class:`TransformerEncoder`: Keras has no such layers. Built
  from ``MultiHeadAttention``, ``Dense``, ``LayerNormalization`` and ``Dropout`` with torch's
  post-norm / pre-norm order, activation and epsilon, sub-layers named as torch names them, and
  torch's call (``src``, ``src_mask`` / ``mask``, ``src_key_padding_mask``, ``is_causal``) with
  torch's mask convention. Inputs are always batch-major ``(N, L, E)``: the migration holds
  torch's time-major tensors batch-major.

A float mask is read as torch reads a 0 / -inf mask (0: attend, anything else: masked); an
additive bias with other values has no ``MultiHeadAttention`` form. A query whose keys are all
masked gets NaN from torch and a uniform average from Keras.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


def _masked(mask: Any) -> Any:
    """A torch mask as booleans, True where torch masks out (True, or a non-zero float)."""
    if mask is None:
        return None
    mask = ops.convert_to_tensor(mask)
    if mask.dtype == "bool":
        return mask
    return ops.not_equal(mask, ops.zeros((), dtype=mask.dtype))


def attention_mask(attn_mask: Any = None, key_padding_mask: Any = None, num_heads: int = 1) -> Any:
    """The Keras ``attention_mask`` (True = attend) for torch's ``attn_mask`` and
    ``key_padding_mask`` (True = masked out); None when both are None.

    ``attn_mask`` (L, S) gives (L, S); ``(N * num_heads, L, S)`` gives ``(N, num_heads, L, S)``;
    ``key_padding_mask`` (N, S) gives ``(N, 1, 1, S)``; both are combined (masked where either
    masks)."""
    blocked = _masked(attn_mask)
    padding = _masked(key_padding_mask)
    if blocked is not None and len(blocked.shape) == 3:
        shape = ops.shape(blocked)
        blocked = ops.reshape(blocked, (-1, num_heads, shape[1], shape[2]))
    if padding is not None:
        padding = padding[:, None, None, :]
        blocked = padding if blocked is None else ops.logical_or(blocked, padding)
    return None if blocked is None else ops.logical_not(blocked)


def mean_attention_weights(result: Any) -> tuple[Any, Any]:
    """``(output, scores)`` of ``MultiHeadAttention(..., return_attention_scores=True)`` with the
    scores ``(N, num_heads, L, S)`` averaged over the heads to ``(N, L, S)``: torch's
    ``need_weights=True, average_attn_weights=True`` (its defaults)."""
    output, scores = result
    return output, ops.mean(scores, axis=1)


def _activation(name: str, x: Any) -> Any:
    if name == "relu":
        return ops.relu(x)
    return ops.gelu(x, approximate=False)  # torch's "gelu" is the exact (erf) form


@keras.saving.register_keras_serializable(package="fwmigrate")
class TransformerEncoderLayer(keras.layers.Layer):  # type: ignore[misc]
    """``torch.nn.TransformerEncoderLayer`` on Keras: self-attention then a feed-forward block,
    each with a residual, LayerNorm after (``norm_first=False``, torch's default) or before.
    ``activation`` is ``"relu"`` or ``"gelu"`` (exact). ``batch_first`` is recorded only (for
    :class:`TransformerEncoder`'s inference path): inputs are always ``(N, L, E)``."""

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str = "relu",
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if d_model % nhead:
            raise ValueError(f"d_model {d_model} is not a multiple of nhead {nhead}")
        if activation not in ("relu", "gelu"):
            raise ValueError(f"activation must be 'relu' or 'gelu', got {activation!r}")
        self.d_model, self.nhead, self.dim_feedforward = d_model, nhead, dim_feedforward
        self.dropout_rate, self.activation, self.layer_norm_eps = dropout, activation, layer_norm_eps
        self.batch_first, self.norm_first, self.bias = batch_first, norm_first, bias
        # in torch's order and under torch's names (weights and the per-layer comparison follow them)
        self.self_attn = keras.layers.MultiHeadAttention(
            nhead, key_dim=d_model // nhead, dropout=dropout, use_bias=bias
        )
        self.linear1 = keras.layers.Dense(dim_feedforward, use_bias=bias)
        self.dropout = keras.layers.Dropout(dropout)
        self.linear2 = keras.layers.Dense(d_model, use_bias=bias)
        self.norm1 = keras.layers.LayerNormalization(epsilon=layer_norm_eps, center=bias)
        self.norm2 = keras.layers.LayerNormalization(epsilon=layer_norm_eps, center=bias)
        self.dropout1 = keras.layers.Dropout(dropout)
        self.dropout2 = keras.layers.Dropout(dropout)

    def call(
        self,
        src: Any,
        src_mask: Any = None,
        src_key_padding_mask: Any = None,
        is_causal: bool = False,
        training: Any = None,
    ) -> Any:
        if is_causal and src_mask is None:
            raise ValueError("is_causal=True needs src_mask (torch: a hint that src_mask is causal)")
        mask = attention_mask(src_mask, src_key_padding_mask, self.nhead)
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), mask, training)
            return x + self._ff_block(self.norm2(x), training)
        x = self.norm1(x + self._sa_block(x, mask, training))
        return self.norm2(x + self._ff_block(x, training))

    def _sa_block(self, x: Any, mask: Any, training: Any) -> Any:
        out = self.self_attn(x, x, attention_mask=mask, training=training)
        return self.dropout1(out, training=training)

    def _ff_block(self, x: Any, training: Any) -> Any:
        hidden = self.dropout(_activation(self.activation, self.linear1(x)), training=training)
        return self.dropout2(self.linear2(hidden), training=training)

    @property
    def use_bias(self) -> bool:
        """Keras's name for ``bias`` (the weight transforms read it)."""
        return bool(self.bias)

    def fast_path_able(self) -> bool:
        """What torch's TransformerEncoder checks before it runs on nested tensors."""
        return bool(self.batch_first and not self.norm_first and self.bias and self.nhead % 2 == 0)

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = super().get_config()
        config.update(
            d_model=self.d_model,
            nhead=self.nhead,
            dim_feedforward=self.dim_feedforward,
            dropout=self.dropout_rate,
            activation=self.activation,
            layer_norm_eps=self.layer_norm_eps,
            batch_first=self.batch_first,
            norm_first=self.norm_first,
            bias=self.bias,
        )
        return config


@keras.saving.register_keras_serializable(package="fwmigrate")
class TransformerEncoder(keras.layers.Layer):  # type: ignore[misc]
    """``torch.nn.TransformerEncoder``: ``num_layers`` copies of ``encoder_layer`` (the layer
    given is the first; the others are built from its config, so they start with their own
    initial weights where torch's start as copies), then ``norm``.

    torch's inference path (``enable_nested_tensor``: eval mode without gradients, a
    ``src_key_padding_mask`` padding at the end of each sequence, no ``mask``, a batch-first
    post-norm layer with an even number of heads and biases) drops the padded positions, so they
    come out as zeros (before ``norm``); this layer does the same when ``training`` is false. With
    gradients enabled in eval mode torch keeps their values."""

    def __init__(
        self,
        encoder_layer: TransformerEncoderLayer,
        num_layers: int,
        norm: Any = None,
        enable_nested_tensor: bool = True,
        mask_check: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        config = encoder_layer.get_config()
        config.pop("name", None)
        self.layers = [encoder_layer] + [
            type(encoder_layer).from_config(dict(config)) for _ in range(num_layers - 1)
        ]
        self.num_layers = num_layers
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor
        self.mask_check = mask_check

    def call(
        self,
        src: Any,
        mask: Any = None,
        src_key_padding_mask: Any = None,
        is_causal: Any = None,
        training: Any = None,
    ) -> Any:
        zero_padded = (
            self.enable_nested_tensor
            and not training
            and mask is None
            and src_key_padding_mask is not None
            and self.layers[0].fast_path_able()
        )
        keep = None
        if zero_padded:
            keep = ops.logical_not(_masked(src_key_padding_mask))
            # torch takes the nested path only when each sequence's padding is at its end
            flags = ops.cast(keep, "int32")
            at_end = ops.all(ops.greater_equal(flags[:, :-1], flags[:, 1:]))
            keep = ops.logical_or(keep, ops.logical_not(at_end))
        x = src
        for layer in self.layers:
            x = layer(
                x,
                src_mask=mask,
                src_key_padding_mask=src_key_padding_mask,
                is_causal=bool(is_causal) if is_causal is not None else False,
                training=training,
            )
        if keep is not None:
            x = x * ops.cast(keep, x.dtype)[:, :, None]
        if self.norm is not None:
            x = self.norm(x)
        return x


__all__ = [
    "TransformerEncoder",
    "TransformerEncoderLayer",
    "attention_mask",
    "mean_attention_weights",
]
