"""Migration speed on a corpus of model code, next to a floor measured in the same run.

The corpus is every torch2tf fixture plus renamed variants of them (distinct class names and a
distinct comment per copy), until it holds at least 20,000 lines. The floor is what any libcst
tool must pay: parse plus code generation of the same files with stock libcst. The floor runs in
a process of its own, because fwmigrate gives libcst's node classes cheaper constructors
(``migrator/engine/node_init.py``) that would speed up a floor measured in the same process.
Each round alternates between the two sides slice by slice (``--slices`` per round), in CPU time
of each process, on one core (no threads). Prints the interpreter that ran it, each side's lines/s
in its best round, and the ratio of the two sides in each round and their median.

    .venv/bin/python benchmarks/migrate_speed.py [--min-lines 20000] [--rounds 5] [--slices 4]
"""

from __future__ import annotations

import argparse
import itertools
import platform
import re
import statistics
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


def interpreter() -> str:
    """The interpreter that ran the benchmark. Its build matters: on this machine a CPython with
    profile-guided optimisation and libpython linked in statically (Debian's) takes 13% less time
    over the migration than one built without, with libpython as a shared library (pyenv's
    default); docs/performance.md."""
    exe = Path(sys.executable).resolve()
    built = " ".join(platform.python_build()[1].split())
    try:  # Linux: is libpython a shared library mapped into this process?
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return f"{exe} (built {built})"
    linked = "shared libpython" if "/libpython" in maps else "libpython linked in"
    return f"{exe} ({linked}, built {built})"


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


def floor_seconds(sources: list[str]) -> float:
    """CPU seconds of the floor over these sources: libcst parse plus code generation of each."""
    t0 = time.process_time()
    for s in sources:
        cst.parse_module(s).code  # noqa: B018 - code generation is the point
    return time.process_time() - t0


class FloorServer:
    """The floor in a process of its own (stock libcst), asked to parse and render one slice of
    the corpus at a time; it reports the CPU time of the slice (the pipe is not in the figure)."""

    def __init__(self, min_lines: int) -> None:
        cmd = [sys.executable, __file__, "--floor-server", "--min-lines", str(min_lines)]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self._ask("warm-up")

    def _ask(self, line: str) -> str:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(line + "\n")
        self._proc.stdin.flush()
        answer = self._proc.stdout.readline().strip()
        if not answer:
            sys.exit("migrate_speed.py: the floor process ended early")
        return answer

    def seconds(self, start: int, stop: int) -> float:
        return float(self._ask(f"{start} {stop}"))

    def close(self) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        self._proc.wait()


def floor_server(min_lines: int) -> None:
    """Serve FloorServer's requests: ``warm-up`` (one pass over the corpus) or ``START STOP``."""
    corpus = build_corpus(min_lines)
    for line in sys.stdin:
        if line.strip() == "warm-up":
            start, stop = 0, len(corpus)
        else:
            start, stop = map(int, line.split())
        seconds = floor_seconds(corpus[start:stop])
        assert_stock_libcst()
        print(seconds, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--min-lines", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--slices", type=int, default=4, help="alternations of the two sides per round")
    ap.add_argument("--floor-server", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.floor_server:
        floor_server(args.min_lines)
        return

    corpus = build_corpus(args.min_lines)
    n_lines = sum(s.count("\n") for s in corpus)
    t0 = time.perf_counter()
    rules = load_rules(Direction.TORCH2TF)
    t_rules = time.perf_counter() - t0

    def migrate(part: list[str]) -> None:
        for s in part:
            migrate_torch_source(s, rules, "bench.py")

    migrate(corpus)  # warm up (imports, caches) before timing
    floor = FloorServer(args.min_lines)
    # The machine's speed changes by up to 2x from one spell to the next, and a spell can be
    # shorter than a pass. So each round alternates the two sides slice by slice, and a round's
    # ratio compares the two sides over the same stretch of time.
    bounds = [len(corpus) * k // args.slices for k in range(args.slices + 1)]
    floors, migrations = [], []
    for _ in range(args.rounds):
        f = m = 0.0
        for start, stop in itertools.pairwise(bounds):
            f += floor.seconds(start, stop)
            m += timed(lambda a=start, b=stop: migrate(corpus[a:b]))
        floors.append(f)
        migrations.append(m)
    floor.close()
    ratios = sorted(m / f for f, m in zip(floors, migrations, strict=True))
    t_floor, t_migrate = min(floors), min(migrations)
    print(f"python: {platform.python_version()}, {interpreter()}")
    print(f"corpus: {len(corpus)} files, {n_lines} lines")
    print(f"rule loading (once per run): {t_rules * 1000:.0f} ms")
    best = "(best round)"
    print(f"floor (libcst parse + codegen): {t_floor:.2f} s = {n_lines / t_floor:,.0f} lines/s {best}")
    print(f"fwmigrate torch2tf:             {t_migrate:.2f} s = {n_lines / t_migrate:,.0f} lines/s {best}")
    print(f"ratio migrate / floor per round: {', '.join(f'{r:.2f}x' for r in ratios)}")
    print(
        f"ratio migrate / floor: {statistics.median(ratios):.2f}x (median of the rounds)"
        "  (target <= 2.0x, >= 5,000 lines/s)"
    )


if __name__ == "__main__":
    main()
