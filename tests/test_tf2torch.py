"""tf2torch: rule examples, fixture snapshots, static guarantees and the migrated models under torch.

Snapshots refresh like the torch2tf ones (``FWMIGRATE_UPDATE_SNAPSHOTS=1``). Fixtures that still
contain constructs without a tf2torch rule are listed in ``INCOMPLETE``: their snapshots pin the
markers and summary, so a change in what is left unmigrated shows up in review.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import libcst as cst
import pytest

from migrator.api import migrate_source
from migrator.report.summary import render_summary
from migrator.rules.loader import load_rules
from migrator.types import Direction

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "tf2torch"
NAMES = sorted(p.name for p in FIXTURES.iterdir() if (p / "input.py").is_file())
UPDATE = os.environ.get("FWMIGRATE_UPDATE_SNAPSHOTS") == "1"
PREAMBLE = "import keras\nfrom keras import layers\n\n"
# Fixtures that use constructs the tf2torch rules do not cover yet (functional models, recurrent
# layers, ...): they migrate with markers and exit 1.
INCOMPLETE: frozenset[str] = frozenset()

_RULES = load_rules(Direction.TF2TORCH)
CASES = [
    pytest.param(rule, ex, id=f"{rule.id}[{i}]")
    for rule in _RULES.rules
    for i, ex in enumerate(rule.examples)
]
UNCHANGED = [
    pytest.param(rule, code, id=f"{rule.id}[unchanged{i}]")
    for rule in _RULES.rules
    for i, code in enumerate(rule.unchanged)
]


def _body(code: str) -> str:
    lines = code.splitlines()
    i = 0
    while i < len(lines) and (
        not lines[i].strip()
        or lines[i].startswith(("import ", "from ", "# Migrated from Keras by fwmigrate"))
    ):
        i += 1
    return "\n".join(lines[i:]).strip() + "\n"


@pytest.mark.parametrize(("rule", "example"), CASES)
def test_rule_example(rule: Any, example: Any) -> None:
    result = migrate_source(PREAMBLE + example.before.strip() + "\n", Direction.TF2TORCH, _RULES)
    assert _body(result.code) == example.after.strip() + "\n"
    cst.parse_module(result.code)
    again = migrate_source(result.code, Direction.TF2TORCH, _RULES)
    assert again.code == result.code


@pytest.mark.parametrize(("rule", "code"), UNCHANGED)
def test_rule_unchanged(rule: Any, code: str) -> None:
    """Code that only looks like a Keras API (a local class, a string) comes out exactly as it went in."""
    result = migrate_source(PREAMBLE + code.strip() + "\n", Direction.TF2TORCH, _RULES)
    assert _body(result.code) == code.strip() + "\n"


def test_every_rule_has_an_example() -> None:
    missing = [rule.id for rule in _RULES.rules if not rule.examples]
    assert not missing, f"tf2torch rules without [[rule.examples]]: {missing}"
    assert len(UNCHANGED) >= 5


def test_rules_have_examples_and_known_transforms() -> None:
    from migrator.weights import TRANSFORMS

    assert len(CASES) >= 8
    ids = [r.id for r in _RULES.rules]
    assert len(ids) == len(set(ids))
    for rule in _RULES.rules:
        assert rule.id.startswith("tf2torch."), rule.id
        if rule.weights is not None:
            assert rule.weights in TRANSFORMS, f"{rule.id}: unknown weight transform {rule.weights}"


def _check(path: Path, actual: str) -> None:
    if UPDATE:
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"missing snapshot {path}; run with FWMIGRATE_UPDATE_SNAPSHOTS=1"
    assert actual == path.read_text(encoding="utf-8"), f"{path} differs"


@pytest.mark.parametrize("name", NAMES)
def test_fixture_snapshot(name: str) -> None:
    d = FIXTURES / name
    result = migrate_source(
        (d / "input.py").read_text(encoding="utf-8"), Direction.TF2TORCH, _RULES, "input.py"
    )
    _check(d / "expected.py", result.code)
    _check(d / "expected.summary.txt", render_summary(result, "input.py", verbose=True))
    assert result.complete == (name not in INCOMPLETE)
    again = migrate_source(result.code, Direction.TF2TORCH, _RULES)
    assert again.code == result.code, "migrating the output again changed it"


def test_enough_fixtures_and_progress_is_tracked() -> None:
    assert len(NAMES) >= 10
    assert set(NAMES) >= INCOMPLETE


def test_migration_imports_neither_framework(tmp_path: Path) -> None:
    """The static command must not import torch or tensorflow (both are blocked here)."""
    src = tmp_path / "model.py"
    src.write_text((FIXTURES / "lenet_add" / "input.py").read_text(encoding="utf-8"), encoding="utf-8")
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'tensorflow', 'keras'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from migrator.cli import main\n"
        f"main(['tf2torch', {str(src)!r}, '-q'])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "model_torch.py").is_file()


def test_cli_exit_codes(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from migrator.cli import main

    runner = CliRunner()
    ok = tmp_path / "ok.py"
    ok.write_text((FIXTURES / "mlp_sequential" / "input.py").read_text(encoding="utf-8"), encoding="utf-8")
    assert runner.invoke(main, ["tf2torch", str(ok), "-q"]).exit_code == 0
    part = tmp_path / "part.py"
    part.write_text(
        "import keras\n\n"
        "model = keras.Sequential([keras.Input(shape=(4, 4, 4, 1)), keras.layers.Conv3D(2, 3)])\n",
        encoding="utf-8",
    )
    res = runner.invoke(main, ["tf2torch", str(part)])
    assert res.exit_code == 1
    assert "part.py:3" in res.output and "unsupported" in res.output
    assert "# fwmigrate: unsupported: keras.layers.Conv3D" in (tmp_path / "part_torch.py").read_text(
        encoding="utf-8"
    )
    bad = tmp_path / "bad.py"
    bad.write_text("import keras\ndef f(:\n", encoding="utf-8")
    res = runner.invoke(main, ["tf2torch", str(bad)])
    assert res.exit_code == 2
    assert "bad.py:2" in res.output
    assert not (tmp_path / "bad_torch.py").exists()


def _load(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.frameworks
@pytest.mark.parametrize("name", sorted(set(NAMES) - INCOMPLETE))
def test_migrated_model_runs_under_torch(tmp_path: Path, name: str) -> None:
    """The generated torch code imports, builds, and maps an NCHW input to the expected shape."""
    import torch

    from migrator.verify.expr import evaluate

    d = FIXTURES / name
    meta = tomllib.loads((d / "fixture.toml").read_text(encoding="utf-8"))
    out = tmp_path / f"{name}_torch.py"
    out.write_text((d / "expected.py").read_text(encoding="utf-8"), encoding="utf-8")
    module = _load(out, f"_tf2torch_{name}")
    model = evaluate(meta["model"], vars(module))
    model.eval()
    # the record says how each side lays out the input and the output
    result = migrate_source((d / "input.py").read_text(encoding="utf-8"), Direction.TF2TORCH, _RULES)
    classes = {c.name: c for c in result.record.classes}
    owner = classes.get(type(model).__name__) or classes.get(meta["model"].split("(", 1)[0])
    assert owner is not None and owner.outputs, "the record names the model's input and output layouts"
    keras_in = list(meta["input_shape"])
    in_perm = owner.inputs[0].perm if owner.inputs and owner.inputs[0].perm else tuple(range(len(keras_in)))
    shape = [keras_in[k] for k in in_perm]
    if meta["input_dtype"] == "float32":
        x = torch.randn(*shape)
    else:
        x = torch.randint(0, meta["input_high"], shape)
    with torch.no_grad():
        y = model(x)
    perm = owner.outputs[0].perm or tuple(range(y.dim()))
    keras_shape = [0] * y.dim()
    for torch_axis, keras_axis in enumerate(perm):
        keras_shape[keras_axis] = y.shape[torch_axis]
    assert tuple(keras_shape) == tuple(meta["output_shape"])


def test_names_shadowed_by_a_function_are_not_keras() -> None:
    """A parameter or local named like an import (``layers``, ``keras``) is not the import."""
    source = (
        "import keras\nfrom keras import layers\n\n\n"
        "def build(layers):\n    return layers.Dense(8)\n\n\n"
        "def mean(keras, x):\n    return keras.ops.mean(x, axis=1)\n\n\n"
        "def local():\n    layers = Registry()\n    return layers.Dense(4)\n"
    )
    result = migrate_source(source, Direction.TF2TORCH, _RULES)
    assert "layers.Dense(8)" in result.code and "keras.ops.mean(x, axis=1)" in result.code
    assert "layers.Dense(4)" in result.code
    assert not result.findings


def test_input_shape_option(tmp_path: Path) -> None:
    """--input-shape declares the input of model classes that declare none; bad values exit 2."""
    from click.testing import CliRunner

    from migrator.cli import main

    src = tmp_path / "m.py"
    src.write_text(
        "import keras\nfrom keras import layers\n\n\nclass Net(keras.Model):\n"
        "    def __init__(self):\n        super().__init__()\n        self.conv = layers.Conv2D(4, 3)\n"
        "        self.fc = layers.Dense(2)\n\n    def call(self, x):\n"
        "        return self.fc(keras.ops.mean(self.conv(x), axis=(1, 2)))\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    lazy = runner.invoke(main, ["tf2torch", str(src), "-o", str(tmp_path / "lazy.py")])
    assert lazy.exit_code == 0 and "nn.LazyConv2d" in (tmp_path / "lazy.py").read_text(encoding="utf-8")
    args = ["tf2torch", str(src), "-o", str(tmp_path / "s.py"), "--input-shape", "8,8,3"]
    shaped = runner.invoke(main, args)
    code = (tmp_path / "s.py").read_text(encoding="utf-8")
    assert shaped.exit_code == 0 and "nn.Conv2d(3, 4, 3)" in code and "nn.Linear(4, 2)" in code
    bad = runner.invoke(main, ["tf2torch", str(src), "-o", str(tmp_path / "b.py"), "--input-shape", "8x8"])
    assert bad.exit_code == 2 and "--input-shape" in bad.output
    assert not (tmp_path / "b.py").exists()
