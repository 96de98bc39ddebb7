"""`fwmigrate export`: every foundation (torch2tf) fixture exported to SavedModel and TFLite, and
every tf2torch fixture to TorchScript and ExportedProgram, runs as the original source model does
(the artefact is loaded back with its own runtime and compared with verify's driver); checkpoints
flow through; bad requests exit 2 and write nothing; a wrong migration exits 1."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from migrator.api import migrate_source, record_path_for, write_outputs
from migrator.export import worker
from migrator.export.formats import ExportFormat
from migrator.export.run import ExportRequest, build_request, check_request
from migrator.types import Direction
from migrator.verify.result import EquivalenceResult, Verdict
from migrator.verify.spec import InputSpec, VerifyOptions

pytestmark = pytest.mark.frameworks

ROOT = Path(__file__).resolve().parent.parent / "fixtures"
FWMIGRATE = str(Path(sys.executable).parent / "fwmigrate")
SUFFIX = {Direction.TORCH2TF: "_tf", Direction.TF2TORCH: "_torch"}


def _models(direction: Direction) -> list[str]:
    return sorted(
        p.name
        for p in (ROOT / direction.value).iterdir()
        if (p / "fixture.toml").is_file() and not p.name.startswith("train_")
    )


def _fixture(direction: Direction, name: str, d: Path) -> tuple[Path, Path, str, str]:
    """The fixture migrated into ``d``: (original, migrated, --model, --input)."""
    meta = tomllib.loads((ROOT / direction.value / name / "fixture.toml").read_text(encoding="utf-8"))
    src = d / "model.py"
    src.write_text((ROOT / direction.value / name / "input.py").read_text(encoding="utf-8"), encoding="utf-8")
    result = migrate_source(src.read_text(encoding="utf-8"), direction, None, "model.py")
    assert result.complete
    out = d / f"model{SUFFIX[direction]}.py"
    write_outputs(result, out, force=True)
    spec = ",".join(str(n) for n in meta["input_shape"])
    dtype = meta.get("input_dtype", "float32")
    if dtype != "float32":
        spec += f":{dtype}:0:{meta.get('input_high', 100)}"
    return src, out, meta["model"], spec


def _in_process(
    original: Path | None, migrated: Path, model: str, spec: str, fmt: ExportFormat, d: Path, **kw: Any
) -> tuple[EquivalenceResult, Path]:
    """The export worker run in this process (the frameworks are imported once for all cases; the
    subprocess around it is tested through the CLI below)."""
    req = ExportRequest(
        migrated,
        fmt,
        d / f"artefact{fmt.suffix}",
        VerifyOptions(model=model, inputs=(InputSpec.parse(spec),), samples=2),
        original,
        record_path_for(migrated) if original is not None else None,
        kw.get("weights"),
    )
    direction = check_request(req)
    artefact = d / f"staged{fmt.suffix}"
    request = build_request(req, direction, artefact, d / "result.json", [])
    return worker.run(request), artefact


@pytest.mark.parametrize("fmt", [ExportFormat.SAVEDMODEL, ExportFormat.TFLITE], ids=lambda f: f.value)
@pytest.mark.parametrize("name", _models(Direction.TORCH2TF))
def test_foundation_fixture_artefact_matches_the_torch_original(
    name: str, fmt: ExportFormat, tmp_path: Path
) -> None:
    src, out, model, spec = _fixture(Direction.TORCH2TF, name, tmp_path)
    result, artefact = _in_process(src, out, model, spec, fmt, tmp_path)
    assert result.verdict is Verdict.EQUIVALENT, result.error or result.dumps()
    assert artefact.exists()
    assert len(result.samples) == 2 and result.outputs


@pytest.mark.parametrize(
    "fmt", [ExportFormat.TORCHSCRIPT, ExportFormat.EXPORTED_PROGRAM], ids=lambda f: f.value
)
@pytest.mark.parametrize("name", _models(Direction.TF2TORCH))
def test_tf2torch_fixture_artefact_matches_the_keras_original(
    name: str, fmt: ExportFormat, tmp_path: Path
) -> None:
    src, out, model, spec = _fixture(Direction.TF2TORCH, name, tmp_path)
    result, artefact = _in_process(src, out, model, spec, fmt, tmp_path)
    assert result.verdict is Verdict.EQUIVALENT, result.error or result.dumps()
    assert artefact.is_file()


@pytest.mark.parametrize("name", ["lenet_add", "subclassed_cnn", "lstm_classifier"])
def test_onnx_artefact_runs_in_onnxruntime_like_the_keras_original(name: str, tmp_path: Path) -> None:
    src, out, model, spec = _fixture(Direction.TF2TORCH, name, tmp_path)
    result, artefact = _in_process(src, out, model, spec, ExportFormat.ONNX, tmp_path)
    assert result.verdict is Verdict.EQUIVALENT, result.error or result.dumps()
    import onnx

    onnx.checker.check_model(onnx.load(str(artefact)))


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FWMIGRATE, "export", *args], capture_output=True, text=True, cwd=cwd, check=False)


def test_cli_exports_verifies_and_reports(tmp_path: Path) -> None:
    src, out, model, spec = _fixture(Direction.TORCH2TF, "lenet", tmp_path)
    proc = _cli(
        out.name, "--format", "tflite", "--verify-against", src.name, "--model", model, "--input", spec,
        "--json", "report.json", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    artefact = tmp_path / "model_tf_tflite.tflite"  # the default output name
    assert artefact.is_file() and artefact.read_bytes()[4:8] == b"TFL3"
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report["verdict"] == "equivalent"
    assert "model_tf_tflite.tflite (tflite" in report["migrated"]
    assert not list(tmp_path.glob(".*fwmigrate-tmp"))  # no staging left behind


def test_a_wrong_migration_is_not_equivalent_and_exits_1(tmp_path: Path) -> None:
    src, out, model, spec = _fixture(Direction.TF2TORCH, "lenet_add", tmp_path)
    code = out.read_text(encoding="utf-8")
    assert "torch.relu(" in code or "F.relu(" in code or "nn.ReLU()" in code
    wrong = code.replace("torch.relu(", "torch.tanh(").replace("F.relu(", "torch.tanh(")
    out.write_text(wrong.replace("nn.ReLU()", "nn.Tanh()"), encoding="utf-8")
    proc = _cli(
        out.name, "--format", "torchscript", "--verify-against", src.name, "--model", model,
        "--input", spec, "-o", "m.pt", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "NOT equivalent" in proc.stdout or "not equivalent" in proc.stdout
    assert (tmp_path / "m.pt").is_file()  # written, and the exit code says it differs


def _nothing_written(d: Path, before: set[Path]) -> None:
    assert set(d.iterdir()) == before


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("format-for-other-side", "does not apply to a torch model"),
        ("onnx-for-keras", "tf2onnx"),
        ("missing-original", "no such file"),
        ("exists", "exists (use --force"),
        ("no-record", "no migration record"),
        ("bad-checkpoint", "not a loadable torch checkpoint"),
        ("mismatched-checkpoint", "does not fit the model"),
    ],
)
def test_bad_requests_exit_2_and_write_nothing(case: str, message: str, tmp_path: Path) -> None:
    tsrc = tmp_path / "t"
    tsrc.mkdir()
    ksrc = tmp_path / "k"
    ksrc.mkdir()
    if case in ("onnx-for-keras", "bad-checkpoint", "mismatched-checkpoint"):
        src, out, model, spec = _fixture(Direction.TORCH2TF, "mlp", tsrc)
        d = tsrc
    else:
        src, out, model, spec = _fixture(Direction.TF2TORCH, "lenet_add", ksrc)
        d = ksrc
    fmt = {"format-for-other-side": "savedmodel", "onnx-for-keras": "onnx"}.get(
        case, "torchscript" if d is ksrc else "tflite"
    )
    args = [out.name, "--format", fmt, "--verify-against", src.name, "--model", model, "--input", spec]
    args += ["-o", "art"]
    if case == "missing-original":
        args[4] = "nowhere.py"
    if case == "exists":
        (d / "art").write_text("keep me", encoding="utf-8")
    if case == "no-record":
        record_path_for(out).unlink()
    if case == "bad-checkpoint":
        (d / "ckpt.pt").write_bytes(b"\x80\x04not really a checkpoint")
        args += ["--weights", "ckpt.pt"]
    if case == "mismatched-checkpoint":
        import torch

        torch.save({"fc1.weight": torch.zeros(3, 3)}, d / "ckpt.pt")
        args += ["--weights", "ckpt.pt"]
    before = set(d.iterdir())
    proc = _cli(*args, cwd=d)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stdout + proc.stderr
    _nothing_written(d, before)
    if case == "exists":
        assert (d / "art").read_text(encoding="utf-8") == "keep me"


def test_original_checkpoint_flows_into_the_artefact(tmp_path: Path) -> None:
    """--weights with --verify-against: the original loads the checkpoint, the weights move into
    the migrated model, and the TFLite artefact computes the checkpoint's function (not the
    model's initial one)."""
    import tensorflow as tf
    import torch

    src, out, model, spec = _fixture(Direction.TORCH2TF, "resnet_block", tmp_path)
    sys.path.insert(0, str(tmp_path))
    try:
        import model as original_module  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(tmp_path))
    torch.manual_seed(7)
    trained = original_module.ResNetTiny().eval()
    with torch.no_grad():
        for p in trained.parameters():
            p.add_(0.05 * torch.randn_like(p))
        for m in trained.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    torch.save(trained.state_dict(), tmp_path / "trained.pt")
    result, artefact = _in_process(
        src, out, model, spec, ExportFormat.TFLITE, tmp_path, weights=tmp_path / "trained.pt"
    )
    assert result.verdict is Verdict.EQUIVALENT, result.error or result.dumps()
    x = np.random.default_rng(3).normal(size=(2, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        want = trained(torch.from_numpy(x)).numpy()
        initial = original_module.ResNetTiny().eval()(torch.from_numpy(x)).numpy()
    interpreter = tf.lite.Interpreter(model_path=str(artefact))
    detail = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(detail["index"], [2, 32, 32, 3])
    interpreter.allocate_tensors()
    interpreter.set_tensor(detail["index"], x.transpose(0, 2, 3, 1).copy())
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    assert np.abs(got - want).max() < 1e-4
    assert np.abs(got - initial).max() > 1e-2  # the checkpoint made a difference


def test_export_without_original_checks_the_artefact_against_the_model(tmp_path: Path) -> None:
    """No --verify-against: the migrated model with its own checkpoint (.weights.h5), --input in
    its own (NHWC) layout; the SavedModel computes what the in-memory model computes."""
    import keras

    _, out, model, _ = _fixture(Direction.TORCH2TF, "lenet", tmp_path)
    sys.path.insert(0, str(tmp_path))
    try:
        import model_tf  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(tmp_path))
    k = model_tf.LeNet()
    k(np.zeros((1, 28, 28, 1), np.float32))
    for v in k.weights:
        v.assign(np.random.default_rng(1).normal(0, 0.1, v.shape).astype(np.float32))
    k.save_weights(str(tmp_path / "lenet.weights.h5"))
    weights = tmp_path / "lenet.weights.h5"
    result, artefact = _in_process(
        None, out, model, "2,28,28,1", ExportFormat.SAVEDMODEL, tmp_path, weights=weights
    )
    assert result.verdict is Verdict.EQUIVALENT, result.error or result.dumps()
    assert (artefact / "saved_model.pb").is_file()
    assert not any("initial weights" in w for w in result.warnings)
    keras.backend.clear_session()
