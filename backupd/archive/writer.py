"""Write an archive to a local file as items arrive; memory stays flat.

The tar stream is built here directly (ustar headers, a PAX header only for paths
too long for ustar), because tarfile's per-member overhead dominated backups of
many small objects. Compression runs in a second thread: zlib and zstd release the
GIL, so on a machine with two cores listing and compressing overlap.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import queue
import threading
import time
import zlib
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol

import orjson
import zstandard

from backupd.archive.format import FORMAT_VERSION, INDEX_MEMBER, IndexEntry, member_path

# gzip level 9 (Python's default) costs several times level 1 for a few percent.
GZIP_LEVEL = 1
ZSTD_LEVEL = 3
BLOCK = 512
_CHUNK = 1 << 20


class _Compressor(Protocol):
    def compress(self, data: bytes) -> bytes: ...
    def flush(self) -> bytes: ...


def _octal(value: int, width: int) -> bytes:
    return f"{value:0{width - 1}o}".encode() + b"\0"


def _split_ustar(path: bytes) -> tuple[bytes, bytes] | None:
    """(prefix, name) for ustar, or None if the path does not fit."""
    if len(path) <= 100:
        return b"", path
    cut = path.rfind(b"/", 0, 156)
    while cut > 0:
        if len(path) - cut - 1 <= 100:
            return path[:cut], path[cut + 1 :]
        cut = path.rfind(b"/", 0, cut)
    return None


def _header(
    name: bytes, size: int, mtime: int, typeflag: bytes = b"0", prefix: bytes = b""
) -> bytes:
    fields = [
        name.ljust(100, b"\0"),
        _octal(0o644, 8),
        _octal(0, 8),
        _octal(0, 8),
        _octal(size, 12),
        _octal(mtime, 12),
        b" " * 8,  # checksum placeholder
        typeflag,
        b"\0" * 100,
        b"ustar\x0000",
        b"backupd".ljust(32, b"\0"),
        b"backupd".ljust(32, b"\0"),
        b"\0" * 16,
        prefix.ljust(155, b"\0"),
        b"\0" * 12,
    ]
    block = b"".join(fields)
    checksum = f"{sum(block):06o}\0 ".encode()
    return block[:148] + checksum + block[156:]


def tar_member(path: str, data: bytes, mtime: int) -> bytes:
    """One tar member: header(s), data, padding."""
    raw = path.encode()
    split = _split_ustar(raw)
    out = b""
    if split is None:
        record = b" path=" + raw + b"\n"
        length = len(record) + len(str(len(record)))
        length = len(record) + len(str(length))  # the length counts its own digits
        pax = str(length).encode() + record
        out += _header(b"././@PaxHeader", len(pax), mtime, b"x") + pax + b"\0" * (-len(pax) % BLOCK)
        split = (b"", raw[-100:])
    prefix, name = split
    return (
        out + _header(name, len(data), mtime, prefix=prefix) + data + b"\0" * (-len(data) % BLOCK)
    )


class _CompressingFile:
    """Compress chunks in a background thread and write them to a file."""

    def __init__(self, path: Path, compression: Literal["gzip", "zstd"]) -> None:
        self._file = path.open("wb")
        self._compressor: _Compressor
        if compression == "zstd":
            self._compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compressobj()
        else:
            self._compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)  # 31: gzip container
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="archive-compress", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while (chunk := self._queue.get()) is not None:
                self._file.write(self._compressor.compress(chunk))
            self._file.write(self._compressor.flush())
        except BaseException as e:
            self._error = e
            while self._queue.get() is not None:  # drain so the producer never blocks
                pass
        finally:
            self._file.close()

    def write(self, chunk: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(chunk)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error


class ArchiveWriter:
    """A tar stream (gzip or zstd) of JSON members, plus a JSON-lines index file.

    The index (plain JSON lines) is written to a second local file as entries arrive,
    then appended to the tar as its last member on close(); `gzip_file` makes the
    compressed copy stored beside the archive.
    """

    def __init__(
        self,
        path: Path,
        index_path: Path,
        *,
        compression: Literal["gzip", "zstd"] = "gzip",
        header: dict[str, Any] | None = None,
    ) -> None:
        self.path = path
        self.index_path = index_path
        self.compression = compression
        self._out = _CompressingFile(path, compression)
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._index_lines: list[bytes] = []
        self._index = index_path.open("wb")
        self._index.write(orjson.dumps({"formatVersion": FORMAT_VERSION, **(header or {})}) + b"\n")
        self._mtime = int(time.time())
        self.count = 0
        self.closed = False

    def _emit(self, data: bytes) -> None:
        self._buffer.append(data)
        self._buffered += len(data)
        if self._buffered >= _CHUNK:
            self._flush()

    def _flush(self) -> None:
        if self._buffer:
            self._out.write(b"".join(self._buffer))
            self._buffer, self._buffered = [], 0
        if self._index_lines:
            self._index.write(b"".join(self._index_lines))
            self._index_lines = []

    def add(
        self,
        *,
        group: str,
        version: str,
        kind: str,
        resource: str,
        namespace: str | None,
        name: str,
        data: bytes,
    ) -> IndexEntry:
        digest = hashlib.sha256(data).hexdigest()
        entry = IndexEntry(group, version, kind, resource, namespace, name, digest, len(data))
        self._emit(tar_member(member_path(resource, group, namespace, name), data, self._mtime))
        self._index_lines.append(orjson.dumps(entry) + b"\n")  # the IndexEntry's fields
        self.count += 1
        return entry

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._flush()
        self._index.close()
        size = self.index_path.stat().st_size
        with self.index_path.open("rb") as index:
            split = _split_ustar(INDEX_MEMBER.encode())
            assert split is not None
            self._out.write(_header(split[1], size, self._mtime))
            while chunk := index.read(_CHUNK):
                self._out.write(chunk)
        self._out.write(b"\0" * (-size % BLOCK) + b"\0" * (2 * BLOCK))
        self._out.close()

    def abort(self) -> None:
        self.closed = True
        for close in (self._index.close, self._out.close):
            with contextlib.suppress(Exception):  # best effort on the failure path
                close()

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def gzip_file(source: Path, dest: Path) -> None:
    """Compress a file to another, streaming."""
    with source.open("rb") as src, gzip.open(dest, "wb", compresslevel=6) as out:
        while chunk := src.read(_CHUNK):
            out.write(chunk)
