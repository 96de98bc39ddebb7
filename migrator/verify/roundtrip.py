"""The round trip: a torch original, its torch2tf migration (the intermediate Keras file) and the
tf2torch migration of that (the final torch file). The weights go from the original through the
intermediate model into the final one, each step with its own direction's machinery and record,
and the final model is compared with the original. Runs in the verification subprocess."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from migrator.verify.arrays import Array, Perm, flat, to_numpy, to_targets
from migrator.verify.driver import (
    Batches,
    Capture,
    Models,
    MomentumProbe,
    Probe,
    UserCodeError,
    build_from,
    compare,
    load_file,
    momentum_row,
    prepare,
)
from migrator.verify.result import ROUND_TRIP, Comparison, EquivalenceResult, Tolerance
from migrator.verify.spec import LoadMode
from migrator.verify.tf2torch import KerasToTorch, fused_activation, layout_warnings
from migrator.verify.tf2torch_transfer import KerasPair, keras_get
from migrator.verify.torch2tf import TorchToKeras, randomise_torch_norm_stats
from migrator.verify.transfer import Pair


def compose(first: Perm, second: Perm) -> Perm:
    """The perm of two layout changes in turn (``second`` applied to ``first``'s target); None when
    either is unknown."""
    if first is None or second is None or len(first) != len(second):
        return None
    return [first[i] for i in second]


class RoundTrip:
    """The session of the round trip: original torch model, final torch model. ``first`` moved the
    weights torch -> Keras, ``second`` Keras -> torch."""

    def __init__(self, first: TorchToKeras, second: KerasToTorch) -> None:
        self.first, self.second = first, second
        n = max(len(first.out_perms), len(second.out_perms))
        self.out_perms: list[Perm] = [
            compose(_at(first.out_perms, k), _at(second.out_perms, k)) for k in range(n)
        ]
        self.probes: list[Probe] = []
        self.capture = Capture()
        self.bn_pairs: list[tuple[Probe, Any, Any]] = []  # (probe, original BatchNorm, final BatchNorm)

    def keras_inputs(self, xs: list[Array]) -> list[Array]:
        """Inputs in the original's layout, in the intermediate (Keras) model's layout."""
        return to_targets(xs, self.first.in_perms)

    def install(self) -> None:
        """A probe per original module whose Keras counterpart has a counterpart in the final model:
        the chain of the two records, through the Keras layer both transfers used."""
        by_layer: dict[int, KerasPair] = {}
        for pair in self.second.pairs:
            by_layer.setdefault(id(pair.keras_layer), pair)
        for p in self.first.pairs:
            if list(p.torch_module.children()) and p.transform == "identity":
                continue  # a container: its children are compared
            kp = by_layer.get(id(p.keras_layer)) or by_layer.get(id(p.weighted))
            if kp is None:
                continue
            path, module = self._final_module(p, kp)
            probe = Probe(
                p.path,
                path,
                type(p.torch_module).__name__,
                type(module).__name__,
                _transforms(p, kp),
                note=f"via {kp.source} ({type(kp.keras_layer).__name__})",
            )
            self.probes.append(probe)
            i = len(self.probes) - 1
            p.torch_module.register_forward_hook(self._hook(i, original=True))
            module.register_forward_hook(self._hook(i, original=False))
            if type(p.torch_module).__name__.startswith("BatchNorm") and hasattr(kp.weighted, "running_mean"):
                self.bn_pairs.append((probe, p.torch_module, kp.weighted))

    def _final_module(self, p: Pair, kp: KerasPair) -> tuple[str, Any]:
        """The final module whose output is the original module's: the Keras counterpart's, or,
        when the Keras counterpart is a wrapper the tf2torch record pairs by its inner layers
        (``Sequential([Conv2DTranspose, Cropping2D])``), the torch module holding them."""
        if kp.keras_layer is not p.keras_layer:
            kparent, tparent = kp.source.rpartition(".")[0], kp.target.rpartition(".")[0]
            if kparent and tparent and keras_get(self.second.kmodel, kparent) is p.keras_layer:
                try:
                    return tparent, self.second.tmodel.get_submodule(tparent)
                except AttributeError:
                    pass
        # before a fused activation, the weighted module itself (torch2tf keeps them apart)
        if fused_activation(kp.keras_layer):
            return kp.weighted_path, kp.weighted
        return kp.target, kp.torch_module

    def _hook(self, i: int, original: bool) -> Any:
        capture = self.capture

        def hook(module: Any, args: Any, output: Any) -> None:
            out = to_numpy(flat(output)[0])
            if original:
                capture.add_original(i, out)
            else:
                capture.add_migrated(i, out, *_flatten_readings(module, args, out))

        return hook

    def run_original(self, xs: list[Array], warnings: list[str]) -> list[Array]:
        return self.first.run_original(xs, warnings)

    def run_migrated(self, xs: list[Array]) -> list[Array]:
        return self.second.run_migrated(self.keras_inputs(xs))

    def float64_error(self, xs: list[Array], ref: list[Array]) -> float:
        return self.first.float64_error(xs, ref)

    def momentum_check(self, xs: list[Array], tol: Tolerance) -> list[Comparison]:
        """One training-mode step on both torch models, then each BatchNorm's running mean is
        compared: torch momentum m must come back as m (Keras 1 - m in between)."""
        if not self.bn_pairs:
            return []
        final_xs = to_targets(self.keras_inputs(xs), self.second.in_perms)
        _train_step(self.first.tmodel, xs)
        _train_step(self.second.tmodel, final_xs)
        out = []
        for probe, ref_bn, got_bn in self.bn_pairs:
            names = MomentumProbe(
                probe.source,
                "running_mean",
                probe.target,
                probe.source_type,
                type(got_bn).__name__,
                probe.transform,
                "the final torch momentum must be the original's",
            )
            ref = ref_bn.running_mean.detach().cpu().numpy()
            out.append(momentum_row(names, ref, got_bn.running_mean.detach().cpu().numpy(), tol))
        return out


def _at(perms: list[Perm], k: int) -> Perm:
    return perms[k] if k < len(perms) else None


def _transforms(p: Pair, kp: KerasPair) -> str:
    return p.transform if p.transform == kp.transform else f"{p.transform} -> {kp.transform}"


def _flatten_readings(module: Any, args: Any, out: Array) -> list[Array]:
    """A final Flatten may flatten its map in Keras's order, (H, W, C), where the original flattens
    (C, H, W): both readings of a channels-first or channels-last map, the closest is compared."""
    if type(module).__name__ != "Flatten" or not args or out.ndim != 2:
        return []
    first = to_numpy(args[0])
    if first.ndim < 3 or first.size != out.size:
        return []
    return [
        np.moveaxis(first, 1, -1).reshape(out.shape),
        np.moveaxis(first, -1, 1).reshape(out.shape),
    ]


def _train_step(model: Any, xs: list[Array]) -> None:
    """One forward pass in training mode with dropout off (running statistics move)."""
    import torch

    model.train()
    for m in model.modules():
        if type(m).__name__.startswith(("Dropout", "AlphaDropout", "FeatureAlphaDropout")):
            m.eval()
    try:
        with torch.no_grad():
            model(*[torch.from_numpy(np.ascontiguousarray(x)) for x in xs])
    finally:
        model.eval()


def run(request: Mapping[str, Any]) -> EquivalenceResult:
    """``original`` (torch), ``via`` (its torch2tf output, record ``record``) and ``migrated`` (the
    tf2torch output of ``via``, record ``final_record``)."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    p = prepare(request)
    specs, warnings, seed, versions, rng = p.specs, p.warnings, p.seed, p.versions, p.rng
    import keras

    first_record = p.record
    second_record = json.loads(Path(request["final_record"]).read_text(encoding="utf-8"))
    expr, mode = str(request["model"]), LoadMode(request["load_mode"])
    keras.backend.clear_session()  # Keras default layer names as the tf2torch migration counted them
    original = load_file(Path(request["original"]), "fwmigrate_original", mode)
    via = load_file(Path(request["via"]), "fwmigrate_intermediate", mode)
    final = load_file(Path(request["migrated"]), "fwmigrate_migrated", mode)
    tmodel = build_from(expr, original, "original")
    kmodel = build_from(expr, via, "intermediate")
    fmodel = build_from(expr, final, "final")

    with _step("torch2tf", request["original"], request["via"]):
        first = TorchToKeras.open(expr, Models(original, via, tmodel, kmodel), first_record, len(specs))
        first.n_bn = randomise_torch_norm_stats(tmodel, rng)
        batches = Batches(specs, first.in_perms, seed, int(request["samples"]))
        x0 = batches.batch(0)
        first.move_weights(first_record, request["original"], x0, warnings)
    with _step("tf2torch", request["via"], request["migrated"]):
        second = KerasToTorch.open(expr, Models(via, final, kmodel, fmodel), second_record, len(specs))
        session = RoundTrip(first, second)
        warnings.extend(layout_warnings(second.in_perms, specs, second.owner))  # the ranks are the same
        # the Keras weights are the original's now: nothing is randomised on this side
        second.move_weights(second_record, session.keras_inputs(x0), warnings, rng=None)
    session.install()
    return compare(session, batches, request, warnings, versions, ROUND_TRIP)


@contextmanager
def _step(direction: str, original: str, migrated: str) -> Iterator[None]:
    """Errors of one step name it and its two files, which its messages call original and migrated."""
    try:
        yield
    except UserCodeError as exc:
        raise UserCodeError(
            f"{direction} step ({Path(original).name} -> {Path(migrated).name}): {exc}"
        ) from exc
