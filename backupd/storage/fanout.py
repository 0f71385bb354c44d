"""Many small reads of one location at once.

Listing backups reads one small record per backup; on a remote store each read is a
round trip, so a year of nightly backups took as many round trips in a row. `each`
runs them on a few threads (boto3's and google-cloud-storage's clients are safe to
share between threads; a local directory is too) and keeps their order. The first
error, in order, is raised as a serial loop would raise it; reads not yet started
are cancelled, and those in flight (each bounded by the store's timeouts) finish.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from backupd.storage.local import LocalStore
from backupd.storage.location import Location

T = TypeVar("T")
R = TypeVar("R")

READERS = 16  # reads in flight at once


def readers_for(location: Location) -> int:
    """Reads of `location` to run at once: READERS for a remote store, one for a local
    directory, where a read costs no round trip and threads only add their overhead
    (365 records: 0.07 s one at a time, 0.2 s sixteen at a time)."""
    return 1 if isinstance(location.store, LocalStore) else READERS


def each(read: Callable[[T], R], items: Sequence[T], *, readers: int | None = None) -> list[R]:
    """[read(i) for i in items], run `readers` (default READERS) at a time, in order."""
    readers = READERS if readers is None else readers
    if len(items) < 2 or readers < 2:
        return [read(i) for i in items]
    pool = ThreadPoolExecutor(max_workers=min(readers, len(items)), thread_name_prefix="read")
    try:
        return list(pool.map(read, items))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
