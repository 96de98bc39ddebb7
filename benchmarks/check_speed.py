"""`fwmigrate check` wall time on one file next to a floor measured in the same run: a Python process
that only imports libcst, which any libcst tool pays before it reads a line. Both are fresh
processes of the installed interpreter; the rounds alternate between the two so that a slow spell
of the machine hits both alike; each figure is the best of its rounds. Prints both and the ratio.

Both sides run as installed: libcst's modules were byte-compiled by pip when it was installed, so
fwmigrate's are byte-compiled here first (an editable install does not compile them, and
PYTHONDONTWRITEBYTECODE, if set, stops Python from doing it on first import); and the warm-up run
fills the rule cache, as the first check on a machine does (see docs/performance.md).

    .venv/bin/python benchmarks/check_speed.py [--rounds 7] [--file FILE]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FILE = ROOT / "fixtures" / "torch2tf" / "resnet_block" / "input.py"


def wall(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - t0
    if proc.returncode not in (0, 1):  # 1: the file has constructs that fail the check; still a check
        raise SystemExit(f"{' '.join(cmd)}: exit {proc.returncode}: {proc.stderr.decode().strip()}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--file", type=Path, default=DEFAULT_FILE)
    args = ap.parse_args()

    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "migrator")], check=True)
    floor_cmd = [sys.executable, "-c", "import libcst"]
    check_cmd = [str(Path(sys.executable).parent / "fwmigrate"), "check", str(args.file)]
    wall(floor_cmd)  # warm the file cache (and .pyc files) before timing either side
    wall(check_cmd)
    floors, checks = [], []
    for _ in range(args.rounds):
        floors.append(wall(floor_cmd))
        checks.append(wall(check_cmd))
    t_floor, t_check = min(floors), min(checks)
    lines = args.file.read_text(encoding="utf-8").count("\n")
    shown = args.file.relative_to(ROOT) if args.file.is_relative_to(ROOT) else args.file
    print(f"file: {shown} ({lines} lines)")
    print(f"floor (python -c 'import libcst'): {t_floor * 1000:.0f} ms  (best of {args.rounds})")
    print(f"fwmigrate check:                   {t_check * 1000:.0f} ms  (best of {args.rounds})")
    print(f"ratio check / floor: {t_check / t_floor:.2f}x  (target <= 1.5x)")


if __name__ == "__main__":
    main()
