"""The two conversions of ``fwmigrate weights``, in the conversion subprocess: build both models
from ``--model`` as ``verify`` does, load the checkpoint into the original, move the weights with
``verify``'s pairing and transfer (the named transforms of the migration record), check that
every checkpoint tensor was moved and every weight of the migrated model set, and save."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from migrator.verify.arrays import keras_layers
from migrator.verify.driver import Batches, UserCodeError, build_models, seed_everything
from migrator.verify.spec import InputSpec
from migrator.weights.protocol import CheckpointError, Outcome, WorkerRequest, few

_NEEDS_INPUT = "pass --input SPEC so that both models run once before the weights move"


def _record(request: WorkerRequest) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(request.record).read_text(encoding="utf-8"))
    return data


def _specs(request: WorkerRequest) -> list[InputSpec]:
    return [InputSpec.parse(s) for s in request.inputs]


def _built(model: Any) -> bool:
    """Every layer of the Keras model has its weights (a subclassed model gets them when called,
    ``model.build(shape)`` is not enough)."""
    return all(layer.built for layer in keras_layers(model))


def torch_to_keras(request: WorkerRequest) -> Outcome:
    """A torch state_dict for the original -> the migrated Keras model's ``.weights.h5``."""
    from migrator.verify.torch2tf import TorchToKeras
    from migrator.verify.transfer import TransferError, moved_tensors, pair_modules, transfer
    from migrator.weights.checkpoint_torch import load_into, read_torch_checkpoint

    label = request.checkpoint_label
    ckpt = read_torch_checkpoint(Path(request.checkpoint), label)  # before any user code runs
    specs = _specs(request)
    seed_everything(0)
    record = _record(request)
    models = build_models(request.build_request())
    session = TorchToKeras.open(request.model, models, record, len(specs))
    tmodel, kmodel = session.tmodel, session.kmodel
    what = f"the original model {type(tmodel).__name__} ({request.original_label})"
    load_into(tmodel, ckpt, label, what)
    warnings: list[str] = []
    if specs:
        session.move_weights(
            record, request.original, Batches(specs, session.in_perms, 0, 1).batch(0), warnings
        )
    else:
        if not _built(kmodel):
            raise UserCodeError(f"the migrated Keras model has no weights until it is called: {_NEEDS_INPUT}")
        try:
            session.pairs = pair_modules(tmodel, kmodel, record)
            transfer(session.pairs, {}, kmodel)
        except TransferError as exc:
            raise UserCodeError(f"weight transfer: {exc} ({_NEEDS_INPUT})") from exc
    moved = {id(t) for p in session.pairs for t in moved_tensors(p.torch_module).values()}
    left = [k for k, t in tmodel.state_dict(keep_vars=True).items() if id(t) not in moved]
    if left:
        raise CheckpointError(
            f"{label}: tensors the migration does not move to {request.migrated_label}: {few(left)}"
        )
    kmodel.save_weights(request.output)
    return Outcome(
        tensors=len(ckpt.state),
        written=len(kmodel.weights),
        model=type(tmodel).__name__,
        key=ckpt.key,
        warnings=tuple(warnings),
    )


def keras_to_torch(request: WorkerRequest) -> Outcome:
    """A Keras ``.weights.h5`` (or ``.keras``) for the original -> the migrated torch model's
    state_dict, saved with ``torch.save``."""
    import keras
    import torch

    from migrator.verify.tf2torch import KerasToTorch
    from migrator.verify.tf2torch_transfer import TransferError, pair_layers, transfer
    from migrator.weights.checkpoint_keras import load_keras_checkpoint, read_keras_checkpoint

    label = request.checkpoint_label
    found = read_keras_checkpoint(Path(request.checkpoint), label)  # before any user code runs
    specs = _specs(request)
    seed_everything(0)
    record = _record(request)
    keras.backend.clear_session()  # functional layers are recorded by name, numbered per session
    models = build_models(request.build_request())
    session = KerasToTorch.open(request.model, models, record, len(specs))
    kmodel, tmodel = session.kmodel, session.tmodel
    warnings: list[str] = []
    x0 = None
    if specs:
        x0 = Batches(specs, session.in_perms, 0, 1).batch(0)  # one batch: its shapes as given
        try:
            session.run_original(x0, warnings)  # a subclassed model has no weights until called
        except Exception as exc:
            raise UserCodeError(f"running the original model raised {type(exc).__name__}: {exc}") from exc
    elif not _built(kmodel):
        raise UserCodeError(f"the original Keras model has no weights until it is called: {_NEEDS_INPUT}")
    what = f"the original model {type(kmodel).__name__} ({request.original_label})"
    load_keras_checkpoint(kmodel, Path(request.checkpoint), found, label, what)
    if x0 is not None:
        session.move_weights(record, x0, warnings, None)
    else:
        try:
            session.pairs = pair_layers(kmodel, tmodel, record, session.owner)
            transfer(session.pairs, kmodel, tmodel)
        except TransferError as exc:
            raise UserCodeError(f"weight transfer: {exc} ({_NEEDS_INPUT})") from exc
        warnings.extend(p.by_path_note for p in session.pairs if p.by_path)
    state = tmodel.state_dict()
    torch.save(state, request.output)
    return Outcome(
        tensors=len(found),
        written=len(state),
        model=type(kmodel).__name__,
        warnings=tuple(warnings),
    )
