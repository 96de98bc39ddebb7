"""The disk cache of loaded rules: same rules as a fresh load, invalidated by any change, never
trusted beyond the schema's own types, and never an error."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import pytest

from migrator.rules import cache
from migrator.rules.loader import RuleError, default_rule_dir, load_rules
from migrator.types import Direction

RULE = """[[rule]]
id = "torch2tf.custom.Identity"
kind = "layer"
match = "torch.nn.Identity"
params = []
emit = "keras.layers.Identity"
summary = "{summary}"
"""


def _entries(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


@pytest.mark.parametrize("direction", list(Direction))
def test_cached_rules_equal_a_fresh_load(tmp_path: Path, direction: Direction) -> None:
    fresh = load_rules(direction, cache_dir=None)
    first = load_rules(direction, cache_dir=tmp_path)
    assert len(_entries(tmp_path)) == 1
    again = load_rules(direction, cache_dir=tmp_path)
    assert first == fresh and again == fresh
    assert again is not first  # read back from the entry
    assert dict(again.by_name) == dict(fresh.by_name) and dict(again.by_method) == dict(fresh.by_method)
    with pytest.raises(TypeError):
        again.by_name["x"] = again.rules[0]  # type: ignore[index]  # still read-only


def test_a_changed_rule_file_is_reloaded(tmp_path: Path) -> None:
    extra = tmp_path / "rules"
    extra.mkdir()
    rule = extra / "custom.toml"
    rule.write_text(RULE.format(summary="first"), encoding="utf-8")
    store = tmp_path / "cache"
    first = load_rules(Direction.TORCH2TF, [extra], cache_dir=store)
    assert first.by_name["torch.nn.Identity"].summary == "first"
    rule.write_text(RULE.format(summary="second, longer"), encoding="utf-8")
    second = load_rules(Direction.TORCH2TF, [extra], cache_dir=store)
    assert second.by_name["torch.nn.Identity"].summary == "second, longer"
    assert len(_entries(store)) == 2  # a new key; the old entry is left behind, never read again
    rule.write_text('[[rule]]\nid = "x"\n', encoding="utf-8")
    with pytest.raises(RuleError, match=r"custom\.toml: rule x: field .kind.: missing"):
        load_rules(Direction.TORCH2TF, [extra], cache_dir=store)  # an invalid file is never cached
    assert len(_entries(store)) == 2


class _Payload:
    def __reduce__(self) -> tuple[object, ...]:
        return (os.system, ("echo pwned > /dev/null",))


def test_a_foreign_or_broken_entry_is_ignored(tmp_path: Path) -> None:
    fresh = load_rules(Direction.TORCH2TF, cache_dir=None)
    load_rules(Direction.TORCH2TF, cache_dir=tmp_path)
    key = cache.cache_key(Direction.TORCH2TF, sorted(default_rule_dir(Direction.TORCH2TF).rglob("*.toml")))
    assert key is not None
    (entry,) = _entries(tmp_path)
    assert entry == cache.entry_name(key) and cache.read(tmp_path, key) == fresh
    (tmp_path / entry).write_bytes(pickle.dumps(_Payload()))
    with pytest.raises(pickle.UnpicklingError, match=r"refused (posix|os)\.system"):
        cache._Unpickler(open(tmp_path / entry, "rb")).load()  # noqa: SIM115
    assert cache.read(tmp_path, key) is None
    assert load_rules(Direction.TORCH2TF, cache_dir=tmp_path) == fresh  # parsed, and cached again
    assert cache.read(tmp_path, key) == fresh
    (tmp_path / entry).write_bytes(b"\x80\x05truncated")
    assert cache.read(tmp_path, key) is None
    cache.write(tmp_path, key + "|another file", fresh)  # a colliding name holding another key
    (tmp_path / cache.entry_name(key + "|another file")).rename(tmp_path / entry)
    assert cache.read(tmp_path, key) is None


def test_an_unwritable_cache_is_not_an_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory", encoding="utf-8")
    rules = load_rules(Direction.TF2TORCH, cache_dir=blocker / "cache")
    assert rules == load_rules(Direction.TF2TORCH, cache_dir=None)


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FWMIGRATE_CACHE_DIR", raising=False)
    monkeypatch.delenv("FWMIGRATE_NO_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.default_cache_dir() == tmp_path / "xdg" / "fwmigrate"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.default_cache_dir() == tmp_path / "home" / ".cache" / "fwmigrate"
    monkeypatch.setenv("FWMIGRATE_CACHE_DIR", str(tmp_path / "mine"))
    assert cache.default_cache_dir() == tmp_path / "mine"
    monkeypatch.setenv("FWMIGRATE_NO_CACHE", "1")
    assert cache.default_cache_dir() is None


def test_the_default_load_uses_the_configured_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FWMIGRATE_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.delenv("FWMIGRATE_NO_CACHE", raising=False)
    load_rules(Direction.TORCH2TF)
    assert len(_entries(tmp_path / "c")) == 1
    shutil.rmtree(tmp_path / "c")
    monkeypatch.setenv("FWMIGRATE_NO_CACHE", "1")
    load_rules(Direction.TORCH2TF)
    assert not (tmp_path / "c").exists()
