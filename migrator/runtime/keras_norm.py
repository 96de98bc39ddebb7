"""torch's batch-norm statistics on Keras: the running variance is updated with the unbiased
batch variance (``n / (n - 1)`` times the biased one), as ``torch.nn.BatchNorm*d`` does in
training; Keras uses the biased variance (SEMANTICS.md §8: 1.9e-3 on eval logits after 20 steps).
Normalisation in training uses the biased variance in both frameworks."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="fwmigrate")
class BatchNormalization(keras.layers.BatchNormalization):  # type: ignore[misc]
    """``keras.layers.BatchNormalization`` whose moving variance follows torch's update."""

    def call(self, inputs: Any, training: Any = None, mask: Any = None) -> Any:
        if not (training and self.trainable) or mask is not None or self.renorm:
            return super().call(inputs, training=training, mask=mask)
        x = ops.cast(inputs, keras.backend.result_type(inputs.dtype, "float32"))
        mean, variance = self._moments(x, None)
        n = ops.cast(ops.size(x) // ops.shape(x)[self.axis], variance.dtype)
        unbiased = variance * n / ops.maximum(n - 1.0, 1.0)
        m = self.momentum
        self.moving_mean.assign(ops.cast(self.moving_mean, x.dtype) * m + mean * (1.0 - m))
        self.moving_variance.assign(ops.cast(self.moving_variance, x.dtype) * m + unbiased * (1.0 - m))
        out = ops.batch_normalization(
            x=x,
            mean=mean,
            variance=variance,
            axis=self.axis,
            offset=ops.cast(self.beta, x.dtype) if self.center else None,
            scale=ops.cast(self.gamma, x.dtype) if self.scale else None,
            epsilon=self.epsilon,
        )
        return ops.cast(out, self.compute_dtype)


__all__ = ["BatchNormalization"]
