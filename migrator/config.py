"""Project configuration: the ``[tool.fwmigrate]`` table of a ``pyproject.toml``.

```toml
[tool.fwmigrate]
direction = "torch2tf"          # "torch2tf" | "tf2torch" | "auto"
min-score = 80                  # 0-100
rules = ["migration/rules"]     # extra rule directories, relative to this file
exclude = ["tests/**", "*_tf.py", "build/"]
jobs = 4                        # absent: all cores
allow-unsupported = false
```

Pure: reads files, never prints. Every problem is a :class:`ConfigError` whose message is one line
naming the file and the key. The command line's flags win over the file (:meth:`Config.merged`).
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from migrator.types import Direction

__all__ = [
    "Config",
    "ConfigError",
    "ConfigKey",
    "DirectionSetting",
    "config_keys",
    "find_config_file",
    "load_config",
    "load_config_file",
]

PYPROJECT = "pyproject.toml"
TABLE = "[tool.fwmigrate]"


class ConfigError(ValueError):
    """Invalid configuration. ``str(err)`` is one line: ``file: [tool.fwmigrate] key: problem``.

    ``path`` is the ``pyproject.toml``, or None for a value given on the command line (then the
    line names the option: ``command line: --min-score: ...``). ``key`` is None for problems of the
    file or table as a whole (invalid TOML, a table that is not a table).
    """

    def __init__(self, path: Path | None, key: str | None, problem: str):
        where = str(path) if path is not None else "command line"
        parts = [where]
        if key is not None:
            parts.append(f"{TABLE} {key}" if path is not None else f"--{key}")
        elif path is not None:
            parts.append(TABLE)
        parts.append(" ".join(problem.split()))  # one line, whatever the problem text holds
        super().__init__(": ".join(parts))
        self.path = path
        self.key = key
        self.problem = problem


class DirectionSetting(enum.Enum):
    """The ``direction`` key: a fixed direction, or ``auto`` (each file's imports decide)."""

    AUTO = "auto"
    TORCH2TF = "torch2tf"
    TF2TORCH = "tf2torch"

    @property
    def direction(self) -> Direction | None:
        """The fixed direction, or None for ``auto``."""
        return None if self is DirectionSetting.AUTO else Direction(self.value)


@dataclass(frozen=True)
class Config:
    """The effective settings. ``source`` is the ``pyproject.toml`` they came from (None: defaults)."""

    direction: DirectionSetting = DirectionSetting.AUTO
    min_score: float = 0.0
    rules: tuple[Path, ...] = ()  # absolute
    exclude: tuple[str, ...] = ()
    jobs: int | None = None  # None: all cores
    allow_unsupported: bool = False
    source: Path | None = None

    @property
    def root(self) -> Path | None:
        """The project root that ``exclude`` patterns are relative to: the config file's directory."""
        return self.source.parent if self.source is not None else None

    @property
    def worker_count(self) -> int:
        """``jobs``, or the number of cores when it is not set."""
        return self.jobs if self.jobs is not None else (os.cpu_count() or 1)

    def merged(
        self,
        *,
        direction: DirectionSetting | Direction | str | None = None,
        min_score: float | None = None,
        rules: Sequence[Path] | None = None,
        exclude: Sequence[str] | None = None,
        jobs: int | None = None,
        allow_unsupported: bool | None = None,
    ) -> Config:
        """A new Config where each option given on the command line replaces the file's value.

        None means "not given". For the list options an empty sequence also means "not given"
        (click's ``multiple=True`` yields ``()`` for an absent flag), so the command line replaces
        a list but cannot empty it. Command-line rule directories are made absolute against the
        current directory. Invalid values (the same checks as the file's) raise
        :class:`ConfigError` naming the option.
        """
        changes: dict[str, Any] = {}
        given: dict[str, object] = {
            "direction": direction.value if isinstance(direction, enum.Enum) else direction,
            "min-score": min_score,
            "rules": [str(p) for p in rules] if rules else None,
            "exclude": list(exclude) if exclude else None,
            "jobs": jobs,
            "allow-unsupported": allow_unsupported,
        }
        for key, value in given.items():
            if value is not None:
                changes[_field(key)] = _parse_value(None, key, value, Path.cwd())
        return replace(self, **changes)


@dataclass(frozen=True)
class ConfigKey:
    """Documentation of one key, for a generated docs page or ``--help`` text."""

    key: str
    type: str
    default: str
    help: str
    flag: str  # the command-line option that overrides the key


# ---------------------------------------------------------------------------------------------
# Parsing: one parser per key. Each returns the Config field value or raises _Invalid(problem).


class _Invalid(Exception):
    """A value's problem, without the file and key (added by the caller)."""


def _type_name(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list"}
    return names.get(type(value), "a table" if isinstance(value, dict) else type(value).__name__)


def _parse_direction(value: object, _base: Path) -> DirectionSetting:
    choices = ", ".join(repr(d.value) for d in DirectionSetting)
    if not isinstance(value, str):
        raise _Invalid(f"expected one of {choices}, got {_type_name(value)}")
    try:
        return DirectionSetting(value)
    except ValueError:
        raise _Invalid(f"expected one of {choices}, got {value!r}") from None


def _parse_min_score(value: object, _base: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Invalid(f"expected a number from 0 to 100, got {_type_name(value)}")
    if not 0 <= value <= 100:
        raise _Invalid(f"must be from 0 to 100, got {value}")
    return float(value)


def _str_list(value: object) -> list[str]:
    if not isinstance(value, list):
        raise _Invalid(f"expected a list of strings, got {_type_name(value)}")
    for item in value:
        if not isinstance(item, str) or not item.strip():
            what = "an empty string" if isinstance(item, str) else _type_name(item)
            raise _Invalid(f"expected a list of non-empty strings, got {what} in the list")
    return value


def _parse_rules(value: object, base: Path) -> tuple[Path, ...]:
    dirs = []
    for item in _str_list(value):
        path = (base / item).resolve()
        if not path.is_dir():
            raise _Invalid(f"rule directory {item!r} does not exist ({path})")
        dirs.append(path)
    return tuple(dirs)


def _parse_exclude(value: object, _base: Path) -> tuple[str, ...]:
    return tuple(_str_list(value))


def _parse_jobs(value: object, _base: Path) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid(f"expected a positive integer, got {_type_name(value)}")
    if value < 1:
        raise _Invalid(f"must be a positive integer, got {value}")
    return value


def _parse_bool(value: object, _base: Path) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(f"expected true or false, got {_type_name(value)}")
    return value


_Parser = Callable[[object, Path], Any]


@dataclass(frozen=True)
class _KeySpec:
    doc: ConfigKey
    parse: _Parser


_KEYS: tuple[_KeySpec, ...] = (
    _KeySpec(
        ConfigKey(
            "direction",
            '"torch2tf", "tf2torch" or "auto"',
            '"auto"',
            "check: the direction files are checked in; auto decides per file from its imports "
            "(torch, or keras/tensorflow). torch2tf and tf2torch are their own direction.",
            "--direction",
        ),
        _parse_direction,
    ),
    _KeySpec(
        ConfigKey(
            "min-score",
            "number, 0-100",
            "0",
            "check: a file with a lower portability score fails.",
            "--min-score",
        ),
        _parse_min_score,
    ),
    _KeySpec(
        ConfigKey(
            "rules",
            "list of directories",
            "[]",
            "Extra rule directories, relative to the pyproject.toml; "
            "they extend or override the shipped rules.",
            "--rules DIR (repeatable)",
        ),
        _parse_rules,
    ),
    _KeySpec(
        ConfigKey(
            "exclude",
            "list of glob patterns",
            "[]",
            "Paths skipped when a directory is walked, as patterns relative to the pyproject.toml's "
            'directory: "tests/**", "*_tf.py", "build/". A file named on the command line is never skipped.',
            "--exclude PATTERN (repeatable)",
        ),
        _parse_exclude,
    ),
    _KeySpec(
        ConfigKey(
            "jobs",
            "positive integer",
            "all cores",
            "Worker processes for directories (one per 8 files at most; a few files run in one process).",
            "--jobs N, -j N",
        ),
        _parse_jobs,
    ),
    _KeySpec(
        ConfigKey(
            "allow-unsupported",
            "boolean",
            "false",
            "Unsupported constructs alone do not make the exit code 1 (they are still marked, listed "
            "and, in check, lower the score).",
            "--allow-unsupported / --no-allow-unsupported",
        ),
        _parse_bool,
    ),
)
_PARSERS: dict[str, _Parser] = {k.doc.key: k.parse for k in _KEYS}


def config_keys() -> tuple[ConfigKey, ...]:
    """Every ``[tool.fwmigrate]`` key with its type, default and help, in documentation order."""
    return tuple(k.doc for k in _KEYS)


def _field(key: str) -> str:
    return key.replace("-", "_")


def _parse_value(path: Path | None, key: str, value: object, base: Path) -> Any:
    try:
        return _PARSERS[key](value, base)
    except _Invalid as exc:
        raise ConfigError(path, key, str(exc)) from None


# ---------------------------------------------------------------------------------------------
# Finding and reading the file


def _read_toml(path: Path, data: bytes | None = None) -> dict[str, Any]:
    import tomllib  # only for a file that may hold the table (see find_config_file)

    try:
        raw = path.read_bytes() if data is None else data
        return tomllib.loads(raw.decode("utf-8"))
    except OSError as exc:
        raise ConfigError(path, None, f"cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(path, None, f"not UTF-8 text ({exc.reason})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, None, f"invalid TOML: {exc}") from None


def _table(data: dict[str, Any]) -> object | None:
    tool = data.get("tool")
    return tool.get("fwmigrate") if isinstance(tool, dict) else None


def find_config_file(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` with a ``[tool.fwmigrate]`` table, from ``start`` upward.

    ``start`` is a file (its directory is searched first) or a directory. A ``pyproject.toml``
    without the table does not stop the search (as ruff does since 0.0.182: a subproject's
    packaging metadata should not hide the repository's migration settings); the first one with
    the table wins and no settings are merged across files. A ``pyproject.toml`` that mentions
    ``fwmigrate`` is parsed, so an invalid one is an error even when it would have been skipped;
    one that does not cannot hold the table and is passed over without parsing (most have none,
    and parsing costs more than the rest of a one-file check's configuration).
    """
    start = start.absolute()
    here = start if start.is_dir() else start.parent
    for directory in (here, *here.parents):
        candidate = directory / PYPROJECT
        if not candidate.is_file():
            continue
        try:
            data = candidate.read_bytes()
        except OSError as exc:
            raise ConfigError(candidate, None, f"cannot read: {exc.strerror}") from None
        if b"fwmigrate" in data and _table(_read_toml(candidate, data)) is not None:
            return candidate
    return None


def load_config(start: Path) -> Config:
    """The configuration in effect for ``start`` (see :func:`find_config_file`); defaults if none.

    Raises :class:`ConfigError` for an unknown key, a value of the wrong type, an unknown
    direction, ``min-score`` outside 0-100, a ``jobs`` below 1, or a ``rules`` directory that does
    not exist (rule directories are resolved against the file's directory).
    """
    path = find_config_file(start)
    if path is None:
        return Config()
    return _parse_table(path, _table(_read_toml(path)))


def load_config_file(path: Path) -> Config:
    """The configuration in the ``[tool.fwmigrate]`` table of ``path`` (``--config FILE``).

    Raises :class:`ConfigError` when the file cannot be read, is not TOML, has no such table, or
    the table is invalid (as :func:`load_config`).
    """
    if not path.is_file():
        raise ConfigError(path, None, "no such file" if not path.exists() else "not a file")
    table = _table(_read_toml(path))
    if table is None:
        raise ConfigError(path, None, "no [tool.fwmigrate] table in this file")
    return _parse_table(path.absolute(), table)


def _parse_table(path: Path, table: object) -> Config:
    if not isinstance(table, dict):
        raise ConfigError(path, None, f"expected a table, got {_type_name(table)}")
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in _PARSERS:
            raise ConfigError(path, key, _unknown_key(key))
        values[_field(key)] = _parse_value(path, key, value, path.parent)
    return Config(source=path, **values)


def _unknown_key(key: str) -> str:
    import difflib

    known = list(_PARSERS)
    close = difflib.get_close_matches(key.replace("_", "-"), known, n=1)
    hint = f"did you mean {close[0]!r}?" if close else "known keys: " + ", ".join(known)
    return f"unknown key; {hint}"
