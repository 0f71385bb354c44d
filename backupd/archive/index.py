"""A backup's index: one header line, then one JSON line per item.

    read_index(stream, source)       the stored copy (gzip JSON lines), within the limits of
                                     `format`: lines, bytes and items; every entry checked,
                                     none twice. Its size and sha256 are kept, so that an
                                     inner index in the archive can be compared byte for byte
    Index.of(header, entries, ...)   an index from entries already in hand (tools, tests)

Every problem is an ArchiveError naming the backup (`source`) and the line.
"""

from __future__ import annotations

import gc
import gzip
import hashlib
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson
import zstandard

from backupd.archive.format import (
    FORMAT_VERSION,
    MAX_INDEX_BYTES,
    MAX_INDEX_LINE,
    MAX_ITEMS,
    IndexEntry,
    InvalidEntry,
)
from backupd.errors import ArchiveError

_CHUNK = 1 << 20
DECOMPRESS_ERRORS = (OSError, EOFError, zlib.error, zstandard.ZstdError)


@dataclass(frozen=True)
class Index:
    """A backup's items. `size` and `sha256` are those of its JSON lines when read
    from the stored copy: an inner index in the archive must be the same bytes."""

    header: dict[str, Any]
    entries: list[IndexEntry]
    by_path: dict[str, IndexEntry] = field(repr=False)
    size: int | None = None
    sha256: str | None = None

    @classmethod
    def of(cls, header: dict[str, Any], entries: list[IndexEntry], source: str) -> Index:
        by_path: dict[str, IndexEntry] = {}
        for e in entries:
            if by_path.setdefault(e.path, e) is not e:
                raise ArchiveError(f"the index of {source} lists {e.path} twice")
        return cls(header, entries, by_path)


@contextmanager
def bulk() -> Iterator[None]:
    """No cyclic garbage collection while many small objects are made (none are cycles):
    it cost 40% of reading a 200k-item index."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _index_error(source: str, problem: str) -> ArchiveError:
    return ArchiveError(f"the index of {source} is refused: {problem}")


def _lines(
    chunks: Iterable[bytes], counted: list[int], digest: Any, source: str
) -> Iterator[bytes]:
    """Lines (without their newline) of a stream of chunks; never a line longer than
    MAX_INDEX_LINE or a stream longer than MAX_INDEX_BYTES held."""
    carry = b""
    for chunk in chunks:
        counted[0] += len(chunk)
        if counted[0] > MAX_INDEX_BYTES:
            raise _index_error(source, f"it is larger than {MAX_INDEX_BYTES} bytes")
        digest.update(chunk)
        lines = (carry + chunk).split(b"\n")
        carry = lines.pop()
        if len(carry) > MAX_INDEX_LINE:
            raise _index_error(source, f"a line is longer than {MAX_INDEX_LINE} bytes")
        yield from lines
    if carry:
        yield carry


def _read_lines(chunks: Iterable[bytes], source: str) -> Index:
    header: dict[str, Any] | None = None
    entries: list[IndexEntry] = []
    by_path: dict[str, IndexEntry] = {}
    digest = hashlib.sha256()
    counted = [0]
    from_dict = IndexEntry.from_dict
    for lineno, line in enumerate(_lines(chunks, counted, digest, source), start=1):
        if len(line) > MAX_INDEX_LINE:
            raise _index_error(source, f"line {lineno} is longer than {MAX_INDEX_LINE} bytes")
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise _index_error(source, f"line {lineno} is not JSON") from None
        if header is None:
            version = value.get("formatVersion") if isinstance(value, dict) else None
            if not isinstance(version, int) or isinstance(version, bool):
                raise _index_error(source, "its first line is not an index header")
            if version > FORMAT_VERSION:
                raise _index_error(source, f"format {version} is newer than this backupd reads")
            header = value
            continue
        if len(entries) >= MAX_ITEMS:
            raise _index_error(source, f"it lists more than {MAX_ITEMS} items")
        try:
            entry = from_dict(value)
        except InvalidEntry as e:
            raise _index_error(source, f"line {lineno}: {e}") from None
        path = entry.path
        if by_path.setdefault(path, entry) is not entry:
            raise _index_error(source, f"line {lineno} lists {path} a second time")
        entries.append(entry)
    if header is None:
        raise _index_error(source, "it is empty")
    return Index(header, entries, by_path, counted[0], digest.hexdigest())


def read_index(stream: BinaryIO, source: str) -> Index:
    """The stored index (gzip JSON lines) from `stream`; `source` names the backup."""
    try:
        with gzip.GzipFile(fileobj=stream, mode="rb") as plain, bulk():
            return _read_lines(iter(lambda: plain.read(_CHUNK), b""), source)
    except DECOMPRESS_ERRORS as e:
        raise _index_error(source, f"it is not valid gzip ({type(e).__name__}: {e})") from None


def read_index_lines(
    lines: Iterable[bytes], source: str
) -> tuple[dict[str, Any], list[IndexEntry]]:
    """An index from plain JSON lines (each at most MAX_INDEX_LINE bytes)."""
    index = _read_lines(lines, source)
    return index.header, index.entries


def read_index_file(path: Path) -> tuple[dict[str, Any], list[IndexEntry]]:
    """Read a stored index (gzip JSON lines) from a local file."""
    with path.open("rb") as f:
        index = read_index(f, path.name)
    return index.header, index.entries
