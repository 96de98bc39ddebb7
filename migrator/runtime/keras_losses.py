"""``keras.losses.Loss`` subclasses that compute PyTorch's ``torch.nn`` losses exactly.

They are called Keras-style, ``loss(y_true, y_pred)``, so they also work in ``model.compile``;
the class axis is the **last** one (channels-last logits ``(N, C)`` or ``(N, H, W, C)``, where
torch takes ``(N, C, H, W)``). Constructor arguments and ``reduction`` are torch's:
``"mean"`` | ``"sum"`` | ``"none"`` (``KLDivLoss`` also ``"batchmean"``). The reduction is
done here, not by Keras: a weighted mean divides by the sum of the weights of the non-ignored
targets (torch), not by the batch size (Keras), and ``"none"`` returns torch's shape (the loss
per element, or per sample without the class axis for ``CrossEntropyLoss``/``NLLLoss``).

Torch losses have no ``sample_weight``; passing one (``fit(sample_weight=...)`` or
``class_weight=``) raises instead of silently changing the normalisation.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

_PACKAGE = "fwmigrate"
_REDUCTIONS = ("mean", "sum", "none")


def _as_array(values: Any) -> np.ndarray[Any, Any] | None:
    """A float32 numpy copy of a list, array, torch tensor or TF tensor (``None`` stays ``None``)."""
    if values is None:
        return None
    if hasattr(values, "detach"):  # a torch tensor
        values = values.detach().cpu().numpy()
    return np.asarray(values, dtype=np.float32)


def _as_list(values: np.ndarray[Any, Any] | None) -> Any:
    return None if values is None else values.tolist()


def _safe_log(x: Any) -> Any:
    """``log(x)`` where ``x > 0``, 0 elsewhere, with no NaN in the gradient."""
    return ops.log(ops.where(x > 0, x, ops.ones_like(x)))


class _TorchLoss(keras.losses.Loss):  # type: ignore[misc]
    """Torch's reduction on top of an elementwise loss; subclasses implement :meth:`_elementwise`."""

    reductions: tuple[str, ...] = _REDUCTIONS

    def __init__(self, reduction: str = "mean", name: str | None = None) -> None:
        if reduction not in self.reductions:
            raise ValueError(
                f"{type(self).__name__}: reduction must be one of {self.reductions}, got {reduction!r}"
            )
        super().__init__(name=name, reduction=None)
        self.reduction = reduction  # torch's, applied in call(); Keras's own reduction is off

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        if sample_weight is not None:
            raise ValueError(
                f"{type(self).__name__} follows torch, which has no sample_weight; "
                "use the constructor's weight= (or pos_weight=) instead"
            )
        with keras.name_scope(self.name):
            return self.call(y_true, y_pred)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        y_pred = ops.convert_to_tensor(y_pred, dtype=self.dtype)
        y_true = ops.convert_to_tensor(y_true, dtype=self.dtype)
        return self._reduce(self._elementwise(y_true, y_pred))

    def _elementwise(self, y_true: Any, y_pred: Any) -> Any:
        raise NotImplementedError

    def _reduce(self, losses: Any) -> Any:
        if self.reduction == "mean":
            return ops.mean(losses)
        if self.reduction == "sum":
            return ops.sum(losses)
        return losses

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "reduction": self.reduction}


class _ClassIndexLoss(_TorchLoss):
    """``NLLLoss`` and ``CrossEntropyLoss``: class indices (or probabilities) on the last axis."""

    def __init__(self, weight: Any, ignore_index: int, reduction: str, name: str | None) -> None:
        super().__init__(reduction, name)
        self.weight = _as_array(weight)
        self.ignore_index = int(ignore_index)

    def _log_probs(self, y_pred: Any) -> Any:
        raise NotImplementedError

    def call(self, y_true: Any, y_pred: Any) -> Any:
        y_pred = ops.convert_to_tensor(y_pred, dtype=self.dtype)
        y_true = ops.convert_to_tensor(y_true)
        if len(y_true.shape) == len(y_pred.shape):
            if y_true.shape[-1] == 1 and y_pred.shape[-1] != 1:
                y_true = ops.squeeze(y_true, axis=-1)  # Keras-style (N, 1) labels
            else:
                return self._probability_targets(ops.cast(y_true, self.dtype), self._log_probs(y_pred))
        return self._index_targets(ops.cast(y_true, "int32"), self._log_probs(y_pred))

    def _class_weights(self, dtype: Any) -> Any:
        return None if self.weight is None else ops.convert_to_tensor(self.weight, dtype=dtype)

    def _index_targets(self, target: Any, log_probs: Any) -> Any:
        valid = ops.not_equal(target, self.ignore_index)
        safe = ops.where(valid, target, ops.zeros_like(target))
        picked = ops.squeeze(ops.take_along_axis(log_probs, ops.expand_dims(safe, -1), axis=-1), -1)
        weights = self._class_weights(log_probs.dtype)
        w = ops.ones_like(picked) if weights is None else ops.take(weights, safe)
        w = ops.where(valid, w, ops.zeros_like(w))
        nll = -picked * w
        if self.reduction == "none":
            return nll
        total = ops.sum(nll)
        return total / ops.sum(w) if self.reduction == "mean" else total

    def _probability_targets(self, target: Any, log_probs: Any) -> Any:
        raise ValueError(f"{type(self).__name__} takes class indices, not probabilities")

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(weight=_as_list(self.weight), ignore_index=self.ignore_index)
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class NLLLoss(_ClassIndexLoss):
    """``nn.NLLLoss`` on log-probabilities (Keras's SCCE would treat them as probabilities);
    the weighted mean divides by the summed weights of the non-ignored targets."""

    def __init__(
        self, weight: Any = None, ignore_index: int = -100, reduction: str = "mean", name: str | None = None
    ) -> None:
        super().__init__(weight, ignore_index, reduction, name)

    def _log_probs(self, y_pred: Any) -> Any:
        return y_pred


@keras.saving.register_keras_serializable(package=_PACKAGE)
class CrossEntropyLoss(_ClassIndexLoss):
    """``nn.CrossEntropyLoss`` on logits: class weights normalised by their sum, ``ignore_index``
    masking, ``label_smoothing`` with class indices, and probability targets (``y_true`` of the
    logits' shape)."""

    def __init__(
        self,
        weight: Any = None,
        ignore_index: int = -100,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
        name: str | None = None,
    ) -> None:
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
        super().__init__(weight, ignore_index, reduction, name)
        self.label_smoothing = float(label_smoothing)

    def _log_probs(self, y_pred: Any) -> Any:
        return ops.log_softmax(y_pred, axis=-1)

    def _index_targets(self, target: Any, log_probs: Any) -> Any:
        nll = super()._index_targets(target, log_probs)
        eps = self.label_smoothing
        if eps == 0.0:
            return nll
        # torch: (1 - eps) * nll + eps / C * smooth, smooth = -sum_c w_c log p_c over kept targets
        weights = self._class_weights(log_probs.dtype)
        valid = ops.not_equal(target, self.ignore_index)
        smooth = -ops.sum(log_probs if weights is None else log_probs * weights, axis=-1)
        smooth = ops.where(valid, smooth, ops.zeros_like(smooth))
        if self.reduction == "mean":
            if weights is None:
                denominator = ops.sum(ops.cast(valid, log_probs.dtype))
            else:
                safe = ops.where(valid, target, ops.zeros_like(target))
                kept = ops.where(valid, ops.take(weights, safe), ops.zeros_like(smooth))
                denominator = ops.sum(kept)
            smooth = ops.sum(smooth) / denominator
        elif self.reduction == "sum":
            smooth = ops.sum(smooth)
        n_classes = ops.cast(ops.shape(log_probs)[-1], log_probs.dtype)
        return (1.0 - eps) * nll + smooth * (eps / n_classes)

    def _probability_targets(self, target: Any, log_probs: Any) -> Any:
        n_classes = ops.cast(ops.shape(log_probs)[-1], log_probs.dtype)
        if self.label_smoothing > 0.0:
            target = target * (1.0 - self.label_smoothing) + self.label_smoothing / n_classes
        weights = self._class_weights(log_probs.dtype)
        terms = log_probs * target if weights is None else log_probs * target * weights
        if self.reduction == "none":
            return -ops.sum(terms, axis=-1)
        total = -ops.sum(terms)
        if self.reduction == "sum":
            return total
        count = ops.cast(ops.size(log_probs), log_probs.dtype) / n_classes  # torch: numel / C
        return total / count

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["label_smoothing"] = self.label_smoothing
        return config


def _bce_forward(p: Any, y: Any) -> Any:
    """Torch's BCE kernel, ``(y-1)*max(log1p(-p), -100) - y*max(log(p), -100)``, with torch's
    gradient ``(p - y) / max(p*(1-p), 1e-12)`` (autodiff through the clamp gives NaN at p=0/1)."""
    log_p = ops.maximum(ops.log(p), -100.0)
    log_1mp = ops.maximum(ops.log1p(-p), -100.0)
    loss = (y - 1.0) * log_1mp - y * log_p

    def grad(*args: Any, upstream: Any = None) -> Any:
        if upstream is None:
            (upstream,) = args
        d_p = upstream * (p - y) / ops.maximum(p * (1.0 - p), 1e-12)
        d_y = upstream * (ops.log1p(-p) - ops.log(p))  # torch: -logit(p)
        return d_p, d_y

    return loss, grad


_bce = ops.custom_gradient(_bce_forward)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class BCELoss(_TorchLoss):
    """``nn.BCELoss`` on probabilities: the log is clamped at -100 (Keras clips p at 1e-7, capping
    the loss at 16.1); ``weight`` rescales elementwise (broadcast against ``y_pred``)."""

    def __init__(self, weight: Any = None, reduction: str = "mean", name: str | None = None) -> None:
        super().__init__(reduction, name)
        self.weight = _as_array(weight)

    def _elementwise(self, y_true: Any, y_pred: Any) -> Any:
        loss = _bce(y_pred, y_true)
        return loss if self.weight is None else loss * ops.convert_to_tensor(self.weight, dtype=loss.dtype)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["weight"] = _as_list(self.weight)
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class BCEWithLogitsLoss(_TorchLoss):
    """``nn.BCEWithLogitsLoss``: ``(1-y)*x - (1 + (pos_weight-1)*y) * log_sigmoid(x)``, times
    ``weight``; ``pos_weight`` (which Keras lacks) broadcasts against the last (class) axis."""

    def __init__(
        self, weight: Any = None, reduction: str = "mean", pos_weight: Any = None, name: str | None = None
    ) -> None:
        super().__init__(reduction, name)
        self.weight = _as_array(weight)
        self.pos_weight = _as_array(pos_weight)

    def _elementwise(self, y_true: Any, y_pred: Any) -> Any:
        log_sigmoid = ops.log_sigmoid(y_pred)
        if self.pos_weight is not None:
            pos_weight = ops.convert_to_tensor(self.pos_weight, dtype=y_pred.dtype)
            log_sigmoid = log_sigmoid * ((pos_weight - 1.0) * y_true + 1.0)
        loss = (1.0 - y_true) * y_pred - log_sigmoid
        return loss if self.weight is None else loss * ops.convert_to_tensor(self.weight, dtype=loss.dtype)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(weight=_as_list(self.weight), pos_weight=_as_list(self.pos_weight))
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MSELoss(_TorchLoss):
    """``nn.MSELoss``: ``"sum"``/``"none"`` over every element (Keras averages the last axis first)."""

    def __init__(self, reduction: str = "mean", name: str | None = None) -> None:
        super().__init__(reduction, name)

    def _elementwise(self, y_true: Any, y_pred: Any) -> Any:
        return ops.square(y_pred - y_true)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class L1Loss(_TorchLoss):
    """``nn.L1Loss``: ``"sum"``/``"none"`` over every element (Keras averages the last axis first)."""

    def __init__(self, reduction: str = "mean", name: str | None = None) -> None:
        super().__init__(reduction, name)

    def _elementwise(self, y_true: Any, y_pred: Any) -> Any:
        return ops.abs(y_pred - y_true)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SmoothL1Loss(_TorchLoss):
    """``nn.SmoothL1Loss(beta)`` = ``Huber(delta=beta) / beta`` (Keras Huber(beta) only equals it
    for beta = 1); ``beta=0`` is L1."""

    def __init__(self, reduction: str = "mean", beta: float = 1.0, name: str | None = None) -> None:
        if beta < 0.0:
            raise ValueError(f"beta must be >= 0, got {beta}")
        super().__init__(reduction, name)
        self.beta = float(beta)

    def _elementwise(self, y_true: Any, y_pred: Any) -> Any:
        z = ops.abs(y_pred - y_true)
        if self.beta == 0.0:
            return z
        return ops.where(z < self.beta, 0.5 * z * z / self.beta, z - 0.5 * self.beta)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["beta"] = self.beta
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class HuberLoss(_TorchLoss):
    """``nn.HuberLoss(delta)``: Keras's ``Huber(delta)`` elementwise, with torch's reductions."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0, name: str | None = None) -> None:
        if delta <= 0.0:
            raise ValueError(f"delta must be > 0, got {delta}")
        super().__init__(reduction, name)
        self.delta = float(delta)

    def _elementwise(self, y_true: Any, y_pred: Any) -> Any:
        z = ops.abs(y_pred - y_true)
        return ops.where(z < self.delta, 0.5 * z * z, self.delta * (z - 0.5 * self.delta))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["delta"] = self.delta
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class KLDivLoss(_TorchLoss):
    """``nn.KLDivLoss``: ``y_pred`` is log-probabilities (torch's ``input``); ``"mean"`` divides by
    every element, ``"batchmean"`` by the batch size (Keras's KLDivergence takes probabilities)."""

    reductions = (*_REDUCTIONS, "batchmean")

    def __init__(self, reduction: str = "mean", log_target: bool = False, name: str | None = None) -> None:
        super().__init__(reduction, name)
        self.log_target = bool(log_target)

    def _elementwise(self, y_true: Any, y_pred: Any) -> Any:
        if self.log_target:
            return ops.exp(y_true) * (y_true - y_pred)
        return y_true * _safe_log(y_true) - y_true * y_pred  # torch: xlogy(t, t) - t * input

    def _reduce(self, losses: Any) -> Any:
        if self.reduction == "batchmean":
            return ops.sum(losses) / ops.cast(ops.shape(losses)[0], losses.dtype)
        return super()._reduce(losses)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["log_target"] = self.log_target
        return config
