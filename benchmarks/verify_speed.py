"""`fwmigrate verify` wall time and peak memory next to a floor measured in the same run: a
minimal script that imports both frameworks, builds both models and runs each once
(benchmarks/verify_floor.py). Each measurement is a fresh process; best wall time of N rounds.

    .venv/bin/python benchmarks/verify_speed.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = [  # fixture, model, input shape
    ("lenet", "LeNet", "2,1,28,28"),
    ("resnet_block", "ResNetTiny", "2,3,32,32"),
]
MEASURE = (
    "import resource, subprocess, sys, time; t = time.perf_counter(); "
    "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
    "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def measure(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS of the command and its children in MiB), in a fresh process."""
    out = subprocess.run([sys.executable, "-c", MEASURE, *cmd], capture_output=True, text=True, check=True)
    wall, rss_kib = out.stdout.split()
    return float(wall), float(rss_kib) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    fwm = str(Path(sys.executable).parent / "fwmigrate")
    header = ("case", "floor s", "verify s", "ratio", "floor MiB", "verify MiB", "ratio")
    widths = (-14, 8, 9, 6, 10, 11, 6)
    print(" ".join(f"{h:<{-w}}" if w < 0 else f"{h:>{w}}" for h, w in zip(header, widths, strict=True)))
    for name, model, shape in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "model.py"
            src.write_text((ROOT / "fixtures" / "torch2tf" / name / "input.py").read_text())
            subprocess.run([fwm, "torch2tf", str(src), "-q"], check=True)
            out = Path(tmp) / "model_tf.py"
            record = json.loads((Path(tmp) / "model_tf.migration.json").read_text())
            perm = record["classes"][model]["inputs"][0]["perm"]
            floor_cmd = [
                sys.executable,
                str(ROOT / "benchmarks" / "verify_floor.py"),
                str(src),
                str(out),
                model,
                shape,
                ",".join(str(p) for p in perm),
            ]
            verify_cmd = [fwm, "verify", str(src), str(out), "--model", model, "--input", shape]
            floors = [measure(floor_cmd) for _ in range(args.rounds)]
            verifies = [measure(verify_cmd) for _ in range(args.rounds)]
            fw, fm = min(f[0] for f in floors), max(f[1] for f in floors)
            vw, vm = min(v[0] for v in verifies), max(v[1] for v in verifies)
            print(
                f"{name:<14} {fw:>8.2f} {vw:>9.2f} {vw / fw:>5.2f}x {fm:>10.0f} {vm:>11.0f} {vm / fm:>5.2f}x"
            )
    print("target: verify within 1.5x of the floor")
    print("(verify runs 3 samples with per-layer capture, a float64 run and a momentum step)")


if __name__ == "__main__":
    main()
