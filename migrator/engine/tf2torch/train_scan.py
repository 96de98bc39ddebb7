"""Keras training statements found before anything is rewritten (tf2torch): ``model.compile``,
``fit``, ``evaluate``, ``predict``, the weight files, and the training objects (optimizers,
schedules, callbacks) a file assigns to names. ``engine.tf2torch.training`` writes the PyTorch
code for them."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

import libcst as cst

from migrator.engine.tf2torch.eco_scan import EcoPlan
from migrator.engine.train_scan import statements
from migrator.engine.values import literal
from migrator.rules.loader import RuleSet
from migrator.rules.schema import Rule, TrainRole

# strings Keras accepts for optimizers and losses (keras.optimizers.get / keras.losses.get)
OPTIMIZER_NAMES = {
    "sgd": "SGD",
    "adam": "Adam",
    "adamw": "AdamW",
    "rmsprop": "RMSprop",
    "adagrad": "Adagrad",
    "adadelta": "Adadelta",
    "adamax": "Adamax",
    "nadam": "Nadam",
}
LOSS_NAMES = {
    "sparse_categorical_crossentropy": "SparseCategoricalCrossentropy",
    "categorical_crossentropy": "CategoricalCrossentropy",
    "binary_crossentropy": "BinaryCrossentropy",
    "mse": "MeanSquaredError",
    "mean_squared_error": "MeanSquaredError",
    "mae": "MeanAbsoluteError",
    "mean_absolute_error": "MeanAbsoluteError",
    "huber": "Huber",
    "huber_loss": "Huber",
    "kld": "KLDivergence",
    "kl_divergence": "KLDivergence",
}
ACCURACY = ("accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy", "binary_accuracy")
FIT_ARGS = (
    "x",
    "y",
    "batch_size",
    "epochs",
    "verbose",
    "callbacks",
    "validation_split",
    "validation_data",
    "shuffle",
    "steps_per_epoch",
)

Resolve = Callable[[cst.BaseExpression], "str | None"]


@dataclass(frozen=True)
class Compile:
    model: str
    optimizer: cst.BaseExpression | None
    loss: cst.BaseExpression | None
    metrics: tuple[str, ...]


class CallbackKind(enum.Enum):
    PLATEAU = "plateau"  # ReduceLROnPlateau: stepped with its monitored value after each epoch
    LR_SCHEDULE = "lr_schedule"  # LearningRateScheduler: schedule(epoch, lr) before each epoch
    TENSORBOARD = "tensorboard"  # TensorBoard: the epoch losses written after each epoch


@dataclass(frozen=True)
class Callback:
    """A migrated fit callback: a ReduceLROnPlateau factory and the key it watches, a
    LearningRateScheduler's ``schedule(epoch, lr)`` (``monitor`` None), or a TensorBoard writer."""

    name: str  # the object's name in the migrated loop
    code: str  # migrated code: the factory, the schedule function, or the SummaryWriter
    monitor: str | None
    origin: cst.BaseExpression  # the Keras callback's constructor call
    kind: CallbackKind = CallbackKind.PLATEAU


@dataclass
class KerasTrainingPlan:
    statements: dict[int, tuple[str, str, cst.Call]] = field(
        default_factory=dict
    )  # id -> (method, model, call)
    compiles: dict[str, Compile] = field(default_factory=dict)  # model name -> its compile
    assigned: dict[str, tuple[cst.Call, Rule]] = field(default_factory=dict)  # name -> Keras training object
    histories: set[str] = field(default_factory=set)  # names bound to fit's History (a dict now)
    weight_paths: set[str] = field(default_factory=set)  # names that hold a weights file path
    lr_callbacks: bool = False  # a fit has a callback that changes the learning rate
    model_sources: dict[str, str] = field(default_factory=dict)  # model -> the function building it
    eco: EcoPlan = field(default_factory=EcoPlan)  # devices, strategies, summaries, pipelines

    @property
    def found(self) -> bool:
        return bool(self.statements)

    def unhandled(self, call: cst.Call) -> bool:
        """``model.fit/evaluate/predict(...)`` of a compiled model that is not a statement of its
        own (``return model.predict(x)``), so it cannot become the torch statements."""
        func = call.func
        return (
            isinstance(func, cst.Attribute)
            and func.attr.value in ("fit", "evaluate", "predict")
            and isinstance(func.value, cst.Name)
            and func.value.value in self.compiles
            and all(c is not call for _, _, c in self.statements.values())
        )

    @property
    def trains(self) -> bool:
        """The file fits a model (its batch norms then need Keras's running-variance update)."""
        return any(method == "fit" for method, _, _ in self.statements.values())

    def scheduled(self, lr: cst.BaseExpression | None) -> bool:
        """The learning rate changes during training: a schedule, or an LR callback in a fit."""
        return self.lr_callbacks or self.is_schedule(lr)

    def is_schedule(self, lr: cst.BaseExpression | None) -> bool:
        """The learning-rate argument is a schedule (a name bound to one, or a call)."""
        if isinstance(lr, cst.Name):
            hit = self.assigned.get(lr.value)
            return (
                hit is not None and hit[1].training is not None and hit[1].training.role is TrainRole.SCHEDULE
            )
        return isinstance(lr, cst.Call)


def _model_call(stmt: cst.BaseStatement) -> tuple[str, str, cst.Call] | None:
    """``[targets =] model.method(...)`` as a whole statement."""
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return None
    small = stmt.body[0]
    value = small.value if isinstance(small, cst.Expr | cst.Assign) else None
    if not isinstance(value, cst.Call) or not isinstance(value.func, cst.Attribute):
        return None
    if not isinstance(value.func.value, cst.Name):
        return None
    return value.func.attr.value, value.func.value.value, value


def call_arg(call: cst.Call, name: str, position: int | None = None) -> cst.BaseExpression | None:
    for i, a in enumerate(call.args):
        if a.keyword is not None and a.keyword.value == name:
            return a.value
        if a.keyword is None and position is not None and i == position:
            return a.value
    return None


def scan(module: cst.Module, rules: RuleSet, resolve: Resolve) -> KerasTrainingPlan:
    plan = KerasTrainingPlan()
    every = list(statements(module.body))
    for stmt in every:
        if (
            isinstance(stmt, cst.SimpleStatementLine)
            and len(stmt.body) == 1
            and isinstance(stmt.body[0], cst.Assign)
            and len(stmt.body[0].targets) == 1
            and isinstance(stmt.body[0].targets[0].target, cst.Name)
            and isinstance(stmt.body[0].value, cst.Call)
        ):
            call = stmt.body[0].value
            if isinstance(call.func, cst.Name):  # model = build_model() / Net()
                plan.model_sources[stmt.body[0].targets[0].target.value] = call.func.value
            qual = resolve(call.func)
            rule = rules.by_name.get(qual) if qual is not None else None
            if rule is not None and rule.training is not None:
                plan.assigned[stmt.body[0].targets[0].target.value] = (call, rule)
        hit = _model_call(stmt)
        if hit is None:
            continue
        method, model, call = hit
        if method == "compile":
            plan.compiles[model] = Compile(
                model,
                call_arg(call, "optimizer", 0),
                call_arg(call, "loss", 1),
                _metrics(call_arg(call, "metrics", 3)),
            )
            plan.statements[id(stmt)] = (method, model, call)
        elif method in ("fit", "evaluate", "predict") and model in plan.compiles:
            plan.statements[id(stmt)] = (method, model, call)
            cbs = call_arg(call, "callbacks")
            if method == "fit" and isinstance(cbs, cst.List | cst.Tuple):
                plan.lr_callbacks |= any(_lr_callback(e.value, plan, resolve) for e in cbs.elements)
            small = stmt.body[0]  # type: ignore[attr-defined]
            if (
                method == "fit"
                and isinstance(small, cst.Assign)
                and isinstance(small.targets[0].target, cst.Name)
            ):
                plan.histories.add(small.targets[0].target.value)
        elif method in ("save_weights", "load_weights", "save", "export") and call.args:
            plan.statements[id(stmt)] = (method, model, call)
            if isinstance(call.args[0].value, cst.Name) and method != "export":
                plan.weight_paths.add(call.args[0].value.value)
    return plan


_LR_CALLBACKS = ("keras.callbacks.ReduceLROnPlateau", "keras.callbacks.LearningRateScheduler")


def _lr_callback(expr: cst.BaseExpression, plan: KerasTrainingPlan, resolve: Resolve) -> bool:
    if isinstance(expr, cst.Name) and expr.value in plan.assigned:
        return plan.assigned[expr.value][1].match[0] in _LR_CALLBACKS
    return isinstance(expr, cst.Call) and resolve(expr.func) in _LR_CALLBACKS


def _metrics(expr: cst.BaseExpression | None) -> tuple[str, ...]:
    value = literal(expr) if expr is not None else []
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return ("?",) if expr is not None else ()
