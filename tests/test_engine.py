"""Engine behaviour that cuts across rules: import resolution, name collisions, preservation of
what the author wrote, shape reads, and positions."""

from __future__ import annotations

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from migrator.api import migrate_source
from migrator.engine.positions import HOOK_TYPES, PositionTracker, index_module
from migrator.engine.walk import Walker
from migrator.rules.loader import RuleSet
from migrator.types import Direction, Severity
from tests.conftest import FIXTURES, body_after_imports

BODY = """

class Net({base}):
    def __init__(self):
        super().__init__()
        self.conv = {conv}(3, 8, 3, padding=1)

    def forward(self, x):
        return {relu}(self.conv(x))
"""

STYLES = {
    "import torch": ("import torch\n", "torch.nn.Module", "torch.nn.Conv2d", "torch.relu"),
    "import torch.nn as nn": (
        "import torch.nn as nn\nimport torch.nn.functional as F\n",
        "nn.Module",
        "nn.Conv2d",
        "F.relu",
    ),
    "from torch import nn": (
        "from torch import nn\nfrom torch.nn import functional as F\n",
        "nn.Module",
        "nn.Conv2d",
        "F.relu",
    ),
    "from torch.nn import X as Y": (
        "from torch.nn import Module as M, Conv2d as C\nfrom torch.nn.functional import relu as r\n",
        "M",
        "C",
        "r",
    ),
}


def _migrate(rules: RuleSet, source: str) -> str:
    return migrate_source(source, Direction.TORCH2TF, rules).code


@pytest.mark.parametrize("style", list(STYLES))
def test_import_styles_resolve_to_the_same_rules(torch2tf_rules: RuleSet, style: str) -> None:
    imports, base, conv, relu = STYLES[style]
    out = _migrate(torch2tf_rules, imports + BODY.format(base=base, conv=conv, relu=relu))
    assert body_after_imports(out) == (
        "class Net(keras.Model):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        '        self.conv = layers.Conv2D(filters=8, kernel_size=3, padding="same")\n'
        "\n"
        "    def call(self, x):\n"
        "        return ops.relu(self.conv(x))\n"
    )
    assert "torch" not in out.split("\n", 1)[1], "no torch import is left"


@pytest.mark.parametrize(
    "existing",
    ["import keras  # the output's own", "# for the migrated code\nimport keras", "import  keras"],
)
def test_an_import_the_file_already_has_is_not_added_again(torch2tf_rules: RuleSet, existing: str) -> None:
    src = f"{existing}\nimport torch.nn as nn\n\n\nclass Net(nn.Module):\n    pass\n"
    out = _migrate(torch2tf_rules, src)
    assert [ln.split("#")[0].split() for ln in out.splitlines()].count(["import", "keras"]) == 1, out
    assert "class Net(keras.Model):" in out


def test_user_names_layers_and_ops_are_not_shadowed(torch2tf_rules: RuleSet) -> None:
    src = "import torch.nn as nn\n\nlayers = [nn.Linear(2, 2)]\nops = layers\n"
    out = _migrate(torch2tf_rules, src)
    assert "layers = [keras.layers.Dense(units=2)]" in out
    assert "from keras import layers" not in out
    assert "import keras\n" in out


def test_a_comment_mentioning_layers_does_not_count(torch2tf_rules: RuleSet) -> None:
    out = _migrate(torch2tf_rules, 'import torch.nn as nn\n\n# three layers\nfc = nn.Linear(2, 2)  # "ops"\n')
    assert "fc = layers.Dense(units=2)" in out


def test_comments_and_docstrings_survive(torch2tf_rules: RuleSet) -> None:
    src = (FIXTURES / "lenet" / "input.py").read_text()
    out = _migrate(torch2tf_rules, src)
    for line in src.splitlines():
        s = line.strip()
        if s.startswith("#") or s.startswith('"""'):
            assert s in out, f"lost: {s}"


def test_shape_reads_follow_the_layout(torch2tf_rules: RuleSet) -> None:
    src = """import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 1)

    def forward(self, x):
        y = self.conv(x)
        b, c, h, w = y.shape
        return y.view(b, c * h * w) if y.shape[1] == c else y
"""
    out = _migrate(torch2tf_rules, src)
    assert "b, h, w, c = ops.shape(y)" in out
    assert "ops.shape(y)[3] == c" in out


def test_unknown_tensor_method_is_unsupported_with_line(torch2tf_rules: RuleSet) -> None:
    src = (
        "import torch.nn as nn\n\n\nclass Net(nn.Module):\n"
        "    def forward(self, x):\n        return x.unfold(1, 2, 1)\n"
    )
    result = migrate_source(src, Direction.TORCH2TF, torch2tf_rules)
    bad = [f for f in result.findings if f.severity is Severity.UNSUPPORTED]
    assert [(f.line, f.api) for f in bad] == [(6, "Tensor.unfold")]
    assert "# fwmigrate: unsupported: Tensor.unfold: no rule maps this tensor method" in result.code


def test_file_without_torch_is_left_alone(torch2tf_rules: RuleSet) -> None:
    src = "import numpy as np\n\nx = np.zeros(3)\n"
    result = migrate_source(src, Direction.TORCH2TF, torch2tf_rules)
    assert result.code == src and not result.changed and not result.findings


TRICKY = """import torch.nn as nn


@decorate(nn.ReLU())
def f(a=nn.Tanh(), *, b=g(h(1))):
    x = nn.ReLU() if cond(1) else nn.Tanh(); y = nn.Sigmoid()
    if a: z = nn.ELU()
    elif b(2):
        try:
            w = [nn.Linear(i, i) for i in range(k(3))]
        except E(4):
            pass
        else:
            v = {"a": nn.GELU(), "b": (lambda q: q(5))(6)}
        finally:
            u = nn.Dropout(p=float("0.1"))
    else:
        with ctx(7) as c:
            while c(8):
                t = nn.Identity()
    return nn.Sequential(
        nn.Linear(1, 2),
        nn.ReLU(),
    )
"""


@pytest.mark.parametrize(
    "name", ["tricky", *sorted(p.name for p in FIXTURES.iterdir() if (p / "input.py").is_file())]
)
def test_positions_match_libcst(name: str) -> None:
    """The ast-based positions equal libcst's PositionProvider for every call and statement."""
    src = TRICKY if name == "tricky" else (FIXTURES / name / "input.py").read_text()
    module = cst.parse_module(src)
    tracker = PositionTracker(index_module(src))
    Walker(object(), tracker.enter, tracker.exit, HOOK_TYPES).walk(module)
    wanted: dict[int, tuple[int, int]] = {}

    class Collect(cst.CSTVisitor):
        METADATA_DEPENDENCIES = (PositionProvider,)

        def on_visit(self, node: cst.CSTNode) -> bool:
            if type(node) in HOOK_TYPES and not isinstance(
                node, cst.IndentedBlock | cst.SimpleStatementSuite
            ):
                pos = self.get_metadata(PositionProvider, node).start
                wanted[id(node)] = (pos.line, pos.column + 1)
            return True

    MetadataWrapper(module, unsafe_skip_copy=True).visit(Collect())
    assert len(wanted) > 5
    got = {k: tracker.positions.get(k) for k in wanted}
    assert got == wanted


def test_input_layout_is_bound_through_layout_keeping_layers(torch2tf_rules: RuleSet) -> None:
    src = (
        "import torch.nn as nn\n\n\nclass Net(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n"
        "        self.proj = nn.Linear(5, 8)\n        self.gru = nn.GRU(8, 6)\n\n"
        "    def forward(self, x):\n        x = self.proj(x)\n"
        "        out, _ = self.gru(x)\n        return out[-1]\n"
    )
    result = migrate_source(src, Direction.TORCH2TF, torch2tf_rules)
    record = result.record.to_json()
    assert record["classes"]["Net"]["inputs"] == [
        {"name": "x", "perm": [1, 0, 2]}
    ]  # (T, N, F) held as (N, T, F)
    assert "return out[:, -1]" in result.code


def test_indexing_a_permuted_tensor_moves_the_indices(torch2tf_rules: RuleSet) -> None:
    src = (
        "import torch.nn as nn\n\n\nclass Net(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n"
        "        self.conv = nn.Conv2d(3, 8, 1)\n\n"
        "    def forward(self, x):\n        y = self.conv(x)\n"
        "        return y[:, 0] + y[0, :, 1:, ::2].mean()\n"
    )
    out = migrate_source(src, Direction.TORCH2TF, torch2tf_rules).code
    assert "y[:, :, :, 0]" in out  # channel 0 of NCHW is the last axis of NHWC
    assert "y[0, 1:, ::2]" in out
