"""User code runs in a subprocess: a model that hangs, raises, exits or prints gives a clean
one-line error or result, never a hung or garbled CLI."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrator.cli import main

MODEL = """import torch.nn as nn
{pre}

class Net(nn.Module):
    def __init__(self, width=4):
        super().__init__()
        {init}
        self.fc = nn.Linear(3, width)

    def forward(self, x):
        return self.fc(x)
{post}
"""


def _files(tmp_path: Path, pre: str = "", init: str = "pass", post: str = "") -> tuple[Path, Path]:
    src = tmp_path / "m.py"
    src.write_text(MODEL.format(pre=pre, init=init, post=post))
    assert CliRunner().invoke(main, ["torch2tf", str(src), "-q"]).exit_code == 0
    return src, tmp_path / "m_tf.py"


def _verify(src: Path, out: Path, *extra: str, model: str = "Net") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "fwmigrate"),
            "verify",
            str(src),
            str(out),
            "--model",
            model,
            "--input",
            "2,3",
            "--samples",
            "1",
            *extra,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


@pytest.mark.frameworks
def test_a_model_that_sleeps_forever_is_stopped_by_the_timeout(tmp_path: Path) -> None:
    src, out = _files(tmp_path, pre="import time", init="time.sleep(10**6)")
    t0 = time.monotonic()
    proc = _verify(src, out, "--timeout", "30")
    assert time.monotonic() - t0 < 90
    assert proc.returncode == 2
    assert "timed out after 30 s" in proc.stdout


@pytest.mark.frameworks
def test_constructor_exception_is_exit_2_with_its_message(tmp_path: Path) -> None:
    src, out = _files(tmp_path, init='raise ValueError("width must be even")')
    proc = _verify(src, out)
    assert proc.returncode == 2
    assert "ValueError: width must be even" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


@pytest.mark.frameworks
def test_guarded_script_code_does_not_run_and_prints_do_not_leak(tmp_path: Path) -> None:
    post = (
        'print("TRAINING OUTPUT")\n'
        'if __name__ == "__main__":\n    raise SystemExit("training would start here")\n'
    )
    src, out = _files(tmp_path, post=post)
    proc = _verify(src, out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "equivalent" in proc.stdout
    assert "TRAINING OUTPUT" not in proc.stdout + proc.stderr


@pytest.mark.frameworks
def test_unguarded_script_needs_definitions_only(tmp_path: Path) -> None:
    post = "import sys\nargs = sys.argv[1:]\nsys.exit(3)\n"
    src, out = _files(tmp_path, post=post)
    proc = _verify(src, out)
    assert proc.returncode == 2
    assert "exited with code 3" in proc.stdout or "SystemExit" in proc.stdout
    proc = _verify(src, out, "--definitions-only")
    assert proc.returncode == 0, proc.stdout


@pytest.mark.frameworks
def test_model_expression_with_arguments(tmp_path: Path) -> None:
    src, out = _files(tmp_path)
    proc = _verify(src, out, model="Net(width=6)")
    assert proc.returncode == 0, proc.stdout


def _bad(args: list[str], *expect: str) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    for e in expect:
        assert e in lines[0]


def test_usage_errors_are_one_line(tmp_path: Path) -> None:
    src, out = _files(tmp_path)
    _bad(["verify", str(src), str(out), "--input", "2,3"], "--model is required")
    _bad(["verify", str(src), str(out), "--model", "Net"], "--input")
    _bad(["verify", str(src), str(out), "--model", "Net", "--input", "2,x"], "comma-separated integers")
    _bad(["verify", str(src), str(out), "--model", "Net", "--input", "2,3:int64"], "LOW:HIGH")
    _bad(
        ["verify", str(src), str(out), "--model", "__import__('os').system('true')", "--input", "2,3"],
        "not allowed",
    )
    _bad(
        ["verify", str(src), str(tmp_path / "nope.py"), "--model", "Net", "--input", "2,3"],
        "nope.py",
        "no such file",
    )
    (tmp_path / "m_tf.migration.json").unlink()
    _bad(["verify", str(src), str(out), "--model", "Net", "--input", "2,3"], "no migration record")
