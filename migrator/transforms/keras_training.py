"""tf2torch hooks for training code: Keras optimizers, losses, schedules and LR callbacks.

A Keras optimizer (or LR callback) is built before the model's parameters are at hand, so it
becomes a factory, ``functools.partial(torch.optim.X, lr=...)``, that the migration of
``model.compile`` (``engine.tf2torch.training``) calls with ``model.parameters()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import TYPE_CHECKING

import libcst as cst

from migrator.engine.emitter import code_of, kwarg
from migrator.engine.site import CallSite, Note
from migrator.engine.values import literal
from migrator.transforms.training import construct
from migrator.types import Severity

if TYPE_CHECKING:
    from migrator.engine.tf2torch.shapes import Shape
    from migrator.engine.tf2torch.transformer import KerasToTorch, LayerOut

# Keras reduction -> torch's reduction keyword (None: leave it out, torch's default "mean")
KERAS_TO_TORCH_REDUCTIONS: Mapping[str, str | None] = MappingProxyType(
    {"sum_over_batch_size": None, "sum": '"sum"', "none": '"none"', "None": '"none"'}
)


def _out(tools: KerasToTorch, expr: cst.BaseExpression, site: CallSite, notes: list[Note]) -> LayerOut:
    from migrator.transforms.keras_common import layer_out

    for note in notes:
        tools.note(note)
    return layer_out(expr, site, None)


def partial(tools: KerasToTorch, call: cst.Call) -> cst.Call:
    """``C(a=1)`` -> ``functools.partial(C, a=1)``."""
    args = [cst.Arg(call.func), *call.args]
    return tools.call("functools.partial", args)


def keras_optimizer(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    scheduled = tools.train_plan.scheduled(site.bound.get("learning_rate"))
    built = construct(site, tools, scheduled, KERAS_TO_TORCH_REDUCTIONS, "sum_over_batch_size")
    if isinstance(built, str):
        return built
    return _out(tools, partial(tools, built[0]), site, built[1])


def keras_loss(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    built = construct(site, tools, False, KERAS_TO_TORCH_REDUCTIONS, "sum_over_batch_size")
    if isinstance(built, str):
        return built
    return _out(tools, built[0], site, built[1])


def keras_schedule(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    """A schedule: the same formula as a callable. ReduceLROnPlateau: a factory of the optimizer."""
    assert site.rule.emit is not None
    mapped = tools.map_args(site)
    if mapped.unsupported is not None:
        return mapped.unsupported
    notes = list(mapped.notes)
    if site.rule.emit.startswith("torch.optim.lr_scheduler."):
        mode = site.bound.get("mode")
        if mode is not None and not (
            isinstance(mode, cst.SimpleString) and mode.evaluated_value in ("min", "max")
        ):
            return "mode='auto' picks min or max from the monitored name: give mode='min' or 'max'"
        monitor = literal(site.bound["monitor"]) if "monitor" in site.bound else "val_loss"
        if mode is None and isinstance(monitor, str) and "acc" in monitor:  # Keras's "auto"
            mapped = replace(mapped, args=(*mapped.args, kwarg("mode", cst.SimpleString('"max"'))))
        counts = {"patience": (10, 10), "cooldown": (0, 0)}  # Keras's and torch's defaults
        args = [a for a in mapped.args if a.keyword is None or a.keyword.value not in counts]
        for key, (keras_default, torch_default) in counts.items():
            got = _one_less(site.bound.get(key), keras_default, torch_default)
            if got is not None:
                args.append(kwarg(key, got))
        args.append(kwarg("eps", cst.Float("0.0")))
        notes.append(
            Note(
                Severity.MIGRATED,
                "patience and cooldown one less, an absolute threshold and eps=0: Keras's plateau test",
            )
        )
        return _out(tools, partial(tools, tools.call(site.rule.emit, args)), site, notes)
    return _out(tools, tools.call(site.rule.emit, mapped.args), site, notes)


def _one_less(
    expr: cst.BaseExpression | None, keras_default: int, torch_default: int
) -> cst.BaseExpression | None:
    """Keras counts ``wait >= patience`` (and its cooldown one epoch shorter); torch counts
    ``bad_epochs > patience``: ``max(n - 1, 0)``. None when that is torch's default anyway."""
    value = literal(expr) if expr is not None else keras_default
    if isinstance(value, int) and not isinstance(value, bool):
        n = max(value - 1, 0)
        return cst.Integer(str(n)) if n != torch_default else None
    assert expr is not None
    return cst.parse_expression(f"max({code_of(expr)} - 1, 0)")


def keras_lr_function(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    """``LearningRateScheduler(schedule)`` -> ``schedule``: the migrated fit loop calls
    ``schedule(epoch, lr)`` at the start of every epoch, as the callback does."""
    fn = site.bound.get("schedule")
    if fn is None:
        return "LearningRateScheduler needs its schedule function"
    return _out(tools, fn, site, [])
