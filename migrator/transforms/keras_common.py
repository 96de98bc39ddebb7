"""Helpers shared by the tf2torch hook modules (keras_layers, keras_norm_resize, keras_recurrent)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from migrator.engine.site import CallSite

if TYPE_CHECKING:
    from migrator.engine.tf2torch.transformer import KerasToTorch, LayerOut


def layer_out(expr: cst.BaseExpression, site: CallSite, transform: str | None, suffix: str = "") -> LayerOut:
    """A hook's module: ``expr`` with the rule's weight ``transform`` (no activation, no shape)."""
    from migrator.engine.tf2torch.transformer import LayerOut

    return LayerOut(expr, None, None, site.rule, transform, suffix)


def mapped_args(tools: KerasToTorch, site: CallSite, handled: tuple[str, ...]) -> list[cst.Arg] | str:
    """The arguments the rule maps itself (after checking every other one); notes become findings.
    A string is the reason the call cannot be migrated."""
    mapped = tools.map_args(site, skip=handled)
    if mapped.unsupported is not None:
        return mapped.unsupported
    for note in mapped.notes:
        tools._find(site.call, note.severity, site.rule.match[0], note.message, site.rule.id)
    return list(mapped.args)
