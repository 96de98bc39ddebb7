"""The export subprocess: builds the model(s) from the user's files, moves the weights (from the
original through verify's transfer, or from a checkpoint), writes the artefact to the temporary
path the CLI gave, loads it back and compares it with verify's driver. Writes the
``EquivalenceResult`` as JSON. The user's code runs only here.

    python -m migrator.export.worker REQUEST.json
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from migrator.export.artefacts import ExportError, load, write
from migrator.export.formats import ExportFormat, Framework, migrated_framework
from migrator.export.session import AgainstModel, AgainstOriginal
from migrator.verify.driver import (
    Batches,
    UserCodeError,
    build_from,
    build_models,
    compare,
    load_file,
    seed_everything,
)
from migrator.verify.expr import ExprError
from migrator.verify.result import EquivalenceResult, Tolerance, Verdict
from migrator.verify.spec import InputSpec, LoadMode


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
    specs = [InputSpec.parse(s) for s in request["inputs"]]
    warnings: list[str] = list(request.get("warnings", []))
    seed = int(request["seed"])
    versions = seed_everything(seed)
    rng = np.random.default_rng(seed)
    record = json.loads(Path(request["record"]).read_text(encoding="utf-8"))
    weights = Path(request["weights"]) if request.get("weights") else None
    fixed = [True] * len(specs)  # an artefact is exported for the shapes asked for
    if direction == "torch2tf":
        from migrator.verify.torch2tf import TorchToKeras, randomise_torch_norm_stats

        models = build_models(request)
        t2k = TorchToKeras.open(request["model"], models, record, len(specs))
        if weights is not None:
            _torch_checkpoint(t2k.tmodel, weights)
        else:
            t2k.n_bn = randomise_torch_norm_stats(t2k.tmodel, rng)
        batches = Batches(specs, t2k.in_perms, seed, int(request["samples"]), fixed)
        t2k.move_weights(record, request["original"], batches.batch(0), warnings)
        session: Any = t2k
        migrated = t2k.kmodel
    else:
        import keras

        from migrator.verify.tf2torch import KerasToTorch

        keras.backend.clear_session()
        models = build_models(request)
        k2t = KerasToTorch.open(request["model"], models, record, len(specs))
        batches = Batches(specs, k2t.in_perms, seed, int(request["samples"]), fixed)
        if weights is not None:
            k2t.run_original(batches.batch(0), warnings)  # a subclassed Keras model builds on a call
            _keras_checkpoint(k2t.kmodel, weights)
        k2t.move_weights(record, batches.batch(0), warnings, None if weights is not None else rng)
        session = k2t
        migrated = k2t.tmodel
    against = AgainstOriginal(session, _no_runner, migrated_framework(direction) is Framework.KERAS)
    warnings.extend(write(migrated, fmt, out, against.target_inputs(batches.batch(0))))
    against = AgainstOriginal(session, load(fmt, out), migrated_framework(direction) is Framework.KERAS)
    return compare(against, batches, request, warnings, versions, direction)


def _no_runner(xs: Any) -> list[Any]:  # pragma: no cover - replaced before any run
    raise ExportError("the artefact is not loaded yet")


def _model_only(request: Mapping[str, Any], fmt: ExportFormat, out: Path) -> EquivalenceResult:
    specs = [InputSpec.parse(s) for s in request["inputs"]]
    warnings: list[str] = list(request.get("warnings", []))
    seed = int(request["seed"])
    versions = seed_everything(seed)
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
    batches = Batches(specs, [], seed, int(request["samples"]), [True] * len(specs))
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
        warnings.append("no --weights: the artefact carries the model's initial weights")
    warnings.extend(write(model, fmt, out, x0))
    session = AgainstModel(model, load(fmt, out), is_keras)
    return compare(session, batches, request, warnings, versions, request["direction"])


def run(request: Mapping[str, Any]) -> EquivalenceResult:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    fmt = ExportFormat(request["format"])
    out = Path(request["artefact"])
    if request.get("original"):
        return _against_original(request, fmt, out)
    return _model_only(request, fmt, out)


def main(argv: list[str]) -> int:
    request = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    try:
        result = run(request)
    except (UserCodeError, ExprError, ExportError) as exc:
        result = EquivalenceResult(
            direction=request["direction"],
            original=Path(request.get("original") or request["migrated"]).name,
            migrated=Path(request["migrated"]).name,
            via=None,
            model=request["model"],
            verdict=Verdict.ERROR,
            tolerance=Tolerance(**request["tolerance"]),
            error=str(exc),
            seed=request["seed"],
        )
        if os.environ.get("FWMIGRATE_DEBUG") == "1":
            traceback.print_exc()
    Path(request["result"]).write_text(result.dumps(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
