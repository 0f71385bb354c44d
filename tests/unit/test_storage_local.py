"""The file:// backend: atomic writes, and keys that cannot leave the root."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from backupd.errors import UserInputError
from backupd.storage.local import LocalStore
from backupd.storage.location import open_location


class Broken(io.RawIOBase):
    def __init__(self) -> None:
        self.sent = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self.sent >= 3 * 1024 * 1024:
            raise OSError("source gone")
        buffer[:1024] = b"x" * 1024
        self.sent += 1024
        return 1024


def test_a_failed_write_keeps_the_old_object_and_leaves_no_temp_file(tmp_path: Path) -> None:
    location = open_location(tmp_path.as_uri())
    location.put_bytes("backups/a/backup.json", b"old")
    with pytest.raises(OSError, match="source gone"):
        location.put("backups/a/backup.json", io.BufferedReader(Broken()))  # type: ignore[arg-type]
    assert location.get_bytes("backups/a/backup.json") == b"old"
    assert sorted(os.listdir(tmp_path / "backups" / "a")) == ["backup.json"]


def test_temp_files_of_a_write_in_progress_are_not_listed(tmp_path: Path) -> None:
    location = open_location(tmp_path.as_uri())
    location.put_bytes("backups/a/x", b".")
    (tmp_path / "backups" / "a" / ".backupd-tmp-123").write_bytes(b"partial")
    assert location.list("") == ["backups/a/x"]


def test_a_symlink_cannot_lead_a_key_out_of_the_root(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "backups").symlink_to(outside)
    store = LocalStore(root)
    with pytest.raises(UserInputError, match="escapes the location root"):
        store.put("backups/a/x", io.BytesIO(b"."))
    assert list(outside.iterdir()) == []


def test_deleting_the_last_object_tidies_empty_directories_but_not_the_root(tmp_path: Path) -> None:
    location = open_location(tmp_path.as_uri())
    location.put_bytes("backups/a/x", b".")
    location.delete("backups/a/x")
    assert tmp_path.exists()
    assert list(tmp_path.iterdir()) == []
