"""Every keyword a rule can emit exists on its target: a rule whose argument is passed through
under a name the target does not take writes code that fails when it runs (found by the property
tests: `layers.LayerNormalization(center=True)` became `nn.LayerNorm(..., center=True)`)."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator

import pytest

from migrator.rules.loader import load_rules
from migrator.types import Direction

# What a Keras layer's ``**kwargs`` accepts (keras.layers.Layer.__init__).
KERAS_BASE = {"name", "dtype", "trainable", "autocast", "input_shape", "input_dim", "batch_size"}


def _parameters(target: str) -> set[str] | None:
    """The keyword names ``target`` accepts; None when its signature does not say (``*args``
    without names, C functions)."""
    module, _, name = target.rpartition(".")
    try:
        obj = getattr(importlib.import_module(module), name)
        params = list(inspect.signature(obj).parameters.values())
    except (ImportError, AttributeError, TypeError, ValueError):
        return None
    names = {p.name for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    if any(p.kind is p.VAR_KEYWORD for p in params):
        if not target.startswith("keras."):
            return None
        names |= KERAS_BASE
    if any(p.kind is p.VAR_POSITIONAL for p in params) and len(names) == 0:
        return None
    return names


def _emitted_keywords(direction: Direction) -> Iterator[tuple[str, str, str, str]]:
    for rule in load_rules(direction, cache_dir=None).rules:
        if rule.emit is None:
            continue
        for name, spec in rule.args.items():
            if spec.drop or spec.positional or spec.activation:
                continue
            yield rule.id, rule.emit, name, spec.to or name
        for keyword in rule.set:
            yield rule.id, rule.emit, "(set)", keyword


@pytest.mark.frameworks
@pytest.mark.parametrize("direction", list(Direction))
def test_every_emitted_keyword_exists_on_the_target(direction: Direction) -> None:
    bad = []
    checked = 0
    for rule_id, target, source_arg, keyword in _emitted_keywords(direction):
        accepted = _parameters(target)
        if accepted is None:
            continue
        checked += 1
        if keyword not in accepted:
            bad.append(f"{rule_id}: {source_arg} -> {target}({keyword}=...)")
    assert checked > 20
    assert not bad, "keywords the target does not take:\n" + "\n".join(bad)
