"""Read an archive from a local file: the index, and every object with its digest checked."""

from __future__ import annotations

import gzip
import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import zstandard

from backupd.archive.format import INDEX_MEMBER, IndexEntry
from backupd.errors import ArchiveError

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
BLOCK = 512
_ZERO_BLOCK = bytes(BLOCK)
_READ_BUFFER = 1 << 20


def _open_decompressed(path: Path) -> Any:
    raw = path.open("rb")
    magic = raw.read(4)
    raw.seek(0)
    if magic.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if magic == _ZSTD_MAGIC:
        return zstandard.ZstdDecompressor().stream_reader(raw, closefd=True)
    raw.close()
    raise ArchiveError(f"{path.name} is not a gzip or zstd archive")


def read_index_lines(
    lines: Iterator[bytes], source: str
) -> tuple[dict[str, Any], list[IndexEntry]]:
    try:
        header = orjson.loads(next(lines))
        entries = [IndexEntry.from_dict(orjson.loads(line)) for line in lines if line.strip()]
    except (StopIteration, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise ArchiveError(f"the index in {source} is corrupt ({type(e).__name__})") from e
    return header, entries


def read_index_file(path: Path) -> tuple[dict[str, Any], list[IndexEntry]]:
    """Read a stored index (gzip JSON lines) from a local file."""
    try:
        with gzip.open(path, "rb") as f:
            return read_index_lines(iter(f), path.name)
    except (OSError, EOFError) as e:
        raise ArchiveError(f"the index {path.name} is unreadable: {e}") from e


def _field(block: bytes, start: int, length: int) -> bytes:
    return block[start : start + length].split(b"\0", 1)[0]


def _number(block: bytes, start: int, length: int) -> int:
    raw = block[start : start + length]
    if raw[0] & 0x80:  # base-256, for sizes beyond the octal field
        return int.from_bytes(raw[1:], "big")
    text = raw.split(b"\0", 1)[0].strip()
    return int(text, 8) if text else 0


def _checksum_ok(block: bytes) -> bool:
    """The header's sum with its checksum field as spaces (some writers sum signed bytes)."""
    stored = _number(block, 148, 8)
    unsigned = sum(block[:148]) + 8 * 32 + sum(block[156:])
    if stored == unsigned:
        return True
    high = sum(1 for b in block[:148] + block[156:] if b > 127)
    return stored == unsigned - 256 * high


def _pax_path(data: bytes) -> str | None:
    """The `path` record of a pax extended header, if any."""
    path = None
    while data:  # records: "<length> <key>=<value>\n", the length counting the whole record
        length_text = data.split(b" ", 1)[0]
        length = int(length_text)
        key, _, value = data[len(length_text) + 1 : length - 1].partition(b"=")
        if key == b"path":
            path = value.decode("utf-8")
        data = data[length:]
    return path


def _tar_files(f: io.BufferedReader) -> Iterator[tuple[str, bytes]]:
    """(path, data) of each regular file in a ustar/pax/GNU tar stream.

    Python's tarfile costs ~50 us a member in Python code; a restore reads every
    member twice (index, then objects), so this reads the headers directly.
    """
    long_name: str | None = None
    while True:
        block = f.read(BLOCK)
        if len(block) < BLOCK:
            raise EOFError("the tar stream ends inside a header")
        if block == _ZERO_BLOCK:
            return
        if not _checksum_ok(block):
            raise EOFError("a tar header has a bad checksum")
        size = _number(block, 124, 12)
        data = f.read(size)
        if len(data) < size:
            raise EOFError("the tar stream ends inside a member")
        f.read(-size % BLOCK)
        kind = block[156:157]
        if kind in (b"x", b"L"):
            long_name = _pax_path(data) if kind == b"x" else data.rstrip(b"\0").decode("utf-8")
            continue
        if kind not in (b"0", b"\0", b"7"):
            long_name = None
            continue  # directories, links, global headers: not archive items
        name = _field(block, 0, 100).decode("utf-8")
        if block[257:262] == b"ustar":
            prefix = _field(block, 345, 155).decode("utf-8")
            name = f"{prefix}/{name}" if prefix else name
        yield (long_name or name), data
        long_name = None


class ArchiveReader:
    """Sequential access to a local archive file, verifying each member's sha256."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _members(self) -> Iterator[tuple[str, bytes]]:
        """(path, data) of every regular file, in archive order."""
        try:
            with _open_decompressed(self.path) as stream:
                yield from _tar_files(io.BufferedReader(stream, _READ_BUFFER))
        except (OSError, EOFError, zstandard.ZstdError) as e:
            raise ArchiveError(f"archive {self.path.name} is corrupt: {e}") from e

    def index(self) -> tuple[dict[str, Any], list[IndexEntry]]:
        for name, data in self._members():
            if name == INDEX_MEMBER:
                return read_index_lines(iter(data.splitlines()), self.path.name)
        raise ArchiveError(f"archive {self.path.name} has no index")

    def objects(
        self, entries: list[IndexEntry] | None = None
    ) -> Iterator[tuple[IndexEntry, dict[str, Any]]]:
        """Every indexed object, in archive order; a digest mismatch raises ArchiveError."""
        by_path = {e.path: e for e in (entries if entries is not None else self.index()[1])}
        seen = 0
        for name, data in self._members():
            entry = by_path.get(name)
            if entry is None:
                continue
            if hashlib.sha256(data).hexdigest() != entry.sha256:
                raise ArchiveError(f"archive member {name} does not match its sha256 in the index")
            try:
                obj = orjson.loads(data)
            except orjson.JSONDecodeError as e:
                raise ArchiveError(f"archive member {name} is not valid JSON") from e
            seen += 1
            yield entry, obj
        if seen != len(by_path):
            raise ArchiveError(
                f"archive {self.path.name} lacks {len(by_path) - seen} indexed items"
            )

    def read(self, path: str) -> dict[str, Any]:
        for name, data in self._members():
            if name == path:
                result: dict[str, Any] = orjson.loads(data)
                return result
        raise ArchiveError(f"{path} is not in archive {self.path.name}")
