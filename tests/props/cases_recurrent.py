"""Cases for the recurrent layer rules, both directions: LSTM, GRU and RNN / SimpleRNN, stacked
(``num_layers``) and bidirectional, time-major and batch-major, with and without initial states,
returning the output sequence and the final states. Input and hidden sizes differ, sequence
lengths are even and odd, the batch is at least 2."""

from __future__ import annotations

from hypothesis import strategies as st

from tests.props import Case

BATCH = st.integers(2, 3)
LENGTH = st.integers(1, 6)
SIZE = st.integers(1, 5)


def _spec(*dims: int) -> str:
    return ",".join(str(d) for d in dims)


@st.composite
def _sizes(draw: st.DrawFn) -> tuple[int, int]:
    """(input size, hidden size), different."""
    features = draw(SIZE)
    hidden = draw(SIZE.filter(lambda h: h != features))
    return features, hidden


# ------------------------------------------------------------------------------------ torch2tf


@st.composite
def torch_recurrent(draw: st.DrawFn, cls: str) -> Case:
    """nn.LSTM / nn.GRU / nn.RNN with random constructor arguments; forward returns the output
    and the states (unpacked), or only the output ([0]), with or without initial states."""
    features, hidden = draw(_sizes())
    layers = draw(st.integers(1, 3))
    bidirectional = draw(st.booleans())
    batch_first = draw(st.booleans())
    bias = draw(st.booleans())
    dropout = draw(st.sampled_from([0.0, 0.0, 0.25]))
    args = [str(features), str(hidden)]
    if layers > 1 or draw(st.booleans()):
        args.append(f"num_layers={layers}")
    if cls == "RNN":
        args.append(f"nonlinearity={draw(st.sampled_from(['tanh', 'relu']))!r}")
    args += [f"bias={bias}", f"batch_first={batch_first}", f"bidirectional={bidirectional}"]
    if dropout:
        args.append(f"dropout={dropout}")
    n, t = draw(BATCH), draw(LENGTH)
    x = _spec(n, t, features) if batch_first else _spec(t, n, features)
    state = _spec(layers * (2 if bidirectional else 1), n, hidden)
    lstm = cls == "LSTM"
    form = draw(st.sampled_from(["states", "initial", "output", "initial_output"]))
    inputs: tuple[str, ...] = (x,)
    if form == "states":
        body = (
            "out, (h, c) = {layer}(x0)\nreturn out, h, c" if lstm else "out, h = {layer}(x0)\nreturn out, h"
        )
    elif form == "initial":
        if lstm:
            body = "out, hidden = {layer}(x0, (x1, x2))\nreturn out, hidden[0], hidden[1]"
            inputs = (x, state, state)
        else:
            body = "out, h = {layer}(x0, x1)\nreturn out, h"
            inputs = (x, state)
    elif form == "output":
        body = "return {layer}(x0)[0]"
    else:
        body = "return {layer}(x0, (x1, x2))[0]" if lstm else "return {layer}(x0, x1)[0]"
        inputs = (x, state, state) if lstm else (x, state)
    # inter-layer dropout is flagged for review (training only); eval outputs are compared
    review = bool(dropout) and layers > 1
    return Case(f"nn.{cls}({', '.join(args)})", inputs, forward=body, allow_review=review)


# ------------------------------------------------------------------------------------ tf2torch


def _keras_rnn(draw: st.DrawFn, cls: str, hidden: int, sequences: bool, state: bool, backwards: bool) -> str:
    args = [str(hidden)]
    if cls == "SimpleRNN":
        act = draw(st.sampled_from(["tanh", "relu", None]))
        if act is not None:
            args.append(f"activation={act!r}")
    if not draw(st.booleans()):
        args.append("use_bias=False")
    if sequences:
        args.append("return_sequences=True")
    if state:
        args.append("return_state=True")
    if backwards:
        args.append("go_backwards=True")
    return f"layers.{cls}({', '.join(args)})"


@st.composite
def keras_recurrent(draw: st.DrawFn, cls: str) -> Case:
    """layers.LSTM / GRU / SimpleRNN: return_sequences, return_state (the model returns the
    output and the states), initial_state=, go_backwards."""
    features, hidden = draw(_sizes())
    n, t = draw(BATCH), draw(LENGTH)
    form = draw(st.sampled_from(["plain", "state", "initial"]))
    backwards = draw(st.integers(0, 2)) == 0
    layer = _keras_rnn(draw, cls, hidden, draw(st.booleans()), form == "state", backwards)
    x = _spec(n, t, features)
    if form != "initial":
        return Case(layer, (x,))
    states = tuple(_spec(n, hidden) for _ in range(2 if cls == "LSTM" else 1))
    given = ", ".join(f"x{i + 1}" for i in range(len(states)))
    return Case(layer, (x, *states), forward=f"{{layer}}(x0, initial_state=[{given}])")


@st.composite
def keras_bidirectional(draw: st.DrawFn) -> Case:
    """layers.Bidirectional(LSTM / GRU / SimpleRNN): every merge mode with a torch form,
    return_sequences, return_state (the forward and backward states), initial_state=."""
    cls = draw(st.sampled_from(["LSTM", "GRU", "SimpleRNN"]))
    features, hidden = draw(_sizes())
    n, t = draw(BATCH), draw(LENGTH)
    form = draw(st.sampled_from(["plain", "state", "initial"]))
    inner = _keras_rnn(draw, cls, hidden, draw(st.booleans()), form == "state", backwards=False)
    merge = draw(st.sampled_from([None, "concat", "sum", "mul", "ave"]))
    layer = f"layers.Bidirectional({inner}" + (f", merge_mode={merge!r})" if merge else ")")
    x = _spec(n, t, features)
    if form != "initial":
        return Case(layer, (x,))
    states = tuple(_spec(n, hidden) for _ in range(4 if cls == "LSTM" else 2))
    given = ", ".join(f"x{i + 1}" for i in range(len(states)))
    return Case(layer, (x, *states), forward=f"{{layer}}(x0, initial_state=[{given}])")


CASES = {
    "torch2tf.nn.LSTM": torch_recurrent("LSTM"),
    "torch2tf.nn.GRU": torch_recurrent("GRU"),
    "torch2tf.nn.RNN": torch_recurrent("RNN"),
    "tf2torch.layers.LSTM": keras_recurrent("LSTM"),
    "tf2torch.layers.GRU": keras_recurrent("GRU"),
    "tf2torch.layers.SimpleRNN": keras_recurrent("SimpleRNN"),
    "tf2torch.layers.Bidirectional": keras_bidirectional(),
}
