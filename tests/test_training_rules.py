"""Every optimizer, loss and LR-schedule rule trains like its source, and its naive mapping does not.

For each rule with a ``[rule.training]`` table, a case gives a source set-up (the constructor with
the arguments that matter), migrated by the real rules with ``migrate_source``. Both sides are then
trained from the same weights by the train-step harness (``compare_training``, 6 steps, a learning
rate that changes within them where there is a schedule), and must agree at the default tolerance.
The same run with a hand-written NAIVE target, what a name-for-name converter would write (the stock
class, arguments copied literally or left at their defaults), must fail: each case is chosen so the
difference the rule exists for is visible (SEMANTICS.md sections 5-8).

The set-up of each side is the module's top-level assignments, evaluated in the namespace its own
imports give; an attribute assignment (``optimizer.learning_rate = scheduler``) becomes a
``setattr`` entry. torch2tf: the snippet's ``loss = ...`` line is the loss expression on both sides.
tf2torch: the snippet ends with ``model.compile`` (and ``model.fit`` for callbacks), so the
migration also emits the optimizer factory's call; the loss is called as ``compile``/``fit`` call
it, ``(y_true, y_pred)`` in Keras and ``(input, target)`` in the migrated torch loop.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pytest

from migrator.api import migrate_source
from migrator.rules.loader import Rule, load_rules
from migrator.types import Direction
from migrator.verify.driver import Batches
from migrator.verify.result import Tolerance, TrainingResult, Verdict
from migrator.verify.spec import InputSpec
from migrator.verify.training import TrainingPlan, compare_training

pytestmark = [
    pytest.mark.frameworks,
    # F.kl_div's default 'mean' is the case's point; Keras's own ReduceLROnPlateau callback
    # converts its learning-rate variable with a deprecated numpy call
    pytest.mark.filterwarnings("ignore:reduction. 'mean' divides the total loss:UserWarning"),
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning"),
]

T2K, K2T = Direction.TORCH2TF, Direction.TF2TORCH
PREAMBLE = {
    T2K: "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n",
    K2T: "import keras\nfrom keras import layers\n\n",
}
# the set-up the case does not name: plain SGD for a loss rule (lr 0.01: a "sum" reduction
# scales the gradients), MSE for an optimizer or schedule
COMPANIONS = {
    T2K: {"optimizer": "torch.optim.SGD(model.parameters(), lr=0.01)", "criterion": "nn.MSELoss()"},
    K2T: {
        "optimizer": "keras.optimizers.SGD(learning_rate=0.01)",
        "loss_fn": "keras.losses.MeanSquaredError()",
    },
}
# what a naive converter's output imports (the migrated module imports only what it uses)
NAIVE_IMPORTS = {T2K: "import keras\n", K2T: "import functools\nimport torch\nfrom torch import nn\n"}
# tf2torch: how model.compile / model.fit and the migrated loop call the loss
K2T_LOSS = ("loss_fn(_fwm_target, _fwm_pred)", "loss_fn(_fwm_pred, _fwm_target)")
# names the harness binds or replaces (its own batches instead of the migrated data pipeline)
HARNESS_NAMES = frozenset({"model", "steps_per_epoch", "train_data", "train_loader", "history"})
WEIGHTS = "torch.tensor([1.0, 2.0, 0.5, 3.0])"
STEPS = 6

Setup = list[tuple[str, str]]


@dataclass(frozen=True)
class Case:
    """One rule's train-step case. ``source``: the set-up in the source framework (companions are
    added for the parts it does not assign); ``naive``: target names (or ``"loss"``, the loss
    expression) and what a name-for-name converter writes for them instead of the migration."""

    rule: str
    source: str
    naive: tuple[tuple[str, str], ...]
    targets: str = "real"  # class_index | binary | probs | real
    head: str = ""  # the output activation of both models: sigmoid | softmax | log_softmax
    scale: float = 1.0  # multiplies the loss on both sides: 1e-6 makes eps placement visible
    # (source name, step, target name, step) as in the record's "schedule"
    schedule: tuple[str, str, str, str] | None = None
    naive_step: str | None = None  # the naive target's schedule step, when it differs
    steps_per_epoch: int = 2

    @property
    def direction(self) -> Direction:
        return Direction(self.rule.split(".", 1)[0])


def case(rule: str, source: str, naive: Mapping[str, str] | str, **kw: Any) -> Any:
    """A ``pytest.param`` with the rule id as its id; a str ``naive`` replaces the rule's own name
    (the first name the source assigns)."""
    if isinstance(naive, str):
        naive = {source.split("=", 1)[0].strip(): naive}
    return pytest.param(Case(rule, source, tuple(naive.items()), **kw), id=rule)


def t_sched(rule: str, scheduler: str, naive: str, step: str = "epoch", **kw: Any) -> Any:
    """A torch2tf schedule on plain SGD(lr=0.1): a Keras schedule set as the optimizer's lr (a
    plateau scheduler stays one, stepped with the epoch's loss)."""
    source = f"optimizer = torch.optim.SGD(model.parameters(), lr=0.1)\nscheduler = {scheduler}"
    target = "plateau" if step == "plateau" else "optimizer"
    return case(rule, source, {"scheduler": naive}, schedule=("scheduler", step, "scheduler", target), **kw)


def k_sched(rule: str, schedule: str, naive: str) -> Any:
    """A tf2torch schedule as SGD's learning_rate: ``torch_support.ScheduleLR`` stepped per batch;
    ``naive`` is the torch scheduler a converter would put in its place."""
    source = f"schedule = {schedule}\noptimizer = keras.optimizers.SGD(learning_rate=schedule)"
    return case(rule, source, {"scheduler": naive}, schedule=("schedule", "optimizer", "scheduler", "batch"))


def t_loss(rule: str, expr: str, naive: str, targets: str = "real", naive_pred: str = "", **kw: Any) -> Any:
    """A torch2tf loss: ``nn.X(...)`` as ``criterion``, or ``F.x(...)`` as the loss expression, whose
    naive form calls the Keras loss object ``naive`` on (targets, ``naive_pred`` or the output)."""
    if rule.startswith("torch2tf.nn."):
        return case(rule, f"criterion = {expr}", naive, targets=targets, **kw)
    call = f"{naive}(_fwm_target, {naive_pred or '_fwm_pred'})"
    return case(rule, f"loss = {expr}", {"loss": call}, targets=targets, **kw)


CASES = [
    # ---- torch2tf optimizers: MSE, real targets
    case(  # momentum with an lr change (StepLR) and coupled L2 weight decay
        "torch2tf.optim.SGD",
        "optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-2)\n"
        "scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.1)",
        "keras.optimizers.SGD(learning_rate=0.1, momentum=0.9, weight_decay=1e-2)",
        schedule=("scheduler", "epoch", "scheduler", "optimizer"),
    ),
    case(
        "torch2tf.optim.Adam",
        "optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)",
        "keras.optimizers.Adam(learning_rate=1e-3, epsilon=1e-8)",
        scale=1e-6,
    ),
    case(
        "torch2tf.optim.AdamW",
        "optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)",
        "keras.optimizers.AdamW(learning_rate=1e-2)",
        scale=1e-6,
    ),
    case(
        "torch2tf.optim.RMSprop",
        "optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-2, momentum=0.9)",
        "keras.optimizers.RMSprop(learning_rate=1e-2, momentum=0.9)",
    ),
    case(
        "torch2tf.optim.Adagrad",
        "optimizer = torch.optim.Adagrad(model.parameters(), lr=0.1)",
        "keras.optimizers.Adagrad(learning_rate=0.1)",
    ),
    case(
        "torch2tf.optim.Adadelta",
        "optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0, weight_decay=0.1)",
        "keras.optimizers.Adadelta(learning_rate=1.0, weight_decay=0.1)",
    ),
    case(
        "torch2tf.optim.Adamax",
        "optimizer = torch.optim.Adamax(model.parameters(), lr=2e-3)",
        "keras.optimizers.Adamax(learning_rate=2e-3)",
        scale=1e-6,
    ),
    case(
        "torch2tf.optim.NAdam",
        "optimizer = torch.optim.NAdam(model.parameters(), lr=0.1)",
        "keras.optimizers.Nadam(learning_rate=0.1)",
    ),
    # ---- torch2tf schedules: SGD(lr=0.1), MSE; an epoch is 2 steps
    t_sched(
        "torch2tf.lr_scheduler.StepLR",
        "torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)",
        "keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)",
    ),
    t_sched(
        "torch2tf.lr_scheduler.MultiStepLR",
        "torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[1, 2], gamma=0.5)",
        "keras.optimizers.schedules.PiecewiseConstantDecay([1, 2], [0.1, 0.05, 0.025])",
    ),
    t_sched(
        "torch2tf.lr_scheduler.ExponentialLR",
        "torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.5)",
        "keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)",
    ),
    t_sched(  # T_max 2 epochs: torch's lr rises again in the third
        "torch2tf.lr_scheduler.CosineAnnealingLR",
        "torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=2, eta_min=0.01)",
        "keras.optimizers.schedules.CosineDecay(0.1, decay_steps=2, alpha=0.01)",
    ),
    t_sched(
        "torch2tf.lr_scheduler.OneCycleLR",
        "torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, total_steps=8, cycle_momentum=False)",
        "keras.optimizers.schedules.CosineDecay(0.004, decay_steps=6, warmup_target=0.1, warmup_steps=2)",
        step="batch",
    ),
    t_sched(  # one step per epoch: torch reduces after 2 bad epochs, a Keras callback after 1
        "torch2tf.lr_scheduler.ReduceLROnPlateau",
        "torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=1, threshold=0.5)",
        "keras.callbacks.ReduceLROnPlateau(monitor='loss', factor=0.5, patience=1, min_delta=0.5)",
        step="plateau",
        naive_step="callback",
        steps_per_epoch=1,
    ),
    # ---- torch2tf losses: SGD(lr=0.01)
    t_loss(
        "torch2tf.nn.CrossEntropyLoss",
        f"nn.CrossEntropyLoss(weight={WEIGHTS}, label_smoothing=0.1)",
        "keras.losses.SparseCategoricalCrossentropy()",
        "class_index",
    ),
    t_loss(
        "torch2tf.F.cross_entropy",
        "F.cross_entropy(_fwm_pred, _fwm_target, label_smoothing=0.2, reduction='sum')",
        "keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction='sum')",
        "class_index",
    ),
    t_loss(
        "torch2tf.nn.NLLLoss",
        f"nn.NLLLoss(weight={WEIGHTS})",
        "keras.losses.SparseCategoricalCrossentropy(from_logits=True)",
        "class_index",
        head="log_softmax",
    ),
    t_loss(
        "torch2tf.F.nll_loss",
        "F.nll_loss(_fwm_pred, _fwm_target, ignore_index=0)",
        "keras.losses.SparseCategoricalCrossentropy(from_logits=True)",
        "class_index",
        head="log_softmax",
    ),
    t_loss(
        "torch2tf.nn.BCELoss",
        "nn.BCELoss(reduction='sum')",
        "keras.losses.BinaryCrossentropy(reduction='sum')",
        "binary",
        head="sigmoid",
    ),
    t_loss(
        "torch2tf.F.binary_cross_entropy",
        f"F.binary_cross_entropy(_fwm_pred, _fwm_target, weight={WEIGHTS})",
        "keras.losses.BinaryCrossentropy()",
        "binary",
        head="sigmoid",
    ),
    t_loss(
        "torch2tf.nn.BCEWithLogitsLoss",
        "nn.BCEWithLogitsLoss(pos_weight=torch.tensor([3.0, 0.5, 1.0, 2.0]))",
        "keras.losses.BinaryCrossentropy(from_logits=True)",
        "binary",
    ),
    t_loss(
        "torch2tf.F.binary_cross_entropy_with_logits",
        "F.binary_cross_entropy_with_logits(_fwm_pred, _fwm_target, reduction='sum')",
        "keras.losses.BinaryCrossentropy(from_logits=True, reduction='sum')",
        "binary",
    ),
    t_loss(
        "torch2tf.nn.MSELoss", "nn.MSELoss(reduction='sum')", "keras.losses.MeanSquaredError(reduction='sum')"
    ),
    t_loss(
        "torch2tf.F.mse_loss",
        "F.mse_loss(_fwm_pred, _fwm_target, reduction='sum')",
        "keras.losses.MeanSquaredError(reduction='sum')",
    ),
    t_loss(
        "torch2tf.nn.L1Loss", "nn.L1Loss(reduction='sum')", "keras.losses.MeanAbsoluteError(reduction='sum')"
    ),
    t_loss(
        "torch2tf.F.l1_loss",
        "F.l1_loss(_fwm_pred, _fwm_target, reduction='sum')",
        "keras.losses.MeanAbsoluteError(reduction='sum')",
    ),
    t_loss("torch2tf.nn.SmoothL1Loss", "nn.SmoothL1Loss(beta=0.5)", "keras.losses.Huber(delta=0.5)"),
    t_loss(
        "torch2tf.F.smooth_l1_loss",
        "F.smooth_l1_loss(_fwm_pred, _fwm_target, beta=2.0)",
        "keras.losses.Huber(delta=2.0)",
    ),
    t_loss(
        "torch2tf.nn.HuberLoss",
        "nn.HuberLoss(delta=0.5, reduction='sum')",
        "keras.losses.Huber(delta=0.5, reduction='sum')",
    ),
    t_loss(
        "torch2tf.F.huber_loss",
        "F.huber_loss(_fwm_pred, _fwm_target, delta=2.0, reduction='sum')",
        "keras.losses.Huber(delta=2.0, reduction='sum')",
    ),
    t_loss(
        "torch2tf.nn.KLDivLoss",
        "nn.KLDivLoss(reduction='batchmean')",
        "keras.losses.KLDivergence()",
        "probs",
        head="log_softmax",
    ),
    t_loss(  # the default 'mean' divides by every element; Keras sums the classes
        "torch2tf.F.kl_div",
        "F.kl_div(_fwm_pred, _fwm_target)",
        "keras.losses.KLDivergence()",
        "probs",
        head="log_softmax",
        naive_pred="keras.ops.exp(_fwm_pred)",
    ),
    # ---- tf2torch optimizers: MSE, real targets; the target is a factory of model.parameters()
    case(
        "tf2torch.optimizers.SGD",
        "optimizer = keras.optimizers.SGD(learning_rate=0.1, momentum=0.9, weight_decay=1e-2)",
        "functools.partial(torch.optim.SGD, lr=0.1, momentum=0.9, weight_decay=1e-2)",
    ),
    case(
        "tf2torch.optimizers.Adam",
        "optimizer = keras.optimizers.Adam(learning_rate=1e-3)",
        "functools.partial(torch.optim.Adam, lr=1e-3, eps=1e-7)",
        scale=1e-6,
    ),
    case(
        "tf2torch.optimizers.AdamW",
        "optimizer = keras.optimizers.AdamW(learning_rate=1e-2)",
        "functools.partial(torch.optim.AdamW, lr=1e-2, eps=1e-7)",
        scale=1e-6,
    ),
    case(
        "tf2torch.optimizers.RMSprop",
        "optimizer = keras.optimizers.RMSprop(learning_rate=1e-2)",
        "functools.partial(torch.optim.RMSprop, lr=1e-2, eps=1e-7)",
    ),
    case(
        "tf2torch.optimizers.Adagrad",
        "optimizer = keras.optimizers.Adagrad(learning_rate=0.1)",
        "functools.partial(torch.optim.Adagrad, lr=0.1, eps=1e-7)",
    ),
    case(
        "tf2torch.optimizers.Adadelta",
        "optimizer = keras.optimizers.Adadelta(learning_rate=1.0)",
        "functools.partial(torch.optim.Adadelta, lr=1.0, eps=1e-7)",
    ),
    case(  # Keras's weight decay is decoupled, torch's Adamax adds it to the gradient
        "tf2torch.optimizers.Adamax",
        "optimizer = keras.optimizers.Adamax(learning_rate=2e-3, weight_decay=0.1)",
        "functools.partial(torch.optim.Adamax, lr=2e-3, eps=1e-7, weight_decay=0.1)",
    ),
    case(
        "tf2torch.optimizers.Nadam",
        "optimizer = keras.optimizers.Nadam(learning_rate=0.1)",
        "functools.partial(torch.optim.NAdam, lr=0.1, eps=1e-7)",
    ),
    # ---- tf2torch schedules: SGD(learning_rate=schedule), MSE
    k_sched(
        "tf2torch.schedules.ExponentialDecay",
        "keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5, staircase=True)",
        "torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.5)",
    ),
    k_sched(
        "tf2torch.schedules.PiecewiseConstantDecay",
        "keras.optimizers.schedules.PiecewiseConstantDecay([2, 4], [0.1, 0.05, 0.01])",
        "torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[2, 4], gamma=0.5)",
    ),
    k_sched(
        "tf2torch.schedules.CosineDecay",
        "keras.optimizers.schedules.CosineDecay(0.1, decay_steps=4, alpha=0.1)",
        "torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=4, eta_min=0.1)",
    ),
    k_sched(
        "tf2torch.schedules.InverseTimeDecay",
        "keras.optimizers.schedules.InverseTimeDecay(0.1, decay_steps=2, decay_rate=0.5, staircase=True)",
        "torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 / (1 + 0.5 * step / 2))",
    ),
    k_sched(
        "tf2torch.schedules.PolynomialDecay",
        "keras.optimizers.schedules.PolynomialDecay(0.1, decay_steps=4, end_learning_rate=0.01, power=2.0)",
        "torch.optim.lr_scheduler.PolynomialLR(optimizer, total_iters=4, power=2.0)",
    ),
    k_sched(
        "tf2torch.schedules.CosineDecayRestarts",
        "keras.optimizers.schedules.CosineDecayRestarts(0.1, first_decay_steps=2)",
        "torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0=2)",
    ),
    case(  # one step per epoch; min_delta 10 makes every epoch after the first a bad one
        "tf2torch.callbacks.ReduceLROnPlateau",
        "reduce_lr = keras.callbacks.ReduceLROnPlateau("
        "monitor='loss', factor=0.5, patience=2, min_delta=10.0)",
        "functools.partial(torch.optim.lr_scheduler.ReduceLROnPlateau, "
        "factor=0.5, patience=2, threshold=10.0)",
        schedule=("reduce_lr", "callback", "plateau", "plateau"),
        steps_per_epoch=1,
    ),
    # ---- tf2torch losses: SGD(learning_rate=0.01)
    case(
        "tf2torch.losses.SparseCategoricalCrossentropy",
        "loss_fn = keras.losses.SparseCategoricalCrossentropy()",
        "nn.CrossEntropyLoss()",
        targets="class_index",
        head="softmax",
    ),
    case(
        "tf2torch.losses.CategoricalCrossentropy",
        "loss_fn = keras.losses.CategoricalCrossentropy(label_smoothing=0.1)",
        "nn.CrossEntropyLoss(label_smoothing=0.1)",
        targets="probs",
        head="softmax",
    ),
    case(
        "tf2torch.losses.BinaryCrossentropy",
        "loss_fn = keras.losses.BinaryCrossentropy(label_smoothing=0.2, reduction='sum')",
        "nn.BCELoss(reduction='sum')",
        targets="binary",
        head="sigmoid",
    ),
    case(
        "tf2torch.losses.MeanSquaredError",
        "loss_fn = keras.losses.MeanSquaredError(reduction='sum')",
        "nn.MSELoss(reduction='sum')",
    ),
    case(
        "tf2torch.losses.MeanAbsoluteError",
        "loss_fn = keras.losses.MeanAbsoluteError(reduction='sum')",
        "nn.L1Loss(reduction='sum')",
    ),
    case(
        "tf2torch.losses.Huber",
        "loss_fn = keras.losses.Huber(delta=2.0, reduction='sum')",
        "nn.HuberLoss(delta=2.0, reduction='sum')",
    ),
    case(
        "tf2torch.losses.KLDivergence",
        "loss_fn = keras.losses.KLDivergence()",
        "nn.KLDivLoss()",
        targets="probs",
        head="softmax",
    ),
]


# --------------------------------------------------------------------------------------------
# Building the two sides


@cache
def training_rules(direction: Direction) -> dict[str, Rule]:
    """The rules with a training table, by id."""
    return {r.id: r for r in load_rules(direction).rules if r.training is not None}


def snippet(c: Case) -> str:
    """The source file: preamble, companions, the case's set-up and, in tf2torch, compile/fit."""
    assigned = {line.split("=", 1)[0].strip() for line in c.source.splitlines()}
    companions = COMPANIONS[c.direction]
    lines = [f"{name} = {expr}" for name, expr in companions.items() if name not in assigned]
    if c.direction is T2K:
        first = [line for line in lines if line.startswith("optimizer")]
        body = [*first, c.source, *(line for line in lines if line not in first)]
        if "loss" not in assigned:
            body.append("loss = criterion(_fwm_pred, _fwm_target)")
    else:
        body = [*lines, c.source, "model.compile(optimizer=optimizer, loss=loss_fn)"]
        if "reduce_lr" in assigned:
            body.append("model.fit(x, y, epochs=3, batch_size=4, callbacks=[reduce_lr])")
    return PREAMBLE[c.direction] + "\n".join(body) + "\n"


def module_setup(code: str) -> tuple[dict[str, Any], Setup]:
    """The namespace a module's imports give, and its top-level assignments as (name, expression);
    ``a.b = c`` becomes ``(a, "setattr(a, 'b', c) or a")``."""
    tree = ast.parse(code)
    ns: dict[str, Any] = {}
    setup: Setup = []
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            exec(compile(ast.Module([node], []), "<imports>", "exec"), ns)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], ast.get_source_segment(code, node.value)
            assert value is not None
            if isinstance(target, ast.Name) and target.id not in HARNESS_NAMES:
                setup.append((target.id, value))
            elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
                base = target.value.id
                setup.append((base, f"setattr({base}, {target.attr!r}, {value}) or {base}"))
    return ns, setup


@dataclass(frozen=True)
class Side:
    ns: dict[str, Any]
    setup: Setup
    loss: str
    schedule: tuple[str, str] | None


@cache
def migrated(c: Case) -> tuple[str, Side, Side]:
    """The migrated code and both sides of the case as the migration gives them."""
    source = snippet(c)
    code = migrate_source(source, c.direction, load_rules(c.direction)).code
    sides = []
    for text, role in ((source, 0), (code, 1)):
        ns, setup = module_setup(text)
        loss = dict(setup).get("loss") if c.direction is T2K else K2T_LOSS[role]
        assert loss is not None, text
        sched = (c.schedule[2 * role], c.schedule[2 * role + 1]) if c.schedule else None
        sides.append(Side(ns, [(n, e) for n, e in setup if n != "loss"], loss, sched))
    return code, sides[0], sides[1]


def naive_side(c: Case, side: Side) -> Side:
    """The migrated side with the rule's output replaced by the naive mapping: the first entry of
    each name (the rule's own; a later one is the code that uses it)."""
    setup, todo = [], dict(c.naive)
    for name, expr in side.setup:
        setup.append((name, todo.pop(name, expr)))
    assert set(todo) <= {"loss"}, f"naive names not in the migrated set-up: {sorted(todo)}"
    schedule = side.schedule
    if c.naive_step is not None and schedule is not None:
        schedule = (schedule[0], c.naive_step)
    ns, _ = module_setup(NAIVE_IMPORTS[c.direction])
    return Side({**side.ns, **ns}, setup, todo.get("loss", side.loss), schedule)


class LrLog:
    """Bound as ``_fwm_lr`` in a side's namespace: the loss expression goes through it, so the
    learning rate each step uses is recorded (torch: the first group's; Keras: the optimizer's
    current value, a schedule evaluated at its iterations)."""

    def __init__(self) -> None:
        self.lrs: list[float] = []

    def __call__(self, optimizer: Any, loss: Any) -> Any:
        groups = getattr(optimizer, "param_groups", None)
        self.lrs.append(float(groups[0]["lr"] if groups else optimizer.learning_rate))
        return loss


def plan_side(c: Case, side: Side) -> dict[str, Any]:
    loss = side.loss if c.scale == 1.0 else f"{c.scale!r} * ({side.loss})"
    return {
        "model": "model",
        "setup": [list(entry) for entry in side.setup],
        "optimizer": "optimizer",
        "loss": f"_fwm_lr(optimizer, {loss})",
        "schedule": {"name": side.schedule[0], "step": side.schedule[1]} if side.schedule else None,
        "clip": None,
    }


@dataclass
class Pair:
    """A torch and a Keras 8-16-4 tanh MLP with the same weights (Keras kernel = torch weight.T)."""

    torch_model: Any
    keras_model: Any
    to_keras: Callable[[], None]
    to_torch: Callable[[], None]


@pytest.fixture(scope="module")
def frameworks() -> Callable[[str], Pair]:
    """Imports torch and Keras once; gives a builder of fresh model pairs by output activation."""
    import keras
    import torch
    from torch import nn

    torch_heads: dict[str, Callable[[], list[Any]]] = {
        "": list,
        "sigmoid": lambda: [nn.Sigmoid()],
        "softmax": lambda: [nn.Softmax(dim=-1)],
        "log_softmax": lambda: [nn.LogSoftmax(dim=-1)],
    }

    def build(head: str) -> Pair:
        torch.manual_seed(0)
        tm = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 4), *torch_heads[head]())
        extra = [keras.layers.Activation(head)] if head else []
        km = keras.Sequential(
            [keras.Input((8,)), keras.layers.Dense(16, activation="tanh"), keras.layers.Dense(4), *extra]
        )
        linears = (tm[0], tm[2])
        dense = [layer for layer in km.layers if isinstance(layer, keras.layers.Dense)]

        def to_keras() -> None:
            for lin, d in zip(linears, dense, strict=True):
                d.set_weights([lin.weight.detach().numpy().T, lin.bias.detach().numpy()])

        def to_torch() -> None:
            with torch.no_grad():
                for lin, d in zip(linears, dense, strict=True):
                    kernel, bias = d.get_weights()
                    lin.weight.copy_(torch.from_numpy(kernel.T))
                    lin.bias.copy_(torch.from_numpy(bias))

        to_keras()
        return Pair(tm, km, to_keras, to_torch)

    return build


@dataclass
class Run:
    result: TrainingResult
    source_lrs: list[float]
    target_lrs: list[float]

    def summary(self) -> str:
        return "; ".join(f"{r.source}: {r.max_abs_diff:.3g} ({r.status.value})" for r in self.result.rows)


def train(c: Case, build: Callable[[str], Pair], naive: bool = False) -> Run:
    """Both sides trained ``STEPS`` steps from the same weights, the original in the source framework."""
    _, source, target = migrated(c)
    if naive:
        target = naive_side(c, target)
    pair = build(c.head)
    torch_first = c.direction is T2K
    original, other = (pair.torch_model, pair.keras_model)[:: 1 if torch_first else -1]
    logs = LrLog(), LrLog()
    plan = TrainingPlan.parse(
        {
            "targets": c.targets,
            "compare_params": True,
            "uses": {"rule": c.rule},
            "source": plan_side(c, source),
            "target": plan_side(c, target),
        }
    )
    result = compare_training(
        original,
        other,
        plan,
        {**source.ns, "_fwm_lr": logs[0]},
        {**target.ns, "_fwm_lr": logs[1]},
        Batches([InputSpec((4, 8))], [None], seed=0, samples=1),
        STEPS,
        c.steps_per_epoch,
        Tolerance(),
        pair.to_keras if torch_first else pair.to_torch,
    )
    return Run(result, logs[0].lrs, logs[1].lrs)


# --------------------------------------------------------------------------------------------
# The tests


def test_every_training_rule_has_a_case() -> None:
    """A new optimizer, loss or schedule rule fails here until it gets a case above."""
    rules = {rid for d in (T2K, K2T) for rid in training_rules(d)}
    cases = [p.values[0].rule for p in CASES]
    assert len(cases) == len(set(cases)), "one case per rule"
    assert sorted(rules - set(cases)) == [], "training rules without a train-step case"
    assert sorted(set(cases) - rules) == [], "cases of rules that do not exist or have no training table"


@pytest.mark.parametrize("c", CASES)
def test_rule_trains_like_the_source(c: Case, frameworks: Callable[[str], Pair]) -> None:
    code, _, _ = migrated(c)
    spec = training_rules(c.direction)[c.rule]
    assert spec.training is not None
    emitted = {name.rsplit(".", 1)[-1] for name in (spec.emit, spec.training.stock) if name}
    assert any(name in code for name in emitted), f"the snippet does not reach {c.rule}:\n{code}"
    run = train(c, frameworks)
    r = run.result
    assert r.error is None, r.error
    assert len(r.losses) == STEPS >= 5 and r.outputs and r.params
    assert r.verdict is Verdict.EQUIVALENT, run.summary()
    assert len(run.source_lrs) == len(run.target_lrs) == STEPS
    assert run.target_lrs == pytest.approx(run.source_lrs, rel=1e-6), "learning rates per step"
    if c.schedule is not None:
        assert len(set(run.source_lrs)) > 1, f"the lr never changed within the steps: {run.source_lrs}"
        assert len({np.float32(lr) for lr in run.target_lrs}) > 1, run.target_lrs


@pytest.mark.parametrize("c", CASES)
def test_naive_mapping_fails(c: Case, frameworks: Callable[[str], Pair]) -> None:
    run = train(c, frameworks, naive=True)
    assert run.result.error is None, run.result.error
    assert run.result.verdict is Verdict.NOT_EQUIVALENT, run.summary()
