"""What the CLI side of ``fwmigrate weights`` and its conversion subprocess exchange: the request
(files, ``--model``, ``--input``) and the outcome (counts, or a one-line error). Pure data, so that
either side can import it without the frameworks."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from migrator.types import Direction


class CheckpointError(ValueError):
    """The checkpoint cannot be read, or does not fit the original model: one line naming it."""


def one_line(text: str) -> str:
    """Collapse a message onto one line (framework errors span several)."""
    return " ".join(text.split())


def few(items: Sequence[str], n: int = 5) -> str:
    """The first ``n`` items, and how many more."""
    shown = ", ".join(items[:n])
    return shown + (f" and {len(items) - n} more" if len(items) > n else "")


@dataclass(frozen=True)
class WorkerRequest:
    """One conversion, as the subprocess receives it. Paths are absolute; the labels are the paths
    as the user wrote them, for messages."""

    direction: Direction
    checkpoint: str
    checkpoint_label: str
    original: str
    original_label: str
    migrated: str
    migrated_label: str
    record: str
    model: str
    inputs: tuple[str, ...]
    load_mode: str
    output: str  # the temporary file to write; the CLI side renames it into place
    result: str  # where the outcome goes, as JSON

    def dumps(self) -> str:
        data = asdict(self)
        data["direction"] = self.direction.value
        return json.dumps(data)

    @staticmethod
    def load(path: Path) -> WorkerRequest:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        data["direction"] = Direction(data["direction"])
        data["inputs"] = tuple(data["inputs"])
        return WorkerRequest(**data)

    def build_request(self) -> dict[str, Any]:
        """The keys ``migrator.verify.driver.build_models`` reads."""
        return {
            "original": self.original,
            "migrated": self.migrated,
            "model": self.model,
            "load_mode": self.load_mode,
        }

    @property
    def files(self) -> str:
        """Both model files, for messages about the models."""
        return f"{self.original_label} -> {self.migrated_label}"


@dataclass(frozen=True)
class Outcome:
    """What the subprocess reports: ``error`` (one line naming the file) or the counts."""

    error: str | None = None
    tensors: int = 0  # tensors read from the checkpoint, every one moved
    written: int = 0  # tensors in the output file
    model: str = ""  # the original model's class
    key: str | None = None  # the key of the dict the state_dict was found under, if any
    warnings: tuple[str, ...] = ()

    def dumps(self) -> str:
        return json.dumps(asdict(self))

    @staticmethod
    def load(path: Path) -> Outcome:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        data["warnings"] = tuple(data.get("warnings", ()))
        return Outcome(**data)
