"""file:// backend: a directory on the local disk (the default location).

Writes are atomic: data goes to a hidden temporary file in the target directory, is
fsynced, and is renamed over the key, so a reader never sees half an object. A
conditional create hard-links the temporary file to the key instead, which fails if
the key exists (O_EXCL where the filesystem has no hard links). A process killed
mid-write leaves its temporary file: that is this backend's pending upload. Keys are
resolved under the root and refused if they would escape it (symlinks included).
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from backupd.errors import StorageError, UserInputError
from backupd.storage.base import ObjectExists, ObjectNotFound, PendingUpload, PutResult
from backupd.storage.layout import validate_key, validate_prefix

CHUNK = 1024 * 1024
_TMP_PREFIX = ".backupd-tmp-"


def parse_file_url(url: str) -> Path:
    """`file:///abs/path` -> Path('/abs/path'); anything else is a UserInputError."""
    parts = urlsplit(url)
    if parts.scheme != "file":
        raise UserInputError(f"not a file:// URL: {url!r}")
    if parts.netloc not in ("", "localhost"):
        raise UserInputError(
            f"malformed location URL {url!r}: a file URL has no host; use file:///absolute/path"
        )
    if parts.query or parts.fragment:
        raise UserInputError(f"malformed location URL {url!r}: file URLs take no query")
    path = unquote(parts.path)
    if not path.startswith("/"):
        raise UserInputError(f"malformed location URL {url!r}: the path must be absolute")
    return Path(os.path.normpath(path))


class LocalStore:
    """An ObjectStore over a directory tree; keys map to files under `root`."""

    def __init__(self, root: Path, url: str | None = None) -> None:
        self.root = root
        self.url = url or root.as_uri()

    @classmethod
    def from_url(cls, url: str) -> LocalStore:
        return cls(parse_file_url(url), url)

    def _path(self, key: str) -> Path:
        validate_key(key)
        path = self.root.joinpath(*key.split("/"))
        root = self.root.resolve()
        resolved = path.resolve()
        if resolved != root and root not in resolved.parents:
            raise UserInputError(f"object key {key!r} escapes the location root {self.root}")
        return path

    def put(self, key: str, stream: BinaryIO) -> PutResult:
        path = self._path(key)
        digest = hashlib.sha256()
        size = 0
        fd, tmp = self._staging_file(key, path)
        try:
            with os.fdopen(fd, "wb") as out:
                # Errors of the source stream propagate as they are; ours become StorageError.
                while chunk := stream.read(CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    self._io(key, out.write, chunk)
                self._sync(key, out)
            self._io(key, os.replace, tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return PutResult(key=key, size=size, sha256=digest.hexdigest())

    def put_bytes_if_absent(self, key: str, data: bytes) -> PutResult:
        path = self._path(key)
        fd, tmp = self._staging_file(key, path)
        try:
            with os.fdopen(fd, "wb") as out:
                self._io(key, out.write, data)
                self._sync(key, out)
            try:
                os.link(tmp, path)  # atomic, and never replaces an existing file
            except FileExistsError:
                if self._holds(path, data):
                    return PutResult(key, len(data), hashlib.sha256(data).hexdigest())
                raise ObjectExists(key, self.url) from None
            except OSError as e:
                if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                    raise StorageError(f"cannot write {key} in {self.url}: {e.strerror}") from e
                self._create_exclusive(key, path, data)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        return PutResult(key=key, size=len(data), sha256=hashlib.sha256(data).hexdigest())

    def _staging_file(self, key: str, path: Path) -> tuple[int, str]:
        """A new temporary file next to `path` (the same file system: an atomic rename or link)."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            return tempfile.mkstemp(prefix=_TMP_PREFIX, dir=path.parent)
        except OSError as e:
            raise StorageError(f"cannot write {key} in {self.url}: {e.strerror}") from e

    def _sync(self, key: str, out: BinaryIO) -> None:
        """What was written to `out` is on disk."""
        self._io(key, out.flush)
        self._io(key, os.fsync, out.fileno())

    @staticmethod
    def _holds(path: Path, data: bytes) -> bool:
        """The same bytes are there already: as the cloud backends treat a retry."""
        try:
            with path.open("rb") as f:
                return f.read(len(data) + 1) == data
        except OSError:
            return False

    def _create_exclusive(self, key: str, path: Path, data: bytes) -> None:
        """O_CREAT|O_EXCL, for filesystems without hard links (a reader may see it grow)."""
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise ObjectExists(key, self.url) from None
        except OSError as e:
            raise StorageError(f"cannot write {key} in {self.url}: {e.strerror}") from e
        with os.fdopen(fd, "wb") as out:
            self._io(key, out.write, data)
            self._io(key, os.fsync, out.fileno())

    def _io(self, key: str, fn: Callable[..., object], *args: object) -> None:
        try:
            fn(*args)
        except OSError as e:
            raise StorageError(f"cannot write {key} in {self.url}: {e.strerror or e}") from e

    @contextlib.contextmanager
    def get(self, key: str) -> Iterator[BinaryIO]:
        path = self._path(key)
        try:
            f = path.open("rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ObjectNotFound(key, self.url) from None
        except OSError as e:
            raise StorageError(f"cannot read {key} in {self.url}: {e.strerror}") from e
        with f:
            yield f

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def _walk(self, prefix: str, *, temporary: bool) -> list[str]:
        """Keys under `prefix` in lexical order: objects, or (temporary) unfinished writes."""
        validate_prefix(prefix)
        # Walk only the deepest directory the prefix names, then filter by string.
        base_dir = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = self.root.joinpath(*base_dir.split("/")) if base_dir else self.root
        if not start.is_dir():
            return []
        keys: list[str] = []
        try:
            for dirpath, dirnames, filenames in os.walk(start):
                dirnames[:] = [d for d in dirnames if not d.startswith(_TMP_PREFIX)]
                rel_dir = Path(dirpath).relative_to(self.root).as_posix()
                for filename in filenames:
                    if filename.startswith(_TMP_PREFIX) != temporary:
                        continue
                    key = filename if rel_dir == "." else f"{rel_dir}/{filename}"
                    if key.startswith(prefix):
                        keys.append(key)
        except OSError as e:
            raise StorageError(f"cannot list {self.url}: {e.strerror}") from e
        return sorted(keys)

    def list(self, prefix: str) -> Iterator[str]:
        return iter(self._walk(prefix, temporary=False))

    def pending_uploads(self, prefix: str) -> Iterator[PendingUpload]:
        """The temporary files of writes that never finished (their writer died)."""
        for key in self._walk(prefix, temporary=True):
            try:
                mtime = self.root.joinpath(*key.split("/")).stat().st_mtime
            except OSError:
                continue  # finished (or aborted) since the walk
            started = datetime.datetime.fromtimestamp(mtime, datetime.UTC)
            yield PendingUpload(key=key, upload_id=key, started=started)

    def abort_upload(self, upload: PendingUpload) -> None:
        if not upload.key.rsplit("/", 1)[-1].startswith(_TMP_PREFIX):
            raise UserInputError(f"{upload.key!r} is not an unfinished write of {self.url}")
        self.delete(upload.key)

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink(missing_ok=True)
        except IsADirectoryError:
            return
        except OSError as e:
            raise StorageError(f"cannot delete {key} in {self.url}: {e.strerror}") from e
        # Tidy now-empty parent directories, never the root itself.
        parent = path.parent
        with contextlib.suppress(OSError):
            while parent != self.root and self.root in parent.parents:
                parent.rmdir()
                parent = parent.parent
