"""The round trip: every torch fixture migrated torch2tf, the Keras output migrated tf2torch, and
the final torch model verified against the original torch model (`fwmigrate verify ORIGINAL
FINAL --via INTERMEDIATE`): the weights go original -> Keras -> final through both directions'
transforms, and the final model must compute what the original computes."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from migrator.api import InputError, migrate_source, record_path_for, verify, write_outputs
from migrator.types import Direction
from migrator.verify.result import ROUND_TRIP, Status, Tolerance, Verdict
from migrator.verify.roundtrip import compose
from migrator.verify.spec import InputSpec, LoadMode, VerifyOptions

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "torch2tf"
NAMES = sorted(p.name for p in FIXTURES.iterdir() if (p / "fixture.toml").is_file())
FWMIGRATE = str(Path(sys.executable).parent / "fwmigrate")


def _spec(meta: dict[str, Any]) -> str:
    """The fixture's --input SPEC (torch layout)."""
    spec = ",".join(str(d) for d in meta["input_shape"])
    dtype = meta.get("input_dtype", "float32")
    if dtype != "float32":
        spec += f":{dtype}"
        if dtype.startswith("int"):
            spec += f":0:{meta.get('input_high', 100)}"
    return spec


def keras_input_shape(record: dict[str, Any], model: str, torch_shape: list[int]) -> tuple[int, ...]:
    """The Keras-layout input shape without the batch axis, from the torch2tf record's input perm
    (Keras = torch.permute(perm)): NCHW -> HWC, (N, C, L) -> (L, C), time-major (T, N, F) -> (T, F)."""
    inputs = record["classes"].get(model, {}).get("inputs", [])
    perm = inputs[0].get("perm") if inputs else None
    shape = [torch_shape[p] for p in perm] if perm and len(perm) == len(torch_shape) else list(torch_shape)
    return tuple(shape[1:])


def _round_trip_files(name: str, tmp_path: Path) -> tuple[Path, Path, Path, str, str]:
    """Migrate a fixture torch2tf then tf2torch in tmp_path: (original, intermediate, final,
    --model, --input)."""
    meta = tomllib.loads((FIXTURES / name / "fixture.toml").read_text(encoding="utf-8"))
    src = tmp_path / "model.py"
    src.write_text((FIXTURES / name / "input.py").read_text(encoding="utf-8"), encoding="utf-8")
    first = migrate_source(src.read_text(encoding="utf-8"), Direction.TORCH2TF, None, "model.py")
    via = tmp_path / "model_tf.py"
    write_outputs(first, via, force=True)
    shape = keras_input_shape(first.record.to_json(), meta["model"], list(meta["input_shape"]))
    second = migrate_source(
        via.read_text(encoding="utf-8"), Direction.TF2TORCH, None, "model_tf.py", input_shape=shape
    )
    final = tmp_path / "model_tf_torch.py"
    write_outputs(second, final, force=True)
    return src, via, final, meta["model"], _spec(meta)


def _request(src: Path, via: Path, final: Path, model: str, spec: str, samples: int = 2) -> dict[str, Any]:
    """A worker request for the round trip: verification in this process (same code as the CLI)."""
    return {
        "original": str(src),
        "via": str(via),
        "migrated": str(final),
        "record": str(record_path_for(via)),
        "final_record": str(record_path_for(final)),
        "direction": ROUND_TRIP,
        "model": model,
        "inputs": [spec],
        "samples": samples,
        "seed": 0,
        "tolerance": asdict(Tolerance()),
        "load_mode": LoadMode.GUARDED.value,
        "warnings": [],
    }


def _explain(result: Any) -> str:
    rows = [
        f"{c.source} -> {c.target}: {c.status.value} {c.max_abs_diff:.1e} {c.note}" for c in result.layers
    ]
    return "\n".join([f"{result.verdict.value}: {result.error}", *rows, *result.warnings])


@pytest.mark.frameworks
def test_keras_input_shape_from_the_record_perm() -> None:
    def record(perm: list[int] | None) -> dict[str, Any]:
        return {"classes": {"M": {"inputs": [{"name": "x", "perm": perm}]}}}

    assert keras_input_shape(record([0, 2, 3, 1]), "M", [2, 3, 32, 32]) == (32, 32, 3)
    assert keras_input_shape(record([0, 2, 1]), "M", [2, 8, 100]) == (100, 8)
    assert keras_input_shape(record([1, 0, 2]), "M", [7, 2, 5]) == (7, 5)
    assert keras_input_shape(record(None), "M", [2, 16]) == (16,)
    assert keras_input_shape({"classes": {}}, "M", [2, 20]) == (20,)


def test_compose_perms() -> None:
    assert compose([0, 2, 3, 1], [0, 3, 1, 2]) == [0, 1, 2, 3]  # NCHW -> NHWC -> NCHW
    assert compose([1, 0, 2], [0, 1, 2]) == [1, 0, 2]  # time-major -> batch-major, kept
    assert compose([0, 2, 1], None) is None
    assert compose([0, 1], [0, 1, 2]) is None


@pytest.mark.frameworks
@pytest.mark.parametrize("name", NAMES)
def test_fixture_round_trips(name: str, tmp_path: Path) -> None:
    from migrator.verify import worker

    src, via, final, model, spec = _round_trip_files(name, tmp_path)
    result = worker.run(_request(src, via, final, model, spec))
    assert result.direction == ROUND_TRIP and result.via == "model_tf.py"
    assert result.verdict is Verdict.EQUIVALENT, _explain(result)
    assert result.float64_error is not None, result.warnings
    assert result.layers, "no layer of the original was compared with the final model"
    assert all(c.status is Status.PASS for c in result.layers), _explain(result)


def _cli(
    src: Path, via: Path, final: Path, model: str, spec: str, *extra: str
) -> tuple[int, dict[str, Any], str]:
    report = final.with_name("report.json")
    proc = subprocess.run(
        [
            *(FWMIGRATE, "verify", str(src), str(final), "--via", str(via)),
            *("--model", model, "--input", spec, "--json", str(report), "--samples", "2", *extra),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    data = json.loads(report.read_text(encoding="utf-8")) if report.exists() else {}
    return proc.returncode, data, proc.stdout + proc.stderr


@pytest.mark.frameworks
@pytest.mark.parametrize("name", ["lenet", "resnet_block"])
def test_cli_round_trip(name: str, tmp_path: Path) -> None:
    src, via, final, model, spec = _round_trip_files(name, tmp_path)
    code, data, text = _cli(src, via, final, model, spec)
    assert code == 0, text
    assert data["direction"] == ROUND_TRIP and data["via"] == "model_tf.py" and data["equivalent"]
    assert data["migrated"] == "model_tf_torch.py"
    assert all(c["status"] == "pass" for c in data["layers"]), text


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.frameworks
def test_cli_round_trip_catches_a_wrong_final_model(tmp_path: Path) -> None:
    """The final model's first BatchNorm eps changed: not equivalent (exit 1), that BatchNorm named."""
    src, via, final, model, spec = _round_trip_files("resnet_block", tmp_path)
    _edit(final, "eps=1e-05, momentum=0.1", "eps=0.001, momentum=0.1")
    code, data, text = _cli(src, via, final, model, spec)
    assert code == 1, text
    assert data["verdict"] == "not_equivalent"
    first = data["first_divergent_layer"]
    assert first is not None and first["source"] == "layer1.bn1", text


@pytest.mark.frameworks
def test_round_trip_momentum_is_checked(tmp_path: Path) -> None:
    """A final BatchNorm momentum of 1 - the original's passes at inference and fails the training
    step check: not equivalent."""
    from migrator.verify import worker

    src, via, final, model, spec = _round_trip_files("resnet_block", tmp_path)
    _edit(final, "eps=1e-05, momentum=0.1", "eps=1e-05, momentum=0.9")
    result = worker.run(_request(src, via, final, model, spec, samples=1))
    assert result.verdict is Verdict.NOT_EQUIVALENT
    assert all(o.status is Status.PASS for o in result.outputs)
    failed = [c.source for c in result.layers if c.status is Status.FAIL]
    expected = [f"layer{i}.bn1 (running_mean after a training step)" for i in (1, 2, 3)]  # BasicBlock.bn1
    assert failed == expected, _explain(result)


@pytest.mark.frameworks
def test_untransferable_final_weights_are_named(tmp_path: Path) -> None:
    """A final model with a layer the intermediate does not have: an error naming the step and the
    layer (the CLI's exit 2)."""
    from migrator.verify import worker
    from migrator.verify.driver import UserCodeError

    src, via, final, model, spec = _round_trip_files("mlp", tmp_path)
    marker = "super().__init__()\n"
    _edit(final, marker, marker + "        self.extra = nn.Linear(3, 3)\n")
    with pytest.raises(
        UserCodeError, match=r"tf2torch step \(model_tf.py -> model_tf_torch.py\).*extra\.weight"
    ):
        worker.run(_request(src, via, final, model, spec, samples=1))


@pytest.mark.frameworks
def test_conditional_layers_in_the_tf2torch_step(tmp_path: Path) -> None:
    """The intermediate Keras file verifies against the final torch file on its own (tf2torch): a
    layer a class builds conditionally (ResNet's projection shortcut, None in layer1) is recorded
    for the class and absent from that instance on both sides."""
    from migrator.verify import worker

    _, via, final, model, _ = _round_trip_files("resnet_block", tmp_path)
    request = {
        **_request(via, via, final, model, "2,32,32,3", samples=1),
        "record": str(record_path_for(final)),
    }
    del request["via"], request["final_record"], request["direction"]
    result = worker.run(request)
    assert result.direction == "tf2torch" and result.verdict is Verdict.EQUIVALENT, _explain(result)
    assert "layer2.shortcut.0" in [c.source for c in result.layers]


def test_round_trip_records_are_checked(tmp_path: Path) -> None:
    """--via needs a torch2tf record for INTERMEDIATE and a tf2torch record for FINAL."""
    for stem in ("model", "model_tf", "model_tf_torch"):
        (tmp_path / f"{stem}.py").write_text("x = 1\n", encoding="utf-8")
    src, via, final = (tmp_path / f"{s}.py" for s in ("model", "model_tf", "model_tf_torch"))
    options = VerifyOptions(model="Net", inputs=(InputSpec((2, 3)),))
    with pytest.raises(InputError, match="no migration record"):
        verify(src, final, options, via=via)
    record_path_for(via).write_text(json.dumps({"direction": "tf2torch"}), encoding="utf-8")
    record_path_for(final).write_text(json.dumps({"direction": "tf2torch"}), encoding="utf-8")
    with pytest.raises(InputError, match="ORIGINAL -> INTERMEDIATE step is torch2tf"):
        verify(src, final, options, via=via)
    record_path_for(via).write_text(json.dumps({"direction": "torch2tf"}), encoding="utf-8")
    record_path_for(final).write_text(json.dumps({"direction": "torch2tf"}), encoding="utf-8")
    with pytest.raises(InputError, match="INTERMEDIATE -> FINAL step is tf2torch"):
        verify(src, final, options, via=via)
