"""Keras's batch-norm statistics on PyTorch: the running variance is updated with the biased batch
variance, as ``keras.layers.BatchNormalization`` does in training; torch uses the unbiased one
(SEMANTICS.md §8: 1.9e-3 on eval logits after 20 steps). Everything else is torch's layer."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def _keras_training_forward(bn: Any, x: torch.Tensor) -> torch.Tensor:
    """Normalise with the batch statistics; move the running ones towards the biased variance."""
    dims = [0, *range(2, x.dim())]
    mean = x.mean(dims)
    var = x.var(dims, unbiased=False)
    m = bn.momentum if bn.momentum is not None else 0.1
    with torch.no_grad():
        bn.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
        bn.running_var.mul_(1 - m).add_(var.detach(), alpha=m)
        bn.num_batches_tracked += 1
    shape = [1, -1] + [1] * (x.dim() - 2)
    y = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + bn.eps)
    if bn.affine:
        y = y * bn.weight.view(shape) + bn.bias.view(shape)
    return y


class KerasBatchNorm1d(nn.BatchNorm1d):
    """``nn.BatchNorm1d`` whose running variance follows Keras's (biased) update."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.track_running_stats:
            return _keras_training_forward(self, x)
        return super().forward(x)


class KerasBatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` whose running variance follows Keras's (biased) update."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.track_running_stats:
            return _keras_training_forward(self, x)
        return super().forward(x)


class KerasBatchNorm3d(nn.BatchNorm3d):
    """``nn.BatchNorm3d`` whose running variance follows Keras's (biased) update."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.track_running_stats:
            return _keras_training_forward(self, x)
        return super().forward(x)


__all__ = ["KerasBatchNorm1d", "KerasBatchNorm2d", "KerasBatchNorm3d"]
