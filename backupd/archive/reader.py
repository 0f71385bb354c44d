"""Read a backup's index and archive, believing nothing before it is checked.

    read_index(stream, source)       the stored index (backupd.archive.index)
    ArchiveReader(open, index, ...)  one pass over the archive, checked against the index:
                                     exactly the indexed members, each once, of the size
                                     and sha256 the index says; an inner index (if any)
                                     byte for byte the stored one; no link, device,
                                     absolute or '..' name; at most the bytes the index
                                     allows, decompressed
    parse_object(entry, data, ...)   an object's JSON, and it is the object its entry names

Every problem is an ArchiveError naming the backup (`source`). Peak memory is the
index plus the members a caller keeps: a member's data is read only after its
declared size matched the index, and no member may exceed MAX_MEMBER_SIZE.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, BinaryIO

import orjson
import zstandard

from backupd.archive.format import (
    INDEX_MEMBER,
    MAX_INDEX_BYTES,
    MAX_MEMBER_SIZE,
    IndexEntry,
    decompressed_limit,
)
from backupd.archive.index import DECOMPRESS_ERRORS, Index, bulk, read_index_lines
from backupd.archive.index import read_index as read_index  # re-exported
from backupd.archive.index import read_index_file as read_index_file
from backupd.archive.tar import TarProblem, TarStream
from backupd.errors import ArchiveError, BackupdError, IntegrityError, TrustError

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20

Opener = Callable[[], AbstractContextManager[BinaryIO]]
Keep = Callable[[IndexEntry, bytes], None]


def parse_object(entry: IndexEntry, data: bytes, source: str) -> dict[str, Any]:
    """The object in `data`, refused unless it is valid JSON and the object `entry` names."""
    try:
        obj: Any = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise ArchiveError(
            f"the archive of {source} is refused: {entry.path} is not JSON"
        ) from None
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    if not isinstance(meta, dict):
        raise ArchiveError(f"the archive of {source} is refused: {entry.path} is not an object")
    held = (obj.get("apiVersion"), obj.get("kind"), meta.get("namespace") or None, meta.get("name"))
    if held != (entry.api_version, entry.kind, entry.namespace, entry.name):
        what = "/".join(str(p) for p in held if p)
        raise ArchiveError(
            f"the archive of {source} is refused: {entry.path} holds {what[:200]}, "
            "not the object its index entry names"
        )
    result: dict[str, Any] = obj
    return result


class _Prefixed:
    """A stream whose first bytes were already read (to tell gzip from zstd)."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = head
        self._rest = rest

    def read(self, n: int = -1) -> bytes:
        if not self._head:
            return self._rest.read(n)
        if n < 0:
            head, self._head = self._head, b""
            return head + self._rest.read()
        head, self._head = self._head[:n], self._head[n:]
        return head if len(head) == n else head + self._rest.read(n - len(head))


def _decompressed(raw: BinaryIO) -> Any:
    head = raw.read(4)
    stream: Any = _Prefixed(head, raw)
    if head.startswith(_GZIP_MAGIC):
        return gzip.GzipFile(fileobj=stream, mode="rb")
    if head == _ZSTD_MAGIC:
        return zstandard.ZstdDecompressor().stream_reader(stream, read_size=_CHUNK)
    raise TarProblem("it is not a gzip or zstd stream")


def drain(raw: BinaryIO) -> None:
    """Read the rest, so that a stream checking its digest at EOF can say it is corrupt."""
    try:
        while raw.read(_CHUNK):
            pass
    except (IntegrityError, TrustError):
        raise
    except (BackupdError, OSError):
        pass


class ArchiveReader:
    """One pass over an archive (a local file, or a stream from `open`), checked against
    `index` (None: the archive's own inner index, for tools and tests)."""

    def __init__(
        self, archive: Path | Opener, index: Index | None = None, *, source: str | None = None
    ) -> None:
        if isinstance(archive, Path):
            path = archive
            self._open: Opener = lambda: path.open("rb")
            self.source = source or f"archive {path.name}"
        else:
            self._open = archive
            self.source = source or "archive"
        self._index = index

    def _refused(self, problem: str) -> ArchiveError:
        return ArchiveError(f"the archive of {self.source} is refused: {problem}")

    def scan(self, keep: Keep, index: Index | None = None) -> None:
        """Check every member; `keep` gets each item's data once it matched its sha256.
        Nothing kept may be acted on unless scan returns: only then is the set exact."""
        index = index or self._index or self._inner_index()
        sizes = [e.size for e in index.entries]
        limit = decompressed_limit(sizes, index.size if index.size is not None else MAX_INDEX_BYTES)
        with self._open() as raw:
            try:
                try:
                    with bulk():
                        self._walk(TarStream(_decompressed(raw).read, limit), index, keep)
                except TarProblem as e:
                    raise self._refused(str(e)) from None
                except DECOMPRESS_ERRORS as e:
                    raise self._refused(f"it is not a valid compressed stream ({e})") from None
            except ArchiveError:
                drain(raw)  # a digest mismatch of the stored bytes says more: IntegrityError
                raise

    def _walk(self, tar: TarStream, index: Index, keep: Keep) -> None:
        remaining = dict(index.by_path)
        inner = False
        while (member := tar.next()) is not None:
            if member.directory:
                continue
            name, size = member.name, member.size
            if name == INDEX_MEMBER:
                if inner:
                    raise TarProblem(f"member {INDEX_MEMBER} appears twice")
                inner = True
                self._check_inner(tar, size, index)
                continue
            entry = remaining.pop(name, None)
            if entry is None:
                again = name in index.by_path
                raise TarProblem(
                    f"member {name} {'appears twice' if again else 'is not in the index'}"
                )
            if size != entry.size:
                raise TarProblem(f"member {name} has {size} bytes; the index says {entry.size}")
            data = tar.data(size)
            if hashlib.sha256(data).hexdigest() != entry.sha256:
                raise TarProblem(f"member {name} does not match its sha256 in the index")
            keep(entry, data)
        if remaining:
            first = next(iter(remaining))
            raise TarProblem(f"{len(remaining)} indexed item(s) are missing, e.g. {first}")

    @staticmethod
    def _check_inner(tar: TarStream, size: int, index: Index) -> None:
        if index.sha256 is None:  # no stored copy to compare with: only bounded
            if size > MAX_INDEX_BYTES:
                raise TarProblem(f"its inner index of {size} bytes is over {MAX_INDEX_BYTES}")
            for _ in tar.chunks(size):
                pass
            return
        if size != index.size:
            raise TarProblem("its inner index differs from the stored index")
        digest = hashlib.sha256()
        for chunk in tar.chunks(size):
            digest.update(chunk)
        if digest.hexdigest() != index.sha256:
            raise TarProblem("its inner index differs from the stored index")

    def _inner_index(self) -> Index:
        """The archive's own index member (only when no stored index was given)."""
        with self._open() as raw:
            try:
                tar = TarStream(_decompressed(raw).read, 1 << 62)
                while (member := tar.next()) is not None:
                    if member.name == INDEX_MEMBER and not member.directory:
                        if member.size > MAX_INDEX_BYTES:
                            raise TarProblem(f"its index of {member.size} bytes is too large")
                        lines = b"".join(tar.chunks(member.size)).splitlines(keepends=True)
                        header, entries = read_index_lines(lines, self.source)
                        return Index.of(header, entries, self.source)
                    if member.size > MAX_MEMBER_SIZE:
                        raise TarProblem(f"member {member.name} is over {MAX_MEMBER_SIZE} bytes")
                    tar.data(member.size)
            except TarProblem as e:
                raise self._refused(str(e)) from None
            except DECOMPRESS_ERRORS as e:
                raise self._refused(f"it is not a valid compressed stream ({e})") from None
        raise self._refused("it has no index")

    def index(self) -> tuple[dict[str, Any], list[IndexEntry]]:
        index = self._index or self._inner_index()
        return index.header, index.entries

    def objects(
        self, entries: list[IndexEntry] | None = None
    ) -> Iterator[tuple[IndexEntry, dict[str, Any]]]:
        """The objects of `entries` (default: every item), in archive order, after the
        whole archive was checked. Without a stored index, `entries` is the index."""
        index = self._index
        if index is None and entries is not None:
            index = Index.of({}, entries, self.source)
        index = index or self._inner_index()
        # The index's own entries, by identity: no second copy of 200k paths in memory.
        wanted = None
        if entries is not None:
            wanted = {id(index.by_path.get(e.path)) for e in entries}
            wanted.discard(id(None))
            if len(wanted) == len(index.entries):
                wanted = None  # every item: the set need not be kept while reading
        kept: list[tuple[IndexEntry, bytes]] = []

        def keep(entry: IndexEntry, data: bytes) -> None:
            if wanted is None or id(entry) in wanted:
                kept.append((entry, data))

        self.scan(keep, index)
        kept.reverse()
        while kept:  # each member's bytes are let go once parsed
            entry, data = kept.pop()
            yield entry, parse_object(entry, data, self.source)

    def read(self, path: str) -> dict[str, Any]:
        """One object, after the whole archive was checked."""
        index = self._index or self._inner_index()
        entry = index.by_path.get(path)
        if entry is None:
            raise ArchiveError(f"{path} is not in the index of {self.source}")
        return next(self.objects([entry]))[1]
