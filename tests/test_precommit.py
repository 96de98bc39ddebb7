"""The pre-commit hook, end to end: pre-commit (from PyPI, a test dependency) installs this
checkout as a hook repository into a throwaway git project, and real commits pass or are refused.

The hook repository is a snapshot of this checkout's working tree (tracked and untracked files,
nothing git ignores), committed in a temporary repository, so the test exercises the code under
test rather than the last commit. pre-commit builds the hook's environment with pip (fwmigrate
and its four dependencies, no framework), so this test needs the package index; it takes about
half a minute.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import FIXTURES, ROOT

UNPORTABLE = """import torch.nn as nn


class Upscale(nn.Module):
    def __init__(self):
        super().__init__()
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x):
        return self.shuffle(x)
"""


def _git(cwd: Path, *args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, text=True, capture_output=True, check=check, timeout=600
    )


def _snapshot(dest: Path, env: dict[str, str]) -> str:
    """A git repository at ``dest`` holding this checkout's working tree; its commit sha."""
    listed = _git(ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard", env=env).stdout
    for name in filter(None, listed.split("\0")):
        src = ROOT / name
        if src.is_file():  # a tracked file deleted in the working tree is left out
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    _git(dest, "init", "-q", env=env)
    _git(dest, "add", "-A", env=env)
    _git(dest, "commit", "-q", "-m", "snapshot", env=env)
    return _git(dest, "rev-parse", "HEAD", env=env).stdout.strip()


def test_hook_passes_a_portable_commit_and_refuses_an_unportable_one(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_CONFIG_GLOBAL": str(tmp_path / "gitconfig"),  # no user settings (hooks paths, signing)
    }
    hooks = tmp_path / "hookrepo"
    hooks.mkdir()
    sha = _snapshot(hooks, env)

    project = tmp_path / "project"
    project.mkdir()
    _git(project, "init", "-q", env=env)
    (project / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {hooks}\n    rev: {sha}\n    hooks:\n      - id: fwmigrate-portability\n",
        encoding="utf-8",
    )
    subprocess.run(
        [sys.executable, "-m", "pre_commit", "install"], cwd=project, env=env, check=True, capture_output=True
    )

    (project / "mlp.py").write_text((FIXTURES / "mlp" / "input.py").read_text(encoding="utf-8"))
    (project / "notes.py").write_text("def add(a, b):\n    return a + b\n", encoding="utf-8")
    _git(project, "add", "mlp.py", "notes.py", ".pre-commit-config.yaml", env=env)
    passed = _git(project, "commit", "-m", "portable model", env=env, check=False)
    shown = passed.stdout + passed.stderr  # git runs the hook with its output on stderr
    assert passed.returncode == 0, shown
    assert "fwmigrate portability check" in shown and "Passed" in shown

    (project / "upscale.py").write_text(UNPORTABLE, encoding="utf-8")
    _git(project, "add", "upscale.py", env=env)
    refused = _git(project, "commit", "-m", "unportable model", env=env, check=False)
    shown = refused.stdout + refused.stderr
    assert refused.returncode != 0, shown
    assert "fwmigrate portability check" in shown and "Failed" in shown
    assert "upscale.py:7:" in shown and "torch.nn.PixelShuffle" in shown
    assert "mlp.py" not in shown  # only the staged files are checked
    log = _git(project, "log", "--format=%s", env=env).stdout.split()
    assert log == ["portable", "model"]  # the second commit was refused
