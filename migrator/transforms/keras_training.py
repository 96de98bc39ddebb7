"""tf2torch hooks for training code: Keras optimizers, losses, schedules and LR callbacks.

A Keras optimizer (or LR callback) is built before the model's parameters are at hand, so it
becomes a factory, ``functools.partial(torch.optim.X, lr=...)``, that the migration of
``model.compile`` (``engine.tf2torch.training``) calls with ``model.parameters()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

import libcst as cst

from migrator.engine.site import CallSite, Note
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
    from migrator.transforms.keras_layers import _out as layer_out

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
    call, notes = construct(site, tools, scheduled, KERAS_TO_TORCH_REDUCTIONS, "sum_over_batch_size")
    return _out(tools, partial(tools, call), site, notes)


def keras_loss(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    call, notes = construct(site, tools, False, KERAS_TO_TORCH_REDUCTIONS, "sum_over_batch_size")
    return _out(tools, call, site, notes)


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
        args = list(mapped.args)
        patience = site.bound.get("patience")
        value = _patience(patience)
        args = [a for a in args if a.keyword is None or a.keyword.value != "patience"]
        args.append(
            cst.Arg(
                value,
                keyword=cst.Name("patience"),
                equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")),
            )
        )
        mode = site.bound.get("mode")
        if mode is not None and not (
            isinstance(mode, cst.SimpleString) and mode.evaluated_value in ("min", "max")
        ):
            return "mode='auto' picks min or max from the monitored name: give mode='min' or 'max'"
        notes.append(Note(Severity.MIGRATED, "patience - 1 and an absolute threshold: Keras's plateau test"))
        return _out(tools, partial(tools, tools.call(site.rule.emit, args)), site, notes)
    return _out(tools, tools.call(site.rule.emit, mapped.args), site, notes)


def _patience(expr: cst.BaseExpression | None) -> cst.BaseExpression:
    """Keras reduces when ``wait >= patience``, torch when ``bad_epochs > patience``."""
    if expr is None:
        return cst.Integer("9")  # Keras's default 10
    if isinstance(expr, cst.Integer):
        return cst.Integer(str(max(int(expr.value) - 1, 0)))
    return cst.BinaryOperation(
        expr, cst.Subtract(cst.SimpleWhitespace(" "), cst.SimpleWhitespace(" ")), cst.Integer("1")
    )
