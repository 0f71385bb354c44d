"""Streaming authenticated encryption: AES-256-GCM over fixed-size chunks.

    header   magic "BKDCHNK1" | chunk size (4 bytes, big endian) | nonce prefix (7 bytes)
    chunk i  AES-256-GCM(key, nonce = prefix | i (4 bytes) | final (1 byte),
                         plaintext[i], associated data = header | context)

Every chunk but the last holds exactly `chunk size` plaintext bytes; the last one is
marked final (it may be empty). A reader that finds a chunk out of place (reordered
or dropped), a last chunk not marked final (truncated at a chunk boundary), data
after the final chunk, or one altered bit, fails before handing out the chunk's
plaintext. Both directions hold at most two chunks in memory.
"""

from __future__ import annotations

import io
import secrets
import struct
from typing import TYPE_CHECKING, BinaryIO

from backupd.errors import TrustError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"BKDCHNK1"
CHUNK_SIZE = 1024 * 1024
MAX_CHUNK_SIZE = 16 * 1024 * 1024
TAG = 16
_PREFIX = 7
HEADER_SIZE = len(MAGIC) + 4 + _PREFIX
_MAX_CHUNKS = 2**32


def _read_full(stream: BinaryIO, size: int) -> bytes:
    """Up to `size` bytes: fewer only at end of stream."""
    parts: list[bytes] = []
    left = size
    while left > 0:
        data = stream.read(left)
        if not data:
            break
        parts.append(data)
        left -= len(data)
    return b"".join(parts)


def _nonce(prefix: bytes, index: int, final: bool) -> bytes:
    return prefix + struct.pack(">I", index) + (b"\x01" if final else b"\x00")


def _aesgcm(key: bytes) -> AESGCM:
    """cryptography is imported on first use, not when the CLI starts (see trust.keys)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


def _invalid_tag() -> type[Exception]:
    from cryptography.exceptions import InvalidTag

    return InvalidTag


class _Buffered(io.RawIOBase):
    """read(size) over chunks produced on demand by `_next()` (None at the end).
    A raw stream: wrap it in io.BufferedReader where a file object is wanted."""

    def __init__(self) -> None:
        super().__init__()
        self._buffer = bytearray()
        self._done = False

    def _next(self) -> bytes | None:
        raise NotImplementedError

    def read(self, size: int = -1) -> bytes:
        while not self._done and (size < 0 or len(self._buffer) < size):
            chunk = self._next()
            if chunk is None:
                self._done = True
            else:
                self._buffer += chunk
        if size < 0 or size >= len(self._buffer):
            out = bytes(self._buffer)
            self._buffer.clear()
            return out
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        return out

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False


class EncryptingReader(_Buffered):
    """Reads as the encrypted form of `source` (for uploading)."""

    def __init__(
        self, source: BinaryIO, key: bytes, context: bytes, *, chunk_size: int = CHUNK_SIZE
    ) -> None:
        super().__init__()
        if not 0 < chunk_size <= MAX_CHUNK_SIZE:
            raise ValueError(f"chunk size {chunk_size} out of range")
        self._source = source
        self._aead = _aesgcm(key)
        self._chunk_size = chunk_size
        self._prefix = secrets.token_bytes(_PREFIX)
        self._header = MAGIC + struct.pack(">I", chunk_size) + self._prefix
        self._aad = self._header + context
        self._index = -1  # -1: the header is next
        self._current: bytes | None = None
        self._finished = False

    def _next(self) -> bytes | None:
        if self._finished:
            return None
        if self._index < 0:
            self._index = 0
            self._current = _read_full(self._source, self._chunk_size)
            return self._header
        assert self._current is not None
        following = (
            _read_full(self._source, self._chunk_size)
            if len(self._current) == self._chunk_size
            else b""
        )
        final = not following
        if self._index >= _MAX_CHUNKS:
            raise ValueError("too many chunks")
        nonce = _nonce(self._prefix, self._index, final)
        out = self._aead.encrypt(nonce, self._current, self._aad)
        self._index += 1
        self._current = following
        self._finished = final
        return out


class DecryptingReader(_Buffered):
    """Reads as the plaintext of an encrypted `source`; raises TrustError (naming
    `what`) on any damage, before the damaged chunk's plaintext is returned."""

    def __init__(self, source: BinaryIO, key: bytes, context: bytes, what: str) -> None:
        super().__init__()
        self._source = source
        self._what = what
        header = _read_full(source, HEADER_SIZE)
        if len(header) != HEADER_SIZE or not header.startswith(MAGIC):
            raise TrustError(f"{what} is not encrypted data of backupd (bad header)")
        (chunk_size,) = struct.unpack(">I", header[len(MAGIC) : len(MAGIC) + 4])
        if not 0 < chunk_size <= MAX_CHUNK_SIZE:
            raise TrustError(f"{what} declares a chunk size of {chunk_size} bytes; refused")
        self._aead = _aesgcm(key)
        self._prefix = header[len(MAGIC) + 4 :]
        self._aad = header + context
        self._sealed_size = chunk_size + TAG
        self._index = 0
        self._current: bytes | None = _read_full(source, self._sealed_size)
        self._finished = False

    def _next(self) -> bytes | None:
        if self._finished:
            return None
        current = self._current
        assert current is not None
        following = (
            _read_full(self._source, self._sealed_size)
            if len(current) == self._sealed_size
            else b""
        )
        final = not following
        if len(current) < TAG:
            raise TrustError(f"{self._what} is truncated (chunk {self._index} is incomplete)")
        try:
            plain = self._aead.decrypt(_nonce(self._prefix, self._index, final), current, self._aad)
        except _invalid_tag():
            raise TrustError(
                f"{self._what} does not decrypt at chunk {self._index} (wrong key, or "
                "truncated, reordered or altered data); the backup may have been tampered with"
            ) from None
        self._index += 1
        self._current = following
        self._finished = final
        return plain
