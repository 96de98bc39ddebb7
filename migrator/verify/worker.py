"""The verification subprocess: imports both frameworks once, builds both models from the user's
files, transfers the weights, runs the same seeded inputs through both and writes an
``EquivalenceResult`` as JSON. Started by ``migrator.verify.run`` with a timeout; the user's code
runs only here. The direction comes from the migration record: ``torch2tf`` (a torch original)
or ``tf2torch`` (a Keras original); a request with ``via`` is a round trip (``roundtrip``).

    python -m migrator.verify.worker REQUEST.json
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from migrator.verify.driver import UserCodeError
from migrator.verify.expr import ExprError
from migrator.verify.result import EquivalenceResult, request_error

DIRECTIONS = ("torch2tf", "tf2torch")


def record_direction(record: Path) -> str:
    """The record's direction; records written before it was recorded are torch2tf."""
    try:
        value = json.loads(record.read_text(encoding="utf-8")).get("direction", "torch2tf")
    except (OSError, ValueError, AttributeError):
        return "torch2tf"
    return str(value)


def run(request: Mapping[str, Any]) -> EquivalenceResult:
    if request.get("via"):  # torch -> Keras -> torch: the final model against the original
        from migrator.verify import roundtrip

        return roundtrip.run(request)
    direction = request.get("direction") or record_direction(Path(request["record"]))
    if direction == "tf2torch":
        from migrator.verify import tf2torch

        return tf2torch.run(request)
    if direction != "torch2tf":
        raise UserCodeError(
            f"the migration record's direction {direction!r} is not one of {', '.join(DIRECTIONS)}"
        )
    from migrator.verify import torch2tf

    return torch2tf.run(request)


def serve(
    argv: list[str],
    run_request: Callable[[Mapping[str, Any]], EquivalenceResult],
    errors: tuple[type[Exception], ...],
) -> int:
    """A worker's main: read the request, run it, and write its result (an ``error`` result for
    the user's mistakes in ``errors``) where the request says. Shared by verify and export."""
    request = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    try:
        result = run_request(request)
    except errors as exc:
        direction = request.get("direction") or record_direction(Path(request["record"]))
        result = request_error(request, direction, str(exc))
        if os.environ.get("FWMIGRATE_DEBUG") == "1":
            traceback.print_exc()
    Path(request["result"]).write_text(result.dumps(), encoding="utf-8")
    return 0


def main(argv: list[str]) -> int:
    return serve(argv, run, (UserCodeError, ExprError))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
