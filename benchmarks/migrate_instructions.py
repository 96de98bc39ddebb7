"""Migration cost in instructions, next to the floor's, counted by valgrind in the same run.

Time on this machine swings by a factor of two between its fast and slow states (see
docs/performance.md), which hides a change of a few percent. Instruction counts do not swing: this
script counts, under ``valgrind --tool=cachegrind --cache-sim=no``, four processes on the same
sample of the migrate_speed corpus (every ``--every``-th file). Each side has its own pair: one
process imports fwmigrate, loads the rules and runs the side once to warm up; the other does the
same and then runs it once more. The difference is the side's cost. The floor (parse and render
with libcst) never runs fwmigrate in its processes, so it is stock libcst's cost: fwmigrate gives
libcst's node classes cheaper constructors (``migrator/engine/node_init.py``) once it parses.
Prints both counts and their ratio; needs valgrind (``apt-get install valgrind``). Takes about
six minutes.

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
MODES = ("floor-warm-up", "floor", "migrate-warm-up", "migrate")


def worker(mode: str, every: int) -> None:
    sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]  # this checkout's engine, whatever is installed
    import libcst as cst
    from migrate_speed import assert_stock_libcst, build_corpus

    from migrator.engine.migrate import migrate_torch_source
    from migrator.rules.loader import load_rules
    from migrator.types import Direction

    corpus = build_corpus(20_000)[::every]
    side = mode.removesuffix("-warm-up")
    rules = load_rules(Direction.TORCH2TF) if side == "migrate" else None  # loading renders nodes
    for _ in range(1 if mode.endswith("-warm-up") else 2):  # imports, caches, rule hooks
        for source in corpus:
            if rules is None:
                cst.parse_module(source).code  # noqa: B018 - code generation is the point
            else:
                migrate_torch_source(source, rules, "bench.py")
    if rules is None:
        assert_stock_libcst()


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
    # the same dict layouts in every process, and no process writes bytecode the next one would skip
    # compiling (the pair of processes for a side must do the same work up to the measured pass)
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}
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
    # one uncounted run first, so that the disk caches a first run fills (the rule cache) are
    # filled before the counted pairs, whose first process would otherwise pay for them alone
    prime = [sys.executable, __file__, "--worker", "migrate-warm-up", "--every", str(args.every)]
    subprocess.run(prime, check=True)
    floor_base, floor_total, migrate_base, migrate_total = (count(mode, args.every) for mode in MODES)
    floor, migrate = floor_total - floor_base, migrate_total - migrate_base
    print(f"sample: every {args.every}th file of the migrate_speed corpus")
    print(f"floor (libcst parse + codegen): {floor / 1e9:.3f} billion instructions")
    print(f"fwmigrate torch2tf:             {migrate / 1e9:.3f} billion instructions")
    print(f"ratio migrate / floor: {migrate / floor:.3f}x")


if __name__ == "__main__":
    main()
