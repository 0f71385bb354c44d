from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from backupd.errors import NotFoundError, UserInputError
from backupd.storage.catalog import FINAL_PHASES, list_committed, read_committed
from backupd.storage.layout import BackupKeys, DrillKeys, RestoreKeys
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
