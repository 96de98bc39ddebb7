"""Keras checkpoints for ``fwmigrate weights``: a ``.weights.h5`` file, or the weights of a
``.keras`` archive, loaded strictly into the original model. Nothing is deserialized: the
architecture comes from ``--model`` and only the archive's ``model.weights.h5`` is read (its
``config.json`` never is, so no unsafe deserialization can happen). Runs in the conversion
subprocess."""

from __future__ import annotations

import io
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from migrator.weights.protocol import CheckpointError, few, one_line

SUFFIXES = (".weights.h5", ".keras")
ARCHIVE_WEIGHTS = "model.weights.h5"  # the weights inside a .keras archive
_SKIPPED = ("optimizer",)  # training state, not model weights: neither required nor converted

Inventory = dict[str, tuple[int, ...]]  # h5 dataset path -> shape


@contextmanager
def _h5(path: Path, label: str) -> Iterator[Any]:
    """The HDF5 file of the checkpoint (inside the archive for a .keras file)."""
    import h5py

    try:
        if path.name.endswith(".keras"):
            with zipfile.ZipFile(path) as archive:
                data = io.BytesIO(archive.read(ARCHIVE_WEIGHTS))
            handle = h5py.File(data, "r")
        else:
            handle = h5py.File(path, "r")
    except zipfile.BadZipFile:
        raise CheckpointError(f"{label}: not a .keras archive (not a zip file, or truncated)") from None
    except KeyError:
        raise CheckpointError(
            f"{label}: a zip file without {ARCHIVE_WEIGHTS}, not a .keras archive"
        ) from None
    except OSError as exc:
        raise CheckpointError(
            f"{label}: not a readable Keras weights file, truncated or corrupted ({one_line(str(exc))})"
        ) from None
    try:
        yield handle
    finally:
        handle.close()


def _inventory(handle: Any) -> Inventory:
    import h5py

    found: Inventory = {}

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset) and name.split("/", 1)[0] not in _SKIPPED:
            found[name] = tuple(int(d) for d in obj.shape)

    handle.visititems(visit)
    return found


def read_keras_checkpoint(path: Path, label: str) -> Inventory:
    """The tensors (path -> shape) of a Keras checkpoint, without its optimizer state; CheckpointError
    for a file that is not one, or is truncated or corrupted."""
    if not path.name.endswith(SUFFIXES):
        raise CheckpointError(f"{label}: a Keras checkpoint is a .weights.h5 file or a .keras archive")
    with _h5(path, label) as handle:
        return _inventory(handle)


def load_keras_checkpoint(model: Any, path: Path, found: Inventory, label: str, what: str) -> None:
    """Load the checkpoint (``found``: its tensors) into ``model`` (built; ``what`` names it). The
    file must hold exactly the variables ``model.save_weights`` writes, with the same shapes (Keras
    itself ignores tensors the model has no variable for): else CheckpointError listing the
    differences."""
    with tempfile.TemporaryDirectory(prefix="fwmigrate-weights-") as tmp:
        reference = Path(tmp) / "expected.weights.h5"
        model.save_weights(reference)
        with _h5(reference, "the model's own weights") as handle:
            expected = _inventory(handle)
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    wrong = [
        f"{k} is {found[k]} in the checkpoint, {expected[k]} in the model"
        for k in expected
        if k in found and found[k] != expected[k]
    ]
    problems = [
        *([f"missing {few(missing)}"] if missing else []),
        *([f"unexpected {few(unexpected)}"] if unexpected else []),
        *([f"shape mismatch: {few(wrong, 3)}"] if wrong else []),
    ]
    if problems:
        raise CheckpointError(f"{label}: does not match {what}: {'; '.join(problems)}")
    try:
        model.load_weights(path)
    except Exception as exc:  # Keras raises ValueError and others, with several lines
        raise CheckpointError(f"{label}: cannot be loaded into {what}: {one_line(str(exc))[:300]}") from None
