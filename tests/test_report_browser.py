"""The HTML report in a real browser: headless Chromium loads it, and it renders to a screenshot.

Never skipped: CI installs Debian's `chromium` (.ci/run); a missing browser fails with a message.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from migrator.report.equivalence import render_html
from tests.test_reports import not_equivalent_result

pytestmark = pytest.mark.browser

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def chromium() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if path is None:
        pytest.fail(
            "chromium not found: the report browser test needs Debian's `chromium` package "
            "(apt-get install -y chromium; .ci/run installs it)",
            pytrace=False,
        )
    return path


def run_chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-2000:]}"
    return proc


@pytest.fixture
def report(tmp_path: Path) -> Path:
    path = tmp_path / "report.html"
    path.write_text(render_html(not_equivalent_result()), encoding="utf-8")
    return path


def test_chromium_loads_report(report: Path, tmp_path: Path) -> None:
    proc = run_chromium(tmp_path / "profile", "--dump-dom", report.as_uri())
    dom = proc.stdout
    assert "NOT equivalent" in dom
    assert '<header class="banner not-equivalent"' in dom
    row = dom[dom.index('<tr id="layer-3"') :]
    row = row[: row.index("</tr>")]
    assert 'class="fail first-divergent"' in row
    assert "layer1.0.conv1" in row and "◀ first divergent" in row
    assert "<svg" in dom and dom.count('<rect class="bar ') == 5
    assert "<script" not in dom


def test_chromium_screenshot(report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    run_chromium(tmp_path / "profile", f"--screenshot={shot}", "--window-size=1200,1600", report.as_uri())
    assert shot.exists(), "chromium wrote no screenshot"
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000, f"screenshot is only {len(data)} bytes: a blank page?"
