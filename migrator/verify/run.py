"""Run a verification in a subprocess with a timeout and turn whatever happens into an
``EquivalenceResult``: a model that hangs, crashes, exits or prints cannot hang or garble the CLI."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path

from migrator.verify import process
from migrator.verify.result import ROUND_TRIP, EquivalenceResult, request_error
from migrator.verify.spec import VerifyOptions
from migrator.verify.static import forward_warnings
from migrator.verify.worker import record_direction


def verify_files(
    original: Path,
    migrated: Path,
    record: Path,
    options: VerifyOptions,
    via: Path | None = None,
    final_record: Path | None = None,
) -> EquivalenceResult:
    """MIGRATED against ORIGINAL by ``record``; or, with ``via``, a round trip: ORIGINAL (torch)
    -> ``via`` (its torch2tf output, ``record``) -> MIGRATED (tf2torch output of ``via``,
    ``final_record``)."""
    direction = ROUND_TRIP if via is not None else record_direction(record)
    method = "call" if direction == "tf2torch" else "forward"
    warnings = forward_warnings(original.read_text(encoding="utf-8"), method)
    with tempfile.TemporaryDirectory(prefix="fwmigrate-verify-") as tmp:
        result_path = Path(tmp) / "result.json"
        request = {
            "original": str(original.resolve()),
            "migrated": str(migrated.resolve()),
            "record": str(record.resolve()),
            "direction": direction,
            **(
                {"via": str(via.resolve()), "final_record": str((final_record or record).resolve())}
                if via is not None
                else {}
            ),
            "model": options.model,
            "inputs": [s.text() for s in options.inputs],
            "samples": options.samples,
            "seed": options.seed,
            "tolerance": asdict(options.tolerance),
            "load_mode": options.load_mode.value,
            "train_steps": options.train_steps,
            "steps_per_epoch": options.steps_per_epoch,
            "warnings": warnings,
            "result": str(result_path),
        }

        def error(message: str) -> EquivalenceResult:
            return request_error(request, direction, message, warnings)

        return run_worker(
            "migrator.verify.worker", request, Path(tmp), original.resolve().parent, options.timeout, error
        )


def run_worker(
    module: str,
    request: Mapping[str, object],
    tmp: Path,
    cwd: Path,
    timeout: float,
    error: Callable[[str], EquivalenceResult],
) -> EquivalenceResult:
    """Run ``python -m MODULE REQUEST.json`` (``process.run_worker``: its own session, output to a
    log in ``tmp``) and read the ``EquivalenceResult`` it writes to ``request["result"]``; a
    timeout, a crash or an exit without a result becomes ``error(message)``."""
    req_path = tmp / "request.json"
    req_path.write_text(json.dumps(request), encoding="utf-8")
    result_path = Path(str(request["result"]))
    done = process.run_worker(module, req_path, cwd, timeout, tmp / "worker.log")
    if done.timed_out:
        return error(
            f"timed out after {timeout:g} s (the model did not finish; raise --timeout if it is just slow)"
        )
    if result_path.exists():
        return EquivalenceResult.from_json(json.loads(result_path.read_text(encoding="utf-8")))
    last = done.tail()
    return error(
        f"the verification process exited with code {done.code} before finishing"
        + (f": {last}" if last else "")
    )
