"""The training facts of a file (what ``train_scan.scan`` finds) as a value, with the enums it
uses: small, so that the engine can hold an empty plan without importing the scanner."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import libcst as cst


@dataclass(frozen=True)
class StrategyScope:
    """``strategy = <strategy>()`` then ``with strategy.scope():`` around the statements of one
    block from the one that builds the model to the one that builds its optimizer (ids)."""

    last: int
    strategy: str  # qualified: tensorflow.distribute.MirroredStrategy
    wrap: str  # the wrapper it replaces, for the finding: torch.nn.DataParallel


@dataclass(frozen=True)
class Unwrap:
    """A ``with`` whose body is kept and whose context manager goes (autocast)."""

    api: str
    review: str  # the reason the block's scope is not reproduced exactly ("" when it is)
    policy_before: int | None = None  # id(statement) that builds the model: the policy goes before it


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
    CALL = "call"  # the statement becomes ``StatementAction.call()`` (a qualified name, no arguments)


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
    # the code around models (ecosystem_scan.py)
    objects: dict[str, str] = field(
        default_factory=dict
    )  # name -> the torch class it holds (a SummaryWriter)
    functions: set[str] = field(default_factory=set)  # names the file defines with `def`
    devices: set[str] = field(default_factory=set)  # names bound to torch.device(...)
    samplers: dict[str, cst.Call] = field(default_factory=dict)  # DistributedSampler names a DataLoader takes
    handled: set[int] = field(default_factory=set)  # id(original node) the statement rewrite replaces
    scopes: dict[int, StrategyScope] = field(default_factory=dict)  # id(first statement) -> scope
    parallel: dict[int, str] = field(default_factory=dict)  # id(DataParallel call) -> "" or why no scope
    unwrap: dict[int, Unwrap] = field(default_factory=dict)  # id(With) -> what to say
    policies: dict[int, int] = field(default_factory=dict)  # id(model statement) -> id(With) of its autocast
    scalers: dict[int, str] = field(
        default_factory=dict
    )  # id(GradScaler call) -> its optimizer, or "?why not"
    marks: dict[int, tuple[str, str]] = field(default_factory=dict)  # id(statement) -> (api, why unsupported)

    @property
    def found(self) -> bool:
        return bool(
            self.optimizers
            or self.loops
            or self.statements
            or self.no_grad
            or self.unrecognised
            or self.scopes
            or self.unwrap
            or self.marks
        )

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
