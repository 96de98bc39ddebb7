"""``torch.optim.Optimizer`` subclasses with Keras 3's update rules and defaults.

Every class takes torch's argument spelling (``params`` first, ``lr``, ``betas``, ``eps``) with
Keras's default values, reads ``group["lr"]`` on every step (so ``torch.optim.lr_scheduler``
schedulers and :class:`~migrator.runtime.torch_schedules.ScheduleLR` drive it), and applies
Keras's *decoupled* weight decay ``p -= p * weight_decay * lr`` before the update, as
``keras.optimizers.Optimizer._apply_weight_decay`` does.

Like Keras's ``optimizer.iterations``, the step counter used for bias correction counts calls
of :meth:`step`, not per-parameter updates: it lives in each param group (``"iterations"``, so
it is saved by ``state_dict``) and advances even for parameters that got no gradient.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

ParamsT = Any  # an iterable of tensors, or of param-group dicts, as torch accepts


def _check_non_negative(**values: float) -> None:
    for name, value in values.items():
        if value < 0.0:
            raise ValueError(f"{name} must be >= 0, got {value}")


def _check_betas(betas: tuple[float, float]) -> None:
    for i, beta in enumerate(betas):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"betas[{i}] must be in [0, 1), got {beta}")


class _KerasOptimizer(torch.optim.Optimizer):
    """The loop shared by all Keras-rule optimizers; subclasses implement :meth:`_update`."""

    def __init__(self, params: ParamsT, lr: float, weight_decay: float, **hyper: Any) -> None:
        _check_non_negative(lr=lr, weight_decay=weight_decay)
        super().__init__(params, {"lr": lr, "weight_decay": weight_decay, "iterations": 0, **hyper})

    @property
    def iterations(self) -> int:
        """Number of :meth:`step` calls so far (Keras's ``optimizer.iterations``)."""
        return int(self.param_groups[0]["iterations"])

    def _begin_step(self, group: dict[str, Any], step: int) -> None:
        """Per-group work done once per step before the per-parameter updates."""

    def _update(self, p: Tensor, g: Tensor, state: dict[str, Any], group: dict[str, Any], lr: float) -> None:
        raise NotImplementedError

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr = float(group["lr"])
            wd = float(group["weight_decay"])
            self._begin_step(group, int(group["iterations"]) + 1)
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
                if wd != 0.0:
                    p.sub_(p * wd * lr)
                self._update(p, p.grad.to(p.dtype), self.state[p], group, lr)
            group["iterations"] = int(group["iterations"]) + 1
        return loss


class KerasSGD(_KerasOptimizer):
    """``keras.optimizers.SGD``: ``v = momentum * v - lr * g; p += v`` (nesterov:
    ``p += momentum * v - lr * g``).

    Unlike torch's ``v = momentum * v + g; p -= lr * v``, the velocity carries the learning rate
    of earlier steps, so the two differ as soon as the learning rate changes during training.
    Keras's default lr is 0.01 (torch: 1e-3).
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}")
        super().__init__(params, lr, weight_decay, momentum=momentum, nesterov=nesterov)

    def _update(self, p: Tensor, g: Tensor, state: dict[str, Any], group: dict[str, Any], lr: float) -> None:
        momentum = float(group["momentum"])
        if momentum == 0.0:
            p.sub_(g * lr)
            return
        if "momentum" not in state:
            state["momentum"] = torch.zeros_like(p)
        v: Tensor = state["momentum"]
        v.mul_(momentum).sub_(g * lr)
        if group["nesterov"]:
            p.add_(v * momentum - g * lr)
        else:
            p.add_(v)


class KerasAdam(_KerasOptimizer):
    """``keras.optimizers.Adam``: ``eps`` is added to ``sqrt(v)`` *before* the bias correction
    (``p -= lr_t * m / (sqrt(v) + eps)`` with ``lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t)``), so the
    effective epsilon is ``eps * sqrt(1 - b2^t)``; torch adds it after. Default eps 1e-7.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-7,
        amsgrad: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        _check_betas(betas)
        _check_non_negative(eps=eps)
        super().__init__(params, lr, weight_decay, betas=tuple(betas), eps=eps, amsgrad=amsgrad)

    def _update(self, p: Tensor, g: Tensor, state: dict[str, Any], group: dict[str, Any], lr: float) -> None:
        beta1, beta2 = group["betas"]
        t = int(group["iterations"]) + 1
        if "m" not in state:
            state["m"] = torch.zeros_like(p)
            state["v"] = torch.zeros_like(p)
            if group["amsgrad"]:
                state["v_hat"] = torch.zeros_like(p)
        m: Tensor = state["m"]
        v: Tensor = state["v"]
        alpha = lr * math.sqrt(1.0 - beta2**t) / (1.0 - beta1**t)
        m.add_((g - m) * (1.0 - beta1))
        v.add_((g * g - v) * (1.0 - beta2))
        if group["amsgrad"]:
            v_hat: Tensor = state["v_hat"]
            torch.maximum(v_hat, v, out=v_hat)
            v = v_hat
        p.sub_((m * alpha) / (v.sqrt() + group["eps"]))


class KerasAdamW(KerasAdam):
    """``keras.optimizers.AdamW``: :class:`KerasAdam` with Keras's default weight decay 0.004
    (torch's ``AdamW`` defaults to 0.01 and puts eps after the bias correction)."""

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-7,
        amsgrad: bool = False,
        weight_decay: float = 0.004,
    ) -> None:
        super().__init__(params, lr, betas, eps, amsgrad, weight_decay)


class KerasRMSprop(_KerasOptimizer):
    """``keras.optimizers.RMSprop``: ``eps`` goes *inside* the square root
    (``lr * g / sqrt(v + eps)``; centered: ``sqrt(v - mean_g^2 + eps)``), torch puts it outside.
    With momentum, ``buf = momentum * buf + lr * g / sqrt(...)``: the lr is inside the buffer.
    Default rho 0.9 (torch alpha 0.99), eps 1e-7.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        rho: float = 0.9,
        momentum: float = 0.0,
        eps: float = 1e-7,
        centered: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        _check_non_negative(rho=rho, momentum=momentum, eps=eps)
        super().__init__(params, lr, weight_decay, rho=rho, momentum=momentum, eps=eps, centered=centered)

    def _update(self, p: Tensor, g: Tensor, state: dict[str, Any], group: dict[str, Any], lr: float) -> None:
        rho = float(group["rho"])
        momentum = float(group["momentum"])
        if "velocity" not in state:
            state["velocity"] = torch.zeros_like(p)
            if momentum > 0.0:
                state["momentum"] = torch.zeros_like(p)
            if group["centered"]:
                state["average_gradient"] = torch.zeros_like(p)
        velocity: Tensor = state["velocity"]
        velocity.copy_(velocity * rho + (g * g) * (1.0 - rho))
        if group["centered"]:
            avg: Tensor = state["average_gradient"]
            avg.copy_(avg * rho + g * (1.0 - rho))
            denominator = velocity - avg * avg + group["eps"]
        else:
            denominator = velocity + group["eps"]
        increment = (g * lr) / denominator.sqrt()
        if momentum > 0.0:
            buf: Tensor = state["momentum"]
            buf.copy_(buf * momentum + increment)
            p.sub_(buf)
        else:
            p.sub_(increment)


class KerasAdagrad(_KerasOptimizer):
    """``keras.optimizers.Adagrad``: the accumulator starts at 0.1 (torch: 0) and ``eps`` goes
    inside the square root (``lr * g / sqrt(acc + eps)``). Default lr 1e-3 (torch: 0.01)."""

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        initial_accumulator_value: float = 0.1,
        eps: float = 1e-7,
        weight_decay: float = 0.0,
    ) -> None:
        _check_non_negative(initial_accumulator_value=initial_accumulator_value, eps=eps)
        super().__init__(
            params, lr, weight_decay, initial_accumulator_value=initial_accumulator_value, eps=eps
        )

    def _update(self, p: Tensor, g: Tensor, state: dict[str, Any], group: dict[str, Any], lr: float) -> None:
        if "accumulator" not in state:
            state["accumulator"] = torch.full_like(p, float(group["initial_accumulator_value"]))
        acc: Tensor = state["accumulator"]
        acc.add_(g * g)
        p.sub_((g * lr) / (acc + group["eps"]).sqrt())


class KerasAdamax(_KerasOptimizer):
    """``keras.optimizers.Adamax``: ``u = max(b2 * u, |g|)`` and
    ``p -= lr * m / ((1 - b1^t) * (u + eps))``; torch adds eps inside the max
    (``max(b2 * u, |g| + eps)``), which differs for gradients near eps, and its weight decay is
    L2 (coupled). Default lr 1e-3 (torch: 2e-3)."""

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-7,
        weight_decay: float = 0.0,
    ) -> None:
        _check_betas(betas)
        _check_non_negative(eps=eps)
        super().__init__(params, lr, weight_decay, betas=tuple(betas), eps=eps)

    def _update(self, p: Tensor, g: Tensor, state: dict[str, Any], group: dict[str, Any], lr: float) -> None:
        beta1, beta2 = group["betas"]
        t = int(group["iterations"]) + 1
        if "m" not in state:
            state["m"] = torch.zeros_like(p)
            state["u"] = torch.zeros_like(p)
        m: Tensor = state["m"]
        u: Tensor = state["u"]
        m.add_((g - m) * (1.0 - beta1))
        torch.maximum(u * beta2, g.abs(), out=u)
        p.sub_((m * lr) / ((u + group["eps"]) * (1.0 - beta1**t)))


class KerasAdadelta(_KerasOptimizer):
    """``keras.optimizers.Adadelta`` (same rule as torch's; Keras's default lr is 1e-3 where
    torch's is 1.0, and its weight decay is decoupled where torch's is L2)."""

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        rho: float = 0.95,
        eps: float = 1e-7,
        weight_decay: float = 0.0,
    ) -> None:
        _check_non_negative(rho=rho, eps=eps)
        super().__init__(params, lr, weight_decay, rho=rho, eps=eps)

    def _update(self, p: Tensor, g: Tensor, state: dict[str, Any], group: dict[str, Any], lr: float) -> None:
        rho = float(group["rho"])
        eps = float(group["eps"])
        if "accumulated_grad" not in state:
            state["accumulated_grad"] = torch.zeros_like(p)
            state["accumulated_delta_var"] = torch.zeros_like(p)
        acc_grad: Tensor = state["accumulated_grad"]
        acc_delta: Tensor = state["accumulated_delta_var"]
        acc_grad.copy_(acc_grad * rho + (g * g) * (1.0 - rho))
        delta = -((acc_delta + eps).sqrt() * g) / (acc_grad + eps).sqrt()
        acc_delta.copy_(acc_delta * rho + (delta * delta) * (1.0 - rho))
        p.add_(delta * lr)


class KerasNadam(_KerasOptimizer):
    """``keras.optimizers.Nadam``: the momentum schedule ``mu_t = b1 * (1 - 0.5 * 0.96^t)``
    (torch ``NAdam`` with ``momentum_decay=1.0``; torch's default 4e-3 is a different schedule),
    eps added after the bias correction, decoupled weight decay."""

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-7,
        weight_decay: float = 0.0,
    ) -> None:
        _check_betas(betas)
        _check_non_negative(eps=eps)
        super().__init__(params, lr, weight_decay, betas=tuple(betas), eps=eps, u_product=1.0)

    def _begin_step(self, group: dict[str, Any], step: int) -> None:
        # Keras keeps one running product of the momentum schedule, advanced once per step.
        beta1 = float(group["betas"][0])
        group["u_product"] = float(group["u_product"]) * beta1 * (1.0 - 0.5 * 0.96**step)

    def _update(self, p: Tensor, g: Tensor, state: dict[str, Any], group: dict[str, Any], lr: float) -> None:
        beta1, beta2 = group["betas"]
        t = int(group["iterations"]) + 1
        u_t = beta1 * (1.0 - 0.5 * 0.96**t)
        u_t_next = beta1 * (1.0 - 0.5 * 0.96 ** (t + 1))
        u_product = float(group["u_product"])
        u_product_next = u_product * u_t_next
        if "m" not in state:
            state["m"] = torch.zeros_like(p)
            state["v"] = torch.zeros_like(p)
        m: Tensor = state["m"]
        v: Tensor = state["v"]
        m.add_((g - m) * (1.0 - beta1))
        v.add_((g * g - v) * (1.0 - beta2))
        m_hat = (m * u_t_next) / (1.0 - u_product_next) + (g * (1.0 - u_t)) / (1.0 - u_product)
        v_hat = v / (1.0 - beta2**t)
        p.sub_((m_hat * lr) / (v_hat.sqrt() + group["eps"]))
