"""`fwmigrate weights`: a checkpoint of the original model, converted through the migration record,
makes the migrated model compute what the original computes (both directions); a checkpoint that
cannot be read, is refused by the weights-only loader, or belongs to another model is a one-line
error naming the file (exit 2) and nothing is written."""

from __future__ import annotations

import importlib.util
import os
import pickle
import sys
import tomllib
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from migrator.api import migrate_source, write_outputs
from migrator.types import Direction
from tests.conftest import ROOT, assert_bad_input, cli_run, listing

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
pytestmark = pytest.mark.frameworks

FIXTURES = ROOT / "fixtures"


# ------------------------------------------------------------------ helpers


def _migrate(direction: Direction, name: str, directory: Path) -> tuple[Path, Path, dict[str, Any]]:
    """A fixture's input as ``directory/model.py`` and its migration beside (with the record)."""
    fixture = FIXTURES / direction.value / name
    src = directory / "model.py"
    src.write_text((fixture / "input.py").read_text(encoding="utf-8"), encoding="utf-8")
    result = migrate_source(src.read_text(encoding="utf-8"), direction, None, "model.py")
    assert result.complete
    out = directory / ("model_tf.py" if direction is Direction.TORCH2TF else "model_torch.py")
    write_outputs(result, out, force=True)
    assert out.with_name(f"{out.stem}.migration.json").is_file()
    meta = tomllib.loads((fixture / "fixture.toml").read_text(encoding="utf-8"))
    return src, out, meta


def _spec(meta: dict[str, Any]) -> str:
    spec = ",".join(str(d) for d in meta["input_shape"])
    dtype = meta.get("input_dtype", "float32")
    return spec if dtype == "float32" else f"{spec}:{dtype}:0:{meta['input_high']}"


def _input(meta: dict[str, Any], seed: int = 7) -> Any:
    rng = np.random.default_rng(seed)
    shape = tuple(meta["input_shape"])
    if meta.get("input_dtype", "float32").startswith("int"):
        return rng.integers(0, meta["input_high"], size=shape)
    return (rng.standard_normal(shape) + 0.5).astype(np.float32)


_loaded = 0


def _load(path: Path) -> types.ModuleType:
    """Import a model file under a fresh module name."""
    global _loaded
    _loaded += 1
    name = f"fwm_weights_test_{_loaded}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _build(module: types.ModuleType, expr: str) -> Any:
    """``Name`` or ``name()`` from fixture.toml."""
    return getattr(module, expr.removesuffix("()"))()


def _perturbed_torch(src: Path, meta: dict[str, Any]) -> Any:
    """The original torch model with every parameter moved away from its initial value and random
    BatchNorm running statistics, in eval mode: a tensor the conversion drops would show."""
    import torch

    torch.manual_seed(3)
    model = _build(_load(src), meta["model"])
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.2 * torch.randn_like(p))
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(0.5 * torch.randn_like(b))
            elif name.endswith("running_var"):
                b.uniform_(0.3, 2.0)
    return model.eval()


def _perturbed_keras(src: Path, meta: dict[str, Any]) -> Any:
    """The original Keras model, built, with random weights (positive moving variances)."""
    model = _build(_load(src), meta["model"])
    model(_input(meta), training=False)
    rng = np.random.default_rng(5)
    model.set_weights(
        [
            rng.uniform(0.3, 2.0, w.shape).astype("float32")
            if "variance" in w.path
            else rng.normal(0.0, 0.3, w.shape).astype("float32")
            for w in model.weights
        ]
    )
    return model


def _weights(checkpoint: Path, src: Path, out: Path, meta: dict[str, Any], dst: Path, *extra: str) -> str:
    """Run `fwmigrate weights`; it must succeed with a one-line summary naming the output."""
    args = ["weights", str(checkpoint), "--from", str(src), "--to", str(out), "--model", meta["model"]]
    code, stdout, stderr = cli_run([*args, "-o", str(dst), *extra])
    assert code == 0, stderr
    assert len(stdout.strip().splitlines()) == 1 and str(dst) in stdout, stdout
    assert dst.is_file()
    return stdout


def _close(got: Any, want: Any) -> None:
    """Within the verify tolerance policy's fail bound, and not trivially (outputs are not ~0)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    scale = float(np.abs(want).max())
    assert scale > 1e-3
    assert got.shape == want.shape
    assert float(np.abs(got - want).max()) <= 1e-6 + 1e-4 * scale, np.abs(got - want).max()


def _far(got: Any, want: Any) -> None:
    """Sanity: a model without the converted weights computes something else (the test can fail)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert float(np.abs(got - want).max()) > 1e-2 * float(np.abs(want).max())


# ------------------------------------------------------------------ torch -> Keras


def _torch_out(model: Any, x: Any) -> Any:
    import torch

    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def _keras_input(x: Any) -> Any:
    """The Keras layout of the fixtures' torch inputs: NCHW images become NHWC, tokens int32."""
    return x.transpose(0, 2, 3, 1) if x.ndim == 4 else x.astype(np.int32)


@pytest.mark.parametrize("name", ["resnet_block", "bilstm_text", "lenet"])
def test_torch_checkpoint_to_keras_reproduces_outputs(name: str, tmp_path: Path) -> None:
    import torch

    src, out, meta = _migrate(Direction.TORCH2TF, name, tmp_path)
    original = _perturbed_torch(src, meta)
    checkpoint = tmp_path / "original.pt"
    torch.save(original.state_dict(), checkpoint)
    dst = tmp_path / "migrated.weights.h5"
    summary = _weights(checkpoint, src, out, meta, dst, "--input", _spec(meta))
    assert f"converted {len(original.state_dict())} tensors" in summary

    x = _input(meta)
    want = _torch_out(original, x)
    migrated = _build(_load(out), meta["model"])
    migrated(_keras_input(x), training=False)  # builds the weights
    _far(migrated(_keras_input(x), training=False), want)
    migrated.load_weights(dst)
    _close(migrated(_keras_input(x), training=False), want)


def test_wrapped_checkpoint_input_and_force(tmp_path: Path) -> None:
    """A training checkpoint {"epoch": .., "model": state_dict} is read (and the summary says so);
    a subclassed Keras model has no weights until called, so --input is needed; an existing output
    needs --force."""
    import torch

    src, out, meta = _migrate(Direction.TORCH2TF, "mlp", tmp_path)
    original = _perturbed_torch(src, meta)
    checkpoint = tmp_path / "train.pt"
    torch.save({"epoch": 3, "model": original.state_dict(), "lr": 0.1}, checkpoint)
    dst = tmp_path / "mlp.weights.h5"
    args = ["weights", str(checkpoint), "--from", str(src), "--to", str(out), "--model", meta["model"]]
    assert_bad_input(tmp_path, [*args, "-o", str(dst)], str(src), "pass --input")

    summary = _weights(checkpoint, src, out, meta, dst, "--input", _spec(meta))
    assert "'model' key" in summary
    first = dst.read_bytes()
    assert_bad_input(tmp_path, [*args, "--input", _spec(meta), "-o", str(dst)], str(dst), "--force")
    assert dst.read_bytes() == first
    _weights(checkpoint, src, out, meta, dst, "--input", _spec(meta), "--force")

    x = _input(meta)
    migrated = _build(_load(out), meta["model"])
    migrated(x, training=False)
    migrated.load_weights(dst)
    _close(migrated(x, training=False), _torch_out(original, x))


# ------------------------------------------------------------------ Keras -> torch


def _torch_input(x: Any) -> Any:
    """The torch layout of the fixtures' Keras inputs: NHWC images become NCHW, tokens int64."""
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if x.ndim == 4 else x.astype(np.int64)


@pytest.mark.parametrize(
    ("name", "archive"),
    [("subclassed_cnn", False), ("lenet_add", False), ("lstm_classifier", False), ("lstm_classifier", True)],
)
def test_keras_checkpoint_to_torch_reproduces_outputs(name: str, archive: bool, tmp_path: Path) -> None:
    import torch

    src, out, meta = _migrate(Direction.TF2TORCH, name, tmp_path)
    original = _perturbed_keras(src, meta)
    checkpoint = tmp_path / ("original.keras" if archive else "original.weights.h5")
    if archive:
        original.save(checkpoint)
    else:
        original.save_weights(checkpoint)
    dst = tmp_path / "migrated.pt"
    # a Sequential with an Input is built without running: the archive case goes without --input
    extra = () if archive else ("--input", _spec(meta))
    summary = _weights(checkpoint, src, out, meta, dst, *extra)
    assert f"converted {len(original.weights)} tensors" in summary

    x = _input(meta)
    want = np.asarray(original(x, training=False))
    migrated = _build(_load(out), meta["model"]).eval()
    with torch.no_grad():
        xt = torch.from_numpy(_torch_input(x))
        migrated(xt)  # materialises Lazy modules
        _far(migrated(xt).numpy(), want)
        migrated.load_state_dict(torch.load(dst, map_location="cpu", weights_only=True), strict=True)
        _close(migrated(xt).numpy(), want)


# ------------------------------------------------------------------ errors: exit 2, one line, nothing written


@pytest.fixture
def resnet(tmp_path: Path) -> tuple[Path, Path, dict[str, Any]]:
    return _migrate(Direction.TORCH2TF, "resnet_block", tmp_path)


def _args(checkpoint: Path, src: Path, out: Path, dst: Path, meta: dict[str, Any]) -> list[str]:
    return [
        "weights",
        str(checkpoint),
        "--from",
        str(src),
        "--to",
        str(out),
        "--model",
        meta["model"],
        "--input",
        _spec(meta),
        "-o",
        str(dst),
    ]


def test_missing_checkpoint(tmp_path: Path, resnet: tuple[Path, Path, dict[str, Any]]) -> None:
    src, out, meta = resnet
    missing = tmp_path / "nope.pt"
    args = _args(missing, src, out, tmp_path / "o.weights.h5", meta)
    assert_bad_input(tmp_path, args, str(missing), "no such file")


def test_corrupted_checkpoint(tmp_path: Path, resnet: tuple[Path, Path, dict[str, Any]]) -> None:
    src, out, meta = resnet
    bad = tmp_path / "garbage.pt"
    bad.write_bytes(b"this is not a checkpoint\n" * 40)
    args = _args(bad, src, out, tmp_path / "o.weights.h5", meta)
    assert_bad_input(tmp_path, args, str(bad), "not a PyTorch checkpoint")


def test_truncated_checkpoint(tmp_path: Path, resnet: tuple[Path, Path, dict[str, Any]]) -> None:
    import torch

    src, out, meta = resnet
    whole = tmp_path / "whole.pt"
    torch.save(_perturbed_torch(src, meta).state_dict(), whole)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    args = _args(cut, src, out, tmp_path / "o.weights.h5", meta)
    assert_bad_input(tmp_path, args, str(cut), "truncated or corrupted")


class _Payload:
    """Unpickling this runs code: it writes the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


@pytest.mark.parametrize("how", ["torch.save", "pickle"])
def test_malicious_pickle_is_refused_not_run(
    how: str, tmp_path: Path, resnet: tuple[Path, Path, dict[str, Any]]
) -> None:
    import torch

    src, out, meta = resnet
    marker = tmp_path.parent / f"{tmp_path.name}-payload-ran"
    payload = {"conv1.weight": _Payload(marker)}
    evil = tmp_path / "evil.pt"
    if how == "torch.save":
        torch.save(payload, evil)
    else:
        with open(evil, "wb") as f:
            pickle.dump(payload, f, protocol=2)
    with pytest.raises(pickle.UnpicklingError):  # the file does hold a code-running pickle
        torch.load(evil, weights_only=True)
    assert not marker.exists()
    args = _args(evil, src, out, tmp_path / "o.weights.h5", meta)
    assert_bad_input(tmp_path, args, str(evil), "weights-only")
    assert not marker.exists(), "the payload ran"


def test_not_a_state_dict(tmp_path: Path, resnet: tuple[Path, Path, dict[str, Any]]) -> None:
    import torch

    src, out, meta = resnet
    other = tmp_path / "stats.pt"
    torch.save({"epoch": 3, "loss": 0.5}, other)
    args = _args(other, src, out, tmp_path / "o.weights.h5", meta)
    assert_bad_input(tmp_path, args, str(other), "not a state_dict")


def test_checkpoint_of_another_model(tmp_path: Path, resnet: tuple[Path, Path, dict[str, Any]]) -> None:
    import torch

    src, out, meta = resnet
    module = _load(src)
    narrower = tmp_path / "ten_vs_five.pt"
    torch.save(module.ResNetTiny(num_classes=5).state_dict(), narrower)
    args = _args(narrower, src, out, tmp_path / "o.weights.h5", meta)
    assert_bad_input(tmp_path, args, str(narrower), "shape mismatch", "fc.weight")

    unrelated = tmp_path / "linear.pt"
    torch.save(torch.nn.Linear(4, 2).state_dict(), unrelated)
    args = _args(unrelated, src, out, tmp_path / "o.weights.h5", meta)
    assert_bad_input(tmp_path, args, str(unrelated), "missing conv1.weight", "unexpected weight, bias")


def test_keras_checkpoint_errors(tmp_path: Path) -> None:
    """tf2torch: a checkpoint of another Keras model, and a truncated one."""
    src, out, meta = _migrate(Direction.TF2TORCH, "subclassed_cnn", tmp_path)
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    other_src, _, other_meta = _migrate(Direction.TF2TORCH, "lenet_add", other_dir)
    foreign = tmp_path / "lenet.weights.h5"
    _perturbed_keras(other_src, other_meta).save_weights(foreign)
    args = _args(foreign, src, out, tmp_path / "o.pt", meta)
    assert_bad_input(tmp_path, args, str(foreign), "does not match", "missing block1/")

    good = tmp_path / "good.weights.h5"
    _perturbed_keras(src, meta).save_weights(good)
    cut = tmp_path / "cut.weights.h5"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    args = _args(cut, src, out, tmp_path / "o.pt", meta)
    assert_bad_input(tmp_path, args, str(cut), "truncated or corrupted")
    assert listing(other_dir) == sorted(["model.py", "model_torch.py", "model_torch.migration.json"])
