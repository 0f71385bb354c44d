"""Claims (one writer per backup name) and deleting what a dead writer left, on a
local directory; the same protocol on MinIO and fake-gcs-server is in
tests/integration/test_storage_contract.py and test_backup_claim.py."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from backupd.errors import NotFoundError, UserInputError
from backupd.storage import catalog, claims
from backupd.storage.claims import Claim, claim_key
from backupd.storage.layout import BackupKeys
from backupd.storage.location import Location, open_location
from backupd.storage.staging import Owner, process_start


@pytest.fixture()
def location(tmp_path: Path) -> Location:
    return open_location((tmp_path / "bucket").as_uri())


def dead_owner() -> Owner:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return Owner(proc.pid, None, socket.gethostname(), Owner.me().boot)


def plant_claim(location: Location, name: str, owner: Owner) -> Claim:
    """A claim as another process (dead or alive) would have written it."""
    held = Claim("backups", name, "t0ken", owner, "2026-11-26T10:00:00+00:00")
    location.put_bytes_if_absent(held.key, held.to_bytes())
    return held


def half_written(location: Location, name: str, owner: Owner) -> Path:
    """Debris of a killed backup: its claim, a stored index, a half-written archive."""
    plant_claim(location, name, owner)
    location.put_bytes(BackupKeys(name).index, b"index")
    root = Path(location.url.removeprefix("file://"))
    temp = root / "backups" / name / ".backupd-tmp-killed"
    temp.write_bytes(b"half an archive")
    return temp


def commit(location: Location, name: str, phase: str = "Completed") -> None:
    document = {"metadata": {"name": name}, "status": {"phase": phase}}
    location.put_bytes(BackupKeys(name).metadata, json.dumps(document).encode())


def test_the_first_claim_wins_and_the_second_hears_already_exists(location: Location) -> None:
    mine = claims.claim(location, "nightly")
    before = location.get_bytes(mine.key)
    with pytest.raises(UserInputError, match="backup 'nightly' already exists") as caught:
        claims.claim(location, "nightly")
    assert f"pid {os.getpid()}" in str(caught.value)  # who holds it
    assert location.get_bytes(mine.key) == before
    assert location.list("backups/") == [claim_key("backups", "nightly")]


def test_of_many_concurrent_claims_of_one_name_exactly_one_wins(location: Location) -> None:
    results: list[str] = []
    barrier = threading.Barrier(12)

    def attempt() -> None:
        barrier.wait()
        try:
            claims.claim(location, "race")
            results.append("won")
        except UserInputError:
            results.append("lost")

    threads = [threading.Thread(target=attempt) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["lost"] * 11 + ["won"]


def test_a_committed_backup_without_a_claim_still_takes_the_name(location: Location) -> None:
    commit(location, "old")
    with pytest.raises(UserInputError, match="backup 'old' already exists"):
        claims.claim(location, "old")
    assert location.list("backups/") == [BackupKeys("old").metadata]


def test_a_run_that_stored_nothing_gives_the_name_back(location: Location) -> None:
    mine = claims.claim(location, "early-failure")
    assert claims.release(location, mine)
    assert location.list("backups/") == []
    claims.claim(location, "early-failure")


def test_a_run_that_stored_data_keeps_its_claim(location: Location) -> None:
    mine = claims.claim(location, "partial")
    location.put_bytes(BackupKeys("partial").index, b"index")
    assert not claims.release(location, mine)
    assert location.exists(mine.key)


def test_release_never_removes_someone_elses_claim(location: Location) -> None:
    theirs = plant_claim(location, "theirs", Owner.me())
    impostor = Claim("backups", "theirs", "other-token", Owner.me(), "")
    assert not claims.release(location, impostor)
    assert location.exists(theirs.key)


def test_a_dead_writers_name_says_so_and_how_to_clean_up(location: Location) -> None:
    plant_claim(location, "killed", dead_owner())
    with pytest.raises(UserInputError) as caught:
        claims.claim(location, "killed")
    message = str(caught.value)
    assert "already exists" in message and "is gone and it never completed" in message
    assert "backupctl backup delete killed" in message


def test_a_new_claim_aborts_the_unfinished_uploads_of_dead_writers_only(
    location: Location,
) -> None:
    dead_temp = half_written(location, "killed", dead_owner())
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        alive = Owner(sleeper.pid, process_start(sleeper.pid), socket.gethostname(), "")
        live_temp = half_written(location, "running", alive)
        claims.claim(location, "next")
        assert not dead_temp.exists()
        assert live_temp.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_deleting_a_dead_backup_removes_its_debris_and_the_claim_last(
    location: Location,
) -> None:
    temp = half_written(location, "killed", dead_owner())
    doomed = catalog.deletion(location, "killed")
    assert [u.key for u in doomed.uploads] == ["backups/killed/.backupd-tmp-killed"]
    assert doomed.execute() == 3
    assert not temp.exists()
    assert location.list("backups/") == []
    claims.claim(location, "killed")  # the name is free again


def test_a_backup_still_being_written_here_is_not_deleted(location: Location) -> None:
    half_written(location, "running", Owner.me())
    with pytest.raises(UserInputError, match=r"still being written .*wait for it to finish"):
        catalog.deletion(location, "running")
    assert location.exists(BackupKeys("running").index)


def test_a_committed_backup_is_deleted_even_while_its_writer_lives_on(
    location: Location,
) -> None:
    plant_claim(location, "done", Owner.me())  # the controller that made it still runs
    commit(location, "done")
    assert catalog.deletion(location, "done").execute() == 2
    assert location.list("backups/") == []


def test_deleting_a_name_with_nothing_stored_is_not_found(location: Location) -> None:
    with pytest.raises(NotFoundError, match="backup ghost not found"):
        catalog.deletion(location, "ghost")


def test_a_claim_is_read_leniently() -> None:
    assert Claim.parse("backups", "x", b"not json") is None
    assert Claim.parse("backups", "x", b'{"owner": "nobody"}') is None
    mine = Claim.mine("backups", "x")
    parsed = Claim.parse("backups", "x", mine.to_bytes())
    assert parsed == mine
