"""Stream adapters shared by the backends: hash while writing, verify while reading.

None of them buffers more than the chunk asked for, so objects of any size stream.
"""

from __future__ import annotations

import hashlib
import io
import zlib
from collections.abc import Callable
from typing import BinaryIO

from backupd.api.progress import Cancel, check
from backupd.errors import ArchiveError, IntegrityError

CHUNK = 1024 * 1024


class HashingReader:
    """Wraps a readable stream; counts bytes and computes sha256 of what was read.

    It is deliberately not seekable, so upload libraries read it once, in order.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._digest = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        if data:
            self._digest.update(data)
            self.size += len(data)
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


class _CallableRaw(io.RawIOBase):
    def __init__(self, read: Callable[[int], bytes], close: Callable[[], None]) -> None:
        self._read = read
        self._close = close

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._read(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n

    def close(self) -> None:
        if not self.closed:
            try:
                self._close()
            finally:
                super().close()


def reader(read: Callable[[int], bytes], close: Callable[[], None] = lambda: None) -> BinaryIO:
    """A buffered binary stream over a `read(n) -> bytes` function (b'' at EOF)."""
    return io.BufferedReader(_CallableRaw(read, close), CHUNK)


class StoppingReader(io.RawIOBase):
    """Reads through `stream` until `cancel` is set, then raises Cancelled.

    An upload reading from it stops at the next chunk when its run is cancelled (Ctrl-C),
    and the store aborts the partial write as it does for any failed read.
    """

    def __init__(self, stream: BinaryIO, cancel: Cancel) -> None:
        self._stream = stream
        self._cancel = cancel

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        check(self._cancel)
        data = self._stream.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n


def stopping(stream: BinaryIO, cancel: Cancel) -> BinaryIO:
    return io.BufferedReader(StoppingReader(stream, cancel), CHUNK)


class VerifyingReader(io.RawIOBase):
    """Reads through `stream` and checks its sha256 when EOF is reached.

    A mismatch raises IntegrityError from the read that hits EOF, so a consumer that
    reads to the end can never treat corrupt data as good.
    """

    def __init__(self, stream: BinaryIO, expected_sha256: str, what: str) -> None:
        self._stream = stream
        self._expected = expected_sha256.lower()
        self._what = what
        self._digest = hashlib.sha256()
        self.size = 0
        self.verified = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._stream.read(len(buffer))
        if not data:
            self._verify()
            return 0
        n = len(data)
        buffer[:n] = data
        self._digest.update(data)
        self.size += n
        return n

    def _verify(self) -> None:
        if self.verified:
            return
        actual = self._digest.hexdigest()
        if actual != self._expected:
            raise IntegrityError(
                f"corrupt object: sha256 mismatch for {self._what}: expected "
                f"{self._expected[:16]}..., got {actual[:16]}... ({self.size} bytes); "
                "refusing the data"
            )
        self.verified = True


def verifying(stream: BinaryIO, expected_sha256: str, what: str) -> BinaryIO:
    return io.BufferedReader(VerifyingReader(stream, expected_sha256, what), CHUNK)


def gunzip_bounded(data: bytes, limit: int, what: str) -> bytes:
    """Decompress a small gzip object, refusing more than `limit` bytes (a gzip bomb
    gets an ArchiveError, never a huge allocation)."""
    try:
        plain = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data, limit + 1)
    except zlib.error:
        raise ArchiveError(f"{what} is not valid gzip") from None
    if len(plain) > limit:
        raise ArchiveError(f"{what} decompresses to more than {limit} bytes")
    return plain
