"""What a Keras recurrent layer returns, rebuilt from what torch's returns.

Keras: the last output (or the sequence with ``return_sequences``), plus the final states with
``return_state`` (``[out, h, c]`` for LSTM, ``[out, h]`` for GRU). torch: always ``(sequence,
h_n)`` or ``(sequence, (h_n, c_n))`` with h_n shaped (directions, N, H). A bidirectional layer's
last output is cat(forward h_n, backward h_n): ``out[:, -1]`` would hold the backward direction
after a single step.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from migrator.engine.emitter import int_node, kwarg
from migrator.engine.tf2torch.emit import TorchEmitter


@dataclass(frozen=True)
class RnnInfo:
    kind: str  # "lstm" or "gru"
    sequences: bool
    state: bool
    bidirectional: bool = False


def _index(expr: cst.BaseExpression, *items: cst.BaseExpression | None) -> cst.Subscript:
    """``expr[i]`` or ``expr[:, -1]`` (None stands for a full slice)."""
    elements = []
    for i, item in enumerate(items):
        sl: cst.BaseSlice = cst.Slice(lower=None, upper=None) if item is None else cst.Index(item)
        last = i == len(items) - 1
        space = cst.SimpleWhitespace(" ")
        comma: cst.Comma | cst.MaybeSentinel = (
            cst.MaybeSentinel.DEFAULT if last else cst.Comma(whitespace_after=space)
        )
        elements.append(cst.SubscriptElement(sl, comma=comma))
    return cst.Subscript(expr, elements)


def output(emit: TorchEmitter, call: cst.BaseExpression, info: RnnInfo) -> cst.BaseExpression:
    """The Keras output of a layer without return_state, from the torch call."""
    sequence = _index(call, int_node(0))
    if info.sequences:
        return sequence
    if not info.bidirectional:
        return _index(sequence, None, int_node(-1))
    h_n: cst.BaseExpression = _index(call, int_node(1))
    if info.kind == "lstm":
        h_n = _index(h_n, int_node(0))
    both = cst.Call(cst.Name("tuple"), [cst.Arg(h_n)])
    return emit.call("torch.cat", [cst.Arg(both), kwarg("dim", int_node(-1))])


def state_unpacking(
    names: list[str], info: RnnInfo
) -> tuple[cst.BaseAssignTargetExpression, list[str]] | None:
    """For ``out, h[, c] = layer(x)``: the torch target and the statements that follow it
    (as code), or None when the names do not fit the layer."""
    want = 3 if info.kind == "lstm" else 2
    if len(names) != want or info.bidirectional:
        return None
    out, states = names[0], names[1:]
    if info.kind == "lstm":
        inner = cst.Tuple([cst.Element(cst.Name(n)) for n in states])
        target = cst.Tuple([cst.Element(cst.Name(out)), cst.Element(inner)], lpar=[], rpar=[])
    else:
        target = cst.Tuple([cst.Element(cst.Name(out)), cst.Element(cst.Name(states[0]))], lpar=[], rpar=[])
    lines = [f"{', '.join(states)} = {', '.join(f'{s}[-1]' for s in states)}"]
    if not info.sequences:
        lines.append(f"{out} = {out}[:, -1]")
    return target, lines
