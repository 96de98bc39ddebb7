"""Shared test helpers. Tests needing torch/TensorFlow are marked `frameworks`; CI installs both and
runs them (skipping is not passing)."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from migrator.rules.loader import RuleSet, load_rules
from migrator.types import Direction

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The rule cache of the test run (and of the commands it starts) lives apart from the user's.
if "FWMIGRATE_CACHE_DIR" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="fwmigrate-test-cache-")
    os.environ["FWMIGRATE_CACHE_DIR"] = _cache
    atexit.register(shutil.rmtree, _cache, True)

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "torch2tf"

# Rule examples are fragments: this preamble is put in front of `before`, and the generated
# header and import block are cut from the output before it is compared with `after`.
PREAMBLE = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n"


@pytest.fixture(scope="session")
def torch2tf_rules() -> RuleSet:
    return load_rules(Direction.TORCH2TF)


def body_after_imports(code: str) -> str:
    """The output without the header comment and the top import block."""
    lines = code.splitlines()
    i = 0
    while i < len(lines) and (
        not lines[i].strip()
        or lines[i].startswith(("import ", "from ", "# Migrated from PyTorch by fwmigrate"))
    ):
        i += 1
    return "\n".join(lines[i:]).strip() + "\n"


def fixture_spec(name: str) -> tuple[str, str]:
    """(model expression, --input SPEC) for a fixture, from its fixture.toml."""
    import tomllib

    meta = tomllib.loads((FIXTURES / name / "fixture.toml").read_text(encoding="utf-8"))
    shape = ",".join(str(d) for d in meta["input_shape"])
    if meta.get("input_dtype") == "int64":
        shape += f":int64:0:{meta['input_high']}"
    return meta["model"], shape


def migrate_fixture(name: str, directory: Path) -> tuple[Path, Path]:
    """Copy a fixture's input to ``directory/model.py`` and migrate it beside; returns both paths."""
    from migrator.api import load_rules, migrate_source, write_outputs
    from migrator.types import Direction

    src = directory / "model.py"
    src.write_text((FIXTURES / name / "input.py").read_text(encoding="utf-8"), encoding="utf-8")
    result = migrate_source(
        src.read_text(encoding="utf-8"), Direction.TORCH2TF, load_rules(Direction.TORCH2TF), "model.py"
    )
    out = directory / "model_tf.py"
    write_outputs(result, out, force=True)
    return src, out


def run_stock(script: str, paths: list[Path]) -> str:
    """The output of ``script`` (``python -c``, from the repository root) run with ``paths`` as
    arguments in a process of its own: one where fwmigrate has replaced nothing in libcst."""
    proc = subprocess.run(
        [sys.executable, "-c", script, *map(str, paths)], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return proc.stdout


def cli_run(args: list[str], input: str | None = None) -> tuple[int, str, str]:
    """Run the fwmigrate CLI in-process: (exit code, stdout, stderr)."""
    from click.testing import CliRunner

    from migrator.cli import main

    result = CliRunner().invoke(main, args, input=input)
    return result.exit_code, result.stdout, result.stderr


def listing(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


def assert_bad_input(tmp_path: Path, args: list[str], *expect: str) -> None:
    """Exit 2, one line on stderr containing each of ``expect``, nothing on stdout, nothing written."""
    before = listing(tmp_path)
    code, out, err = cli_run(args)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for e in expect:
        assert e in lines[0]
    assert out == ""
    assert listing(tmp_path) == before, "nothing is written on bad input"


def layernorm_atol(x: Any, want: Any) -> float:
    """The bound for a layer norm over the last axis: normalising divides float32 rounding by the
    row's spread, so a row of two nearly equal values (c=2) is ill-conditioned and the bound grows
    with 1/std like the error does."""
    import numpy as np

    spread = float(np.sqrt(x.var(axis=-1).min() + 1e-5))
    scale = float(np.abs(want).max())
    conditioning = max(1.0, float(np.abs(x).max()) / spread)
    return 1e-5 * scale + 1e-6 * conditioning
