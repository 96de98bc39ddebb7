"""The torch side of train-step equivalence: ``model.train(); opt.zero_grad(); loss.backward();``
clipping; ``opt.step()``. Dropout modules get ``p = 0`` and functional dropout is switched off
while stepping. Runs in the verification subprocess."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from migrator.verify.arrays import Array, flat, to_numpy
from migrator.verify.training import Trainer
from migrator.verify.training_plan import SidePlan

_DROPOUT = ("Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout")
# functional dropout and its default for `training`
_FUNCTIONAL = {
    "dropout": True,
    "dropout1d": True,
    "dropout2d": True,
    "dropout3d": True,
    "alpha_dropout": False,
    "feature_alpha_dropout": False,
}


class TorchTrainer(Trainer):
    framework = "torch"

    def __init__(self, model: Any, side: SidePlan, role: str, steps_per_epoch: int) -> None:
        super().__init__(model, side, role, steps_per_epoch)
        self._saved: list[tuple[Any, float]] = []
        self._functional: dict[str, float] = {}  # functional dropout seen active: name -> p

    def neutralise(self) -> list[str]:
        out = []
        for name, m in self.model.named_modules():
            kind = type(m).__name__
            p = getattr(m, "p", None)
            if kind in _DROPOUT and isinstance(p, int | float) and p > 0:
                self._saved.append((m, float(p)))
                m.p = 0.0
                out.append(f"{name or '(model)'} ({kind} p={p:g} -> 0)")
        return out

    def restore_randomness(self) -> None:
        for m, p in self._saved:
            m.p = p
        self._saved.clear()

    def functional_randomness(self) -> list[str]:
        return [f"F.{name} in forward (p={p:g}, switched off)" for name, p in self._functional.items()]

    @contextmanager
    def _functional_off(self) -> Iterator[None]:
        """F.dropout and friends run with training=False (a call without training=self.training is
        active even in eval mode); an active call is recorded for the report."""
        import torch.nn.functional as F

        saved = {name: getattr(F, name) for name in _FUNCTIONAL if hasattr(F, name)}

        def off(name: str, fn: Any, default: bool) -> Any:
            def wrapped(input: Any, p: float = 0.5, training: bool = default, inplace: bool = False) -> Any:
                if training and p > 0:
                    self._functional.setdefault(name, float(p))
                return fn(input, p, False, inplace)

            return wrapped

        for name, fn in saved.items():
            setattr(F, name, off(name, fn, _FUNCTIONAL[name]))
        try:
            yield
        finally:
            for name, fn in saved.items():
                setattr(F, name, fn)

    def _train_step(self, xs: list[Array], y: Array, step: int) -> float:
        import torch

        self.model.train()
        ts = [torch.from_numpy(np.ascontiguousarray(x)) for x in xs]
        target = torch.from_numpy(np.ascontiguousarray(y))
        self.optimizer.zero_grad()
        with self._functional_off():
            pred = self.model(*ts)
            loss = self.loss_value(pred, target, step)
        value = self.check_scalar(to_numpy(loss), step)
        loss.backward()
        clip = self.side.clip
        if clip is not None:
            if clip.kind == "norm":
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip.value)
            elif clip.kind == "tensor_norm":
                for p in self.model.parameters():
                    torch.nn.utils.clip_grad_norm_(p, clip.value)
            else:
                torch.nn.utils.clip_grad_value_(self.model.parameters(), clip.value)
        self.optimizer.step()
        return value

    def evaluate(self, xs: list[Array]) -> list[Array]:
        import torch

        self.model.eval()
        ts = [torch.from_numpy(np.ascontiguousarray(x)) for x in xs]
        with torch.no_grad(), self._functional_off():
            return [to_numpy(o) for o in flat(self.model(*ts))]

    def parameters(self) -> dict[str, Array]:
        return {
            name: p.detach().cpu().numpy().copy()
            for name, p in self.model.named_parameters()
            if p.requires_grad
        }

    def weights(self) -> list[Array]:
        return [t.detach().cpu().numpy().copy() for t in self.model.state_dict(keep_vars=True).values()]

    def restore(self, values: list[Array]) -> None:
        import torch

        with torch.no_grad():
            for t, v in zip(self.model.state_dict(keep_vars=True).values(), values, strict=True):
                t.copy_(torch.from_numpy(v))

    def has_batchnorm(self) -> bool:
        return any("BatchNorm" in type(m).__name__ for m in self.model.modules())

    def class_axis(self, ndim: int) -> int:
        return 1 if ndim >= 2 else 0
