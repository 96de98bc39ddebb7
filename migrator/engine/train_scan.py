"""A first look at a file's training code, before anything is rewritten (torch2tf).

The transformer migrates one expression at a time; a training script needs facts that span
statements: which optimizer a scheduler drives (and so whether the learning rate changes), which
loop holds ``loss.backward()``, where ``scheduler.step()`` is called (per batch or per epoch),
which loader the loop reads (its length is the number of steps per epoch), where gradients are
clipped. ``scan`` collects them into a ``TrainingPlan`` keyed by the original nodes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import cast

import libcst as cst

from migrator.engine.emitter import code_of
from migrator.engine.names import dotted
from migrator.engine.train_plan import Action, StepKind, TrainingPlan
from migrator.engine.walk import Walker
from migrator.rules.loader import RuleSet
from migrator.rules.schema import Rule, TrainRole


@dataclass(frozen=True)
class Optimizer:
    name: str
    call: cst.Call
    model: str  # the expression whose .parameters() it updates ("model")


@dataclass(frozen=True)
class Schedule:
    name: str
    call: cst.Call
    optimizer: str
    step: StepKind


@dataclass(frozen=True)
class StatementAction:
    action: Action
    optimizer: str = ""  # STEP / CLIP: whose parameters
    loss: str = ""  # BACKWARD: the loss expression
    model: str = ""
    value: cst.BaseExpression | None = None  # CLIP: max norm / value; LOAD: the path
    why: str = ""  # DROP: the reason shown for a removed statement ("" for the usual ones)
    quiet: bool = False  # DROP: the rule's hook already reported it
    call: str = ""  # CALL: the qualified target called instead (tf.config.experimental.enable_op_determinism)
    scaler: str = ""  # BACKWARD / STEP through a GradScaler: its name (a Keras LossScaleOptimizer)


@dataclass(frozen=True)
class TrainLoop:
    """A ``for`` loop whose body calls ``<loss>.backward()``."""

    node: cst.For
    loader: str | None  # the name iterated over, when it is a plain name
    tape_from: int  # index of the first statement recorded by the tape
    backward: int  # index of the backward statement
    model: str
    loss: str  # the name of the loss variable that is differentiated


@dataclass(frozen=True)
class FitLoop:
    """An epoch loop around a training loop that ``model.fit`` reproduces exactly: nothing but
    zero_grad / forward / loss / backward / step per batch, mode switches and a per-epoch
    scheduler step per epoch, over a DataLoader built in the file."""

    node: cst.For
    inner: TrainLoop
    epochs: cst.BaseExpression
    loader: str
    model: str
    optimizer: str
    loss_object: str | None  # the loss object's name; None: the loss is a functional call


Resolve = Callable[[cst.BaseExpression], "str | None"]


def _method_call(stmt: cst.BaseStatement) -> tuple[str, str, cst.Call] | None:
    """``recv.method(...)`` as a whole statement: (receiver code, method, call)."""
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return None
    expr = stmt.body[0]
    if not isinstance(expr, cst.Expr) or not isinstance(expr.value, cst.Call):
        return None
    call = expr.value
    if not isinstance(call.func, cst.Attribute):
        return None
    recv = call.func.value
    return dotted(recv) or code_of(recv), call.func.attr.value, call  # dotted: no render for names


def _assigned_call(stmt: cst.BaseStatement) -> tuple[str, cst.Call] | None:
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return None
    a = stmt.body[0]
    if (
        isinstance(a, cst.Assign)
        and len(a.targets) == 1
        and isinstance(a.targets[0].target, cst.Name)
        and isinstance(a.value, cst.Call)
    ):
        return a.targets[0].target.value, a.value
    return None


_COMPOUND = frozenset({cst.FunctionDef, cst.For, cst.While, cst.With, cst.If, cst.Try, cst.TryStar})


def child_blocks(stmt: cst.BaseStatement) -> Iterator[Sequence[cst.BaseStatement]]:
    """The statement lists nested directly in a compound statement (its body, else/elif chain
    and except handlers); none for a class body or a simple statement."""
    if type(stmt) not in _COMPOUND:  # concrete classes: isinstance would go through abc
        return
    compound = cast(cst.BaseCompoundStatement, stmt)
    if type(compound.body) is cst.IndentedBlock:
        yield compound.body.body
    orelse = getattr(compound, "orelse", None)
    while orelse is not None:
        if type(orelse.body) is cst.IndentedBlock:
            yield orelse.body.body
        orelse = getattr(orelse, "orelse", None)
    for h in getattr(compound, "handlers", ()):
        if type(h.body) is cst.IndentedBlock:
            yield h.body.body


def statements(body: Sequence[cst.BaseStatement]) -> Iterator[cst.BaseStatement]:
    """Every statement, nested ones included, outside class bodies."""
    for stmt in body:
        yield stmt
        for inner in child_blocks(stmt):
            yield from statements(inner)


def _params_model(call: cst.Call) -> str | None:
    """``model.parameters()`` as the first argument: ``model``."""
    if not call.args:
        return None
    first = call.args[0].value
    if (
        isinstance(first, cst.Call)
        and isinstance(first.func, cst.Attribute)
        and first.func.attr.value == "parameters"
    ):
        return code_of(first.func.value)
    return None


def scan(module: cst.Module, rules: RuleSet, resolve: Resolve) -> TrainingPlan:
    plan = TrainingPlan()

    def role(call: cst.Call) -> tuple[Rule, TrainRole] | None:
        qual = resolve(call.func)
        rule = rules.by_name.get(qual) if qual is not None else None
        if rule is None or rule.training is None:
            return None
        return rule, rule.training.role

    every = list(statements(module.body))
    from migrator.engine import ecosystem_scan

    ecosystem_scan.collect(plan, every, rules, resolve)
    for stmt in every:
        hit = _assigned_call(stmt)
        if hit is None:
            continue
        name, call = hit
        qual = resolve(call.func)
        if qual == "torch.utils.data.DataLoader":
            plan.loaders[name] = call
        elif qual == "torch.utils.data.TensorDataset":
            plan.tensor_datasets.add(name)
        found = role(call)
        if found is None:
            continue
        rule, kind = found
        if kind is TrainRole.OPTIMIZER:
            plan.optimizers[name] = Optimizer(name, call, _params_model(call) or "model")
        elif kind is TrainRole.LOSS:
            plan.losses[name] = (call, rule)
        elif kind is TrainRole.SCHEDULE and call.args and isinstance(call.args[0].value, cst.Name):
            opt = call.args[0].value.value
            plan.schedules[name] = Schedule(name, call, opt, StepKind.UNSEEN)
            if rule.training is not None and rule.training.template is not None:
                plan.keras_schedules.add(name)
            plan.schedule_statements[id(stmt)] = plan.schedules[name]

    for stmt in every:
        if isinstance(stmt, cst.For) and isinstance(stmt.body, cst.IndentedBlock):
            _scan_loop(plan, stmt, resolve)
        elif isinstance(stmt, cst.With) and len(stmt.items) == 1:
            item = stmt.items[0].item
            if isinstance(item, cst.Call) and resolve(item.func) in ("torch.no_grad", "torch.inference_mode"):
                plan.no_grad.add(id(stmt))
        else:
            _scan_statement(plan, stmt, resolve)
    _scheduler_steps(plan, every)
    _unrecognised_backward(plan, every)
    _module_facts(plan, module, resolve)
    for stmt in every:
        if isinstance(stmt, cst.For):
            fit = _fit_loop(
                plan, stmt, lambda c: (hit := role(c)) is not None and hit[1] is TrainRole.LOSS_FN
            )
            if fit is not None:
                plan.fits[id(stmt)] = fit
                plan.fit_inner.add(id(fit.inner.node))
    ecosystem_scan.finish(plan, module, every, resolve)
    return plan


def _fit_loop(plan: TrainingPlan, epoch: cst.For, is_loss_fn: Callable[[cst.Call], bool]) -> FitLoop | None:
    it = epoch.iter
    if not (
        isinstance(epoch.body, cst.IndentedBlock)
        and isinstance(it, cst.Call)
        and isinstance(it.func, cst.Name)
        and it.func.value == "range"
        and len(it.args) == 1
    ):
        return None
    inner = [s for s in epoch.body.body if id(s) in plan.loops]
    others = [s for s in epoch.body.body if id(s) not in plan.loops]
    if len(inner) != 1 or any(
        (a := plan.statements.get(id(s))) is None or a.action is not Action.DROP for s in others
    ):
        return None
    loop = plan.loops[id(inner[0])]
    if not isinstance(loop.node.body, cst.IndentedBlock):
        return None
    body = loop.node.body.body
    acts = [plan.statements.get(id(s)) for s in body]
    rest = [a for i, a in enumerate(acts) if not (loop.tape_from <= i < loop.backward)]
    if any(
        a is None or a.action not in (Action.DROP, Action.BACKWARD, Action.STEP) or a.scaler for a in rest
    ):
        return None
    step = next((a for a in rest if a is not None and a.action is Action.STEP), None)
    if step is None or step.optimizer not in plan.optimizers or loop.loader not in plan.loaders:
        return None
    if not isinstance(loop.node.target, cst.Tuple) or len(loop.node.target.elements) != 2:
        return None
    xb, yb = (code_of(e.value) for e in loop.node.target.elements)
    taped = [s for s in body[loop.tape_from : loop.backward] if id(s) not in plan.statements]
    loss_object = _fit_loss(plan, taped, loop, xb, yb, is_loss_fn)
    if not isinstance(loss_object, str):
        return None
    return FitLoop(
        epoch, loop, it.args[0].value, loop.loader, loop.model, step.optimizer, loss_object or None
    )


def _fit_loss(
    plan: TrainingPlan,
    taped: Sequence[cst.BaseStatement],
    loop: TrainLoop,
    xb: str,
    yb: str,
    is_loss_fn: Callable[[cst.Call], bool],
) -> str | bool:
    """``[out = model(xb);] loss = L(out | model(xb), yb)``: the loss object's name, "" for a
    functional loss, False for anything else."""
    assigns = []
    for s in taped:
        if not (
            isinstance(s, cst.SimpleStatementLine) and len(s.body) == 1 and isinstance(s.body[0], cst.Assign)
        ):
            return False
        a = s.body[0]
        if len(a.targets) != 1 or not isinstance(a.targets[0].target, cst.Name):
            return False
        assigns.append((a.targets[0].target.value, a.value))
    forward = f"{loop.model}({xb})"
    if len(assigns) == 2 and code_of(assigns[0][1]) == forward:
        pred = assigns[0][0]
    elif len(assigns) == 1:
        pred = forward
    else:
        return False
    name, value = assigns[-1]
    if name != loop.loss or not isinstance(value, cst.Call) or len(value.args) < 2:
        return False
    if code_of(value.args[0].value) != pred or code_of(value.args[1].value) != yb:
        return False
    if isinstance(value.func, cst.Name) and value.func.value in plan.losses and len(value.args) == 2:
        return value.func.value
    return "" if is_loss_fn(value) else False  # "": a functional loss (F.mse_loss)


def _scan_statement(plan: TrainingPlan, stmt: cst.BaseStatement, resolve: Resolve) -> None:
    """Statements outside the loop proper: mode switches and checkpoint loading."""
    hit = _method_call(stmt)
    if hit is None:
        return
    recv, method, call = hit
    if method in ("train", "eval") and not call.args:
        plan.statements[id(stmt)] = StatementAction(Action.DROP, model=recv)
    elif method == "load_state_dict" and len(call.args) == 1:
        inner = call.args[0].value
        if isinstance(inner, cst.Call) and resolve(inner.func) == "torch.load" and inner.args:
            plan.load_calls.add(id(inner))
            plan.statements[id(stmt)] = StatementAction(Action.LOAD, model=recv, value=inner.args[0].value)


def _scan_loop(plan: TrainingPlan, loop: cst.For, resolve: Resolve) -> None:
    assert isinstance(loop.body, cst.IndentedBlock)
    body = loop.body.body
    backward = next(
        (
            i
            for i, s in enumerate(body)
            if (hit := _method_call(s)) is not None and hit[1] == "backward" and not hit[2].args
        ),
        None,
    )
    if backward is None:
        return
    hit = _method_call(body[backward])
    assert hit is not None
    loss = hit[0]
    scaler = _scaled(plan, hit[2])
    if scaler is not None:  # scaler.scale(loss).backward()
        loss, scaler_name = scaler
    else:
        scaler_name = ""
    tape_from = 0
    model = ""
    for i, s in enumerate(body):
        m = _method_call(s)
        if m is None:
            continue
        recv, method, call = m
        if method == "zero_grad":
            plan.statements[id(s)] = StatementAction(Action.DROP, optimizer=recv)
            if i < backward:
                tape_from = i + 1
        elif method == "step" and i > backward and not call.args and recv not in plan.schedules:
            known = plan.optimizers.get(recv)
            model = known.model if known is not None else _called_model(body[tape_from:backward], loss)
            plan.statements[id(s)] = StatementAction(Action.STEP, optimizer=recv, model=model)
        elif (
            method == "step"
            and i > backward
            and recv == scaler_name
            and len(call.args) == 1
            and isinstance(call.args[0].value, cst.Name)
        ):  # scaler.step(optimizer): the LossScaleOptimizer applies the gradients
            opt_name = call.args[0].value.value
            known = plan.optimizers.get(opt_name)
            model = known.model if known is not None else _called_model(body[tape_from:backward], loss)
            act = StatementAction(Action.STEP, optimizer=opt_name, model=model, scaler=recv)
            plan.statements[id(s)] = act
            plan.handled.add(id(call))
        elif method == "update" and i > backward and recv == scaler_name and not call.args:
            plan.statements[id(s)] = StatementAction(Action.DROP, optimizer=recv, quiet=True)
            plan.handled.add(id(call))
        elif method in ("train", "eval") and not call.args:
            plan.statements[id(s)] = StatementAction(Action.DROP, model=recv)
            if i < backward and tape_from <= i:
                tape_from = i + 1
    opt = next(
        (st.optimizer for s in body if (st := plan.statements.get(id(s))) and st.action is Action.STEP), ""
    )
    if not opt:  # no optimizer.step() after the backward in this block: not a loop fwmigrate knows
        for s in body:
            plan.statements.pop(id(s), None)
        return
    model = model or (plan.optimizers[opt].model if opt else "model")
    plan.statements[id(body[backward])] = StatementAction(
        Action.BACKWARD, loss=loss, model=model, optimizer=opt, scaler=scaler_name
    )
    if scaler_name:
        plan.handled.add(id(hit[2].func.value))  # type: ignore[attr-defined]
    for s in body[backward + 1 :]:
        m = _method_call(s)
        if m is None:
            continue
        qual = resolve(m[2].func)
        if (
            qual in ("torch.nn.utils.clip_grad_norm_", "torch.nn.utils.clip_grad_value_")
            and len(m[2].args) >= 2
        ):
            kind = Action.CLIP_NORM if qual.endswith("norm_") else Action.CLIP_VALUE
            act = StatementAction(kind, optimizer=opt, model=model, value=m[2].args[1].value)
            plan.statements[id(s)] = act
            plan.clip[opt] = act
    it = loop.iter
    if isinstance(it, cst.Call) and code_of(it.func) == "enumerate" and it.args:  # enumerate(loader)
        it = it.args[0].value
    loader = it.value if isinstance(it, cst.Name) else None
    plan.loops[id(loop)] = TrainLoop(loop, loader, tape_from, backward, model, loss)
    plan.loop_bodies.add(id(loop.body))
    # the loss call: `loss = f(pred, target)` inside the tape (or in an autocast block there)
    for s in _unwrapped(plan, body[tape_from:backward]):
        if isinstance(s, cst.SimpleStatementLine) and len(s.body) == 1:
            a = s.body[0]
            if (
                isinstance(a, cst.Assign)
                and len(a.targets) == 1
                and code_of(a.targets[0].target) == loss
                and isinstance(a.value, cst.Call)
            ):
                plan.loss_values[id(loop)] = a.value
                if (
                    len(a.value.args) == 2
                    and isinstance(a.value.func, cst.Name)
                    and a.value.func.value != model
                ):
                    plan.loss_calls[id(a.value)] = a.value


def _scaled(plan: TrainingPlan, backward: cst.Call) -> tuple[str, str] | None:
    """``scaler.scale(loss).backward()`` with ``scaler`` a GradScaler: (loss code, scaler name)."""
    recv = backward.func.value if isinstance(backward.func, cst.Attribute) else None
    if not (
        isinstance(recv, cst.Call)
        and isinstance(recv.func, cst.Attribute)
        and recv.func.attr.value == "scale"
        and isinstance(recv.func.value, cst.Name)
        and "GradScaler" in plan.objects.get(recv.func.value.value, "")
        and len(recv.args) == 1
    ):
        return None
    return code_of(recv.args[0].value), recv.func.value.value


def _unwrapped(plan: TrainingPlan, body: Sequence[cst.BaseStatement]) -> Iterator[cst.BaseStatement]:
    """The statements, with those of an autocast block in place of the block."""
    for s in body:
        if id(s) in plan.unwrap and isinstance(s, cst.With) and isinstance(s.body, cst.IndentedBlock):
            yield from s.body.body
        else:
            yield s


def _called_model(taped: Sequence[cst.BaseStatement], loss: str) -> str:
    """The model a loop trains when its optimizer comes from elsewhere (a function parameter):
    the first plain-name call in the taped statements that is not the loss function."""
    found: list[str] = []

    class Calls:
        def visit_Call(self, node: cst.Call) -> None:
            if isinstance(node.func, cst.Name):
                found.append(node.func.value)

    losses: set[str] = set()
    for s in taped:
        Walker(Calls()).walk(s)
        if isinstance(s, cst.SimpleStatementLine) and isinstance(s.body[0], cst.Assign):
            a = s.body[0]
            if code_of(a.targets[0].target) == loss and isinstance(a.value, cst.Call):
                losses.add(code_of(a.value.func))
    return next((f for f in found if f not in losses and f not in _BUILTINS), "model")


_BUILTINS = frozenset({"len", "float", "int", "range", "print", "zip", "sum", "max", "min", "abs"})


_UNRECOGNISED = (
    "a training step fwmigrate does not recognise (it needs loss.backward() followed by "
    "optimizer.step() in the same loop body; gradient accumulation and other shapes are not "
    "migrated): rewrite it as a tf.GradientTape step"
)


def _unrecognised_backward(plan: TrainingPlan, every: list[cst.BaseStatement]) -> None:
    """``loss.backward()`` outside a recognised training loop stays, with a marker."""
    handled = {
        id(s)
        for loop in plan.loops.values()
        if isinstance(loop.node.body, cst.IndentedBlock)
        for s in loop.node.body.body
    }
    for stmt in every:
        hit = _method_call(stmt)
        if hit is not None and hit[1] == "backward" and not hit[2].args and id(stmt) not in handled:
            plan.unrecognised[id(stmt)] = _UNRECOGNISED


def _module_facts(plan: TrainingPlan, module: cst.Module, resolve: Resolve) -> None:
    """One walk over the file for what spans it: every call of a loss object outside model
    classes, by its name or by the parameter it is passed as (``validate(model, x, y, criterion)``
    calling ``loss_fn(model(x), y)``), and the parameters whose literal default is a checkpoint path
    (``def train(path="model.pt")``, renamed with the call: Keras weight files end in
    ``.weights.h5``)."""
    paths = {
        a.value.value
        for a in plan.statements.values()
        if a.action is Action.LOAD and isinstance(a.value, cst.Name)
    }
    params: list[cst.Param] = []
    signatures: dict[str, list[str]] = {}  # function -> its parameter names
    passed: list[tuple[str, int | str]] = []  # (function, position or keyword) given a loss object
    candidates: list[tuple[cst.Call, str, str]] = []  # (call, callee name, enclosing function)

    class Facts:
        def __init__(self) -> None:
            self.depth = 0  # inside a class body
            self.functions: list[str] = []

        def visit_ClassDef(self, node: cst.ClassDef) -> None:
            self.depth += 1

        def leave_ClassDef(self, original: cst.ClassDef, updated: cst.ClassDef) -> cst.ClassDef:
            self.depth -= 1
            return updated

        def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
            self.functions.append(node.name.value)
            signatures.setdefault(node.name.value, [p.name.value for p in node.params.params])

        def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef) -> cst.FunctionDef:
            self.functions.pop()
            return updated

        def visit_Param(self, node: cst.Param) -> None:
            if isinstance(node.default, cst.SimpleString):
                params.append(node)

        def visit_Call(self, node: cst.Call) -> None:
            func = node.func
            if isinstance(func, cst.Name):
                for i, a in enumerate(node.args):
                    if isinstance(a.value, cst.Name) and a.value.value in plan.losses:
                        passed.append((func.value, a.keyword.value if a.keyword is not None else i))
                if (
                    self.depth == 0
                    and len(node.args) == 2
                    and all(a.keyword is None and not a.star for a in node.args)
                ):
                    candidates.append((node, func.value, self.functions[-1] if self.functions else ""))
            elif (
                len(node.args) >= 2
                and isinstance(node.args[1].value, cst.Name)
                and resolve(func) == "torch.save"
            ):
                paths.add(node.args[1].value.value)

    Walker(Facts()).walk(module)
    plan.weight_paths.update(id(p) for p in params if p.name.value in paths)
    local: dict[str, set[str]] = {}  # function -> its parameters that receive a loss object
    for fn, where in passed:
        names = signatures.get(fn, [])
        if isinstance(where, str):
            local.setdefault(fn, set()).add(where)
        elif where < len(names):
            local.setdefault(fn, set()).add(names[where])
    for call, name, fn in candidates:
        if name in plan.losses or name in local.get(fn, set()):
            plan.loss_calls[id(call)] = call


def _scheduler_steps(plan: TrainingPlan, every: list[cst.BaseStatement]) -> None:
    """Each ``scheduler.step()``: per batch when inside a training loop, else per epoch."""
    in_loop = {id(s) for loop in plan.loops.values() for s in loop.node.body.body}
    for stmt in every:
        hit = _method_call(stmt)
        if hit is None or hit[1] != "step" or hit[0] not in plan.schedules:
            continue
        sched = plan.schedules[hit[0]]
        if hit[2].args:
            kind = StepKind.PLATEAU
        else:
            kind = StepKind.BATCH if id(stmt) in in_loop else StepKind.EPOCH
            plan.statements[id(stmt)] = StatementAction(Action.DROP, optimizer=sched.optimizer)
        new = Schedule(sched.name, sched.call, sched.optimizer, kind)
        plan.schedules[sched.name] = new
        for k, v in list(plan.schedule_statements.items()):
            if v.name == sched.name:
                plan.schedule_statements[k] = new
