"""The conversion subprocess of ``fwmigrate weights``: the user's code (both model files) and the
checkpoint are loaded only here. Started by ``migrator.weights.convert`` with a timeout; writes an
``Outcome`` as JSON, never to stdout (whatever the user's code prints cannot garble it).

    python -m migrator.weights.worker REQUEST.json
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

from migrator.types import Direction
from migrator.verify.driver import UserCodeError
from migrator.verify.expr import ExprError
from migrator.weights.protocol import CheckpointError, Outcome, WorkerRequest, one_line


def convert(request: WorkerRequest) -> Outcome:
    """Run the conversion of the request's direction; a failure is a one-line error naming a file."""
    from migrator.weights import flows

    try:
        if request.direction is Direction.TF2TORCH:
            return flows.keras_to_torch(request)
        return flows.torch_to_keras(request)
    except (CheckpointError, UserCodeError, ExprError) as exc:
        if os.environ.get("FWMIGRATE_DEBUG") == "1":
            traceback.print_exc()
        error = str(exc) if isinstance(exc, CheckpointError) else f"{request.files}: {exc}"
        return Outcome(error=one_line(error))


def main(argv: list[str]) -> int:
    request = WorkerRequest.load(Path(argv[0]))
    outcome = convert(request)
    Path(request.result).write_text(outcome.dumps(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
