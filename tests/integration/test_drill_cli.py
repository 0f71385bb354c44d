"""`backupctl drill get|describe|report`, run as a person would, on drills stored in a
file:// location (no cluster needed: the drills are stored by backupd.drill.store)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from backupd.drill import html, store
from backupd.storage.location import Location, open_location
from tests.fixtures import drills
from tests.fixtures.cli import backupctl, error_line


@pytest.fixture
def stored(tmp_path: Path) -> tuple[Location, dict[str, str]]:
    """A location holding a passed drill (older) and a failed one (newer)."""
    loc = open_location(f"file://{tmp_path / 'store'}")
    older = drills.passed()
    older.started = drills.at(-86400)
    store.save(loc, older)
    store.save(loc, drills.failed())
    return loc, {"BACKUPD_LOCATION": loc.url, "NO_COLOR": "1"}


def test_drill_get_lists_verdict_rto_and_rpo_newest_first(
    stored: tuple[Location, dict[str, str]],
) -> None:
    _, env = stored
    res = backupctl("drill", "get", env=env)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["NAME", "BACKUP", "VERDICT", "RTO", "RPO", "STARTED", "TARGET"]
    assert lines[1].split()[:6] == [
        "monthly-2026-12",
        "nightly-20261031",
        "Failed",
        "not",
        "reached",
        "6h",
    ]
    assert lines[2].split()[:6] == [
        "monthly-2026-11",
        "nightly-20261031",
        "Passed",
        "1m",
        "35s",
        "6h",
    ]


def test_drill_get_json_is_a_kubectl_list(stored: tuple[Location, dict[str, str]]) -> None:
    _, env = stored
    res = backupctl("drill", "get", "monthly-2026-11", "-o", "json", env=env)
    assert res.returncode == 0, res.stderr
    listing = json.loads(res.stdout)
    assert (listing["apiVersion"], listing["kind"]) == ("v1", "List")
    assert [i["metadata"]["name"] for i in listing["items"]] == ["monthly-2026-11"]
    assert listing["items"][0]["times"]["rtoSeconds"] == 95.0


def test_drill_get_of_an_unknown_drill_is_one_error_line(
    stored: tuple[Location, dict[str, str]],
) -> None:
    _, env = stored
    res = backupctl("drill", "get", "nope", env=env)
    assert "drill(s) not found" in error_line(res) and res.returncode == 3


def test_a_damaged_drill_is_skipped_with_a_warning(stored: tuple[Location, dict[str, str]]) -> None:
    loc, env = stored
    loc.put_bytes("drills/monthly-2026-11/report.json", b"{}")
    res = backupctl("drill", "get", "-o", "name", env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["monthly-2026-12"]
    assert "warning: skipping drills/monthly-2026-11/drill.json" in res.stderr


def test_drill_describe_names_the_missing_piece_and_the_stuck_workload(
    stored: tuple[Location, dict[str, str]],
) -> None:
    _, env = stored
    res = backupctl("drill", "describe", "monthly-2026-12", env=env)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "Verdict:      FAILED" in out and "RTO:          not reached" in out
    assert "PriorityClass high is not in the backup; it blocks Deployment shop/web" in out
    assert "Deployment shop/web: 0/2 available" in out and "Warning FailedCreate" in out
    assert "backupctl drill report monthly-2026-12 --open" in out


def test_drill_report_prints_markdown_and_json(stored: tuple[Location, dict[str, str]]) -> None:
    _, env = stored
    md = backupctl("drill", "report", "monthly-2026-12", env=env)
    assert md.returncode == 0, md.stderr
    assert md.stdout.startswith("# Restore drill monthly-2026-12: FAILED\n")
    js = backupctl("drill", "report", "monthly-2026-12", "--format", "json", env=env)
    assert json.loads(js.stdout)["verdict"] == "Failed"


def test_drill_report_writes_the_html_page_to_a_file(
    stored: tuple[Location, dict[str, str]], tmp_path: Path
) -> None:
    _, env = stored
    page = tmp_path / "out" / "drill.html"
    page.parent.mkdir()
    res = backupctl(
        "drill", "report", "monthly-2026-11", "-f", "html", "--output-file", str(page), env=env
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout == ""
    assert f"wrote the html report of drill monthly-2026-11 to {page}" in res.stderr
    expected = drills.passed()
    expected.started = drills.at(-86400)
    assert page.read_text() == html.render(expected)


def test_drill_report_open_hands_the_page_to_the_desktop_browser(
    stored: tuple[Location, dict[str, str]], tmp_path: Path
) -> None:
    _, env = stored
    seen = tmp_path / "browser-saw"
    browser = tmp_path / "browser"
    browser.write_text(f'#!/bin/sh\necho "$1" > {seen}\n')
    browser.chmod(browser.stat().st_mode | stat.S_IXUSR)
    res = backupctl(
        "drill",
        "report",
        "monthly-2026-12",
        "--open",
        env={**env, "BROWSER": f"{browser} %s", "TMPDIR": str(tmp_path)},  # no debris in /tmp
    )
    assert res.returncode == 0, res.stderr
    url = seen.read_text().strip()
    assert url.startswith("file://") and url.endswith("/monthly-2026-12.html")
    written = Path(url.removeprefix("file://"))
    assert f"to {written}" in res.stderr
    assert "FAILED" in written.read_text()
    assert written.parent.parent == tmp_path and written.parent.name.startswith("backupd-report-")


def test_drill_report_renders_from_the_verified_record_not_a_page_planted_in_the_bucket(
    stored: tuple[Location, dict[str, str]],
) -> None:
    loc, env = stored
    loc.put_bytes("drills/monthly-2026-12/report.html", b"<script>steal()</script>")
    res = backupctl("drill", "report", "monthly-2026-12", "--format", "html", env=env)
    assert res.returncode == 0, res.stderr
    assert "<script" not in res.stdout and 'class="banner fail"' in res.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--open", "--format", "md"), "--open shows the HTML page"),
        (("--format", "pdf"), "pdf"),
    ],
)
def test_drill_report_bad_flags_are_one_error_line(
    stored: tuple[Location, dict[str, str]], args: tuple[str, ...], message: str
) -> None:
    _, env = stored
    res = backupctl("drill", "report", "monthly-2026-12", *args, env=env)
    assert res.returncode == 2
    assert message in res.stderr and "Traceback" not in res.stderr
