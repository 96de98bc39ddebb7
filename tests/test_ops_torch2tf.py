"""Tensor operations in forward (rules/torch2tf/tensor_ops_*.toml), checked by running both frameworks.

Every case is a small torch module whose forward uses the op. All of them are migrated in one file
with the shipped rules, the generated Keras code is executed, the weights are moved with verify's own
transfer (``migrator.verify.transfer``), and both models run on the same seeded input; the Keras output
is read back in the source layout the migration record gives. Most cases start from a Conv2d, so the
operand is (N, C, H, W) in torch and (N, H, W, C) in Keras with H != W != C, and every dim argument
(negative ones included) must have been remapped. The trap tests show that the naive mapping of each
trap op really gives a different answer.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pytest

from migrator.api import migrate_source
from migrator.rules.loader import default_rule_dir, load_rules
from migrator.types import Direction, Severity

CONV_INPUT = (2, 3, 5, 7)  # conv output (2, 4, 5, 7): C=4, H=5, W=7


@dataclass(frozen=True)
class Case:
    name: str
    body: str  # the return expression, or statements (with a return) after `x = self.conv(x)`
    conv: bool = True  # x comes out of a Conv2d(3, 4, 1); else x is the input itself
    shape: tuple[int, ...] = CONV_INPUT
    dtype: str = "float32"
    atol: float = 0.0  # extra absolute tolerance (float16)


C = Case

CASES: tuple[Case, ...] = (
    # ---- elementwise math, function and method forms
    C("Exp", "torch.exp(x)"),
    C("ExpM", "x.exp()"),
    C("Expm1", "torch.expm1(x) + x.expm1()"),
    C("Log", "torch.log(x.abs() + 0.5) + (x.abs() + 0.1).log()"),
    C("Log1p", "torch.log1p(x.abs()) + x.abs().log1p()"),
    C("Log2", "torch.log2(x.abs() + 0.5) + (x.abs() + 0.1).log2()"),
    C("Log10", "torch.log10(x.abs() + 0.5) + (x.abs() + 0.1).log10()"),
    C("Sqrt", "torch.sqrt(x.abs()) + x.abs().sqrt()"),
    C("Rsqrt", "torch.rsqrt(x.abs() + 0.1) + (x.abs() + 0.2).rsqrt()"),
    C("Abs", "torch.abs(x) - x.absolute()"),
    C("Neg", "torch.neg(x) * 2 + x.neg()"),
    C("Sign", "torch.sign(x) + x.sign() * 2"),
    C("Floor", "torch.floor(x * 3) + x.floor()"),
    C("Ceil", "torch.ceil(x * 3) + x.ceil()"),
    C("Trunc", "torch.trunc(x * 3) + x.trunc()"),
    C("Round", "torch.round(x * 3) + (x * 5).round()"),
    C("RoundDecimals", "torch.round(x, decimals=1) + x.round(decimals=2)"),
    C("Reciprocal", "torch.reciprocal(x.abs() + 0.5) + (x.abs() + 1).reciprocal()"),
    C("Square", "torch.square(x) + x.square()"),
    C("Sin", "torch.sin(x) + x.sin()"),
    C("Cos", "torch.cos(x) + x.cos()"),
    C("Tan", "torch.tan(x * 0.3) + (x * 0.2).tan()"),
    C("Erf", "torch.erf(x) + x.erf()"),
    C("IsNan", "torch.isnan(torch.log(x)) | torch.log(x).isnan()"),
    C("IsInf", "torch.isinf(torch.exp(x * 100)) | torch.exp(x * 90).isinf()"),
    C("IsFinite", "torch.isfinite(torch.exp(x * 100)) & torch.exp(x * 90).isfinite()"),
    C("LogicalNot", "torch.logical_not(x > 0) | (x < -0.5).logical_not()"),
    C("Detach", "x.detach() * 2"),
    # ---- elementwise of several tensors: a source-order w meets the channels-last x
    C("PowScalar", "torch.pow(x, 2) + x.abs().pow(1.5)"),
    C("PowTensor", "w = torch.arange(4.0).view(1, 4, 1, 1) * 0.5\n        return torch.pow(x.abs(), w)"),
    C("Maximum", "w = torch.arange(4.0).view(1, 4, 1, 1) - 1.5\n        return torch.maximum(x, w)"),
    C("MaximumM", "x.maximum(x.flip(2))"),
    C("Minimum", "w = torch.arange(4.0).view(1, 4, 1, 1) - 1.5\n        return torch.minimum(w, x)"),
    C("MinimumM", "x.minimum(torch.zeros_like(x))"),
    C("Remainder", "torch.remainder(x, 0.7) + x.remainder(-0.3)"),
    C("FloorDivide", "torch.floor_divide(x, 0.3) + x.floor_divide(0.7)"),
    C("Eq", "torch.eq(torch.round(x), 0) | torch.round(x).eq(1)"),
    C("Ne", "torch.ne(torch.round(x), 0) & torch.round(x).not_equal(1)"),
    C("Lt", "w = torch.arange(4.0).view(1, 4, 1, 1) - 1.5\n        return torch.lt(x, w) | x.less(-1)"),
    C("Le", "torch.le(x, 0.2) ^ x.le(-0.2)"),
    C("Gt", "w = torch.arange(4.0).view(1, 4, 1, 1) - 1.5\n        return torch.greater(w, x) ^ x.gt(0.3)"),
    C("Ge", "torch.ge(x, 0) & x.greater_equal(-0.5)"),
    C("LogicalAnd", "torch.logical_and(x > 0, x < 0.5) | (x > 1).logical_and(x < 2)"),
    C("LogicalOr", "torch.logical_or(x > 1, x < -1) & (x > 0).logical_or(x < -0.2)"),
    C("LogicalXor", "torch.logical_xor(x > 0, x > 0.5) ^ (x > 1).logical_xor(x < 0)"),
    C("Where", "w = torch.arange(4.0).view(1, 4, 1, 1) - 1.5\n        return torch.where(x > 0, x, w)"),
    C(
        "WhereMask",
        "w = torch.arange(4.0).view(1, 4, 1, 1) - 1.5\n        return torch.where(w > 0, x, 0.1 * x)",
    ),
    C("WhereM", "x.where(x > 0, -1.0)"),
    C("Clamp", "torch.clamp(x, -0.5, 0.5) + torch.clip(x, min=0.1)"),
    C("ClampHiWins", "torch.clamp(x, 0.5, -0.5)"),
    C("ClampM", "x.clamp(max=0.2) + x.clip(-1, 1) + x.clamp_min(0.3) + x.clamp_max(-0.3)"),
    C("MaskedFill", "x.masked_fill(x < 0, -1.0)"),
    C(
        "MaskedFillLayout",
        "w = torch.arange(4.0).view(1, 4, 1, 1) - 1.5\n        return torch.masked_fill(x, w > 0, 0.0)",
    ),
    C("Softplus", "F.softplus(x) + F.softplus(x * 30, beta=2.0)"),
    C("SoftplusThreshold", "y = x * 3\n        return F.softplus(y, beta=2, threshold=1)"),
    # ---- reductions: dims of (N, C, H, W) held as (N, H, W, C)
    C("Std", "torch.std(x, dim=1)"),
    C("StdNeg", "x.std(dim=-2)"),
    C("StdTuple", "x.std(dim=(2, 3), keepdim=True)"),
    C("StdAll", "x.std() + x"),
    C("StdBatch", "torch.std(x, dim=0)"),
    C("StdBiased", "x.std(dim=1, unbiased=False) + torch.std(x, 1, False) + torch.std(x, False)"),
    C("StdCorrection", "x.std(dim=-3, correction=2, keepdim=True)"),
    C("Var", "torch.var(x, dim=(2, 3))"),
    C("VarM", "x.var(-1, keepdim=True) + x.var(dim=1, unbiased=False, keepdim=True)"),
    C("Prod", "torch.prod(x, dim=1) + x.prod(-3, keepdim=True).squeeze(1)"),
    C("Amin", "torch.amin(x, dim=(2, 3)) + x.amin(-3)[:, :1, 0]"),
    C("Logsumexp", "torch.logsumexp(x, dim=1, keepdim=True) + x.logsumexp(-2, keepdim=True)"),
    C("Any", "torch.any(x > 1, dim=1, keepdim=True) | (x > 1.5).any(-2, keepdim=True)"),
    C("All", "torch.all(x > -0.5, dim=-1, keepdim=True) | (x > -1).all(1, keepdim=True)"),
    C("Argmax", "torch.argmax(x, dim=1) + x.argmax(-2, keepdim=True).sum(1)"),
    C("ArgmaxFlat", "torch.argmax(x) + x.argmax(keepdim=True)"),
    C("Argmin", "torch.argmin(x, dim=-3, keepdim=True) + x.argmin(dim=3, keepdim=True) * 10"),
    C("ArgminFlat", "x.argmin()"),
    C("MaxDim", "torch.max(x, 1)[0] + torch.max(x, dim=1).indices.float()"),
    C("MaxM", "v, i = x.max(-1, keepdim=True)\n        return v * i.float()"),
    C(
        "MaxAllAndPair",
        "w = torch.arange(4.0).view(1, 4, 1, 1) - 1.5\n        return torch.max(x, w) + x.max()",
    ),
    C("MinDim", "torch.min(x, -2, keepdim=True).values + torch.min(x, 1, keepdim=True)[1].float()"),
    C("MinM", "x.min(dim=1, keepdim=True)[0] + x.min() + x.min(torch.zeros_like(x))"),
    C("Cumsum", "torch.cumsum(x, dim=1) + x.cumsum(-1)"),
    C("CumsumNeg", "torch.cumsum(x, dim=-3)"),
    C("Cumprod", "torch.cumprod(x, dim=2) + x.cumprod(-3)"),
    C("Norm", "torch.norm(x, dim=1)"),
    C("NormM", "x.norm(p=1, dim=(2, 3), keepdim=True) + x.norm(p=3, dim=-3, keepdim=True)"),
    C("NormAll", "torch.norm(x) + x.norm(dim=-1).sum()"),
    C(
        "VectorNorm",
        "torch.linalg.vector_norm(x, dim=(1, 2, 3)) + torch.linalg.vector_norm(x, ord=1, dim=-2).sum((1, 2))",
    ),
    C("Normalize", "F.normalize(x)"),
    C("NormalizeDims", "F.normalize(x, p=1, dim=-1) + F.normalize(x, dim=-3, eps=1e-6)"),
    # ---- shape and layout
    C("Split", "a, b = torch.split(x, 2, dim=1)\n        return torch.cat([b, a * 2], dim=1)"),
    C("SplitNeg", "parts = torch.split(x, [1, 3], dim=-3)\n        return parts[1] - parts[0]"),
    C("SplitM", "a, b, c, d = x.split(1, 1)\n        return a + 2 * b - c * d"),
    C("Chunk", "a, b = torch.chunk(x, 2, dim=1)\n        return a * torch.sigmoid(b)"),
    C("ChunkM", "y = x[:, :, :4]\n        a, b = y.chunk(2, -2)\n        return a - b"),
    C("Unbind", "torch.unbind(x, dim=1)[2].sum(-1) + x.unbind(-1)[0].sum(1) * 2"),
    C("Squeeze", "x.mean(dim=1, keepdim=True).squeeze(1) + torch.squeeze(x[:, :1], -3)"),
    C("SqueezeAll", "torch.squeeze(x[:, :, :1])"),
    C("SqueezeAllM", "x.amax(dim=(2, 3), keepdim=True).squeeze()"),
    C("Unsqueeze", "x.unsqueeze(1).sum(2) + torch.unsqueeze(x, -1).mean(-1)"),
    C("UnsqueezeExpand", "x.unsqueeze(2).expand(-1, -1, 3, -1, -1)"),
    C("UnsqueezeLead", "torch.unsqueeze(x, 0).sum(1)"),
    C("Expand", "x.mean(dim=1, keepdim=True).expand(-1, 4, -1, -1) + x[:, :1].expand(2, 4, 5, 7)"),
    C("ExpandNew", "x[:, :, :1].expand(3, 2, 4, 5, 7)"),
    C("BroadcastTo", "torch.broadcast_to(x.amax(dim=2, keepdim=True), (2, 4, 5, 7))"),
    C("ExpandAs", "x.mean(dim=1, keepdim=True).expand_as(x) - x"),
    C("Repeat", "x.repeat(1, 2, 1, 3)"),
    C("RepeatLead", "x.repeat(2, 1, 1, 1, 1)"),
    C("Tile", "torch.tile(x, (2, 1)) + x.tile((1, 1, 2, 1))"),
    C("RepeatInterleave", "torch.repeat_interleave(x, 2, dim=1) + x.repeat_interleave(2, dim=-3)"),
    C("RepeatInterleaveFlat", "x.repeat_interleave(2)"),
    C("Flip", "torch.flip(x, [1, 3]) + x.flip(-2)"),
    C("Roll", "torch.roll(x, 2, dims=1) + x.roll((1, -2), (3, 2))"),
    C("RollFlat", "torch.roll(x, 3)"),
    C("Tril", "torch.tril(x) + x.tril(diagonal=-1)"),
    C("Triu", "torch.triu(x, 1) + x.triu()"),
    C("Pad", "F.pad(x, (1, 2, 3, 4))"),
    C("PadReflect", "F.pad(x, (1, 1, 2, 2), mode='reflect')"),
    C("PadChannels", "F.pad(x, (0, 0, 0, 0, 1, 2), value=-1.0)"),
    C("Clone", "x.clone() + 1"),
    C("Casts", "(x > 0).float() + (x * 3).int().float() * 10 + (x > 0).int().bool().double().float() * 100"),
    C("Long", "(x * 3).long()"),
    C("Half", "x.half()", atol=2e-3),
    C("To", "x.to(torch.float64)"),
    C("ToDevice", "x.to('cpu') * 2"),
    C("TypeAs", "(x > 0).type_as(x) * x"),
    C("Dim", "x * x.dim()"),
    # ---- indexing, sorting, contraction
    C("Gather", "torch.gather(x, 1, x.argmax(dim=1, keepdim=True))"),
    C("GatherM", "x.gather(-1, torch.argsort(x, dim=-1))"),
    C("IndexSelect", "torch.index_select(x, 1, torch.tensor([2, 0]))"),
    C("IndexSelectM", "x.index_select(-1, torch.tensor([6, 1, 3, 3]))"),
    C("Topk", "torch.topk(x, 2, dim=1).values"),
    C(
        "TopkM",
        "x.topk(3, dim=2)[1].float().sum(2, keepdim=True) + torch.topk(x, 2)[0].sum(-1, keepdim=True)",
    ),
    C("Sort", "torch.sort(x, dim=1)[0] + x.sort(dim=-3, descending=True).indices.float()"),
    C("SortPair", "v, i = torch.sort(x, 2)\n        return v * i.float()"),
    C("Argsort", "torch.argsort(x, dim=1, descending=True) + x.argsort(-1)[:, :, :, :1]"),
    C("OneHot", "F.one_hot(x.argmax(dim=1), 4)"),
    C("Einsum", "torch.einsum('nchw,nc->nhw', x, x.mean(dim=(2, 3)))"),
    C("EinsumPermute", "torch.einsum('nchw->nwhc', x)"),
    C(
        "Bmm",
        "a = x.reshape(2, 4, 35)\n        return torch.bmm(a, a.transpose(1, 2)) + a.bmm(a.transpose(1, 2))",
    ),
    C(
        "Outer",
        "torch.outer(x.sum(dim=(0, 2, 3)), x.mean(dim=(0, 1, 2)))"
        " + x.sum(dim=(0, 2, 3)).outer(x.amax(dim=(0, 1, 2)))",
    ),
    # ---- constructors
    C("Arange", "x + torch.arange(4.0).view(1, 4, 1, 1) + torch.arange(0, 2, 0.5).view(1, 4, 1, 1)"),
    C("ArangeInt", "torch.arange(5) + torch.arange(2, 12, 2)", conv=False, shape=(2, 3)),
    C("ZerosOnes", "x + torch.ones(2, 4, 5, 7) + torch.zeros((2, 4, 5, 7)) + torch.ones(x.shape).cumsum(1)"),
    C("Full", "x * torch.full((2, 4, 1, 7), 0.5)"),
    C("FullInt", "torch.full((2, 3), 7) * torch.full((2, 3), True).int()", conv=False, shape=(2, 3)),
    C("Likes", "torch.zeros_like(x) + torch.ones_like(x) * x + torch.full_like(x, 2.0)"),
    # ---- without a conv: source order throughout
    C(
        "PlainSplitStd",
        "a, b, c = torch.split(x, 2, dim=1)\n"
        "        return b.std(dim=-1, keepdim=True) + c.var(1, keepdim=True)",
        conv=False,
        shape=(2, 6, 5),
    ),
    C(
        "PlainIndex",
        "torch.gather(x, 1, torch.argsort(x, dim=1)) + x.topk(5, dim=-1)[0]",
        conv=False,
        shape=(3, 5),
    ),
)


def _class_source(case: Case) -> str:
    body = case.body if "return" in case.body else f"return {case.body}"
    if not case.conv:
        return f"class {case.name}(nn.Module):\n    def forward(self, x):\n        {body}\n"
    return (
        f"class {case.name}(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.conv = nn.Conv2d(3, 4, 1)\n\n"
        "    def forward(self, x):\n"
        "        x = self.conv(x)\n"
        f"        {body}\n"
    )


SOURCE = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\n" + "\n\n".join(
    _class_source(c) for c in CASES
)


@dataclass(frozen=True)
class Migrated:
    code: str
    record: dict[str, Any]
    findings: tuple[Any, ...]


@cache
def _migrated() -> Migrated:
    result = migrate_source(SOURCE, Direction.TORCH2TF, load_rules(Direction.TORCH2TF), "ops.py")
    return Migrated(result.code, json.loads(json.dumps(result.record.to_json())), result.findings)


@cache
def _namespaces() -> tuple[dict[str, Any], dict[str, Any]]:
    """The original classes (torch) and the migrated ones (Keras), each file executed once."""
    torch_ns: dict[str, Any] = {"__name__": "ops_torch"}
    exec(compile(SOURCE, "ops_torch.py", "exec"), torch_ns)
    keras_ns: dict[str, Any] = {"__name__": "ops_keras"}
    exec(compile(_migrated().code, "ops_keras.py", "exec"), keras_ns)
    return torch_ns, keras_ns


def _new_rule_ids() -> set[str]:
    ids = set()
    for path in sorted(default_rule_dir(Direction.TORCH2TF).glob("tensor_ops_*.toml")):
        for raw in tomllib.loads(path.read_text(encoding="utf-8"))["rule"]:
            if "unsupported" not in raw:
                ids.add(raw["id"])
    return ids


def test_every_new_rule_has_a_numerical_case() -> None:
    fired = {f.rule_id for f in _migrated().findings if f.severity is Severity.MIGRATED}
    missing = sorted(_new_rule_ids() - fired)
    assert not missing, f"rules without a numerical case: {missing}"
    assert len(_new_rule_ids()) >= 120


def test_the_cases_migrate_without_findings() -> None:
    flagged = [f for f in _migrated().findings if f.severity is not Severity.MIGRATED]
    assert not flagged, "\n".join(f"{f.line}: {f.api}: {f.message}" for f in flagged)
    imports = [line for line in _migrated().code.splitlines() if line.startswith(("import ", "from "))]
    assert not [line for line in imports if "torch" in line], "a torch import survived"


def _input(case: Case) -> Any:
    rng = np.random.default_rng(abs(hash(case.name)) % 2**32)
    return rng.standard_normal(case.shape).astype(case.dtype)


def _perm(name: str, key: str) -> list[int] | None:
    got = _migrated().record["classes"][name][key][0]["perm"]
    return list(got) if got is not None else None


def _run_pair(case: Case) -> tuple[Any, Any]:
    import torch

    from migrator.verify.arrays import to_source, to_target
    from migrator.verify.transfer import pair_modules, transfer

    torch_ns, keras_ns = _namespaces()
    torch.manual_seed(0)
    tmodel = torch_ns[case.name]().eval()
    kmodel = keras_ns[case.name]()
    x = _input(case)
    with torch.no_grad():
        want = tmodel(torch.from_numpy(x)).numpy()
    kx = to_target(x, _perm(case.name, "inputs"))
    kmodel(kx)  # builds the Keras weights
    transfer(pair_modules(tmodel, kmodel, _migrated().record), {}, kmodel)
    got = np.asarray(kmodel(kx))
    return want, to_source(got, _perm(case.name, "outputs"))


@pytest.mark.frameworks
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_op_matches_torch(case: Case) -> None:
    want, got = _run_pair(case)
    assert got.shape == want.shape, f"shape {got.shape} != torch {want.shape}"
    if want.dtype.kind in "biu":
        assert got.dtype.kind in "biu", f"dtype {got.dtype} for torch {want.dtype}"
        np.testing.assert_array_equal(got, want)
        return
    want64, got64 = want.astype(np.float64), got.astype(np.float64)
    finite = np.isfinite(want64)
    np.testing.assert_array_equal(np.isfinite(got64), finite)
    scale = float(np.max(np.abs(want64[finite]), initial=0.0))
    tol = 1e-5 * scale + 1e-6 + case.atol * scale
    diff = float(np.max(np.abs(got64[finite] - want64[finite]), initial=0.0))
    assert diff <= tol, f"max |keras - torch| = {diff:.3g} > {tol:.3g}"


# ---------------------------------------------------------------- the traps are real


def _conv_like(shape: tuple[int, ...] = (2, 4, 5, 7), seed: int = 1) -> Any:
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


@pytest.mark.frameworks
def test_trap_std_var_are_unbiased_in_torch() -> None:
    import torch
    from keras import ops

    x = _conv_like()
    want_std = torch.std(torch.from_numpy(x), dim=1).numpy()
    want_var = torch.var(torch.from_numpy(x), dim=(2, 3)).numpy()
    naive_std = np.asarray(ops.std(np.transpose(x, (0, 2, 3, 1)), axis=-1))
    naive_var = np.asarray(ops.var(np.transpose(x, (0, 2, 3, 1)), axis=(1, 2)))
    assert np.max(np.abs(naive_std - want_std)) > 0.05  # sqrt(4/3): 15% off
    assert np.max(np.abs(naive_var - want_var)) > 0.01
    for name in ("Std", "Var"):
        want, got = _run_pair(next(c for c in CASES if c.name == name))
        assert np.max(np.abs(got - want)) < 1e-5 * np.max(np.abs(want)) + 1e-6


@pytest.mark.frameworks
def test_trap_split_takes_a_size_not_a_count() -> None:
    import torch
    from keras import ops

    x = _conv_like((2, 6, 5))
    want = [t.numpy() for t in torch.split(torch.from_numpy(x), 2, dim=1)]
    naive = [np.asarray(t) for t in ops.split(x, 2, axis=1)]  # tf.split(x, 2): two chunks of 3
    assert [t.shape for t in naive] != [t.shape for t in want]
    case = next(c for c in CASES if c.name == "PlainSplitStd")
    assert "ops.split(x, ops.shape(x)[1] // 2, axis=1)" in _migrated().code
    want_out, got_out = _run_pair(case)
    np.testing.assert_allclose(got_out, want_out, rtol=1e-5, atol=1e-6)


@pytest.mark.frameworks
def test_trap_repeat_is_tile_not_ops_repeat() -> None:
    import torch
    from keras import ops

    x = _conv_like((2, 3))
    want = torch.from_numpy(x).repeat(1, 2).numpy()
    naive = np.asarray(ops.repeat(x, 2, axis=1))  # repeat_interleave: a a b b c c
    assert naive.shape == want.shape and np.max(np.abs(naive - want)) > 0.1
    np.testing.assert_array_equal(np.asarray(ops.tile(x, (1, 2))), want)


@pytest.mark.frameworks
def test_trap_gather_is_take_along_axis_not_tf_gather() -> None:
    import torch
    from keras import ops

    x = _conv_like((3, 5))
    idx = np.argsort(x, axis=1)[:, :2]
    want = torch.gather(torch.from_numpy(x), 1, torch.from_numpy(idx)).numpy()
    naive = np.asarray(ops.take(x, idx, axis=1))  # tf.gather: index_select, shape (3, 3, 2)
    assert naive.shape != want.shape
    np.testing.assert_array_equal(np.asarray(ops.take_along_axis(x, idx, axis=1)), want)


@pytest.mark.frameworks
def test_trap_pad_pairs_run_from_the_last_dim() -> None:
    import torch
    import torch.nn.functional as F
    from keras import ops

    x = _conv_like()
    want = F.pad(torch.from_numpy(x), (1, 2, 3, 4)).numpy()
    naive = np.asarray(ops.pad(x, ((1, 2), (3, 4), (0, 0), (0, 0))))  # pairs read first-dim first
    assert naive.shape != want.shape
    assert "ops.pad(x, ((0, 0), (3, 4), (1, 2), (0, 0)))" in _migrated().code
    want_out, got_out = _run_pair(next(c for c in CASES if c.name == "Pad"))
    np.testing.assert_allclose(got_out, want_out, rtol=1e-5, atol=1e-6)


@pytest.mark.frameworks
def test_trap_squeeze() -> None:
    import torch
    from keras import ops

    x = _conv_like((2, 4, 1, 7))  # (N, C, 1, W): channels-last (N, 1, W, C)
    want = torch.from_numpy(x).squeeze().numpy()  # (N, C, W)
    naive = np.asarray(ops.squeeze(np.transpose(x, (0, 2, 3, 1))))  # (N, W, C): the wrong order
    assert naive.shape != want.shape
    # squeeze(d) of a dim that is not 1: a no-op in torch, an error in Keras (loud, never silent)
    assert torch.from_numpy(x).squeeze(1).shape == (2, 4, 1, 7)
    with pytest.raises(ValueError):
        ops.squeeze(x, axis=1)
    assert "ops.squeeze(ops.transpose(x[:, :1], (0, 3, 1, 2)))" in _migrated().code
    want_out, got_out = _run_pair(next(c for c in CASES if c.name == "SqueezeAll"))
    np.testing.assert_allclose(got_out, want_out, rtol=1e-5, atol=1e-6)


@pytest.mark.frameworks
def test_trap_round_is_half_to_even() -> None:
    import torch
    from keras import ops

    x = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5], dtype="float32")
    want = torch.round(torch.from_numpy(x)).numpy()
    naive = np.asarray(ops.floor(x + 0.5))
    assert np.max(np.abs(naive - want)) == 1.0
    np.testing.assert_array_equal(np.asarray(ops.round(x)), want)


@pytest.mark.frameworks
def test_trap_dims_follow_the_layout() -> None:
    """The same op with the dim copied literally onto the channels-last tensor gives other numbers."""
    import torch
    from keras import ops

    x = _conv_like()
    want = torch.cumsum(torch.from_numpy(x), dim=1).numpy()
    naive = np.transpose(np.asarray(ops.cumsum(np.transpose(x, (0, 2, 3, 1)), axis=1)), (0, 3, 1, 2))
    assert np.max(np.abs(naive - want)) > 0.1
    assert "ops.cumsum(x, axis=-1)" in _migrated().code
