"""The drill report as people read it (Markdown, HTML) and as it is stored and read back."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from html.parser import HTMLParser

import pytest

from backupd.api.drill import DrillProblem, DrillReport, TimelineEntry
from backupd.drill import html, markdown, store, summary
from backupd.errors import ArchiveError, IntegrityError, NotFoundError, UserInputError
from backupd.storage.location import Location
from tests.fixtures import drills

HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>|`[x](http://evil)`*_\n# h'


def hostile_report() -> DrillReport:
    """A failed drill whose every backup-supplied string is an injection attempt."""
    report = drills.failed()
    report.backup_name = HOSTILE
    report.target_server = HOSTILE
    report.verify_message = HOSTILE
    report.spec.schedule_name = HOSTILE
    report.problems[0].message = HOSTILE
    report.problems[0].blocks = HOSTILE
    report.namespaces[1].namespace = HOSTILE
    report.workloads[0].name = HOSTILE
    report.workloads[0].reason = HOSTILE
    report.workloads[0].events = [HOSTILE]
    report.timeline[0].message = HOSTILE
    report.restore_counts = {HOSTILE: 1}
    report.restore_name = HOSTILE
    report.notices = [HOSTILE]
    return report


class _Tags(HTMLParser):
    """Every start tag and attribute name of a page, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: set[str] = set()
        self.text_by_id: dict[str, str] = {}
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.update(a for a, _ in attrs)
        ident = dict(attrs).get("id")
        if ident:
            self._open.append(ident)
            self.text_by_id[ident] = ""

    def handle_data(self, data: str) -> None:
        for ident in self._open:
            self.text_by_id[ident] += data


def parse(page: str) -> _Tags:
    tags = _Tags()
    tags.feed(page)
    return tags


# -- HTML ------------------------------------------------------------------------------


def test_html_page_shows_verdict_rto_and_rpo_in_the_top_banner() -> None:
    page = html.render(drills.passed())
    banner = page[page.index('<header id="verdict"') : page.index("</header>")]
    assert "PASSED" in banner and 'class="banner pass"' in banner
    assert "RTO" in banner and "1m 35s" in banner
    assert "RPO" in banner and "6h 02m" in banner
    assert page.index("</header>") < page.index("<main>")


def test_html_page_of_a_failed_drill_names_the_missing_piece_and_what_it_blocks() -> None:
    page = html.render(drills.failed())
    banner = page[page.index('<header id="verdict"') : page.index("</header>")]
    assert "FAILED" in banner and 'class="banner fail"' in banner
    assert "not reached" in banner
    problems = parse(page).text_by_id["problems"]
    assert "PriorityClass high is not in the backup" in problems
    assert "blocks Deployment shop/web" in problems


def test_html_page_has_every_section() -> None:
    ids = parse(html.render(drills.failed())).text_by_id
    for section in ("verdict", "rto", "rpo", "problems", "summary", "namespaces", "workloads"):
        assert section in ids
    assert "no PriorityClass with name high was found" in ids["workloads"]  # the stuck one's event
    assert "shop" in ids["namespaces"] and "3/4" in ids["namespaces"]
    assert "ephemeral cluster started" in ids["timeline"]


def test_html_page_escapes_every_name_from_the_backup() -> None:
    page = html.render(hostile_report())
    tags = parse(page)
    assert "script" not in tags.tags and "img" not in tags.tags and "a" not in tags.tags
    assert not {a for a in tags.attrs if a.startswith("on")}
    assert "src" not in tags.attrs and "href" not in tags.attrs
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img" in page
    assert HOSTILE.replace("\n", " ") in tags.text_by_id["problems"]  # shown as text, intact


def test_html_page_loads_nothing_from_outside() -> None:
    page = html.render(drills.passed())
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert not re.search(r"\b(src|href)=|url\(|@import|<link|<script", page)


def test_notices_and_the_restore_name_are_shown_in_both_formats() -> None:
    report = drills.passed()
    report.restore_name = "monthly-2026-11"
    report.notices = ["backup x records no source cluster"]
    assert "- Note: backup x records no source cluster" in markdown.render(report)
    assert "- Restore name: monthly-2026-11" in markdown.render(report)
    summary_text = parse(html.render(report)).text_by_id["summary"]
    assert "backup x records no source cluster" in summary_text
    assert "monthly-2026-11" in summary_text


def test_passed_page_says_nothing_failed() -> None:
    assert "Nothing failed." in parse(html.render(drills.passed())).text_by_id["problems"]


def test_failed_drill_without_recorded_problem_names_its_stuck_workloads() -> None:
    report = drills.failed()
    report.problems = []
    lines = summary.problems(report)
    assert lines == [
        "Deployment shop/web did not become ready: "
        "0/2 available: no PriorityClass with name high was found"
    ]
    assert lines[0] in markdown.render(report)


# -- Markdown --------------------------------------------------------------------------


def test_markdown_starts_with_the_verdict_rto_and_rpo() -> None:
    lines = markdown.render(drills.failed()).splitlines()
    assert lines[0] == "# Restore drill monthly-2026-12: FAILED"
    assert lines[2] == "**FAILED** | **RTO not reached** | **RPO 6h 02m**"


def test_markdown_has_every_section_and_the_events_of_the_stuck_workload() -> None:
    text = markdown.render(drills.failed())
    for heading in ("## What failed and why", "## Namespaces", "## Workloads", "## Timeline"):
        assert heading in text
    assert "- PriorityClass high is not in the backup; it blocks Deployment shop/web" in text
    assert "### Events of Deployment shop/web" in text
    assert "| StatefulSet shop/db | ready | 1m 15s |  |" in text


def test_markdown_escapes_names_so_they_cannot_break_a_table_or_inject_html() -> None:
    text = markdown.render(hostile_report())
    assert "<script>" not in text and "<img" not in text
    assert not re.search(r"(?<!\\)\]\(", text)  # no live link: the brackets are escaped
    for table in re.findall(r"(?m)^(\|.*\|)$", text):
        assert len(re.findall(r"(?<!\\)\|", table)) in (5, 8)  # columns stay as built
    assert not any(line.startswith("# h") for line in text.splitlines())


# -- summary ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (None, "n/a"),
        (0.42, "0.4s"),
        (42, "42s"),
        (185, "3m 05s"),
        (3720, "1h 02m"),
        (3 * 86400 + 4 * 3600, "3d 4h"),
    ],
)
def test_durations_read_like_a_person_writes_them(seconds: float | None, shown: str) -> None:
    assert summary.duration(seconds) == shown


def test_timeline_is_shown_in_time_order() -> None:
    report = drills.passed()
    report.timeline.insert(0, TimelineEntry(at=drills.at(50), step="restore", message="late"))
    assert [e.message for e in summary.timeline(report)][2:4] == [
        "ephemeral cluster started",
        "41 items: 39 created, 2 skipped",
    ]


# -- store -----------------------------------------------------------------------------


def test_saved_drill_reads_back_with_its_three_reports(loc: Location) -> None:
    report = drills.failed()
    store.save(loc, report)
    assert loc.list("drills/monthly-2026-12/") == [
        f"drills/monthly-2026-12/{f}"
        for f in ("drill.json", "report.html", "report.json", "report.md")
    ]
    assert store.load(loc, "monthly-2026-12") == report
    stored = "drills/monthly-2026-12/report"
    assert loc.get_bytes(f"{stored}.md").decode() == markdown.render(report)
    assert loc.get_bytes(f"{stored}.html").decode() == html.render(report)


def test_drills_are_listed_newest_first(loc: Location) -> None:
    older, newer = drills.passed("a-older"), drills.passed("b-newer")
    older.started = drills.at(-86400)
    store.save(loc, newer)
    store.save(loc, older)
    assert [r.metadata.name for r in store.list_drills(loc)] == ["b-newer", "a-older"]


def test_a_drill_name_is_stored_once(loc: Location) -> None:
    store.save(loc, drills.passed())
    with pytest.raises(UserInputError, match="drill monthly-2026-11 already exists"):
        store.save(loc, drills.failed("monthly-2026-11"))


def test_a_bad_drill_name_is_refused_before_anything_is_written(loc: Location) -> None:
    with pytest.raises(UserInputError, match="invalid drill name"):
        store.save(loc, drills.passed("../escape"))
    assert loc.list("") == []


def test_unknown_drill_is_not_found(loc: Location) -> None:
    with pytest.raises(NotFoundError, match="drill nope not found"):
        store.load(loc, "nope")


def test_a_drill_without_its_commit_is_not_listed(loc: Location) -> None:
    store.save(loc, drills.passed())
    loc.delete("drills/monthly-2026-11/drill.json")
    assert store.list_drills(loc) == []


def test_a_tampered_report_is_refused_and_skipped_with_a_warning(
    loc: Location, caplog: pytest.LogCaptureFixture
) -> None:
    store.save(loc, drills.passed())
    store.save(loc, drills.failed())
    key = "drills/monthly-2026-12/report.json"
    forged = json.loads(loc.get_bytes(key))
    forged["verdict"] = "Passed"
    loc.put_bytes(key, json.dumps(forged).encode())
    with pytest.raises(IntegrityError):
        store.load(loc, "monthly-2026-12")
    with caplog.at_level(logging.WARNING):
        assert [r.metadata.name for r in store.list_drills(loc)] == ["monthly-2026-11"]
    assert "skipping drills/monthly-2026-12/drill.json" in caplog.text


@pytest.mark.parametrize(
    ("commit", "reason"),
    [
        (b"not json", "not valid JSON"),
        (
            b'{"metadata": {"name": "monthly-2026-11"}, "status": {"phase": "Completed"}}',
            "not a valid drill record",
        ),
    ],
)
def test_a_damaged_commit_is_skipped_and_the_rest_still_listed(
    loc: Location, commit: bytes, reason: str
) -> None:
    store.save(loc, drills.passed())
    store.save(loc, drills.failed())
    loc.put_bytes("drills/monthly-2026-11/drill.json", commit)
    reports, skipped = store.scan_drills(loc)
    assert [r.metadata.name for r in reports] == ["monthly-2026-12"]
    assert [s.key for s in skipped] == ["drills/monthly-2026-11/drill.json"]
    assert reason in skipped[0].reason


def test_a_commit_claiming_a_huge_report_is_refused_before_reading_it(loc: Location) -> None:
    store.save(loc, drills.passed())
    key = "drills/monthly-2026-11/drill.json"
    commit = json.loads(loc.get_bytes(key))
    commit["status"]["report"]["size"] = store.MAX_REPORT_BYTES + 1
    loc.put_bytes(key, json.dumps(commit).encode())
    with pytest.raises(ArchiveError, match="over"):
        store.load(loc, "monthly-2026-11")


def test_a_report_recording_another_name_is_refused(loc: Location) -> None:
    report = drills.passed()
    store.save(loc, report)
    other = drills.passed("other")
    store.save(loc, other)
    # swap in the other drill's report and its (valid) commit entry
    commit = json.loads(loc.get_bytes("drills/monthly-2026-11/drill.json"))
    other_commit = json.loads(loc.get_bytes("drills/other/drill.json"))
    loc.put_bytes("drills/monthly-2026-11/report.json", loc.get_bytes("drills/other/report.json"))
    commit["status"]["report"] = dict(
        other_commit["status"]["report"], key="drills/monthly-2026-11/report.json"
    )
    loc.put_bytes("drills/monthly-2026-11/drill.json", json.dumps(commit).encode())
    with pytest.raises(ArchiveError, match="records the name 'other'"):
        store.load(loc, "monthly-2026-11")


def test_a_newer_backupd_report_with_unknown_fields_still_reads(loc: Location) -> None:
    report = drills.passed()
    report.problems.append(DrillProblem(message="m"))
    store.save(loc, report)
    key = "drills/monthly-2026-11/report.json"
    document = json.loads(loc.get_bytes(key))
    document["futureField"] = {"x": 1}
    document["problems"][0]["severity"] = "high"
    data = json.dumps(document).encode()  # and its commit updated to match
    loc.put_bytes(key, data)
    commit_key = "drills/monthly-2026-11/drill.json"
    commit = json.loads(loc.get_bytes(commit_key))
    commit["status"]["report"].update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    loc.put_bytes(commit_key, json.dumps(commit).encode())
    assert store.load(loc, "monthly-2026-11") == report
