"""Weight transfer from PyTorch module state to Keras 3 layer weights (pure numpy)."""

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
    "TRANSFORMS",
    "ApplyFn",
    "Array",
    "TransformContext",
    "TransformError",
    "WeightTransform",
    "apply_transform",
    "get_transform",
]
