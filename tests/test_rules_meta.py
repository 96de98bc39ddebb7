"""The rule corpus itself: stable unique ids, examples everywhere, references that resolve, and
validation errors that name file, rule and field."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from migrator.rules.loader import RuleError, RuleSet, default_rule_dir, load_rules
from migrator.rules.schema import RuleKind
from migrator.transforms import HOOKS, MODULE_CALLS
from migrator.types import Direction
from migrator.weights import TRANSFORMS


def test_ids_are_unique_and_namespaced(torch2tf_rules: RuleSet) -> None:
    ids = [r.id for r in torch2tf_rules.rules]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"torch2tf\.[A-Za-z_.0-9]+", i) for i in ids), ids


def test_ids_are_unique_across_files() -> None:
    seen: dict[str, Path] = {}
    for path in sorted(default_rule_dir(Direction.TORCH2TF).glob("*.toml")):
        for raw in tomllib.loads(path.read_text())["rule"]:
            assert raw["id"] not in seen, f"{raw['id']} in {path} and {seen[raw['id']]}"
            seen[raw["id"]] = path


def test_every_rule_has_examples_and_a_summary(torch2tf_rules: RuleSet) -> None:
    for rule in torch2tf_rules.rules:
        assert rule.examples, f"{rule.id} has no examples"
        assert rule.summary, f"{rule.id} has no summary"


def test_referenced_hooks_and_weight_transforms_exist(torch2tf_rules: RuleSet) -> None:
    for rule in torch2tf_rules.rules:
        if rule.hook is not None:
            assert rule.hook in HOOKS, rule.id
        if rule.weights is not None:
            assert rule.weights in TRANSFORMS, f"{rule.id}: unknown weight transform {rule.weights}"


def test_every_layer_rule_names_its_weight_transform(torch2tf_rules: RuleSet) -> None:
    for rule in torch2tf_rules.rules:
        if rule.kind is RuleKind.LAYER and rule.contract.value != "container":
            assert rule.weights is not None, f"{rule.id} must name a weight transform (identity if none)"


def test_every_hook_entry_imports_a_function() -> None:
    # the hook tables import their modules lazily: a misspelt module or function would only
    # fail when a rule first used it
    for table in (HOOKS, MODULE_CALLS):
        for name in table:
            assert callable(table[name]), name


def test_every_hook_is_used(torch2tf_rules: RuleSet) -> None:
    used = {r.hook for r in torch2tf_rules.rules}
    assert set(HOOKS) <= used, f"unused hooks: {set(HOOKS) - used}"


def test_the_issue_list_is_covered(torch2tf_rules: RuleSet) -> None:
    wanted = [
        "torch.nn.Linear",
        "torch.nn.Conv1d",
        "torch.nn.Conv2d",
        "torch.nn.ConvTranspose2d",
        "torch.nn.MaxPool1d",
        "torch.nn.MaxPool2d",
        "torch.nn.AvgPool1d",
        "torch.nn.AvgPool2d",
        "torch.nn.AdaptiveAvgPool2d",
        "torch.nn.BatchNorm1d",
        "torch.nn.BatchNorm2d",
        "torch.nn.LayerNorm",
        "torch.nn.Dropout",
        "torch.nn.Flatten",
        "torch.nn.Embedding",
        "torch.nn.ReLU",
        "torch.nn.ReLU6",
        "torch.nn.LeakyReLU",
        "torch.nn.GELU",
        "torch.nn.Sigmoid",
        "torch.nn.Tanh",
        "torch.nn.SiLU",
        "torch.nn.Hardswish",
        "torch.nn.ELU",
        "torch.nn.Softmax",
        "torch.nn.LogSoftmax",
        "torch.nn.Sequential",
        "torch.nn.ModuleList",
        "torch.cat",
        "torch.stack",
        "torch.flatten",
        "torch.matmul",
        "torch.relu",
        "torch.sigmoid",
        "torch.tanh",
        "torch.mean",
        "torch.sum",
        "torch.amax",
        "torch.nn.functional.relu",
        "torch.nn.functional.max_pool2d",
        "torch.nn.functional.avg_pool2d",
        "torch.nn.functional.softmax",
        "torch.nn.functional.gelu",
    ]
    missing = [w for w in wanted if w not in torch2tf_rules.by_name]
    assert not missing
    methods = [
        "view",
        "reshape",
        "flatten",
        "permute",
        "transpose",
        "size",
        "mean",
        "sum",
        "amax",
        "matmul",
    ]
    assert not [m for m in methods if m not in torch2tf_rules.by_method]


# ---------------------------------------------------------------- validation errors


def _load(tmp_path: Path, text: str) -> str:
    d = tmp_path / "r"
    d.mkdir(exist_ok=True)
    (d / "x.toml").write_text(text)
    with pytest.raises(RuleError) as info:
        load_rules(Direction.TORCH2TF, [d])
    msg = str(info.value)
    assert "\n" not in msg
    assert "x.toml" in msg
    return msg


BASE = 'id = "u.r"\nkind = "layer"\nmatch = "torch.nn.GRU"\n'


@pytest.mark.parametrize(
    ("body", "expect"),
    [
        ("[[rule]\n", "invalid TOML"),
        ('[[rule]]\nkind = "layer"\n', "field 'id'"),
        (
            '[[rule]]\nid = "u.r"\nkind = "layr"\nmatch = "x"\nemit = "keras.layers.GRU"\n',
            "rule u.r: field 'kind'",
        ),
        ("[[rule]]\n" + BASE, "field 'emit'"),
        ("[[rule]]\n" + BASE + 'hook = "nope"\n', "field 'hook': unknown hook 'nope'"),
        (
            "[[rule]]\n" + BASE + 'emit = "keras.layers.GRU"\nset = { units = "16 +" }\n',
            "field 'set.units'",
        ),
        (
            "[[rule]]\n" + BASE + 'emit = "k"\nparams = ["a"]\n[rule.args]\nb = { to = "c" }\n',
            "field 'args.b'",
        ),
        (
            "[[rule]]\n" + BASE + 'emit = "k"\n[rule.args]\na = { too = "c" }\n',
            "field 'args.a.too'",
        ),
        (
            "[[rule]]\n" + BASE + 'emit = "k"\n[rule.args]\na = { value = "twice" }\n',
            "field 'args.a.value'",
        ),
        (
            "[[rule]]\n" + BASE + 'emit = "k"\n[[rule.examples]]\nbefore = "x"\n',
            "field 'examples[0]'",
        ),
        ("[[rule]]\n" + BASE + 'emit = "k"\ncontract = "sideways"\n', "field 'contract'"),
        ("rules = 1\n", "unknown top-level key"),
    ],
)
def test_invalid_rule_files(tmp_path: Path, body: str, expect: str) -> None:
    assert expect in _load(tmp_path, body)


def test_duplicate_ids_in_one_directory(tmp_path: Path) -> None:
    rule = "[[rule]]\n" + BASE + 'emit = "keras.layers.GRU"\n'
    assert "duplicate rule id" in _load(tmp_path, rule + rule)


def test_non_utf8_rule_file(tmp_path: Path) -> None:
    d = tmp_path / "r"
    d.mkdir()
    (d / "x.toml").write_bytes(b"\xff\xfe")
    with pytest.raises(RuleError, match="not UTF-8"):
        load_rules(Direction.TORCH2TF, [d])


def test_rule_code_is_never_evaluated(tmp_path: Path) -> None:
    """A value that would have a side effect if evaluated is only parsed."""
    marker = tmp_path / "pwned"
    d = tmp_path / "r"
    d.mkdir()
    (d / "x.toml").write_text(
        "[[rule]]\n" + BASE + 'emit = "keras.layers.GRU"\nparams = ["a"]\n'
        f"[rule.set]\nunits = \"open({str(marker)!r}, 'w')\"\n"
    )
    rules = load_rules(Direction.TORCH2TF, [d])
    from migrator.api import migrate_source

    out = migrate_source("import torch.nn as nn\nr = nn.GRU(1)\n", Direction.TORCH2TF, rules).code
    assert "open(" in out
    assert not marker.exists()


def test_every_subpackage_is_listed_for_the_wheel() -> None:
    """A package missing from [tool.setuptools] packages silently drops out of a non-editable install."""
    root = Path(__file__).resolve().parent.parent
    listed = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(p.parent.relative_to(root).parts)
        for p in (root / "migrator").rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    assert found <= listed, f"not packaged: {sorted(found - listed)}"
