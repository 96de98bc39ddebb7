"""`fwmigrate check --format json`. The keys are fixed and documented in docs/check.md."""

from __future__ import annotations

import json
from typing import Any

from migrator import __version__
from migrator.check.result import CheckReport, FileCheck
from migrator.types import Counts


def render_json(report: CheckReport) -> str:
    data = {
        "fwmigrate": __version__,
        "passed": report.passed,
        "policy": {
            "min_score": report.policy.min_score,
            "allow_unsupported": report.policy.allow_unsupported,
        },
        "score": report.score,
        "constructs": _counts(report.constructs),
        "files": [_file(report, f) for f in report.files],
        "rules": {r.id: r.summary for r in report.rules},
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _counts(c: Counts) -> dict[str, int]:
    total = c.migrated + c.review + c.unsupported
    return {"migrated": c.migrated, "review": c.review, "unsupported": c.unsupported, "total": total}


def _file(report: CheckReport, f: FileCheck) -> dict[str, Any]:
    problems = list(report.problems(f)) if f.error is None else []
    return {
        "path": str(f.path),
        "direction": f.direction.value if f.direction is not None else None,
        "reason": f.reason,
        "score": f.score,
        "passed": f.error is None and not problems,
        "problems": problems,
        "constructs": _counts(f.constructs),
        "error": f.error,
        "findings": [{**i.finding.to_json(), "hint": i.hint} for i in f.items],
    }
