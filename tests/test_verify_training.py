"""Train-step equivalence (`fwmigrate verify --train-steps N`): from the same transferred weights,
both sides train N steps with the optimizer, loss and schedule the migration recorded; the losses,
the eval outputs afterwards and (SGD family) the parameters must agree. Correct mappings pass,
naive ones fail at the step they diverge, and a set-up that cannot run is a one-line error.

Three CLI runs (the slow part: each imports torch and TensorFlow) start together when the module
starts and are read by the tests at the end of the file; every other case calls
``compare_training`` in this process with hand-built models."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from migrator.verify.driver import Batches
from migrator.verify.result import EquivalenceResult, Status, Tolerance, TrainingResult, Verdict
from migrator.verify.spec import InputSpec, LoadMode
from migrator.verify.training import (
    NO_TRAINING,
    TrainingError,
    TrainingPlan,
    compare_training,
    make_targets,
    migrated_targets,
    with_training,
)
from tests.test_reports import STRUCTURAL, VOID, parse

pytestmark = pytest.mark.frameworks

FWMIGRATE = str(Path(sys.executable).parent / "fwmigrate")

TORCH_MLP = """\
import torch
import torch.nn as nn


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 16)
        self.act = nn.Tanh()
        self.fc2 = nn.Linear(16, 4)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


def build_model():
    return MLP()
"""

KERAS_OF_TORCH_MLP = """\
import keras
from keras import layers


class MLP(keras.Model):
    def __init__(self):
        super().__init__()
        self.fc1 = layers.Dense(units=16)
        self.act = layers.Activation(activation="tanh")
        self.fc2 = layers.Dense(units=4)

    def call(self, x):
        return self.fc2(self.act(self.fc1(x)))


def build_model():
    return MLP()
"""

# the record `fwmigrate torch2tf` writes for TORCH_MLP (without "training")
TORCH2TF_RECORD: dict[str, Any] = {
    "fwmigrate": "0.1.0",
    "direction": "torch2tf",
    "source": "mlp.py",
    "layout": {"source": "channels_first", "target": "channels_last"},
    "classes": {
        "MLP": {
            "base": "keras.Model",
            "inputs": [{"name": "x", "perm": None}],
            "outputs": [{"name": "output", "perm": None}],
        }
    },
    "layers": [
        {"owner": "MLP", "path": p, "target": p, "rule": r, "transform": t, "line": n}
        for p, r, t, n in [
            ("fc1", "torch2tf.nn.Linear", "linear", 8),
            ("act", "torch2tf.nn.Tanh", "identity", 9),
            ("fc2", "torch2tf.nn.Linear", "linear", 10),
        ]
    ],
}

KERAS_MLP = """\
import keras
from keras import layers


def build_model():
    return keras.Sequential(
        [
            keras.Input(shape=(8,)),
            layers.Dense(16, activation="tanh"),
            layers.Dropout(0.3),
            layers.Dense(4),
        ]
    )
"""

TORCH_OF_KERAS_MLP = """\
import torch
from torch import nn


def build_model():
    return nn.Sequential(
        nn.Linear(8, 16),
        nn.Tanh(),
        nn.Dropout(p=0.3),
        nn.Linear(16, 4),
    )
"""

# the record `fwmigrate tf2torch` writes for KERAS_MLP (without "training")
TF2TORCH_RECORD: dict[str, Any] = {
    "fwmigrate": "0.1.0",
    "direction": "tf2torch",
    "source": "kmlp.py",
    "layout": {"source": "channels_last", "target": "channels_first"},
    "classes": {
        "build_model": {
            "base": "function",
            "inputs": [{"name": "inputs", "perm": [0, 1]}],
            "outputs": [{"name": "output", "perm": [0, 1]}],
        }
    },
    "layers": [
        {"owner": "build_model", "path": p, "target": t, "rule": r, "transform": tr, "line": n}
        for p, t, r, tr, n in [
            ("0", "0", "tf2torch.layers.Dense", "linear", 9),
            ("1", "2", "tf2torch.layers.Dropout", "identity", 10),
            ("2", "3", "tf2torch.layers.Dense", "linear", 11),
        ]
    ],
}

CE_TORCH = ("criterion", "nn.CrossEntropyLoss()")
CE_KERAS = ("criterion", "keras.losses.SparseCategoricalCrossentropy(from_logits=True)")
TORCH_LOSS = "criterion(_fwm_pred, _fwm_target)"
KERAS_LOSS = "criterion(_fwm_target, _fwm_pred)"


def side(
    setup: Sequence[tuple[str, str]],
    loss: str,
    schedule: dict[str, str] | None = None,
    clip: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "model": "model",
        "setup": [list(s) for s in setup],
        "optimizer": "optimizer",
        "loss": loss,
        "schedule": schedule,
        "clip": clip,
    }


def training_key(
    source: dict[str, Any], target: dict[str, Any], targets: str = "class_index", compare_params: bool = True
) -> dict[str, Any]:
    return {
        "targets": targets,
        "compare_params": compare_params,
        "uses": {"optimizer": "torch2tf.optim.SGD", "loss": "torch2tf.nn.CrossEntropyLoss"},
        "notes": ["a note from the migration"],
        "source": source,
        "target": target,
    }


def sgd_ce(torch_opt: str, keras_opt: str, **kw: Any) -> dict[str, Any]:
    """torch original (``torch_opt`` + CE) against Keras migrated (``keras_opt`` + SCCE)."""
    return training_key(
        side([("optimizer", torch_opt), CE_TORCH], TORCH_LOSS, kw.get("sschedule"), kw.get("sclip")),
        side(
            [*kw.get("tsetup", []), ("optimizer", keras_opt), CE_KERAS],
            KERAS_LOSS,
            kw.get("tschedule"),
            kw.get("tclip"),
        ),
    )


# --------------------------------------------------------------------------------------------
# The pure API: hand-built models, plain dicts as namespaces


def torch_namespace() -> dict[str, Any]:
    import torch
    import torch.nn as nn

    return {"torch": torch, "nn": nn}


def keras_namespace() -> dict[str, Any]:
    import keras
    import tensorflow as tf

    return {"keras": keras, "tf": tf}


@dataclass
class Pair:
    """A torch MLP and a Keras MLP with the same weights; ``copy`` moves torch -> Keras again."""

    torch_model: Any
    keras_model: Any
    copy: Callable[[], None]


def mlp_pair(seed: int = 0, dropout: bool = False) -> Pair:
    import keras
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.manual_seed(seed)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1 = nn.Linear(8, 16)
            self.drop = nn.Dropout(0.5 if dropout else 0.0)
            self.fc2 = nn.Linear(16, 4)

        def forward(self, x: Any) -> Any:
            h = self.drop(torch.tanh(self.fc1(x)))
            if dropout:
                h = F.dropout(h, 0.2, training=self.training)
            return self.fc2(h)

    tm = Net()
    extra = [keras.layers.Dropout(0.5), keras.layers.GaussianNoise(0.1)] if dropout else []
    km = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(16, activation="tanh"), *extra, keras.layers.Dense(4)]
    )
    dense = [layer for layer in km.layers if isinstance(layer, keras.layers.Dense)]

    def move() -> None:
        for lin, d in zip((tm.fc1, tm.fc2), dense, strict=True):
            d.set_weights([lin.weight.detach().numpy().T, lin.bias.detach().numpy()])

    move()
    return Pair(tm, km, move)


def batches() -> Batches:
    return Batches([InputSpec((4, 8))], [None], seed=0, samples=1)


def train(training: dict[str, Any], steps: int = 5, pair: Pair | None = None, k: int = 2) -> TrainingResult:
    pair = pair or mlp_pair()
    return compare_training(
        pair.torch_model,
        pair.keras_model,
        TrainingPlan.parse(training),
        torch_namespace(),
        keras_namespace(),
        batches(),
        steps,
        k,
        Tolerance(),
        pair.copy,
    )


def test_correct_mapping_passes() -> None:
    r = train(
        sgd_ce(
            "torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)",
            "keras.optimizers.SGD(learning_rate=0.1, momentum=0.9)",
        )
    )
    assert r.verdict is Verdict.EQUIVALENT, r
    assert len(r.losses) == 5 and len(r.outputs) == 1 and len(r.params) == 4
    assert max(c.max_abs_diff for c in r.rows) < 1e-6


@pytest.mark.parametrize(
    ("keras_opt", "tsetup", "tschedule", "first"),
    [
        pytest.param("keras.optimizers.SGD(learning_rate=0.01)", [], None, "loss (step 2)", id="lr"),
        pytest.param("keras.optimizers.Adam(learning_rate=0.1)", [], None, "loss (step 2)", id="adam"),
        pytest.param(  # keras's default lr is 0.01, torch's SGD has none; copied without lr
            "keras.optimizers.SGD()", [], None, "loss (step 2)", id="default-lr"
        ),
        pytest.param(  # StepLR as a smooth decay: staircase omitted
            "keras.optimizers.SGD(learning_rate=scheduler)",
            [("scheduler", "keras.optimizers.schedules.ExponentialDecay(0.1, 2 * steps_per_epoch, 0.5)")],
            {"name": "scheduler", "step": "optimizer"},
            "loss (step 3)",
            id="steplr-smooth",
        ),
    ],
)
def test_naive_mapping_fails_at_the_step_it_diverges(
    keras_opt: str, tsetup: list[tuple[str, str]], tschedule: dict[str, str] | None, first: str
) -> None:
    torch_opt = "torch.optim.SGD(model.parameters(), lr=0.1)"
    training = sgd_ce(torch_opt, keras_opt, tsetup=tsetup, tschedule=tschedule)
    if tschedule is not None:
        training["source"]["setup"].insert(
            1, ["scheduler", "torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)"]
        )
        training["source"]["schedule"] = {"name": "scheduler", "step": "epoch"}
    r = train(training)
    assert r.verdict is Verdict.NOT_EQUIVALENT
    assert r.losses[0].status is Status.PASS  # the loss before any update: same weights
    assert r.first_divergent is not None and r.first_divergent.source == first
    assert r.first_divergent.status is Status.FAIL


def test_momentum_with_a_changing_lr_needs_torch_semantics() -> None:
    """SEMANTICS.md 5: stock Keras SGD keeps the old lr inside the velocity; torch does not."""
    training = sgd_ce(
        "torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)",
        "keras.optimizers.SGD(learning_rate=scheduler, momentum=0.9)",
        sschedule={"name": "scheduler", "step": "epoch"},
        tschedule={"name": "scheduler", "step": "optimizer"},
        tsetup=[
            (
                "scheduler",
                "keras.optimizers.schedules.ExponentialDecay(0.1, 2 * steps_per_epoch, 0.1, staircase=True)",
            )
        ],
    )
    training["source"]["setup"].insert(
        1, ["scheduler", "torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.1)"]
    )
    r = train(training, steps=6)
    assert r.verdict is Verdict.NOT_EQUIVALENT
    assert all(c.status is Status.PASS for c in r.losses[:5])  # the lr changes after step 4
    assert r.first_divergent is not None and r.first_divergent.source == "loss (step 6)"


@pytest.mark.parametrize(
    ("keras_opt", "tclip", "verdict"),
    [
        pytest.param("keras.optimizers.SGD(learning_rate=0.5)", {"kind": "norm", "value": 0.1}, "equivalent"),
        pytest.param("keras.optimizers.SGD(learning_rate=0.5, global_clipnorm=0.1)", None, "equivalent"),
        pytest.param(  # clipnorm clips each tensor on its own
            "keras.optimizers.SGD(learning_rate=0.5, clipnorm=0.1)", None, "not_equivalent"
        ),
        pytest.param("keras.optimizers.SGD(learning_rate=0.5)", None, "not_equivalent", id="dropped"),
    ],
)
def test_clip_norm(keras_opt: str, tclip: dict[str, Any] | None, verdict: str) -> None:
    training = sgd_ce(
        "torch.optim.SGD(model.parameters(), lr=0.5)",
        keras_opt,
        sclip={"kind": "norm", "value": 0.1},
        tclip=tclip,
    )
    r = train(training)
    assert r.verdict.value == verdict, [(c.source, c.max_abs_diff) for c in r.rows]
    assert r.clip is not None
    assert r.clip.source == "torch.nn.utils.clip_grad_norm_(model.parameters(), 0.1)"
    assert r.clip.target == ("tf.clip_by_global_norm(grads, 0.1)" if tclip else "(none)")


def test_clip_value() -> None:
    clip = {"kind": "value", "value": 0.01}
    same = sgd_ce(
        "torch.optim.SGD(model.parameters(), lr=0.5)",
        "keras.optimizers.SGD(learning_rate=0.5)",
        sclip=clip,
        tclip=clip,
    )
    assert train(same).verdict is Verdict.EQUIVALENT
    as_arg = sgd_ce(
        "torch.optim.SGD(model.parameters(), lr=0.5)",
        "keras.optimizers.SGD(learning_rate=0.5, clipvalue=0.01)",
        sclip=clip,
    )
    assert train(as_arg).verdict is Verdict.EQUIVALENT


def _plateau(
    torch_patience: int, keras_patience: int, seen: list[Any]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """torch ReduceLROnPlateau ("plateau") against a Keras ReduceLROnPlateau callback ("callback");
    ``keep`` hands both set-ups' objects to the test."""

    def keep(x: Any) -> Any:
        seen.append(x)
        return x

    training = training_key(
        side(
            [
                ("optimizer", "keep(torch.optim.SGD(model.parameters(), lr=0.5))"),
                (
                    "scheduler",
                    "torch.optim.lr_scheduler.ReduceLROnPlateau("
                    f"optimizer, factor=0.5, patience={torch_patience}, threshold=0)",
                ),
                CE_TORCH,
            ],
            TORCH_LOSS,
            {"name": "scheduler", "step": "plateau"},
        ),
        side(
            [
                ("optimizer", "keep(keras.optimizers.SGD(learning_rate=0.5))"),
                (
                    "scheduler",
                    "keras.callbacks.ReduceLROnPlateau(monitor='loss', factor=0.5, "
                    f"patience={keras_patience}, min_delta=0)",
                ),
                CE_KERAS,
            ],
            KERAS_LOSS,
            {"name": "scheduler", "step": "callback"},
        ),
    )
    return training, {**torch_namespace(), "keep": keep}, {**keras_namespace(), "keep": keep}


def test_plateau_and_callback_schedules() -> None:
    seen: list[Any] = []
    training, tns, kns = _plateau(1, 2, seen)  # torch reduces when bad epochs > p, Keras when >= p
    pair = mlp_pair()
    r = compare_training(
        pair.torch_model, pair.keras_model, TrainingPlan.parse(training), tns, kns, batches(), 16, 2
    )
    assert r.verdict is Verdict.EQUIVALENT, [(c.source, c.max_abs_diff) for c in r.rows]
    torch_opt, keras_opt = seen
    torch_lr = torch_opt.param_groups[0]["lr"]
    assert torch_lr < 0.5, "the schedule never reduced the lr: the test shows nothing"
    assert float(keras_opt.learning_rate) == pytest.approx(torch_lr)
    assert any("original side's mean loss" in n for n in r.notes)
    assert r.schedule is not None and "Keras callback" in r.schedule.target
    # patience copied literally: Keras reduces an epoch early
    seen.clear()
    training, tns, kns = _plateau(1, 1, seen)
    pair = mlp_pair()
    naive = compare_training(
        pair.torch_model, pair.keras_model, TrainingPlan.parse(training), tns, kns, batches(), 16, 2
    )
    assert naive.verdict is Verdict.NOT_EQUIVALENT


def test_dropout_is_neutralised_and_reported() -> None:
    pair = mlp_pair(dropout=True)
    r = train(
        sgd_ce("torch.optim.SGD(model.parameters(), lr=0.1)", "keras.optimizers.SGD(learning_rate=0.1)"),
        pair=pair,
    )
    assert r.verdict is Verdict.EQUIVALENT, [(c.source, c.max_abs_diff) for c in r.rows]
    assert r.neutralised == (
        "original: drop (Dropout p=0.5 -> 0)",
        "migrated: 1 (Dropout rate=0.5 -> 0)",
        "migrated: 2 (GaussianNoise stddev=0.1 -> 0)",
        "original: F.dropout in forward (p=0.2, switched off)",
    )
    # and put back afterwards
    assert pair.torch_model.drop.p == 0.5 and pair.keras_model.layers[1].rate == 0.5


def test_batchnorm_note() -> None:
    import keras
    import torch.nn as nn

    tm = nn.Sequential(nn.Linear(8, 4), nn.BatchNorm1d(4))
    km = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4), keras.layers.BatchNormalization()])
    training = sgd_ce(
        "torch.optim.SGD(model.parameters(), lr=0.1)", "keras.optimizers.SGD(learning_rate=0.1)"
    )
    training["compare_params"] = False
    r = compare_training(
        tm, km, TrainingPlan.parse(training), torch_namespace(), keras_namespace(), batches(), 1, 2
    )
    assert r.error is None
    assert any("unbiased batch variance" in n for n in r.notes)


def test_class_index_through_a_layout_change() -> None:
    """A per-position classifier: torch (N, C, L) logits, Keras (N, L, C); the targets (N, L) are
    the same on both sides, inputs and outputs go through the recorded perms."""
    import keras
    import torch
    import torch.nn as nn

    torch.manual_seed(0)
    tm = nn.Sequential(nn.Conv1d(3, 5, 1), nn.Tanh(), nn.Conv1d(5, 4, 1))
    km = keras.Sequential(
        [keras.Input((None, 3)), keras.layers.Conv1D(5, 1, activation="tanh"), keras.layers.Conv1D(4, 1)]
    )

    def move() -> None:
        for conv, layer in zip((tm[0], tm[2]), km.layers, strict=True):
            w = conv.weight.detach().numpy()
            layer.set_weights([w.transpose(2, 1, 0), conv.bias.detach().numpy()])

    move()
    training = sgd_ce(
        "torch.optim.SGD(model.parameters(), lr=0.5)", "keras.optimizers.SGD(learning_rate=0.5)"
    )
    r = compare_training(
        tm,
        km,
        TrainingPlan.parse(training),
        torch_namespace(),
        keras_namespace(),
        Batches([InputSpec((4, 3, 6))], [[0, 2, 1]], seed=0, samples=1),
        4,
        2,
        Tolerance(),
        move,
        in_perms=[[0, 2, 1]],
        out_perms=[[0, 2, 1]],
    )
    assert r.verdict is Verdict.EQUIVALENT, (r.error, [(c.source, c.max_abs_diff) for c in r.rows])
    assert r.outputs[0].shape == (4, 4, 6) and len(r.params) == 4


def test_capture_is_muted_while_training() -> None:
    from migrator.verify.driver import Capture
    from migrator.verify.training import muted

    capture = Capture()
    with muted(capture):
        capture.add_original(0, np.zeros(2))
        capture.add_migrated(0, np.zeros(2))
    assert capture.original == {} and capture.migrated == {} and capture.order == []
    capture.add_original(0, np.zeros(2))
    assert capture.order == [(0, 0)]


def test_bad_expression_is_an_error_naming_side_and_name() -> None:
    r = train(sgd_ce("torch.optim.SGD(model.parameters(), lr=0.1)", "keras.optimizers.SGD(learning_rate=lr)"))
    assert r.verdict is Verdict.ERROR and r.error is not None
    assert r.error == (
        "training set-up, migrated side (Keras): optimizer = keras.optimizers.SGD(learning_rate=lr) "
        "raised NameError: name 'lr' is not defined"
    )
    training = sgd_ce(
        "torch.optim.SGD(model.parameters(), lr=0.1)", "keras.optimizers.SGD(learning_rate=0.1)"
    )
    training["source"]["setup"][1] = ["criterion", "nn.CrossEntropyLoss(\nweight=3)"]
    r = train(training)
    assert r.error is not None and "\n" not in r.error
    assert r.error.startswith("training set-up, original side (torch): criterion = nn.CrossEntropyLoss(")
    # a loss that is not a scalar
    training = sgd_ce(
        "torch.optim.SGD(model.parameters(), lr=0.1)", "keras.optimizers.SGD(learning_rate=0.1)"
    )
    training["source"]["setup"][1] = ["criterion", "nn.CrossEntropyLoss(reduction='none')"]
    r = train(training)
    assert r.error == (
        "training step 1, original side (torch): the loss criterion(_fwm_pred, _fwm_target) "
        "gives shape (4,), not a scalar"
    )


def test_no_training_record_is_an_error(tmp_path: Path) -> None:
    """The worker's code path, in this process: --train-steps and a record without "training"."""
    from migrator.verify import torch2tf

    _write(
        tmp_path,
        {"mlp.py": TORCH_MLP, "mlp_tf.py": KERAS_OF_TORCH_MLP},
        "mlp_tf.migration.json",
        TORCH2TF_RECORD,
    )
    request = {
        "original": str(tmp_path / "mlp.py"),
        "migrated": str(tmp_path / "mlp_tf.py"),
        "record": str(tmp_path / "mlp_tf.migration.json"),
        "model": "build_model()",
        "inputs": ["4,8"],
        "samples": 1,
        "seed": 0,
        "tolerance": asdict(Tolerance()),
        "load_mode": LoadMode.GUARDED.value,
        "warnings": [],
        "train_steps": 3,
        "steps_per_epoch": 2,
    }
    result = torch2tf.run(request)
    assert result.verdict is Verdict.ERROR
    assert result.error == f"train-step check: {NO_TRAINING}"
    assert result.outputs and result.outputs[0].status is Status.PASS  # the eval check still ran
    assert EquivalenceResult.from_json(json.loads(result.dumps())) == result
    from migrator.report.verify_text import render_verify_text

    assert "ERROR: train-step check: the migration record has no training set-up" in render_verify_text(
        result
    )


def test_failing_training_in_results_and_reports() -> None:
    from migrator.report.equivalence import render_html, render_markdown
    from migrator.report.verify_text import render_verify_text

    training = train(
        sgd_ce("torch.optim.SGD(model.parameters(), lr=0.1)", "keras.optimizers.SGD(learning_rate=0.01)")
    )
    base = EquivalenceResult(
        direction="torch2tf",
        original="mlp.py",
        migrated="mlp_tf.py",
        model="build_model()",
        verdict=Verdict.EQUIVALENT,
        tolerance=Tolerance(),
    )
    result = with_training(base, training)
    assert result.verdict is Verdict.NOT_EQUIVALENT and result.training is training
    assert EquivalenceResult.from_json(json.loads(result.dumps())) == result
    md = render_markdown(result)
    assert "Training diverges: first at **`loss (step 2)`**" in md
    assert "✗ diverges" in md and "⬅ first divergent" in md
    html = render_html(result)
    assert "Training diverges" in html and 'href="#training-2"' in html
    assert 'id="training-2" class="fail first-divergent"' in html
    text = render_verify_text(result)
    assert "training diverges first at loss (step 2)" in text and "DIFFERENT" in text
    # an error in training makes the whole result an error
    errored = with_training(base, TrainingResult(3, 2, error="boom"))
    assert errored.verdict is Verdict.ERROR and errored.error == "train-step check: boom"


# --------------------------------------------------------------------------------------------
# Plan parsing and targets (no frameworks needed)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.update(targets="labels"), "training.targets is 'labels'"),
        (lambda t: t["source"].update(schedule={"name": "s", "step": "weekly"}), "training.source.schedule"),
        (
            lambda t: t["target"]["setup"].append(["x"]),
            "training.target.setup[2] is not a [name, expression]",
        ),
        (lambda t: t["target"].update(loss=""), "training.target.loss must be an expression"),
        (lambda t: t["source"].update(clip={"kind": "norm", "value": "big"}), "training.source.clip.value"),
        (lambda t: t.pop("target"), "training.target is missing"),
    ],
)
def test_plan_errors(edit: Callable[[dict[str, Any]], Any], message: str) -> None:
    training = copy.deepcopy(sgd_ce("a", "b"))
    edit(training)
    with pytest.raises(TrainingError) as info:
        TrainingPlan.parse(training)
    assert message in str(info.value)
    assert TrainingPlan.from_record({"layers": []}) is None


def test_targets() -> None:
    rng = np.random.default_rng(0)
    y = make_targets("class_index", (2, 5, 3, 4), 1, rng)  # torch (N, C, H, W)
    assert y.shape == (2, 3, 4) and y.dtype == np.int64 and y.min() >= 0 and y.max() < 5
    # Keras (N, H, W, C) = torch.permute(0, 2, 3, 1): the index map keeps (N, H, W)
    assert migrated_targets(y, "class_index", [0, 2, 3, 1], 1, 4).shape == (2, 3, 4)
    ym = migrated_targets(y, "class_index", [0, 3, 1, 2], 3, 4)  # Keras (N, H, W, C) -> torch NCHW
    assert np.array_equal(ym, y)
    p = make_targets("probs", (3, 4), 1, rng)
    assert np.allclose(p.sum(axis=1), 1.0) and p.dtype == np.float32
    b = make_targets("binary", (3, 4), 1, rng)
    assert set(np.unique(b)) <= {0.0, 1.0}
    r = make_targets("real", (2, 6, 5), 1, rng)
    assert np.array_equal(migrated_targets(r, "real", [0, 2, 1], 1, 3), r.transpose(0, 2, 1))
    with pytest.raises(TrainingError, match="class axis"):
        make_targets("class_index", (4,), 0, rng)


# --------------------------------------------------------------------------------------------
# The CLI: three runs at once


@dataclass
class CliRun:
    code: int
    output: str
    data: dict[str, Any]
    directory: Path


def _write(directory: Path, files: dict[str, str], record_name: str, record: dict[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    (directory / record_name).write_text(json.dumps(record, indent=2), encoding="utf-8")


Started = dict[str, tuple[Path, "subprocess.Popen[str]"]]


@pytest.fixture(scope="module", autouse=True)
def cli_started(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Started]:
    """The three CLI runs start with the module's first test and run while the in-process tests
    do (they come last in the file); not at all when no CLI test is selected."""
    if not any(
        item.name.startswith("test_cli_") and item.path == Path(__file__) for item in request.session.items
    ):
        yield {}
        return
    root = tmp_path_factory.mktemp("training")
    momentum = sgd_ce(
        "torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)",
        "keras.optimizers.SGD(learning_rate=0.1, momentum=0.9)",
    )
    steplr = sgd_ce(
        "torch.optim.SGD(model.parameters(), lr=0.2)",
        "keras.optimizers.SGD(learning_rate=scheduler)",
        sschedule={"name": "scheduler", "step": "epoch"},
        tschedule={"name": "scheduler", "step": "optimizer"},
        tsetup=[
            (
                "scheduler",
                "keras.optimizers.schedules.ExponentialDecay(0.2, decay_steps=2 * steps_per_epoch, "
                "decay_rate=0.5, staircase=True)",
            )
        ],
    )
    steplr["source"]["setup"].insert(
        1, ["scheduler", "torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)"]
    )
    steplr["uses"]["schedule"] = "torch2tf.lr_scheduler.StepLR"
    keras_sgd_mse = training_key(
        side(
            [
                ("optimizer", "keras.optimizers.SGD(learning_rate=0.05, momentum=0.9)"),
                ("criterion", "keras.losses.MeanSquaredError()"),
            ],
            KERAS_LOSS,
        ),
        side(
            [
                ("optimizer", "torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)"),
                ("criterion", "nn.MSELoss()"),
            ],
            TORCH_LOSS,
        ),
        targets="real",
    )
    runs: dict[str, tuple[Path, list[str]]] = {}
    for name, training in (("momentum", momentum), ("steplr", steplr)):
        d = root / name
        _write(
            d,
            {"mlp.py": TORCH_MLP, "mlp_tf.py": KERAS_OF_TORCH_MLP},
            "mlp_tf.migration.json",
            {**TORCH2TF_RECORD, "training": training},
        )
        runs[name] = (d, ["mlp.py", "mlp_tf.py", "--train-steps", "6" if name == "steplr" else "5"])
    d = root / "tf2torch"
    _write(
        d,
        {"kmlp.py": KERAS_MLP, "kmlp_torch.py": TORCH_OF_KERAS_MLP},
        "kmlp_torch.migration.json",
        {**TF2TORCH_RECORD, "training": keras_sgd_mse},
    )
    runs["tf2torch"] = (d, ["kmlp.py", "kmlp_torch.py", "--train-steps", "5"])
    started = {
        name: (
            d,
            subprocess.Popen(
                [
                    FWMIGRATE,
                    "verify",
                    *args,
                    "--model",
                    "build_model()",
                    "--input",
                    "4,8",
                    "--steps-per-epoch",
                    "2",
                    "--samples",
                    "1",
                    "--json",
                    "r.json",
                    "--markdown",
                    "r.md",
                    "--html",
                    "r.html",
                ],
                cwd=d,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            ),
        )
        for name, (d, args) in runs.items()
    }
    yield started
    for _, proc in started.values():
        if proc.poll() is None:  # a test failed before waiting for it
            proc.kill()
            proc.communicate()


@pytest.fixture(scope="module")
def cli_runs(cli_started: Started) -> dict[str, CliRun]:
    out = {}
    for name, (d, proc) in cli_started.items():
        text, _ = proc.communicate(timeout=300)
        report = d / "r.json"
        data = json.loads(report.read_text(encoding="utf-8")) if report.exists() else {}
        out[name] = CliRun(proc.returncode, text, data, d)
    return out


def _training_passes(run: CliRun, steps: int) -> dict[str, Any]:
    assert run.code == 0, run.output
    assert run.data["verdict"] == "equivalent"
    t = run.data["training"]
    assert t is not None and t["verdict"] == "equivalent" and t["error"] is None
    assert t["steps"] == steps and t["steps_per_epoch"] == 2
    assert [c["source"] for c in t["losses"]] == [f"loss (step {i})" for i in range(1, steps + 1)]
    assert all(c["status"] == "pass" for c in t["losses"] + t["outputs"] + t["params"]), run.output
    assert t["outputs"] and t["outputs"][0]["source"] == f"output after {steps} steps"
    assert "training:" in run.output
    return dict(t)


def test_cli_torch2tf_sgd_momentum_cross_entropy(cli_runs: dict[str, CliRun]) -> None:
    t = _training_passes(cli_runs["momentum"], 5)
    assert t["targets"] == "class_index" and t["compare_params"] is True
    assert [c["source"] for c in t["params"]] == ["fc1.kernel", "fc1.bias", "fc2.kernel", "fc2.bias"]
    assert "torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)" in t["optimizer"]["source"]
    assert "keras.optimizers.SGD(learning_rate=0.1, momentum=0.9)" in t["optimizer"]["target"]
    assert t["loss"]["source"].endswith(TORCH_LOSS) and "nn.CrossEntropyLoss()" in t["loss"]["source"]
    assert t["uses"]["optimizer"] == "torch2tf.optim.SGD"
    assert t["notes"] == ["a note from the migration"] and t["neutralised"] == []
    # the losses really change: the models train
    losses = [c["scale"] for c in t["losses"]]
    assert len(set(losses)) == len(losses)


def test_cli_torch2tf_steplr_as_exponential_decay(cli_runs: dict[str, CliRun]) -> None:
    t = _training_passes(cli_runs["steplr"], 6)
    assert "StepLR(optimizer, step_size=2, gamma=0.5)" in t["schedule"]["source"]
    assert "ExponentialDecay(0.2, decay_steps=2 * steps_per_epoch" in t["schedule"]["target"]
    assert "optimizer =" not in t["schedule"]["source"]  # the schedule's code, not the optimizer's
    assert t["uses"]["schedule"] == "torch2tf.lr_scheduler.StepLR"


def test_cli_tf2torch_keras_sgd_mse(cli_runs: dict[str, CliRun]) -> None:
    run = cli_runs["tf2torch"]
    t = _training_passes(run, 5)
    assert run.data["direction"] == "tf2torch" and t["targets"] == "real"
    assert [c["source"] for c in t["params"]] == ["0.weight", "0.bias", "3.weight", "3.bias"]
    assert t["neutralised"] == ["original: 1 (Dropout rate=0.3 -> 0)", "migrated: 2 (Dropout p=0.3 -> 0)"]


def test_cli_reports_have_the_training_section(cli_runs: dict[str, CliRun]) -> None:
    d = cli_runs["momentum"].directory
    md = (d / "r.md").read_text(encoding="utf-8")
    assert (
        "**Training** (5 steps, 2 per epoch, targets class_index): ✓ same losses, outputs and parameters"
        in md
    )
    assert "| `loss (step 5)` |" in md and "| `fc2.bias` |" in md
    assert "`torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)`" not in md  # `optimizer = ...`
    assert "`optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)`" in md
    html = (d / "r.html").read_text(encoding="utf-8")
    checker = parse(html)  # well nested, the same tags as every report
    assert checker.errors == [] and checker.stack == []
    assert {t for t, _ in checker.seen} <= STRUCTURAL | VOID | {
        "span", "code", "strong", "a", "pre", "dt", "dd", "rect", "line", "text", "defs", "pattern",
    }  # fmt: skip
    assert 'id="training"' in html and 'id="training-1"' in html
    assert html.index('id="layers"') < html.index('id="training"') < html.index('id="inputs"')
    assert "keras.optimizers.SGD(learning_rate=0.1, momentum=0.9)" in html
    md = (cli_runs["tf2torch"].directory / "r.md").read_text(encoding="utf-8")
    assert "Randomness neutralised for training:" in md and "- migrated: 2 (Dropout p=0.3 -> 0)" in md


def test_cli_json_round_trips(cli_runs: dict[str, CliRun]) -> None:
    for run in cli_runs.values():
        result = EquivalenceResult.from_json(run.data)
        assert result.training is not None
        assert json.loads(result.dumps()) == run.data
