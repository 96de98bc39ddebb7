"""`fwmigrate rules` and `fwmigrate explain`: the rule catalogue from the command line."""

from __future__ import annotations

import json
from pathlib import Path

from migrator.rules.loader import load_rules
from migrator.types import Direction
from tests.conftest import assert_bad_input, cli_run


def test_rules_lists_both_directions() -> None:
    code, out, _ = cli_run(["rules"])
    assert code == 0
    total = sum(len(load_rules(d).rules) for d in Direction)
    assert out.strip().splitlines()[-1] == f"{total} rules"
    assert "torch2tf.nn.Conv2d" in out and "tf2torch.layers.Conv2D" in out


def test_rules_filters_by_direction_and_prints_json() -> None:
    code, out, _ = cli_run(["rules", "--direction", "tf2torch", "--json"])
    assert code == 0
    data = json.loads(out)
    assert data and all(r["direction"] == "tf2torch" for r in data)
    sgd = next(r for r in data if r["id"] == "tf2torch.optimizers.SGD")
    assert sgd["match"] == ["keras.optimizers.SGD"] and "torch.optim.SGD" in sgd["emits"]


def test_rules_include_an_extra_directory(tmp_path: Path) -> None:
    d = tmp_path / "mine"
    d.mkdir()
    (d / "x.toml").write_text(
        '[[rule]]\nid = "torch2tf.my.Thing"\nkind = "layer"\nmatch = "torch.nn.Thing"\n'
        'emit = "keras.layers.Dense"\nweights = "identity"\nsummary = "mine"\n'
        '[[rule.examples]]\nbefore = "t = nn.Thing()"\nafter = "t = layers.Dense()"\n',
        encoding="utf-8",
    )
    code, out, _ = cli_run(["rules", "--rules", str(d)])
    assert code == 0 and "torch2tf.my.Thing" in out
    code, out, _ = cli_run(["explain", "torch2tf.my.Thing", "--rules", str(d)])
    assert code == 0 and "before: t = nn.Thing()" in out


def test_explain_prints_documentation_and_examples() -> None:
    code, out, _ = cli_run(["explain", "torch2tf.optim.SGD"])
    assert code == 0
    assert out.startswith("torch2tf.optim.SGD (torch2tf, function rule, training_optimizers.toml)")
    assert "Emits: keras.optimizers.SGD | migrator.runtime.keras_support.TorchSGD" in out
    assert "maximize: only False" in out
    assert "before: optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)" in out
    assert "after:  optimizer = keras.optimizers.SGD(learning_rate=0.1, momentum=0.9)" in out


def test_explain_an_unknown_id_suggests_close_ones(tmp_path: Path) -> None:
    assert_bad_input(tmp_path, ["explain", "torch2tf.optim.SDG"], "torch2tf.optim.SDG", "torch2tf.optim.SGD")


def test_a_bad_rule_directory_is_a_usage_error(tmp_path: Path) -> None:
    assert_bad_input(tmp_path, ["rules", "--rules", str(tmp_path / "missing")], "does not exist")
