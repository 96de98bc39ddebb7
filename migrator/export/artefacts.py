"""Writing a model in a deployment format and loading the written artefact back as a callable on
NumPy arrays (in the migrated model's own layout). The artefact is always read back from disk,
never the in-memory model, so what is compared is what ships. Runs in the export subprocess."""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from migrator.export.formats import ExportFormat
from migrator.verify.arrays import Array, flat, to_numpy

Runner = Callable[[Sequence[Array]], list[Array]]


class ExportError(RuntimeError):
    """The model could not be exported or the artefact not loaded: one line, said to the user."""


def write(model: Any, fmt: ExportFormat, path: Path, example: Sequence[Array]) -> list[str]:
    """Export ``model`` to ``path`` (a temporary path; the caller renames it into place). Returns
    notes for the report (what a deployment of the artefact needs to know)."""
    notes: list[str] = []
    try:
        if fmt is ExportFormat.SAVEDMODEL:
            _savedmodel(model, path, example)
        elif fmt is ExportFormat.TFLITE:
            path.write_bytes(_tflite_bytes(model, path, example, notes))
        else:
            _write_torch(model, fmt, path, example)
    except ExportError:
        raise
    except Exception as exc:
        raise ExportError(
            f"exporting to {fmt.value} raised {type(exc).__name__}: {_first_line(exc)}"
        ) from exc
    return notes


def load(fmt: ExportFormat, path: Path) -> Runner:
    """The artefact at ``path`` as a function of the inputs, loaded with the format's own runtime:
    a loaded SavedModel's serving function, the TFLite interpreter, ``torch.jit.load``,
    ``torch.export.load`` or an onnxruntime session."""
    try:
        if fmt is ExportFormat.SAVEDMODEL:
            return _savedmodel_runner(path)
        if fmt is ExportFormat.TFLITE:
            return _tflite_runner(path)
        if fmt is ExportFormat.ONNX:
            return _onnx_runner(path)
        return _torch_runner(fmt, path)
    except Exception as exc:
        raise ExportError(
            f"loading the {fmt.value} artefact raised {type(exc).__name__}: {_first_line(exc)}"
        ) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else ""


# -- Keras side -------------------------------------------------------------------------------
def _savedmodel(model: Any, path: Path, example: Sequence[Array], free_batch: bool = True) -> None:
    """An inference SavedModel whose serving signature takes the example's dtypes (Keras would
    assume float inputs: token ids are int32), with a free batch size unless ``free_batch`` is
    False."""
    import tensorflow as tf

    signature = [
        tf.TensorSpec((None if free_batch else x.shape[0], *x.shape[1:]), tf.as_dtype(x.dtype))
        for x in example
    ]
    model.export(str(path), format="tf_saved_model", verbose=False, input_signature=signature)


def _tflite_bytes(model: Any, path: Path, example: Sequence[Array], notes: list[str]) -> bytes:
    """TFLite from a SavedModel export of the model (the converter's recommended source for
    Keras 3 models), in a scratch directory beside the output, with TFLite builtin ops only (what
    every TFLite runtime runs). A model they cannot express with a free batch size (a recurrent
    layer's loop over a dynamic TensorList) is converted again for the example's exact shapes,
    where the converter fuses the loop; the note says so."""
    import tensorflow as tf

    scratch = path.with_name(path.name + ".savedmodel")
    first_error = ""
    try:
        for free_batch in (True, False):
            shutil.rmtree(scratch, ignore_errors=True)
            _savedmodel(model, scratch, example, free_batch)
            try:
                data: bytes = tf.lite.TFLiteConverter.from_saved_model(str(scratch)).convert()
            except Exception as exc:
                first_error = first_error or _first_line(exc)
                continue
            if not free_batch:
                shapes = ", ".join(str(tuple(x.shape)) for x in example)
                notes.append(
                    f"tflite: exported for input shapes {shapes} only: with a free batch size the "
                    f"converter needs ops outside TFLite's builtins ({first_error[:100]})"
                )
            return data
        raise ExportError(f"TFLite builtin ops cannot express this model: {first_error[:200]}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _savedmodel_runner(path: Path) -> Runner:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    serve = loaded.signatures["serving_default"]
    names = sorted(serve.structured_input_signature[1])  # keyword inputs of the signature

    def run(xs: Sequence[Array]) -> list[Array]:
        if len(xs) != len(names):
            raise ExportError(f"the SavedModel takes {len(names)} inputs, {len(xs)} given")
        out = serve(**{n: tf.constant(x) for n, x in zip(names, xs, strict=True)})
        return [np.asarray(out[k]) for k in sorted(out, key=_output_order)]

    return run


def _output_order(name: str) -> tuple[int, str]:
    """serving_default names outputs output_0, output_1, ...: in that order."""
    tail = name.rsplit("_", 1)[-1]
    return (int(tail), name) if tail.isdigit() else (0, name)


def _tflite_runner(path: Path) -> Runner:
    import tensorflow as tf

    with warnings.catch_warnings():  # tf.lite.Interpreter announces its move to ai_edge_litert
        warnings.simplefilter("ignore")
        interpreter = tf.lite.Interpreter(model_path=str(path))

    def run(xs: Sequence[Array]) -> list[Array]:
        inputs = interpreter.get_input_details()
        if len(xs) != len(inputs):
            raise ExportError(f"the TFLite model takes {len(inputs)} inputs, {len(xs)} given")
        for detail, x in zip(inputs, xs, strict=True):
            interpreter.resize_tensor_input(detail["index"], list(x.shape))
        interpreter.allocate_tensors()
        for detail, x in zip(interpreter.get_input_details(), xs, strict=True):
            interpreter.set_tensor(detail["index"], x.astype(detail["dtype"]))
        interpreter.invoke()
        outputs = sorted(interpreter.get_output_details(), key=lambda d: _output_order(d["name"]))
        return [np.array(interpreter.get_tensor(d["index"])) for d in outputs]

    return run


# -- torch side -------------------------------------------------------------------------------
def _tensors(xs: Sequence[Array]) -> tuple[Any, ...]:
    import torch

    return tuple(torch.from_numpy(np.ascontiguousarray(x)) for x in xs)


def _write_torch(model: Any, fmt: ExportFormat, path: Path, example: Sequence[Array]) -> None:
    import torch

    model.eval()
    args = _tensors(example)
    if fmt is ExportFormat.TORCHSCRIPT:
        with torch.no_grad():
            traced = torch.jit.trace(model, args)  # type: ignore[no-untyped-call]
        torch.jit.save(traced, str(path))
    elif fmt is ExportFormat.EXPORTED_PROGRAM:
        program = torch.export.export(model, args)
        torch.export.save(program, str(path))
    elif fmt is ExportFormat.ONNX:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, args, str(path), dynamo=True, verbose=False, external_data=False)
    else:  # pragma: no cover - formats are checked before the subprocess starts
        raise ExportError(f"{fmt.value} is not a torch format")


def _torch_runner(fmt: ExportFormat, path: Path) -> Runner:
    import torch

    if fmt is ExportFormat.TORCHSCRIPT:
        module = torch.jit.load(str(path), map_location="cpu")  # type: ignore[no-untyped-call]
    else:
        module = torch.export.load(str(path)).module()

    def run(xs: Sequence[Array]) -> list[Array]:
        with torch.no_grad():
            return [to_numpy(o) for o in flat(module(*_tensors(xs)))]

    return run


def _onnx_runner(path: Path) -> Runner:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = max(1, min(2, os.cpu_count() or 1))
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    def run(xs: Sequence[Array]) -> list[Array]:
        if len(xs) != len(names):
            raise ExportError(f"the ONNX model takes {len(names)} inputs, {len(xs)} given")
        return [np.asarray(o) for o in session.run(None, dict(zip(names, xs, strict=True)))]

    return run
