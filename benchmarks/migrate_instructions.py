"""Migration cost in instructions, next to the floor's, counted by valgrind in the same run.

Time on this machine swings by a factor of two between its fast and slow states (see
docs/performance.md), which hides a change of a few percent. Instruction counts do not swing: this
script runs three processes under ``valgrind --tool=cachegrind --cache-sim=no`` on the same sample
of the migrate_speed corpus (every ``--every``-th file): one that only imports fwmigrate, loads the
rules and warms up, one that then parses and renders the sample with libcst (the floor), and one
that then migrates it. The warm-up part is subtracted from the other two. Prints both counts and
their ratio; needs valgrind (``apt-get install valgrind``). Takes about three minutes.

    .venv/bin/python benchmarks/migrate_instructions.py [--every 9]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODES = ("warm-up", "floor", "migrate")


def worker(mode: str, every: int) -> None:
    sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]  # this checkout's engine, whatever is installed
    import libcst as cst
    from migrate_speed import build_corpus

    from migrator.engine.migrate import migrate_torch_source
    from migrator.rules.loader import load_rules
    from migrator.types import Direction

    corpus = build_corpus(20_000)[::every]
    rules = load_rules(Direction.TORCH2TF)
    for source in corpus:  # imports, caches and rule hooks, on both sides alike
        migrate_torch_source(source, rules, "bench.py")
        cst.parse_module(source).code  # noqa: B018 - code generation is the point
    if mode == "floor":
        for source in corpus:
            cst.parse_module(source).code  # noqa: B018
    elif mode == "migrate":
        for source in corpus:
            migrate_torch_source(source, rules, "bench.py")


def count(mode: str, every: int) -> int:
    cmd = [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=no",
        "--cachegrind-out-file=/dev/null",
        sys.executable,
        __file__,
        "--worker",
        mode,
        "--every",
        str(every),
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}  # the same dict layouts in every process
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    found = re.search(r"I\s+refs:\s+([\d,]+)", proc.stderr)
    if proc.returncode != 0 or found is None:
        sys.exit(f"migrate_instructions.py: valgrind run ({mode}) failed: {proc.stderr.strip()[-500:]}")
    return int(found.group(1).replace(",", ""))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--every", type=int, default=9, help="take every N-th file of the corpus")
    ap.add_argument("--worker", choices=MODES, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker is not None:
        worker(args.worker, args.every)
        return
    if shutil.which("valgrind") is None:
        sys.exit("migrate_instructions.py: valgrind is not installed (apt-get install valgrind)")
    base, floor, migrate = (count(mode, args.every) for mode in MODES)
    print(f"sample: every {args.every}th file of the migrate_speed corpus")
    print(f"floor (libcst parse + codegen): {(floor - base) / 1e9:.3f} billion instructions")
    print(f"fwmigrate torch2tf:             {(migrate - base) / 1e9:.3f} billion instructions")
    print(f"ratio migrate / floor: {(migrate - base) / (floor - base):.3f}x")


if __name__ == "__main__":
    main()
