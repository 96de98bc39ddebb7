"""Recurrent layers, both directions: what the rules refuse or flag (with the reason), how calls are
rewritten, the stacked weight transforms, and deliberate mistakes that verification must catch.
The equivalence of every migrated combination is the property tests' (tests/props/cases_recurrent.py)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from migrator.api import migrate_source, write_outputs
from migrator.rules.loader import RuleSet, load_rules
from migrator.types import Direction, Severity
from migrator.weights import TransformContext, TransformError, apply_keras_transform, apply_transform

TORCH = "import torch\nimport torch.nn as nn\n\n\n"
KERAS = "import keras\nfrom keras import layers, ops\n\n\n"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tf2torch_rules() -> RuleSet:
    return load_rules(Direction.TF2TORCH)


def _module(init: str, forward: str, params: str = "x") -> str:
    body = "\n".join(f"        {line}" for line in forward.strip().splitlines())
    return (
        f"{TORCH}class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        f"        self.rnn = {init}\n\n    def forward(self, {params}):\n{body}\n"
    )


def _findings(result: Any, severity: Severity) -> list[str]:
    return [f"{f.api}: {f.message}" for f in result.findings if f.severity is severity]


# ------------------------------------------------------------------ torch2tf: refused and flagged

REFUSED_TORCH = [
    ("nn.LSTM(4, 5, proj_size=2)", "return self.rnn(x)[0]", "proj_size=2: Keras LSTM has no projection"),
    ("nn.LSTM(4, 5, num_layers=n)", "return self.rnn(x)[0]", "num_layers=n is not a literal"),
    ("nn.GRU(4, 5, num_layers=0)", "return self.rnn(x)[0]", "num_layers=0 is not a literal from 1 to 16"),
    ("nn.GRU(4, 5, batch_first=flag)", "return self.rnn(x)[0]", "batch_first=flag is not a literal"),
    ("nn.RNN(4, 5, bidirectional=b)", "return self.rnn(x)[0]", "bidirectional=b is not a literal"),
    ("nn.RNN(4, 5, nonlinearity='gelu')", "return self.rnn(x)[0]", "supports only tanh and relu"),
    # the result used whole, or a state taken by index: Keras returns [output, *states]
    ("nn.LSTM(4, 5)", "return self.rnn(x)", "unpack the call"),
    ("nn.GRU(4, 5, num_layers=2)", "return self.rnn(x)[1]", "unpack the call"),
    ("nn.GRU(4, 5)", "y = self.rnn(x)\nreturn y[0]", "unpack the call"),
    ("nn.LSTM(4, 5)", "out, (h, c), extra = self.rnn(x)\nreturn out", "unpack the call"),
    ("nn.GRU(4, 5)", "return self.rnn(x, None, 3)[0]", "only (input, hx) can be passed"),
]


@pytest.mark.parametrize(("init", "forward", "reason"), REFUSED_TORCH)
def test_what_torch2tf_cannot_follow_is_marked_unsupported(
    torch2tf_rules: RuleSet, init: str, forward: str, reason: str
) -> None:
    params = "x, n=2, flag=True, b=False"
    result = migrate_source(_module(init, forward, params), Direction.TORCH2TF, torch2tf_rules)
    bad = _findings(result, Severity.UNSUPPORTED)
    assert any(reason in line for line in bad), bad
    assert "# fwmigrate: unsupported:" in result.code
    assert not result.complete


def test_inter_layer_dropout_is_flagged_only_when_stacked(torch2tf_rules: RuleSet) -> None:
    stacked = migrate_source(
        _module("nn.LSTM(4, 5, num_layers=2, dropout=0.3)", "return self.rnn(x)[0]"),
        Direction.TORCH2TF,
        torch2tf_rules,
    )
    assert [m for m in _findings(stacked, Severity.REVIEW) if "dropout=0.3" in m and "training only" in m]
    single = migrate_source(
        _module("nn.LSTM(4, 5, dropout=0.3)", "return self.rnn(x)[0]"), Direction.TORCH2TF, torch2tf_rules
    )
    assert not _findings(single, Severity.REVIEW)  # torch ignores it for one layer


# ------------------------------------------------------------------ torch2tf: call sites


def test_states_are_stacked_in_torch_order_and_initial_states_split(torch2tf_rules: RuleSet) -> None:
    """Layer-major, direction-minor: h_n[2 * layer + direction], as torch stacks them."""
    src = _module(
        "nn.GRU(4, 5, num_layers=2, bidirectional=True)",
        "out, h = self.rnn(x, h0)\nreturn out[-1], h[-1]",
        "x, h0",
    )
    result = migrate_source(src, Direction.TORCH2TF, torch2tf_rules)
    assert result.complete, _findings(result, Severity.UNSUPPORTED)
    code = result.code
    assert "out, h_0_fw, h_0_bw = self.rnn[0](x, initial_state=[h0[0], h0[1]])" in code
    assert "out, h_1_fw, h_1_bw = self.rnn[1](out, initial_state=[h0[2], h0[3]])" in code
    assert "h = ops.stack([h_0_fw, h_0_bw, h_1_fw, h_1_bw])" in code
    assert "return out[:, -1], h[-1]" in code  # time-major output held batch-major; states as torch's
    record = result.record.to_json()
    assert record["classes"]["Net"]["inputs"][0]["perm"] == [1, 0, 2]
    (layer,) = record["layers"]
    assert layer["transform"] == "gru"
    assert layer["extra"] == {"time_major": True, "num_layers": 2, "bidirectional": True}


def test_a_state_tuple_under_one_name_and_a_computed_hx(torch2tf_rules: RuleSet) -> None:
    src = _module(
        "nn.LSTM(4, 5, batch_first=True)",
        "out, hidden = self.rnn(x, (torch.zeros(1, 2, 5), torch.zeros(1, 2, 5)))\nreturn hidden[0][-1]",
    )
    result = migrate_source(src, Direction.TORCH2TF, torch2tf_rules)
    assert result.complete, _findings(result, Severity.UNSUPPORTED)
    code = result.code
    # the initial state is computed once, then indexed per layer and state
    assert "rnn_hx = (ops.zeros((1, 2, 5)), ops.zeros((1, 2, 5)))" in code
    assert "out, hidden_h, hidden_c = self.rnn(x, initial_state=[rnn_hx[0][0], rnn_hx[1][0]])" in code
    assert "hidden = (ops.expand_dims(hidden_h, 0), ops.expand_dims(hidden_c, 0))" in code


def test_flatten_parameters_goes_and_a_module_list_of_layers_is_followed(torch2tf_rules: RuleSet) -> None:
    src = (
        f"{TORCH}class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.rnns = nn.ModuleList([nn.GRU(4, 4, batch_first=True) for _ in range(2)])\n"
        "        self.lstm = nn.LSTM(4, 5, batch_first=True)\n\n    def forward(self, x):\n"
        "        self.lstm.flatten_parameters()  # cuDNN\n        for rnn in self.rnns:\n"
        "            x, _ = rnn(x, None)\n        out, _ = self.lstm(x)\n        return out\n"
    )
    result = migrate_source(src, Direction.TORCH2TF, torch2tf_rules)
    assert result.complete, _findings(result, Severity.UNSUPPORTED)
    assert "flatten_parameters" not in result.code
    assert "# cuDNN" in result.code  # the statement's comment stays
    assert "x, _ = rnn(x)\n" in result.code  # hx=None is no initial state
    assert "out, _, _ = self.lstm(x)\n" in result.code
    assert [f.message for f in result.findings if "flatten_parameters" in f.api] == [
        "removed: a cuDNN weight-layout hint with no effect on the result"
    ]


# ------------------------------------------------------------------ tf2torch: refused and flagged

REFUSED_KERAS = [
    ("layers.Bidirectional(layers.LSTM(4), merge_mode=None)", "merge_mode=None"),
    ("layers.Bidirectional(layers.GRU(4, go_backwards=True))", "go_backwards=True inside Bidirectional"),
    ('layers.SimpleRNN(4, activation="sigmoid")', "only the tanh and relu nonlinearities"),
    ("layers.SimpleRNN(4, activation=None)", "only the tanh and relu nonlinearities"),
    ('layers.LSTM(4, activation="relu")', "torch LSTM uses tanh"),
    ("layers.GRU(4, reset_after=False)", "reset_after=False"),
    ("layers.GRU(4, stateful=True)", "carry the state between calls"),
]


@pytest.mark.parametrize(("layer", "reason"), REFUSED_KERAS)
def test_what_tf2torch_cannot_migrate_is_marked_unsupported(
    tf2torch_rules: RuleSet, layer: str, reason: str
) -> None:
    src = f"{KERAS}def build_model():\n    return keras.Sequential([keras.Input(shape=(6, 3)), {layer}])\n"
    result = migrate_source(src, Direction.TF2TORCH, tf2torch_rules)
    bad = _findings(result, Severity.UNSUPPORTED)
    assert any(reason in line for line in bad), bad
    assert not result.complete


def test_a_keras_mask_on_a_recurrent_layer_is_unsupported(tf2torch_rules: RuleSet) -> None:
    """torch's recurrent modules have no mask: dropping it would run over the padded steps."""
    subclassed = (
        f"{KERAS}class Enc(keras.layers.Layer):\n    def __init__(self):\n        super().__init__()\n"
        "        self.rnn = layers.GRU(4)\n\n    def call(self, x, m):\n"
        "        return self.rnn(x, mask=m)\n\n\n"
        "def build_model():\n    model = Enc()\n    model.build((None, 5, 3))\n    return model\n"
    )
    functional = (
        f"{KERAS}def build_model():\n    x = keras.Input(shape=(5, 3))\n    m = keras.Input(shape=(5,))\n"
        "    return keras.Model([x, m], layers.LSTM(4)(x, mask=m))\n"
    )
    for src in (subclassed, functional):
        result = migrate_source(src, Direction.TF2TORCH, tf2torch_rules)
        bad = _findings(result, Severity.UNSUPPORTED)
        assert any("a Keras mask skips the masked steps" in line for line in bad), bad


def test_keras_call_sites(tf2torch_rules: RuleSet) -> None:
    """go_backwards flips the input; initial_state becomes hx; bidirectional states split by direction."""
    src = (
        f"{KERAS}class Enc(keras.layers.Layer):\n    def __init__(self):\n        super().__init__()\n"
        "        self.back = layers.SimpleRNN(5, return_sequences=True, go_backwards=True)\n"
        "        self.bi = layers.Bidirectional(layers.GRU(5, return_state=True), merge_mode='sum')\n\n"
        "    def call(self, x, h):\n        y = self.back(x, initial_state=[h])\n"
        "        out, f, b = self.bi(y)\n        return out + f - b\n\n\n"
        "def build_model():\n    model = Enc()\n    model.build((None, 7, 3))\n    return model\n"
    )
    result = migrate_source(src, Direction.TF2TORCH, tf2torch_rules)
    assert result.complete, _findings(result, Severity.UNSUPPORTED)
    code = result.code
    assert "y = self.back(torch.flip(x, dims=(1,)), h.unsqueeze(0))[0]" in code
    assert "out, out_h_n = self.bi(y)" in code
    assert "f, b = out_h_n[0], out_h_n[1]" in code
    assert "out = out_h_n.sum(0)" in code


# ------------------------------------------------------------------ stacked weight transforms


def _state(
    layers: int, directions: int, features: int = 3, hidden: int = 2, gates: int = 4
) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    out = {}
    for k in range(layers):
        for d in ("", "_reverse")[:directions]:
            fin = features if k == 0 else hidden * directions
            out[f"weight_ih_l{k}{d}"] = rng.standard_normal((gates * hidden, fin)).astype(np.float32)
            out[f"weight_hh_l{k}{d}"] = rng.standard_normal((gates * hidden, hidden)).astype(np.float32)
            out[f"bias_ih_l{k}{d}"] = rng.standard_normal(gates * hidden).astype(np.float32)
            out[f"bias_hh_l{k}{d}"] = rng.standard_normal(gates * hidden).astype(np.float32)
    return out


def test_stacked_transforms_order_layers_then_directions() -> None:
    state = _state(2, 2)
    arrays = apply_transform("lstm", state)
    assert len(arrays) == 12
    # layer 0 forward, layer 0 backward, layer 1 forward, layer 1 backward
    np.testing.assert_array_equal(arrays[3], state["weight_ih_l0_reverse"].T)
    np.testing.assert_array_equal(arrays[6], state["weight_ih_l1"].T)
    np.testing.assert_array_equal(arrays[11], state["bias_ih_l1_reverse"] + state["bias_hh_l1_reverse"])
    back = apply_keras_transform("lstm", arrays, TransformContext(rnn_layers=2, bidirectional=True))
    assert list(back) == list(state)  # torch's state_dict order
    np.testing.assert_array_equal(back["weight_hh_l1_reverse"], state["weight_hh_l1_reverse"])


def test_stacked_transforms_name_what_is_wrong() -> None:
    state = _state(3, 1)
    del state["weight_ih_l1"], state["weight_hh_l1"], state["bias_ih_l1"], state["bias_hh_l1"]
    with pytest.raises(TransformError, match=r"'lstm'.*layers \[0, 2\] are not numbered 0 to 1"):
        apply_transform("lstm", state)
    half = _state(2, 2)
    del half["weight_ih_l1_reverse"]
    with pytest.raises(TransformError, match=r"'lstm'.*layer 1_reverse: missing 'weight_ih_l1_reverse'"):
        apply_transform("lstm", half)
    with pytest.raises(TransformError, match=r"'gru'.*layer 0: .*not 3 gates"):
        apply_transform("gru", _state(2, 1))
    arrays = apply_transform("simple_rnn", _state(2, 1, gates=1))
    with pytest.raises(TransformError, match=r"'simple_rnn'.*6 arrays do not split into 4 layers"):
        apply_keras_transform("simple_rnn", arrays, TransformContext(rnn_layers=2, bidirectional=True))


# ------------------------------------------------------------------ verification catches mistakes


def _verify(direction: Direction, name: str, tmp_path: Path, spec: str, model: str) -> Any:
    from migrator.verify import worker
    from migrator.verify.result import Tolerance
    from migrator.verify.spec import LoadMode

    src = tmp_path / "model.py"
    src.write_text((ROOT / "fixtures" / direction.value / name / "input.py").read_text("utf-8"), "utf-8")
    result = migrate_source(src.read_text("utf-8"), direction, None, "model.py")
    out = tmp_path / "migrated.py"
    record = write_outputs(result, out, force=True)
    request = {
        "original": str(src),
        "migrated": str(out),
        "record": str(record),
        "direction": direction.value,
        "model": model,
        "inputs": [spec],
        "samples": 1,
        "seed": 0,
        "tolerance": asdict(Tolerance()),
        "load_mode": LoadMode.GUARDED.value,
        "warnings": [],
    }
    return worker.run(request)


@pytest.mark.frameworks
def test_swapped_directions_are_caught_and_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stacked transform with each layer's forward and backward weights swapped: the Keras
    Bidirectional runs them in the wrong directions."""
    from migrator.verify import transfer

    real = apply_transform  # what migrator.verify.transfer calls

    def swapped(name: str, state: Mapping[str, np.ndarray], ctx: Any = None) -> list[np.ndarray]:
        good = real(name, state, ctx) if ctx is not None else real(name, state)
        if name != "lstm":
            return good
        groups = [good[i : i + 3] for i in range(0, len(good), 3)]
        return [a for i in range(0, len(groups), 2) for g in (groups[i + 1], groups[i]) for a in g]

    monkeypatch.setattr(transfer, "apply_transform", swapped)
    result = _verify(Direction.TORCH2TF, "bilstm_text", tmp_path, "2,12:int64:0:200", "BiLSTMText()")
    assert not result.equivalent
    first = result.first_divergent_layer
    assert first is not None and first.source == "lstm", [(c.source, c.status.value) for c in result.layers]


@pytest.mark.frameworks
def test_a_wrong_state_order_in_the_migrated_code_is_caught(tmp_path: Path) -> None:
    """h_n stacked direction-major instead of layer-major: the head reads the wrong states."""
    from migrator.verify import worker

    result = _verify(Direction.TORCH2TF, "bilstm_text", tmp_path, "2,12:int64:0:200", "BiLSTMText()")
    assert result.equivalent
    migrated = tmp_path / "migrated.py"
    code = migrated.read_text("utf-8")
    good = "ops.stack([h_n_0_fw, h_n_0_bw, h_n_1_fw, h_n_1_bw])"
    assert good in code
    migrated.write_text(code.replace(good, "ops.stack([h_n_0_fw, h_n_1_fw, h_n_0_bw, h_n_1_bw])"), "utf-8")
    record = json.loads((tmp_path / "migrated.migration.json").read_text("utf-8"))
    assert record["layers"][1]["extra"] == {"time_major": False, "num_layers": 2, "bidirectional": True}
    request = {
        "original": str(tmp_path / "model.py"),
        "migrated": str(migrated),
        "record": str(tmp_path / "migrated.migration.json"),
        "direction": "torch2tf",
        "model": "BiLSTMText()",
        "inputs": ["2,12:int64:0:200"],
        "samples": 1,
        "seed": 0,
        "tolerance": {"atol": 1e-6, "rtol": 1e-5, "fail_rtol": 1e-4},
        "load_mode": "guarded",
        "warnings": [],
    }
    assert not worker.run(request).equivalent


@pytest.mark.frameworks
def test_tf2torch_fixture_with_unflipped_go_backwards_is_caught(tmp_path: Path) -> None:
    """Without the torch.flip a go_backwards layer reads the sequence forwards: not equivalent."""
    from migrator.verify import worker
    from migrator.verify.result import Tolerance
    from migrator.verify.spec import LoadMode

    src = tmp_path / "model.py"
    src.write_text(
        f"{KERAS}def build_model():\n    x = keras.Input(shape=(6, 3))\n"
        "    return keras.Model(x, layers.GRU(4, go_backwards=True, return_sequences=True)(x))\n",
        "utf-8",
    )
    result = migrate_source(src.read_text("utf-8"), Direction.TF2TORCH, None, "model.py")
    out = tmp_path / "migrated.py"
    record = write_outputs(result, out, force=True)
    code = out.read_text("utf-8")
    assert "torch.flip(x, dims=(1,))" in code

    def run() -> bool:
        request = {
            "original": str(src),
            "migrated": str(out),
            "record": str(record),
            "direction": "tf2torch",
            "model": "build_model()",
            "inputs": ["2,6,3"],
            "samples": 1,
            "seed": 0,
            "tolerance": asdict(Tolerance()),
            "load_mode": LoadMode.GUARDED.value,
            "warnings": [],
        }
        return bool(worker.run(request).equivalent)

    assert run()
    out.write_text(code.replace("torch.flip(x, dims=(1,))", "x"), "utf-8")
    assert not run()
