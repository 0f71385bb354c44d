"""Objects read whole from a location are bounded: a restore's log that unpacks to more
than its limit (a gzip bomb) or a record past the limit is an error, never an allocation
of that size."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from backupd.errors import ArchiveError
from backupd.restore import engine
from backupd.storage.layout import RestoreKeys
from backupd.storage.location import open_location
from backupd.storage.streams import gunzip_bounded


def test_a_restore_log_that_unpacks_past_its_limit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    location = open_location(tmp_path.as_uri())
    bomb = gzip.compress(b"\0" * 1_000_000)  # about 1 kB that unpacks to 1 MB
    location.put_bytes(RestoreKeys("r1").log, bomb)
    location.put_bytes(RestoreKeys("r2").log, gzip.compress(b"restored 3 items\n"))
    monkeypatch.setattr(engine, "MAX_LOG_BYTES", 64 * 1024)
    with pytest.raises(ArchiveError, match="the log of restore r1 decompresses to more than 65536"):
        engine.read_log(location, "r1")
    assert engine.read_log(location, "r2") == "restored 3 items\n"


def test_a_damaged_restore_log_is_an_archive_error(tmp_path: Path) -> None:
    location = open_location(tmp_path.as_uri())
    location.put_bytes(RestoreKeys("r1").log, b"not gzip at all")
    with pytest.raises(ArchiveError, match="the log of restore r1 is not valid gzip"):
        engine.read_log(location, "r1")


def test_gunzip_bounded_returns_what_fits() -> None:
    assert gunzip_bounded(gzip.compress(b"abc"), 3, "x") == b"abc"
    with pytest.raises(ArchiveError, match="x decompresses to more than 2 bytes"):
        gunzip_bounded(gzip.compress(b"abc"), 2, "x")
