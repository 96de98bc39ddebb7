"""`fwmigrate check --format sarif`: SARIF 2.1.0 for code scanning (GitHub's upload-sarif).

One run; the driver lists the rules the results refer to (our rule ids, and ``fwmigrate/no-rule``
for constructs no rule file covers); one result per finding that needs a person: ``warning`` for
review, ``error`` for unsupported. Paths are relative to ``base`` (the current directory), with
forward slashes. Files that could not be checked are tool execution notifications."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from migrator import __version__
from migrator.check.result import CheckReport, FileCheck, Item
from migrator.types import Severity

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
NO_RULE = "fwmigrate/no-rule"
_NO_RULE_TEXT = (
    "A framework construct that no rule file covers: an API that no rule maps (left unmigrated), "
    "or one the engine handles itself and asks a person to review."
)
_LEVEL = {Severity.REVIEW: "warning", Severity.UNSUPPORTED: "error"}


def render_sarif(report: CheckReport, base: Path) -> str:
    flagged = [(f, i) for f in report.files for i in f.items if i.finding.severity in _LEVEL]
    rule_ids = sorted({_rule_id(i) for _, i in flagged})
    index = {rid: n for n, rid in enumerate(rule_ids)}
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "fwmigrate",
                "version": __version__,
                "rules": [_descriptor(report, rid) for rid in rule_ids],
            }
        },
        "invocations": [
            {
                "executionSuccessful": not report.errors,
                "toolExecutionNotifications": [_notification(f, base) for f in report.errors],
            }
        ],
        "columnKind": "utf16CodeUnits",
        "results": [_result(f, i, index, base) for f, i in flagged],
    }
    log = {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"


def _rule_id(item: Item) -> str:
    return item.finding.rule_id or NO_RULE


def _descriptor(report: CheckReport, rule_id: str) -> dict[str, Any]:
    if rule_id == NO_RULE:
        return {
            "id": NO_RULE,
            "shortDescription": {"text": "Construct without a rule"},
            "fullDescription": {"text": _NO_RULE_TEXT},
        }
    summary = report.rule_summary(rule_id) or f"The fwmigrate rule {rule_id}."
    return {
        "id": rule_id,
        "shortDescription": {"text": _first_sentence(summary)},
        "fullDescription": {"text": summary},
        "help": {"text": f"`fwmigrate explain {rule_id}` prints the rule's documentation and examples."},
    }


def _first_sentence(text: str) -> str:
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]


def _result(f: FileCheck, item: Item, index: dict[str, int], base: Path) -> dict[str, Any]:
    g = item.finding
    rid = _rule_id(item)
    text = f"{g.api}: {g.message}" + (f" ({item.hint})" if item.hint else "")
    return {
        "ruleId": rid,
        "ruleIndex": index[rid],
        "level": _LEVEL[g.severity],
        "message": {"text": text},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": _uri(f.path, base)},
                    "region": {"startLine": g.line, "startColumn": item.utf16_col},
                }
            }
        ],
    }


def _notification(f: FileCheck, base: Path) -> dict[str, Any]:
    return {
        "level": "error",
        "message": {"text": f.error or "not checked"},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": _uri(f.path, base)}}}],
    }


def _uri(path: Path, base: Path) -> str:
    """A relative URI reference: the path relative to ``base``, forward slashes, percent-encoded."""
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(base))
    return quote(Path(rel).as_posix(), safe="/")
