"""The export formats and which side of a migration each applies to (no framework imported)."""

from __future__ import annotations

import enum


class Framework(enum.Enum):
    KERAS = "keras"
    TORCH = "torch"


class ExportFormat(enum.Enum):
    SAVEDMODEL = "savedmodel"
    TFLITE = "tflite"
    TORCHSCRIPT = "torchscript"
    EXPORTED_PROGRAM = "exported-program"
    ONNX = "onnx"

    @property
    def frameworks(self) -> frozenset[Framework]:
        """The frameworks whose models this format exports. ONNX is torch only: a Keras model
        needs tf2onnx, which does not support TensorFlow 2.21."""
        if self in (ExportFormat.SAVEDMODEL, ExportFormat.TFLITE):
            return frozenset({Framework.KERAS})
        return frozenset({Framework.TORCH})

    @property
    def suffix(self) -> str:
        """The default output's suffix ("" for a directory)."""
        return {
            ExportFormat.SAVEDMODEL: "",
            ExportFormat.TFLITE: ".tflite",
            ExportFormat.TORCHSCRIPT: ".pt",
            ExportFormat.EXPORTED_PROGRAM: ".pt2",
            ExportFormat.ONNX: ".onnx",
        }[self]

    @property
    def is_directory(self) -> bool:
        return self is ExportFormat.SAVEDMODEL


def migrated_framework(direction: str) -> Framework:
    """The framework of the migrated file of a migration in ``direction``."""
    return Framework.KERAS if direction == "torch2tf" else Framework.TORCH


def formats_for(framework: Framework) -> tuple[ExportFormat, ...]:
    return tuple(f for f in ExportFormat if framework in f.frameworks)
