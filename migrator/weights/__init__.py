"""Weight transfer between PyTorch module state and Keras 3 layer weights (pure numpy).

:mod:`migrator.weights.transforms` maps PyTorch state to Keras ``set_weights()`` lists;
:mod:`migrator.weights.keras_to_torch` maps Keras ``get_weights()`` lists back to PyTorch
state under the same names. :mod:`migrator.weights.convert` converts a whole checkpoint with
them (``fwmigrate weights``, docs/weights.md); it and its subprocess modules are not imported here.
"""

from migrator.weights.keras_to_torch import (
    KERAS_TO_TORCH,
    KerasApplyFn,
    KerasWeightTransform,
    apply_keras_transform,
    get_keras_transform,
)
from migrator.weights.transforms import (
    DEFAULT_CONTEXT,
    TRANSFORMS,
    ApplyFn,
    Array,
    TransformContext,
    TransformError,
    WeightTransform,
    apply_transform,
    get_transform,
)

__all__ = [
    "DEFAULT_CONTEXT",
    "KERAS_TO_TORCH",
    "TRANSFORMS",
    "ApplyFn",
    "Array",
    "KerasApplyFn",
    "KerasWeightTransform",
    "TransformContext",
    "TransformError",
    "WeightTransform",
    "apply_keras_transform",
    "apply_transform",
    "get_keras_transform",
    "get_transform",
]
