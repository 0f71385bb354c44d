"""Stored drills: `drills/<name>/` in a location, written and read back safely.

    drills/<name>/report.md     the report for people (Markdown)
    drills/<name>/report.html   one self-contained page
    drills/<name>/report.json   the DrillReport, for machines
    drills/<name>/drill.json    the commit: written last, names the three by digest

`save` writes the three reports, then `drill.json` (phase Completed, the verdict, the
size and sha256 of each): a drill is listed only once its commit exists (the commit
protocol of backupd.storage.catalog, so `catalog.deletion` deletes one too).

Reading is a trust boundary: a report is read only up to MAX_REPORT_BYTES, its digest
must match the commit's, unknown fields are ignored (a newer backupd wrote them) and
the name it records must be its own. `load` raises on a damaged drill; `list_drills`
skips it with a warning so one bad record never hides the rest.

Without the controller, monthly drills are a cron entry on a machine with backupctl
and the location's credentials, e.g. at 03:00 on the 1st of each month:

    0 3 1 * *  backupctl drill run --from-schedule nightly --latest --ephemeral \
                   --location s3://backups/prod >>/var/log/backupd-drill.log 2>&1

and `backupctl drill get` shows the verdicts; with the controller, a DrillSchedule
resource does the same and exports the backupd_drill_* metrics.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any, Literal

import orjson
from pydantic import ValidationError

from backupd.api.common import Model, ObjectMeta, StoredObject
from backupd.api.drill import DrillReport, DrillVerdict
from backupd.drill import html, markdown
from backupd.errors import ArchiveError, BackupdError, UserInputError
from backupd.storage.catalog import Skipped, read_committed, scan_committed
from backupd.storage.layout import DrillKeys
from backupd.storage.location import Location

MAX_REPORT_BYTES = 32 * 1024 * 1024  # a report of ten thousand workloads is a few MiB

log = logging.getLogger(__name__)


class _CommitStatus(Model):
    phase: Literal["Completed"] = "Completed"
    verdict: DrillVerdict
    report: StoredObject
    markdown: StoredObject
    html: StoredObject


class _Commit(Model):
    """drill.json: what makes a stored drill exist."""

    api_version: str
    kind: Literal["DrillRecord"] = "DrillRecord"
    metadata: ObjectMeta
    status: _CommitStatus


def _keys(name: str) -> tuple[DrillKeys, str, str]:
    keys = DrillKeys(name)
    return keys, keys.prefix + "report.md", keys.prefix + "report.html"


def _put(location: Location, key: str, data: bytes) -> StoredObject:
    location.put_bytes(key, data)
    return StoredObject(key=key, size=len(data), sha256=hashlib.sha256(data).hexdigest())


def save(location: Location, report: DrillReport) -> None:
    """Store `report` under drills/<name>/ (JSON, Markdown, HTML, then the commit).
    UserInputError if the name is invalid or a drill of that name is already stored."""
    name = report.metadata.name
    keys, md_key, html_key = _keys(name)
    if location.exists(keys.metadata):
        raise UserInputError(f"drill {name} already exists in {location.url}; choose another name")
    document = orjson.dumps(report.to_json_dict(), option=orjson.OPT_INDENT_2)
    if len(document) > MAX_REPORT_BYTES:
        raise UserInputError(f"drill report {name} is over {MAX_REPORT_BYTES} bytes")
    md = _put(location, md_key, markdown.render(report).encode())
    page = _put(location, html_key, html.render(report).encode())
    stored = _put(location, keys.report, document)
    commit = _Commit(
        api_version=report.api_version,
        metadata=ObjectMeta(name=name, creation_timestamp=report.finished),
        status=_CommitStatus(verdict=report.verdict, report=stored, markdown=md, html=page),
    )
    location.put_bytes(
        keys.metadata, orjson.dumps(commit.to_json_dict(), option=orjson.OPT_INDENT_2)
    )


def _invalid(e: ValidationError | BackupdError) -> str:
    if isinstance(e, BackupdError):
        return str(e)
    first = e.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    return f"{where}: {first['msg']}"


def _commit(location: Location, name: str, document: dict[str, Any]) -> _Commit:
    keys = DrillKeys(name)
    try:
        return _Commit.from_stored(document)
    except (ValidationError, BackupdError) as e:
        raise ArchiveError(
            f"{keys.metadata} in {location.url} is not a valid drill record: {_invalid(e)}"
        ) from None


def _object(location: Location, key: str, recorded: StoredObject) -> bytes:
    """The object at `key` (from the layout, never from stored data), checked against
    the size and digest its commit records."""
    where = f"{key} in {location.url}"
    if recorded.key != key:
        raise ArchiveError(f"the commit of {where} names {recorded.key[:120]!r} instead")
    if recorded.size > MAX_REPORT_BYTES:
        raise ArchiveError(f"{where} is {recorded.size} bytes, over {MAX_REPORT_BYTES}")
    data = location.get_bytes(key, sha256=recorded.sha256)
    if len(data) != recorded.size:
        raise ArchiveError(f"{where} is {len(data)} bytes; its commit says {recorded.size}")
    return data


def load(location: Location, name: str) -> DrillReport:
    """The stored drill `name`: NotFoundError if absent (or never committed),
    ArchiveError/IntegrityError if damaged."""
    return _load(location, name, read_committed(location, name, "drills"))


def _load(location: Location, name: str, document: dict[str, Any]) -> DrillReport:
    """The drill whose committed drill.json is `document` (already read)."""
    keys = DrillKeys(name)
    commit = _commit(location, name, document)
    data = _object(location, keys.report, commit.status.report)
    try:
        report = DrillReport.from_stored(orjson.loads(data))
    except orjson.JSONDecodeError:
        raise ArchiveError(f"{keys.report} in {location.url} is not valid JSON") from None
    except (ValidationError, BackupdError) as e:
        raise ArchiveError(
            f"{keys.report} in {location.url} is not a valid drill report: {_invalid(e)}"
        ) from None
    if report.metadata.name != name:
        raise ArchiveError(
            f"{keys.report} in {location.url} records the name {report.metadata.name[:80]!r}"
        )
    return report


def scan_drills(location: Location) -> tuple[list[DrillReport], list[Skipped]]:
    """Every stored drill, newest start first, and the damaged ones skipped."""
    documents, skipped = scan_committed(location, "drills")
    reports: list[DrillReport] = []
    for document in documents:
        name = str(document["metadata"]["name"])
        try:
            reports.append(_load(location, name, document))
        except BackupdError as e:
            skipped.append(Skipped(DrillKeys(name).metadata, str(e)))
    reports.sort(key=lambda r: (r.started, r.metadata.name), reverse=True)
    return reports, sorted(skipped, key=lambda s: s.key)


def list_drills(location: Location) -> list[DrillReport]:
    """Every stored drill, newest start first; a damaged one is skipped with a warning."""
    reports, skipped = scan_drills(location)
    for s in skipped:
        log.warning("%s", s)
    return reports
