"""The tf2torch command: outputs, rule-file errors, user rules and determinism (the bad-input tests
shared with torch2tf are in test_cli.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import assert_bad_input, cli_run

GOOD = """import keras
from keras import layers


def build_model():
    return keras.Sequential([keras.Input(shape=(4,)), layers.Dense(2)])
"""


def test_writes_output_and_record(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text(GOOD)
    code, _, _ = cli_run(["tf2torch", str(src)])
    assert code == 0
    assert "nn.Linear(4, 2)" in (tmp_path / "m_torch.py").read_text()
    assert (tmp_path / "m_torch.migration.json").is_file()
    assert src.read_text() == GOOD, "the source is never modified"


def test_invalid_rule_file(tmp_path: Path) -> None:
    rules = tmp_path / "myrules"
    rules.mkdir()
    (rules / "bad.toml").write_text(
        '[[rule]]\nid = "mine.x"\nkind = "layer"\nmatch = "keras.layers.Conv3D"\n'
        'emit = "torch.nn.Conv3d"\nshape = "nonsense"\n'
    )
    src = tmp_path / "m.py"
    src.write_text(GOOD)
    assert_bad_input(
        tmp_path, ["tf2torch", str(src), "--rules", str(rules)], "bad.toml", "mine.x", "shape", "nonsense"
    )


def test_invalid_hook_for_this_direction(tmp_path: Path) -> None:
    """A torch2tf hook named in a tf2torch rule is an error, not a silent fallback."""
    rules = tmp_path / "myrules"
    rules.mkdir()
    (rules / "bad.toml").write_text(
        '[[rule]]\nid = "mine.y"\nkind = "layer"\nmatch = "keras.layers.Conv3D"\nhook = "conv"\n'
    )
    src = tmp_path / "m.py"
    src.write_text(GOOD)
    assert_bad_input(
        tmp_path, ["tf2torch", str(src), "--rules", str(rules)], "bad.toml", "mine.y", "hook", "unknown hook"
    )


def test_user_rules_extend_the_shipped_ones(tmp_path: Path) -> None:
    rules = tmp_path / "myrules"
    rules.mkdir()
    (rules / "mine.toml").write_text(
        '[[rule]]\nid = "mine.gauss"\nkind = "layer"\nmatch = "keras.layers.GaussianNoise"\n'
        'params = ["stddev", "seed", "name"]\nemit = "torch.nn.Identity"\nweights = "identity"\n'
        'contract = "elementwise"\n\n[rule.args]\nstddev = { drop = true }\nseed = { drop = true }\n'
        "name = { drop = true }\n"
    )
    src = tmp_path / "m.py"
    src.write_text(
        "import keras\nfrom keras import layers\n\n\ndef build_model():\n"
        "    return keras.Sequential([keras.Input(shape=(4,)), layers.GaussianNoise(0.1), layers.Dense(2)])\n"
    )
    code, _, err = cli_run(["tf2torch", str(src), "--rules", str(rules)])
    assert code == 0, err
    assert "nn.Identity()" in (tmp_path / "m_torch.py").read_text()


def test_output_is_byte_identical_across_processes(tmp_path: Path) -> None:
    """Same input, byte-identical output and record, whatever the hash seed."""
    fixture = (
        Path(__file__).resolve().parent.parent / "fixtures" / "tf2torch" / "functional_resnet" / "input.py"
    )
    script = str(Path(sys.executable).with_name("fwmigrate"))
    outs = []
    for seed in ("1", "2"):
        out = tmp_path / f"o{seed}.py"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([script, "tf2torch", str(fixture), "-o", str(out), "-q"], check=True, env=env)
        outs.append((out.read_bytes(), (tmp_path / f"o{seed}.migration.json").read_bytes()))
    assert outs[0] == outs[1] and outs[0][0]
