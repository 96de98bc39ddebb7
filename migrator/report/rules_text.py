"""``fwmigrate rules`` and ``fwmigrate explain``: the rule catalogue as text and JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence

from migrator.rules.catalog import Entry
from migrator.rules.schema import Rule


def _target(rule: Rule) -> str:
    if rule.unsupported is not None:
        return "(unsupported: explains why)"
    spec = rule.training
    if spec is not None and spec.stock is not None:
        return f"{spec.stock} | {rule.emit}" if rule.emit else spec.stock
    return rule.emit or (f"hook {rule.hook}" if rule.hook else "")


def rules_table(entries: Sequence[Entry]) -> str:
    """One line per rule: id, direction, what it matches, what it emits."""
    rows = [(e.rule.id, e.direction.value, _matches(e.rule), _target(e.rule)) for e in entries]
    widths = [
        max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(("id", "direction", "matches", ""))
    ]
    lines = [f"{'id':<{widths[0]}}  {'direction':<{widths[1]}}  {'matches':<{widths[2]}}  emits"]
    lines += [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:<{widths[2]}}  {d}".rstrip() for a, b, c, d in rows]
    lines.append(f"{len(rows)} rules")
    return "\n".join(lines) + "\n"


def _matches(rule: Rule) -> str:
    first = rule.match[0] if rule.match else ""
    return first + (f" (+{len(rule.match) - 1})" if len(rule.match) > 1 else "")


def rules_json(entries: Sequence[Entry]) -> str:
    data = [
        {
            "id": e.rule.id,
            "direction": e.direction.value,
            "kind": e.rule.kind.value,
            "match": list(e.rule.match),
            "emits": _target(e.rule),
            "summary": e.rule.summary,
            "file": e.rule.source.name,
        }
        for e in entries
    ]
    return json.dumps(data, indent=2) + "\n"


def explain(entry: Entry) -> str:
    """A rule's documentation: what it matches and emits, its summary and notes, the arguments
    with special handling, and its examples."""
    rule = entry.rule
    out = [f"{rule.id} ({entry.direction.value}, {rule.kind.value} rule, {rule.source.name})", ""]
    out.append(f"Matches: {', '.join(rule.match)}")
    if rule.unsupported is not None:
        out.append(f"Not migrated: {rule.unsupported}")
    else:
        out.append(f"Emits: {_target(rule)}")
    if rule.weights:
        out.append(f"Weight transform: {rule.weights}")
    if rule.summary:
        out += ["", rule.summary]
    if rule.notes:
        out += ["", "Notes:", *(f"  - {n}" for n in rule.notes)]
    special = []
    for name, spec in rule.args.items():
        if spec.drop and not spec.review and not spec.only:
            special.append(f"  {name}: dropped")
        elif spec.only:
            special.append(
                f"  {name}: only {', '.join(spec.only)}" + (f" ({spec.reason})" if spec.reason else "")
            )
        elif spec.review:
            special.append(f"  {name}: review: {spec.review}")
        elif spec.to:
            special.append(f"  {name} -> {spec.to}")
    if special:
        out += ["", "Arguments:", *special]
    for i, ex in enumerate(rule.examples, 1):
        out += ["", f"Example {i}:", *_indented(ex.before, "  before: "), *_indented(ex.after, "  after:  ")]
    if rule.unchanged:
        out += ["", "Left unchanged:", *(f"  {u.strip()}" for u in rule.unchanged)]
    return "\n".join(out) + "\n"


def _indented(code: str, first: str) -> list[str]:
    lines = code.strip().splitlines() or [""]
    pad = " " * len(first)
    return [first + lines[0], *(pad + ln for ln in lines[1:])]
