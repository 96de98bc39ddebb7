"""The export subprocess: builds the model(s) from the user's files, moves the weights (from the
original through verify's transfer, or from a checkpoint), writes the artefact to the temporary
path the CLI gave, loads it back and compares it with verify's driver. Writes the
``EquivalenceResult`` as JSON. The user's code runs only here.

    python -m migrator.export.worker REQUEST.json
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from migrator.export.artefacts import ExportError, load, write
from migrator.export.formats import ExportFormat, Framework, migrated_framework
from migrator.export.session import AgainstModel, AgainstOriginal, target_inputs
from migrator.verify.driver import (
    Batches,
    UserCodeError,
    build_from,
    build_models,
    compare,
    load_file,
    prepare,
)
from migrator.verify.expr import ExprError
from migrator.verify.result import EquivalenceResult
from migrator.verify.spec import LoadMode
from migrator.verify.worker import serve


def _torch_checkpoint(model: Any, path: Path) -> None:
    """A state_dict loaded safely (``weights_only``) and strictly: every tensor must fit."""
    import torch

    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise UserCodeError(
            f"{path.name}: not a loadable torch checkpoint ({type(exc).__name__}: {exc})"
        ) from exc
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping):
        raise UserCodeError(f"{path.name}: holds a {type(state).__name__}, not a state_dict")
    try:
        model.load_state_dict(state, strict=True)
    except Exception as exc:
        raise UserCodeError(f"{path.name}: does not fit the model: {str(exc).splitlines()[0]}") from exc


def _keras_checkpoint(model: Any, path: Path) -> None:
    """Keras weights (``.weights.h5``) into a built model; Keras checks every variable."""
    try:
        model.load_weights(str(path))
    except Exception as exc:
        raise UserCodeError(
            f"{path.name}: does not load into the model ({type(exc).__name__}: {exc})"
        ) from exc


def _against_original(request: Mapping[str, Any], fmt: ExportFormat, out: Path) -> EquivalenceResult:
    direction = request["direction"]
    p = prepare(request)
    weights = Path(request["weights"]) if request.get("weights") else None
    fixed = [True] * len(p.specs)  # an artefact is exported for the shapes asked for
    if direction == "torch2tf":
        from migrator.verify.torch2tf import TorchToKeras, randomise_torch_norm_stats

        models = build_models(request)
        t2k = TorchToKeras.open(request["model"], models, p.record, len(p.specs))
        if weights is not None:
            _torch_checkpoint(t2k.tmodel, weights)
        else:
            t2k.n_bn = randomise_torch_norm_stats(t2k.tmodel, p.rng)
        batches = Batches(p.specs, t2k.in_perms, p.seed, int(request["samples"]), fixed)
        t2k.move_weights(p.record, request["original"], batches.batch(0), p.warnings)
        session: Any = t2k
        migrated = t2k.kmodel
    else:
        import keras

        from migrator.verify.tf2torch import KerasToTorch

        keras.backend.clear_session()
        models = build_models(request)
        k2t = KerasToTorch.open(request["model"], models, p.record, len(p.specs))
        batches = Batches(p.specs, k2t.in_perms, p.seed, int(request["samples"]), fixed)
        if weights is not None:
            k2t.run_original(batches.batch(0), p.warnings)  # a subclassed Keras model builds on a call
            _keras_checkpoint(k2t.kmodel, weights)
        k2t.move_weights(p.record, batches.batch(0), p.warnings, None if weights is not None else p.rng)
        session = k2t
        migrated = k2t.tmodel
    int32 = migrated_framework(direction) is Framework.KERAS
    example = target_inputs(session.in_perms, batches.batch(0), int32)
    p.warnings.extend(write(migrated, fmt, out, example))
    against = AgainstOriginal(session, load(fmt, out), int32)
    return compare(against, batches, request, p.warnings, p.versions, direction)


def _model_only(request: Mapping[str, Any], fmt: ExportFormat, out: Path) -> EquivalenceResult:
    p = prepare(request)
    import keras
    import torch

    module = load_file(Path(request["migrated"]), "fwmigrate_migrated", LoadMode(request["load_mode"]))
    model = build_from(request["model"], module, "migrated")
    is_keras = isinstance(model, keras.layers.Layer)
    if not is_keras and not isinstance(model, torch.nn.Module):
        raise UserCodeError(
            f"{request['model']!r} built a {type(model).__name__}, not a Keras or torch model"
        )
    side = Framework.KERAS if is_keras else Framework.TORCH
    if side not in fmt.frameworks:
        raise ExportError(f"--format {fmt.value} does not apply to a {side.value} model")
    batches = Batches(p.specs, [], p.seed, int(request["samples"]), [True] * len(p.specs))
    x0 = batches.batch(0)
    weights = Path(request["weights"]) if request.get("weights") else None
    if is_keras:
        try:
            model(*x0, training=False)  # builds the weights
        except Exception as exc:
            raise UserCodeError(f"running the model raised {type(exc).__name__}: {exc}") from exc
        if weights is not None:
            _keras_checkpoint(model, weights)
    else:
        model.eval()
        if weights is not None:
            _torch_checkpoint(model, weights)
    if not weights:
        p.warnings.append("no --weights: the artefact carries the model's initial weights")
    p.warnings.extend(write(model, fmt, out, x0))
    session = AgainstModel(model, load(fmt, out), is_keras)
    return compare(session, batches, request, p.warnings, p.versions, request["direction"])


def run(request: Mapping[str, Any]) -> EquivalenceResult:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    fmt = ExportFormat(request["format"])
    out = Path(request["artefact"])
    if request.get("original"):
        return _against_original(request, fmt, out)
    return _model_only(request, fmt, out)


def main(argv: list[str]) -> int:
    return serve(argv, run, (UserCodeError, ExprError, ExportError))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
