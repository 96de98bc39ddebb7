"""The Keras side of train-step equivalence: ``tf.GradientTape`` around ``model(x,
training=True)`` and the loss, clipping, ``optimizer.apply_gradients``. Dropout, GaussianDropout,
AlphaDropout and GaussianNoise layers get rate (stddev) 0. Runs in the verification subprocess."""

from __future__ import annotations

from typing import Any

import numpy as np

from migrator.verify.arrays import Array, flat, to_numpy
from migrator.verify.tf2torch import keras_call
from migrator.verify.tf2torch_transfer import keras_named
from migrator.verify.training import Trainer
from migrator.verify.training_plan import SidePlan


def _keras_inputs(xs: list[Array]) -> list[Array]:
    return [x.astype("int32") if x.dtype == np.int64 else x for x in xs]


class KerasTrainer(Trainer):
    framework = "Keras"

    def __init__(self, model: Any, side: SidePlan, role: str, steps_per_epoch: int) -> None:
        super().__init__(model, side, role, steps_per_epoch)
        self._saved: list[tuple[Any, str, float]] = []

    def _layers(self) -> list[tuple[str, Any]]:
        """Every layer once, with its first path ("(model)" for the model itself)."""
        seen: set[int] = set()
        out = []
        for path, layer in [("(model)", self.model), *keras_named(self.model)]:
            if id(layer) not in seen:
                seen.add(id(layer))
                out.append((path, layer))
        return out

    def neutralise(self) -> list[str]:
        import keras

        rated = (keras.layers.Dropout, keras.layers.GaussianDropout, keras.layers.AlphaDropout)
        out = []
        for path, layer in self._layers():
            attr = (
                "rate"
                if isinstance(layer, rated)
                else "stddev"
                if isinstance(layer, keras.layers.GaussianNoise)
                else None
            )
            value = getattr(layer, attr, None) if attr else None
            if attr and isinstance(value, int | float) and value > 0:
                self._saved.append((layer, attr, float(value)))
                setattr(layer, attr, 0.0)
                out.append(f"{path} ({type(layer).__name__} {attr}={value:g} -> 0)")
        return out

    def restore_randomness(self) -> None:
        for layer, attr, value in self._saved:
            setattr(layer, attr, value)
        self._saved.clear()

    def _attach_optimizer(self) -> None:
        """A Keras callback reads ``model.optimizer``: set the attribute, else compile."""
        try:
            self.model.optimizer = self.optimizer
        except Exception:
            self.model.compile(optimizer=self.optimizer)

    def _train_step(self, xs: list[Array], y: Array, step: int) -> float:
        import tensorflow as tf

        target = tf.convert_to_tensor(y)
        with tf.GradientTape() as tape:
            pred = keras_call(self.model, _keras_inputs(xs), training=True)
            loss = self.loss_value(pred, target, step)
        value = self.check_scalar(to_numpy(loss), step)
        variables = list(self.model.trainable_variables)
        pairs = [
            (g, v) for g, v in zip(tape.gradient(loss, variables), variables, strict=True) if g is not None
        ]
        grads = [g for g, _ in pairs]
        clip = self.side.clip
        if clip is not None:
            if clip.kind == "norm":
                grads, _ = tf.clip_by_global_norm(grads, clip.value)
            elif clip.kind == "tensor_norm":
                grads = [tf.clip_by_norm(g, clip.value) for g in grads]
            else:
                grads = [tf.clip_by_value(g, -clip.value, clip.value) for g in grads]
        self.optimizer.apply_gradients(zip(grads, [v for _, v in pairs], strict=True))
        return value

    def evaluate(self, xs: list[Array]) -> list[Array]:
        return [to_numpy(o) for o in flat(keras_call(self.model, _keras_inputs(xs), training=False))]

    def _names(self) -> dict[int, str]:
        """Each variable's name by its deepest layer path (``fc1.kernel``)."""
        names: dict[int, str] = {}
        depth: dict[int, int] = {}
        for path, layer in [("", self.model), *keras_named(self.model)]:
            d = path.count(".") + 1 if path else 0
            for w in layer.weights:
                if depth.get(id(w), -1) < d:
                    depth[id(w)] = d
                    names[id(w)] = f"{path}.{w.name}" if path else str(w.path)
        return names

    def parameters(self) -> dict[str, Array]:
        names = self._names()
        out: dict[str, Array] = {}
        for w in self.model.trainable_variables:
            name = names.get(id(w), str(w.path))
            while name in out:
                name += "'"
            out[name] = np.array(w.numpy())
        return out

    def weights(self) -> list[Array]:
        return [np.array(w.numpy()) for w in self.model.weights]

    def restore(self, values: list[Array]) -> None:
        for w, v in zip(self.model.weights, values, strict=True):
            w.assign(v)

    def has_batchnorm(self) -> bool:
        import keras

        return any(isinstance(layer, keras.layers.BatchNormalization) for _, layer in self._layers())

    def class_axis(self, ndim: int) -> int:
        return max(ndim - 1, 0)
