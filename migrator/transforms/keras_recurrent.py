"""tf2torch hooks for recurrent layers: Keras LSTM / GRU / SimpleRNN become nn.LSTM / nn.GRU /
nn.RNN with ``batch_first=True`` (Keras's (N, T, F) layout), Bidirectional becomes the wrapped
module with ``bidirectional=True``. What the Keras layer returns (``return_sequences``,
``return_state``, ``merge_mode``) and what it is called with (``initial_state``,
``go_backwards``) are rebuilt where it is called (``engine/tf2torch/recurrent.py``)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import libcst as cst

from migrator.engine.emitter import commas, kwarg
from migrator.engine.site import CallSite
from migrator.engine.tf2torch.emit import dim_node, order_positional
from migrator.engine.tf2torch.recurrent import MERGES, RnnInfo
from migrator.engine.tf2torch.shapes import LayerArgs, Shape
from migrator.transforms.keras_common import mapped_args as _rest

if TYPE_CHECKING:
    from migrator.engine.tf2torch.transformer import KerasToTorch, LayerOut

_KINDS = ("lstm", "gru", "simple_rnn")  # the rules' weight transforms


def _out(site: CallSite, expr: cst.BaseExpression, transform: str | None, rnn: RnnInfo) -> LayerOut:
    from migrator.engine.tf2torch.transformer import LayerOut

    return LayerOut(expr, None, None, site.rule, transform, rnn=rnn)


def rnn(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    """LSTM / GRU / SimpleRNN: nn.LSTM / nn.GRU / nn.RNN(input_size, units, batch_first=True)."""
    rule = site.rule
    if rule.weights not in _KINDS:
        return f"no recurrent weight transform {rule.weights!r}"
    args = LayerArgs(site.bound)
    rest = _rest(tools, site, ("units", "go_backwards"))
    if isinstance(rest, str):
        return rest
    in_f = shape[-1] if shape else None
    if in_f is None:
        return "the input feature size could not be inferred (torch has no Lazy LSTM/GRU/RNN)"
    seq, state = args.value("return_sequences", False), args.value("return_state", False)
    backwards = args.value("go_backwards", False)
    if not isinstance(seq, bool) or not isinstance(state, bool) or not isinstance(backwards, bool):
        return "return_sequences, return_state and go_backwards must be literals"
    out = [kwarg("input_size", dim_node(in_f)), kwarg("hidden_size", site.bound["units"]), *rest]
    out.append(kwarg("batch_first", cst.Name("True")))
    assert rule.emit is not None
    expr = tools.call(rule.emit, order_positional(out, ("input_size", "hidden_size")))
    return _out(site, expr, rule.weights, RnnInfo(rule.weights, seq, state, backwards=backwards))


def bidirectional(
    tools: KerasToTorch, site: CallSite, shape: Shape | None, perm: tuple[int, ...] | None
) -> LayerOut | str:
    """Bidirectional(LSTM / GRU / SimpleRNN): the wrapped module with bidirectional=True; the
    merge mode is applied where the layer is called."""
    rest = _rest(tools, site, ("layer", "merge_mode"))
    if isinstance(rest, str):
        return rest
    merge = LayerArgs(site.bound).value("merge_mode", "concat")
    if merge not in MERGES:
        shown = "None" if merge is None else repr(merge) if isinstance(merge, str) else "a non-literal"
        return (
            f"merge_mode={shown}: only {', '.join(repr(m) for m in MERGES)} have a torch form "
            "(None returns the two directions as separate outputs)"
        )
    inner_node = site.bound.get("layer")
    inner = tools.layer_of(inner_node) if inner_node is not None else None
    if inner is None and isinstance(inner_node, cst.Call):  # generated code: build the wrapped layer
        tools.ann.layer_input[id(inner_node)] = shape
        inner = tools.build_layer(inner_node, inner_node)
    if inner is None or inner.rnn is None or not isinstance(inner.expr, cst.Call):
        return "only a wrapped LSTM, GRU or SimpleRNN is supported"
    if inner.rnn.backwards:
        return "go_backwards=True inside Bidirectional (the directions swap) is not supported"
    expr = inner.expr.with_changes(args=commas([*inner.expr.args, kwarg("bidirectional", cst.Name("True"))]))
    info = replace(inner.rnn, bidirectional=True, merge=merge)
    return _out(site, expr, f"bidirectional_{inner.rnn.kind}", info)
