"""Write an archive to a local file as items arrive; memory stays flat."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import tarfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal

import orjson
import zstandard

from backupd.archive.format import FORMAT_VERSION, INDEX_MEMBER, IndexEntry

# gzip level 9 (Python's default) costs several times level 1 for a few percent.
GZIP_LEVEL = 3
ZSTD_LEVEL = 3


class ArchiveWriter:
    """A tar stream (gzip or zstd) of JSON members, plus a JSON-lines index file.

    The index (plain JSON lines) is written to a second local file as entries arrive,
    then streamed into the tar as its last member on close(). `gzip_index` makes the
    compressed copy that is stored beside the archive.
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
        self._raw = path.open("wb")
        self._compressed: Any
        if compression == "zstd":
            self._compressed = zstandard.ZstdCompressor(level=ZSTD_LEVEL).stream_writer(self._raw)
        else:
            self._compressed = gzip.GzipFile(
                fileobj=self._raw, mode="wb", compresslevel=GZIP_LEVEL, mtime=0
            )
        self._tar = tarfile.open(  # noqa: SIM115 - closed in close()/abort()
            fileobj=self._compressed, mode="w|", format=tarfile.PAX_FORMAT
        )
        self._index = index_path.open("wb")
        self._index.write(orjson.dumps({"formatVersion": FORMAT_VERSION, **(header or {})}) + b"\n")
        self._mtime = int(time.time())
        self.count = 0
        self.closed = False

    def _add(
        self, name: str, data: bytes | None, *, stream: IO[bytes] | None = None, size: int = 0
    ) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data) if data is not None else size
        info.mtime = self._mtime
        info.mode = 0o644
        self._tar.addfile(info, io.BytesIO(data) if data is not None else stream)

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
        entry = IndexEntry(
            group=group,
            version=version,
            kind=kind,
            resource=resource,
            namespace=namespace,
            name=name,
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
        )
        self._add(entry.path, data)
        self._index.write(orjson.dumps(entry.to_dict()) + b"\n")
        self.count += 1
        return entry

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._index.close()
        with self.index_path.open("rb") as index:
            self._add(INDEX_MEMBER, None, stream=index, size=self.index_path.stat().st_size)
        self._tar.close()
        self._compressed.close()
        if not self._raw.closed:
            self._raw.close()

    def abort(self) -> None:
        self.closed = True
        for f in (self._index, self._compressed, self._raw):
            with contextlib.suppress(Exception):
                f.close()

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
    with source.open("rb") as src, gzip.open(dest, "wb", compresslevel=GZIP_LEVEL) as out:
        while chunk := src.read(1 << 20):
            out.write(chunk)
