"""Keras's ``MultiHeadAttention`` on PyTorch, for the layers ``nn.MultiheadAttention`` cannot
express: ``nn.MultiheadAttention(E, h)`` has heads of ``E // h`` values and an output of size E,
while Keras's ``key_dim`` (per head) is free (``MultiHeadAttention(num_heads=4, key_dim=64)`` on a
query of size 64), ``value_dim`` may differ from ``key_dim``, and ``output_shape`` sets the output
size. Where the sizes do fit, the migration uses ``nn.MultiheadAttention`` itself."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn


class KerasMultiHeadAttention(nn.Module):
    """``keras.layers.MultiHeadAttention`` with Keras's call: ``(query, value, key=None,
    attention_mask=None, return_attention_scores=False, use_causal_mask=False, value_mask=None,
    key_mask=None, query_mask=None)`` on batch-major ``(N, T, E)`` tensors, masks True = attend,
    scores ``(N, heads, T, S)``; ``query_mask`` is ignored, as Keras ignores the argument (it reads
    the query's own Keras mask instead). Parameters keep Keras's shapes and names (``query_kernel``
    ``(E, heads, key_dim)``, ``query_bias`` ``(heads, key_dim)``, ..., ``output_kernel``
    ``(heads, value_dim, out)``), so the weights move unchanged.

    Keras's masked softmax: masked scores become -1e9, and masked probabilities are set to 0
    afterwards, so a query whose keys are all masked attends to nothing."""

    def __init__(
        self,
        query_dim: int,
        num_heads: int,
        key_dim: int,
        value_dim: int | None = None,
        dropout: float = 0.0,
        use_bias: bool = True,
        output_shape: int | None = None,
        key_input_dim: int | None = None,
        value_input_dim: int | None = None,
    ) -> None:
        super().__init__()
        value_dim = value_dim or key_dim
        value_input_dim = value_input_dim or query_dim
        key_input_dim = key_input_dim or value_input_dim
        out = output_shape or query_dim
        self.num_heads, self.key_dim, self.value_dim = num_heads, key_dim, value_dim
        self.dropout = nn.Dropout(dropout)
        shapes = {
            "query": ((query_dim, num_heads, key_dim), (num_heads, key_dim)),
            "key": ((key_input_dim, num_heads, key_dim), (num_heads, key_dim)),
            "value": ((value_input_dim, num_heads, value_dim), (num_heads, value_dim)),
            "output": ((num_heads, value_dim, out), (out,)),
        }
        for name, (kernel, bias) in shapes.items():
            weight = torch.empty(kernel)
            fan_in, fan_out = math.prod(kernel[:-1]) if name == "output" else kernel[0], kernel[-1]
            bound = math.sqrt(6.0 / (fan_in + fan_out))  # glorot_uniform, Keras's default
            nn.init.uniform_(weight, -bound, bound)
            self.register_parameter(f"{name}_kernel", nn.Parameter(weight))
            self.register_parameter(f"{name}_bias", nn.Parameter(torch.zeros(bias)) if use_bias else None)

    def _weight(self, name: str, kind: str) -> torch.Tensor | None:
        weight: torch.Tensor | None = getattr(self, f"{name}_{kind}")
        return weight

    def _project(self, x: torch.Tensor, name: str) -> torch.Tensor:
        out = torch.einsum("bsd,dhk->bshk", x, self._weight(name, "kernel"))
        bias = self._weight(name, "bias")
        return out if bias is None else out + bias

    def forward(
        self,
        query: torch.Tensor,
        value: torch.Tensor,
        key: torch.Tensor | None = None,
        query_mask: torch.Tensor | None = None,
        value_mask: torch.Tensor | None = None,
        key_mask: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        return_attention_scores: bool = False,
        use_causal_mask: bool = False,
    ) -> Any:
        key_given = key is not None
        if key is None:
            key = value
        q = self._project(query, "query") * (1.0 / math.sqrt(float(self.key_dim)))
        k = self._project(key, "key")
        v = self._project(value, "value")
        scores = torch.einsum("bshk,bthk->bhts", k, q)
        mask = _mask(query, value, query_mask, value_mask, key_mask if key_given else None, attention_mask)
        if use_causal_mask:
            t, s = query.shape[1], value.shape[1]
            causal = torch.ones(t, s, dtype=torch.bool, device=query.device).tril()[None]
            mask = causal if mask is None else mask & causal
        if mask is not None:
            while mask.dim() < scores.dim():
                mask = mask.unsqueeze(-3)  # the heads axis
            scores = torch.where(mask, scores, torch.tensor(-1e9, dtype=scores.dtype, device=scores.device))
        probs = torch.softmax(scores, dim=-1)
        if mask is not None:
            probs = torch.where(mask, probs, torch.zeros((), dtype=probs.dtype, device=probs.device))
        attended = torch.einsum("bhts,bshv->bthv", self.dropout(probs), v)
        out = torch.einsum("bthv,hvo->bto", attended, self._weight("output", "kernel"))
        bias = self._weight("output", "bias")
        if bias is not None:
            out = out + bias
        return (out, probs) if return_attention_scores else out


def _mask(
    query: torch.Tensor,
    value: torch.Tensor,
    query_mask: torch.Tensor | None,
    value_mask: torch.Tensor | None,
    key_mask: torch.Tensor | None,
    attention_mask: torch.Tensor | None,
) -> torch.Tensor | None:
    """Keras's ``_compute_attention_mask``: the masks cast to bool (non-zero: attend) and ANDed,
    (N, 1, S) & (N, 1, S) & (N, T, S). Keras replaces a ``query_mask`` argument by the query's own
    Keras mask, which a torch tensor does not have: it is ignored, as Keras ignores it."""

    def boolean(m: torch.Tensor) -> torch.Tensor:
        return m if m.dtype == torch.bool else m != 0

    parts = [boolean(m)[:, None, :] for m in (value_mask, key_mask) if m is not None]
    if attention_mask is not None:
        parts.append(boolean(attention_mask))
    out: torch.Tensor | None = None
    for b in parts:
        out = b if out is None else out & b
    return out


__all__ = ["KerasMultiHeadAttention"]
