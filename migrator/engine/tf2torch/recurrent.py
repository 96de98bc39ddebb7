"""What a Keras recurrent layer returns, rebuilt from what torch's returns, and what a torch
recurrent module is called with.

Keras: the last output (or the sequence with ``return_sequences``), plus the final states with
``return_state``: ``[out, h, c]`` for LSTM, ``[out, h]`` for GRU and SimpleRNN; a Bidirectional
layer's are ``[out, h_fw, c_fw, h_bw, c_bw]``, its output the two directions merged
(``merge_mode``). torch: always ``(sequence, h_n)`` or ``(sequence, (h_n, c_n))`` with h_n shaped
(directions, N, H). A bidirectional layer's last output is built from h_n (the backward
direction's final state), not ``out[:, -1]``, which holds the backward direction after a single
step. ``initial_state=[h, c]`` becomes torch's ``hx``: ``(h.unsqueeze(0), c.unsqueeze(0))``,
``torch.stack([h_fw, h_bw])`` for two directions. ``go_backwards=True`` runs the layer on the
sequence reversed in time (``torch.flip``); Keras returns the outputs in that processing order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import libcst as cst

from migrator.engine.emitter import code_of, int_node, kwarg, tuple_node
from migrator.engine.tf2torch.emit import TorchEmitter

MERGES = ("concat", "sum", "mul", "ave")  # Bidirectional merge modes with a torch form
_REDUCE: Mapping[str, str] = MappingProxyType({"sum": "sum", "mul": "prod", "ave": "mean"})  # torch reduction


@dataclass(frozen=True)
class RnnInfo:
    kind: str  # "lstm", "gru" or "simple_rnn" (the weight transform of the layer)
    sequences: bool
    state: bool
    bidirectional: bool = False
    backwards: bool = False  # go_backwards: the layer reads the sequence reversed in time
    merge: str = "concat"  # a Bidirectional layer's merge_mode

    @property
    def states(self) -> int:
        return 2 if self.kind == "lstm" else 1


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


def _method(expr: cst.BaseExpression, name: str, *args: cst.Arg) -> cst.Call:
    return cst.Call(cst.Attribute(expr, cst.Name(name)), list(args))


def _elements(items: Sequence[cst.BaseExpression]) -> list[cst.Element]:
    space = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    return [
        cst.Element(e, comma=space if i < len(items) - 1 else cst.MaybeSentinel.DEFAULT)
        for i, e in enumerate(items)
    ]


def _merged_sequence(emit: TorchEmitter, seq: cst.BaseExpression, merge: str) -> cst.BaseExpression:
    """A bidirectional output sequence ([forward | backward] on the last axis) merged as Keras does."""
    if merge == "concat":
        return seq
    halves = emit.call("torch.chunk", [cst.Arg(seq), cst.Arg(int_node(2)), kwarg("dim", int_node(-1))])
    stacked = emit.call("torch.stack", [cst.Arg(halves)])
    return _method(stacked, _REDUCE[merge], cst.Arg(int_node(0)))


def _merged_last(emit: TorchEmitter, h_n: cst.BaseExpression, merge: str) -> cst.BaseExpression:
    """The last output of a bidirectional layer from its h_n (forward, backward), merged."""
    if merge == "concat":
        both = cst.Call(cst.Name("tuple"), [cst.Arg(h_n)])
        return emit.call("torch.cat", [cst.Arg(both), kwarg("dim", int_node(-1))])
    return _method(h_n, _REDUCE[merge], cst.Arg(int_node(0)))


def call_args(
    emit: TorchEmitter,
    x: cst.BaseExpression,
    initial: Sequence[cst.BaseExpression] | None,
    info: RnnInfo,
) -> list[cst.Arg]:
    """The torch call's arguments: the input (reversed in time for go_backwards) and ``hx`` from
    Keras's ``initial_state`` list ([h, c], or [h_fw, c_fw, h_bw, c_bw])."""
    if info.backwards:
        x = emit.call("torch.flip", [cst.Arg(x), kwarg("dims", tuple_node([1]))])
    args = [cst.Arg(x)]
    if initial is None:
        return args
    directions = 2 if info.bidirectional else 1
    per_state: list[cst.BaseExpression] = []
    for s in range(info.states):
        each = [initial[d * info.states + s] for d in range(directions)]
        if directions == 1:
            per_state.append(_method(each[0], "unsqueeze", cst.Arg(int_node(0))))
        else:
            per_state.append(emit.call("torch.stack", [cst.Arg(cst.List(_elements(each)))]))
    hx = per_state[0] if len(per_state) == 1 else cst.Tuple(_elements(per_state))
    return [cst.Arg(x, comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))), cst.Arg(hx)]


MASK_REASON = (
    "a Keras mask skips the masked steps; torch's recurrent modules have no mask "
    "(pack the sequence with nn.utils.rnn.pack_padded_sequence)"
)


def has_mask(call: cst.Call) -> bool:
    """``layer(x, mask=m)`` with a mask that is not None."""
    return any(
        a.keyword is not None
        and a.keyword.value == "mask"
        and not (isinstance(a.value, cst.Name) and a.value.value == "None")
        for a in call.args
    )


def initial_of(value: cst.BaseExpression, info: RnnInfo) -> list[cst.BaseExpression]:
    """Keras's ``initial_state`` as its tensors: a list's elements, else ``value[i]``."""
    if isinstance(value, cst.List | cst.Tuple):
        return [e.value for e in value.elements if isinstance(e, cst.Element)]
    n = info.states * (2 if info.bidirectional else 1)
    return [_index(value, int_node(i)) for i in range(n)]


def output(emit: TorchEmitter, call: cst.BaseExpression, info: RnnInfo) -> cst.BaseExpression:
    """The Keras output of a layer without return_state, from the torch call."""
    sequence = _index(call, int_node(0))
    if info.sequences:
        return _merged_sequence(emit, sequence, info.merge) if info.bidirectional else sequence
    if not info.bidirectional:
        return _index(sequence, None, int_node(-1))
    h_n: cst.BaseExpression = _index(call, int_node(1))
    if info.kind == "lstm":
        h_n = _index(h_n, int_node(0))
    return _merged_last(emit, h_n, info.merge)


def state_unpacking(
    names: list[str], info: RnnInfo, emit: TorchEmitter | None = None
) -> tuple[cst.BaseAssignTargetExpression, list[str]] | None:
    """For ``out, h[, c] = layer(x)`` (``out, h_fw[, c_fw], h_bw[, c_bw]`` when bidirectional):
    the torch target and the statements that follow it (as code), or None when the names do
    not fit the layer."""
    directions = 2 if info.bidirectional else 1
    if len(names) != 1 + info.states * directions:
        return None
    out, states = names[0], names[1:]
    if info.bidirectional:
        # torch's h_n / c_n under names of their own, then split into the Keras names
        base = out.strip("_") or "rnn"
        holders = [f"{base}_{s}_n" for s in ("h", "c")[: info.states]]
    else:
        holders = states
    if info.kind == "lstm":
        inner = cst.Tuple([cst.Element(cst.Name(n)) for n in holders])
        target = cst.Tuple([cst.Element(cst.Name(out)), cst.Element(inner)], lpar=[], rpar=[])
    else:
        target = cst.Tuple([cst.Element(cst.Name(out)), cst.Element(cst.Name(holders[0]))], lpar=[], rpar=[])
    if not info.bidirectional:
        lines = [f"{', '.join(states)} = {', '.join(f'{s}[-1]' for s in states)}"]
        if not info.sequences:
            lines.append(f"{out} = {out}[:, -1]")
        return target, lines
    values = [f"{holders[s]}[{d}]" for d in range(directions) for s in range(info.states)]
    lines = [f"{', '.join(states)} = {', '.join(values)}"]
    if out == "_":
        return target, lines
    emit = emit or TorchEmitter(frozenset())
    merged: cst.BaseExpression | None = None
    if info.sequences and info.merge != "concat":
        merged = _merged_sequence(emit, cst.Name(out), info.merge)
    elif not info.sequences:
        merged = _merged_last(emit, cst.Name(holders[0]), info.merge)
    if merged is not None:
        lines.append(f"{out} = {code_of(merged)}")
    return target, lines
