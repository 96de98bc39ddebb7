"""Whole-project runs from the command line: directories for torch2tf, tf2torch and check, the
``[tool.fwmigrate]`` configuration and the flag for each key, parallel workers, the progress bar,
and a failing file that does not stop the run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from migrator.batch import MIN_ITEMS_PER_WORKER
from tests.conftest import FIXTURES, ROOT, assert_bad_input, cli_run

TF_FIXTURES = ROOT / "fixtures" / "tf2torch"

UNSUPPORTED = """import torch.nn as nn


class Upscale(nn.Module):
    def __init__(self):
        super().__init__()
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x):
        return self.shuffle(x)
"""


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _fixture(name: str, dest: Path, base: Path = FIXTURES) -> Path:
    return _write(dest, (base / name / "input.py").read_text(encoding="utf-8"))


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """pkg/ with two models, a helper module, a test file and a generated directory; the
    configuration excludes the last two."""
    monkeypatch.chdir(tmp_path)
    _fixture("mlp", tmp_path / "pkg" / "mlp.py")
    _fixture("lenet", tmp_path / "pkg" / "vision" / "lenet.py")
    _write(tmp_path / "pkg" / "utils.py", "def add(a, b):\n    return a + b\n")
    _fixture("mlp", tmp_path / "pkg" / "tests" / "test_mlp.py")
    _write(tmp_path / "pkg" / "build" / "gen.py", UNSUPPORTED)
    _write(tmp_path / "pyproject.toml", '[tool.fwmigrate]\nexclude = ["pkg/tests/**", "build/"]\n')
    return tmp_path


def test_directory_mirrored_into_an_output_directory(project: Path) -> None:
    code, out, err = cli_run(["torch2tf", "pkg", "-o", "out"])
    assert code == 0, err
    assert _files(project / "out") == [
        "mlp.migration.json",
        "mlp.py",
        "utils.migration.json",
        "utils.py",
        "vision/lenet.migration.json",
        "vision/lenet.py",
    ]
    assert "# Migrated from PyTorch by fwmigrate" in (project / "out" / "vision" / "lenet.py").read_text()
    record = json.loads((project / "out" / "mlp.migration.json").read_text())
    assert record["direction"] == "torch2tf"
    assert out == ""
    assert err.strip().splitlines()[-1] == "Summary: 3 files migrated"
    assert not (project / "pkg" / "mlp_tf.py").exists()  # the sources' directory is untouched
    # a second run refuses to overwrite, file by file, and --force replaces
    code, _, err = cli_run(["torch2tf", "pkg", "-o", "out"])
    assert code == 2 and err.count("output exists") == 3
    code, _, err = cli_run(["torch2tf", "pkg", "-o", "out", "--force"])
    assert code == 0, err


def test_outputs_beside_the_sources_and_a_second_run_skips_them(project: Path) -> None:
    code, _, err = cli_run(["torch2tf", "pkg"])
    assert code == 0, err
    assert (project / "pkg" / "vision" / "lenet_tf.py").is_file()
    code, _, err = cli_run(["torch2tf", "pkg", "--force"])  # the outputs are not inputs now
    assert code == 0, err
    assert err.strip().splitlines()[-1] == "Summary: 3 files migrated"
    assert not (project / "pkg" / "mlp_tf_tf.py").exists()


def test_a_failing_file_does_not_stop_the_run(project: Path) -> None:
    _write(project / "pkg" / "broken.py", "import torch\ndef f(:\n")
    _write(project / "pkg" / "upscale.py", UNSUPPORTED)
    code, _, err = cli_run(["torch2tf", "pkg", "-o", "out"])
    assert code == 2
    lines = err.strip().splitlines()
    assert f"fwmigrate: error: {Path('pkg/broken.py')}:2:7: syntax error: invalid syntax" in lines
    assert any("upscale.py:7:24: unsupported: torch.nn.PixelShuffle" in line for line in lines)
    assert lines[-1] == "Summary: 4 files migrated (1 with unsupported constructs), 1 failed"
    assert (project / "out" / "upscale.py").is_file() and not (project / "out" / "broken.py").exists()
    assert (project / "out" / "vision" / "lenet.py").is_file()  # files after the failure too


def test_exit_1_for_unsupported_unless_allowed(project: Path) -> None:
    _write(project / "pkg" / "upscale.py", UNSUPPORTED)
    assert cli_run(["torch2tf", "pkg", "-o", "a"])[0] == 1
    assert cli_run(["torch2tf", "pkg", "-o", "b", "--allow-unsupported"])[0] == 0
    with (project / "pyproject.toml").open("a", encoding="utf-8") as f:
        f.write("allow-unsupported = true\n")
    assert cli_run(["torch2tf", "pkg", "-o", "c"])[0] == 0
    assert cli_run(["torch2tf", "pkg", "-o", "d", "--no-allow-unsupported"])[0] == 1
    assert cli_run(["torch2tf", "pkg/upscale.py", "-o", "e.py"])[0] == 0  # one file: the same setting


def test_exclude_flag_replaces_the_configured_list(project: Path) -> None:
    code, _, err = cli_run(["torch2tf", "pkg", "-o", "out", "--exclude", "vision/", "--exclude", "build/"])
    assert code == 0, err
    assert "tests/test_mlp.py" in _files(project / "out")
    assert "vision/lenet.py" not in _files(project / "out")
    code, _, err = cli_run(["torch2tf", "pkg", "-o", "out2", "--no-config"])
    assert code == 1, err  # build/gen.py is no longer excluded
    assert "build/gen.py" in _files(project / "out2")


def test_output_directory_inside_the_source_is_not_an_input(project: Path) -> None:
    assert cli_run(["torch2tf", "pkg", "-o", "pkg/migrated"])[0] == 0
    code, _, err = cli_run(["torch2tf", "pkg", "-o", "pkg/migrated", "--force"])
    assert code == 0, err
    assert not (project / "pkg" / "migrated" / "migrated").exists()


def test_diff_of_a_directory_writes_nothing(project: Path) -> None:
    before = _files(project)
    code, out, _ = cli_run(["torch2tf", "pkg", "--diff"])
    assert code == 0
    assert f"--- {Path('pkg/mlp.py')}\n+++ {Path('pkg/mlp_tf.py')}\n" in out
    assert "+class LeNet(keras.Model):" in out
    assert _files(project) == before


def test_tf2torch_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _fixture("mlp_sequential", tmp_path / "src" / "mlp.py", TF_FIXTURES)
    _fixture("subclassed_cnn", tmp_path / "src" / "nets" / "cnn.py", TF_FIXTURES)
    code, _, err = cli_run(["tf2torch", "src", "-o", "torch_src", "--no-config"])
    assert code == 0, err
    assert "torch_src/nets/cnn.py" in _files(tmp_path)
    assert "from torch import nn" in (tmp_path / "torch_src" / "mlp.py").read_text()


def test_parallel_run_gives_the_same_outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    names = ["mlp", "lenet", "resnet_block", "conv1d_audio"]
    count = 2 * MIN_ITEMS_PER_WORKER  # enough files for two workers
    for i in range(count):
        _fixture(names[i % len(names)], tmp_path / "src" / f"m{i:02d}.py")
    _write(tmp_path / "src" / "zz_broken.py", "import torch\nx = (\n")
    one = cli_run(["torch2tf", "src", "-o", "one", "--jobs", "1", "--no-config"])
    two = cli_run(["torch2tf", "src", "-o", "two", "--jobs", "2", "--no-config"])
    assert one[0] == two[0] == 2
    assert one[2] == two[2].replace("two", "one")  # same summary, same order
    for name in _files(tmp_path / "one"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name


def test_progress_bar_on_request(project: Path) -> None:
    code, _, err = cli_run(["torch2tf", "pkg", "-o", "out", "--progress"])
    assert code == 0
    assert "torch2tf" in err and "3/3" in err  # rich's bar: label and "done/total"
    code, _, err = cli_run(["torch2tf", "pkg", "-o", "out2"])  # not a terminal: no bar
    assert code == 0 and "3/3" not in err
    code, out, err = cli_run(["check", "pkg", "--progress"])
    assert code == 0 and "3/3" in err and "3/3" not in out


def test_invalid_configuration_is_one_line_naming_file_and_key(project: Path) -> None:
    _write(project / "pyproject.toml", '[tool.fwmigrate]\nmin-score = "high"\n')
    for args in (["check", "pkg"], ["torch2tf", "pkg"], ["torch2tf", "pkg/mlp.py"]):
        assert_bad_input(project, args, "pyproject.toml: [tool.fwmigrate] min-score: expected a number")
    _write(project / "pyproject.toml", "[tool.fwmigrate]\njobz = 2\n")
    assert_bad_input(project, ["check", "pkg"], "[tool.fwmigrate] jobz: unknown key; did you mean 'jobs'?")
    assert cli_run(["check", "pkg", "--no-config", "--exclude", "build/"])[0] == 0  # the file is ignored


def test_explicit_config_file(project: Path) -> None:
    _write(project / "ci.toml", '[tool.fwmigrate]\nmin-score = 100\nexclude = ["build/"]\n')
    _write(project / "pkg" / "upscale.py", UNSUPPORTED)
    code, out, _ = cli_run(["check", "pkg", "--config", "ci.toml", "--allow-unsupported"])
    assert code == 1  # upscale.py scores 50, below 100
    assert "--min-score 100" in out
    _write(project / "empty.toml", "[tool.other]\n")
    assert_bad_input(project, ["check", "pkg", "--config", "empty.toml"], "no [tool.fwmigrate] table")
    assert_bad_input(project, ["check", "pkg", "--config", "missing.toml"], "missing.toml", "no such file")


def test_check_reads_every_key_and_flags_win(project: Path) -> None:
    rules = _write(
        project / "team_rules" / "shuffle.toml",
        '[[rule]]\nid = "torch2tf.team.PixelShuffle"\nkind = "layer"\nmatch = "torch.nn.PixelShuffle"\n'
        'unsupported = "depth_to_space needs NHWC and a channel order check"\n',
    ).parent
    _write(project / "pkg" / "upscale.py", UNSUPPORTED)
    _write(
        project / "pyproject.toml",
        '[tool.fwmigrate]\ndirection = "torch2tf"\nmin-score = 60\nrules = ["team_rules"]\n'
        'exclude = ["pkg/tests/**", "build/"]\njobs = 1\nallow-unsupported = true\n',
    )
    code, out, _ = cli_run(["check", "pkg", "--format", "json"])
    report = json.loads(out)
    assert code == 1  # allowed unsupported, but upscale.py scores 50 < 60
    assert report["policy"] == {"min_score": 60.0, "allow_unsupported": True}
    checked = {Path(f["path"]).as_posix(): f for f in report["files"]}
    assert sorted(checked) == ["pkg/mlp.py", "pkg/upscale.py", "pkg/utils.py", "pkg/vision/lenet.py"]
    assert checked["pkg/utils.py"]["direction"] == "torch2tf"  # the configured direction, not auto
    assert "depth_to_space" in json.dumps(checked["pkg/upscale.py"])  # the configured rule directory
    assert cli_run(["check", "pkg", "--min-score", "50"])[0] == 0
    code, _, _ = cli_run(["check", "pkg", "--min-score", "50", "--no-allow-unsupported"])
    assert code == 1
    code, out, _ = cli_run(
        [
            "check",
            "pkg",
            "--direction",
            "auto",
            "--format",
            "json",
            "--exclude",
            "upscale.py",
            "--exclude",
            "build/",
        ]
    )
    report = json.loads(out)
    assert code == 0
    assert {Path(f["path"]).name: f["direction"] for f in report["files"]}["utils.py"] is None
    _write(project / "pyproject.toml", '[tool.fwmigrate]\nrules = ["nowhere"]\n')
    assert_bad_input(project, ["check", "pkg"], "rules: rule directory 'nowhere' does not exist")
    _write(project / "pyproject.toml", '[tool.fwmigrate]\nrules = ["team_rules"]\n')
    assert_bad_input(project, ["check", "pkg", "--rules", "gone"], "--rules", "'gone' does not exist")
    assert rules.is_dir()


def test_check_in_parallel_keeps_the_argument_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for i in range(2 * MIN_ITEMS_PER_WORKER):
        _fixture(["mlp", "lenet"][i % 2], tmp_path / "src" / f"m{i:02d}.py")
    _write(tmp_path / "src" / "m07.py", UNSUPPORTED)
    _write(tmp_path / "src" / "m09.py", "import torch\nx = (\n")
    one = cli_run(["check", "src", "--jobs", "1", "--format", "json", "--no-config"])
    two = cli_run(["check", "src", "--jobs", "2", "--format", "json", "--no-config"])
    assert one == two
    assert one[0] == 2 and "m09.py:2" in one[2]
    names = [Path(f["path"]).name for f in json.loads(one[1])["files"]]
    assert names == sorted(names) and len(names) == 2 * MIN_ITEMS_PER_WORKER
