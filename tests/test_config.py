"""`[tool.fwmigrate]` in pyproject.toml: discovery, each key, one-line errors, command-line overrides."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from migrator.config import (
    Config,
    ConfigError,
    DirectionSetting,
    config_keys,
    find_config_file,
    load_config,
)
from migrator.types import Direction


def _pyproject(directory: Path, table: str | None, extra: str = "") -> Path:
    """Write ``directory/pyproject.toml`` with a [project] table, ``table`` as [tool.fwmigrate]."""
    directory.mkdir(parents=True, exist_ok=True)
    text = '[project]\nname = "demo"\n' + extra
    if table is not None:
        text += "\n[tool.fwmigrate]\n" + table
    path = directory / "pyproject.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_pyproject(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    assert find_config_file(tmp_path / "src") is None
    config = load_config(tmp_path / "src")
    assert config == Config()
    assert (config.direction, config.min_score, config.rules, config.exclude) == (
        DirectionSetting.AUTO,
        0.0,
        (),
        (),
    )
    assert (config.jobs, config.allow_unsupported, config.source, config.root) == (None, False, None, None)
    assert config.worker_count >= 1


def test_the_nearest_pyproject_with_the_table_wins(tmp_path: Path) -> None:
    outer = _pyproject(tmp_path, 'direction = "torch2tf"\n')
    inner = _pyproject(tmp_path / "sub", 'direction = "tf2torch"\n')
    start = tmp_path / "sub" / "pkg" / "net.py"  # a file (need not exist): its directory upward
    start.parent.mkdir()
    assert load_config(start).direction is DirectionSetting.TF2TORCH
    assert load_config(start).source == inner
    assert load_config(tmp_path / "sub").root == inner.parent
    assert load_config(tmp_path).source == outer


def test_a_pyproject_without_the_table_does_not_stop_the_search(tmp_path: Path) -> None:
    outer = _pyproject(tmp_path, "jobs = 3\n")
    _pyproject(tmp_path / "sub", None)
    config = load_config(tmp_path / "sub")
    assert (config.source, config.jobs) == (outer, 3)


def test_every_key_parsed(tmp_path: Path) -> None:
    (tmp_path / "migration" / "rules").mkdir(parents=True)
    (tmp_path / "more").mkdir()
    path = _pyproject(
        tmp_path,
        'direction = "torch2tf"\n'
        "min-score = 72.5\n"
        'rules = ["migration/rules", "./more"]\n'
        'exclude = ["tests/**", "*_tf.py", "build/"]\n'
        "jobs = 4\n"
        "allow-unsupported = true\n",
    )
    config = load_config(tmp_path)
    assert config == Config(
        direction=DirectionSetting.TORCH2TF,
        min_score=72.5,
        rules=((tmp_path / "migration" / "rules").resolve(), (tmp_path / "more").resolve()),
        exclude=("tests/**", "*_tf.py", "build/"),
        jobs=4,
        allow_unsupported=True,
        source=path,
    )
    assert config.direction.direction is Direction.TORCH2TF
    assert config.worker_count == 4
    assert isinstance(load_config(tmp_path).min_score, float)


def test_rule_dirs_resolve_against_the_pyproject_not_the_start(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    _pyproject(tmp_path, 'rules = ["rules"]\n')
    (tmp_path / "deep" / "er").mkdir(parents=True)
    (rules,) = load_config(tmp_path / "deep" / "er").rules
    assert rules.is_absolute()
    assert rules == (tmp_path / "rules").resolve()


@pytest.mark.parametrize(
    ("table", "key", "problem"),
    [
        ("min_score = 3\n", "min_score", "unknown key; did you mean 'min-score'?"),
        ("colour = 3\n", "colour", "unknown key; known keys: direction, min-score"),
        ("direction = 1\n", "direction", "expected one of 'auto', 'torch2tf', 'tf2torch', got an integer"),
        ('direction = "sideways"\n', "direction", "got 'sideways'"),
        ("min-score = 101\n", "min-score", "must be from 0 to 100, got 101"),
        ("min-score = -0.5\n", "min-score", "must be from 0 to 100, got -0.5"),
        ('min-score = "high"\n', "min-score", "expected a number from 0 to 100, got a string"),
        ("min-score = true\n", "min-score", "got a boolean"),
        ('rules = "rules"\n', "rules", "expected a list of strings, got a string"),
        ('rules = ["nowhere"]\n', "rules", "rule directory 'nowhere' does not exist"),
        ("exclude = [1]\n", "exclude", "got an integer in the list"),
        ('exclude = [""]\n', "exclude", "got an empty string in the list"),
        ("jobs = 0\n", "jobs", "must be a positive integer, got 0"),
        ("jobs = 1.5\n", "jobs", "expected a positive integer, got a number"),
        ('allow-unsupported = "yes"\n', "allow-unsupported", "expected true or false, got a string"),
    ],
)
def test_invalid_config_is_one_line_naming_file_and_key(
    tmp_path: Path, table: str, key: str, problem: str
) -> None:
    path = _pyproject(tmp_path, table)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    message = str(info.value)
    assert len(message.splitlines()) == 1
    assert message.startswith(f"{path}: [tool.fwmigrate] {key}: ")
    assert problem in message
    assert (info.value.path, info.value.key) == (path, key)


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ("[tool]\nfwmigrate = 3\n", "[tool.fwmigrate]: expected a table, got an integer"),
        ("[tool.fwmigrate\n", "invalid TOML: "),
    ],
)
def test_invalid_file_or_table_is_one_line(tmp_path: Path, extra: str, problem: str) -> None:
    path = _pyproject(tmp_path, None, extra)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "x.py")
    assert len(str(info.value).splitlines()) == 1
    assert str(info.value).startswith(f"{path}: ")
    assert problem in str(info.value)


def test_command_line_overrides_win_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "cli_rules").mkdir()
    _pyproject(tmp_path, 'direction = "torch2tf"\nrules = ["rules"]\nexclude = ["a/"]\njobs = 2\n')
    config = load_config(tmp_path)
    monkeypatch.chdir(tmp_path)
    merged = config.merged(
        direction="tf2torch",
        min_score=None,  # not given: the file's (default) value stays
        rules=[Path("cli_rules")],
        exclude=(),  # click's value for an absent multiple option: not given
        jobs=8,
        allow_unsupported=True,
    )
    assert merged.direction is DirectionSetting.TF2TORCH
    assert merged.rules == ((tmp_path / "cli_rules").resolve(),)
    assert (merged.exclude, merged.jobs, merged.min_score) == (("a/",), 8, 0.0)
    assert merged.allow_unsupported is True
    assert merged.source == config.source
    assert config.jobs == 2, "merged returns a new Config"
    assert config.merged() == config
    assert config.merged(direction=Direction.TF2TORCH).direction is DirectionSetting.TF2TORCH


def test_invalid_command_line_value_names_the_option() -> None:
    with pytest.raises(ConfigError) as info:
        Config().merged(min_score=150)
    assert str(info.value) == "command line: --min-score: must be from 0 to 100, got 150"
    with pytest.raises(ConfigError, match="--direction: expected one of"):
        Config().merged(direction="up")


def test_config_keys_document_every_field() -> None:
    keys = config_keys()
    fields = {f.name for f in dataclasses.fields(Config)} - {"source"}
    assert {k.key.replace("-", "_") for k in keys} == fields
    assert all(k.type and k.default and k.help for k in keys)
    assert next(k for k in keys if k.key == "direction").default == '"auto"'


def test_the_configuration_reference_page_is_current() -> None:
    from migrator.report.config_doc import generated_block
    from tests.conftest import ROOT

    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert generated_block() in page, (
        "docs/configuration.md is out of date: replace its generated block with the output of "
        "`python -m migrator.report.config_doc`"
    )


def test_every_key_has_its_flag_on_check() -> None:
    from migrator.cli import check_cmd

    flags = {opt for p in check_cmd.params for opt in (*p.opts, *p.secondary_opts)}
    for key in config_keys():
        named = [word for word in key.flag.replace(",", " ").split() if word.startswith("-")]
        assert named and set(named) <= flags, key
