"""Keras layer semantics on PyTorch, for layers migrated Keras -> PyTorch where no stock torch
module computes the same numbers. Tensors are channels-first ``(N, C, *spatial)``.

* :class:`UnitNormalization`: ``keras.layers.UnitNormalization``, i.e. ``x / max(||x||, 1e-12)``
  along ``dim`` (``torch.nn.functional.normalize`` has no module).
* :class:`KerasMaxPoolSame` / :class:`KerasAvgPoolSame`: ``Max/AveragePooling1D/2D(padding=
  "same")`` on inputs whose size is only known at run time: TF pads ``total // 2`` before and the
  rest after, which depends on the size (with the size known, stock torch pooling is exact).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class UnitNormalization(nn.Module):
    """``keras.layers.UnitNormalization(axis)``: L2-normalise along ``dim`` (channels-first dims)."""

    def __init__(self, dim: int | Sequence[int] = 1) -> None:
        super().__init__()
        self.dim = dim if isinstance(dim, int) else tuple(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = torch.sqrt(torch.sum(x * x, dim=self.dim, keepdim=True))
        return x / torch.clamp(norm, min=1e-12)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


def _same_padding(size: int, k: int, s: int) -> tuple[int, int]:
    """TF's 'same' padding (before, after): the extra pixel goes after."""
    total = max((math.ceil(size / s) - 1) * s + k - size, 0)
    return total // 2, total - total // 2


class _KerasPoolSame(nn.Module):
    def __init__(self, kernel_size: Sequence[int], stride: Sequence[int]) -> None:
        super().__init__()
        self.kernel_size = tuple(int(k) for k in kernel_size)
        self.stride = tuple(int(s) for s in stride)

    def _pads(self, x: torch.Tensor) -> list[int]:
        """TF's 'same' padding for this input, in F.pad's order (last axis first)."""
        pads: list[int] = []
        for i in reversed(range(len(self.kernel_size))):
            pads += list(_same_padding(x.shape[2 + i], self.kernel_size[i], self.stride[i]))
        return pads

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class KerasMaxPoolSame(_KerasPoolSame):
    """Keras ``MaxPooling{1,2}D(pool_size, strides, padding="same")`` on ``(N, C, *spatial)`` for
    inputs whose size is only known at run time: TF's padding (the extra pixel after), ignored."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pool = F.max_pool1d if len(self.kernel_size) == 1 else F.max_pool2d
        return pool(F.pad(x, self._pads(x), value=float("-inf")), self.kernel_size, self.stride)


class KerasAvgPoolSame(_KerasPoolSame):
    """Keras ``AveragePooling{1,2}D(pool_size, strides, padding="same")`` on ``(N, C, *spatial)``
    for inputs whose size is only known at run time: TF's padding, never counted."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = self._pads(x)
        ones = torch.ones((1, 1, *x.shape[2:]), dtype=x.dtype, device=x.device)
        pool = F.avg_pool1d if len(self.kernel_size) == 1 else F.avg_pool2d
        sums = pool(F.pad(x, pads), self.kernel_size, self.stride)
        counts = pool(F.pad(ones, pads), self.kernel_size, self.stride)
        return sums / counts


__all__ = ["KerasAvgPoolSame", "KerasMaxPoolSame", "UnitNormalization"]
