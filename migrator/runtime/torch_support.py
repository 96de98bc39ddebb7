"""Keras 3 semantics on PyTorch, for training code migrated Keras -> PyTorch.

The migrated code imports from here only where stock PyTorch cannot express the Keras
behaviour exactly (float32 parameter differences above 1e-5 relative, SEMANTICS.md §9); the
stock mappings listed below are exact and preferred.

Optimizers (:mod:`.torch_optimizers`): ``torch.optim.Optimizer`` subclasses, torch argument
spelling with Keras's defaults, Keras's update rules and decoupled ``weight_decay``
(``p -= p * wd * lr`` before the update).

* :class:`KerasSGD`: needed for momentum when the lr changes during training (Keras keeps the old
  lr inside the velocity ``v = m v - lr g``) and for weight decay together with momentum.
  Otherwise ``torch.optim.SGD(lr, momentum, nesterov=...)`` is exact, and so is its (L2)
  ``weight_decay`` when ``momentum == 0``: both are then ``p - lr (g + wd p)``.
* :class:`KerasAdam`, :class:`KerasAdamW`: always (Keras adds eps to ``sqrt(v)`` before the bias
  correction; visible when gradients are small; AdamW's default weight decay is 0.004).
* :class:`KerasRMSprop`: always (eps inside the square root; lr inside the momentum buffer).
* :class:`KerasAdagrad`: for weight decay or ``initial_accumulator_value=0``; otherwise
  ``torch.optim.Adagrad(lr, initial_accumulator_value=0.1, eps=1e-7)`` is exact.
* :class:`KerasAdamax`: for weight decay; otherwise ``torch.optim.Adamax(lr, eps=1e-7)`` is
  exact unless gradients are as small as eps (torch adds eps inside the max).
* :class:`KerasAdadelta`: for weight decay; otherwise ``torch.optim.Adadelta(lr, rho=0.95,
  eps=1e-7)`` is exact (mind Keras's lr default 1e-3, torch's 1.0).
* :class:`KerasNadam`: never strictly needed: ``torch.optim.NAdam(lr, eps=1e-7,
  momentum_decay=1.0, weight_decay=wd, decoupled_weight_decay=True)`` is exact.

Losses (:mod:`.torch_losses`): ``torch.nn.Module`` called ``loss(input, target)``, Keras's
reductions (last axis first, then the batch), clipping at 1e-7 and label smoothing; class axis 1
for rank > 2. Needed for ``reduction="sum"``/``"none"`` (torch keeps the last axis), for every
probability-input crossentropy (Keras clips at 1e-7 where torch clamps the log at -100, and
renormalises), for label smoothing on BCE, and for KL on probabilities. Stock and exact for the
default reduction: ``CrossEntropyLoss`` (SCCE ``from_logits=True``, also with
``ignore_index``), ``BCEWithLogitsLoss`` (BCE ``from_logits=True``), ``MSELoss``, ``L1Loss``,
``HuberLoss(delta=d)``.

Schedules (:mod:`.torch_schedules`): ``ExponentialDecay``, ``PiecewiseConstantDecay``,
``InverseTimeDecay``, ``PolynomialDecay``, ``CosineDecay``, ``CosineDecayRestarts`` as
``schedule(step) -> float``, applied per optimizer step by :class:`ScheduleLR`; and
:class:`KerasReduceLROnPlateau` (stock torch ``ReduceLROnPlateau`` matches only with
``patience=max(p - 1, 0)``, ``threshold_mode="abs"``, ``cooldown=max(c - 1, 0)``, ``eps=0``).

:class:`KerasBatchNorm1d`/``2d``/``3d`` (:mod:`.torch_norm`): for models trained in the migrated
file: Keras moves the running variance towards the biased batch variance, torch the unbiased one.

Layers with Keras's arithmetic (:mod:`.torch_layers`): :class:`UnitNormalization`
(``keras.layers.UnitNormalization``; torch has ``F.normalize`` but no module),
:class:`KerasMaxPoolSame` and :class:`KerasAvgPoolSame` (``Max/AveragePooling*D(padding="same")``
on inputs whose size is only known at run time: TF's padding depends on it).

:func:`as_input`: arrays given to the migrated ``fit``/``evaluate``/``predict`` become float32
(floating point, as Keras casts them) or int64 (token ids for an embedding).

:func:`set_random_seed`: ``keras.utils.set_random_seed`` seeds Python's ``random``, NumPy and the
backend; ``torch.manual_seed`` alone seeds only torch.

:class:`KerasMultiHeadAttention` (:mod:`.torch_attention`): ``keras.layers.MultiHeadAttention``
with Keras's call and sizes, for the layers ``nn.MultiheadAttention`` cannot express (a per-head
``key_dim`` that is not the query size over the heads, ``value_dim``, ``output_shape``); where the
sizes fit, the migration uses ``nn.MultiheadAttention``.
"""

from __future__ import annotations

import random

import numpy as np
import torch

from migrator.runtime.torch_attention import KerasMultiHeadAttention
from migrator.runtime.torch_layers import KerasAvgPoolSame, KerasMaxPoolSame, UnitNormalization
from migrator.runtime.torch_losses import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    Huber,
    KLDivergence,
    MeanAbsoluteError,
    MeanSquaredError,
    SparseCategoricalCrossentropy,
)
from migrator.runtime.torch_norm import KerasBatchNorm1d, KerasBatchNorm2d, KerasBatchNorm3d
from migrator.runtime.torch_optimizers import (
    KerasAdadelta,
    KerasAdagrad,
    KerasAdam,
    KerasAdamax,
    KerasAdamW,
    KerasNadam,
    KerasRMSprop,
    KerasSGD,
)
from migrator.runtime.torch_schedules import (
    CosineDecay,
    CosineDecayRestarts,
    ExponentialDecay,
    InverseTimeDecay,
    KerasReduceLROnPlateau,
    PiecewiseConstantDecay,
    PolynomialDecay,
    ScheduleLR,
)


def as_input(x: object) -> torch.Tensor:
    """An array as Keras feeds it to a model: floating point as float32 (Keras casts to the layer
    dtype), integers (token ids) as int64."""
    t = torch.as_tensor(np.asarray(x))
    return t.float() if t.is_floating_point() else t.long()


class ChannelsLastFlatten(torch.nn.Module):
    """``keras.layers.Flatten`` of a channels-first feature map, in Keras's element order: the
    channels move last before the flatten, ``(N, C, *S) -> (N, prod(S) * C)``. Used where the
    flattened values are read by something other than a Linear (whose weights could absorb the
    order instead): a model output, an op, another kind of layer."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(x.movedim(1, -1) if x.dim() > 2 else x, 1)


def set_random_seed(seed: int) -> None:
    """Seed Python's ``random``, NumPy and torch, as ``keras.utils.set_random_seed`` does."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


__all__ = [
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "ChannelsLastFlatten",
    "CosineDecay",
    "CosineDecayRestarts",
    "ExponentialDecay",
    "Huber",
    "InverseTimeDecay",
    "KLDivergence",
    "KerasAdadelta",
    "KerasAdagrad",
    "KerasAdam",
    "KerasAdamW",
    "KerasAdamax",
    "KerasAvgPoolSame",
    "KerasBatchNorm1d",
    "KerasBatchNorm2d",
    "KerasBatchNorm3d",
    "KerasMaxPoolSame",
    "KerasMultiHeadAttention",
    "KerasNadam",
    "KerasRMSprop",
    "KerasReduceLROnPlateau",
    "KerasSGD",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "PiecewiseConstantDecay",
    "PolynomialDecay",
    "ScheduleLR",
    "SparseCategoricalCrossentropy",
    "UnitNormalization",
    "as_input",
    "set_random_seed",
]
