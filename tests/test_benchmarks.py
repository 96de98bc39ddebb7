"""The speed benchmarks still run end to end (on a tiny corpus) and print every figure that
docs/performance.md records. Their timings are not checked here: they are measured, not tested."""

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


def test_floor_spread_counts_its_passes() -> None:
    cmd = [sys.executable, "benchmarks/floor_spread.py", "--passes", "3", "--min-lines", "300"]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith(f"python: {sys.version.split()[0]}, ")
    per_pass = re.fullmatch(r"floor per pass \(lines/s\): ([\d,]+), ([\d,]+), ([\d,]+)", lines[2])
    assert per_pass is not None
    speeds = sorted(int(g.replace(",", "")) for g in per_pass.groups())
    spread = re.fullmatch(
        r"floor: min ([\d,]+), median ([\d,]+), max ([\d,]+) lines/s over 3 passes", lines[3]
    )
    assert spread is not None
    assert [int(g.replace(",", "")) for g in spread.groups()] == speeds
    below = sum(s < 5_000 for s in speeds)
    assert lines[4] == f"passes below 5,000 lines/s: {below} of 3"
    above = sum(s >= 10_000 for s in speeds)
    assert lines[5] == f"passes at 10,000 lines/s or more: {above} of 3"
