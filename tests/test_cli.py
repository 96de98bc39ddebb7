"""The migration commands: exit codes, outputs, and one-line errors with nothing written (bad-input
tests run for both torch2tf and tf2torch)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, assert_bad_input, cli_run, listing

GOOD = """import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(x)
"""
PARTIAL = "import torch.nn as nn\n\nbil = nn.Bilinear(8, 8, 16)\nfc = nn.Linear(16, 2)\n"


def test_writes_default_output_and_record(tmp_path: Path) -> None:
    src = tmp_path / "model.py"
    src.write_text(GOOD)
    code, _, err = cli_run(["torch2tf", str(src)])
    assert code == 0
    out = tmp_path / "model_tf.py"
    assert "class Net(keras.Model)" in out.read_text()
    record = json.loads((tmp_path / "model_tf.migration.json").read_text())
    assert record["classes"]["Net"]["base"] == "keras.Model"
    assert "1 migrated" in err or "migrated" in err
    assert src.read_text() == GOOD, "the source file is never modified"


def test_exit_1_when_unsupported_remains_and_output_is_written(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text(PARTIAL)
    code, _, err = cli_run(["torch2tf", str(src), "-o", str(tmp_path / "out.py")])
    assert code == 1
    text = (tmp_path / "out.py").read_text()
    assert "# fwmigrate: unsupported: torch.nn.Bilinear: no rule maps this API" in text
    assert "nn.Bilinear(8, 8, 16)" in text, "what cannot be migrated stays in the output"
    assert "import torch.nn as nn" in text, "the import it still needs is kept"
    assert "layers.Dense(units=2)" in text
    assert f"{src}:3:7: unsupported: torch.nn.Bilinear" in err
    assert "1 unsupported" in err


def test_stdin_to_stdout() -> None:
    code, out, _ = cli_run(["torch2tf", "-", "-q"], input=GOOD)
    assert code == 0
    assert out.startswith("# Migrated from PyTorch by fwmigrate")
    assert "layers.Dense(units=2)" in out


def test_file_to_stdout_writes_nothing(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text(GOOD)
    code, out, _ = cli_run(["torch2tf", str(src), "-o", "-", "-q"])
    assert code == 0 and "keras.Model" in out
    assert listing(tmp_path) == ["m.py"]


def test_diff_prints_and_writes_nothing(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text(GOOD)
    code, out, _ = cli_run(["torch2tf", str(src), "--diff", "-q"])
    assert code == 0
    assert "-class Net(nn.Module):" in out and "+class Net(keras.Model):" in out
    assert listing(tmp_path) == ["m.py"]


def test_force_overwrites(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text(GOOD)
    (tmp_path / "m_tf.py").write_text("old")
    assert cli_run(["torch2tf", str(src), "--force", "-q"])[0] == 0
    assert "keras.Model" in (tmp_path / "m_tf.py").read_text()


# ------------------------------------------------- bad input: exit 2, one line, nothing written


KERAS_GOOD = """import keras
from keras import layers


def build_model():
    return keras.Sequential([keras.Input(shape=(4,)), layers.Dense(2)])
"""
# (command, a good source for it, the default output's suffix); bad input behaves the same in both
COMMANDS = [("torch2tf", GOOD, "_tf"), ("tf2torch", KERAS_GOOD, "_torch")]
each_command = pytest.mark.parametrize(("command", "good", "suffix"), COMMANDS, ids=[c[0] for c in COMMANDS])


@each_command
def test_missing_file(tmp_path: Path, command: str, good: str, suffix: str) -> None:
    assert_bad_input(tmp_path, [command, str(tmp_path / "nope.py")], "nope.py", "no such file")


@each_command
def test_directory_without_python_files(tmp_path: Path, command: str, good: str, suffix: str) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "notes.txt").write_text("not python\n", encoding="utf-8")
    assert_bad_input(tmp_path, [command, str(tmp_path / "pkg")], "pkg", "no *.py files")


@each_command
def test_syntax_error_names_file_and_line(tmp_path: Path, command: str, good: str, suffix: str) -> None:
    src = tmp_path / "bad.py"
    src.write_text("import torch\nimport keras\n\ndef f(:\n    pass\n")
    assert_bad_input(tmp_path, [command, str(src)], "bad.py:4:", "syntax error")


@each_command
def test_non_utf8(tmp_path: Path, command: str, good: str, suffix: str) -> None:
    src = tmp_path / "latin.py"
    src.write_bytes(b"import torch\n# caf\xe9\n")
    assert_bad_input(tmp_path, [command, str(src)], "latin.py:2:", "not valid UTF-8")


@each_command
def test_binary_file(tmp_path: Path, command: str, good: str, suffix: str) -> None:
    src = tmp_path / "blob.py"
    src.write_bytes(b"\x7fELF\x00\x00\x01")
    assert_bad_input(tmp_path, [command, str(src)], "blob.py", "binary")


@each_command
def test_output_exists_without_force(tmp_path: Path, command: str, good: str, suffix: str) -> None:
    src = tmp_path / "m.py"
    src.write_text(good)
    (tmp_path / f"m{suffix}.py").write_text("keep me")
    assert_bad_input(tmp_path, [command, str(src)], f"m{suffix}.py", "exists", "--force")
    assert (tmp_path / f"m{suffix}.py").read_text() == "keep me"


@each_command
def test_output_directory_missing(tmp_path: Path, command: str, good: str, suffix: str) -> None:
    src = tmp_path / "m.py"
    src.write_text(good)
    assert_bad_input(
        tmp_path, [command, str(src), "-o", str(tmp_path / "no" / "out.py")], "out.py", "does not exist"
    )


@each_command
def test_unwritable_output(tmp_path: Path, command: str, good: str, suffix: str) -> None:
    src = tmp_path / "m.py"
    src.write_text(good)
    target = Path("/proc/fwmigrate-test-out.py")  # not writable even for root
    assert_bad_input(tmp_path, [command, str(src), "-o", str(target)], str(target), "cannot write")
    assert not target.exists()


@each_command
def test_output_would_overwrite_source(tmp_path: Path, command: str, good: str, suffix: str) -> None:
    src = tmp_path / "m.py"
    src.write_text(good)
    assert_bad_input(tmp_path, [command, str(src), "-o", str(src), "--force"], "m.py", "overwrite the source")
    assert src.read_text() == good


def test_invalid_rule_file(tmp_path: Path) -> None:
    rules = tmp_path / "myrules"
    rules.mkdir()
    (rules / "bad.toml").write_text(
        '[[rule]]\nid = "mine.x"\nkind = "layer"\nmatch = "torch.nn.GRU"\n'
        'emit = "keras.layers.GRU"\nweigths = "x"\n'
    )
    src = tmp_path / "m.py"
    src.write_text(GOOD)
    assert_bad_input(
        tmp_path,
        ["torch2tf", str(src), "--rules", str(rules)],
        "bad.toml",
        "mine.x",
        "weigths",
        "unknown field",
    )


def test_missing_rule_directory(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text(GOOD)
    assert_bad_input(
        tmp_path,
        ["torch2tf", str(src), "--rules", str(tmp_path / "none")],
        "none",
        "does not exist",
    )


def test_user_rules_extend_the_shipped_ones(tmp_path: Path) -> None:
    rules = tmp_path / "myrules"
    rules.mkdir()
    (rules / "bilinear.toml").write_text(
        '[[rule]]\nid = "mine.Bilinear"\nkind = "layer"\nmatch = "torch.nn.Bilinear"\n'
        'params = ["in1_features", "in2_features", "out_features"]\nemit = "keras.layers.Dense"\n'
        'contract = "last_dim"\n\n[rule.args]\n'
        "in1_features = { drop = true }\nin2_features = { drop = true }\n"
        'out_features = { to = "units" }\n'
    )
    src = tmp_path / "m.py"
    src.write_text(PARTIAL)
    code, out, _ = cli_run(["torch2tf", str(src), "--rules", str(rules), "-o", "-", "-q"])
    assert code == 0
    assert "bil = layers.Dense(units=16)" in out
    assert "torch" not in out.split("fwmigrate (torch2tf)")[1]


def test_user_rules_override_the_shipped_ones(tmp_path: Path) -> None:
    rules = tmp_path / "myrules"
    rules.mkdir()
    (rules / "linear.toml").write_text(
        '[[rule]]\nid = "mine.Linear"\nkind = "layer"\nmatch = "torch.nn.Linear"\n'
        'params = ["in_features", "out_features"]\nemit = "keras.layers.EinsumDense"\n'
        'contract = "last_dim"\n\n[rule.args]\nin_features = { drop = true }\n'
        'out_features = { to = "output_shape" }\n\n[rule.set]\nequation = "\'ab,bc->ac\'"\n'
    )
    src = tmp_path / "m.py"
    src.write_text("import torch.nn as nn\n\nfc = nn.Linear(16, 2)\n")
    code, out, _ = cli_run(["torch2tf", str(src), "--rules", str(rules), "-o", "-", "-q"])
    assert code == 0
    assert "fc = layers.EinsumDense(output_shape=2, equation='ab,bc->ac')" in out


# ---------------------------------------------------------------- the installed console script


def _script() -> str:
    return str(Path(sys.executable).parent / "fwmigrate")


def test_installed_script_runs(tmp_path: Path) -> None:
    src = FIXTURES / "lenet" / "input.py"
    out = tmp_path / "lenet_tf.py"
    proc = subprocess.run(
        [_script(), "torch2tf", str(src), "-o", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == (FIXTURES / "lenet" / "expected.py").read_text()
    assert "0 unsupported" in proc.stderr


def test_installed_script_bad_input(tmp_path: Path) -> None:
    proc = subprocess.run(
        [_script(), "torch2tf", str(tmp_path / "x.py")], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"fwmigrate: error: {tmp_path / 'x.py'}: no such file"


def test_output_is_byte_identical_across_processes(tmp_path: Path) -> None:
    src = FIXTURES / "resnet_block" / "input.py"
    outs = []
    for seed in ("1", "2"):
        out = tmp_path / f"o{seed}.py"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([_script(), "torch2tf", str(src), "-o", str(out), "-q"], check=True, env=env)
        outs.append((out.read_bytes(), (tmp_path / f"o{seed}.migration.json").read_bytes()))
    assert outs[0] == outs[1]


@pytest.mark.parametrize("blocked", [("torch", "tensorflow", "keras")])
def test_static_migration_imports_no_framework(tmp_path: Path, blocked: tuple[str, ...]) -> None:
    """Run the CLI with torch/tensorflow/keras imports made to fail: migration must not need them."""
    code = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ImportError("blocked: " + name)
        return None
sys.meta_path.insert(0, Block())
from migrator.cli import main
try:
    main(["torch2tf", {str(FIXTURES / "convnext_block" / "input.py")!r},
          "-o", {str(tmp_path / "o.py")!r}, "-q"])
except SystemExit as e:
    assert not [m for m in sys.modules if m.split(".")[0] in {blocked!r}], "a framework was imported"
    raise
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "o.py").read_text() == (FIXTURES / "convnext_block" / "expected.py").read_text()
