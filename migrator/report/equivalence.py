"""Equivalence reports for `fwmigrate verify`: JSON, Markdown (pull-request comment) and HTML.

Every renderer is a pure function of an ``EquivalenceResult``. The reader sees, in this order: the
verdict with the worst output error and the tolerance; the first divergent layer (when not
equivalent); the outputs; the layers in execution order; a per-layer error chart; the inputs; the
original model's own float32-vs-float64 error as a scale; warnings; tool versions.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import jinja2

from migrator.verify.result import (
    Comparison,
    EquivalenceResult,
    Status,
    Tolerance,
    TrainingCode,
    TrainingResult,
    Verdict,
)

# Markdown: the layers table is folded into <details> beyond this many rows, and cut beyond the
# second number (a pull-request comment holds at most 65,536 characters).
MARKDOWN_FOLD_ROWS = 20
MARKDOWN_MAX_ROWS = 250

# The chart's log scale: zeros (and anything smaller) are drawn at this floor.
CHART_FLOOR = 1e-12


# --------------------------------------------------------------------------------------------
# Shared wording and number formatting


def fmt(value: float | None) -> str:
    """A number in scientific notation with 2 significant digits (``2.4e-06``); zero as ``0``."""
    if value is None:
        return "—"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == 0:
        return "0"
    return f"{value:.1e}"


def verdict_text(verdict: Verdict) -> str:
    match verdict:
        case Verdict.EQUIVALENT:
            return "equivalent"
        case Verdict.NOT_EQUIVALENT:
            return "NOT equivalent"
        case Verdict.ERROR:
            return "error"


def verdict_icon(verdict: Verdict) -> str:
    match verdict:
        case Verdict.EQUIVALENT:
            return "✅"
        case Verdict.NOT_EQUIVALENT:
            return "❌"
        case Verdict.ERROR:
            return "⚠️"


def status_text(status: Status) -> str:
    """A status that reads without colour: an icon and a word."""
    match status:
        case Status.PASS:
            return "✓ pass"
        case Status.SUSPICIOUS:
            return "! suspicious"
        case Status.FAIL:
            return "✗ FAIL"
        case Status.NOT_COMPARED:
            return "– not compared"


def _css_class(status: Status) -> str:
    return status.value.replace("_", "-")


def _types(c: Comparison) -> str:
    if c.source_type and c.target_type:
        return f"{c.source_type} → {c.target_type}"
    return c.source_type or c.target_type


def _shape(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def _tolerance_text(tol: Tolerance) -> str:
    return f"atol {fmt(tol.atol)} + rtol {fmt(tol.rtol)} · max|original|"


def _worst_output(result: EquivalenceResult) -> Comparison | None:
    """The output furthest beyond (or closest to) its threshold."""

    def ratio(c: Comparison) -> float:
        if math.isnan(c.max_abs_diff):
            return math.inf
        return c.max_abs_diff / c.threshold if c.threshold > 0 else c.max_abs_diff

    return max(result.outputs, key=ratio, default=None)


def _divergence_text(c: Comparison) -> str:
    return f"max|Δ| {fmt(c.max_abs_diff)} vs threshold {fmt(c.threshold)} (max rel {fmt(c.max_rel_diff)})"


def _scale_text(result: EquivalenceResult) -> str | None:
    """How the worst output error compares with the original model's own float32 rounding error."""
    e64, worst = result.float64_error, result.max_abs_diff
    if e64 is None:
        return None
    text = f"the original model's own float32-vs-float64 error is {fmt(e64)}"
    if worst is not None and math.isfinite(worst) and e64 > 0:
        ratio = worst / e64
        text += (
            f"; the worst output error is {ratio:.2g}× that"
            if ratio < 100
            else f"; the worst output error is {fmt(ratio)}× that"
        )
    return text


def _sentence(text: str | None) -> str:
    return text[:1].upper() + text[1:] + "." if text else ""


def training_divergence(result: EquivalenceResult) -> Comparison | None:
    """The first failing training row, when training ran and failed."""
    t = result.training
    if t is None or t.error is not None:
        return None
    first = t.first_divergent
    return first if first is not None and first.status is Status.FAIL else None


def training_heading(t: TrainingResult) -> str:
    """``5 steps, 2 per epoch, targets class_index``."""
    steps = f"{t.steps} step{'s' if t.steps != 1 else ''}"
    return f"{steps}, {t.steps_per_epoch} per epoch, targets {t.targets or '—'}"


def training_verdict(t: TrainingResult) -> str:
    if t.error is not None:
        return "could not run"
    if t.failed:
        return "diverges"
    what = "losses, outputs and parameters" if t.params else "losses and outputs"
    return f"same {what}"


def training_code(t: TrainingResult) -> list[tuple[str, str, str, str]]:
    """(part, original code, migrated code, rule id) for the optimizer, loss, schedule, clipping."""
    parts: list[tuple[str, TrainingCode | None]] = [
        ("optimizer", t.optimizer),
        ("loss", t.loss),
        ("schedule", t.schedule),
        ("gradient clipping", t.clip),
    ]
    keys = {"gradient clipping": "clip"}
    return [
        (part, code.source, code.target, t.uses.get(keys.get(part, part), ""))
        for part, code in parts
        if code is not None
    ]


# --------------------------------------------------------------------------------------------
# JSON


def render_json(result: EquivalenceResult) -> str:
    """The machine-readable report (the result's stable JSON form)."""
    return result.dumps()


# --------------------------------------------------------------------------------------------
# Markdown


def _md_cell(text: str) -> str:
    """Text safe inside a GitHub table cell: no pipes, no line breaks."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", "").replace("\n", "<br>")


def _md_code(text: str) -> str:
    """An inline code span that survives backticks in ``text``."""
    if not text:
        return ""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or longest else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _md_cell_code(text: str) -> str:
    # In GFM tables a pipe is escaped with a backslash even inside code spans.
    return _md_code(text.replace("\r", "").replace("\n", " ")).replace("|", "\\|")


def _md_block(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`{3,}", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text.rstrip()}\n{fence}"


def _md_output_table(outputs: Sequence[Comparison]) -> list[str]:
    lines = [
        "| output | shape | max abs diff | max rel diff | threshold | status |",
        "|---|---|--:|--:|--:|---|",
    ]
    for o in outputs:
        name = o.source if o.source == o.target or not o.target else f"{o.source} → {o.target}"
        lines.append(
            f"| {_md_cell_code(name)} | {_shape(o.shape)} | {fmt(o.max_abs_diff)} | {fmt(o.max_rel_diff)} "
            f"| {fmt(o.threshold)} | {_md_cell(status_text(o.status))} |"
        )
    return lines


def _md_layer_rows(layers: Sequence[tuple[int, Comparison]], first: Comparison | None) -> list[str]:
    lines = [
        "| # | source | target | types | transform | max abs diff | max rel diff | threshold | status |",
        "|--:|---|---|---|---|--:|--:|--:|---|",
    ]
    for index, c in layers:
        status = _md_cell(status_text(c.status))
        source = _md_cell_code(c.source)
        if c is first:
            status = f"**{status}** ⬅ first divergent"
            source = f"**{source}**"
        lines.append(
            f"| {index} | {source} | {_md_cell_code(c.target)} | {_md_cell(_types(c))} "
            f"| {_md_cell_code(c.transform)} | {fmt(c.max_abs_diff)} | {fmt(c.max_rel_diff)} "
            f"| {fmt(c.threshold)} | {status} |"
        )
    return lines


def _md_code_lines(text: str) -> str:
    """Multi-line code in a table cell: a code span per line, comments as text."""
    lines = [line for line in text.replace("\r", "").splitlines() if line.strip()]
    return "<br>".join(_md_cell(line) if line.startswith("#") else _md_cell_code(line) for line in lines)


def _md_training_rows(rows: Sequence[Comparison], first: Comparison | None) -> list[str]:
    lines = [
        "| compared | shape | max abs diff | max rel diff | scale | threshold | status |",
        "|---|---|--:|--:|--:|--:|---|",
    ]
    for c in rows:
        status = _md_cell(status_text(c.status))
        name = _md_cell_code(c.source)
        if c is first:
            status, name = f"**{status}** ⬅ first divergent", f"**{name}**"
        lines.append(
            f"| {name} | {_shape(c.shape)} | {fmt(c.max_abs_diff)} | {fmt(c.max_rel_diff)} "
            f"| {fmt(c.scale)} | {fmt(c.threshold)} | {status} |"
        )
    return lines


def _md_training(t: TrainingResult) -> list[str]:
    """The training section: set-up code on both sides, the rows, what was neutralised, notes."""
    icon = {Verdict.EQUIVALENT: "✓", Verdict.NOT_EQUIVALENT: "✗", Verdict.ERROR: "⚠️"}[t.verdict]
    out = [f"**Training** ({training_heading(t)}): {icon} {training_verdict(t)}", ""]
    if t.error is not None:
        out += ["The training check could not run:", "", _md_block(t.error), ""]
    code = training_code(t)
    if code:
        out += ["| part | original | migrated | rule |", "|---|---|---|---|"]
        out += [
            f"| {part} | {_md_code_lines(src)} | {_md_code_lines(tgt)} | {_md_cell_code(rule)} |"
            for part, src, tgt, rule in code
        ]
        out += [""]
    first = t.first_divergent if t.failed else None
    rows = list(t.rows)
    if rows:
        table = _md_training_rows(rows, first)
        if len(rows) > MARKDOWN_FOLD_ROWS:
            if first is not None:
                out += [*_md_training_rows([first], first), ""]
            out += [
                f"<details><summary>All {len(rows)} training rows</summary>",
                "",
                *table,
                "",
                "</details>",
                "",
            ]
        else:
            out += [*table, ""]
    if t.losses and not t.params and not t.error:
        out += ["Parameters are not compared (not an SGD-family optimizer): losses and outputs are.", ""]
    if t.neutralised:
        out += ["Randomness neutralised for training:", ""]
        out += [f"- {_md_cell(n)}" for n in t.neutralised]
        out += [""]
    if t.notes:
        out += ["Notes:", ""]
        out += [f"- {_md_cell(n)}" for n in t.notes]
        out += [""]
    return out


def _md_summary(result: EquivalenceResult, first: Comparison | None) -> str:
    parts = [
        f"{_md_code(result.original)} → {_md_code(result.migrated)} ({result.direction}), "
        f"model {_md_code(result.model)}."
    ]
    worst = _worst_output(result)
    if worst is not None:
        parts.append(
            f"Worst output error: max|Δ| **{fmt(result.max_abs_diff)}** "
            f"(max rel {fmt(result.max_rel_diff)}); "
            f"tolerance {_tolerance_text(result.tolerance)} = {fmt(worst.threshold)} "
            f"for {_md_code(worst.source)}."
        )
    else:
        parts.append(f"Tolerance: {_tolerance_text(result.tolerance)}.")
    trained = training_divergence(result)
    if result.verdict is Verdict.NOT_EQUIVALENT:
        if first is not None:
            parts.append(
                f"First divergent layer: **{_md_code(first.source)}** → {_md_code(first.target)}"
                f"{f' ({_types(first)})' if _types(first) else ''}: {_divergence_text(first)}."
            )
        if trained is not None:
            parts.append(
                f"Training diverges: first at **{_md_code(trained.source)}**: {_divergence_text(trained)}."
            )
        elif first is None and result.layers:
            parts.append("No compared layer is beyond its threshold: the difference arises between layers.")
    elif first is not None:
        n = sum(1 for c in result.layers if c.status in (Status.SUSPICIOUS, Status.FAIL))
        parts.append(
            f"Every output passes, but {n} layer{'s are' if n != 1 else ' is'} above the pass line; "
            f"the first is {_md_code(first.source)} ({_divergence_text(first)}, {status_text(first.status)})."
        )
    return " ".join(parts)


def render_markdown(result: EquivalenceResult) -> str:
    """A GitHub-flavoured Markdown report for a pull-request comment."""
    first = result.first_divergent_layer
    out = [f"### {verdict_icon(result.verdict)} fwmigrate verify: {verdict_text(result.verdict)}", ""]
    out += [_md_summary(result, first), ""]
    if result.verdict is Verdict.ERROR or result.error:
        out += ["**Error** — the check could not run:", "", _md_block(result.error or "(no message)"), ""]

    if result.outputs:
        out += ["**Outputs**", "", *_md_output_table(result.outputs), ""]

    if result.layers:
        numbered = list(enumerate(result.layers, start=1))
        shown = numbered[:MARKDOWN_MAX_ROWS]
        cut = len(numbered) - len(shown)
        title = f"**Layers** ({len(numbered)}, in execution order)"
        if len(numbered) > MARKDOWN_FOLD_ROWS:
            out += [title, ""]
            if first is not None:
                first_row = [(i, c) for i, c in numbered if c is first]
                out += [*_md_layer_rows(first_row, first), ""]
            out += [f"<details><summary>All {len(numbered)} layers</summary>", ""]
            out += [*_md_layer_rows(shown, first), ""]
            if cut:
                out += [f"… {cut} more layers: see the JSON or HTML report.", ""]
            out += ["</details>", ""]
        else:
            out += [title, "", *_md_layer_rows(shown, first), ""]

    if result.training is not None:
        out += _md_training(result.training)

    details = []
    if result.inputs:
        inputs = ", ".join(f"{_md_code(i.name)} {_shape(i.shape)} {i.dtype}" for i in result.inputs)
        details.append(f"inputs {inputs}")
    details.append(f"seed {result.seed}")
    if result.samples:
        details.append(f"{len(result.samples)} sample{'s' if len(result.samples) != 1 else ''}")
    scale = _scale_text(result)
    if scale:
        details.append(scale)
    out += ["Inputs and scale: " + "; ".join(details) + ".", ""]

    if result.warnings:
        out += ["**Warnings**", ""]
        out += [f"- {w.replace(chr(10), ' ')}" for w in result.warnings]
        out += [""]

    if result.versions:
        versions = " · ".join(f"{k} {v}" for k, v in sorted(result.versions.items()))
        out += [f"<sub>{_md_cell(versions)}</sub>", ""]
    return "\n".join(out).rstrip() + "\n"


# --------------------------------------------------------------------------------------------
# HTML: the chart geometry, the rows, the template


@dataclass(frozen=True)
class ChartBar:
    """One layer's bar: user units in the SVG's viewBox, y growing downwards."""

    index: int  # 1-based execution order
    name: str  # the full source path (tooltip)
    label: str  # a short label under the bar ("" when labels are thinned out)
    status: str  # css class: pass / suspicious / fail / not-compared
    x: float
    y: float
    width: float
    height: float
    threshold_y: float | None  # the layer's threshold as a horizontal tick
    value: str  # the formatted max abs diff
    threshold: str
    label_x: float


@dataclass(frozen=True)
class ChartTick:
    y: float
    label: str  # "1e-06"


@dataclass(frozen=True)
class Chart:
    width: float
    height: float
    left: float  # the plot area
    top: float
    right: float
    bottom: float
    bars: tuple[ChartBar, ...]
    ticks: tuple[ChartTick, ...]
    label_y: float
    labels_rotated: bool


def _log10(value: float) -> float:
    if math.isnan(value) or value == math.inf:
        return math.inf
    return math.log10(max(value, CHART_FLOOR))


def _short_label(path: str, limit: int = 14) -> str:
    """The last one or two parts of a layer path, cut to ``limit`` characters.

    A trailing remark in parentheses becomes a marker: ``relu (call 2)`` -> ``relu#2``, anything
    else (``bn1 (running_mean after a training step)``) -> ``bn1*``; the tooltip has the full name.
    """
    suffix = ""
    remark = re.fullmatch(r"(.*?)\s*\(([^()]*)\)", path)
    if remark and remark.group(1):
        path = remark.group(1)
        call = re.fullmatch(r"call (\d+)", remark.group(2).strip())
        suffix = f"#{call.group(1)}" if call else "*"
    room = limit - len(suffix)
    parts = [p for p in re.split(r"[./]", path) if p]
    label = path
    if parts:
        label = parts[-1]
        if len(parts) > 1 and len(parts[-2]) + len(label) + 1 <= room:
            label = f"{parts[-2]}.{label}"
    return (label if len(label) <= room else label[: room - 1] + "…") + suffix


def chart_geometry(
    layers: Sequence[Comparison], tolerance: Tolerance, width: float = 1000.0, plot_height: float = 260.0
) -> Chart:
    """Bars of log10(max abs diff) per layer (floor 1e-12), with each layer's threshold as a tick."""
    thresholds = [c.threshold if c.threshold > 0 else tolerance.threshold(c.scale) for c in layers]
    logs = [_log10(c.max_abs_diff) for c in layers]
    compared = [v for c, v in zip(layers, logs, strict=True) if c.status is not Status.NOT_COMPARED]
    finite = [v for v in compared if math.isfinite(v)] + [_log10(t) for t in thresholds if t > 0]
    lo = math.floor(min(finite, default=-8.0) - 0.5)  # room below the smallest bar
    hi = math.ceil(max(finite, default=0.0))
    if hi - lo < 3:
        lo = hi - 3
    step = max(1, math.ceil((hi - lo) / 8))
    lo = hi - step * math.ceil((hi - lo) / step)  # ticks at both ends of the axis
    span = hi - lo

    n = max(len(layers), 1)
    labelled_every = max(1, math.ceil(len(layers) / 40))
    rotated = len(layers) > 12
    left, right, top = 64.0, width - 16.0, 16.0
    bottom = top + plot_height
    label_y = bottom + 14.0
    height = bottom + (96.0 if rotated else 32.0)
    slot = (right - left) / n
    bar_width = min(max(slot * 0.7, 1.0), 56.0)

    def y_of(v: float) -> float:
        v = min(max(v, lo), hi)
        return bottom - (v - lo) / span * plot_height

    ticks = tuple(ChartTick(y_of(v), f"1e{v:+03d}" if v else "1") for v in range(lo, hi + 1, step))
    bars = []
    for i, (c, v, t) in enumerate(zip(layers, logs, thresholds, strict=True)):
        x = left + i * slot + (slot - bar_width) / 2
        y = y_of(v) if c.status is not Status.NOT_COMPARED else bottom - 3.0
        show = i % labelled_every == 0
        label = (_short_label(c.source) if labelled_every == 1 else str(i + 1)) if show else ""
        bars.append(
            ChartBar(
                index=i + 1,
                name=c.source,
                label=label,
                status=_css_class(c.status),
                x=round(x, 2),
                y=round(y, 2),
                width=round(bar_width, 2),
                height=round(max(bottom - y, 1.0), 2),
                threshold_y=round(y_of(_log10(t)), 2) if t > 0 else None,
                value=fmt(c.max_abs_diff),
                threshold=fmt(t),
                label_x=round(x + bar_width / 2, 2),
            )
        )
    return Chart(width, round(height, 2), left, top, right, bottom, tuple(bars), ticks, label_y, rotated)


@dataclass(frozen=True)
class Row:
    """A comparison as the HTML tables show it: formatted strings only."""

    index: int
    source: str
    target: str
    types: str
    transform: str
    shape: str
    max_abs_diff: str
    max_rel_diff: str
    scale: str
    threshold: str
    status: str  # css class
    status_text: str
    note: str
    first: bool


def _rows(comparisons: Sequence[Comparison], first: Comparison | None) -> tuple[Row, ...]:
    return tuple(
        Row(
            index=i,
            source=c.source,
            target=c.target,
            types=_types(c),
            transform=c.transform,
            shape=_shape(c.shape),
            max_abs_diff=fmt(c.max_abs_diff),
            max_rel_diff=fmt(c.max_rel_diff),
            scale=fmt(c.scale),
            threshold=fmt(c.threshold),
            status=_css_class(c.status),
            status_text=status_text(c.status),
            note=c.note,
            first=c is first,
        )
        for i, c in enumerate(comparisons, start=1)
    )


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("migrator.report", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )


def render_html(result: EquivalenceResult) -> str:
    """A self-contained HTML page (inline CSS and SVG, no scripts, no external resources)."""
    first = result.first_divergent_layer
    trained = training_divergence(result)
    worst = _worst_output(result)
    counts = {s: sum(1 for c in result.layers if c.status is s) for s in Status}
    template = _environment().get_template("report.html.j2")
    return template.render(
        r=result,
        verdict=result.verdict.value.replace("_", "-"),
        verdict_text=verdict_text(result.verdict),
        worst=worst,
        worst_abs=fmt(result.max_abs_diff),
        worst_rel=fmt(result.max_rel_diff),
        worst_threshold=fmt(worst.threshold) if worst is not None else None,
        atol=fmt(result.tolerance.atol),
        rtol=fmt(result.tolerance.rtol),
        fail_rtol=fmt(result.tolerance.fail_rtol),
        first=_rows([first], first)[0] if first is not None else None,
        first_index=result.layers.index(first) + 1 if first is not None else None,
        suspicious=counts[Status.SUSPICIOUS],
        failed=counts[Status.FAIL],
        not_compared=counts[Status.NOT_COMPARED],
        passed=counts[Status.PASS],
        outputs=_rows(result.outputs, None),
        layers=_rows(result.layers, first),
        chart=chart_geometry(result.layers, result.tolerance) if result.layers else None,
        inputs=[
            (
                i.name,
                _shape(i.shape),
                i.dtype,
                f"[{fmt(i.low)}, {fmt(i.high)}]" if i.low is not None or i.high is not None else "—",
            )
            for i in result.inputs
        ],
        samples=[
            (
                s.index,
                s.seed,
                ", ".join(_shape(x) for x in s.shapes),
                fmt(s.max_abs_diff),
                fmt(s.max_rel_diff),
            )
            for s in result.samples
        ],
        float64_error=fmt(result.float64_error) if result.float64_error is not None else None,
        scale_text=_sentence(_scale_text(result)),
        training=result.training,
        training_heading=training_heading(result.training) if result.training is not None else "",
        training_verdict=training_verdict(result.training) if result.training is not None else "",
        training_code=training_code(result.training) if result.training is not None else [],
        training_rows=_rows(result.training.rows, trained) if result.training is not None else (),
        trained=_rows([trained], trained)[0] if trained is not None else None,
        trained_index=result.training.rows.index(trained) + 1
        if result.training is not None and trained is not None
        else None,
        versions=sorted(result.versions.items()),
    )
