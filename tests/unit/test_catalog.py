from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest

from backupd.errors import ArchiveError, NotFoundError, UserInputError
from backupd.storage.catalog import (
    FINAL_PHASES,
    default_restore_name,
    deletion,
    list_committed,
    read_committed,
    scan_committed,
    unused_name,
)
from backupd.storage.layout import BackupKeys, DrillKeys, RestoreKeys, validate_name
from backupd.storage.location import AccessMode, Location, open_location


def metadata(name: str, phase: str | None, kind: str = "Backup") -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": "backupd.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": {"includedNamespaces": ["shop"]},
    }
    if phase is not None:
        doc["status"] = {"phase": phase}
    return doc


@pytest.fixture()
def location(tmp_path: Path) -> Location:
    return open_location((tmp_path / "bucket").as_uri())


def write_backup(location: Location, name: str, phase: str | None, *, data: bool = True) -> None:
    keys = BackupKeys(name)
    if data:
        location.put_bytes(keys.archive(), b"tar")
        location.put_bytes(keys.index, b"index")
    if phase != "missing":
        location.put_bytes(keys.metadata, json.dumps(metadata(name, phase)).encode())


def names(documents: list[dict[str, Any]]) -> list[str]:
    return [d["metadata"]["name"] for d in documents]


def test_only_backups_with_final_metadata_are_listed(location: Location) -> None:
    write_backup(location, "done", "Completed")
    write_backup(location, "partial", "PartiallyFailed")
    write_backup(location, "failed", "Failed")
    write_backup(location, "running", "InProgress")
    write_backup(location, "no-phase", None)
    write_backup(location, "data-only", "missing")
    assert names(list_committed(location)) == ["done", "failed", "partial"]
    assert {"Completed", "PartiallyFailed", "Failed"} == FINAL_PHASES


def test_a_new_reader_of_the_same_directory_sees_every_committed_backup(
    location: Location,
) -> None:
    write_backup(location, "a", "Completed")
    write_backup(location, "b", "Completed")
    other = open_location(location.url, access_mode=AccessMode.ReadOnly)
    assert names(list_committed(other)) == ["a", "b"]


def test_listing_returns_the_whole_metadata_document(location: Location) -> None:
    write_backup(location, "a", "Completed")
    assert list_committed(location) == [metadata("a", "Completed")]


def test_broken_or_misplaced_metadata_is_ignored(location: Location) -> None:
    write_backup(location, "good", "Completed")
    location.put_bytes("backups/garbage/backup.json", b"{not json")
    location.put_bytes("backups/array/backup.json", b"[1, 2]")
    location.put_bytes(
        "backups/renamed/backup.json", json.dumps(metadata("other", "Completed")).encode()
    )
    location.put_bytes(
        "backups/nested/deeper/backup.json", json.dumps(metadata("deeper", "Completed")).encode()
    )
    location.put_bytes(
        "backups/Bad_Name/backup.json", json.dumps(metadata("x", "Completed")).encode()
    )
    location.put_bytes("backups/stray.json", b"{}")
    assert names(list_committed(location)) == ["good"]


def test_an_empty_or_missing_location_lists_nothing(location: Location) -> None:
    assert list_committed(location) == []


def test_read_committed_returns_a_final_backup(location: Location) -> None:
    write_backup(location, "a", "PartiallyFailed")
    assert read_committed(location, "a")["status"]["phase"] == "PartiallyFailed"


def test_read_committed_of_a_missing_backup_is_not_found(location: Location) -> None:
    write_backup(location, "data-only", "missing")
    with pytest.raises(NotFoundError, match=rf"backup data-only not found in {location.url}"):
        read_committed(location, "data-only")
    with pytest.raises(NotFoundError, match="backup nothing not found"):
        read_committed(location, "nothing")


def test_read_committed_of_an_unfinished_backup_is_not_found_and_says_why(
    location: Location,
) -> None:
    write_backup(location, "running", "InProgress")
    with pytest.raises(NotFoundError) as info:
        read_committed(location, "running")
    assert "backup running not found" in str(info.value)
    assert "InProgress" in str(info.value)


def test_read_committed_validates_the_name_first(location: Location) -> None:
    with pytest.raises(UserInputError):
        read_committed(location, "../etc")


def test_restores_and_drills_have_their_own_catalogs(location: Location) -> None:
    write_backup(location, "b", "Completed")
    location.put_bytes(
        RestoreKeys("r").metadata, json.dumps(metadata("r", "Completed", "Restore")).encode()
    )
    location.put_bytes(
        DrillKeys("d").metadata, json.dumps(metadata("d", "InProgress", "Drill")).encode()
    )
    assert names(list_committed(location, kind="restores")) == ["r"]
    assert list_committed(location, kind="drills") == []
    assert read_committed(location, "r", kind="restores")["kind"] == "Restore"
    with pytest.raises(NotFoundError, match="drill d not found"):
        read_committed(location, "d", kind="drills")


def test_unknown_kind_is_refused(location: Location) -> None:
    with pytest.raises(UserInputError, match="unknown kind"):
        list_committed(location, kind="schedules")


def test_damaged_metadata_is_reported_with_its_key_and_reason(location: Location) -> None:
    write_backup(location, "good", "Completed")
    location.put_bytes("backups/garbage/backup.json", b"{not json")
    location.put_bytes(
        "backups/renamed/backup.json", json.dumps(metadata("other", "Completed")).encode()
    )
    documents, skipped = scan_committed(location)
    assert names(documents) == ["good"]
    assert [(s.key, s.reason) for s in skipped] == [
        ("backups/garbage/backup.json", "not valid JSON"),
        ("backups/renamed/backup.json", "it records the name 'other'"),
    ]


def test_a_record_larger_than_any_record_is_skipped_unread(
    location: Location, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("backupd.storage.location.MAX_OBJECT_BYTES", 4096)
    write_backup(location, "good", "Completed")
    huge = metadata("huge", "Completed")
    huge["status"]["padding"] = "x" * 5000
    location.put_bytes("backups/huge/backup.json", json.dumps(huge).encode())
    documents, skipped = scan_committed(location)
    assert names(documents) == ["good"]
    assert [(s.key, s.reason) for s in skipped] == [
        ("backups/huge/backup.json", "is larger than 4096 bytes")
    ]
    with pytest.raises(ArchiveError, match=r"^backups/huge/backup.json in .* is larger than 4096"):
        read_committed(location, "huge")


def test_reading_a_whole_object_stops_past_its_limit(location: Location) -> None:
    location.put_bytes("some/object", b"y" * 100)
    assert location.get_bytes("some/object", limit=100) == b"y" * 100
    with pytest.raises(ArchiveError, match="larger than 99 bytes"):
        location.get_bytes("some/object", limit=99)


class RecordingLocation(Location):
    """A real location that remembers the order of its deletes."""

    deleted: list[str]

    def delete(self, key: str) -> None:
        self.deleted.append(key)
        super().delete(key)


def test_deleting_a_backup_removes_its_metadata_first_then_everything(tmp_path: Path) -> None:
    plain = open_location((tmp_path / "bucket").as_uri())
    location = RecordingLocation(plain.url, plain.store, plain.access_mode)
    location.deleted = []
    write_backup(location, "a", "Completed")
    write_backup(location, "ab", "Completed")
    doomed = deletion(location, "a")
    assert doomed.execute() == 3
    assert location.deleted[0] == BackupKeys("a").metadata
    assert sorted(location.deleted) == sorted(doomed.objects)
    assert location.list("backups/a/") == []
    assert names(list_committed(location)) == ["ab"]  # a name sharing the prefix stays


def test_deleting_an_uncommitted_backup_removes_its_data(location: Location) -> None:
    write_backup(location, "half", "missing")
    assert deletion(location, "half").execute() == 2
    assert location.list("backups/") == []


def test_deleting_what_is_not_there_is_not_found(location: Location) -> None:
    with pytest.raises(NotFoundError, match="backup nothing not found"):
        deletion(location, "nothing")
    with pytest.raises(UserInputError):
        deletion(location, "../etc")


def test_a_default_restore_name_is_the_backup_and_the_time() -> None:
    at = datetime.datetime(2026, 11, 25, 3, 4, 5, tzinfo=datetime.UTC)
    assert default_restore_name("nightly", at) == "nightly-20261125030405"
    long = default_restore_name("b" * 48 + "-" + "c" * 10, at)
    assert validate_name(long, "restore") == long


def test_a_taken_restore_name_gets_the_next_free_suffix(location: Location) -> None:
    assert unused_name(location, "shop-1") == "shop-1"
    location.put_bytes(RestoreKeys("shop-1").metadata, b"{}")
    location.put_bytes(RestoreKeys("shop-1-2").metadata, b"{}")
    assert unused_name(location, "shop-1") == "shop-1-3"
    location.put_bytes(RestoreKeys("r" * 63).metadata, b"{}")
    assert unused_name(location, "r" * 63) == "r" * 61 + "-2"  # still at most 63 characters
