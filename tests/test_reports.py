"""Equivalence reports (JSON, Markdown, HTML) rendered from hand-built results: no torch/TF needed."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from html.parser import HTMLParser

import pytest

from migrator.report.equivalence import (
    CHART_FLOOR,
    _short_label,
    chart_geometry,
    fmt,
    render_html,
    render_json,
    render_markdown,
)
from migrator.verify.result import (
    Comparison,
    EquivalenceResult,
    InputInfo,
    SampleInfo,
    Status,
    Tolerance,
    Verdict,
)

HOSTILE = "<script>alert(1)</script>"
VERSIONS = {"fwmigrate": "0.1.0", "torch": "2.13.0", "tensorflow": "2.21.0", "keras": "3.10.0"}
INPUTS = (InputInfo("x", (2, 3, 32, 32), "float32", -1.0, 1.0),)


def layer(
    i: int,
    diff: float,
    status: Status = Status.PASS,
    source: str | None = None,
    source_type: str = "Conv2d",
    target_type: str = "Conv2D",
    transform: str = "conv2d_oihw_to_hwio",
) -> Comparison:
    return Comparison(
        source=source or f"features.{i}",
        target=f"features_{i}",
        shape=(2, 16, 32, 32),
        max_abs_diff=diff,
        max_rel_diff=diff / 4.0,
        scale=4.0,
        threshold=4.1e-05,
        status=status,
        source_type=source_type,
        target_type=target_type,
        transform=transform,
    )


def output(diff: float, status: Status, name: str = "logits") -> Comparison:
    return Comparison(name, name, (2, 10), diff, diff / 8.0, 8.0, 8.1e-05, status)


def samples(diff: float) -> tuple[SampleInfo, ...]:
    return tuple(SampleInfo(k, 1000 + k, ((2, 3, 32, 32),), diff * (k + 1) / 3, diff / 8) for k in range(3))


def equivalent_result() -> EquivalenceResult:
    layers = (*(layer(i, 1.2e-7 * (i + 1)) for i in range(7)), layer(7, 0.0, source="head.fc"))
    return EquivalenceResult(
        direction="torch2tf",
        original="resnet.py",
        migrated="resnet_tf.py",
        model="ResNet(num_classes=10)",
        verdict=Verdict.EQUIVALENT,
        tolerance=Tolerance(),
        inputs=INPUTS,
        samples=samples(2.4e-6),
        outputs=(output(2.4e-6, Status.PASS),),
        layers=layers,
        float64_error=3.1e-7,
        warnings=(),
        seed=1000,
        versions=VERSIONS,
    )


def not_equivalent_result() -> EquivalenceResult:
    layers = (
        layer(0, 1.1e-7, source="stem.conv"),
        layer(1, 2.0e-7, source="stem.bn", source_type="BatchNorm2d", target_type="BatchNormalization"),
        layer(2, 1.6e-2, Status.FAIL, source="layer1.0.conv1"),
        layer(3, 0.0, Status.NOT_COMPARED, source="layer1.0.relu", transform=""),
        layer(4, 6.0e-5, Status.SUSPICIOUS, source="layer1.0.bn|1"),
    )
    return EquivalenceResult(
        direction="torch2tf",
        original="resnet.py",
        migrated="resnet_tf.py",
        model="ResNet(num_classes=10)",
        verdict=Verdict.NOT_EQUIVALENT,
        tolerance=Tolerance(),
        inputs=INPUTS,
        samples=samples(1.6e-2),
        outputs=(output(1.6e-2, Status.FAIL),),
        layers=layers,
        float64_error=2.2e-7,
        warnings=("stride-2 Conv2d with padding=1 became padding='same' (asymmetric in TF)",),
        seed=1000,
        versions=VERSIONS,
    )


def error_result() -> EquivalenceResult:
    return EquivalenceResult(
        direction="torch2tf",
        original="resnet.py",
        migrated="resnet_tf.py",
        model="ResNet(num_classes=10)",
        verdict=Verdict.ERROR,
        tolerance=Tolerance(),
        inputs=INPUTS,
        error="the migrated model did not build: ValueError: Input 0 of layer 'conv' is incompatible",
        seed=1000,
        versions=VERSIONS,
    )


def long_result() -> EquivalenceResult:
    layers = [layer(i, 1e-7 * (i % 5 + 1)) for i in range(30)]
    layers[17] = layer(17, 3.0e-3, Status.FAIL, source="blocks.17.attn.proj")
    layers[22] = layer(22, 1.0e-7, source=HOSTILE)
    return EquivalenceResult(
        direction="torch2tf",
        original="vit.py",
        migrated="vit_tf.py",
        model="ViT()",
        verdict=Verdict.NOT_EQUIVALENT,
        tolerance=Tolerance(),
        inputs=INPUTS,
        samples=samples(3.0e-3),
        outputs=(output(3.0e-3, Status.FAIL), output(1.0e-6, Status.PASS, name="features")),
        layers=tuple(layers),
        float64_error=4.0e-7,
        seed=7,
        versions=VERSIONS,
    )


ALL = {
    "equivalent": equivalent_result,
    "not_equivalent": not_equivalent_result,
    "error": error_result,
    "long": long_result,
}


# ------------------------------------------------------------------------------------------------
# Numbers


def test_fmt_two_significant_digits_and_plain_zero() -> None:
    assert fmt(2.4e-6) == "2.4e-06"
    assert fmt(0.016) == "1.6e-02"
    assert fmt(1e-6) == "1.0e-06"
    assert fmt(0.0) == "0"
    assert fmt(None) == "—"
    assert fmt(float("nan")) == "NaN"
    assert fmt(float("inf")) == "inf"


# ------------------------------------------------------------------------------------------------
# JSON


@pytest.mark.parametrize("name", sorted(ALL))
def test_json_round_trips(name: str) -> None:
    result = ALL[name]()
    text = render_json(result)
    assert text == result.dumps()
    assert EquivalenceResult.from_json(json.loads(text)) == result


@pytest.mark.parametrize("name", sorted(ALL))
def test_json_has_required_keys(name: str) -> None:
    result = ALL[name]()
    data = json.loads(render_json(result))
    for key in (
        "equivalent",
        "max_abs_diff",
        "max_rel_diff",
        "tolerance",
        "inputs",
        "outputs",
        "layers",
        "first_divergent_layer",
        "warnings",
    ):
        assert key in data, key
    assert data["equivalent"] is (name == "equivalent")
    assert len(data["layers"]) == len(result.layers)
    for entry in data["layers"]:
        for key in ("source", "target", "max_abs_diff", "max_rel_diff", "status"):
            assert key in entry, key
    assert {"atol", "rtol"} <= set(data["tolerance"])
    assert data["inputs"][0]["shape"] == [2, 3, 32, 32]


def test_json_first_divergent_layer() -> None:
    assert json.loads(render_json(equivalent_result()))["first_divergent_layer"] is None
    assert json.loads(render_json(error_result()))["first_divergent_layer"] is None
    data = json.loads(render_json(not_equivalent_result()))
    assert data["first_divergent_layer"]["source"] == "layer1.0.conv1"
    assert data["first_divergent_layer"]["status"] == "fail"
    assert data["max_abs_diff"] == pytest.approx(1.6e-2)
    assert data["warnings"] == list(not_equivalent_result().warnings)
    error = json.loads(render_json(error_result()))
    assert error["verdict"] == "error" and "did not build" in error["error"]
    assert error["max_abs_diff"] is None and error["outputs"] == [] and error["layers"] == []


# ------------------------------------------------------------------------------------------------
# Markdown


def test_markdown_equivalent() -> None:
    md = render_markdown(equivalent_result())
    assert md.splitlines()[0] == "### ✅ fwmigrate verify: equivalent"
    assert "`resnet.py` → `resnet_tf.py`" in md
    assert "`ResNet(num_classes=10)`" in md
    assert "max|Δ| **2.4e-06**" in md
    assert "atol 1.0e-06 + rtol 1.0e-05" in md
    assert "First divergent" not in md
    assert "<details>" not in md
    assert md.count("| ✓ pass |") == 9  # 8 layers + 1 output
    assert "| 8 | `head.fc` |" in md and "| 0 | 0 |" in md  # zeros print as 0
    assert "3.1e-07" in md  # the float64 scale


def test_markdown_not_equivalent_names_first_divergent_layer() -> None:
    md = render_markdown(not_equivalent_result())
    lines = md.splitlines()
    assert lines[0] == "### ❌ fwmigrate verify: NOT equivalent"
    summary = lines[2]
    assert "First divergent layer: **`layer1.0.conv1`** → `features_2` (Conv2d → Conv2D)" in summary
    assert "max|Δ| 1.6e-02 vs threshold 4.1e-05" in summary
    row = next(line for line in lines if "layer1.0.conv1" in line and line.startswith("| 3 |"))
    assert "first divergent" in row and "✗ FAIL" in row
    # the later suspicious layer is listed but is not the first divergent one
    suspicious = next(line for line in lines if line.startswith("| 5 |"))
    assert "! suspicious" in suspicious and "first divergent" not in suspicious
    # a pipe in a layer name is escaped so the table keeps its columns
    assert "`layer1.0.bn\\|1`" in suspicious
    assert suspicious.replace("\\|", "").count("|") == 10
    assert "- stride-2 Conv2d with padding=1 became padding='same' (asymmetric in TF)" in lines
    # order: verdict, outputs, layers, warnings
    assert md.index("**Outputs**") < md.index("**Layers**") < md.index("**Warnings**")


def test_markdown_error_shows_message() -> None:
    md = render_markdown(error_result())
    assert md.splitlines()[0] == "### ⚠️ fwmigrate verify: error"
    assert "**Error**" in md
    assert "```text\nthe migrated model did not build: ValueError" in md
    assert "**Outputs**" not in md and "**Layers**" not in md


def test_markdown_collapses_long_layer_table_after_first_divergent_row() -> None:
    md = render_markdown(long_result())
    assert "**Layers** (30, in execution order)" in md
    assert "<details><summary>All 30 layers</summary>" in md
    details = md.index("<details>")
    first_row = md.index("| 18 | **`blocks.17.attn.proj`** |")
    assert first_row < details  # the first divergent row is shown before the fold
    inside = md[details : md.index("</details>")]
    assert sum(1 for line in inside.splitlines() if re.match(r"\| \d+ \|", line)) == 30
    assert "</details>" in md


def test_markdown_short_table_is_not_collapsed() -> None:
    assert "<details>" not in render_markdown(not_equivalent_result())


# ------------------------------------------------------------------------------------------------
# HTML

STRUCTURAL = {"html", "head", "body", "main", "header", "section", "footer", "table", "thead", "tbody"}
STRUCTURAL |= {"tr", "td", "th", "svg", "g", "ul", "li", "dl", "div", "style", "title", "h1", "h2", "p"}
VOID = {"meta", "br", "link", "img", "input", "hr", "col", "wbr"}


class TagChecker(HTMLParser):
    """Checks that elements nest properly; collects tags with their attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.seen: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.append((tag, dict(attrs)))  # <rect .../>: self-closed, nothing to balance

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            if tag in self.stack:
                while self.stack and self.stack.pop() != tag:
                    pass
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def count(self, tag: str, cls: str | None = None) -> int:
        return sum(
            1
            for t, attrs in self.seen
            if t == tag and (cls is None or cls in (attrs.get("class") or "").split())
        )


def parse(html: str) -> TagChecker:
    checker = TagChecker()
    checker.feed(html)
    checker.close()
    return checker


@pytest.mark.parametrize("name", sorted(ALL))
def test_html_is_well_formed(name: str) -> None:
    html = render_html(ALL[name]())
    assert html.startswith("<!DOCTYPE html>")
    checker = parse(html)
    assert checker.errors == []
    assert checker.stack == []
    for tag in ("html", "head", "body", "main", "header", "footer"):
        assert checker.count(tag) == 1, tag
    assert {t for t, _ in checker.seen} <= STRUCTURAL | VOID | {
        "span", "code", "strong", "a", "pre", "dt", "dd", "rect", "line", "text", "defs", "pattern",
    }  # fmt: skip


@pytest.mark.parametrize("name", sorted(ALL))
def test_html_is_self_contained(name: str) -> None:
    html = render_html(ALL[name]())
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html
    assert "<link" not in html and "@import" not in html and "url(" not in html.replace("url(#hatch)", "")
    assert "<style>" in html


def test_html_not_equivalent() -> None:
    result = not_equivalent_result()
    html = render_html(result)
    checker = parse(html)
    assert re.search(r'<header class="banner not-equivalent"[^>]*>', html)
    assert re.search(r"<h1>.*NOT equivalent</h1>", html)
    # the verdict comes first, then the first divergent layer, outputs, layers, chart, inputs,
    # scale, warnings, versions
    marks = [
        "NOT equivalent</h1>",
        'id="first-divergent"',
        'id="outputs"',
        'id="layers"',
        'id="chart"',
        'id="inputs"',
        'id="scale"',
        'id="warnings"',
        'id="versions"',
    ]
    positions = [html.index(m) for m in marks]
    assert positions == sorted(positions)
    # the banner carries the worst output error and the tolerance
    banner = html[: html.index("</header>")]
    assert "1.6e-02" in banner and "atol 1.0e-06 + rtol 1.0e-05" in banner
    callout = html[html.index('id="first-divergent"') : html.index('id="outputs"')]
    assert "First divergent layer" in callout and "<code>layer1.0.conv1</code>" in callout
    # one row per layer, the first divergent one highlighted
    # head + rows: outputs 1 + 1, layers 1 + 5, inputs 1 + 1, samples 1 + 3
    assert checker.count("tr") == 2 + (1 + len(result.layers)) + 2 + 4
    rows = re.findall(r'<tr id="layer-(\d+)" class="([^"]*)"', html)
    assert [int(i) for i, _ in rows] == [1, 2, 3, 4, 5]
    assert [c for _, c in rows] == ["pass", "pass", "fail first-divergent", "not-compared", "suspicious"]
    row3 = html[html.index('id="layer-3"') : html.index('id="layer-4"')]
    assert "✗ FAIL" in row3 and "◀ first divergent" in row3 and "conv2d_oihw_to_hwio" in row3
    assert "Conv2d → Conv2D" in row3 and "1.6e-02" in row3 and "4.1e-05" in row3
    # status readable without colour
    assert "! suspicious" in html and "– not compared" in html and "✓ pass" in html
    # one bar per layer, coloured by status, the layer's name as a tooltip
    assert checker.count("svg") == 1
    bars = re.findall(r'<rect class="bar ([a-z-]+)"', html)
    assert bars == ["pass", "pass", "fail", "not-compared", "suspicious"]
    assert checker.count("line", "threshold") == 5
    assert "<title>#3 layer1.0.conv1: max|Δ| 1.6e-02, threshold 4.1e-05 (fail)</title>" in html
    # inputs, scale, warnings, versions
    assert "(2, 3, 32, 32)" in html and "float32" in html and "Seed <strong>1000</strong>" in html
    assert "2.2e-07" in html
    assert "padding=&#39;same&#39;" in html
    assert "tensorflow" in html and "2.21.0" in html


def test_html_equivalent_has_no_divergent_callout() -> None:
    html = render_html(equivalent_result())
    assert '<header class="banner equivalent"' in html
    assert 'id="first-divergent"' not in html and "◀ first divergent" not in html
    assert not re.search(r'<tr [^>]*class="[^"]*first-divergent', html)
    assert len(re.findall(r'<rect class="bar pass"', html)) == 8
    assert 'id="warnings"' not in html


def test_html_error_shows_message() -> None:
    html = render_html(error_result())
    assert '<header class="banner error"' in html
    assert re.search(r"<h1>.*error</h1>", html)
    box = html[html.index('id="error"') :]
    assert "<pre>the migrated model did not build: ValueError: Input 0 of layer &#39;conv&#39;" in box
    assert html.index('id="error"') < html.index('id="inputs"')
    assert "<svg" not in html and 'id="layers"' not in html and 'id="outputs"' not in html


def test_html_escapes_hostile_names() -> None:
    html = render_html(long_result())
    assert HOSTILE not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html
    checker = parse(html)
    assert checker.errors == [] and checker.count("script") == 0
    assert len(re.findall(r'<rect class="bar ', html)) == 30


# ------------------------------------------------------------------------------------------------
# The chart geometry


def test_chart_geometry_log_scale() -> None:
    result = not_equivalent_result()
    chart = chart_geometry(result.layers, result.tolerance)
    assert len(chart.bars) == 5
    by_status = {b.index: b for b in chart.bars}
    fail, ok = by_status[3], by_status[1]
    assert fail.status == "fail" and ok.status == "pass"
    assert fail.height > ok.height > 0  # larger error, taller bar
    assert fail.y + fail.height == pytest.approx(chart.bottom)
    assert all(b.threshold_y is not None and chart.top <= b.threshold_y <= chart.bottom for b in chart.bars)
    # log scale: 1.6e-2 vs 1.1e-7 is ~5.2 decades; the threshold 4.1e-5 sits between them
    assert fail.threshold_y is not None and fail.y < fail.threshold_y < ok.y
    tick_labels = [t.label for t in chart.ticks]
    assert "1e-07" in tick_labels and "1e-02" in tick_labels
    assert all(b.name for b in chart.bars) and by_status[3].label == "0.conv1"


def test_chart_floor_for_zero_and_many_layers() -> None:
    zero = layer(0, 0.0)
    chart = chart_geometry([zero], Tolerance())
    assert chart.bars[0].height >= 1.0
    assert any(t.label == f"1e{round(math.log10(CHART_FLOOR)):+03d}" for t in chart.ticks)
    many = [layer(i, 1e-6) for i in range(200)]
    chart = chart_geometry(many, Tolerance())
    assert len(chart.bars) == 200
    assert sum(1 for b in chart.bars if b.label) == 40  # labels thinned out
    assert all(b.x + b.width <= chart.right + 1e-6 for b in chart.bars)


def test_chart_short_labels() -> None:
    assert _short_label("features.0") == "features.0"
    assert _short_label("blocks.17.attn.proj") == "attn.proj"
    assert _short_label("relu (call 2)") == "relu#2"
    assert _short_label("layer2.shortcut.1 (running_mean after a training step)") == "shortcut.1*"
    assert _short_label("a_very_long_layer_name_indeed") == "a_very_long_l…"


def test_equivalent_with_a_suspicious_layer_says_so() -> None:
    base = equivalent_result()
    layers = list(base.layers)
    layers[4] = layer(4, 6.0e-5, Status.SUSPICIOUS, source="features.odd")
    result = dataclasses.replace(base, layers=tuple(layers))
    md = render_markdown(result)
    assert md.splitlines()[0] == "### ✅ fwmigrate verify: equivalent"
    assert "Every output passes, but 1 layer is above the pass line; the first is `features.odd`" in md
    assert "First divergent layer" not in md
    html = render_html(result)
    assert 'id="first-divergent"' not in html
    assert "Every output passes, but 1 layer is above the pass line" in html
    assert '<tr id="layer-5" class="suspicious first-divergent">' in html
