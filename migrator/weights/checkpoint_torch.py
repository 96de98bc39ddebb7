"""PyTorch checkpoints for ``fwmigrate weights``: read with ``torch.load(weights_only=True)`` only
(a pickle that needs anything but tensors and plain containers is refused, never run), loaded
strictly into the original model. Runs in the conversion subprocess."""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from migrator.weights.protocol import CheckpointError, few, one_line

WRAPPER_KEYS = ("state_dict", "model")  # a training checkpoint's dict holding the state_dict
_ZIP, _PICKLE = b"PK\x03\x04", b"\x80"  # torch.save's archive; a (legacy) pickle, protocol 2+
_BOILERPLATE = ("weights only load failed", "please file an issue", "check the documentation")


@dataclass(frozen=True)
class TorchCheckpoint:
    """The tensors of a state_dict, and the key of the dict they were found under (None: the file
    is the state_dict itself)."""

    state: Mapping[str, Any]
    key: str | None = None


def read_torch_checkpoint(path: Path, label: str) -> TorchCheckpoint:
    """The state_dict in ``path``; CheckpointError (naming ``label``) for a file that is empty,
    not a torch checkpoint, truncated or corrupted, refused by the weights-only loader, or not a
    state_dict."""
    import torch

    with open(path, "rb") as f:
        head = f.read(4)
    if not head:
        raise CheckpointError(f"{label}: empty file, not a PyTorch checkpoint")
    if not head.startswith((_ZIP, _PICKLE)):
        raise CheckpointError(
            f"{label}: not a PyTorch checkpoint (neither a torch.save archive nor a pickle)"
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only load failed" not in str(exc).lower():
            raise CheckpointError(f"{label}: corrupted PyTorch checkpoint ({_first(exc)})") from None
        raise CheckpointError(
            f"{label}: refused by the weights-only loader ({_refusal(exc)}): only tensors and plain "
            "containers are read (torch.load weights_only=True), nothing in it was run"
        ) from None
    except Exception as exc:  # zip, storage and EOF errors of a truncated or damaged file
        raise CheckpointError(f"{label}: truncated or corrupted PyTorch checkpoint ({_first(exc)})") from None
    return _state_dict(obj, label)


def _first(exc: BaseException) -> str:
    """The first sentence of a framework error, or its type."""
    text = one_line(str(exc)).split(". ")[0].rstrip(".")
    return text or type(exc).__name__


def _refusal(exc: BaseException) -> str:
    """What the weights-only unpickler refused ("Unsupported global: GLOBAL posix.system ...")."""
    for line in str(exc).splitlines():
        text = line.strip().removeprefix("WeightsUnpickler error:").strip()
        if text and not text.lower().startswith(_BOILERPLATE):
            return text.rstrip(".")
    return "content it does not allow"


def _is_state(obj: object) -> bool:
    import torch

    return (
        isinstance(obj, Mapping)
        and bool(obj)
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    )


def _state_dict(obj: object, label: str) -> TorchCheckpoint:
    if _is_state(obj):
        assert isinstance(obj, Mapping)
        return TorchCheckpoint(dict(obj))
    if isinstance(obj, Mapping):
        for key in WRAPPER_KEYS:
            inner = obj.get(key)
            if _is_state(inner):
                assert isinstance(inner, Mapping)
                return TorchCheckpoint(dict(inner), key)
    raise CheckpointError(
        f"{label}: not a state_dict ({_describe(obj)}): expected a dict of parameter names to tensors "
        "(torch.save(model.state_dict(), path)), or one under a 'state_dict' or 'model' key"
    )


def _describe(obj: object) -> str:
    import torch

    if isinstance(obj, Mapping):
        if not obj:
            return "an empty dict"
        for k, v in obj.items():
            if not isinstance(k, str) or not isinstance(v, torch.Tensor):
                return f"a dict whose entry {k!r} is not a tensor but {type(v).__name__}"
    return f"a {type(obj).__name__}"


def _shape(t: Any) -> str:
    return str(tuple(int(d) for d in t.shape))


def load_into(model: Any, ckpt: TorchCheckpoint, label: str, what: str) -> None:
    """Load the checkpoint into ``model`` (``what`` names it): every key the model has, nothing
    more, every shape equal, else CheckpointError listing the differences."""
    expected = model.state_dict()
    state = ckpt.state
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [
        f"{k} is {_shape(state[k])} in the checkpoint, {_shape(expected[k])} in the model"
        for k in expected
        if k in state and tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    problems = [
        *([f"missing {few(missing)}"] if missing else []),
        *([f"unexpected {few(unexpected)}"] if unexpected else []),
        *([f"shape mismatch: {few(wrong, 3)}"] if wrong else []),
    ]
    if problems:
        raise CheckpointError(f"{label}: does not match {what}: {'; '.join(problems)}")
    try:
        model.load_state_dict(dict(state), strict=True)
    except (RuntimeError, TypeError) as exc:
        raise CheckpointError(f"{label}: cannot be loaded into {what}: {one_line(str(exc))}") from None
