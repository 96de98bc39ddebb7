"""PyTorch training semantics on Keras 3 (TensorFlow backend), for migrated training code.

Migrated code imports a helper from here only where stock Keras cannot express the torch
behaviour (the measured differences of SEMANTICS.md §5-7). Every default is torch's; optimizers
take Keras's argument spelling (``learning_rate``, ``beta_1``, ``epsilon``), losses and schedules
torch's.

Optimizers (:mod:`migrator.runtime.keras_optimizers`; ``weight_decay`` is torch's coupled L2):

* ``TorchSGD``: Keras keeps the old lr inside the momentum velocity when the lr changes, has no
  ``dampening``, and its ``weight_decay=`` is decoupled.
* ``TorchAdam``: Keras adds epsilon before the bias correction (visible with small gradients)
  and its ``weight_decay=`` is decoupled.
* ``TorchAdamW``: Keras AdamW defaults to weight_decay 0.004 and epsilon 1e-7 (torch 0.01, 1e-8)
  and has Adam's epsilon placement.
* ``TorchRMSprop``: Keras puts epsilon inside the sqrt and the lr inside the momentum buffer.
* ``TorchAdagrad``: Keras starts the accumulator at 0.1 and puts epsilon inside the sqrt;
  no ``lr_decay``.
* ``TorchAdadelta``: same rule, different defaults (lr 1.0, rho 0.9, eps 1e-6) and coupled L2.
* ``TorchAdamax``: torch adds epsilon to ``|g|`` inside the max; default lr 2e-3.
* ``TorchNAdam``: Keras Nadam hard-codes ``momentum_decay`` 1.0 (torch default 4e-3).

Losses (:mod:`migrator.runtime.keras_losses`; ``loss(y_true, y_pred)``, class axis last):

* ``CrossEntropyLoss``: weighted mean divides by the sum of target weights, ``ignore_index``
  masking, ``label_smoothing`` with class indices, probability targets.
* ``NLLLoss``: takes log-probabilities; same weighting and masking as ``CrossEntropyLoss``.
* ``BCELoss``: torch clamps the log at -100 (Keras clips p at 1e-7) and has a finite gradient
  at p = 0 or 1.
* ``BCEWithLogitsLoss``: ``pos_weight``, which Keras lacks.
* ``MSELoss``, ``L1Loss``: ``"sum"``/``"none"`` over every element (Keras averages the last
  axis first).
* ``SmoothL1Loss``: equals Keras ``Huber(delta=beta) / beta``, i.e. Keras Huber only for beta=1.
* ``HuberLoss``: Keras Huber with torch's reductions.
* ``KLDivLoss``: takes log-probabilities; ``"mean"`` is per element, ``"batchmean"`` per sample.

Schedules (:mod:`migrator.runtime.keras_schedules`):

* ``CosineAnnealingLR``: ``eta_min`` is absolute and the lr rises again after ``T_max``
  (Keras CosineDecay: a fraction of the lr, flat after the decay).
* ``OneCycleLR``: no Keras equivalent (the lr only; momentum cycling is not expressible).
* ``ReduceLROnPlateau``: torch reduces when bad epochs exceed ``patience`` (Keras: reach it) and
  the default threshold is relative (Keras ``min_delta`` is absolute).

Layers (:mod:`migrator.runtime.keras_norm`):

* ``BatchNormalization``: for models trained in the migrated file: torch moves the running
  variance towards the unbiased batch variance, Keras towards the biased one.

Layers with torch's arithmetic on channels-last maps (:mod:`migrator.runtime.keras_layers`):

* ``Pad`` / ``pad``: reflect, replicate and circular padding (``padding_mode``,
  ``nn.ReflectionPad2d``, ...): TF's SYMMETRIC is not reflect, and it has no edge or wrap mode.
* ``Interpolate`` / ``interpolate``: ``nn.Upsample`` / ``F.interpolate`` where Keras differs:
  nearest to a size (torch floors ``dst * in / out``), nearest-exact, area, ``align_corners=True``,
  non-integer scale factors (torch maps coordinates with ``1 / scale_factor``).
* ``AdaptiveAvgPool`` / ``AdaptiveMaxPool`` / ``adaptive_avg_pool``: output sizes above 1,
  torch's bins (uneven when the output size does not divide the input).
* ``MaxPool`` / ``AvgPool``: ``ceil_mode=True``; ``count_include_pad=False`` with padding that
  Keras 'same' does not reproduce; ``divisor_override``.
* ``PReLU``: one slope per channel or one in all, for any input rank.
* ``InstanceNorm``: ``track_running_stats=True`` (running statistics at inference).
* ``Embedding``: ``padding_idx`` in a file that trains (the row starts at zero, gets no gradient).

Attention (:mod:`migrator.runtime.keras_attention`; ``nn.MultiheadAttention`` itself becomes the
stock ``keras.layers.MultiHeadAttention``):

* ``attention_mask``: torch's ``attn_mask`` / ``key_padding_mask`` (True = masked out; an
  ``attn_mask`` may be ``(N * num_heads, L, S)``) as Keras's one boolean mask (True = attend).
* ``mean_attention_weights``: the per-head scores averaged over the heads, as torch returns them.
* ``TransformerEncoderLayer``, ``TransformerEncoder``: Keras has no such layers; torch's order of
  operations, defaults, sub-layer names, call and mask convention.

Distributed training (``torch.distributed.get_rank`` / ``get_world_size``):

* ``process_rank`` / ``world_size``: this worker's index and the number of workers of the
  cluster ``tf.distribute.MultiWorkerMirroredStrategy`` reads from ``TF_CONFIG`` (0 and 1 without
  one); a ``chief`` counts as worker 0.
"""

import json
import os

from migrator.runtime.keras_attention import (
    TransformerEncoder,
    TransformerEncoderLayer,
    attention_mask,
    mean_attention_weights,
)
from migrator.runtime.keras_layers import (
    AdaptiveAvgPool,
    AdaptiveMaxPool,
    AvgPool,
    Embedding,
    InstanceNorm,
    Interpolate,
    MaxPool,
    Pad,
    PReLU,
    adaptive_avg_pool,
    adaptive_max_pool,
    interpolate,
    pad,
)
from migrator.runtime.keras_losses import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
)
from migrator.runtime.keras_norm import BatchNormalization
from migrator.runtime.keras_optimizers import (
    TorchAdadelta,
    TorchAdagrad,
    TorchAdam,
    TorchAdamax,
    TorchAdamW,
    TorchNAdam,
    TorchRMSprop,
    TorchSGD,
)
from migrator.runtime.keras_schedules import CosineAnnealingLR, OneCycleLR, ReduceLROnPlateau


def _cluster() -> tuple[int, int, str, int]:
    """(chiefs, workers, this task's type, its index) from ``TF_CONFIG``."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    cluster = config.get("cluster", {})
    task = config.get("task", {})
    chiefs, workers = len(cluster.get("chief", [])), len(cluster.get("worker", []))
    return chiefs, workers, str(task.get("type", "worker")), int(task.get("index", 0))


def process_rank() -> int:
    """``torch.distributed.get_rank()``: this worker's index in the TF_CONFIG cluster (0 without
    one); a chief is worker 0 and the workers follow it."""
    chiefs, _, kind, index = _cluster()
    return 0 if kind == "chief" else index + chiefs


def world_size() -> int:
    """``torch.distributed.get_world_size()``: the workers of the TF_CONFIG cluster (1 without one)."""
    chiefs, workers, _, _ = _cluster()
    return max(1, chiefs + workers)


__all__ = [
    "AdaptiveAvgPool",
    "AdaptiveMaxPool",
    "AvgPool",
    "BCELoss",
    "BCEWithLogitsLoss",
    "BatchNormalization",
    "CosineAnnealingLR",
    "CrossEntropyLoss",
    "Embedding",
    "HuberLoss",
    "InstanceNorm",
    "Interpolate",
    "KLDivLoss",
    "L1Loss",
    "MSELoss",
    "MaxPool",
    "NLLLoss",
    "OneCycleLR",
    "PReLU",
    "Pad",
    "ReduceLROnPlateau",
    "SmoothL1Loss",
    "TorchAdadelta",
    "TorchAdagrad",
    "TorchAdam",
    "TorchAdamW",
    "TorchAdamax",
    "TorchNAdam",
    "TorchRMSprop",
    "TorchSGD",
    "TransformerEncoder",
    "TransformerEncoderLayer",
    "adaptive_avg_pool",
    "adaptive_max_pool",
    "attention_mask",
    "interpolate",
    "mean_attention_weights",
    "pad",
    "process_rank",
    "world_size",
]
