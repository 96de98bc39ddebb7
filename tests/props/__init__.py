"""Property tests of layer rules: a one-layer model with random valid constructor arguments and
input shapes, migrated, its weights transferred, both run on the same seeded inputs, the outputs
compared at verify's default tolerance.

A *case module* (``tests/props/cases_*.py``) defines ``CASES``: for each rule id, a hypothesis
strategy of :class:`Case`. A case is the layer's constructor call (source code in the original
framework), the input specs in the original's layout (verify's SPEC syntax), and optionally the
forward expression. ``tests/test_layer_properties.py`` runs every case of every module, and a
meta-test requires a case for every layer rule of both directions.

Cases draw only argument combinations the rule claims to migrate: an unsupported or review
finding for the rule under test fails the property (combinations a rule refuses are tested
apart, as plain unit tests, that they are refused).
"""

from __future__ import annotations

import importlib
import pkgutil
import tempfile
import textwrap
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from migrator.types import Direction, Severity

Cases = Mapping[str, st.SearchStrategy["Case"]]


@dataclass(frozen=True)
class Case:
    """One model to migrate and compare.

    ``layer`` is the constructor call in the original framework (``nn.Conv2d(3, 4, 3)`` or
    ``layers.Conv2D(4, 3)``); ``inputs`` are verify SPECs in the original's layout, batch
    included (``"2,3,9,8"``, ``"2,7:int64:0:10"``). ``forward`` is the body of torch's
    ``forward`` (statements, ending in ``return``) or the expression Keras's builder returns,
    over ``{layer}`` (``self.layer`` in torch, the constructor call in Keras) and ``x0``, ``x1``,
    ...; by default the layer applied to the input (Keras: to the list of inputs when there are
    several). ``allow_review`` accepts a review finding for the rule (a difference that only
    matters in training, say). ``builder`` (Keras only) replaces the functional template: the
    body of ``build_model()``, for models that are not functional (``keras.Sequential``).
    ``imports`` (Keras only): more top-level import lines, for helpers a torch2tf output uses.
    """

    layer: str
    inputs: tuple[str, ...]
    forward: str | None = None
    allow_review: bool = False
    builder: str | None = None
    imports: str = ""


TORCH_TEMPLATE = """import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = {layer}

    def forward(self, {args}):
{body}
"""

KERAS_TEMPLATE = """import keras
from keras import layers, ops
{imports}

def build_model():
{inputs}
    outputs = {forward}
    return keras.Model({input_list}, outputs)
"""


def _shape(spec: str) -> tuple[int, ...]:
    return tuple(int(d) for d in spec.split(":")[0].split(","))


def _dtype(spec: str) -> str | None:
    parts = spec.split(":")
    return parts[1] if len(parts) > 1 else None


def render(direction: Direction, case: Case) -> tuple[str, str]:
    """(the original's source, the model expression for verify)."""
    names = [f"x{i}" for i in range(len(case.inputs))]
    if direction is Direction.TORCH2TF:
        body = case.forward or f"return {{layer}}({', '.join(names)})"
        body = textwrap.indent(body.replace("{layer}", "self.layer"), " " * 8)
        return TORCH_TEMPLATE.format(layer=case.layer, args=", ".join(names), body=body), "Net()"
    if case.builder is not None:
        body = textwrap.indent(case.builder.replace("{layer}", case.layer), " " * 4)
        return (
            f"import keras\nfrom keras import layers, ops\n{case.imports}\n\ndef build_model():\n{body}\n",
            "build_model()",
        )
    lines = []
    for name, spec in zip(names, case.inputs, strict=True):
        shape = _shape(spec)[1:]
        dtype = _dtype(spec)
        extra = f', dtype="{dtype}"' if dtype else ""
        lines.append(f"    {name} = keras.Input(shape={shape!r}{extra})")
    default = "{layer}(x0)" if len(names) == 1 else f"{{layer}}([{', '.join(names)}])"
    source = KERAS_TEMPLATE.format(
        imports=case.imports,
        inputs="\n".join(lines),
        forward=(case.forward or default).replace("{layer}", case.layer),
        input_list=names[0] if len(names) == 1 else f"[{', '.join(names)}]",
    )
    return source, "build_model()"


@dataclass(frozen=True)
class Outcome:
    """What a case gave: the migrated code, the findings of the rule under test, the verdict."""

    source: str
    migrated: str
    fired: bool  # a finding of the rule under test: the rule was applied
    problems: tuple[str, ...]  # findings that fail the property
    equivalent: bool
    report: str

    def explain(self) -> str:
        return (
            f"--- original\n{self.source}\n--- migrated\n{self.migrated}\n--- problems\n"
            + "\n".join(self.problems)
            + f"\n--- verify\n{self.report}"
        )


def run_case(direction: Direction, rule_id: str, case: Case, rules: Any, samples: int = 2) -> Outcome:
    """Migrate the case's model and verify it in this process (frameworks already imported)."""
    from migrator import api
    from migrator.report.verify_text import render_verify_text
    from migrator.verify import worker
    from migrator.verify.result import Tolerance

    source, model = render(direction, case)
    result = api.migrate_source(source, direction, rules, source_name="original.py")
    rule = rules.get(rule_id)
    apis = set(rule.match) if rule is not None else set()
    fired = any(f.rule_id == rule_id or f.api in apis for f in result.findings)
    bad = {Severity.UNSUPPORTED} if case.allow_review else {Severity.UNSUPPORTED, Severity.REVIEW}
    problems = tuple(
        f"{f.line}:{f.col}: {f.severity.value}: {f.api}: {f.message}"
        for f in result.findings
        if f.severity in bad
    )
    if problems or not fired:
        return Outcome(source, result.code, fired, problems, False, "(not verified)")
    with tempfile.TemporaryDirectory(prefix="fwmigrate-prop-") as tmp:
        original = Path(tmp) / "original.py"
        original.write_text(source, encoding="utf-8")
        migrated = Path(tmp) / "migrated.py"
        record = api.write_outputs(result, migrated, force=True)
        request = {
            "original": str(original),
            "migrated": str(migrated),
            "record": str(record),
            "direction": direction.value,
            "model": model,
            "inputs": list(case.inputs),
            "samples": samples,
            "seed": 0,
            "tolerance": asdict(Tolerance(atol=1e-6, rtol=1e-5, fail_rtol=1e-4)),
            "load_mode": "guarded",
            "train_steps": 0,
            "steps_per_epoch": 2,
            "warnings": [],
            "result": str(Path(tmp) / "result.json"),
        }
        verdict = worker.run(request)
    return Outcome(source, result.code, fired, (), verdict.equivalent, render_verify_text(verdict))


def all_cases() -> dict[Direction, dict[str, st.SearchStrategy[Case]]]:
    """Every case module's cases, by direction (from the rule id's prefix) and rule id."""
    found: dict[Direction, dict[str, st.SearchStrategy[Case]]] = {d: {} for d in Direction}
    for info in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda i: i.name):
        if not info.name.startswith("cases_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for rule_id, strategy in module.CASES.items():
            direction = Direction(rule_id.split(".")[0])
            if rule_id in found[direction]:
                raise ValueError(f"{info.name}: a case for {rule_id} is also defined in another module")
            found[direction][rule_id] = strategy
    return found


def dedent(text: str) -> str:
    return textwrap.dedent(text).strip()
