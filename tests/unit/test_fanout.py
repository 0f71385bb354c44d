"""Many small reads at once: in order, errors as a serial loop raises them."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from backupd.errors import StorageError
from backupd.storage import fanout
from backupd.storage.location import open_location


class SlowReads:
    """Reads that take `seconds` each, counting how many are in flight at once. With
    `together`, the first that many reads each wait (up to 10 s) until all of them have
    started, so a fan-out that runs fewer at once fails the test whatever the machine's load."""

    def __init__(self, seconds: float, failing: set[int] | None = None, together: int = 0) -> None:
        self.seconds = seconds
        self.failing = failing or set()
        self.together = threading.Barrier(together) if together else None
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most = 0
        self.started: list[int] = []

    def __call__(self, i: int) -> str:
        with self.lock:
            self.started.append(i)
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        try:
            if self.together is not None and i < self.together.parties:
                self.together.wait(timeout=10)
            time.sleep(self.seconds)
            if i in self.failing:
                raise StorageError(f"cannot read {i}")
            return f"record {i}"
        finally:
            with self.lock:
                self.in_flight -= 1


def test_reads_run_together_and_come_back_in_order() -> None:
    reads = SlowReads(0.01, together=8)
    assert fanout.each(reads, list(range(40)), readers=8) == [f"record {i}" for i in range(40)]
    assert reads.most == 8


def test_one_reader_or_one_item_reads_in_this_thread_one_at_a_time() -> None:
    reads = SlowReads(0.0)
    assert fanout.each(reads, [1, 2, 3], readers=1) == ["record 1", "record 2", "record 3"]
    assert fanout.each(reads, [7]) == ["record 7"]
    assert reads.most == 1


def test_the_first_error_in_order_is_raised_and_reads_not_started_are_cancelled() -> None:
    reads = SlowReads(0.05, failing={3, 5})
    with pytest.raises(StorageError, match="cannot read 3"):
        fanout.each(reads, list(range(200)), readers=4)
    assert len(reads.started) < 200
    assert reads.in_flight == 0  # none left running after the call returns


def test_a_local_directory_is_read_one_record_at_a_time_a_remote_store_sixteen(
    tmp_path: Path,
) -> None:
    assert fanout.readers_for(open_location(tmp_path.as_uri())) == 1
    remote = open_location(
        "s3://bucket?endpoint=http://127.0.0.1:9&region=us-east-1",
        credentials={"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"},
    )
    assert fanout.readers_for(remote) == fanout.READERS == 16
