"""PyTorch learning-rate schedulers for Keras 3: two ``LearningRateSchedule`` subclasses and a
``ReduceLROnPlateau`` that is both an explicit-loop scheduler and a ``keras.callbacks.Callback``.

Keras evaluates a schedule at the optimizer's iteration ``k`` (0-based); torch schedulers are
usually stepped once per epoch. With ``steps_per_epoch`` the lr during optimizer step ``k``
equals torch's lr during its ``k``-th optimizer step when ``scheduler.step()`` runs after every
``steps_per_epoch`` optimizer steps (``steps_per_epoch=1``: a scheduler stepped per batch).
Values are computed in float64, as torch does in Python floats, and returned as float32.

StepLR, MultiStepLR and ExponentialLR need no helper: use ``ExponentialDecay(lr, s*spe, gamma,
staircase=True)``, ``PiecewiseConstantDecay([m*spe - 1 for m in milestones], values)`` and
``ExponentialDecay(lr, spe, gamma, staircase=True)``.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
from keras import ops

_PACKAGE = "fwmigrate"


def _f64(x: float) -> Any:
    return ops.convert_to_tensor(x, dtype="float64")


@keras.saving.register_keras_serializable(package=_PACKAGE)
class CosineAnnealingLR(keras.optimizers.schedules.LearningRateSchedule):  # type: ignore[misc]
    """``lr_scheduler.CosineAnnealingLR``: ``eta_min + (lr - eta_min)*(1 + cos(pi*e/T_max))/2``
    at epoch ``e = k // steps_per_epoch``. Past ``T_max`` it rises again with period
    ``2*T_max`` like torch (Keras CosineDecay stays at its floor; its ``alpha`` is a fraction of
    the lr, ``eta_min`` is absolute). Torch's recursive form equals this closed form."""

    def __init__(
        self, learning_rate: float, T_max: int, eta_min: float = 0.0, steps_per_epoch: int = 1
    ) -> None:
        if T_max <= 0 or steps_per_epoch <= 0:
            raise ValueError(f"T_max and steps_per_epoch must be positive, got {T_max}, {steps_per_epoch}")
        self.learning_rate = float(learning_rate)
        self.T_max = int(T_max)
        self.eta_min = float(eta_min)
        self.steps_per_epoch = int(steps_per_epoch)

    def __call__(self, step: Any) -> Any:
        epoch = ops.floor_divide(ops.cast(step, "float64"), _f64(float(self.steps_per_epoch)))
        cosine = 1.0 + ops.cos(epoch * (math.pi / self.T_max))
        lr = self.eta_min + (self.learning_rate - self.eta_min) * cosine / 2.0
        return ops.cast(lr, "float32")

    def get_config(self) -> dict[str, Any]:
        return {
            "learning_rate": self.learning_rate,
            "T_max": self.T_max,
            "eta_min": self.eta_min,
            "steps_per_epoch": self.steps_per_epoch,
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class OneCycleLR(keras.optimizers.schedules.LearningRateSchedule):  # type: ignore[misc]
    """``lr_scheduler.OneCycleLR`` (stepped per batch), learning rate only: torch also cycles
    momentum / beta_1 between 0.95 and 0.85 by default, which no Keras schedule can express.
    Steps past ``total_steps`` keep torch's last lr (torch raises)."""

    def __init__(
        self,
        max_lr: float,
        total_steps: int,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
    ) -> None:
        if total_steps <= 0:
            raise ValueError(f"total_steps must be positive, got {total_steps}")
        if not 0.0 <= pct_start <= 1.0:
            raise ValueError(f"pct_start must be in [0, 1], got {pct_start}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        self.max_lr = float(max_lr)
        self.total_steps = int(total_steps)
        self.pct_start = float(pct_start)
        self.anneal_strategy = anneal_strategy
        self.div_factor = float(div_factor)
        self.final_div_factor = float(final_div_factor)
        self.three_phase = bool(three_phase)

    def _phases(self) -> list[tuple[float, float, float]]:
        """``(end_step, start_lr, end_lr)`` per phase, as torch's ``_schedule_phases``."""
        initial = self.max_lr / self.div_factor
        minimum = initial / self.final_div_factor
        warm_end = float(self.pct_start * self.total_steps) - 1
        last = float(self.total_steps - 1)
        if self.three_phase:
            cool_end = float(2 * self.pct_start * self.total_steps) - 2
            return [
                (warm_end, initial, self.max_lr),
                (cool_end, self.max_lr, initial),
                (last, initial, minimum),
            ]
        return [(warm_end, initial, self.max_lr), (last, self.max_lr, minimum)]

    def _anneal(self, start: float, end: float, pct: Any) -> Any:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (ops.cos(math.pi * pct) + 1.0)
        return (end - start) * pct + start

    def __call__(self, step: Any) -> Any:
        k = ops.minimum(ops.cast(step, "float64"), _f64(float(self.total_steps)))
        phases = self._phases()
        lrs, start_step = [], 0.0
        for end_step, start_lr, end_lr in phases:
            lrs.append(self._anneal(start_lr, end_lr, (k - start_step) / _f64(end_step - start_step)))
            start_step = end_step
        lr = lrs[-1]  # torch takes the first phase with k <= end_step, else the last one
        for (end_step, _, _), phase_lr in zip(phases[-2::-1], lrs[-2::-1], strict=True):
            lr = ops.where(k <= end_step, phase_lr, lr)
        return ops.cast(lr, "float32")

    def get_config(self) -> dict[str, Any]:
        return {
            "max_lr": self.max_lr,
            "total_steps": self.total_steps,
            "pct_start": self.pct_start,
            "anneal_strategy": self.anneal_strategy,
            "div_factor": self.div_factor,
            "final_div_factor": self.final_div_factor,
            "three_phase": self.three_phase,
        }


class ReduceLROnPlateau(keras.callbacks.Callback):  # type: ignore[misc]
    """``lr_scheduler.ReduceLROnPlateau`` with torch's rules: the lr drops when the number of
    bad epochs *exceeds* ``patience`` (Keras: reaches it), ``threshold`` is relative by default
    (Keras ``min_delta`` is absolute), bad epochs are ignored during ``cooldown``, and a
    reduction smaller than ``eps`` is skipped.

    Call :meth:`step` with the metric in an explicit loop, or pass it to ``fit(callbacks=[...])``
    where :meth:`on_epoch_end` steps it with ``logs[monitor]`` (``logs["loss"]`` if ``monitor``
    is missing). The optimizer's learning rate must be a float (a variable), not a schedule.
    """

    def __init__(
        self,
        optimizer: Any,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float = 0.0,
        eps: float = 1e-8,
        monitor: str = "val_loss",
    ) -> None:
        super().__init__()
        if factor >= 1.0:
            raise ValueError("Factor should be < 1.0.")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        lr_state = getattr(optimizer, "_learning_rate", None)
        if not isinstance(lr_state, keras.Variable):
            raise TypeError(
                "ReduceLROnPlateau needs an optimizer whose learning_rate is a float; this one has "
                f"{type(lr_state).__name__} (a LearningRateSchedule or callable cannot be reduced)"
            )
        self.optimizer = optimizer
        self.mode, self.factor, self.patience = mode, float(factor), int(patience)
        self.threshold, self.threshold_mode = float(threshold), threshold_mode
        self.cooldown, self.min_lr, self.eps, self.monitor = int(cooldown), float(min_lr), float(eps), monitor
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = self._current_lr(None)

    def _current_lr(self, remembered: float | None) -> float:
        """The lr as a Python float: the value this scheduler set last (torch keeps float64) if
        the float32 variable still holds it, else whatever someone else assigned."""
        value = float(ops.convert_to_tensor(self.optimizer.learning_rate))
        if remembered is not None and float(np.float32(remembered)) == value:
            return remembered
        return value

    def _is_better(self, current: float) -> bool:
        sign = 1.0 if self.mode == "max" else -1.0
        if self.threshold_mode == "rel":
            bound = self.best * (1.0 + sign * self.threshold)
        else:
            bound = self.best + sign * self.threshold
        return current > bound if self.mode == "max" else current < bound

    def step(self, metrics: Any) -> None:
        """One epoch's metric, exactly as torch's ``scheduler.step(metrics)``."""
        current = float(metrics)
        self.last_epoch += 1
        if self._is_better(current):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in cooldown are ignored
        if self.num_bad_epochs > self.patience:
            old_lr = self._current_lr(self._last_lr)
            new_lr = max(old_lr * self.factor, self.min_lr)
            if old_lr - new_lr > self.eps:
                self.optimizer.learning_rate = new_lr
                self._last_lr = new_lr
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._current_lr(self._last_lr)

    def get_last_lr(self) -> list[float]:
        """Torch's ``get_last_lr()``: the lr after the last :meth:`step`, one entry per group."""
        return [self._last_lr]

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs if logs is not None else {}
        key = self.monitor if self.monitor in logs else "loss"
        if key not in logs:
            raise KeyError(
                f"ReduceLROnPlateau monitors {self.monitor!r} (or 'loss'), but the epoch logs only "
                f"have {sorted(logs)}"
            )
        self.step(logs[key])
        logs["learning_rate"] = self._last_lr
