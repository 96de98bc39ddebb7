"""``keras.optimizers.Optimizer`` subclasses with PyTorch's update rules and defaults.

Every class takes Keras's argument spelling (``learning_rate``, ``beta_1``, ``epsilon``) with
torch's default values and follows torch's single-tensor CPU implementation
(``torch/optim/*.py``, ``_single_tensor_*``) operation by operation:

* ``weight_decay`` is torch's *coupled* L2 (``g += weight_decay * p``) unless the class says
  otherwise; Keras's own decoupled decay is switched off (``weight_decay=None`` is passed to the
  base class) and the value is kept in :attr:`_TorchOptimizer.torch_weight_decay`. Variables
  excluded with ``exclude_from_weight_decay()`` get no decay (torch: a param group with
  ``weight_decay=0``).
* The step count used for bias correction is per variable, like torch's ``state["step"]``: a
  variable whose gradient is ``None`` is skipped and its count does not advance.
* Scalar coefficients (bias corrections, step sizes) are computed in float64, as torch computes
  them in Python floats, and cast to the variable's dtype.
* Gradient clipping (``clipnorm``, ``clipvalue``, ``global_clipnorm``), EMA, loss scaling and
  gradient accumulation are the base class's and are passed through ``**kwargs``.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf
from keras import ops

_PACKAGE = "fwmigrate"


def _f64(x: Any) -> Any:
    """``x`` as float64; a Python float is converted directly (``ops.cast`` would round it to
    float32 first)."""
    if isinstance(x, float):
        return ops.convert_to_tensor(x, dtype="float64")
    return ops.cast(x, "float64")


def _lerp(start: Any, end: Any, weight: float) -> Any:
    """``torch.lerp`` with a scalar weight, with the CPU kernel's two branches."""
    if weight < 0.5:
        return start + weight * (end - start)
    return end - (end - start) * (1.0 - weight)


def _scalar_slot_name(variable: Any, name: str) -> str:
    """``{variable path}_{name}``, as ``add_variable_from_reference`` names its slots."""
    return f"{getattr(variable, 'path', variable.name)}_{name}".replace("/", "_").replace(":", "_")


def _check(**values: float) -> None:
    for name, value in values.items():
        if value < 0.0:
            raise ValueError(f"Invalid {name}: {value} (must be >= 0)")


def _check_betas(beta_1: float, beta_2: float) -> None:
    for name, beta in (("beta_1", beta_1), ("beta_2", beta_2)):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"Invalid {name}: {beta} (must be in [0, 1))")


class _TorchOptimizer(keras.optimizers.Optimizer):  # type: ignore[misc]
    """Shared machinery: per-variable step counters, torch's weight decay, config round trip."""

    def __init__(self, learning_rate: Any, weight_decay: float, **kwargs: Any) -> None:
        if isinstance(learning_rate, int) and not isinstance(learning_rate, bool):
            learning_rate = float(learning_rate)  # torch accepts lr=1; Keras insists on a float
        if isinstance(learning_rate, float):
            _check(learning_rate=learning_rate)
        _check(weight_decay=weight_decay)
        super().__init__(learning_rate=learning_rate, weight_decay=None, **kwargs)
        self.torch_weight_decay = float(weight_decay)

    def build(self, variables: Any) -> None:
        if self.built:
            return
        super().build(variables)
        self._steps = [
            self.add_variable(shape=(), dtype="float32", name=_scalar_slot_name(v, "step")) for v in variables
        ]
        self._add_slots(variables)

    def _add_slots(self, variables: Any) -> None:
        """The optimizer's own per-variable state (``exp_avg``, ...), created once in ``build``."""

    def _slot(self, slots: list[Any], variable: Any) -> Any:
        return slots[self._get_variable_index(variable)]

    def _next_step(self, variable: Any) -> Any:
        """Advance this variable's ``state["step"]``; returns the new count as float64."""
        step = self._slot(self._steps, variable)
        new = step + 1.0
        self.assign(step, new)
        return _f64(new)

    def _decays(self, variable: Any) -> bool:
        return self.torch_weight_decay != 0.0 and bool(self._use_weight_decay(variable))

    def _grad(self, gradient: Any, variable: Any, coupled: bool = True) -> Any:
        """The dense gradient in the variable's dtype, plus ``weight_decay * p`` when coupled."""
        g = ops.cast(tf.convert_to_tensor(gradient), variable.dtype)
        if coupled and self._decays(variable):
            g = g + ops.cast(self.torch_weight_decay, variable.dtype) * variable
        return g

    def _decay_decoupled(self, variable: Any, lr: Any) -> None:
        """``p *= 1 - lr * weight_decay`` (AdamW, ``decoupled_weight_decay=True``)."""
        if self._decays(variable):
            factor = 1.0 - lr * self.torch_weight_decay
            self.assign(variable, variable * ops.cast(factor, variable.dtype))

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = super().get_config()
        config["weight_decay"] = self.torch_weight_decay
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class TorchSGD(_TorchOptimizer):
    """``torch.optim.SGD``: ``buf = g`` on the first step, then ``buf = momentum*buf +
    (1-dampening)*g``; ``p -= lr * (g + momentum*buf if nesterov else buf)``. The lr stays
    outside the buffer, so a changed lr acts at once (stock Keras keeps the old lr in the
    velocity)."""

    def __init__(
        self,
        learning_rate: Any = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        **kwargs: Any,
    ) -> None:
        _check(momentum=momentum)
        if nesterov and (momentum <= 0.0 or dampening != 0.0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(learning_rate, weight_decay, **kwargs)
        self.momentum = float(momentum)
        self.dampening = float(dampening)
        self.nesterov = bool(nesterov)

    def _add_slots(self, variables: Any) -> None:
        self._bufs = self.add_optimizer_variables(variables, "momentum_buffer") if self.momentum else []

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        g = self._grad(gradient, variable)
        dtype = variable.dtype
        if self.momentum:
            first = ops.equal(self._next_step(variable), 1.0)
            buf = self._slot(self._bufs, variable)
            new_buf = ops.where(
                first, g, buf * ops.cast(self.momentum, dtype) + ops.cast(1.0 - self.dampening, dtype) * g
            )
            self.assign(buf, new_buf)
            g = g + ops.cast(self.momentum, dtype) * new_buf if self.nesterov else new_buf
        self.assign(variable, variable - ops.cast(learning_rate, dtype) * g)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(momentum=self.momentum, dampening=self.dampening, nesterov=self.nesterov)
        return config


class _Moments(_TorchOptimizer):
    """The Adam family's ``beta_1``, ``beta_2`` and ``epsilon``, checked as torch checks them."""

    def __init__(
        self,
        learning_rate: Any,
        beta_1: float,
        beta_2: float,
        epsilon: float,
        weight_decay: float,
        **kwargs: Any,
    ) -> None:
        _check_betas(beta_1, beta_2)
        _check(epsilon=epsilon)
        super().__init__(learning_rate, weight_decay, **kwargs)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon)
        return config


class _AdamBase(_Moments):
    """``torch.optim.Adam`` / ``AdamW``: ``eps`` is added after the bias correction
    ``sqrt(v) / sqrt(1 - beta_2**t) + eps`` (stock Keras adds it to ``sqrt(v)`` before)."""

    def __init__(
        self,
        learning_rate: Any,
        beta_1: float,
        beta_2: float,
        epsilon: float,
        weight_decay: float,
        amsgrad: bool,
        decoupled_weight_decay: bool,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, beta_1, beta_2, epsilon, weight_decay, **kwargs)
        self.amsgrad = bool(amsgrad)
        self.decoupled_weight_decay = bool(decoupled_weight_decay)

    def _add_slots(self, variables: Any) -> None:
        self._exp_avgs, self._exp_avg_sqs = self.add_optimizer_variables(variables, ["exp_avg", "exp_avg_sq"])
        self._max_exp_avg_sqs = (
            self.add_optimizer_variables(variables, "max_exp_avg_sq") if self.amsgrad else []
        )

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        dtype = variable.dtype
        lr = _f64(learning_rate)
        t = self._next_step(variable)
        if self.decoupled_weight_decay:
            self._decay_decoupled(variable, lr)
        g = self._grad(gradient, variable, coupled=not self.decoupled_weight_decay)
        m, v = self._slot(self._exp_avgs, variable), self._slot(self._exp_avg_sqs, variable)
        self.assign(m, _lerp(m, g, 1.0 - self.beta_1))
        self.assign(v, v * self.beta_2 + (1.0 - self.beta_2) * g * g)
        step_size = lr / (1.0 - ops.power(_f64(self.beta_1), t))
        bias_correction2_sqrt = ops.sqrt(1.0 - ops.power(_f64(self.beta_2), t))
        if self.amsgrad:
            v_max = self._slot(self._max_exp_avg_sqs, variable)
            self.assign(v_max, ops.maximum(v_max, v))
            v = v_max
        denom = ops.sqrt(v) / ops.cast(bias_correction2_sqrt, dtype) + self.epsilon
        self.assign(variable, variable - ops.cast(step_size, dtype) * (m / denom))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["amsgrad"] = self.amsgrad
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class TorchAdam(_AdamBase):
    """``torch.optim.Adam``: coupled L2 ``weight_decay`` unless ``decoupled_weight_decay``."""

    def __init__(
        self,
        learning_rate: Any = 1e-3,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        decoupled_weight_decay: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate, beta_1, beta_2, epsilon, weight_decay, amsgrad, decoupled_weight_decay, **kwargs
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["decoupled_weight_decay"] = self.decoupled_weight_decay
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class TorchAdamW(_AdamBase):
    """``torch.optim.AdamW``: ``p *= 1 - lr*weight_decay`` before the Adam update (default
    ``weight_decay`` 0.01; stock Keras AdamW uses 0.004 and ``epsilon`` 1e-7)."""

    def __init__(
        self,
        learning_rate: Any = 1e-3,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        weight_decay: float = 0.01,
        amsgrad: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, beta_1, beta_2, epsilon, weight_decay, amsgrad, True, **kwargs)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class TorchRMSprop(_TorchOptimizer):
    """``torch.optim.RMSprop``: ``eps`` is added to ``sqrt(avg)`` (Keras: inside the sqrt) and
    the momentum buffer holds ``g / (sqrt(avg) + eps)`` without the lr (Keras: with it)."""

    def __init__(
        self,
        learning_rate: Any = 1e-2,
        alpha: float = 0.99,
        epsilon: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        **kwargs: Any,
    ) -> None:
        _check(alpha=alpha, epsilon=epsilon, momentum=momentum)
        super().__init__(learning_rate, weight_decay, **kwargs)
        self.alpha = float(alpha)
        self.epsilon = float(epsilon)
        self.momentum = float(momentum)
        self.centered = bool(centered)

    def _add_slots(self, variables: Any) -> None:
        self._square_avgs = self.add_optimizer_variables(variables, "square_avg")
        self._bufs = self.add_optimizer_variables(variables, "momentum_buffer") if self.momentum else []
        self._grad_avgs = self.add_optimizer_variables(variables, "grad_avg") if self.centered else []

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        dtype = variable.dtype
        self._next_step(variable)
        g = self._grad(gradient, variable)
        square_avg = self._slot(self._square_avgs, variable)
        self.assign(square_avg, square_avg * self.alpha + (1.0 - self.alpha) * g * g)
        if self.centered:
            grad_avg = self._slot(self._grad_avgs, variable)
            self.assign(grad_avg, _lerp(grad_avg, g, 1.0 - self.alpha))
            avg = ops.sqrt(square_avg - grad_avg * grad_avg) + self.epsilon
        else:
            avg = ops.sqrt(square_avg) + self.epsilon
        lr = ops.cast(learning_rate, dtype)
        if self.momentum:
            buf = self._slot(self._bufs, variable)
            self.assign(buf, buf * self.momentum + g / avg)
            self.assign(variable, variable - lr * buf)
        else:
            self.assign(variable, variable - lr * (g / avg))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(alpha=self.alpha, epsilon=self.epsilon, momentum=self.momentum, centered=self.centered)
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class TorchAdagrad(_TorchOptimizer):
    """``torch.optim.Adagrad``: ``p -= lr/(1+(t-1)*lr_decay) * g / (sqrt(sum) + eps)``; the
    accumulator starts at 0 and ``eps`` is outside the sqrt (Keras: 0.1, inside)."""

    def __init__(
        self,
        learning_rate: Any = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        epsilon: float = 1e-10,
        **kwargs: Any,
    ) -> None:
        _check(lr_decay=lr_decay, initial_accumulator_value=initial_accumulator_value, epsilon=epsilon)
        super().__init__(learning_rate, weight_decay, **kwargs)
        self.lr_decay = float(lr_decay)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = float(epsilon)

    def _add_slots(self, variables: Any) -> None:
        init = keras.initializers.Constant(self.initial_accumulator_value)
        self._sums = self.add_optimizer_variables(variables, "sum", initializer=init)

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        dtype = variable.dtype
        t = self._next_step(variable)
        g = self._grad(gradient, variable)
        clr = _f64(learning_rate) / (1.0 + (t - 1.0) * self.lr_decay)
        state_sum = self._slot(self._sums, variable)
        self.assign(state_sum, state_sum + g * g)
        std = ops.sqrt(state_sum) + self.epsilon
        self.assign(variable, variable - ops.cast(clr, dtype) * (g / std))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            lr_decay=self.lr_decay,
            initial_accumulator_value=self.initial_accumulator_value,
            epsilon=self.epsilon,
        )
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class TorchAdadelta(_TorchOptimizer):
    """``torch.optim.Adadelta``: the same rule as Keras's, with torch's defaults
    (lr 1.0, rho 0.9, eps 1e-6; Keras: 1e-3, 0.95, 1e-7) and coupled L2."""

    def __init__(
        self,
        learning_rate: Any = 1.0,
        rho: float = 0.9,
        epsilon: float = 1e-6,
        weight_decay: float = 0.0,
        **kwargs: Any,
    ) -> None:
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho: {rho} (must be in [0, 1])")
        _check(epsilon=epsilon)
        super().__init__(learning_rate, weight_decay, **kwargs)
        self.rho = float(rho)
        self.epsilon = float(epsilon)

    def _add_slots(self, variables: Any) -> None:
        self._square_avgs, self._acc_deltas = self.add_optimizer_variables(
            variables, ["square_avg", "acc_delta"]
        )

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        self._next_step(variable)
        g = self._grad(gradient, variable)
        square_avg = self._slot(self._square_avgs, variable)
        acc_delta = self._slot(self._acc_deltas, variable)
        self.assign(square_avg, square_avg * self.rho + (1.0 - self.rho) * g * g)
        std = ops.sqrt(square_avg + self.epsilon)
        delta = ops.sqrt(acc_delta + self.epsilon) / std * g
        self.assign(acc_delta, acc_delta * self.rho + (1.0 - self.rho) * delta * delta)
        self.assign(variable, variable - ops.cast(learning_rate, variable.dtype) * delta)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(rho=self.rho, epsilon=self.epsilon)
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class TorchAdamax(_Moments):
    """``torch.optim.Adamax``: ``u = max(beta_2*u, |g| + eps)`` (Keras adds ``eps`` to ``u``
    in the denominator instead) and default lr 2e-3 (Keras 1e-3)."""

    def __init__(
        self,
        learning_rate: Any = 2e-3,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        weight_decay: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, beta_1, beta_2, epsilon, weight_decay, **kwargs)

    def _add_slots(self, variables: Any) -> None:
        self._exp_avgs, self._exp_infs = self.add_optimizer_variables(variables, ["exp_avg", "exp_inf"])

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        t = self._next_step(variable)
        g = self._grad(gradient, variable)
        m, u = self._slot(self._exp_avgs, variable), self._slot(self._exp_infs, variable)
        self.assign(m, _lerp(m, g, 1.0 - self.beta_1))
        self.assign(u, ops.maximum(u * self.beta_2, ops.abs(g) + self.epsilon))
        clr = _f64(learning_rate) / (1.0 - ops.power(_f64(self.beta_1), t))
        self.assign(variable, variable - ops.cast(clr, variable.dtype) * (m / u))


@keras.saving.register_keras_serializable(package=_PACKAGE)
class TorchNAdam(_Moments):
    """``torch.optim.NAdam``: ``mu_t = beta_1*(1 - 0.5*0.96**(t*momentum_decay))`` with torch's
    default ``momentum_decay`` 4e-3 (stock Keras Nadam hard-codes 1.0, i.e. ``0.96**t``)."""

    def __init__(
        self,
        learning_rate: Any = 2e-3,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        weight_decay: float = 0.0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
        **kwargs: Any,
    ) -> None:
        _check(momentum_decay=momentum_decay)
        super().__init__(learning_rate, beta_1, beta_2, epsilon, weight_decay, **kwargs)
        self.momentum_decay = float(momentum_decay)
        self.decoupled_weight_decay = bool(decoupled_weight_decay)

    def _add_slots(self, variables: Any) -> None:
        self._exp_avgs, self._exp_avg_sqs = self.add_optimizer_variables(variables, ["exp_avg", "exp_avg_sq"])
        self._mu_products = [
            self.add_variable(
                shape=(), initializer="ones", dtype="float32", name=_scalar_slot_name(v, "mu_product")
            )
            for v in variables
        ]

    def _mu(self, t: Any) -> Any:
        return self.beta_1 * (1.0 - 0.5 * ops.power(_f64(0.96), t * self.momentum_decay))

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        dtype = variable.dtype
        lr = _f64(learning_rate)
        t = self._next_step(variable)
        bias_correction2 = 1.0 - ops.power(_f64(self.beta_2), t)
        if self.decoupled_weight_decay:
            self._decay_decoupled(variable, lr)
        g = self._grad(gradient, variable, coupled=not self.decoupled_weight_decay)
        mu, mu_next = self._mu(t), self._mu(t + 1.0)
        mu_product_var = self._slot(self._mu_products, variable)
        mu_product32 = mu_product_var * ops.cast(mu, "float32")  # a float32 tensor in torch
        self.assign(mu_product_var, mu_product32)
        mu_product = _f64(mu_product32)
        m, v = self._slot(self._exp_avgs, variable), self._slot(self._exp_avg_sqs, variable)
        self.assign(m, _lerp(m, g, 1.0 - self.beta_1))
        self.assign(v, v * self.beta_2 + (1.0 - self.beta_2) * g * g)
        denom = ops.sqrt(v / ops.cast(bias_correction2, dtype)) + self.epsilon
        c_grad = -lr * (1.0 - mu) / (1.0 - mu_product)
        c_avg = -lr * mu_next / (1.0 - mu_product * mu_next)
        p = variable + ops.cast(c_grad, dtype) * (g / denom)
        self.assign(variable, p + ops.cast(c_avg, dtype) * (m / denom))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(momentum_decay=self.momentum_decay, decoupled_weight_decay=self.decoupled_weight_decay)
        return config
