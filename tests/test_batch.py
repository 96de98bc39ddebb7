"""Directory runs: expanding inputs, mirroring outputs, the process pool, the migration worker."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator import batch
from migrator.api import InputError
from migrator.batch import (
    BatchError,
    ExitCode,
    FileOutcome,
    MigrateTask,
    Outcome,
    detect_direction,
    exit_code,
    expand,
    is_excluded,
    migrate_file,
    mirror,
    run,
)
from migrator.types import Counts, Direction, Severity
from tests.conftest import FIXTURES

EXCLUDE = ["tests/**", "*_tf.py", "build/"]

# ---------------------------------------------------------------------------------------------
# expand


def _touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("", encoding="utf-8")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    _touch(
        tmp_path,
        "setup.py",
        "pkg/__init__.py",
        "pkg/models/net.py",
        "pkg/models/net_tf.py",  # excluded by name
        "pkg/models/notes.txt",  # not Python
        "pkg/build/gen.py",  # excluded directory
        "pkg/build.py",  # a file named like the directory pattern: kept
        "tests/test_net.py",  # excluded from the root
        "pkg/tests/test_inner.py",  # "tests/**" is anchored: kept
        "pkg/old.py",
        "pkg/old_torch.py",  # an earlier run's output (its record beside it)
        "pkg/old_torch.migration.json",
        ".venv/lib/site.py",  # hidden directory
        "env/lib/mod.py",  # a virtualenv under another name
        "env/pyvenv.cfg",
        "pkg/__pycache__/net.py",
    )
    return tmp_path


def _rel(paths: list[Path], root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in paths]


def test_expand_walks_directories_honouring_excludes(tree: Path) -> None:
    assert _rel(expand([tree], tree, EXCLUDE), tree) == [
        "pkg/__init__.py",
        "pkg/build.py",
        "pkg/models/net.py",
        "pkg/old.py",
        "pkg/tests/test_inner.py",
        "setup.py",
    ]


def test_expand_without_excludes_still_skips_tool_dirs_and_outputs(tree: Path) -> None:
    found = _rel(expand([tree / "pkg"], tree, []), tree)
    assert "pkg/models/net_tf.py" in found and "pkg/build/gen.py" in found
    assert not any("__pycache__" in p or "old_torch" in p for p in found)
    assert _rel(expand([tree], tree, []), tree)[-2:] == ["setup.py", "tests/test_net.py"]


def test_expand_files_as_given_sorted_and_deduplicated(tree: Path) -> None:
    given = [
        tree / "tests" / "test_net.py",  # named explicitly: excludes do not apply
        tree / "pkg" / "models",
        tree / "pkg" / "models" / "net.py",
        tree / "pkg" / "models" / ".." / "models" / "net.py",
        tree / "pkg" / "models" / "notes.txt",
    ]
    assert _rel(expand(given, tree, EXCLUDE), tree) == [
        "pkg/models/net.py",
        "pkg/models/notes.txt",
        "tests/test_net.py",
    ]


def test_expand_inside_an_excluded_directory_is_empty(tree: Path) -> None:
    assert expand([tree / "tests"], tree, EXCLUDE) == []
    assert expand([tree / "pkg" / "build"], tree, EXCLUDE) == []


def test_expand_relative_paths_keep_their_spelling(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree)
    assert expand([Path("pkg/models")], Path("."), EXCLUDE) == [Path("pkg/models/net.py")]


def test_expand_missing_path_is_an_error_naming_it(tree: Path) -> None:
    missing = tree / "pkg" / "nope.py"
    with pytest.raises(BatchError) as info:
        expand([tree / "pkg", missing], tree, [])
    assert str(info.value) == f"{missing}: no such file or directory"


@pytest.mark.parametrize(
    ("rel", "is_dir", "patterns", "excluded"),
    [
        ("a/b/net_tf.py", False, ["*_tf.py"], True),
        ("a/b/net.py", False, ["*_tf.py"], False),
        ("tests/unit/test_a.py", False, ["tests/**"], True),
        ("pkg/tests/test_a.py", False, ["tests/**"], False),
        ("pkg/tests/test_a.py", False, ["**/tests/**"], True),
        ("a/build", True, ["build/"], True),
        ("a/build", False, ["build/"], False),
        ("src/gen/x.py", False, ["/src/gen/*.py"], True),
        ("src/gen/sub/x.py", False, ["src/gen/*.py"], False),
        ("src/gen/sub/x.py", False, ["src/**/x.py"], True),
        ("data/Net.py", False, ["net.py"], False),  # case-sensitive
    ],
)
def test_is_excluded(rel: str, is_dir: bool, patterns: list[str], excluded: bool) -> None:
    assert is_excluded(Path(rel), is_dir, patterns) is excluded


# ---------------------------------------------------------------------------------------------
# mirror


def test_mirror_keeps_the_path_and_name(tmp_path: Path) -> None:
    src = tmp_path / "pkg" / "models" / "net.py"
    out = tmp_path / "out"
    assert mirror(src, tmp_path, out) == out / "pkg" / "models" / "net.py"
    assert mirror(src, tmp_path / "pkg", out, "_tf") == out / "models" / "net_tf.py"


def test_mirror_of_a_file_outside_the_root_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(BatchError, match="not inside"):
        mirror(tmp_path / "elsewhere" / "net.py", tmp_path / "pkg", tmp_path / "out")


# ---------------------------------------------------------------------------------------------
# run


def tenth_of(x: int) -> float:
    """A picklable top-level worker that fails for 0."""
    return 10 / x


@pytest.mark.parametrize("jobs", [1, 2])
def test_run_ordered_results_errors_captured_progress(jobs: int) -> None:
    calls: list[tuple[int, int]] = []
    outcomes = run([1, 2, 0, 5, 4], tenth_of, jobs, lambda done, total: calls.append((done, total)))
    assert [o.result for o in outcomes] == [10.0, 5.0, None, 2.0, 2.5]
    assert [o.ok for o in outcomes] == [True, True, False, True, True]
    assert outcomes[2].error == "ZeroDivisionError: division by zero" and outcomes[2].internal
    assert calls == [(n, 5) for n in range(1, 6)]


def test_run_edge_cases() -> None:
    assert run([], tenth_of, 4) == []
    assert run([2], tenth_of, 4) == [Outcome(result=5.0)]  # one item: in-process
    with pytest.raises(ValueError, match="positive"):
        run([1], tenth_of, 0)


# ---------------------------------------------------------------------------------------------
# migrate_file


def _copy_fixture(name: str, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text((FIXTURES / name / "input.py").read_text(encoding="utf-8"), encoding="utf-8")
    return dest


UNSUPPORTED = """import torch.nn as nn


class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x):
        return self.shuffle(x)
"""


def test_migrate_files_in_parallel_a_bad_file_does_not_stop_the_others(tmp_path: Path) -> None:
    mlp = _copy_fixture("mlp", tmp_path / "pkg" / "mlp.py")
    lenet = _copy_fixture("lenet", tmp_path / "pkg" / "vision" / "lenet.py")
    bad = tmp_path / "pkg" / "bad.py"
    bad.write_text("import torch\ndef f(:\n", encoding="utf-8")
    files = expand([tmp_path / "pkg"], tmp_path, [])
    assert files == [bad, mlp, lenet]
    tasks = [MigrateTask(f, Direction.TORCH2TF) for f in files]
    outcomes = run(tasks, migrate_file, jobs=2)

    assert outcomes[0].error is not None and outcomes[0].result is None
    assert outcomes[0].error.startswith(f"{bad}:2:7: syntax error") and not outcomes[0].internal
    assert not (tmp_path / "pkg" / "bad_tf.py").exists()
    for outcome, src in zip(outcomes[1:], [mlp, lenet], strict=True):
        done = outcome.result
        assert done is not None
        assert done.output == src.with_name(f"{src.stem}_tf.py") and done.output.is_file()
        assert done.record == src.with_name(f"{src.stem}_tf.migration.json") and done.record.is_file()
        assert (done.src, done.direction, done.changed, done.skipped) == (src, Direction.TORCH2TF, True, None)
    assert outcomes[1].result is not None and outcomes[1].result.counts == Counts(8, 0, 0)
    assert outcomes[2].result is not None and outcomes[2].result.counts == Counts(10, 0, 0)
    assert exit_code(outcomes) is ExitCode.ERROR
    assert int(exit_code(outcomes)) == 2
    assert exit_code(outcomes[1:]) is ExitCode.OK
    # a second walk does not pick up the outputs it wrote
    assert expand([tmp_path / "pkg"], tmp_path, []) == files


def test_migrate_file_into_an_output_directory(tmp_path: Path) -> None:
    src = _copy_fixture("mlp", tmp_path / "pkg" / "mlp.py")
    task = MigrateTask(src, Direction.TORCH2TF, out_dir=tmp_path / "out", inputs_root=tmp_path)
    done = migrate_file(task)
    assert done.output == tmp_path / "out" / "pkg" / "mlp.py"
    assert done.record == tmp_path / "out" / "pkg" / "mlp.migration.json"
    assert "# Migrated from PyTorch by fwmigrate" in done.output.read_text(encoding="utf-8")
    with pytest.raises(InputError, match="output exists"):
        migrate_file(task)
    forced = MigrateTask(src, Direction.TORCH2TF, out_dir=tmp_path / "out", inputs_root=tmp_path, force=True)
    assert migrate_file(forced) == done
    with pytest.raises(InputError, match="would overwrite the source"):
        migrate_file(MigrateTask(src, Direction.TORCH2TF, out_dir=tmp_path, inputs_root=tmp_path))
    with pytest.raises(ValueError, match="inputs_root"):
        MigrateTask(src, out_dir=tmp_path / "out")


def test_migrate_file_reports_unsupported_and_auto_direction(tmp_path: Path) -> None:
    src = tmp_path / "shuffle.py"
    src.write_text(UNSUPPORTED, encoding="utf-8")
    helper = tmp_path / "helpers.py"
    helper.write_text("def add(a, b):\n    return a + b\n", encoding="utf-8")
    done = migrate_file(MigrateTask(src))  # direction None: auto
    assert done.direction is Direction.TORCH2TF
    assert done.unsupported and done.counts.unsupported == 1
    assert [(f.severity, f.api) for f in done.notable] == [(Severity.UNSUPPORTED, "torch.nn.PixelShuffle")]
    skipped = migrate_file(MigrateTask(helper))
    assert skipped.skipped == "imports neither torch nor keras/tensorflow"
    assert (skipped.output, skipped.direction) == (None, None)
    assert not (tmp_path / "helpers_tf.py").exists()
    outcomes = [Outcome(result=done), Outcome(result=skipped)]
    assert exit_code(outcomes) == ExitCode.UNSUPPORTED
    assert exit_code(outcomes, allow_unsupported=True) == ExitCode.OK


@pytest.mark.parametrize(
    ("source", "direction"),
    [
        ("import torch.nn as nn\n", Direction.TORCH2TF),
        ("from torch import nn\n", Direction.TORCH2TF),
        ("import keras\nfrom keras import layers\n", Direction.TF2TORCH),
        ("import tensorflow as tf\n", Direction.TF2TORCH),
        ("from . import torch\nimport numpy\n", None),  # a relative import is the package's own
    ],
)
def test_detect_direction(source: str, direction: Direction | None) -> None:
    assert detect_direction(source, "m.py") is direction


def test_detect_direction_ambiguous_or_broken() -> None:
    both = "import torch\nimport keras\nx = keras.layers.Dense(2)\ny = keras.ops.relu(x)\nz = torch.relu\n"
    assert detect_direction(both, "m.py") is Direction.TF2TORCH  # the framework it uses more
    with pytest.raises(InputError, match=r"^m\.py:1:\d+: syntax error"):
        detect_direction("import (\n", "m.py")


def test_rules_are_loaded_once_per_process() -> None:
    assert batch.rules_for(Direction.TORCH2TF, ()) is batch.rules_for(Direction.TORCH2TF, ())


def _done(unsupported: int = 0, review: int = 0) -> Outcome[FileOutcome]:
    counts = Counts(3, review, unsupported)
    return Outcome(result=FileOutcome(Path("a.py"), Direction.TORCH2TF, Path("a_tf.py"), None, counts, True))


def test_exit_code() -> None:
    failed: Outcome[FileOutcome] = Outcome(error="InputError: b.py: no such file")
    assert exit_code([]) == 0
    assert exit_code([_done(), _done(review=2)]) == 0
    assert exit_code([_done(), _done(unsupported=1)]) == 1
    assert exit_code([_done(unsupported=1)], allow_unsupported=True) == 0
    assert exit_code([_done(unsupported=1), failed]) == 2
    assert exit_code([failed], allow_unsupported=True) == 2
