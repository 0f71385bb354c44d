"""The small protocol every object store backend implements.

Keys are '/'-separated relative paths (already validated by `layout`). Objects are
streamed both ways; no backend may hold a whole object in memory (except the small
objects of `put_bytes_if_absent`, which are bytes to begin with).

Pending uploads are writes that started and never finished: an S3 multipart upload
nobody completed or aborted, a hidden temporary file of the local store. A process
killed mid-write leaves them behind; they are listed and aborted by key prefix. GCS
resumable sessions cannot be listed and leave no object (they expire after a week),
so that backend has none.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from backupd.errors import StorageError, StorageNotFound


class BucketNotFound(StorageNotFound):
    """The bucket (or root directory) itself is missing."""


class ObjectNotFound(StorageNotFound):
    """The bucket is there; the object is not."""

    def __init__(self, key: str, url: str) -> None:
        super().__init__(f"object {key} does not exist in {url}")
        self.key = key


class ObjectExists(StorageError):
    """A conditional create found the key taken (by someone else's write)."""

    def __init__(self, key: str, url: str) -> None:
        super().__init__(f"object {key} already exists in {url}")
        self.key = key


@dataclass(frozen=True)
class PutResult:
    key: str
    size: int
    sha256: str


@dataclass(frozen=True)
class PendingUpload:
    """A write that was started and never finished (see the module doc)."""

    key: str  # the object it was writing (local: the temporary file's own key)
    upload_id: str
    started: datetime.datetime | None = None


class ObjectStore(Protocol):
    """A bucket (or directory) plus a prefix."""

    url: str

    def put(self, key: str, stream: BinaryIO) -> PutResult:
        """Write `key` from a readable stream; returns its size and sha256 hex digest."""
        ...

    def put_bytes_if_absent(self, key: str, data: bytes) -> PutResult:
        """Create `key` only if no object has that key, atomically (S3 If-None-Match: *,
        GCS ifGenerationMatch=0, a local hard link); ObjectExists if it was taken.
        Finding the very same bytes there is a success (a retry whose first try did it)."""
        ...

    def get(self, key: str) -> AbstractContextManager[BinaryIO]:
        """A readable stream of `key`; raises StorageNotFound if it does not exist."""
        ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str) -> Iterator[str]:
        """Every key that starts with `prefix`, in lexical order."""
        ...

    def delete(self, key: str) -> None:
        """Delete `key`; deleting a missing key is not an error."""
        ...

    def pending_uploads(self, prefix: str) -> Iterator[PendingUpload]:
        """Unfinished writes of keys that start with `prefix`."""
        ...

    def abort_upload(self, upload: PendingUpload) -> None:
        """Abort (discard) one unfinished write; one already gone is not an error."""
        ...
