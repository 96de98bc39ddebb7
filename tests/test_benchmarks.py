"""The speed benchmark still runs end to end (on a tiny corpus) and prints every figure that
docs/performance.md records. Its timings are not checked here: they are measured, not tested."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_migrate_speed_prints_its_figures() -> None:
    args = ["--min-lines", "300", "--rounds", "2", "--slices", "2"]
    cmd = [sys.executable, "benchmarks/migrate_speed.py", *args]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith(f"python: {sys.version.split()[0]}, {Path(sys.executable).resolve()} (")
    corpus = re.fullmatch(r"corpus: (\d+) files, (\d+) lines", lines[1])
    assert corpus is not None and int(corpus.group(2)) >= 300
    figure = r" [\d.]+ s = [\d,]+ lines/s \(best round\)"
    assert re.fullmatch(r"floor \(libcst parse \+ codegen\):" + figure, lines[3])
    assert re.fullmatch(r"fwmigrate torch2tf: +" + figure, lines[4])
    assert re.fullmatch(r"ratio migrate / floor per round: [\d.]+x, [\d.]+x", lines[5])
    assert lines[6].startswith("ratio migrate / floor: ")
