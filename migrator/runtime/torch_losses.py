"""``torch.nn.Module`` losses with Keras 3's numbers, called torch-style as ``loss(input, target)``.

Keras computes a per-sample value by reducing the **last (class/channel) axis** first (a mean
for MSE/MAE/Huber/BCE, a sum for the crossentropies and KL), then applies ``reduction`` to
what is left: ``"sum_over_batch_size"`` and ``"mean"`` divide the sum by the number of those
values, ``"sum"`` does not divide, ``"none"``/``None`` returns them. So ``"sum"`` and
``"none"`` differ from torch's (which keeps the last axis), and probability inputs are clipped
to ``[1e-7, 1 - 1e-7]`` (Keras's ``epsilon``) where torch clamps the log at -100.

Layout: the migrated model is channels-first, so a tensor of rank > 2 is taken as
``(N, C, *spatial)`` and its axis 1 plays the role of Keras's last axis, unless the other
argument has a higher rank (a target of shape ``(N, H, W)`` for an ``(N, C, H, W)`` prediction
has no class axis). Rank-2 ``(N, C)`` and rank-1 inputs are used as they are. Pass
``channels_first=False`` for outputs that keep Keras's order, e.g. ``(N, T, F)`` sequences.
Ranks that differ by one around a size-1 last axis are squeezed or expanded as Keras does.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

EPSILON = 1e-7  # keras.config.epsilon()

Reduction = Literal["sum_over_batch_size", "sum", "mean", "none"] | None
_REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "none", None)


def to_keras_layout(y_pred: Tensor, y_true: Tensor) -> tuple[Tensor, Tensor]:
    """Move axis 1 of every channels-first argument (rank > 2, rank >= the other's) to the end."""

    def move(x: Tensor, other: Tensor) -> Tensor:
        return x.movedim(1, -1) if x.dim() > 2 and x.dim() >= other.dim() else x

    return move(y_pred, y_true), move(y_true, y_pred)


def squeeze_or_expand_to_same_rank(x1: Tensor, x2: Tensor) -> tuple[Tensor, Tensor]:
    """``keras.src.losses.loss.squeeze_or_expand_to_same_rank`` (``expand_rank_1=True``)."""
    if x1.dim() == x2.dim() + 1 and x1.shape[-1] == 1:
        if x2.dim() == 1:
            x2 = x2.unsqueeze(-1)
        else:
            x1 = x1.squeeze(-1)
    if x2.dim() == x1.dim() + 1 and x2.shape[-1] == 1:
        if x1.dim() == 1:
            x1 = x1.unsqueeze(-1)
        else:
            x2 = x2.squeeze(-1)
    return x1, x2


def reduce_values(values: Tensor, reduction: Reduction, mask: Tensor | None = None) -> Tensor:
    """Keras's ``reduce_weighted_values`` without sample weights; ``mask`` marks the valid values.

    Under ``"mean"``/``"sum_over_batch_size"`` a masked value gets weight 0 and a valid one
    ``total / valid`` (0 when nothing is valid), which makes the result a mean over valid values.
    """
    if mask is not None:
        if reduction in ("mean", "sum_over_batch_size"):
            total = float(mask.numel())
            valid = mask.sum().to(values.dtype)
            weight = torch.where(valid > 0, total / valid.clamp_min(1.0), torch.zeros_like(valid))
            values = values * torch.where(mask, weight, torch.zeros_like(weight))
        else:
            values = values * mask.to(values.dtype)
    if reduction is None or reduction == "none" or values.dim() == 0:
        return values
    loss = values.sum()
    if reduction in ("mean", "sum_over_batch_size"):
        n = values.numel()
        loss = loss / n if n else torch.zeros_like(loss)  # divide_no_nan
    return loss


class _KerasLoss(torch.nn.Module):
    """Common part: layout, Keras's rank alignment, and the reduction."""

    def __init__(self, reduction: Reduction = "sum_over_batch_size", *, channels_first: bool = True) -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        self.reduction: Reduction = reduction
        self.channels_first = channels_first

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        y_pred, y_true = to_keras_layout(input, target) if self.channels_first else (input, target)
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        values, mask = self.per_sample(y_pred, y_true)
        return reduce_values(values, self.reduction, mask)

    def per_sample(self, y_pred: Tensor, y_true: Tensor) -> tuple[Tensor, Tensor | None]:
        """Loss per sample (last axis reduced) in Keras's layout, and an optional validity mask."""
        raise NotImplementedError


class MeanSquaredError(_KerasLoss):
    """``keras.losses.MeanSquaredError``: ``mean((y_true - y_pred)^2, axis=-1)``."""

    def per_sample(self, y_pred: Tensor, y_true: Tensor) -> tuple[Tensor, Tensor | None]:
        return (y_true.to(y_pred.dtype) - y_pred).square().mean(-1), None


class MeanAbsoluteError(_KerasLoss):
    """``keras.losses.MeanAbsoluteError``: ``mean(|y_true - y_pred|, axis=-1)``."""

    def per_sample(self, y_pred: Tensor, y_true: Tensor) -> tuple[Tensor, Tensor | None]:
        return (y_true.to(y_pred.dtype) - y_pred).abs().mean(-1), None


class Huber(_KerasLoss):
    """``keras.losses.Huber``: ``0.5 e^2`` for ``|e| <= delta``, else ``delta (|e| - delta / 2)``,
    averaged over the last axis."""

    def __init__(
        self, delta: float = 1.0, reduction: Reduction = "sum_over_batch_size", *, channels_first: bool = True
    ) -> None:
        super().__init__(reduction, channels_first=channels_first)
        self.delta = delta

    def per_sample(self, y_pred: Tensor, y_true: Tensor) -> tuple[Tensor, Tensor | None]:
        error = y_pred - y_true.to(y_pred.dtype)
        abs_error = error.abs()
        quadratic = 0.5 * error.square()
        linear = self.delta * abs_error - 0.5 * self.delta**2
        return torch.where(abs_error <= self.delta, quadratic, linear).mean(-1), None


class KLDivergence(_KerasLoss):
    """``keras.losses.KLDivergence`` on probabilities: both clipped to ``[1e-7, 1]``, then
    ``sum(y_true * log(y_true / y_pred), axis=-1)``. (Torch's ``KLDivLoss`` takes log-probs.)"""

    def per_sample(self, y_pred: Tensor, y_true: Tensor) -> tuple[Tensor, Tensor | None]:
        y_true = y_true.to(y_pred.dtype).clamp(EPSILON, 1.0)
        y_pred = y_pred.clamp(EPSILON, 1.0)
        return (y_true * torch.log(y_true / y_pred)).sum(-1), None


class _SmoothedCrossentropy(_KerasLoss):
    """A crossentropy with Keras's ``from_logits`` and ``label_smoothing`` arguments."""

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        reduction: Reduction = "sum_over_batch_size",
        *,
        channels_first: bool = True,
    ) -> None:
        super().__init__(reduction, channels_first=channels_first)
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing


class BinaryCrossentropy(_SmoothedCrossentropy):
    """``keras.losses.BinaryCrossentropy``: labels smoothed towards 0.5, probabilities clipped to
    ``[1e-7, 1 - 1e-7]`` (or logits through a stable sigmoid crossentropy), then the mean over the
    last axis."""

    def per_sample(self, y_pred: Tensor, y_true: Tensor) -> tuple[Tensor, Tensor | None]:
        y_true = y_true.to(y_pred.dtype)
        if self.label_smoothing:
            y_true = y_true * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        if self.from_logits:
            # tf.nn.sigmoid_cross_entropy_with_logits
            bce = y_pred.clamp_min(0.0) - y_pred * y_true + torch.log1p(torch.exp(-y_pred.abs()))
        else:
            p = y_pred.clamp(EPSILON, 1.0 - EPSILON)
            bce = -(y_true * torch.log(p) + (1.0 - y_true) * torch.log(1.0 - p))
        return bce.mean(-1), None


class CategoricalCrossentropy(_SmoothedCrossentropy):
    """``keras.losses.CategoricalCrossentropy`` on one-hot/probability targets: label smoothing
    ``y (1 - s) + s / C``; probabilities are renormalised to sum to 1 along the class axis and
    clipped to ``[1e-7, 1 - 1e-7]`` before the log."""

    def per_sample(self, y_pred: Tensor, y_true: Tensor) -> tuple[Tensor, Tensor | None]:
        y_true = y_true.to(y_pred.dtype)
        if y_true.shape != y_pred.shape:
            raise ValueError(
                f"target and input must have the same shape, got {tuple(y_true.shape)} "
                f"and {tuple(y_pred.shape)}"
            )
        if self.label_smoothing:
            num_classes = y_true.shape[-1]
            y_true = y_true * (1.0 - self.label_smoothing) + self.label_smoothing / num_classes
        if self.from_logits:
            log_p = F.log_softmax(y_pred, dim=-1)
        else:
            p = y_pred / y_pred.sum(-1, keepdim=True)
            log_p = torch.log(p.clamp(EPSILON, 1.0 - EPSILON))
        return -(y_true * log_p).sum(-1), None


class SparseCategoricalCrossentropy(_KerasLoss):
    """``keras.losses.SparseCategoricalCrossentropy`` on integer targets.

    With ``from_logits=False`` the probabilities are clipped to ``[1e-7, 1 - 1e-7]`` and their
    logs go through a softmax crossentropy, i.e. ``-log(p_y) + log(sum(clip(p)))``: Keras's
    implicit renormalisation. ``ignore_class`` zeroes those positions (prediction and loss) and,
    under the mean reductions, averages over the remaining ones only.
    """

    def __init__(
        self,
        from_logits: bool = False,
        ignore_class: int | None = None,
        reduction: Reduction = "sum_over_batch_size",
        *,
        channels_first: bool = True,
    ) -> None:
        super().__init__(reduction, channels_first=channels_first)
        self.from_logits = from_logits
        self.ignore_class = ignore_class

    def per_sample(self, y_pred: Tensor, y_true: Tensor) -> tuple[Tensor, Tensor | None]:
        if y_true.dim() == y_pred.dim() and y_true.shape[-1] == 1:
            y_true = y_true.squeeze(-1)
        y_true = y_true.long()
        mask = None
        if self.ignore_class is not None:
            mask = y_true != self.ignore_class
            y_true = torch.where(mask, y_true, torch.zeros_like(y_true))
            y_pred = torch.where(mask.unsqueeze(-1), y_pred, torch.zeros_like(y_pred))
        logits = y_pred if self.from_logits else torch.log(y_pred.clamp(EPSILON, 1.0 - EPSILON))
        log_p = F.log_softmax(logits, dim=-1)
        res = -log_p.gather(-1, y_true.unsqueeze(-1)).squeeze(-1)
        if mask is not None:
            res = torch.where(mask, res, torch.zeros_like(res))
        return res, mask
