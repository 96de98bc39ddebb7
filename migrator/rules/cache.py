"""A disk cache of loaded rule sets, so that a short command (``fwmigrate check`` on one file, a
pre-commit hook) does not parse and validate every TOML file again.

The entry for a set of rule directories is keyed on what the loaded rules depend on: the
fwmigrate version, the Python version, the direction, and the path, size and modification time
of every rule file and of the modules that validate them. Any change gives a new key, so an
entry is never stale; old entries are left behind (they are small) and ``rm -rf`` of the cache
directory is always safe. Only successful loads are cached: an invalid rule file is reported
each time.

Entries are pickles that fwmigrate wrote itself; they are read with an unpickler that only
builds the rule schema's own types (anything else in the file is refused and the rules are
parsed from the TOML instead), so a tampered entry cannot run code. The directory is
``$FWMIGRATE_CACHE_DIR``, else ``$XDG_CACHE_HOME/fwmigrate``, else ``~/.cache/fwmigrate``;
``FWMIGRATE_NO_CACHE=1`` turns the cache off. Failures to read or write the cache are never
errors: the rules are then loaded from their files.
"""

from __future__ import annotations

import io
import os
import pickle
import sys
import zlib
from collections.abc import Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from migrator.types import Direction

__all__ = ["cache_key", "default_cache_dir", "entry_name", "read", "write"]

_FORMAT = 1  # bump when the entry's layout changes

# The modules whose code decides what a loaded rule is: a change to them invalidates entries.
_VALIDATORS = (
    Path(__file__).with_name("loader.py"),
    Path(__file__).with_name("schema.py"),
    Path(__file__).parent.parent / "transforms" / "__init__.py",
    Path(__file__).parent.parent / "transforms" / "keras_layers.py",
)

# What an entry may contain: the classes (never functions) of the rule schema, and the few
# library types the rules hold.
_ALLOWED_MODULES = ("migrator.rules.loader", "migrator.rules.schema", "migrator.types")
_ALLOWED = {
    ("migrator.rules.cache", "_proxy"),
    ("pathlib", "PosixPath"),
    ("pathlib", "WindowsPath"),
    ("pathlib", "Path"),
}


def default_cache_dir() -> Path | None:
    """Where entries live (see the module doc), or None when the cache is turned off."""
    if os.environ.get("FWMIGRATE_NO_CACHE", "") not in ("", "0"):
        return None
    explicit = os.environ.get("FWMIGRATE_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "fwmigrate"


def cache_key(direction: Direction, files: Sequence[Path]) -> str | None:
    """What an entry for rules loaded from ``files`` (in load order) depends on, as text; None
    if a file is gone. The entry's file name is a checksum of it (:func:`entry_name`) and the
    entry stores the whole text, so a checksum collision cannot return the wrong rules."""
    from migrator import __version__

    parts = [f"{_FORMAT}|{__version__}|{sys.version}|{direction.value}"]
    for path in (*_VALIDATORS, *files):
        try:
            st = path.stat()
        except OSError:
            return None
        parts.append(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}")
    return "\n".join(parts)


def entry_name(key: str) -> str:
    """The file name of the entry for ``key`` (two checksums: zlib is already imported, where
    hashlib would cost a one-file check 4 ms)."""
    data = key.encode()
    return f"rules-{zlib.crc32(data):08x}{zlib.adler32(data):08x}.pickle"


def _proxy(items: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    """Rebuilds a read-only mapping (``mappingproxy`` itself cannot be pickled by name)."""
    return MappingProxyType(items)


def _reduce_proxy(m: MappingProxyType[Any, Any]) -> tuple[Any, ...]:
    return (_proxy, (dict(m),))


class _Pickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.dispatch_table = {MappingProxyType: _reduce_proxy}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module in _ALLOWED_MODULES or (module, name) in _ALLOWED:
            found = super().find_class(module, name)
            if isinstance(found, type) or found is _proxy:
                return found
        raise pickle.UnpicklingError(f"refused {module}.{name}")


def read(cache_dir: Path, key: str) -> object | None:
    """The value cached for ``key``, or None when there is none or it cannot be read."""
    try:
        data = (cache_dir / entry_name(key)).read_bytes()
        stored = _Unpickler(io.BytesIO(data)).load()
    except Exception:  # a missing, truncated or foreign entry: parse the rules instead
        return None
    if not (isinstance(stored, tuple) and len(stored) == 2 and stored[0] == key):
        return None
    value: object = stored[1]
    return value


def write(cache_dir: Path, key: str, value: object) -> None:
    """Store ``value`` for ``key`` atomically; a failure (read-only home, full disk) is ignored."""
    import tempfile

    try:
        buffer = io.BytesIO()
        _Pickler(buffer).dump((key, value))
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".tmp-", suffix=".pickle")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(buffer.getvalue())
            os.replace(tmp, cache_dir / entry_name(key))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except Exception:
        return
