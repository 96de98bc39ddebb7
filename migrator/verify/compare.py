"""The tolerance policy (SEMANTICS.md section 9) applied to one compared tensor."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from migrator.verify.result import Status, Tolerance


@dataclass(frozen=True)
class Diff:
    max_abs: float
    scale: float  # max |reference|

    @property
    def rel(self) -> float:
        return self.max_abs / self.scale if self.scale > 0 else (0.0 if self.max_abs == 0 else float("inf"))

    def worst(self, other: Diff) -> Diff:
        return Diff(max(self.max_abs, other.max_abs), max(self.scale, other.scale))


def diff(reference: npt.NDArray[np.generic], candidate: npt.NDArray[np.generic]) -> Diff:
    ref = np.asarray(reference, dtype=np.float64)
    cand = np.asarray(candidate, dtype=np.float64)
    if ref.shape != cand.shape:
        raise ValueError(f"shapes differ: {ref.shape} vs {cand.shape}")
    if ref.size == 0:
        return Diff(0.0, 0.0)
    both_nan = np.isnan(ref) & np.isnan(cand)
    d = np.where(both_nan, 0.0, np.abs(ref - cand))
    max_abs = float(np.nanmax(np.where(np.isnan(d), np.inf, d)))
    return Diff(max_abs, float(np.nanmax(np.abs(ref))) if np.isfinite(ref).any() else 0.0)


def classify(d: Diff, tol: Tolerance, e32: float | None = None) -> tuple[Status, str]:
    """Rule 1: pass under atol + rtol*scale, fail over atol + fail_rtol*scale. In between, rule 2:
    pass when within 20x the original model's own float32-vs-float64 error (self-calibrating)."""
    if d.max_abs <= tol.threshold(d.scale):
        return Status.PASS, ""
    if d.max_abs > tol.atol + tol.fail_rtol * d.scale:
        return Status.FAIL, ""
    if e32 is not None and d.max_abs <= 20 * e32 + 1e-7 * d.scale:
        return (
            Status.PASS,
            f"passed by the float64 rule (within 20x the original's own float32 error {e32:.1e})",
        )
    return Status.SUSPICIOUS, "between the pass and fail lines"
