"""The comparison sessions of an export: the exported artefact stands in for the migrated model
in verify's driver (same seeded batches, same tolerance policy, same result), with no per-layer
rows (an artefact is one opaque function). Runs in the export subprocess."""

from __future__ import annotations

from typing import Any

import numpy as np

from migrator.export.artefacts import Runner
from migrator.verify.arrays import Array, Perm, flat, to_numpy, to_targets
from migrator.verify.driver import Capture, Probe
from migrator.verify.result import Comparison, Tolerance


def target_inputs(in_perms: list[Perm], xs: list[Array], int32: bool) -> list[Array]:
    """Inputs in the original's layout moved to the migrated model's (the record's perms), with
    int64 token ids as int32 for a Keras model (``int32``), as verify feeds the migrated model."""
    ks = to_targets(xs, in_perms)
    if int32:
        ks = [x.astype("int32") if x.dtype == np.int64 else x for x in ks]
    return [np.ascontiguousarray(x) for x in ks]


class AgainstOriginal:
    """Original source model against the artefact: inputs in the original's layout are moved to
    the migrated layout (the record's perms) before the artefact runs, as verify does for the
    migrated model; ``session`` is verify's session of the direction, weights already moved."""

    def __init__(self, session: Any, runner: Runner, int32_inputs: bool) -> None:
        self._session = session
        self._runner = runner
        self._int32 = int32_inputs  # Keras models take int32 token ids where torch takes int64
        self.out_perms: list[Perm] = session.out_perms
        self.probes: list[Probe] = []
        self.capture = Capture()

    def run_original(self, xs: list[Array], warnings: list[str]) -> list[Array]:
        out: list[Array] = self._session.run_original(xs, warnings)
        return out

    def run_migrated(self, xs: list[Array]) -> list[Array]:
        return self._runner(target_inputs(self._session.in_perms, xs, self._int32))

    def float64_error(self, xs: list[Array], ref: list[Array]) -> float:
        e: float = self._session.float64_error(xs, ref)
        return e

    def momentum_check(self, xs: list[Array], tol: Tolerance) -> list[Comparison]:
        return []  # an exported artefact is inference only


class AgainstModel:
    """Without an original: the artefact against the in-memory model it was exported from, on
    inputs in that model's own layout (what the export changed, and nothing about the migration)."""

    def __init__(self, model: Any, runner: Runner, is_keras: bool) -> None:
        self._model = model
        self._runner = runner
        self._keras = is_keras
        self.out_perms: list[Perm] = []
        self.probes: list[Probe] = []
        self.capture = Capture()

    def run_original(self, xs: list[Array], warnings: list[str]) -> list[Array]:
        if self._keras:
            return [to_numpy(o) for o in flat(self._model(*xs, training=False))]
        import torch

        with torch.no_grad():
            return [
                to_numpy(o)
                for o in flat(self._model(*(torch.from_numpy(np.ascontiguousarray(x)) for x in xs)))
            ]

    def run_migrated(self, xs: list[Array]) -> list[Array]:
        return self._runner([np.ascontiguousarray(x) for x in xs])

    def float64_error(self, xs: list[Array], ref: list[Array]) -> float:
        raise NotImplementedError("not computed for an export without --verify-against")

    def momentum_check(self, xs: list[Array], tol: Tolerance) -> list[Comparison]:
        return []
