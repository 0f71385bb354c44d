"""The HTML drill report in a real browser (Debian's headless chromium): the verdict and
the RTO are on the first screen (1280x800), and the screenshots stay as test artifacts.

The artifacts (the stored report.html and a screenshot of each) are written under
$BACKUPD_TEST_ARTIFACTS/drill-report, else tests/artifacts/drill-report (ignored by git);
the test prints where. chromium is installed by deploy/setup.sh; a missing one fails
the test unless BACKUPD_SKIP_BROWSER_TESTS=1. The page is self-contained and chromium
is told to resolve no host, so nothing leaves the machine.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from html import unescape
from pathlib import Path

import pytest

from backupd.api.drill import DrillReport
from backupd.drill import html, store
from backupd.storage.location import Location
from tests.fixtures import drills, png

WIDTH, HEIGHT = 1280, 800
BANNER_ROWS = 150  # the banner is taller than this at 1280 wide

# Run in the page copy used for the layout check only (the stored page forbids scripts):
# where the verdict word and the RTO are, and whether they are shown at all.
_MEASURE = """<script>
const found = {};
for (const id of ["verdict-word", "rto", "rpo"]) {
  const el = document.getElementById(id);
  const r = el.getBoundingClientRect();
  const style = getComputedStyle(el);
  found[id] = {top: r.top, left: r.left, bottom: r.bottom, right: r.right,
               text: el.innerText, visible: style.visibility === "visible"
               && style.display !== "none" && style.opacity !== "0"};
}
found.viewport = {width: innerWidth, height: innerHeight};
document.body.setAttribute("data-layout", JSON.stringify(found));
</script>"""


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("BACKUPD_SKIP_BROWSER_TESTS"):
            pytest.skip("BACKUPD_SKIP_BROWSER_TESTS is set")
        pytest.fail("chromium is not installed: run deploy/setup.sh (apt-get install chromium)")
    return path


def _artifacts() -> Path:
    root = os.environ.get("BACKUPD_TEST_ARTIFACTS")
    base = Path(root) if root else Path(__file__).resolve().parents[1] / "artifacts"
    directory = base / "drill-report"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _run_chromium(profile: Path, *args: str) -> str:
    command = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={profile}",
        f"--window-size={WIDTH},{HEIGHT}",
        *args,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _stored_page(loc: Location, report: DrillReport, directory: Path) -> Path:
    """The report.html a drill stored, as a file a browser opens."""
    store.save(loc, report)
    page = directory / f"{report.metadata.name}.html"
    page.write_bytes(loc.get_bytes(f"drills/{report.metadata.name}/report.html"))
    return page


def _share(image: png.Image, colour: tuple[int, int, int], rows: range) -> float:
    """The share of the pixels of `rows` that are `colour`."""
    hits = sum(1 for y in rows for x in range(0, image.width, 4) if image.pixel(x, y) == colour)
    return hits / (len(rows) * len(range(0, image.width, 4)))


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return r, g, b


CASES: list[tuple[Callable[[], DrillReport], str, str, str]] = [
    (drills.passed, "PASSED", "1m 35s", html.PASS_COLOUR),
    (drills.failed, "FAILED", "not reached", html.FAIL_COLOUR),
]


@pytest.mark.parametrize(("build", "verdict", "rto", "colour"), CASES, ids=["passed", "failed"])
def test_verdict_and_rto_are_on_the_first_screen_of_the_html_report(
    build: Callable[[], DrillReport],
    verdict: str,
    rto: str,
    colour: str,
    loc: Location,
    tmp_path: Path,
) -> None:
    directory = _artifacts()
    page = _stored_page(loc, build(), directory)
    shot = directory / f"{page.stem}.png"
    shot.unlink(missing_ok=True)
    print(f"\ndrill report artifacts: {page} and {shot}")

    # 1. The screenshot of the stored page: the banner in the verdict's colour fills the
    #    top of the first screen, with the (white) verdict word drawn on it.
    _run_chromium(tmp_path / "profile", f"--screenshot={shot}", page.as_uri())
    image = png.read(shot.read_bytes())
    assert (image.width, image.height) == (WIDTH, HEIGHT)
    assert _share(image, _rgb(colour), range(0, BANNER_ROWS)) > 0.5
    other = html.FAIL_COLOUR if colour == html.PASS_COLOUR else html.PASS_COLOUR
    assert _share(image, _rgb(other), range(0, BANNER_ROWS)) == 0
    word_area = [image.pixel(x, y) for y in range(50, 120) for x in range(40, 400)]
    assert sum(1 for p in word_area if min(p) > 240) > 500  # the big white letters

    # 2. The same page with a measuring script: the verdict word and the RTO box are
    #    shown, inside the 1280x800 viewport, and say what the report says.
    measured = tmp_path / "measured.html"
    stored = page.read_text()
    measured.write_text(
        re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", stored).replace(
            "</body>", _MEASURE + "</body>"
        )
    )
    dom = _run_chromium(tmp_path / "profile2", "--dump-dom", measured.as_uri())
    found = re.search(r'data-layout="([^"]*)"', dom)
    assert found, dom[:2000]
    layout = json.loads(unescape(found.group(1)))
    assert layout["viewport"]["width"] == WIDTH  # (--dump-dom leaves room for window chrome)
    assert layout["viewport"]["height"] <= HEIGHT
    for ident in ("verdict-word", "rto", "rpo"):
        box = layout[ident]
        assert box["visible"], ident
        assert 0 <= box["top"] < box["bottom"] <= HEIGHT, (ident, box)
        assert 0 <= box["left"] < box["right"] <= WIDTH, (ident, box)
    assert layout["verdict-word"]["text"] == verdict
    assert "RTO" in layout["rto"]["text"] and rto in layout["rto"]["text"]
    assert "RPO" in layout["rpo"]["text"] and "6h 02m" in layout["rpo"]["text"]
