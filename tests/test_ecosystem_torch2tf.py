"""The code around models, torch2tf: device placement, data parallelism and torch.distributed,
TensorBoard, compilation, determinism, mixed precision, export and data pipelines. Static checks
of the hooks first, then numerical checks of the claims the rules make (with both frameworks)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from migrator.api import migrate_source, write_outputs
from migrator.rules.loader import RuleSet
from migrator.transforms.ecosystem import tf_device
from migrator.types import Direction, MigrationResult, Severity
from tests.conftest import FIXTURES, PREAMBLE, body_after_imports


def _migrate(rules: RuleSet, code: str) -> MigrationResult:
    return migrate_source(PREAMBLE + code.strip() + "\n", Direction.TORCH2TF, rules)


def _body(rules: RuleSet, code: str) -> str:
    return body_after_imports(_migrate(rules, code).code)


def _severities(result: MigrationResult, api: str) -> list[Severity]:
    return [f.severity for f in result.findings if f.api == api]


# ------------------------------------------------------------------------------- static: devices
@pytest.mark.parametrize(
    ("spec", "index", "want"),
    [("cuda", None, "/GPU:0"), ("cuda:1", None, "/GPU:1"), ("cpu", None, "/CPU:0"), ("cuda", 2, "/GPU:2")],
)
def test_device_names(spec: str, index: int | None, want: str) -> None:
    assert tf_device(spec, index) == want


def test_unknown_device_string_is_not_guessed() -> None:
    assert tf_device("xla") is None


def test_device_moves_disappear_and_dtype_conversion_stays(torch2tf_rules: RuleSet) -> None:
    body = _body(
        torch2tf_rules,
        """
def prepare(model, x, y, device):
    model.to(device)
    x = x.to(device, non_blocking=True)
    y = y.to(torch.float64)
    z = y.cpu()
    return model, x, y, z
""",
    )
    assert body == (
        "def prepare(model, x, y, device):\n"
        "    y = ops.cast(y, tf.float64)\n"
        "    z = y\n"
        "    return model, x, y, z\n"
    )


def test_to_with_an_unknown_argument_is_marked(torch2tf_rules: RuleSet) -> None:
    result = _migrate(torch2tf_rules, "def f(x, other):\n    return x.to(other)\n")
    assert _severities(result, "Tensor.to") == [Severity.UNSUPPORTED]
    assert "# fwmigrate: unsupported: Tensor.to: cannot tell whether other is" in result.code


def test_a_non_literal_device_name_is_kept_for_review(torch2tf_rules: RuleSet) -> None:
    result = _migrate(torch2tf_rules, "device = torch.device(args.device)\n")
    assert _severities(result, "torch.device") == [Severity.REVIEW]
    assert "device = args.device" in result.code


# ----------------------------------------------------------------------- static: no_grad, compile
def test_no_grad_and_inference_mode_as_decorators_and_outside_loops(torch2tf_rules: RuleSet) -> None:
    body = _body(
        torch2tf_rules,
        """
@torch.no_grad()
def predict(model, x):
    return model(x)
@torch.inference_mode
def score(model, x):
    with torch.inference_mode():
        y = model(x)
    return y
""",
    )
    assert body == (
        "def predict(model, x):\n    return model(x)\ndef score(model, x):\n    y = model(x)\n    return y\n"
    )


def test_compile_backends(torch2tf_rules: RuleSet) -> None:
    body = _body(
        torch2tf_rules,
        """
def f(x):
    return x + 1
a = torch.compile(f, backend="eager")
b = torch.compile(f, backend="aot_eager")
c = torch.compile(f, disable=True)
""",
    )
    assert "a = f\n" in body and "b = tf.function(f)\n" in body and "c = f\n" in body


# ------------------------------------------------------------------------ static: data pipelines
def test_loader_drops_worker_options_with_a_note(torch2tf_rules: RuleSet) -> None:
    result = _migrate(
        torch2tf_rules,
        """
from torch.utils.data import DataLoader, TensorDataset
loader = DataLoader(
    TensorDataset(x, y), batch_size=8, shuffle=True, drop_last=True, num_workers=4, pin_memory=True
)
""",
    )
    code = body_after_imports(result.code)
    assert (
        code == "loader = tf.data.Dataset.from_tensor_slices((x, y))"
        ".shuffle(len(x)).batch(8, drop_remainder=True)\n"
    )
    message = next(f.message for f in result.findings if f.api == "torch.utils.data.DataLoader")
    assert "num_workers= dropped" in message and "pin_memory= dropped" in message


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        ("collate_fn=pad_batch", "collate_fn= has no tf.data counterpart"),
        ("sampler=my_sampler", "sampler= has no tf.data counterpart"),
        ("worker_init_fn=seed_worker", "worker_init_fn= runs code in each loader worker"),
    ],
)
def test_loader_options_without_counterpart_are_marked(torch2tf_rules: RuleSet, extra: str, why: str) -> None:
    result = _migrate(
        torch2tf_rules,
        f"""
from torch.utils.data import DataLoader, TensorDataset
loader = DataLoader(TensorDataset(x, y), batch_size=8, {extra})
""",
    )
    assert _severities(result, "torch.utils.data.DataLoader") == [Severity.UNSUPPORTED]
    assert why in result.code


# ------------------------------------------------------------------------ static: amp, tensorboard
def test_grad_scaler_factors_keras_does_not_have_are_marked(torch2tf_rules: RuleSet) -> None:
    result = _migrate(
        torch2tf_rules,
        """
def train(model, loader, loss_fn):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.cuda.amp.GradScaler(growth_factor=4.0)
    for xb, yb in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
""",
    )
    assert "growth_factor=4.0: Keras's LossScaleOptimizer always doubles its scale" in result.code
    assert not result.complete


def test_grad_scaler_built_before_its_optimizer_is_marked(torch2tf_rules: RuleSet) -> None:
    result = _migrate(
        torch2tf_rules,
        """
def train(model, loader, loss_fn):
    scaler = torch.cuda.amp.GradScaler()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for xb, yb in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
""",
    )
    assert "the GradScaler is built before its optimizer" in result.code


def test_autocast_without_a_with_is_marked(torch2tf_rules: RuleSet) -> None:
    result = _migrate(torch2tf_rules, 'ctx = torch.autocast("cuda")\n')
    assert _severities(result, "torch.autocast") == [Severity.UNSUPPORTED]


def test_setup_call_inside_an_expression_is_marked(torch2tf_rules: RuleSet) -> None:
    result = _migrate(
        torch2tf_rules, "import torch.distributed as dist\nok = dist.init_process_group('gloo')\n"
    )
    assert _severities(result, "torch.distributed.init_process_group") == [Severity.UNSUPPORTED]


def test_migrating_a_migrated_ecosystem_fixture_changes_nothing(torch2tf_rules: RuleSet) -> None:
    for name in ("train_data_parallel_tensorboard", "train_amp_compile", "train_ddp_sampler"):
        first = migrate_source(
            (FIXTURES / name / "input.py").read_text(encoding="utf-8"), Direction.TORCH2TF, torch2tf_rules
        )
        again = migrate_source(first.code, Direction.TORCH2TF, torch2tf_rules)
        assert again.code == first.code, name


# ------------------------------------------------------------------------------------- numerical
def _run(code: str, **names: Any) -> dict[str, Any]:
    """Run migrated code (trusted: produced by the test itself) in a fresh namespace."""
    import keras
    import tensorflow as tf

    from migrator.runtime import keras_support

    namespace: dict[str, Any] = {"tf": tf, "keras": keras, "ops": keras.ops, "keras_support": keras_support}
    namespace.update(names)
    exec(compile(code, "<migrated>", "exec"), namespace)
    return namespace


def _loader_code(rules: RuleSet, args: str) -> str:
    code = _body(
        rules,
        "from torch.utils.data import DataLoader, TensorDataset\n"
        f"loader = DataLoader(TensorDataset(x, y), {args})\n",
    )
    assert code.startswith("loader = tf.data.Dataset"), code
    return code


@pytest.mark.frameworks
@pytest.mark.parametrize("drop_last", [True, False])
def test_drop_last_gives_torchs_batch_count(torch2tf_rules: RuleSet, drop_last: bool) -> None:
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    x = np.arange(23, dtype="float32").reshape(23, 1)
    y = np.arange(23, dtype="int64")
    args = f"batch_size=5, shuffle=True, drop_last={drop_last}"
    loader = _run(_loader_code(torch2tf_rules, args), x=x, y=y)["loader"]
    sizes = [int(xb.shape[0]) for xb, _ in loader]
    reference = DataLoader(
        TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
        batch_size=5,
        shuffle=True,
        drop_last=drop_last,
    )
    assert sizes == [int(xb.shape[0]) for xb, _ in reference]
    assert sizes == ([5] * 4 if drop_last else [5] * 4 + [3])


@pytest.mark.frameworks
def test_shuffle_covers_every_item_and_reshuffles_each_epoch(torch2tf_rules: RuleSet) -> None:
    x = np.arange(200, dtype="float32").reshape(200, 1)
    y = np.arange(200, dtype="int64")
    loader = _run(_loader_code(torch2tf_rules, "batch_size=16, shuffle=True"), x=x, y=y)["loader"]
    epochs = [np.concatenate([np.asarray(yb) for _, yb in loader]) for _ in range(2)]
    for order in epochs:
        assert sorted(order.tolist()) == list(range(200))  # a permutation: the buffer covers the data
        assert order.tolist() != list(range(200))
    assert epochs[0].tolist() != epochs[1].tolist()  # a new order every epoch
    # with a whole-dataset buffer the first batch can hold items from anywhere (not only the head)
    assert max(int(v) for v in epochs[0][:16]) >= 100


@pytest.mark.frameworks
def test_distributed_sampler_shard_takes_torchs_indices(torch2tf_rules: RuleSet) -> None:
    from torch.utils.data.distributed import DistributedSampler

    code = _body(
        torch2tf_rules,
        """
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler
def make(x, y):
    dataset = TensorDataset(x, y)
    sampler = DistributedSampler(dataset, num_replicas=3, rank=1, shuffle=False)
    return DataLoader(dataset, batch_size=4, sampler=sampler)
""",
    )
    x = np.arange(24, dtype="float32").reshape(24, 1)
    y = np.arange(24, dtype="int64")
    loader = _run(code)["make"](x, y)
    got = np.concatenate([np.asarray(yb) for _, yb in loader]).tolist()
    assert got == list(DistributedSampler(list(range(24)), num_replicas=3, rank=1, shuffle=False))


@pytest.mark.frameworks
def test_loss_scale_optimizer_step_equals_torchs_unscaled_step() -> None:
    """The migrated AMP step (scale_loss on the tape, LossScaleOptimizer.apply_gradients) updates
    the weights exactly as torch's GradScaler step and as an unscaled step."""
    import keras
    import tensorflow as tf
    import torch

    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(3, 2)).astype("float32")
    xb = rng.normal(size=(8, 3)).astype("float32")
    yb = rng.normal(size=(8, 2)).astype("float32")

    def keras_step(scaled: bool) -> np.ndarray:
        layer = keras.layers.Dense(2, use_bias=False)
        layer.build((None, 3))
        layer.set_weights([w0])
        inner = keras.optimizers.SGD(learning_rate=0.1)
        opt = keras.optimizers.LossScaleOptimizer(inner, initial_scale=65536.0) if scaled else inner
        for _ in range(3):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean((layer(xb) - yb) ** 2)
                target = opt.scale_loss(loss)
            grads = tape.gradient(target, layer.trainable_variables)
            opt.apply_gradients(zip(grads, layer.trainable_variables, strict=True))
        return np.asarray(layer.get_weights()[0])

    wt = torch.nn.Parameter(torch.from_numpy(w0.copy()))
    opt_t = torch.optim.SGD([wt], lr=0.1)
    scaler = torch.amp.GradScaler("cpu")
    for _ in range(3):
        opt_t.zero_grad()
        loss_t = ((torch.from_numpy(xb) @ wt - torch.from_numpy(yb)) ** 2).mean()
        scaler.scale(loss_t).backward()
        scaler.step(opt_t)
        scaler.update()
    np.testing.assert_allclose(keras_step(True), keras_step(False), rtol=0, atol=1e-7)
    np.testing.assert_allclose(keras_step(True), wt.detach().numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.frameworks
def test_compiled_function_computes_the_same(torch2tf_rules: RuleSet) -> None:
    code = _body(
        torch2tf_rules,
        """
def squash(x):
    return 3.0 * torch.tanh(x / 3.0)
fast = torch.compile(squash)
""",
    )
    assert "fast = tf.function(squash, jit_compile=True)" in code
    ns = _run(code)
    x = np.linspace(-5, 5, 11).astype("float32")
    np.testing.assert_allclose(np.asarray(ns["fast"](x)), 3.0 * np.tanh(x / 3.0), rtol=1e-6, atol=1e-6)


@pytest.mark.frameworks
def test_rank_and_world_size_read_tf_config(monkeypatch: pytest.MonkeyPatch) -> None:
    from migrator.runtime import keras_support

    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert (keras_support.process_rank(), keras_support.world_size()) == (0, 1)
    cluster = (
        '{"cluster": {"chief": ["a:1"], "worker": ["b:1", "c:1"]}, "task": {"type": "worker", "index": 1}}'
    )
    monkeypatch.setenv("TF_CONFIG", cluster)
    assert (keras_support.process_rank(), keras_support.world_size()) == (2, 3)


# --------------------------------------------------------------- the strategy code path executes
def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"fwm_eco_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.frameworks
@pytest.mark.parametrize(
    ("name", "strategy"),
    [
        ("train_data_parallel_tensorboard", "MirroredStrategy"),
        ("train_ddp_sampler", "MultiWorkerMirroredStrategy"),
    ],
)
def test_migrated_model_is_built_and_trained_under_the_strategy(
    torch2tf_rules: RuleSet, tmp_path: Path, name: str, strategy: str
) -> None:
    import tensorflow as tf
    from tensorflow.python.distribute.values import DistributedVariable

    source = (FIXTURES / name / "input.py").read_text(encoding="utf-8")
    result = migrate_source(source, Direction.TORCH2TF, torch2tf_rules, "input.py")
    assert "with strategy.scope():" in result.code
    out = tmp_path / f"{name}_tf.py"
    write_outputs(result, out, force=True)
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        accuracy, model = _load(out).train()
    finally:
        os.chdir(cwd)
    assert isinstance(model.distribute_strategy, getattr(tf.distribute, strategy))
    assert model.trainable_variables
    assert all(isinstance(v.value, DistributedVariable) for v in model.trainable_variables)
    assert all(isinstance(v.value, DistributedVariable) for v in model.optimizer.variables)
    assert 0.5 < accuracy <= 1.0
