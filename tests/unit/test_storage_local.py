"""The file:// backend: atomic writes, and keys that cannot leave the root."""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import pytest

from backupd.errors import IntegrityError, UserInputError
from backupd.storage.base import ObjectExists
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
        location.put("backups/a/backup.json", io.BufferedReader(Broken()))
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


def test_a_conditional_create_never_replaces_an_object(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put_bytes_if_absent("backups/a/claim.json", b"first")
    with pytest.raises(ObjectExists, match=r"backups/a/claim\.json already exists"):
        store.put_bytes_if_absent("backups/a/claim.json", b"second")
    assert (tmp_path / "backups/a/claim.json").read_bytes() == b"first"
    assert os.listdir(tmp_path / "backups/a") == ["claim.json"]  # no temp file left


def test_of_many_concurrent_conditional_creates_exactly_one_wins(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    won: list[int] = []
    lost: list[int] = []
    barrier = threading.Barrier(16)

    def attempt(i: int) -> None:
        barrier.wait()
        try:
            store.put_bytes_if_absent("backups/race/claim.json", str(i).encode())
            won.append(i)
        except ObjectExists:
            lost.append(i)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and len(lost) == 15
    assert (tmp_path / "backups/race/claim.json").read_bytes() == str(won[0]).encode()


def test_a_killed_writers_temp_file_is_a_pending_upload_until_aborted(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put_bytes_if_absent("backups/a/claim.json", b"{}")
    (tmp_path / "backups/a/.backupd-tmp-x1y2").write_bytes(b"half an archive")
    store.put_bytes_if_absent("backups/b/claim.json", b"{}")
    pending = list(store.pending_uploads("backups/a/"))
    assert [p.key for p in pending] == ["backups/a/.backupd-tmp-x1y2"]
    assert list(store.pending_uploads("backups/b/")) == []
    assert list(store.list("backups/a/")) == ["backups/a/claim.json"]  # never listed as data
    store.abort_upload(pending[0])
    assert list(store.pending_uploads("")) == []
    with pytest.raises(UserInputError, match="not an unfinished write"):
        store.abort_upload(type(pending[0])(key="backups/a/claim.json", upload_id="x"))
    assert (tmp_path / "backups/a/claim.json").exists()


def test_a_damaged_file_is_reported_as_corrupt_with_its_key(tmp_path: Path) -> None:
    location = open_location(tmp_path.as_uri())
    good = location.put_bytes("backups/a/index.json.gz", b"index" * 1000)
    path = tmp_path / "backups/a/index.json.gz"
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=r"corrupt.*backups/a/index\.json\.gz"):
        location.get_bytes("backups/a/index.json.gz", sha256=good.sha256)
    path.write_bytes(bytes(data[:10]))
    with pytest.raises(IntegrityError, match=r"corrupt.*\(10 bytes\)"):
        location.get_bytes("backups/a/index.json.gz", sha256=good.sha256)
