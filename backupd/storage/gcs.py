"""gs:// backend (google-cloud-storage).

URL: ``gs://BUCKET[/PREFIX][?PARAM=VALUE&...]``. Parameters (all optional):

    endpoint        http(s)://host:port of an emulator (fake-gcs-server); the
                    STORAGE_EMULATOR_HOST env var or credential does the same. An
                    emulator gets anonymous credentials.
    project         project id (only used for the client; buckets are global)
    chunk_size_mib  resumable upload / ranged download chunk (default 16): only one
                    chunk is held in memory, so memory stays flat for any object size
    retry_timeout   seconds to keep retrying throttling, 5xx and timeouts (default 120)
    timeout         seconds per HTTP request (default 60)

Credentials: the Google default chain (GOOGLE_APPLICATION_CREDENTIALS, gcloud
application-default credentials, workload identity) unless a mapping of env-like keys
is given (a Kubernetes Secret): GOOGLE_APPLICATION_CREDENTIALS (a path to a key file),
GOOGLE_APPLICATION_CREDENTIALS_JSON (the key file's content), GOOGLE_CLOUD_PROJECT,
STORAGE_EMULATOR_HOST. They are never logged.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

from backupd.errors import BackupdError, IntegrityError, UserInputError
from backupd.storage import gcserrors
from backupd.storage.base import (
    BucketNotFound,
    ObjectExists,
    ObjectNotFound,
    PendingUpload,
    PutResult,
)
from backupd.storage.layout import validate_key, validate_prefix
from backupd.storage.streams import CHUNK, HashingReader, reader
from backupd.storage.urls import Query, split_location_url

MIB = 1024 * 1024
_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")
_PARAMS = frozenset(["endpoint", "project", "chunk_size_mib", "retry_timeout", "timeout"])
_SCOPES = ("https://www.googleapis.com/auth/devstorage.read_write",)


@dataclass(frozen=True)
class GCSOptions:
    bucket: str
    prefix: str = ""
    endpoint: str | None = None
    project: str | None = None
    chunk_size: int = 16 * MIB
    retry_timeout: float = 120.0
    timeout: float = 60.0


def parse_gs_url(url: str) -> GCSOptions:
    """Parse and validate a gs:// URL; raises UserInputError with a one-line reason."""
    bucket, prefix, q = split_location_url(url, "gs", _PARAMS)
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise UserInputError(f"malformed location URL {q.shown!r}: invalid GCS bucket {bucket!r}")
    return GCSOptions(
        bucket=bucket,
        prefix=prefix,
        endpoint=q.endpoint("endpoint"),
        project=q.text("project"),
        chunk_size=(q.integer("chunk_size_mib", 16, minimum=1) or 16) * MIB,
        retry_timeout=q.seconds("retry_timeout", 120.0),
        timeout=q.seconds("timeout", 60.0),
    )


def _emulator_endpoint(value: str) -> str:
    endpoint = value if "://" in value else f"http://{value}"
    return Query(endpoint, {"endpoint": endpoint}).endpoint("endpoint") or endpoint


def _credentials(creds: Mapping[str, str]) -> tuple[Any, str | None]:
    """Explicit credentials from a Secret-like mapping, or (None, None) for the chain."""
    import google.auth
    from google.auth import exceptions as auth_exceptions

    try:
        if creds.get("GOOGLE_APPLICATION_CREDENTIALS_JSON"):
            info = json.loads(creds["GOOGLE_APPLICATION_CREDENTIALS_JSON"])
            loaded: tuple[Any, str | None] = google.auth.load_credentials_from_dict(  # type: ignore[no-untyped-call]
                info, scopes=_SCOPES
            )
            return loaded
        if creds.get("GOOGLE_APPLICATION_CREDENTIALS"):
            loaded = google.auth.load_credentials_from_file(  # type: ignore[no-untyped-call]
                creds["GOOGLE_APPLICATION_CREDENTIALS"], scopes=_SCOPES
            )
            return loaded
    except (ValueError, OSError, auth_exceptions.GoogleAuthError):
        # Never echo the key material: the message may quote it.
        raise UserInputError("the Google credentials given are not a valid key file") from None
    return None, None


class GCSStore:
    """An ObjectStore over one GCS bucket and prefix."""

    def __init__(
        self, url: str, options: GCSOptions, *, credentials: Mapping[str, str] | None = None
    ) -> None:
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage
        from google.cloud.storage.retry import DEFAULT_RETRY

        self.url = url
        self.options = options
        self.bucket_name = options.bucket
        self._prefix = options.prefix
        creds = dict(credentials or {})
        emulator = creds.get("STORAGE_EMULATOR_HOST") or os.environ.get("STORAGE_EMULATOR_HOST")
        endpoint = options.endpoint or (_emulator_endpoint(emulator) if emulator else None)
        project = options.project or creds.get("GOOGLE_CLOUD_PROJECT")
        self._where = endpoint or "GCS"
        try:
            if endpoint:
                client = storage.Client(
                    project=project or "backupd",
                    credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                    client_options=ClientOptions(api_endpoint=endpoint),
                )
            else:
                explicit, explicit_project = _credentials(creds)
                client = storage.Client(project=project or explicit_project, credentials=explicit)
        except BackupdError:
            raise
        except Exception as e:
            raise self._error(e, "connect") from e
        self._client: Any = client
        self._bucket: Any = client.bucket(options.bucket)
        self._retry: Any = DEFAULT_RETRY.with_timeout(options.retry_timeout)
        self._timeout = options.timeout

    def _key(self, key: str) -> str:
        return self._prefix + validate_key(key)

    def _error(self, e: Exception, action: str, key: str | None = None) -> BackupdError:
        return gcserrors.translate(
            e, action=action, bucket=self.bucket_name, where=self._where, url=self.url, key=key
        )

    def _not_found(self, e: Exception, action: str, key: str | None) -> BackupdError:
        """A 404: tell a missing bucket from a missing object."""
        try:
            bucket_exists = bool(self._bucket.exists(retry=self._retry, timeout=self._timeout))
        except Exception:
            return self._error(e, action, key)
        if not bucket_exists:
            return BucketNotFound(f"bucket {self.bucket_name} does not exist at {self._where}")
        return ObjectNotFound(key or "", self.url)

    def put(self, key: str, stream: BinaryIO) -> PutResult:
        blob = self._bucket.blob(self._key(key), chunk_size=self.options.chunk_size)
        hashing = HashingReader(stream)
        try:
            with blob.open(
                "wb",
                chunk_size=self.options.chunk_size,
                retry=self._retry,
                ignore_flush=True,
                timeout=self._timeout,
                content_type="application/octet-stream",
            ) as writer:
                while data := hashing.read(CHUNK):
                    writer.write(data)
        except gcserrors.CLOUD_ERRORS as e:
            if gcserrors.is_not_found(e):
                raise self._not_found(e, "write", key) from e
            raise self._error(e, "write", key) from e
        return PutResult(key=key, size=hashing.size, sha256=hashing.hexdigest())

    def put_bytes_if_absent(self, key: str, data: bytes) -> PutResult:
        """An upload with ifGenerationMatch=0: only one writer can create the object."""
        blob = self._bucket.blob(self._key(key))
        result = PutResult(key=key, size=len(data), sha256=hashlib.sha256(data).hexdigest())
        try:
            blob.upload_from_string(
                data,
                content_type="application/octet-stream",
                if_generation_match=0,
                retry=self._retry,
                timeout=self._timeout,
            )
        except gcserrors.CLOUD_ERRORS as e:
            if gcserrors.status(e) == 412:
                if self._holds(key, data):
                    return result  # a retry: our first try created it
                raise ObjectExists(key, self.url) from None
            if gcserrors.is_not_found(e):
                raise self._not_found(e, "write", key) from e
            raise self._error(e, "write", key) from e
        return result

    def _holds(self, key: str, data: bytes) -> bool:
        try:
            stored: bytes = self._bucket.blob(self._key(key)).download_as_bytes(
                retry=self._retry, timeout=self._timeout
            )
        except gcserrors.CLOUD_ERRORS as e:
            raise self._error(e, "read", key) from e
        return stored == data

    @contextlib.contextmanager
    def get(self, key: str) -> Iterator[BinaryIO]:
        try:
            blob = self._bucket.get_blob(self._key(key), retry=self._retry, timeout=self._timeout)
        except gcserrors.CLOUD_ERRORS as e:
            if gcserrors.is_not_found(e):
                raise self._not_found(e, "read", key) from e
            raise self._error(e, "read", key) from e
        if blob is None:
            raise self._not_found(FileNotFoundError(key), "read", key)
        try:
            # Ranged reads of one chunk each, pinned to the generation we looked up.
            stream = blob.open(
                "rb",
                chunk_size=self.options.chunk_size,
                retry=self._retry,
                if_generation_match=blob.generation,
                timeout=self._timeout,
            )
        except gcserrors.CLOUD_ERRORS as e:
            raise self._error(e, "read", key) from e
        mapped = _CheckedReader(stream, self, key, blob)
        with reader(mapped.read, stream.close) as out:
            yield out

    def exists(self, key: str) -> bool:
        try:
            return bool(
                self._bucket.blob(self._key(key)).exists(retry=self._retry, timeout=self._timeout)
            )
        except gcserrors.CLOUD_ERRORS as e:
            raise self._error(e, "check", key) from e

    def list(self, prefix: str) -> Iterator[str]:
        full = self._prefix + validate_prefix(prefix)
        try:
            blobs = self._client.list_blobs(
                self.bucket_name, prefix=full, retry=self._retry, timeout=self._timeout
            )
            for blob in blobs:
                yield str(blob.name)[len(self._prefix) :]
        except gcserrors.CLOUD_ERRORS as e:
            if gcserrors.is_not_found(e):
                raise BucketNotFound(
                    f"bucket {self.bucket_name} does not exist at {self._where}"
                ) from e
            raise self._error(e, "list") from e

    def delete(self, key: str) -> None:
        try:
            self._bucket.blob(self._key(key)).delete(retry=self._retry, timeout=self._timeout)
        except gcserrors.CLOUD_ERRORS as e:
            if gcserrors.is_not_found(e):
                return
            raise self._error(e, "delete", key) from e

    def pending_uploads(self, prefix: str) -> Iterator[PendingUpload]:
        """None: resumable sessions cannot be listed, create no object until finished
        and expire after a week; a failed write cancels its own session."""
        validate_prefix(prefix)
        return iter(())

    def abort_upload(self, upload: PendingUpload) -> None:
        """Nothing to abort (see `pending_uploads`)."""


class _CheckedReader:
    """Forwards reads, turning library errors mid-stream into StorageErrors; at the end,
    the size and CRC32C the object records are checked (ranged reads check neither),
    so a damaged or truncated object is reported as corrupt, with its key."""

    def __init__(self, stream: Any, store: GCSStore, key: str, blob: Any) -> None:
        self._stream = stream
        self._store = store
        self._key = key
        self._size: int | None = blob.size
        self._crc32c: str | None = blob.crc32c
        self._checksum = _crc32c()
        self._read = 0
        self._checked = False

    def read(self, size: int = -1) -> bytes:
        try:
            data: bytes = self._stream.read(size)
        except gcserrors.CLOUD_ERRORS as e:
            raise self._store._error(e, "read", self._key) from e
        if data:
            self._read += len(data)
            if self._checksum is not None:
                self._checksum.update(data)
        elif size != 0:
            self._check()
        return data

    def _check(self) -> None:
        if self._checked:
            return
        what = f"{self._key} in {self._store.url}"
        if self._size is not None and self._read != int(self._size):
            raise IntegrityError(
                f"{what} is corrupt: {self._read} bytes read, the object records {self._size}"
            )
        if self._crc32c and self._checksum is not None:
            actual = base64.b64encode(self._checksum.digest()).decode()
            if actual != self._crc32c:
                raise IntegrityError(
                    f"{what} is corrupt: CRC32C {actual} read, the object records {self._crc32c}"
                )
        self._checked = True


def _crc32c() -> Any:
    try:
        import google_crc32c
    except ImportError:  # pragma: no cover - installed with google-cloud-storage
        return None
    return google_crc32c.Checksum()  # type: ignore[no-untyped-call]
