"""Parsing what the user asks `verify` to do: input specs and options."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from migrator.verify.result import Tolerance

_DTYPES = ("float32", "float64", "float16", "int64", "int32", "bool")


class SpecError(ValueError):
    """A bad --input SPEC; the message says what is wrong."""


@dataclass(frozen=True)
class InputSpec:
    """``SHAPE[:DTYPE[:LOW:HIGH]]`` in the original model's layout.

    For example ``2,1,28,28`` or ``4,12:int64:0:100``."""

    shape: tuple[int, ...]
    dtype: str = "float32"
    low: float | None = None
    high: float | None = None

    @staticmethod
    def parse(text: str) -> InputSpec:
        parts = text.split(":")
        if len(parts) not in (1, 2, 4):
            raise SpecError(f"input {text!r}: expected SHAPE[:DTYPE[:LOW:HIGH]]")
        try:
            shape = tuple(int(p) for p in parts[0].split(",") if p.strip())
        except ValueError:
            raise SpecError(f"input {text!r}: the shape must be comma-separated integers") from None
        if not shape or any(d <= 0 for d in shape):
            raise SpecError(f"input {text!r}: the shape needs positive sizes")
        dtype = parts[1] if len(parts) > 1 else "float32"
        if dtype not in _DTYPES:
            raise SpecError(f"input {text!r}: dtype must be one of {', '.join(_DTYPES)}")
        low = high = None
        if len(parts) == 4:
            try:
                low, high = float(parts[2]), float(parts[3])
            except ValueError:
                raise SpecError(f"input {text!r}: LOW and HIGH must be numbers") from None
            if not low < high:
                raise SpecError(f"input {text!r}: LOW must be below HIGH")
        if dtype.startswith("int") and low is None:
            raise SpecError(f"input {text!r}: integer inputs need LOW:HIGH (e.g. {parts[0]}:{dtype}:0:100)")
        return InputSpec(shape, dtype, low, high)

    def text(self) -> str:
        out = ",".join(str(d) for d in self.shape)
        if self.dtype != "float32" or self.low is not None:
            out += f":{self.dtype}"
        if self.low is not None:
            out += f":{self.low:g}:{self.high:g}"
        return out


class LoadMode(enum.Enum):
    """How user files are loaded in the verification subprocess."""

    GUARDED = "guarded"  # imported as a module: `if __name__ == "__main__":` blocks do not run
    DEFINITIONS = "definitions"  # only imports, defs, classes and constant assignments run


@dataclass(frozen=True)
class VerifyOptions:
    model: str
    inputs: tuple[InputSpec, ...]
    samples: int = 3
    seed: int = 0
    tolerance: Tolerance = field(default_factory=Tolerance)
    timeout: float = 300.0
    load_mode: LoadMode = LoadMode.GUARDED
    train_steps: int = 0  # train-step equivalence: this many training steps on both sides (0: off)
    steps_per_epoch: int = 2  # optimizer steps per epoch, for schedules stepped per epoch
