"""Hooks for recurrent layers."""

from __future__ import annotations

import libcst as cst

from migrator.engine.site import CallSite, HookResult, ModuleInfo, Note, Tools
from migrator.rules.schema import Contract
from migrator.transforms.common import NOT_LITERAL, kwarg, literal
from migrator.types import Severity


def gru(site: CallSite, tools: Tools) -> HookResult | str:
    """nn.GRU -> layers.GRU(return_sequences=True, return_state=True, reset_after=True): the call
    returns (output, state) as torch does. The gate order differs ([r, z, n] vs [z, r, h]); the
    `gru` weight transform reorders it. batch_first=False (torch's default) is time-major: the
    layout tracking holds such tensors batch-major in Keras and remaps their indices."""
    b = site.bound
    batch_first = literal(b["batch_first"]) if "batch_first" in b else False
    if batch_first is NOT_LITERAL or not isinstance(batch_first, bool):
        return "batch_first must be a literal True/False"
    mapped = tools.map_args(site, skip=("batch_first",))
    if mapped.unsupported is not None:
        return mapped.unsupported
    args = [
        *mapped.args,
        kwarg("return_sequences", cst.Name("True")),
        kwarg("return_state", cst.Name("True")),
        kwarg("reset_after", cst.Name("True")),
    ]
    info = ModuleInfo(
        Contract.SEQUENCE,
        rank=3,
        rule_id=site.rule.id,
        transform=site.rule.weights,
        line=site.line,
        extra={"time_major": not batch_first},
    )
    note = Note(Severity.REVIEW, "returns (output, h_n): h_n is (1, N, H) in torch and (N, H) in Keras")
    return HookResult(tools.call("keras.layers.GRU", args), module=info, notes=(note,))
