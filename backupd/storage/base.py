"""The small protocol every object store backend implements.

Keys are '/'-separated relative paths (already validated by `layout`). Objects are
streamed both ways; no backend may hold a whole object in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from backupd.errors import StorageNotFound


class BucketNotFound(StorageNotFound):
    """The bucket (or root directory) itself is missing."""


class ObjectNotFound(StorageNotFound):
    """The bucket is there; the object is not."""

    def __init__(self, key: str, url: str) -> None:
        super().__init__(f"object {key} does not exist in {url}")
        self.key = key


@dataclass(frozen=True)
class PutResult:
    key: str
    size: int
    sha256: str


class ObjectStore(Protocol):
    """A bucket (or directory) plus a prefix."""

    url: str

    def put(self, key: str, stream: BinaryIO) -> PutResult:
        """Write `key` from a readable stream; returns its size and sha256 hex digest."""
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
