"""Read an archive from a local file: the index, and every object with its digest checked."""

from __future__ import annotations

import gzip
import hashlib
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import zstandard

from backupd.archive.format import INDEX_MEMBER, IndexEntry
from backupd.errors import ArchiveError

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


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


class ArchiveReader:
    """Sequential access to a local archive file, verifying each member's sha256."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _members(self) -> Iterator[tuple[tarfile.TarInfo, bytes]]:
        try:
            with (
                _open_decompressed(self.path) as stream,
                tarfile.open(fileobj=stream, mode="r|") as tar,
            ):
                for info in tar:
                    if not info.isfile():
                        continue
                    f = tar.extractfile(info)
                    if f is None:
                        continue
                    yield info, f.read()
        except (tarfile.TarError, OSError, EOFError, zstandard.ZstdError) as e:
            raise ArchiveError(f"archive {self.path.name} is corrupt: {e}") from e

    def index(self) -> tuple[dict[str, Any], list[IndexEntry]]:
        for info, data in self._members():
            if info.name == INDEX_MEMBER:
                return read_index_lines(iter(data.splitlines()), self.path.name)
        raise ArchiveError(f"archive {self.path.name} has no index")

    def objects(
        self, entries: list[IndexEntry] | None = None
    ) -> Iterator[tuple[IndexEntry, dict[str, Any]]]:
        """Every indexed object, in archive order; a digest mismatch raises ArchiveError."""
        by_path = {e.path: e for e in (entries if entries is not None else self.index()[1])}
        seen = 0
        for info, data in self._members():
            entry = by_path.get(info.name)
            if entry is None:
                continue
            if hashlib.sha256(data).hexdigest() != entry.sha256:
                raise ArchiveError(
                    f"archive member {info.name} does not match its sha256 in the index"
                )
            try:
                obj = orjson.loads(data)
            except orjson.JSONDecodeError as e:
                raise ArchiveError(f"archive member {info.name} is not valid JSON") from e
            seen += 1
            yield entry, obj
        if seen != len(by_path):
            raise ArchiveError(
                f"archive {self.path.name} lacks {len(by_path) - seen} indexed items"
            )

    def read(self, path: str) -> dict[str, Any]:
        for info, data in self._members():
            if info.name == path:
                result: dict[str, Any] = orjson.loads(data)
                return result
        raise ArchiveError(f"{path} is not in archive {self.path.name}")
