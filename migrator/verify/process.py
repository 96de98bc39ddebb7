"""Running a worker module (``python -m MODULE REQUEST.json``) in a subprocess with a timeout: the
user's code runs only there, in a session of its own (a timeout kills its whole process group), its
output going to a log file so that nothing it prints reaches the CLI (as ``verify`` runs its
worker). Shared by verify, export and weights."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

WORKER_ENV = {"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONHASHSEED": "0"}


@dataclass(frozen=True)
class WorkerExit:
    """How a worker ended: its exit code, or None when it was stopped after the timeout."""

    code: int | None
    log: Path

    @property
    def timed_out(self) -> bool:
        return self.code is None

    def tail(self, lines: int = 3) -> str:
        """The last non-empty lines of its output, joined by `` | `` ("" when it printed nothing)."""
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
        last = text.strip().splitlines()[-lines:]
        return " | ".join(t.strip() for t in last if t.strip())


def run_worker(module: str, request: Path, cwd: Path, timeout: float, log: Path) -> WorkerExit:
    """Run ``python -m module request`` in ``cwd``, stdin closed, stdout and stderr to ``log``;
    after ``timeout`` seconds its process group is killed."""
    env = {**os.environ, **WORKER_ENV}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", module, str(request)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(cwd),
            start_new_session=True,
        )
        try:
            code: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            code = None
    return WorkerExit(code, log)
