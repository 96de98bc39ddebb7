"""The training facts of a file (what ``train_scan.scan`` finds) as a value, with the enums it
uses: small, so that the engine can hold an empty plan without importing the scanner."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import libcst as cst

if TYPE_CHECKING:
    from migrator.engine.train_scan import FitLoop, Optimizer, Schedule, StatementAction, TrainLoop
    from migrator.rules.schema import Rule


class StepKind(enum.Enum):
    """When a torch scheduler is stepped."""

    EPOCH = "epoch"  # scheduler.step() once per pass over the loader
    BATCH = "batch"  # scheduler.step() after every optimizer step
    PLATEAU = "plateau"  # scheduler.step(metric), once per epoch
    UNSEEN = "unseen"  # no scheduler.step() in the file: counted per epoch where that matters


class Action(enum.Enum):
    """What becomes of one statement of the training loop."""

    DROP = "drop"  # optimizer.zero_grad(), model.train(), scheduler.step()
    BACKWARD = "backward"  # loss.backward() -> grads = tape.gradient(...)
    STEP = "step"  # optimizer.step() -> optimizer.apply_gradients(...)
    CLIP_NORM = "clip_norm"
    CLIP_VALUE = "clip_value"
    LOAD = "load"  # model.load_state_dict(torch.load(p)) -> model.load_weights(p)


@dataclass
class TrainingPlan:
    optimizers: dict[str, Optimizer] = field(default_factory=dict)
    schedules: dict[str, Schedule] = field(default_factory=dict)
    losses: dict[str, tuple[cst.Call, Rule]] = field(default_factory=dict)
    loaders: dict[str, cst.Call] = field(default_factory=dict)
    tensor_datasets: set[str] = field(default_factory=set)  # names bound to a TensorDataset
    loops: dict[int, TrainLoop] = field(default_factory=dict)  # id(For) -> loop
    statements: dict[int, StatementAction] = field(default_factory=dict)  # id(statement) -> action
    schedule_statements: dict[int, Schedule] = field(default_factory=dict)  # id(assignment) -> schedule
    no_grad: set[int] = field(default_factory=set)  # id(With) of `with torch.no_grad():`
    loss_calls: dict[int, cst.Call] = field(default_factory=dict)  # id(call) -> the loss call to swap
    loss_values: dict[int, cst.Call] = field(default_factory=dict)  # id(For) -> the loss computation
    load_calls: set[int] = field(default_factory=set)  # id(torch.load call) inside load_state_dict
    clip: dict[str, StatementAction] = field(default_factory=dict)  # optimizer name -> its clipping
    keras_schedules: set[str] = field(default_factory=set)
    weight_paths: set[int] = field(default_factory=set)  # id(Param) whose default names a checkpoint
    unrecognised: dict[int, str] = field(default_factory=dict)  # id(statement) -> why it stays
    loop_bodies: set[int] = field(default_factory=set)  # id(IndentedBlock) of training loops
    fits: dict[int, FitLoop] = field(default_factory=dict)  # id(epoch For) -> compile/fit
    fit_inner: set[int] = field(default_factory=set)  # id(For) of training loops inside a fit

    @property
    def found(self) -> bool:
        return bool(self.optimizers or self.loops or self.statements or self.no_grad or self.unrecognised)

    @property
    def model_names(self) -> set[str]:
        """The names of the models the file trains (``model`` in ``model.parameters()``)."""
        return {o.model for o in self.optimizers.values()} | {lp.model for lp in self.loops.values()}

    @property
    def trains(self) -> bool:
        """The file builds an optimizer or runs a training loop (batch norm then needs torch's
        running-variance update on the Keras side)."""
        return bool(self.optimizers or self.loops)

    def scheduled(self, optimizer: str) -> bool:
        return any(s.optimizer == optimizer for s in self.schedules.values())

    def optimizer_of_call(self, call: cst.Call) -> Optimizer | None:
        return next((o for o in self.optimizers.values() if o.call is call), None)

    def schedule_of_call(self, call: cst.Call) -> Schedule | None:
        return next((s for s in self.schedules.values() if s.call is call), None)

    def is_keras_schedule(self, name: str) -> bool:
        """The scheduler became a Keras LearningRateSchedule (a template rule), not a stepped helper."""
        return name in self.keras_schedules

    def loader_of(self, optimizer: str) -> str | None:
        """The loader the loop that steps ``optimizer`` iterates over."""
        for loop in self.loops.values():
            for stmt in loop.node.body.body:
                act = self.statements.get(id(stmt))
                if act is not None and act.action is Action.STEP and act.optimizer == optimizer:
                    return loop.loader
        return None
