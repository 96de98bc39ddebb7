"""torch2tf recurrent layers: nn.LSTM / nn.GRU / nn.RNN become stock Keras layers, and the places
that call them are rewritten so that code reading torch's results keeps working.

A torch recurrent module is one object for every layer and direction, and returns
``(output, h_n)`` (``(output, (h_n, c_n))`` for an LSTM) with the states stacked as
``(num_layers * num_directions, N, H)``. The Keras form is one layer per torch layer
(``layers.Bidirectional`` for two directions; a list of them for ``num_layers > 1``), each built
with ``return_sequences=True, return_state=True`` and returning ``[output, *states]``: ``[out, h,
c]`` for an LSTM, ``[out, h_fw, c_fw, h_bw, c_bw]`` when bidirectional, each state ``(N, H)``.

Where the call is unpacked (``out, (h_n, c_n) = self.lstm(x, (h0, c0))``) it becomes one call per
layer with ``initial_state=[h0[k], c0[k], ...]`` (torch's layer-major, direction-minor order) and
the states are stacked back into torch's shape, so ``h_n[-1]`` / ``h_n[-2:]`` keep their meaning.
``self.lstm(x)[0]`` becomes the chain of layer calls. Any other use of the result is marked.
Time-major tensors (``batch_first=False``) are held batch-major by the layout tracking; states
are batch-second in both frameworks and need nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import libcst as cst

from migrator.engine.site import CallSite, HookResult, ModuleInfo, Note, Tools
from migrator.rules.schema import Contract
from migrator.transforms.common import NOT_LITERAL, code_of, literal
from migrator.types import Severity

# weight transform name (the rule's `weights`) -> the Keras layer and the number of states
KINDS: Mapping[str, tuple[str, int]] = MappingProxyType(
    {
        "lstm": ("keras.layers.LSTM", 2),
        "gru": ("keras.layers.GRU", 1),
        "simple_rnn": ("keras.layers.SimpleRNN", 1),
    }
)
MAX_LAYERS = 16  # the weight transforms accept *_l0 .. *_l15
_HANDLED = ("batch_first", "num_layers", "bidirectional", "dropout")
UNPACK_HINT = (
    "Keras returns [output, *states] for each layer and direction: unpack the call "
    "(`out, h_n = ...`, `out, (h_n, c_n) = ...`) or take its [0]"
)


def lstm(site: CallSite, tools: Tools) -> HookResult | str:
    """nn.LSTM -> layers.LSTM(units, return_sequences=True, return_state=True) per layer."""
    return _layer(site, tools, "lstm")


def gru(site: CallSite, tools: Tools) -> HookResult | str:
    """nn.GRU -> layers.GRU(..., reset_after=True) per layer; the `gru` weight transform reorders
    the gates ([r, z, n] in torch, [z, r, h] in Keras)."""
    return _layer(site, tools, "gru")


def rnn(site: CallSite, tools: Tools) -> HookResult | str:
    """nn.RNN (tanh or relu) -> layers.SimpleRNN(units, activation=...) per layer."""
    return _layer(site, tools, "simple_rnn")


def _flag(site: CallSite, name: str, default: bool) -> bool | str:
    node = site.bound.get(name)
    value = literal(node) if node is not None else default
    if not isinstance(value, bool):
        shown = code_of(node) if node is not None else ""
        return f"{name}={shown} is not a literal True/False: the Keras layers are built statically"
    return value


def _layer(site: CallSite, tools: Tools, kind: str) -> HookResult | str:
    batch_first = _flag(site, "batch_first", False)
    if isinstance(batch_first, str):
        return batch_first
    bidirectional = _flag(site, "bidirectional", False)
    if isinstance(bidirectional, str):
        return bidirectional
    node = site.bound.get("num_layers")
    layers = literal(node) if node is not None else 1
    if isinstance(layers, bool) or not isinstance(layers, int) or not 1 <= layers <= MAX_LAYERS:
        shown = code_of(node) if node is not None else ""
        return (
            f"num_layers={shown} is not a literal from 1 to {MAX_LAYERS}: one Keras layer is built "
            "per torch layer"
        )
    notes: list[Note] = []
    dropout = site.bound.get("dropout")
    rate = literal(dropout) if dropout is not None else 0
    if dropout is not None and layers > 1 and (rate is NOT_LITERAL or rate != 0):
        notes.append(
            Note(
                Severity.REVIEW,
                f"dropout={code_of(dropout)}: torch drops the outputs between the stacked layers "
                "in training only; the Keras stack does not (inference is identical)",
            )
        )
    mapped = tools.map_args(site, skip=_HANDLED)
    if mapped.unsupported is not None:
        return mapped.unsupported
    expr: cst.BaseExpression = tools.call(KINDS[kind][0], mapped.args)
    if bidirectional:
        expr = tools.call("keras.layers.Bidirectional", [cst.Arg(expr)])
    shape = []
    if layers > 1:  # a list, not a comprehension: layer 0 reads the input, the others H * dirs
        space = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
        expr = cst.List(
            [cst.Element(expr.deep_clone(), comma=space) for _ in range(layers - 1)] + [cst.Element(expr)]
        )
        shape.append(f"{layers} stacked layers")
    if bidirectional:
        shape.append("bidirectional")
    extra: dict[str, object] = {"time_major": not batch_first}
    if layers > 1:
        extra["num_layers"] = layers
    if bidirectional:
        extra["bidirectional"] = True
    if shape:
        notes.append(Note(Severity.MIGRATED, ", ".join(shape)))
    info = ModuleInfo(
        Contract.SEQUENCE,
        rank=3,
        rule_id=site.rule.id,
        transform=site.rule.weights,
        line=site.line,
        extra=extra,
    )
    return HookResult(expr, module=info, notes=(*mapped.notes, *notes))


# ------------------------------------------------------------------------------ call sites


@dataclass(frozen=True)
class Stack:
    """What the Keras form of one torch recurrent module is made of."""

    kind: str  # "lstm", "gru" or "simple_rnn"
    layers: int
    directions: int

    @property
    def states(self) -> int:
        return KINDS[self.kind][1]

    def suffix(self, layer: int, direction: int) -> str:
        """Name suffix of one layer's, one direction's state (none for a single layer and direction)."""
        out = f"_{layer}" if self.layers > 1 else ""
        if self.directions == 2:
            out += ("_fw", "_bw")[direction]
        return out


def stack_of(info: ModuleInfo) -> Stack | None:
    """The stack a recurrent layer rule built (None for anything else)."""
    kind = info.transform
    if info.contract is not Contract.SEQUENCE or kind is None or kind not in KINDS:
        return None
    layers = info.extra.get("num_layers", 1)
    return Stack(kind, layers if isinstance(layers, int) else 1, 2 if info.extra.get("bidirectional") else 1)


@dataclass(frozen=True)
class RnnCall:
    """A call of a migrated recurrent layer in ``forward``: ``self.lstm(x[, hx])``."""

    stack: Stack
    layer: cst.BaseExpression  # the layer attribute (self.lstm)
    x: cst.BaseExpression  # the input, already in the layout the layer takes
    hx: cst.BaseExpression | None


def parse_call(call: cst.Call, stack: Stack) -> RnnCall | str:
    """The input and the initial state of a call, or why the call cannot be followed."""
    args = list(call.args)
    if not args or args[0].keyword is not None or args[0].star:
        return "the input must be the first positional argument"
    if len(args) > 2:
        return "only (input, hx) can be passed"
    hx = None
    if len(args) == 2:
        a = args[1]
        if a.star or (a.keyword is not None and a.keyword.value != "hx"):
            return "only (input, hx) can be passed"
        hx = None if isinstance(a.value, cst.Name) and a.value.value == "None" else a.value
    return RnnCall(stack, call.func, args[0].value, hx)


_SIMPLE = (cst.Name, cst.Attribute, cst.Subscript, cst.Call)


def _operand(expr: cst.BaseExpression) -> str:
    text = code_of(expr.with_changes(lpar=[], rpar=[]))
    return text if isinstance(expr, _SIMPLE) else f"({text})"


def _state_parts(rc: RnnCall) -> list[str]:
    """The code of each initial state tensor (h, then c for an LSTM), each (layers*dirs, N, H)."""
    assert rc.hx is not None
    n = rc.stack.states
    hx = rc.hx
    if n > 1 and isinstance(hx, cst.Tuple) and len(hx.elements) == n:
        return [_operand(e.value) for e in hx.elements]
    if n == 1:
        return [_operand(hx)]
    return [f"{_operand(hx)}[{s}]" for s in range(n)]


def _layer_call(rc: RnnCall, i: int, seq: str, parts: Sequence[str] | None) -> str:
    st = rc.stack
    layer = code_of(rc.layer)
    if st.layers > 1:
        layer = f"{layer}[{i}]"
    if parts is None:
        return f"{layer}({seq})"
    initial = ", ".join(f"{p}[{i * st.directions + d}]" for d in range(st.directions) for p in parts)
    return f"{layer}({seq}, initial_state=[{initial}])"


def output_expr(rc: RnnCall) -> cst.BaseExpression:
    """``self.lstm(x, hx)[0]``: the output sequence of the last layer."""
    parts = _state_parts(rc) if rc.hx is not None else None
    seq = code_of(rc.x)
    for i in range(rc.stack.layers):
        seq = f"{_layer_call(rc, i, seq, parts)}[0]"
    return cst.parse_expression(seq)


@dataclass(frozen=True)
class Unpacked:
    """The statements that replace ``out, state = self.rnn(x, hx)``, and the names they bind."""

    statements: tuple[cst.SimpleStatementLine, ...]
    output: str | None  # the output sequence's name
    states: tuple[str, ...]  # names bound to (layers*dirs, N, H) tensors
    tuples: tuple[str, ...]  # names bound to an LSTM's (h_n, c_n) tuple


def _is_simple(expr: cst.BaseExpression) -> bool:
    """A name, attribute or subscript of one (or a tuple of them): cheap to read repeatedly."""
    if isinstance(expr, cst.Tuple):
        return all(_is_simple(e.value) for e in expr.elements)
    while isinstance(expr, cst.Attribute | cst.Subscript):
        expr = expr.value
    return isinstance(expr, cst.Name)


def _name(node: cst.BaseExpression) -> str | None:
    return node.value if isinstance(node, cst.Name) else None


def unpack(rc: RnnCall, target: cst.BaseAssignTargetExpression, base: str, tools: Tools) -> Unpacked | str:
    """``out, h_n = self.gru(x, h0)`` / ``out, (h_n, c_n) = self.lstm(x, (h0, c0))`` / ``out,
    hidden = self.lstm(x, hidden)``: one call per layer, then the states stacked as torch's.
    ``base`` names temporaries (the layer attribute's name)."""
    st = rc.stack
    if not isinstance(target, cst.Tuple) or len(target.elements) != 2:
        return UNPACK_HINT
    out = _name(target.elements[0].value)
    state = target.elements[1].value
    if out is None:
        return UNPACK_HINT
    whole: str | None = None  # an LSTM's (h_n, c_n) bound to one name
    if st.states == 2 and isinstance(state, cst.Tuple) and len(state.elements) == 2:
        names = [_name(e.value) for e in state.elements]
    elif isinstance(state, cst.Name):
        if st.states == 2 and state.value != "_":
            whole = state.value
            names = [f"{whole}_h", f"{whole}_c"]
        else:
            names = [state.value] * st.states
    else:
        return UNPACK_HINT
    if any(n is None for n in names):
        return UNPACK_HINT
    finals = [n for n in names if n is not None]
    lines: list[str] = []
    parts: list[str] | None = None
    if rc.hx is not None:
        parts = _state_parts(rc)
        if not _is_simple(rc.hx) and st.layers * st.directions * st.states > 1:
            # evaluated once, not once per layer and direction
            lines.append(f"{base}_hx = {code_of(rc.hx)}")
            rc = RnnCall(st, rc.layer, rc.x, cst.Name(f"{base}_hx"))
            parts = _state_parts(rc)
    seq = out if out != "_" or st.layers == 1 else f"{base}_out"
    current = code_of(rc.x)
    for i in range(st.layers):
        targets = [seq]
        for d in range(st.directions):
            targets.extend(n if n == "_" else f"{n}{st.suffix(i, d)}" for n in finals)
        lines.append(f"{', '.join(targets)} = {_layer_call(rc, i, current, parts)}")
        current = seq
    stacked = []
    for n in finals:
        if n == "_":
            continue
        each = [f"{n}{st.suffix(i, d)}" for i in range(st.layers) for d in range(st.directions)]
        if len(each) == 1:
            stacked.append((n, f"{code_of(tools.name('keras.ops.expand_dims'))}({each[0]}, 0)"))
        else:
            stacked.append((n, f"{code_of(tools.name('keras.ops.stack'))}([{', '.join(each)}])"))
    if whole is not None:
        lines.append(f"{whole} = ({', '.join(v for _, v in stacked)})")
    elif stacked:
        lines.append(f"{', '.join(n for n, _ in stacked)} = {', '.join(v for _, v in stacked)}")
    statements = tuple(_statement(line) for line in lines)
    tensors = () if whole is not None else tuple(n for n, _ in stacked)
    return Unpacked(statements, None if out == "_" else out, tensors, (whole,) if whole else ())


def _statement(line: str) -> cst.SimpleStatementLine:
    stmt = cst.parse_statement(line + "\n")
    assert isinstance(stmt, cst.SimpleStatementLine)
    return stmt


def replace_line(
    line: cst.SimpleStatementLine, new: Sequence[cst.SimpleStatementLine]
) -> cst.FlattenSentinel[cst.BaseStatement]:
    """``new`` in place of ``line``: its comments and markers go to the first statement, its
    trailing comment to the last."""
    out = list(new)
    out[0] = out[0].with_changes(leading_lines=line.leading_lines)
    out[-1] = out[-1].with_changes(trailing_whitespace=line.trailing_whitespace)
    return cst.FlattenSentinel(out)
