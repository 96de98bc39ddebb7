"""A terminal summary of an equivalence result (the full reports are JSON/Markdown/HTML)."""

from __future__ import annotations

import math

from migrator.verify.result import Comparison, EquivalenceResult, Status, TrainingResult, Verdict

_MARK = {
    Status.PASS: "ok  ",
    Status.SUSPICIOUS: "??  ",
    Status.FAIL: "FAIL",
    Status.NOT_COMPARED: "--  ",
}


def _e(x: float | None) -> str:
    return "-" if x is None else ("0" if x == 0 else f"{x:.1e}")


def _code(text: str) -> str:
    """Set-up code on one line: its statements joined, comments left out."""
    return "; ".join(line for line in text.splitlines() if line.strip() and not line.startswith("#"))


def _ratio(c: Comparison) -> float:
    if math.isnan(c.max_abs_diff):
        return math.inf
    return c.max_abs_diff / c.threshold if c.threshold > 0 else c.max_abs_diff


def _group(name: str, rows: tuple[Comparison, ...]) -> list[str]:
    """One line for a group of training rows (the worst), and a line for each row beyond the pass line."""
    if not rows:
        return []
    worst = max(rows, key=_ratio)
    order = (Status.NOT_COMPARED, Status.PASS, Status.SUSPICIOUS, Status.FAIL)
    status = max((c.status for c in rows), key=order.index)
    lines = [
        f"    {_MARK[status]} {name:<28} max |diff| {_e(worst.max_abs_diff)} at {worst.source} "
        f"(threshold {_e(worst.threshold)})"
    ]
    for c in rows:
        if c.status in (Status.FAIL, Status.SUSPICIOUS) and len(rows) > 1:
            lines.append(
                f"      {_MARK[c.status]} {c.source:<40} {_e(c.max_abs_diff):>8} > {_e(c.threshold)}"
            )
    return lines


def render_training_text(t: TrainingResult) -> list[str]:
    word = {Verdict.EQUIVALENT: "same", Verdict.NOT_EQUIVALENT: "DIFFERENT", Verdict.ERROR: "ERROR"}
    lines = [
        f"  training: {t.steps} steps ({t.steps_per_epoch} per epoch), targets {t.targets or '-'}: "
        f"{word[t.verdict]}"
    ]
    for part, code in (
        ("optimizer", t.optimizer),
        ("loss", t.loss),
        ("schedule", t.schedule),
        ("clip", t.clip),
    ):
        if code is not None:
            rule = f" [{t.uses[part]}]" if part in t.uses else ""
            lines.append(f"    {part}: {_code(code.source)}  ->  {_code(code.target)}{rule}")
    lines += _group(f"loss at {len(t.losses)} steps", t.losses)
    for o in t.outputs:
        diff = f"max |diff| {_e(o.max_abs_diff)} (threshold {_e(o.threshold)})"
        lines.append(f"    {_MARK[o.status]} {o.source:<28} {diff}")
    lines += _group(f"{len(t.params)} parameters", t.params)
    if t.compare_params is False and not t.error:
        lines.append("    parameters not compared (not an SGD-family optimizer)")
    lines += [f"    randomness neutralised: {n}" for n in t.neutralised]
    lines += [f"    note: {n}" for n in t.notes]
    return lines


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
        tfirst = r.training.first_divergent if r.training is not None else None
        if tfirst is not None and tfirst.status is Status.FAIL:
            lines.append(
                f"  training diverges first at {tfirst.source}: max |diff| {_e(tfirst.max_abs_diff)}, "
                f"threshold {_e(tfirst.threshold)}"
            )
        for c in r.layers:
            types = f"{c.source_type:>18} -> {c.target_type:<20}"
            lines.append(f"  {_MARK[c.status]} {c.source:<40} {types} {_e(c.max_abs_diff):>8}")
    if r.training is not None:
        lines += render_training_text(r.training)
    for w in r.warnings:
        lines.append(f"  warning: {w}")
    return "\n".join(lines) + "\n"
