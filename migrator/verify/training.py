"""Train-step equivalence (``fwmigrate verify --train-steps N``): from the same transferred weights,
both models are trained N steps with the optimizer, loss and LR schedule the migration recorded
for each side, on the same seeded batches; the loss at every step, the eval outputs afterwards
and (SGD-family optimizers) the trained parameters are compared under the tolerance policy.

This module holds the framework-free part: the targets, the loop driving a ``Trainer`` per side
and the comparison; the record's ``"training"`` key is parsed in ``training_plan``. The trainers are
in ``training_torch`` and ``training_keras``; they are imported only when a model needs one.
``compare_training`` is the one entry point; ``run_training`` reads a verification request.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import numpy as np

from migrator.verify.arrays import Array, Perm, flat, layer_diff, to_source, to_target, to_targets
from migrator.verify.compare import Diff, classify, diff
from migrator.verify.driver import Batches, Capture, Models
from migrator.verify.result import (
    Comparison,
    EquivalenceResult,
    Tolerance,
    TrainingCode,
    TrainingResult,
    Verdict,
)
from migrator.verify.training_plan import (
    SidePlan,
    TrainingError,
    TrainingPlan,
    flat_code,
    one_line,
)

# Batches: training step i uses sample TRAIN_SAMPLE + i (seed + 1000 * sample, see ``Batches``),
# the eval comparison after training EVAL_SAMPLE; both away from the eval samples of `verify`.
TRAIN_SAMPLE = 100
EVAL_SAMPLE = 99

NO_TRAINING = (
    "the migration record has no training set-up: the source file builds no optimizer and loss "
    "that fwmigrate migrated"
)
BATCHNORM_NOTE = (
    "the model has BatchNorm layers: torch updates running_var with the unbiased batch variance and "
    "Keras with the biased one (a file that trains its model gets a runtime-helper BatchNorm that "
    "follows the source; a stock one differs by ~1e-3 on eval outputs after tens of steps, "
    "SEMANTICS.md section 8); a bias feeding a BatchNorm has a zero true gradient, which Adam-like "
    "optimizers turn into lr-sized steps of float noise: its running mean then differs"
)
PLATEAU_NOTE = (
    "the schedule is stepped with the original side's mean loss of each epoch on both sides, so "
    "float noise cannot flip a threshold decision"
)


# --------------------------------------------------------------------------------------------
# Targets


def make_targets(kind: str, shape: Sequence[int], class_axis: int, rng: np.random.Generator) -> Array:
    """Targets suiting the loss, for an output of ``shape`` in the original's layout:
    ``class_index`` int64 in [0, C) without the class axis; ``binary`` {0, 1} floats; ``probs`` a
    softmax of normal noise over the class axis; ``real`` standard normal floats."""
    shape = tuple(int(d) for d in shape)
    if kind == "class_index":
        if len(shape) < 2:
            raise TrainingError(f"class_index targets need an output with a class axis, not shape {shape}")
        n_classes = shape[class_axis]
        rest = shape[:class_axis] + shape[class_axis + 1 :]
        return rng.integers(0, n_classes, size=rest).astype(np.int64)
    if kind == "binary":
        return (rng.random(shape) < 0.5).astype(np.float32)
    if kind == "probs":
        z = rng.standard_normal(shape)
        e: Array = np.exp(z - z.max(axis=class_axis, keepdims=True))
        probs: Array = (e / e.sum(axis=class_axis, keepdims=True)).astype(np.float32)
        return probs
    if kind == "real":
        return rng.standard_normal(shape).astype(np.float32)
    raise TrainingError(f"unknown targets kind {kind!r}")


def migrated_targets(y: Array, kind: str, perm: Perm, class_axis: int, out_ndim: int) -> Array:
    """The original's targets in the migrated model's layout: through the output perm; for class
    indices, the perm with the class axis removed."""
    if not perm or len(perm) != out_ndim:
        return y
    if kind != "class_index":
        return to_target(y, perm)
    c = class_axis % out_ndim
    reduced = [p - (p > c) for p in perm if p != c]
    return to_target(y, reduced)


# --------------------------------------------------------------------------------------------
# Trainers


class Trainer:
    """One side's training: the set-up evaluated in the user's namespace, the steps, the schedule.
    A framework adapter implements ``_train_step``, ``evaluate``, ``neutralise``, ``parameters``,
    ``weights``/``restore``, ``has_batchnorm``, ``class_axis`` and ``_attach_optimizer``."""

    framework = ""

    def __init__(self, model: Any, side: SidePlan, role: str, steps_per_epoch: int) -> None:
        self.model, self.side, self.role = model, side, role
        self.steps_per_epoch = steps_per_epoch
        self.ns: dict[str, Any] = {}
        self.optimizer: Any = None
        self.schedule: Any = None

    @property
    def label(self) -> str:
        """``original side (torch)`` / ``migrated side (Keras)``."""
        return f"{self.role} side ({self.framework})"

    def setup(self, namespace: Mapping[str, Any]) -> None:
        """Evaluate the setup entries in order in the user's namespace, then the optimizer and
        schedule expressions. Any failure is a TrainingError naming the side, the name and the code."""
        ns: dict[str, Any] = {"__builtins__": builtins, **namespace}
        ns[self.side.model] = self.model
        ns["steps_per_epoch"] = self.steps_per_epoch
        self.ns = ns
        for name, expr in self.side.setup:
            ns[name] = self.run_code(name, expr)
        self.optimizer = self.run_code("optimizer", self.side.optimizer)
        sched = self.side.schedule
        if sched is not None:
            self.schedule = self.run_code("schedule", sched.name)
            if sched.step == "callback":
                self._attach_optimizer()
                self._call("set_model", self.model)

    def run_code(self, name: str, expr: str) -> Any:
        """A set-up expression in this side's namespace (the user's own code, in the subprocess)."""
        try:
            return eval(expr, self.ns)
        except Exception as exc:
            raise TrainingError(
                f"training set-up, {self.label}: {name} = {flat_code(expr)} raised {one_line(exc)}"
            ) from exc

    def loss_value(self, pred: Any, target: Any, step: int) -> Any:
        """The loss expression with ``_fwm_pred`` and ``_fwm_target`` bound (as globals, so a
        comprehension or lambda in it sees them too)."""
        try:
            return eval(self.side.loss, {**self.ns, "_fwm_pred": pred, "_fwm_target": target})
        except Exception as exc:
            raise TrainingError(
                f"training step {step}, {self.label}: the loss {flat_code(self.side.loss)} raised "
                f"{one_line(exc)}"
            ) from exc

    def step(self, xs: list[Array], y: Array, step: int) -> float:
        """One optimizer step on a batch; the loss before the update."""
        try:
            loss = self._train_step(xs, y, step)
        except TrainingError:
            raise
        except Exception as exc:
            raise TrainingError(f"training step {step}, {self.label}: {one_line(exc)}") from exc
        if self.side.schedule is not None and self.side.schedule.step == "batch":
            self._call("step")
        return loss

    def begin_epoch(self, epoch: int) -> None:
        if self.side.schedule is not None and self.side.schedule.step == "callback":
            self._call("on_epoch_begin", epoch)

    def end_epoch(self, epoch: int, metric: float) -> None:
        """After every ``steps_per_epoch`` steps; ``metric`` is the original side's epoch mean loss."""
        step = self.side.schedule.step if self.side.schedule is not None else None
        if step == "epoch":
            self._call("step")
        elif step == "plateau":
            self._call("step", metric)
        elif step == "callback":
            self._call("on_epoch_end", epoch, logs={"loss": metric, "val_loss": metric})

    def _call(self, method: str, *args: Any, **kwargs: Any) -> None:
        assert self.side.schedule is not None
        name = self.side.schedule.name
        try:
            getattr(self.schedule, method)(*args, **kwargs)
        except Exception as exc:
            raise TrainingError(
                f"training schedule, {self.label}: {flat_code(name)}.{method}() raised {one_line(exc)}"
            ) from exc

    def check_scalar(self, value: Array, step: int) -> float:
        if value.size != 1:
            raise TrainingError(
                f"training step {step}, {self.label}: the loss {flat_code(self.side.loss)} gives shape "
                f"{tuple(value.shape)}, not a scalar"
            )
        return float(value.reshape(()))

    # framework adapters -------------------------------------------------------------------

    def _train_step(self, xs: list[Array], y: Array, step: int) -> float:
        raise NotImplementedError

    def _attach_optimizer(self) -> None:
        """Make the optimizer reachable from the model (a Keras callback reads model.optimizer)."""

    def evaluate(self, xs: list[Array]) -> list[Array]:
        """The outputs in eval mode, as numpy arrays in this side's layout."""
        raise NotImplementedError

    def neutralise(self) -> list[str]:
        """Switch off dropout and other randomness; one entry per layer, with its path."""
        raise NotImplementedError

    def restore_randomness(self) -> None:
        """Undo ``neutralise``."""

    def parameters(self) -> dict[str, Array]:
        """The trainable parameters by name."""
        raise NotImplementedError

    def weights(self) -> list[Array]:
        """Every weight (parameters and statistics), for ``restore``."""
        raise NotImplementedError

    def restore(self, values: list[Array]) -> None:
        raise NotImplementedError

    def has_batchnorm(self) -> bool:
        raise NotImplementedError

    def class_axis(self, ndim: int) -> int:
        raise NotImplementedError

    def functional_randomness(self) -> list[str]:
        """Randomness switched off while stepping that ``neutralise`` could not list beforehand."""
        return []


def trainer_for(model: Any, side: SidePlan, role: str, steps_per_epoch: int) -> Trainer:
    """The trainer of the model's framework (a torch.nn.Module, else a Keras layer)."""
    if _is_torch(model):
        from migrator.verify.training_torch import TorchTrainer

        return TorchTrainer(model, side, role, steps_per_epoch)
    from migrator.verify.training_keras import KerasTrainer

    return KerasTrainer(model, side, role, steps_per_epoch)


def _is_torch(model: Any) -> bool:
    return any(c.__module__.startswith("torch.") and c.__name__ == "Module" for c in type(model).__mro__)


# --------------------------------------------------------------------------------------------
# The comparison


def _row(name: str, ref: Array, got: Array, tol: Tolerance, note: str = "") -> Comparison:
    d = diff(ref, got)
    status, why = classify(d, tol)
    return Comparison(
        source=name,
        target=name,
        shape=tuple(np.shape(ref)),
        max_abs_diff=d.max_abs,
        max_rel_diff=d.rel,
        scale=d.scale,
        threshold=tol.threshold(d.scale),
        status=status,
        note=why or note,
    )


def _output_rows(
    ref: list[Array], got: list[Array], out_perms: Sequence[Perm], steps: int, tol: Tolerance
) -> list[Comparison]:
    if len(ref) != len(got):
        raise TrainingError(
            f"after training, the original model returns {len(ref)} outputs, the migrated {len(got)}"
        )
    rows = []
    for k, (r, g) in enumerate(zip(ref, got, strict=True)):
        name = f"output after {steps} steps" if len(ref) == 1 else f"output[{k}] after {steps} steps"
        perm = out_perms[k] if k < len(out_perms) else None
        d: Diff | None
        if perm and len(perm) == g.ndim:
            g = to_source(g, perm)
        d = diff(r, g) if r.shape == g.shape else layer_diff(r, g)
        if d is None:
            raise TrainingError(f"after training, output {k}: shape {r.shape} original, {g.shape} migrated")
        status, why = classify(d, tol)
        rows.append(
            Comparison(
                name,
                name,
                tuple(r.shape),
                d.max_abs,
                d.rel,
                d.scale,
                tol.threshold(d.scale),
                status,
                note=why or "eval mode, on a batch not used for training",
            )
        )
    return rows


def _param_rows(
    original: Trainer, migrated: Trainer, retransfer: Callable[[], None], tol: Tolerance
) -> list[Comparison]:
    """The migrated model's trained parameters against the original's trained ones moved through
    the transfer `verify` used at the start; the migrated model's weights are restored afterwards."""
    trained = migrated.parameters()
    saved = migrated.weights()
    try:
        retransfer()
        expected = migrated.parameters()
    except Exception as exc:
        raise TrainingError(
            f"moving the trained original weights into the migrated model: {one_line(exc)}"
        ) from exc
    finally:
        migrated.restore(saved)
    note = (
        f"trained {migrated.framework} parameter vs the trained {original.framework} parameters "
        "moved by the transfer"
    )
    return [
        _row(name, expected[name], value, tol, note) for name, value in trained.items() if name in expected
    ]


def _targets_rng(seed: int, step: int) -> np.random.Generator:
    return np.random.default_rng([seed, 7919, step])


def compare_training(
    original_model: Any,
    migrated_model: Any,
    plan: TrainingPlan,
    original_ns: Mapping[str, Any],
    migrated_ns: Mapping[str, Any],
    batches: Batches,
    steps: int,
    steps_per_epoch: int = 2,
    tolerance: Tolerance | None = None,
    retransfer: Callable[[], None] | None = None,
    *,
    in_perms: Sequence[Perm] = (),
    out_perms: Sequence[Perm] = (),
) -> TrainingResult:
    """Train both models ``steps`` steps from their current (identical, transferred) weights and
    compare. ``original_ns``/``migrated_ns`` are the namespaces the plan's expressions are
    evaluated in (each file's module globals); ``batches`` gives the inputs in the original's
    layout, ``in_perms``/``out_perms`` move inputs and outputs to the migrated model's layout
    (migrated = original.permute(perm); empty: the same layout). ``retransfer`` moves the
    original's current weights into the migrated model; with it and ``plan.compare_params``, the
    trained parameters are compared too. Never raises for the user's code: a failure is the
    result's ``error``."""
    tol = tolerance if tolerance is not None else Tolerance()
    k = max(1, int(steps_per_epoch))
    codes = plan.codes()
    result = TrainingResult(
        steps=steps,
        steps_per_epoch=k,
        targets=plan.targets,
        compare_params=plan.compare_params,
        uses=dict(plan.uses),
        optimizer=codes["optimizer"],
        loss=codes["loss"],
        schedule=codes["schedule"],
        notes=plan.notes,
    )
    original = trainer_for(original_model, plan.source, "original", k)
    migrated = trainer_for(migrated_model, plan.target, "migrated", k)
    if plan.source.clip is not None or plan.target.clip is not None:
        result = replace(
            result,
            clip=TrainingCode(
                plan.source.clip.code(original.framework) if plan.source.clip else "(none)",
                plan.target.clip.code(migrated.framework) if plan.target.clip else "(none)",
            ),
        )
    notes = list(plan.notes)
    neutralised: list[str] = []
    losses: list[Comparison] = []
    try:
        neutralised += [f"original: {n}" for n in original.neutralise()]
        neutralised += [f"migrated: {n}" for n in migrated.neutralise()]
        if original.has_batchnorm() or migrated.has_batchnorm():
            notes.append(BATCHNORM_NOTE)
        if any(
            s.schedule is not None and s.schedule.step in ("plateau", "callback")
            for s in (plan.source, plan.target)
        ):
            notes.append(PLATEAU_NOTE)
        original.setup(original_ns)
        migrated.setup(migrated_ns)
        shapes = batches.shapes(0)
        first = _evaluate(original, batches.batch(TRAIN_SAMPLE, shapes))
        if not first:
            raise TrainingError("the original model returns no output to train on")
        if len(first) > 1:
            notes.append(f"the model has {len(first)} outputs: the targets are made for the first one")
        out0 = first[0]
        class_axis = original.class_axis(out0.ndim)
        perm0 = out_perms[0] if out_perms else None
        epoch_losses: list[float] = []
        for i in range(steps):
            epoch = i // k
            if i % k == 0:
                original.begin_epoch(epoch)
                migrated.begin_epoch(epoch)
            xs = batches.batch(TRAIN_SAMPLE + i, shapes)
            y = make_targets(plan.targets, out0.shape, class_axis, _targets_rng(batches.seed, i))
            lo = original.step(xs, y, i + 1)
            lm = migrated.step(
                to_targets(xs, in_perms),
                migrated_targets(y, plan.targets, perm0, class_axis, out0.ndim),
                i + 1,
            )
            losses.append(_row(f"loss (step {i + 1})", np.asarray(lo), np.asarray(lm), tol))
            epoch_losses.append(lo)
            if (i + 1) % k == 0:
                metric = float(np.mean(epoch_losses))
                epoch_losses = []
                original.end_epoch(epoch, metric)
                migrated.end_epoch(epoch, metric)
        neutralised += [f"original: {n}" for n in original.functional_randomness()]
        neutralised += [f"migrated: {n}" for n in migrated.functional_randomness()]
        xe = batches.batch(EVAL_SAMPLE, shapes)
        outputs = _output_rows(
            _evaluate(original, xe), _evaluate(migrated, to_targets(xe, in_perms)), out_perms, steps, tol
        )
        params: list[Comparison] = []
        if plan.compare_params:
            if retransfer is None:
                notes.append("parameters not compared: no weight transfer was given to compare them through")
            else:
                params = _param_rows(original, migrated, retransfer, tol)
    except TrainingError as exc:
        return replace(
            result, notes=tuple(notes), neutralised=tuple(neutralised), losses=tuple(losses), error=str(exc)
        )
    finally:
        original.restore_randomness()
        migrated.restore_randomness()
    return replace(
        result,
        notes=tuple(notes),
        neutralised=tuple(neutralised),
        losses=tuple(losses),
        outputs=tuple(outputs),
        params=tuple(params),
    )


def _evaluate(trainer: Trainer, xs: list[Array]) -> list[Array]:
    try:
        return [np.asarray(o) for o in flat(trainer.evaluate(xs))]
    except TrainingError:
        raise
    except Exception as exc:
        raise TrainingError(
            f"evaluating the {trainer.role} model ({trainer.framework}): {one_line(exc)}"
        ) from exc


# --------------------------------------------------------------------------------------------
# The verification subprocess


@contextmanager
def muted(capture: Capture | None) -> Iterator[None]:
    """The session's per-layer capture off while training (it would keep every step's outputs)."""
    if capture is None:
        yield
        return

    def ignore(*args: Any) -> None:
        return None

    # instance attributes shadow the methods the hooks call (bound at install time in tf2torch)
    vars(capture).update(add_original=ignore, add_migrated=ignore)
    try:
        yield
    finally:
        vars(capture).pop("add_original", None)
        vars(capture).pop("add_migrated", None)
        capture.reset()


def run_training(
    request: Mapping[str, Any],
    record: Mapping[str, Any],
    models: Models,
    batches: Batches,
    in_perms: Sequence[Perm],
    out_perms: Sequence[Perm],
    retransfer: Callable[[], None] | None,
    capture: Capture | None = None,
) -> TrainingResult:
    """``--train-steps`` of a verification request, after the eval comparison (``capture``: the
    session's per-layer capture, switched off meanwhile)."""
    steps = int(request.get("train_steps", 0))
    k = int(request.get("steps_per_epoch", 2))
    try:
        plan = TrainingPlan.from_record(record)
    except TrainingError as exc:
        return TrainingResult(steps, k, error=str(exc))
    if plan is None:
        return TrainingResult(steps, k, error=NO_TRAINING)
    with muted(capture):
        return compare_training(
            models.original,
            models.migrated,
            plan,
            vars(models.original_module),
            vars(models.migrated_module),
            batches,
            steps,
            k,
            Tolerance(**request["tolerance"]),
            retransfer,
            in_perms=in_perms,
            out_perms=out_perms,
        )


def with_training(result: EquivalenceResult, training: TrainingResult) -> EquivalenceResult:
    """The result with its training section; training that fails makes it not equivalent, and
    training that cannot run makes it an error."""
    verdict, error = result.verdict, result.error
    if verdict is not Verdict.ERROR:
        if training.error is not None:
            verdict, error = Verdict.ERROR, f"train-step check: {training.error}"
        elif training.failed:
            verdict = Verdict.NOT_EQUIVALENT
    return replace(result, training=training, verdict=verdict, error=error)


def with_train_steps(
    result: EquivalenceResult,
    request: Mapping[str, Any],
    record: Mapping[str, Any],
    models: Any,
    batches: Batches,
    session: Any,
    retransfer: Callable[[], None],
) -> EquivalenceResult:
    """``result`` with the train-step check when the request asks for it (``--train-steps``):
    ``session`` is either direction's verify session (its layouts and layer capture)."""
    if int(request.get("train_steps", 0)) <= 0:
        return result
    training = run_training(
        request, record, models, batches, session.in_perms, session.out_perms, retransfer, session.capture
    )
    return with_training(result, training)


__all__ = [
    "NO_TRAINING",
    "Trainer",
    "TrainingError",
    "TrainingPlan",
    "compare_training",
    "make_targets",
    "migrated_targets",
    "muted",
    "run_training",
    "with_train_steps",
    "with_training",
]
