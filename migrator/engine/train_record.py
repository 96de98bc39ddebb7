"""The ``training`` part of a torch2tf migration record: what ``verify --train-steps`` rebuilds on
both sides (optimizer, schedule, loss and clipping, as code copied from the two files)."""

from __future__ import annotations

from typing import Any

import libcst as cst

from migrator.engine.args import bind_arguments
from migrator.engine.emitter import code_of
from migrator.engine.site import CallSite
from migrator.engine.train_bindings import LiteralNames, with_bindings
from migrator.engine.train_plan import Action, StepKind, TrainingPlan
from migrator.engine.values import literal
from migrator.rules.loader import RuleSet
from migrator.rules.schema import TrainRole

PRED, TARGET = "_fwm_pred", "_fwm_target"
Code = tuple[str, str, int]  # source code, target code, line


def training_code(site: CallSite, original: cst.Call, target: cst.BaseExpression, line: int) -> Code:
    """Source code (of the ``original`` call) and target code of a training construct; a
    functional loss gets placeholders for its prediction and target, so that the verifier can call
    it on its own batches."""
    spec = site.rule.training
    assert spec is not None
    if spec.role is TrainRole.LOSS_FN and isinstance(target, cst.Call) and isinstance(target.func, cst.Call):
        bound, _ = bind_arguments(site.rule, original, None)
        names = {id(bound["input"]): PRED, id(bound["target"]): TARGET}
        args = [
            a.with_changes(value=cst.Name(names[id(a.value)])) if id(a.value) in names else a
            for a in original.args
        ]
        return code_of(original.with_changes(args=args)), f"{code_of(target.func)}({TARGET}, {PRED})", line
    return code_of(original), code_of(target), line


def _rule_of(rules: RuleSet, call: cst.Call, resolve: Any) -> Any:
    qual = resolve(call.func)
    return rules.by_name.get(qual) if qual is not None else None


def training_record(
    plan: TrainingPlan, code: dict[int, Code], rules: RuleSet, resolve: Any, module: cst.Module
) -> dict[str, Any] | None:
    """None unless the file builds an optimizer and a loop (or loss) the migration handled."""
    if not plan.loops:
        return None
    loop = next(iter(plan.loops.values()))
    step = next(
        (
            a
            for s in loop.node.body.body
            if (a := plan.statements.get(id(s))) is not None and a.action is Action.STEP
        ),
        None,
    )
    opt = plan.optimizers.get(step.optimizer) if step is not None else None
    loss_call = plan.loss_values.get(id(loop.node))
    if opt is None or loss_call is None or id(opt.call) not in code or id(loss_call) not in code:
        return None
    src: dict[str, Any] = {
        "model": opt.model,
        "setup": [],
        "optimizer": opt.name,
        "schedule": None,
        "clip": None,
    }
    tgt: dict[str, Any] = {
        "model": opt.model,
        "setup": [],
        "optimizer": opt.name,
        "schedule": None,
        "clip": None,
    }
    opt_rule = _rule_of(rules, opt.call, resolve)
    uses = {"optimizer": opt_rule.id}
    notes: list[str] = []
    src["setup"].append([opt.name, code[id(opt.call)][0]])
    tgt["setup"].append([opt.name, code[id(opt.call)][1]])
    for sched in plan.schedules.values():
        if sched.optimizer != opt.name or id(sched.call) not in code:
            continue
        s_src, s_tgt, _ = code[id(sched.call)]
        src["setup"].append([sched.name, s_src])
        tgt["setup"].append([sched.name, s_tgt])
        stepping = "epoch" if sched.step is StepKind.UNSEEN else sched.step.value
        src["schedule"] = {"name": sched.name, "step": stepping}
        if plan.is_keras_schedule(sched.name):
            tgt["setup"].append(
                [opt.name, f'setattr({opt.name}, "learning_rate", {sched.name}) or {opt.name}']
            )
            tgt["schedule"] = {"name": sched.name, "step": "optimizer"}
        else:
            tgt["schedule"] = {"name": sched.name, "step": stepping}
        uses["schedule"] = _rule_of(rules, sched.call, resolve).id
        break
    loss_rule = None
    if id(loss_call) in plan.loss_calls and isinstance(loss_call.func, cst.Name):
        name = loss_call.func.value
        if name in plan.losses:
            ctor, loss_rule = plan.losses[name]
            if id(ctor) not in code:
                return None
            src["setup"].append([name, code[id(ctor)][0]])
            tgt["setup"].append([name, code[id(ctor)][1]])
    else:
        loss_rule = _rule_of(rules, loss_call, resolve)
    if loss_rule is None or loss_rule.training is None:
        return None
    uses["loss"] = loss_rule.id
    src["loss"], tgt["loss"] = code[id(loss_call)][0], code[id(loss_call)][1]
    clip = plan.clip.get(opt.name)
    if clip is not None and clip.value is not None:
        value = literal(clip.value)
        if isinstance(value, int | float):
            kind = "norm" if clip.action is Action.CLIP_NORM else "value"
            src["clip"] = tgt["clip"] = {"kind": kind, "value": float(value)}
        else:
            notes.append(f"clipping by {code_of(clip.value)} is not a literal: not reproduced in the check")
    known = LiteralNames(module)
    src["setup"] = with_bindings(src["setup"], known, opt.model)
    tgt["setup"] = with_bindings(tgt["setup"], known, opt.model)
    return {
        "targets": loss_rule.training.targets,
        "compare_params": bool(opt_rule.training and opt_rule.training.compare_params),
        "uses": uses,
        "notes": notes,
        "source": src,
        "target": tgt,
    }
