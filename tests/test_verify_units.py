"""The parts of `verify` that need no framework: specs, the model expression, loading modes,
static warnings, and the tolerance policy."""

from __future__ import annotations

import pytest

from migrator.verify.compare import Diff, classify, diff
from migrator.verify.expr import ExprError, check_expr, evaluate
from migrator.verify.inputs import shape_variants
from migrator.verify.loading import definitions_only
from migrator.verify.result import Status, Tolerance
from migrator.verify.spec import InputSpec, SpecError
from migrator.verify.static import forward_warnings


def test_input_specs() -> None:
    assert InputSpec.parse("2,1,28,28") == InputSpec((2, 1, 28, 28))
    assert InputSpec.parse("4,12:int64:0:100") == InputSpec((4, 12), "int64", 0.0, 100.0)
    assert InputSpec.parse("2,3:float32:-1:1").text() == "2,3:float32:-1:1"
    for bad, why in [
        ("", "positive"),
        ("2,0", "positive"),
        ("2,3:complex", "dtype"),
        ("2:int64", "LOW:HIGH"),
        ("2:float32:1:0", "below"),
        ("2:float32:a:b", "numbers"),
        ("2:float32:1", "SHAPE"),
    ]:
        with pytest.raises(SpecError, match=why):
            InputSpec.parse(bad)


def test_shape_variants_flip_spatial_parity() -> None:
    spec = InputSpec((2, 3, 32, 20))
    assert shape_variants(spec, True, 3) == [(2, 3, 32, 20), (2, 3, 33, 21), (2, 3, 32, 20)]
    assert shape_variants(InputSpec((2, 7)), False, 2) == [(2, 7), (2, 7)]


class Net:
    def __init__(self, width: int = 1, layers: list[int] | None = None) -> None:
        self.width, self.layers = width, layers


def test_model_expressions() -> None:
    ns = {"Net": Net, "Block": int}
    assert evaluate("Net", ns).width == 1
    assert evaluate("Net(width=3)", ns).width == 3
    assert evaluate("Net(2, [2, 2, -1])", ns).layers == [2, 2, -1]
    with pytest.raises(ExprError, match="not defined"):
        evaluate("Missing()", ns)


@pytest.mark.parametrize(
    "text",
    ["Net() + 1", "[x for x in y]", "lambda: 0", "Net().__class__", "__import__('os')", "Net(*a)", "(yield)"],
)
def test_model_expression_rejects_code(text: str) -> None:
    with pytest.raises(ExprError):
        check_expr(text)


def test_definitions_only_keeps_definitions_and_constants() -> None:
    src = (
        '"""doc"""\nimport torch\nWIDTH = 4\nSIZES = [1, 2]\nparser = make_parser()\n'
        "def f():\n    return 1\nclass A:\n    pass\ntrain(A())\n"
    )
    out = definitions_only(src)
    assert "WIDTH = 4" in out and "SIZES = [1, 2]" in out and "def f" in out and "class A" in out
    assert "import torch" in out and "doc" in out
    assert "make_parser" not in out and "train(" not in out


def test_static_warnings() -> None:
    src = """
import torch
import torch.nn.functional as F

class Net(torch.nn.Module):
    def forward(self, x, mask=None):
        if mask is not None:
            x = x * mask
        if x.shape[0] > 1:
            x = x + 1
        if x.sum() > 0:
            x = -x
        y = F.dropout(x, 0.5)
        z = F.dropout(x, 0.5, training=self.training)
        return y + torch.randn_like(x) + z
"""
    warnings = forward_warnings(src)
    assert any("line 11" in w and "`if` on tensor values" in w for w in warnings)
    assert not any("line 7" in w or "line 9" in w for w in warnings)
    assert any("line 13" in w and "dropout" in w for w in warnings)
    assert not any("line 14" in w for w in warnings)
    assert any("randn_like" in w for w in warnings)


def test_tolerance_policy() -> None:
    tol = Tolerance()
    assert classify(Diff(2e-6, 1.0), tol) == (Status.PASS, "")
    assert classify(Diff(1e-3, 1.0), tol)[0] is Status.FAIL
    status, note = classify(Diff(5e-5, 1.0), tol)
    assert status is Status.SUSPICIOUS
    status, note = classify(Diff(5e-5, 1.0), tol, e32=5e-6)  # within 20x the model's own float32 error
    assert status is Status.PASS and "float64 rule" in note
    assert classify(Diff(4.7e-4, 10.0), tol, e32=1e-6)[0] is Status.SUSPICIOUS  # the GELU-approximation bug
    import numpy as np

    d = diff(np.array([1.0, -2.0]), np.array([1.0, -2.5]))
    assert d.max_abs == 0.5 and d.scale == 2.0 and d.rel == 0.25
    nan = diff(np.array([np.nan, 1.0]), np.array([0.0, 1.0]))
    assert nan.max_abs == float("inf")


def test_a_nan_result_is_strict_json() -> None:
    import json

    from migrator.verify.result import Comparison, EquivalenceResult, Verdict

    nan = Comparison("output", "output", (2,), float("nan"), float("inf"), 1.0, 1e-5, Status.FAIL)
    r = EquivalenceResult(
        "torch2tf", "a.py", "b.py", "Net", Verdict.NOT_EQUIVALENT, Tolerance(), outputs=(nan,)
    )
    text = r.dumps()
    data = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert data["outputs"][0]["max_abs_diff"] == "NaN"
    back = EquivalenceResult.from_json(data)
    assert back.outputs[0].max_rel_diff == float("inf")
