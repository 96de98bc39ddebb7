"""Migration speed on a corpus of model code, next to a floor measured in the same run.

The corpus is every torch2tf fixture plus renamed variants of them (distinct class names and a
distinct comment per copy), until it holds at least 20,000 lines. The floor is what any libcst
tool must pay: parse plus code generation of the same files with stock libcst. The floor runs in
a process of its own, because fwmigrate gives libcst's node classes cheaper constructors
(``migrator/engine/node_init.py``) that would speed up a floor measured in the same process.
Rounds alternate between the two; each figure is the best of its rounds in CPU time of its
process, on one core (no threads). Prints lines/s and the ratio to the floor.

    .venv/bin/python benchmarks/migrate_speed.py [--min-lines 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import libcst as cst

from migrator.engine.migrate import migrate_torch_source
from migrator.rules.loader import load_rules
from migrator.types import Direction

ROOT = Path(__file__).resolve().parent.parent


def build_corpus(min_lines: int) -> list[str]:
    sources = [p.read_text() for p in sorted((ROOT / "fixtures" / "torch2tf").glob("*/input.py"))]
    corpus: list[str] = []
    lines = 0
    copy = 0
    while lines < min_lines:
        for src in sources:
            names = re.findall(r"^class (\w+)", src, flags=re.MULTILINE)
            variant = src
            for name in names:
                variant = re.sub(rf"\b{name}\b", f"{name}V{copy}", variant)
            variant = f"# variant {copy}\n" + variant
            corpus.append(variant)
            lines += variant.count("\n")
        copy += 1
    return corpus


def timed(fn: Callable[[], None]) -> float:
    """CPU time of this process: on a shared virtual machine, wall time also counts the time the
    host gives the core to others, which swings from run to run; CPU time does not."""
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def assert_stock_libcst() -> None:
    """Fail if fwmigrate's replacements for libcst's constructors or code generation are in
    place in this process (then the floor would not be stock libcst's)."""
    stock = (
        cst.Name.__init__.__code__.co_filename == "<string>"
        and cst.CSTNode._codegen.__module__.startswith("libcst.")
    )
    if not stock:
        sys.exit("migrate_speed.py: the floor ran with fwmigrate's libcst replacements installed")


def floor_round(min_lines: int) -> None:
    """One timed floor pass after a warm-up pass, in this process (stock libcst); prints seconds."""
    corpus = build_corpus(min_lines)

    def floor() -> None:
        for s in corpus:
            cst.parse_module(s).code  # noqa: B018 - code generation is the point

    floor()
    seconds = timed(floor)
    assert_stock_libcst()
    print(seconds)


def timed_floor(min_lines: int) -> float:
    cmd = [sys.executable, __file__, "--floor-round", "--min-lines", str(min_lines)]
    return float(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--min-lines", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--floor-round", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.floor_round:
        floor_round(args.min_lines)
        return

    corpus = build_corpus(args.min_lines)
    n_lines = sum(s.count("\n") for s in corpus)
    t0 = time.perf_counter()
    rules = load_rules(Direction.TORCH2TF)
    t_rules = time.perf_counter() - t0

    def migrate() -> None:
        for s in corpus:
            migrate_torch_source(s, rules, "bench.py")

    migrate()  # warm up (imports, caches) before timing
    # alternate the two so that a slow spell of the machine hits both sides alike; best of each
    floors, migrations = [], []
    for _ in range(args.rounds):
        floors.append(timed_floor(args.min_lines))
        migrations.append(timed(migrate))
    t_floor, t_migrate = min(floors), min(migrations)
    print(f"corpus: {len(corpus)} files, {n_lines} lines")
    print(f"rule loading (once per run): {t_rules * 1000:.0f} ms")
    print(f"floor (libcst parse + codegen): {t_floor:.2f} s = {n_lines / t_floor:,.0f} lines/s")
    print(f"fwmigrate torch2tf:             {t_migrate:.2f} s = {n_lines / t_migrate:,.0f} lines/s")
    print(f"ratio migrate / floor: {t_migrate / t_floor:.2f}x  (target <= 2.0x, >= 5,000 lines/s)")


if __name__ == "__main__":
    main()
