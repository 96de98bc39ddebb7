"""tf2torch: the code around a model (docs/ecosystem-tf2torch.md). The migrated snippets run under
torch and are compared with what TensorFlow does: batch counts with drop_remainder/drop_last, a
shuffled loader covering every element once per epoch, a repeated pipeline's epochs, the
GradScaler step, TensorBoard event files, the exported program, the strategy code paths of the
MirroredStrategy fixture on both sides, and the markers of what does not migrate."""

from __future__ import annotations

import importlib.util
import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from migrator.api import migrate_source
from migrator.rules.loader import load_rules
from migrator.types import Direction, Severity

pytestmark = pytest.mark.frameworks

RULES = load_rules(Direction.TF2TORCH)
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "tf2torch"
HEAD = "import numpy as np\nimport tensorflow as tf\nimport keras\nfrom keras import layers\n"


def _migrate(source: str) -> Any:
    return migrate_source(HEAD + source, Direction.TF2TORCH, RULES, "snippet.py")


def _run(code: str, **names: Any) -> dict[str, Any]:
    scope: dict[str, Any] = dict(names)
    exec(compile(code, "<migrated>", "exec"), scope)
    return scope


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def in_tmp(tmp_path: Path) -> Iterator[Path]:
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(cwd)


# ---------------------------------------------------------------- tf.data -> DataLoader
@pytest.mark.parametrize(
    ("n", "batch", "drop"), [(10, 3, False), (10, 3, True), (12, 4, True), (7, 8, False), (7, 8, True)]
)
def test_batch_counts_and_sizes_match_tf_data(n: int, batch: int, drop: bool) -> None:
    import tensorflow as tf

    x = np.arange(n, dtype="float32").reshape(n, 1)
    y = np.arange(n, dtype="int64")
    source = f"ds = tf.data.Dataset.from_tensor_slices((x, y)).batch({batch}, drop_remainder={drop})\n"
    result = _migrate(source)
    assert "DataLoader(" in result.code and result.complete
    migrated = _run(result.code, x=x, y=y)["ds"]
    tf_sizes = [
        int(xb.shape[0])
        for xb, _ in tf.data.Dataset.from_tensor_slices((x, y)).batch(batch, drop_remainder=drop)
    ]
    torch_sizes = [len(xb) for xb, _ in migrated]
    assert torch_sizes == tf_sizes
    assert len(migrated) == len(tf_sizes)


def test_shuffled_loader_covers_every_element_once_per_epoch() -> None:
    n = 50
    x = np.arange(n, dtype="float32").reshape(n, 1)
    y = np.arange(n, dtype="int64")
    result = _migrate("ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x)).batch(8)\n")
    assert result.complete and not [f for f in result.findings if f.severity is Severity.REVIEW]
    ds = _run(result.code, x=x, y=y)["ds"]
    orders = []
    for _ in range(3):
        seen = [int(v) for _, yb in ds for v in yb]
        assert sorted(seen) == list(range(n))  # every element exactly once
        orders.append(seen)
    assert orders[0] != orders[1] or orders[1] != orders[2]  # reshuffled each epoch


def test_small_shuffle_buffer_is_flagged_with_its_line() -> None:
    result = _migrate("x = 1\nds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(10).batch(8)\n")
    review = [f for f in result.findings if f.severity is Severity.REVIEW]
    assert len(review) == 1 and review[0].line == 6 and "shuffle buffer 10" in review[0].message
    assert "# fwmigrate: review: tf.data pipeline: shuffle buffer 10" in result.code


def test_repeated_pipeline_gives_tf_data_epochs_of_whole_batches() -> None:
    import tensorflow as tf

    n, batch, steps = 10, 4, 5
    x = np.arange(n, dtype="float32").reshape(n, 1)
    result = _migrate(f"ds = tf.data.Dataset.from_tensor_slices(x).batch({batch}).repeat()\n")
    stream = _run(result.code, x=x)["ds"]
    got = [xb.reshape(-1).tolist() for xb in itertools.islice(stream, steps)]
    want = [
        b.numpy().reshape(-1).tolist()
        for b in tf.data.Dataset.from_tensor_slices(x).batch(batch).repeat().take(steps)
    ]
    assert got == want  # batches of 4, 4, 2, then the next pass: no batch crosses an epoch


@pytest.mark.parametrize(
    ("chain", "reason"),
    [
        (".map(f).batch(4)", ".map()"),
        (".batch(4).shuffle(3)", "shuffles whole batches"),
        (".repeat(2).batch(4)", ".repeat(count)"),
        (".batch(4).repeat().batch(2)", "after .repeat()"),
        (".shuffle(10, reshuffle_each_iteration=False).batch(4)", "reshuffle_each_iteration=False"),
    ],
)
def test_pipelines_that_do_not_migrate_stay_marked(chain: str, reason: str) -> None:
    result = _migrate(f"ds = tf.data.Dataset.from_tensor_slices((x, y)){chain}\n")
    bad = [f for f in result.findings if f.severity is Severity.UNSUPPORTED]
    assert len(bad) == 1 and bad[0].line == 5 and reason in bad[0].message
    assert f"ds = tf.data.Dataset.from_tensor_slices((x, y)){chain}" in result.code
    assert "# fwmigrate: unsupported:" in result.code


def test_fit_over_an_unbatched_dataset_is_marked() -> None:
    source = (
        "model = keras.Sequential([keras.Input(shape=(2,)), layers.Dense(1)])\n"
        "model.compile(optimizer='sgd', loss='mse')\n"
        "ds = tf.data.Dataset.from_tensor_slices((x, y))\n"
        "model.fit(ds, epochs=1)\n"
    )
    result = _migrate(source)
    bad = [f for f in result.findings if f.severity is Severity.UNSUPPORTED]
    assert [f.line for f in bad] == [8] and "unbatched" in bad[0].message


# ---------------------------------------------------------------- mixed precision
def test_grad_scaler_step_equals_the_unscaled_step() -> None:
    import torch

    torch.manual_seed(0)
    base = torch.nn.Linear(4, 3)
    x, y = torch.randn(8, 4), torch.randn(8, 3)
    models = [torch.nn.Linear(4, 3) for _ in range(2)]
    for m in models:
        m.load_state_dict(base.state_dict())
    plain = torch.optim.SGD(models[0].parameters(), lr=0.1)
    torch.nn.functional.mse_loss(models[0](x), y).backward()  # type: ignore[no-untyped-call]
    plain.step()
    scaled = torch.optim.SGD(models[1].parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=32768.0, growth_interval=2000)
    scaler.scale(torch.nn.functional.mse_loss(models[1](x), y)).backward()  # type: ignore[no-untyped-call]
    scaler.step(scaled)
    scaler.update()
    for a, b in zip(models[0].parameters(), models[1].parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    # an inf gradient skips the step and halves the scale, as Keras's LossScaleOptimizer does
    before = [p.detach().clone() for p in models[1].parameters()]
    scaled.zero_grad()
    scaler.scale(torch.nn.functional.mse_loss(models[1](x * float("inf")), y)).backward()  # type: ignore[no-untyped-call]
    scaler.step(scaled)
    scaler.update()
    assert scaler.get_scale() == 16384.0
    for old, new in zip(before, models[1].parameters(), strict=True):
        torch.testing.assert_close(old, new.detach())


def test_loss_scale_optimizer_becomes_a_grad_scaler_in_fit() -> None:
    source = (
        "model = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(2)])\n"
        "opt = keras.mixed_precision.LossScaleOptimizer(\n"
        "    keras.optimizers.SGD(learning_rate=0.1), initial_scale=256.0)\n"
        "model.compile(optimizer=opt, loss='mse')\n"
        "model.fit(x, y, batch_size=4, epochs=2, verbose=0)\n"
    )
    result = _migrate(source)
    assert result.complete
    assert 'scaler = torch.amp.GradScaler("cpu", init_scale=256.0, growth_interval=2000)' in result.code
    assert "scaler.scale(loss).backward()" in result.code and "scaler.step(optimizer)" in result.code
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    scope = _run(result.code, x=x, y=np.zeros((8, 2), "float32"))
    assert len(scope["history"]["loss"]) == 2 and all(np.isfinite(scope["history"]["loss"]))


def test_bfloat16_policy_runs_the_loop_under_autocast() -> None:
    source = (
        "keras.mixed_precision.set_global_policy('mixed_bfloat16')\n"
        "model = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(2)])\n"
        "model.compile(optimizer='sgd', loss='mse')\n"
        "model.fit(x, y, batch_size=4, epochs=1, verbose=0)\n"
        "out = model.predict(x)\n"
    )
    result = _migrate(source)
    assert 'torch.autocast(device_type="cpu", dtype=torch.bfloat16)' in result.code
    assert "GradScaler" not in result.code  # bfloat16 needs no loss scaling
    review = [f for f in result.findings if f.severity is Severity.REVIEW]
    assert [f.line for f in review] == [5]
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    scope = _run(result.code, x=x, y=np.zeros((8, 2), "float32"))
    assert scope["out"].dtype == np.float32 and scope["out"].shape == (8, 2)


# ---------------------------------------------------------------- TensorBoard
def _scalars(directory: Path, tag: str) -> list[tuple[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import (  # type: ignore[import-untyped]
        EventAccumulator,
    )

    acc = EventAccumulator(str(directory))
    acc.Reload()
    if tag in acc.Tags().get("scalars", []):
        return [(e.step, e.value) for e in acc.Scalars(tag)]
    import tensorflow as tf

    return [(e.step, float(tf.make_ndarray(e.tensor_proto))) for e in acc.Tensors(tag)]


def test_summary_scalars_match_tensorflow_event_files(in_tmp: Path) -> None:
    source = (
        "writer = tf.summary.create_file_writer(log_dir)\n"
        "with writer.as_default():\n"
        "    for step in range(3):\n"
        "        tf.summary.scalar('loss', 1.0 / (step + 1), step=step)\n"
        "writer.flush()\n"
    )
    result = _migrate(source)
    assert result.complete and 'writer.add_scalar("loss", 1.0 / (step + 1), step)' in result.code.replace(
        "'", '"'
    )
    _run(HEAD + source, log_dir=str(in_tmp / "tf"))
    scope = _run(result.code, log_dir=str(in_tmp / "torch"))
    scope["writer"].close()
    want = _scalars(in_tmp / "tf", "loss")
    got = _scalars(in_tmp / "torch", "loss")
    assert [s for s, _ in got] == [s for s, _ in want] == [0, 1, 2]
    np.testing.assert_allclose([v for _, v in got], [v for _, v in want], rtol=1e-6)


def test_tensorboard_callback_writes_the_epoch_losses(in_tmp: Path) -> None:
    source = (
        "model = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(1)])\n"
        "model.compile(optimizer='sgd', loss='mse')\n"
        "history = model.fit(x, y, batch_size=4, epochs=3, validation_data=(x, y), "
        "callbacks=[keras.callbacks.TensorBoard(log_dir='tb', histogram_freq=1)], verbose=0)\n"
    )
    result = _migrate(source)
    review = [f for f in result.findings if f.severity is Severity.REVIEW]
    assert any("histogram_freq=1" in f.message for f in review)
    x = np.random.default_rng(1).normal(size=(12, 3)).astype("float32")
    scope = _run(result.code, x=x, y=x[:, :1].copy())
    history = scope["history"]
    train = _scalars(in_tmp / "tb" / "train", "epoch_loss")
    val = _scalars(in_tmp / "tb" / "validation", "epoch_loss")
    assert [s for s, _ in train] == [0, 1, 2] == [s for s, _ in val]
    np.testing.assert_allclose([v for _, v in train], history["loss"], rtol=1e-6)
    np.testing.assert_allclose([v for _, v in val], history["val_loss"], rtol=1e-6)


# ---------------------------------------------------------------- devices, functions, export
def test_devices_and_tf_function_migrate_to_runnable_code() -> None:
    import torch

    source = (
        "n = len(tf.config.list_physical_devices('GPU'))\n"
        "with tf.device('/GPU:0'):\n"
        "    z = 2\n"
        "@tf.function(jit_compile=True)\n"
        "def double(v):\n"
        "    return v * 2\n"
        "w = double(z)\n"
    )
    result = _migrate(source)
    assert result.complete and "tf." not in result.code
    scope = _run(result.code)
    assert scope["n"] == torch.cuda.device_count()
    assert scope["device"].type == ("cuda" if torch.cuda.is_available() else "cpu")  # soft placement
    assert scope["w"] == 4


def test_saved_model_becomes_a_torch_export_program(in_tmp: Path) -> None:
    import torch

    source = (
        "def build_model():\n"
        "    return keras.Sequential(\n"
        "        [keras.Input(shape=(6,)), layers.Dense(3, activation='relu'), layers.Dense(2)])\n"
        "model = build_model()\n"
        "tf.saved_model.save(model, 'served')\n"
    )
    result = _migrate(source)
    assert result.complete and '"served.pt2"' in result.code
    scope = _run(result.code)
    loaded = torch.export.load("served.pt2").module()
    batch = torch.randn(5, 6)  # another batch size than the example's
    torch.testing.assert_close(loaded(batch), scope["model"](batch))


def test_tflite_stays_marked_with_the_reason() -> None:
    result = _migrate(
        "converter = tf.lite.TFLiteConverter.from_keras_model(model)\nblob = converter.convert()\n"
    )
    bad = [f for f in result.findings if f.severity is Severity.UNSUPPORTED]
    assert [f.line for f in bad] == [5] and "ExecuTorch" in bad[0].message


# ---------------------------------------------------------------- MirroredStrategy fixture
def test_strategy_paths_execute_in_the_original_and_the_migrated_fixture(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tensorflow as tf
    import torch

    source = (FIXTURES / "train_strategy_tensorboard" / "input.py").read_text(encoding="utf-8")
    result = migrate_source(source, Direction.TF2TORCH, RULES, "input.py")
    assert result.complete
    (in_tmp / "original.py").write_text(source, encoding="utf-8")
    (in_tmp / "migrated.py").write_text(result.code, encoding="utf-8")

    scopes: list[object] = []

    class Spy(tf.distribute.MirroredStrategy):  # type: ignore[misc]
        def scope(self) -> Any:
            scopes.append(self)
            return super().scope()

    monkeypatch.setattr(tf.distribute, "MirroredStrategy", Spy)
    original = _load(in_tmp / "original.py", "fwm_eco_original").train()
    # the fixture's strategy and its scope ran (Keras enters the scope again in fit); one CPU replica
    assert scopes and len({id(s) for s in scopes}) == 1 and original[3] == 1

    wrapped: list[int] = []

    class Parallel(torch.nn.Module):
        """Stands in for nn.DataParallel on a machine without two GPUs: counts the batches."""

        def __init__(self, module: torch.nn.Module) -> None:
            super().__init__()
            self.module = module

        def forward(self, x: Any) -> Any:
            wrapped.append(len(x))
            return self.module(x)

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.nn, "DataParallel", Parallel)
    migrated = _load(in_tmp / "migrated.py", "fwm_eco_migrated").train()
    assert migrated[3] == 2  # num_replicas_in_sync -> max(device_count(), 1)
    assert wrapped and wrapped[0] == 32  # the batch of 16 * replicas went through the replica wrapper
    assert all(np.isfinite(migrated[0])) and (in_tmp / "tb_logs" / "train").is_dir()
