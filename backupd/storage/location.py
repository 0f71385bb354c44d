"""A storage location: a backend chosen by URL, plus access mode and digest checks.

    file:///var/lib/backupd                      a local directory (the default)
    s3://bucket/prefix?region=...&endpoint=...   AWS S3 or MinIO (see backupd.storage.s3)
    gs://bucket/prefix                           Google Cloud Storage (see backupd.storage.gcs)

Every write goes through `Location`, which refuses it on a ReadOnly location before
the store is touched. Reads given an expected sha256 verify it at end of stream and
raise IntegrityError on a mismatch. The commit protocol (metadata written last) is
read by `backupd.storage.catalog`.
"""

from __future__ import annotations

import contextlib
import enum
import io
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from backupd.errors import (
    ArchiveError,
    BackupdError,
    ReadOnlyLocation,
    StorageError,
    UserInputError,
)
from backupd.storage import staging
from backupd.storage.base import ObjectStore, PendingUpload, PutResult
from backupd.storage.layout import validate_key, validate_prefix
from backupd.storage.streams import CHUNK, verifying
from backupd.storage.urls import redact
from backupd.trust.keys import EMPTY, Keyring

DEFAULT_URL = "file:///var/lib/backupd"
LOCATION_ENV = "BACKUPD_LOCATION"
# What get_bytes reads whole at most: records, claims, indexes of results. An object
# larger than that is refused rather than held in memory.
MAX_OBJECT_BYTES = 64 * 1024 * 1024
SCHEMES = ("file", "s3", "gs")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class AccessMode(enum.StrEnum):
    ReadWrite = "ReadWrite"
    ReadOnly = "ReadOnly"

    @classmethod
    def parse(cls, value: str | AccessMode) -> AccessMode:
        if isinstance(value, AccessMode):
            return value
        for mode in cls:
            if value.lower() == mode.value.lower():
                return mode
        raise UserInputError(f"unknown access mode {value!r}; use ReadWrite or ReadOnly")


def open_store(url: str, credentials: Mapping[str, str] | None = None) -> ObjectStore:
    """The backend for `url`; malformed URLs and unknown schemes are UserInputErrors."""
    shown = redact(url)
    if not isinstance(url, str) or "://" not in url:
        raise UserInputError(
            f"malformed location URL {shown!r}: use file:///path, s3://bucket/prefix "
            "or gs://bucket/prefix"
        )
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        raise UserInputError(f"malformed location URL {shown!r}") from None
    if scheme == "file":
        from backupd.storage.local import LocalStore

        return LocalStore.from_url(url)
    if scheme == "s3":
        from backupd.storage.s3 import S3Store, parse_s3_url

        return S3Store(url, parse_s3_url(url), credentials=credentials)
    if scheme == "gs":
        from backupd.storage.gcs import GCSStore, parse_gs_url

        return GCSStore(url, parse_gs_url(url), credentials=credentials)
    raise UserInputError(
        f"unknown location scheme {scheme!r} in {shown!r}; use {', '.join(SCHEMES)}"
    )


def _check_sha256(sha256: str | None) -> str | None:
    if sha256 is None:
        return None
    if not _SHA256.fullmatch(sha256.lower()):
        raise UserInputError(f"not a sha256 hex digest: {sha256[:80]!r}")
    return sha256.lower()


class ObjectTooLarge(ArchiveError):
    """An object larger than a reader's bound (get_bytes' `limit`), never read whole."""

    def __init__(self, message: str, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


class Location:
    """A store with an access mode; every read and write of backupd goes through here."""

    def __init__(
        self, url: str, store: ObjectStore, access_mode: AccessMode, keyring: Keyring = EMPTY
    ) -> None:
        self.url = redact(url)
        self.store = store
        self.access_mode = access_mode
        # what backups here are signed and encrypted with, and which keys are trusted
        self.keyring = keyring
        # whose backups it holds: "backupd"; "velero" (read-only, backupd.storage.velero);
        # "auto": backupd's, and a Velero backup found under a name is read too
        self.format = "backupd"

    def __repr__(self) -> str:
        return f"Location({self.url!r}, {self.access_mode.value})"

    @property
    def read_only(self) -> bool:
        return self.access_mode is AccessMode.ReadOnly or self.format == "velero"

    def _writable(self, action: str, key: str) -> None:
        if self.format == "velero":
            raise ReadOnlyLocation(
                f"location {self.url} holds Velero backups (format velero); "
                f"backupd reads them and never writes there: refusing to {action} {key}"
            )
        if self.read_only:
            raise ReadOnlyLocation(
                f"location {self.url} is ReadOnly; refusing to {action} {key}",
                hint="use a ReadWrite location to write",
            )

    # -- writes ----------------------------------------------------------------------

    def put(self, key: str, stream: BinaryIO) -> PutResult:
        """Stream `stream` to `key`; returns its size and sha256."""
        self._writable("write", key)
        return self.store.put(validate_key(key), stream)

    def put_bytes(self, key: str, data: bytes) -> PutResult:
        return self.put(key, io.BytesIO(data))

    def put_bytes_if_absent(self, key: str, data: bytes) -> PutResult:
        """Create `key` only if it does not exist, atomically; ObjectExists if taken."""
        self._writable("write", key)
        return self.store.put_bytes_if_absent(validate_key(key), data)

    def delete(self, key: str) -> None:
        self._writable("delete", key)
        self.store.delete(validate_key(key))

    def pending_uploads(self, prefix: str) -> list[PendingUpload]:
        """Writes under `prefix` that started and never finished (a killed writer's)."""
        return list(self.store.pending_uploads(validate_prefix(prefix)))

    def abort_upload(self, upload: PendingUpload) -> None:
        self._writable("abort the upload of", upload.key)
        self.store.abort_upload(upload)

    # -- reads -----------------------------------------------------------------------

    @contextlib.contextmanager
    def get(self, key: str, *, sha256: str | None = None) -> Iterator[BinaryIO]:
        """A readable stream of `key`. With `sha256`, the digest is checked at EOF.

        If the caller leaves the block without an error before reaching EOF, the rest
        is read and verified, so a `with` block that completes normally always means
        the data matched. A mismatch raises IntegrityError.
        """
        expected = _check_sha256(sha256)
        with self.store.get(validate_key(key)) as raw:
            if expected is None:
                yield raw
                return
            stream = verifying(raw, expected, f"{key} in {self.url}")
            yield stream
            while stream.read(CHUNK):
                pass

    def get_bytes(self, key: str, *, sha256: str | None = None, limit: int | None = None) -> bytes:
        """The whole object, which may not be larger than `limit` bytes (default
        MAX_OBJECT_BYTES; ArchiveError): nothing read from storage is trusted, its size
        included."""
        limit = MAX_OBJECT_BYTES if limit is None else limit
        with self.get(key, sha256=sha256) as stream:
            data = stream.read(limit + 1)
            if len(data) > limit:
                raise ObjectTooLarge(f"{key} in {self.url} is larger than {limit} bytes", limit)
            return data

    def download(self, key: str, dest_path: str | Path, *, sha256: str | None = None) -> None:
        """Stream `key` to `dest_path`; on a digest mismatch the file is deleted."""
        dest = Path(dest_path)
        tmp = dest.with_name(f".{dest.name}.part")
        staging.unwind_on_sigterm()  # SIGTERM removes the partial file too
        try:
            with self.get(key, sha256=sha256) as stream, tmp.open("wb") as out:
                while chunk := stream.read(CHUNK):
                    out.write(chunk)
            tmp.replace(dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            dest.unlink(missing_ok=True)
            raise

    def exists(self, key: str) -> bool:
        return self.store.exists(validate_key(key))

    def list(self, prefix: str = "") -> list[str]:
        """Every key under `prefix`, in lexical order."""
        return list(self.store.list(validate_prefix(prefix)))

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        """Like `list`, lazily (for buckets with very many objects)."""
        return self.store.list(validate_prefix(prefix))


def open_location(
    url: str | None = None,
    *,
    access_mode: AccessMode | str = AccessMode.ReadWrite,
    credentials: Mapping[str, str] | None = None,
) -> Location:
    """Open a location by URL (None: $BACKUPD_LOCATION, else DEFAULT_URL).

    `credentials` is a mapping of env-like keys (e.g. a Kubernetes Secret's data:
    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, GOOGLE_APPLICATION_CREDENTIALS_JSON...)
    that replaces the default credential chain. It is never logged.
    """
    chosen = url or os.environ.get(LOCATION_ENV) or DEFAULT_URL
    mode = AccessMode.parse(access_mode)
    staging.reap_leftovers()  # what a killed run staged (Secrets in clear) goes now
    try:
        store = open_store(chosen, credentials)
    except BackupdError:
        raise
    except (ValueError, TypeError) as e:  # a library refusing the configuration
        raise StorageError(
            f"cannot open location {redact(chosen)}: {type(e).__name__}: {str(e)[:160]}"
        ) from e
    return Location(chosen, store, mode)


def open_location_with_secret(
    url: str,
    secret_data: Mapping[str, str],
    *,
    access_mode: AccessMode | str = AccessMode.ReadWrite,
) -> Location:
    """For the controller: a location whose credentials come from a Secret's (decoded) data."""
    return open_location(url, access_mode=access_mode, credentials=secret_data)
