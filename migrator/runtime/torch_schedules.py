"""Keras 3's learning-rate schedules and ``ReduceLROnPlateau`` callback, for PyTorch.

The schedules are plain callables ``schedule(step) -> float`` with ``step`` the 0-based
optimizer iteration, computing what ``keras.optimizers.schedules.*`` compute. Keras evaluates a
schedule on the optimizer's ``iterations`` *before* incrementing it, so the first update uses
``schedule(0)``; :class:`ScheduleLR` reproduces that when stepped once after every
``optimizer.step()`` (Keras schedules count optimizer steps, not epochs).

:class:`KerasReduceLROnPlateau` is Keras's callback: it waits ``patience`` epochs counted as
Keras counts them (``wait >= patience``), uses an *absolute* ``min_delta``, runs the cooldown
one epoch shorter than torch's ``ReduceLROnPlateau`` and compares in float32 as Keras does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

Schedule = Callable[[int], float]


class _TimeDecay:
    """A decay of ``step / decay_steps`` (floored when ``staircase``)."""

    def __init__(
        self, initial_learning_rate: float, decay_steps: float, decay_rate: float, staircase: bool = False
    ) -> None:
        if decay_steps <= 0:
            raise ValueError(f"decay_steps must be > 0, got {decay_steps}")
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase

    def _progress(self, step: int) -> float:
        p = step / self.decay_steps
        return float(math.floor(p)) if self.staircase else p


class ExponentialDecay(_TimeDecay):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)`` (``floor`` of the exponent
    when ``staircase``)."""

    def __call__(self, step: int) -> float:
        return float(self.initial_learning_rate * self.decay_rate ** self._progress(step))


class PiecewiseConstantDecay:
    """``values[0]`` while ``step <= boundaries[0]``, ``values[i]`` while
    ``boundaries[i-1] < step <= boundaries[i]``, ``values[-1]`` after the last boundary."""

    def __init__(self, boundaries: Sequence[float], values: Sequence[float]) -> None:
        if len(boundaries) != len(values) - 1:
            raise ValueError(
                "The length of boundaries should be 1 less than the length of values, got "
                f"{len(boundaries)} boundaries and {len(values)} values"
            )
        self.boundaries = list(boundaries)
        self.values = list(values)

    def __call__(self, step: int) -> float:
        for boundary, value in zip(self.boundaries, self.values, strict=False):
            if step <= boundary:
                return float(value)
        return float(self.values[-1])


class InverseTimeDecay(_TimeDecay):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)`` (``floor`` of
    ``step / decay_steps`` when ``staircase``)."""

    def __call__(self, step: int) -> float:
        return float(self.initial_learning_rate / (1.0 + self.decay_rate * self._progress(step)))


class PolynomialDecay:
    """``(initial - end) * (1 - step / decay_steps) ** power + end``, with ``step`` capped at
    ``decay_steps``; with ``cycle`` the horizon grows to the next multiple of ``decay_steps``."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: float,
        end_learning_rate: float = 0.0001,
        power: float = 1.0,
        cycle: bool = False,
    ) -> None:
        if decay_steps <= 0:
            raise ValueError(f"decay_steps must be > 0, got {decay_steps}")
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.end_learning_rate = end_learning_rate
        self.power = power
        self.cycle = cycle

    def __call__(self, step: int) -> float:
        decay_steps = float(self.decay_steps)
        s = float(step)
        if self.cycle:
            decay_steps *= 1.0 if s == 0 else math.ceil(s / self.decay_steps)
        else:
            s = min(s, decay_steps)
        p = s / decay_steps
        delta = self.initial_learning_rate - self.end_learning_rate
        return float(delta * (1.0 - p) ** self.power + self.end_learning_rate)


class CosineDecay:
    """Optional linear warmup from ``initial_learning_rate`` to ``warmup_target`` over
    ``warmup_steps``, then a cosine from that value down to ``alpha`` times it over
    ``decay_steps``, flat afterwards (torch's ``CosineAnnealingLR`` rises again)."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: float,
        alpha: float = 0.0,
        warmup_target: float | None = None,
        warmup_steps: float = 0,
    ) -> None:
        if decay_steps <= 0:
            raise ValueError(f"decay_steps must be > 0, got {decay_steps}")
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.alpha = alpha
        self.warmup_target = warmup_target
        self.warmup_steps = warmup_steps

    def _decay(self, step: float, decay_from: float) -> float:
        cosine = 0.5 * (1.0 + math.cos(math.pi * step / self.decay_steps))
        return decay_from * ((1.0 - self.alpha) * cosine + self.alpha)

    def __call__(self, step: int) -> float:
        if self.warmup_target is None:
            return self._decay(min(float(step), self.decay_steps), self.initial_learning_rate)
        s = min(float(step), self.decay_steps + self.warmup_steps)
        if s < self.warmup_steps:
            fraction = s / self.warmup_steps
            return (self.warmup_target - self.initial_learning_rate) * fraction + self.initial_learning_rate
        return self._decay(s - self.warmup_steps, self.warmup_target)


class CosineDecayRestarts:
    """SGDR: cosine decays over periods ``first_decay_steps * t_mul ** i``, restarting at
    ``initial_learning_rate * m_mul ** i``, each decaying towards ``alpha`` times that."""

    def __init__(
        self,
        initial_learning_rate: float,
        first_decay_steps: float,
        t_mul: float = 2.0,
        m_mul: float = 1.0,
        alpha: float = 0.0,
    ) -> None:
        if first_decay_steps <= 0:
            raise ValueError(f"first_decay_steps must be > 0, got {first_decay_steps}")
        self.initial_learning_rate = initial_learning_rate
        self.first_decay_steps = first_decay_steps
        self.t_mul = t_mul
        self.m_mul = m_mul
        self.alpha = alpha

    def __call__(self, step: int) -> float:
        fraction = step / self.first_decay_steps
        if self.t_mul == 1.0:
            i_restart = float(math.floor(fraction))
            fraction -= i_restart
        else:
            i_restart = float(
                math.floor(math.log(1.0 - fraction * (1.0 - self.t_mul)) / math.log(self.t_mul))
            )
            sum_r = (1.0 - self.t_mul**i_restart) / (1.0 - self.t_mul)
            fraction = (fraction - sum_r) / self.t_mul**i_restart
        cosine = 0.5 * self.m_mul**i_restart * (1.0 + math.cos(math.pi * fraction))
        return float(self.initial_learning_rate * ((1.0 - self.alpha) * cosine + self.alpha))


class ScheduleLR(torch.optim.lr_scheduler.LRScheduler):
    """Drive every param group's lr from a Keras-style ``schedule(step)``.

    Step it once after every ``optimizer.step()``: construction sets ``schedule(0)`` for the
    first update, and after ``k`` scheduler steps the next update uses ``schedule(k)``, as Keras's
    optimizer evaluates its schedule at ``iterations`` before incrementing it.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, schedule: Schedule, last_epoch: int = -1) -> None:
        self.schedule = schedule
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:  # type: ignore[override]
        lr = float(self.schedule(self.last_epoch))
        return [lr] * len(self.optimizer.param_groups)

    def state_dict(self) -> dict[str, Any]:
        """The counters only: the schedule is configuration (like ``LambdaLR``'s lambdas)."""
        return {k: v for k, v in super().state_dict().items() if k != "schedule"}


def _resolve_mode(monitor: str, mode: str) -> str:
    if mode in ("min", "max"):
        return mode
    if mode != "auto":
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    name = monitor.removeprefix("val_")
    if name == "loss" or name.endswith(("_loss", "error", "crossentropy", "divergence")):
        return "min"
    if name in ("acc", "auc", "precision", "recall") or name.endswith(("accuracy", "_auc", "iou")):
        return "max"
    raise ValueError(
        f"cannot tell whether {monitor!r} should be minimised or maximised; pass mode='min' or 'max'"
    )


class KerasReduceLROnPlateau:
    """``keras.callbacks.ReduceLROnPlateau`` for a torch optimizer: call :meth:`step` once per
    epoch with the monitored value (``monitor`` only names it, and resolves ``mode="auto"``).

    Per epoch, as Keras's ``on_epoch_end``: leaving cooldown resets the wait; an improvement
    (``current - min_delta < best`` in float32, or ``>`` for ``max``) resets it too; otherwise,
    out of cooldown, ``wait += 1`` and at ``wait >= patience`` every group whose lr is above
    ``min_lr`` gets ``max(lr * factor, min_lr)`` and the cooldown starts.

    Stock torch is equivalent with ``ReduceLROnPlateau(mode, factor, patience=max(p - 1, 0),
    threshold=min_delta, threshold_mode="abs", cooldown=max(c - 1, 0), min_lr, eps=0.0)``.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
    ) -> None:
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0, got {factor}")
        self.optimizer = optimizer
        self.monitor = monitor
        self.factor = factor
        self.patience = patience
        self.mode = _resolve_mode(monitor, mode)
        self.min_delta = abs(min_delta) * (-1.0 if self.mode == "min" else 1.0)
        self.cooldown = cooldown
        self.min_lr = min_lr
        self.best: float | None = None
        self.wait = 0
        self.cooldown_counter = 0

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def _is_improvement(self, current: float) -> bool:
        if self.best is None:
            return True
        # Keras compares through ops.less / ops.greater, i.e. in float32.
        shifted = np.float32(current - self.min_delta)
        best = np.float32(self.best)
        return bool(shifted < best) if self.mode == "min" else bool(shifted > best)

    def _reduce(self) -> bool:
        reduced = False
        for group in self.optimizer.param_groups:
            old_lr = float(np.float32(group["lr"]))
            if old_lr > np.float32(self.min_lr):
                group["lr"] = max(old_lr * self.factor, self.min_lr)
                reduced = True
        return reduced

    def step(self, metric: float) -> None:
        current = float(metric)
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience and self._reduce():
                self.cooldown_counter = self.cooldown
                self.wait = 0

    def get_last_lr(self) -> list[float]:
        return [float(group["lr"]) for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.__dict__.update(state_dict)
