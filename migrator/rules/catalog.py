"""The loaded rules of both directions, for ``fwmigrate rules`` and ``fwmigrate explain``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from migrator.rules.loader import load_rules
from migrator.rules.schema import Rule
from migrator.types import Direction


@dataclass(frozen=True)
class Entry:
    direction: Direction
    rule: Rule


def catalog(direction: Direction | None, extra_dirs: Iterable[Path] = ()) -> list[Entry]:
    """Every loaded rule of ``direction`` (both when None), in id order. Raises ``RuleError``.

    Extra directories hold rules of one direction: they are loaded with the direction their rule
    ids name (``torch2tf.*`` / ``tf2torch.*``), like ``--rules`` on the migration commands."""
    dirs = tuple(extra_dirs)
    out: list[Entry] = []
    for d in [direction] if direction is not None else list(Direction):
        rules = load_rules(d, [p for p in dirs if direction_of(p) in (None, d)])
        out += [Entry(d, r) for r in rules.rules if r.id.startswith(d.value + ".")]
    return sorted(out, key=lambda e: (e.direction.value, e.rule.id))


def direction_of(path: Path) -> Direction | None:
    """A rule directory's direction, from its files' rule ids (None: unknown, try both)."""
    for f in sorted(path.rglob("*.toml")):
        text = f.read_text(encoding="utf-8", errors="replace")
        for d in Direction:
            if f'"{d.value}.' in text:
                return d
    return None


def find(rule_id: str, extra_dirs: Iterable[Path] = ()) -> Entry | list[str]:
    """The rule with this id, or the closest ids when there is none."""
    entries = catalog(None, extra_dirs)
    for e in entries:
        if e.rule.id == rule_id:
            return e
    import difflib  # only for an unknown id

    ids = [e.rule.id for e in entries]
    close = difflib.get_close_matches(rule_id, ids, n=3, cutoff=0.6)
    return close or [i for i in ids if i.lower().endswith(rule_id.lower().split(".")[-1])][:3]
