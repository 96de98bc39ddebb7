"""Property tests for every layer rule, both directions (see tests/props/__init__.py).

Each rule gets ``FWMIGRATE_PROPERTY_EXAMPLES`` random cases (default 8: the suite's budget); a
failure prints the original and migrated code, the verify report, hypothesis's falsifying case
and a ``@reproduce_failure(...)`` line that replays it. ``--hypothesis-seed=N`` replays a whole
run. Raise the count locally to search harder:

    FWMIGRATE_PROPERTY_EXAMPLES=200 .venv/bin/pytest tests/test_layer_properties.py -k Conv2d
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrator.rules.loader import RuleSet, load_rules
from migrator.rules.schema import RuleKind
from migrator.types import Direction
from tests.props import all_cases, run_case

EXAMPLES = int(os.environ.get("FWMIGRATE_PROPERTY_EXAMPLES", "8"))
CASES = all_cases()
ALL = [(d, rule_id) for d in Direction for rule_id in sorted(CASES[d])]
RULES: dict[Direction, RuleSet] = {}


def _rules(direction: Direction) -> RuleSet:
    if direction not in RULES:
        RULES[direction] = load_rules(direction)
    return RULES[direction]


def layer_rules(direction: Direction) -> list[str]:
    """The layer rules a property must cover: every rule of kind "layer" that migrates something
    (rules that only mark an API unsupported have nothing to compare)."""
    return sorted(r.id for r in _rules(direction).rules if r.kind is RuleKind.LAYER and not r.unsupported)


@pytest.mark.parametrize("direction", list(Direction))
def test_every_layer_rule_has_a_property(direction: Direction) -> None:
    missing = sorted(set(layer_rules(direction)) - set(CASES[direction]))
    assert not missing, f"layer rules without a case in tests/props/cases_*.py: {missing}"
    stale = sorted(set(CASES[direction]) - {r.id for r in _rules(direction).rules})
    assert not stale, f"cases for rules that do not exist: {stale}"


@pytest.mark.frameworks
@pytest.mark.parametrize(("direction", "rule_id"), ALL, ids=[r for _, r in ALL])
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_layer_rule_matches_the_original(direction: Direction, rule_id: str, data: Any) -> None:
    case = data.draw(CASES[direction][rule_id], label="case")
    outcome = run_case(direction, rule_id, case, _rules(direction))
    assert outcome.fired, f"{rule_id} did not apply\n{outcome.explain()}"
    assert not outcome.problems, f"{rule_id}: findings\n{outcome.explain()}"
    assert outcome.equivalent, f"{rule_id}: not equivalent\n{outcome.explain()}"


# What the cases do not draw because the rules refuse it, or flag it: refused visibly, with the reason.
REFUSED = [
    (Direction.TORCH2TF, "nn.Conv2d(2, 3, 3, stride=2, dilation=2)", "unsupported", "stride > 1 together"),
    (
        Direction.TORCH2TF,
        "nn.Conv1d(2, 2, 3, stride=(2,), dilation=(3,))",
        "unsupported",
        "stride > 1 together",
    ),
    (
        Direction.TORCH2TF,
        "nn.Conv3d(2, 2, 3, groups=2)",
        "unsupported",
        "depthwise Conv3d has no Keras layer",
    ),
    (
        Direction.TORCH2TF,
        "nn.ConvTranspose2d(2, 2, 1, stride=2)",
        "unsupported",
        "kernel smaller than stride",
    ),
    (
        Direction.TORCH2TF,
        "nn.ConvTranspose1d(2, 2, 3, stride=2, output_padding=1)",
        "unsupported",
        "output_padding larger than padding",
    ),
    (Direction.TF2TORCH, "layers.BatchNormalization(center=False)", "unsupported", "one affine flag"),
    (
        Direction.TF2TORCH,
        "layers.LayerNormalization(scale=False)",
        "unsupported",
        "one elementwise_affine flag",
    ),
    (
        Direction.TORCH2TF,
        "nn.Sequential(nn.Conv2d(2, 2, 1), nn.Softmax(dim=2))",
        "review",
        "was built with axis=2, but here source dim 2 is target axis 1",
    ),
]


@pytest.mark.parametrize(("direction", "layer", "severity", "reason"), REFUSED)
def test_what_a_rule_cannot_migrate_is_marked(
    direction: Direction, layer: str, severity: str, reason: str
) -> None:
    from migrator import api
    from tests.props import Case, render

    source, _ = render(
        direction, Case(layer, ("2,2,5,5",) if direction is Direction.TORCH2TF else ("2,5,5,2",))
    )
    result = api.migrate_source(source, direction, _rules(direction), source_name="m.py")
    found = [f"{f.severity.value}: {f.message}" for f in result.findings]
    assert any(line.startswith(severity) and reason in line for line in found), found
    assert f"# fwmigrate: {severity}:" in result.code
