"""A terminal summary of an equivalence result (the full reports are JSON/Markdown/HTML)."""

from __future__ import annotations

from migrator.verify.result import EquivalenceResult, Status, Verdict


def _e(x: float | None) -> str:
    return "-" if x is None else ("0" if x == 0 else f"{x:.1e}")


def render_verify_text(r: EquivalenceResult) -> str:
    lines = []
    if r.verdict is Verdict.ERROR:
        lines.append(f"{r.original} -> {r.migrated} [{r.model}]: ERROR: {r.error}")
    else:
        word = "equivalent" if r.equivalent else "NOT equivalent"
        tol = r.tolerance
        lines.append(
            f"{r.original} -> {r.migrated} [{r.model}]: {word}: max |diff| {_e(r.max_abs_diff)} "
            f"(relative {_e(r.max_rel_diff)}; pass <= {tol.atol:g} + {tol.rtol:g}*max|ref|; "
            f"original's own float32 error {_e(r.float64_error)})"
        )
        first = r.first_divergent_layer
        if first is not None:
            lines.append(
                f"  first divergent layer: {first.source} ({first.source_type} -> {first.target_type}): "
                f"max |diff| {_e(first.max_abs_diff)}, threshold {_e(first.threshold)}"
            )
        mark = {
            Status.PASS: "ok  ",
            Status.SUSPICIOUS: "??  ",
            Status.FAIL: "FAIL",
            Status.NOT_COMPARED: "--  ",
        }
        for c in r.layers:
            types = f"{c.source_type:>18} -> {c.target_type:<20}"
            lines.append(f"  {mark[c.status]} {c.source:<40} {types} {_e(c.max_abs_diff):>8}")
    for w in r.warnings:
        lines.append(f"  warning: {w}")
    return "\n".join(lines) + "\n"
