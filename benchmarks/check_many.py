"""`fwmigrate check` on a project of 1,000 files with one worker and with two: files per second
for each and the speed-up of `--jobs 2` over `--jobs 1`, measured in the same run (target: 1.7x).

The project is made of copies of the bundled fixtures' inputs (both directions, 60-200 lines
each) in nested packages; the check runs as a fresh process over the directory, alternating the
two settings round by round so that a slow spell of the machine hits both alike; each figure is
the best of its rounds. The machine should otherwise be idle: the workers need both cores.

    .venv/bin/python benchmarks/check_many.py [--files 1000] [--rounds 3] [--jobs 2]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make_project(dest: Path, count: int) -> int:
    """``count`` model files under ``dest`` (10 packages); their total number of lines."""
    sources = sorted((ROOT / "fixtures").glob("*/*/input.py"))
    lines = 0
    for i in range(count):
        src = sources[i % len(sources)]
        path = dest / f"pkg{i % 10}" / f"{src.parent.name}_{i:04d}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        text = src.read_text(encoding="utf-8")
        path.write_text(text, encoding="utf-8")
        lines += text.count("\n")
    return lines


def wall(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - t0
    if proc.returncode not in (0, 1):  # 1: some file has constructs that fail the check
        raise SystemExit(f"{' '.join(cmd)}: exit {proc.returncode}: {proc.stderr.decode().strip()[:500]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()

    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "migrator")], check=True)
    fwmigrate = str(Path(sys.executable).parent / "fwmigrate")
    with tempfile.TemporaryDirectory(prefix="fwmigrate-bench-") as tmp:
        project = Path(tmp) / "project"
        lines = make_project(project, args.files)
        base = [fwmigrate, "check", str(project), "--no-config", "--no-progress"]
        serial_cmd = [*base, "--jobs", "1"]
        parallel_cmd = [*base, "--jobs", str(args.jobs)]
        wall([*base, "--jobs", "1", "--format", "json"])  # warm the file cache and the rule cache
        serial, parallel = [], []
        for _ in range(args.rounds):
            serial.append(wall(serial_cmd))
            parallel.append(wall(parallel_cmd))
    t1, tn = min(serial), min(parallel)
    print(f"project: {args.files} files, {lines} lines (copies of the fixtures' inputs)")
    print(f"--jobs 1: {t1:.2f} s  {args.files / t1:.0f} files/s  (best of {args.rounds})")
    print(f"--jobs {args.jobs}: {tn:.2f} s  {args.files / tn:.0f} files/s  (best of {args.rounds})")
    print(f"speed-up --jobs {args.jobs} / --jobs 1: {t1 / tn:.2f}x  (target >= 1.7x)")


if __name__ == "__main__":
    main()
