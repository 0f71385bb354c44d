"""s3:// backend (boto3): AWS S3 and S3-compatible servers such as MinIO.

URL: ``s3://BUCKET[/PREFIX][?PARAM=VALUE&...]``. Parameters (all optional):

    region            AWS region (default: the boto3 chain, else us-east-1 with an endpoint)
    endpoint          http(s)://host:port of an S3-compatible server (MinIO...)
    ca_bundle         path of a PEM file of CAs to trust for an https endpoint
    profile           AWS shared-config profile name
    addressing_style  path | virtual | auto (default: path with an endpoint, else auto)
    sse               AES256 (SSE-S3) | aws:kms (SSE-KMS); sent on every write
    kms_key_id        KMS key id or ARN for sse=aws:kms (default: the account's S3 key)
    sse_c_key         base64 of a 32-byte key for SSE-C, sent on every write and read.
                      Prefer the BACKUPD_S3_SSE_C_KEY credential/env var: URLs are stored
                      in config files; it is redacted wherever a URL is shown.
    object_lock_mode  GOVERNANCE | COMPLIANCE; with object_lock_days=N every object is
                      written with retain-until = now + N days (the bucket needs Object
                      Lock enabled)
    max_attempts      total tries per request (default 5), retry_mode standard|adaptive
                      (default standard): throttling, 5xx and timeouts back off and retry
    connect_timeout   seconds (default 10); read_timeout seconds (default 60)
    part_size_mib     multipart part size (default 16, min 5); at most 4 parts are held
                      in memory at once, so memory stays flat for any object size

Credentials come from the boto3 default chain (env vars, profiles, IRSA / web
identity, instance metadata) unless a mapping of env-like keys is given (a Kubernetes
Secret): AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_PROFILE,
AWS_REGION / AWS_DEFAULT_REGION, BACKUPD_S3_SSE_C_KEY. They are never logged.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

import boto3
import botocore.exceptions as bce
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from backupd.errors import BackupdError, StorageError, UserInputError
from backupd.storage import s3errors
from backupd.storage.base import ObjectExists, PendingUpload, PutResult
from backupd.storage.layout import validate_key, validate_prefix
from backupd.storage.s3reads import ResumingBody
from backupd.storage.streams import HashingReader, reader
from backupd.storage.urls import redact, split_location_url

MIB = 1024 * 1024
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_PARAMS = frozenset(
    (
        "region",
        "endpoint",
        "profile",
        "addressing_style",
        "sse",
        "kms_key_id",
        "sse_c_key",
        "object_lock_mode",
        "object_lock_days",
        "max_attempts",
        "retry_mode",
        "connect_timeout",
        "read_timeout",
        "part_size_mib",
        "ca_bundle",
    )
)
_CONFLICT_RETRIES = 3


@dataclass(frozen=True)
class S3Options:
    bucket: str
    prefix: str = ""
    region: str | None = None
    endpoint: str | None = None
    profile: str | None = None
    addressing_style: str = "auto"
    sse: str | None = None
    kms_key_id: str | None = None
    sse_c_key: bytes | None = None
    object_lock_mode: str | None = None
    object_lock_days: int | None = None
    max_attempts: int = 5
    retry_mode: str = "standard"
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    part_size: int = 16 * MIB
    ca_bundle: str | None = None


def _sse_c_key(value: str) -> bytes:
    try:
        key = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise UserInputError("sse_c_key must be base64 (of a 32-byte key)") from None
    if len(key) != 32:
        raise UserInputError(f"sse_c_key must decode to 32 bytes, not {len(key)}")
    return key


def parse_s3_url(url: str) -> S3Options:
    """Parse and validate an s3:// URL; raises UserInputError with a one-line reason."""
    bucket, prefix, q = split_location_url(url, "s3", _PARAMS)
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise UserInputError(f"malformed location URL {q.shown!r}: invalid S3 bucket {bucket!r}")
    endpoint = q.endpoint("endpoint")
    style = q.choice(
        "addressing_style", ("path", "virtual", "auto"), "path" if endpoint else "auto"
    )
    sse = q.choice("sse", ("AES256", "aws:kms"), None)
    kms_key_id = q.text("kms_key_id")
    if kms_key_id and sse != "aws:kms":
        raise UserInputError("kms_key_id needs sse=aws:kms")
    raw_c = q.text("sse_c_key")
    if raw_c and sse:
        raise UserInputError("sse_c_key (SSE-C) and sse (SSE-S3/KMS) cannot be combined")
    lock_mode = q.choice("object_lock_mode", ("GOVERNANCE", "COMPLIANCE"), None)
    lock_days = q.integer("object_lock_days", None, minimum=1)
    if (lock_mode is None) != (lock_days is None):
        raise UserInputError("object_lock_mode and object_lock_days must be given together")
    ca_bundle = q.text("ca_bundle")
    if ca_bundle and not os.path.isfile(ca_bundle):
        raise UserInputError(f"ca_bundle {ca_bundle!r} is not a file")
    return S3Options(
        bucket=bucket,
        prefix=prefix,
        region=q.text("region"),
        endpoint=endpoint,
        profile=q.text("profile"),
        addressing_style=style or "auto",
        sse=sse,
        kms_key_id=kms_key_id,
        sse_c_key=_sse_c_key(raw_c) if raw_c else None,
        object_lock_mode=lock_mode,
        object_lock_days=lock_days,
        max_attempts=q.integer("max_attempts", 5, minimum=1) or 5,
        retry_mode=q.choice("retry_mode", ("standard", "adaptive"), "standard") or "standard",
        connect_timeout=q.seconds("connect_timeout", 10.0),
        read_timeout=q.seconds("read_timeout", 60.0),
        part_size=(q.integer("part_size_mib", 16, minimum=5) or 16) * MIB,
        ca_bundle=ca_bundle,
    )


class S3Store:
    """An ObjectStore over one bucket and prefix."""

    def __init__(
        self, url: str, options: S3Options, *, credentials: Mapping[str, str] | None = None
    ) -> None:
        self.url = redact(url)
        creds = dict(credentials or {})
        sse_c = creds.get("BACKUPD_S3_SSE_C_KEY") or os.environ.get("BACKUPD_S3_SSE_C_KEY")
        if sse_c and options.sse_c_key is None:
            options = replace(options, sse_c_key=_sse_c_key(sse_c))
        self.options = options
        self.bucket = options.bucket
        self._prefix = options.prefix
        region = options.region or creds.get("AWS_REGION") or creds.get("AWS_DEFAULT_REGION")
        if region is None and options.endpoint:
            region = "us-east-1"
        if bool(creds.get("AWS_ACCESS_KEY_ID")) != bool(creds.get("AWS_SECRET_ACCESS_KEY")):
            raise UserInputError(
                "credentials need both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            )
        try:
            session = boto3.session.Session(
                aws_access_key_id=creds.get("AWS_ACCESS_KEY_ID") or None,
                aws_secret_access_key=creds.get("AWS_SECRET_ACCESS_KEY") or None,
                aws_session_token=creds.get("AWS_SESSION_TOKEN") or None,
                profile_name=options.profile or creds.get("AWS_PROFILE") or None,
                region_name=region,
            )
        except bce.ProfileNotFound as e:
            raise UserInputError(f"AWS profile {e.kwargs.get('profile')!r} not found") from None
        settings: dict[str, Any] = {
            "retries": {"total_max_attempts": options.max_attempts, "mode": options.retry_mode},
            "connect_timeout": options.connect_timeout,
            "read_timeout": options.read_timeout,
            "s3": {"addressing_style": options.addressing_style},
            "user_agent_extra": "backupd",
            # Our own sha256 checks what matters. botocore's response checksums wrap even
            # an error reply's body and then cannot parse it (MinIO's 503 for an
            # unreadable object sends the object's checksum header).
            "response_checksum_validation": "when_required",
        }
        config = Config(**settings)
        self._client: Any = session.client(
            "s3", endpoint_url=options.endpoint, config=config, verify=options.ca_bundle
        )
        self._transfer = TransferConfig(
            multipart_threshold=options.part_size,
            multipart_chunksize=options.part_size,
            max_concurrency=4,
            max_io_queue=16,
            use_threads=True,
            preferred_transfer_client="classic",
        )
        # s3transfer reads a non-seekable stream part by part; bound the parts in memory.
        self._transfer.max_in_memory_upload_chunks = 4
        self._where = options.endpoint or "S3"

    # -- helpers --------------------------------------------------------------------

    def _key(self, key: str) -> str:
        return self._prefix + validate_key(key)

    def _sse_c_args(self) -> dict[str, str]:
        key = self.options.sse_c_key
        if key is None:
            return {}
        return {
            "SSECustomerAlgorithm": "AES256",
            "SSECustomerKey": base64.b64encode(key).decode(),
            "SSECustomerKeyMD5": base64.b64encode(hashlib.md5(key).digest()).decode(),
        }

    def write_args(self) -> dict[str, Any]:
        """ExtraArgs sent with every write: encryption and Object Lock retention."""
        o = self.options
        args: dict[str, Any] = dict(self._sse_c_args())
        if o.sse:
            args["ServerSideEncryption"] = o.sse
        if o.kms_key_id:
            args["SSEKMSKeyId"] = o.kms_key_id
        if o.object_lock_mode and o.object_lock_days:
            args["ObjectLockMode"] = o.object_lock_mode
            args["ObjectLockRetainUntilDate"] = datetime.now(UTC) + timedelta(
                days=o.object_lock_days
            )
        return args

    def _error(self, e: Exception, action: str, key: str | None = None) -> BackupdError:
        return s3errors.translate(
            e, action=action, bucket=self.bucket, where=self._where, url=self.url, key=key
        )

    # -- ObjectStore ---------------------------------------------------------------

    def put(self, key: str, stream: BinaryIO) -> PutResult:
        full = self._key(key)
        hashing = HashingReader(stream)
        try:
            self._client.upload_fileobj(
                hashing, self.bucket, full, ExtraArgs=self.write_args(), Config=self._transfer
            )
        except s3errors.CLOUD_ERRORS as e:
            raise self._error(e, "write", key) from e
        return PutResult(key=key, size=hashing.size, sha256=hashing.hexdigest())

    def put_bytes_if_absent(self, key: str, data: bytes) -> PutResult:
        """PutObject with If-None-Match: * (AWS since 2024, MinIO): one writer wins."""
        full = self._key(key)
        result = PutResult(key=key, size=len(data), sha256=hashlib.sha256(data).hexdigest())
        for attempt in range(_CONFLICT_RETRIES + 1):
            try:
                self._client.put_object(
                    Bucket=self.bucket, Key=full, Body=data, IfNoneMatch="*", **self.write_args()
                )
                return result
            except bce.ClientError as e:
                c = s3errors.code(e)
                if c == "PreconditionFailed" or s3errors.status(e) == 412:
                    if self._holds(full, key, data):
                        return result  # a retry: our first try created it
                    raise ObjectExists(key, self.url) from None
                if c != "ConditionalRequestConflict" or attempt == _CONFLICT_RETRIES:
                    raise self._error(e, "write", key) from e
                time.sleep(0.2 * 2**attempt)  # AWS: a concurrent conditional write; retry
            except s3errors.CLOUD_ERRORS as e:
                raise self._error(e, "write", key) from e
        raise StorageError(f"S3 write of {key} in {self.url} kept conflicting")  # unreachable

    def _holds(self, full: str, key: str, data: bytes) -> bool:
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=full, **self._sse_c_args())
            stored: bytes = response["Body"].read(len(data) + 1)
        except s3errors.CLOUD_ERRORS + s3errors.STREAM_ERRORS as e:
            raise self._error(e, "read", key) from e
        return stored == data

    @contextlib.contextmanager
    def get(self, key: str) -> Iterator[BinaryIO]:
        full = self._key(key)
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=full, **self._sse_c_args())
        except s3errors.CLOUD_ERRORS as e:
            raise self._error(e, "read", key) from e
        body = ResumingBody(
            response,
            fetch=lambda offset, etag: self._read_from(full, key, offset, etag),
            error=lambda e: self._error(e, "read", key),
            what=f"{key} in {self.url}",
            where=self._where,
        )
        stream = reader(body.read, body.close)
        try:
            yield stream
        finally:
            stream.close()

    def _read_from(self, full: str, key: str, offset: int, etag: str | None) -> dict[str, Any]:
        """GetObject from `offset` on, of the version with `etag` (a resumed read)."""
        extra: dict[str, Any] = dict(self._sse_c_args())
        if etag:
            extra["IfMatch"] = etag
        try:
            response: dict[str, Any] = self._client.get_object(
                Bucket=self.bucket, Key=full, Range=f"bytes={offset}-", **extra
            )
        except bce.ClientError as e:
            if s3errors.code(e) == "PreconditionFailed" or s3errors.status(e) == 412:
                raise StorageError(
                    f"{key} in {self.url} was replaced while it was being read"
                ) from e
            raise self._error(e, "read", key) from e
        except s3errors.CLOUD_ERRORS as e:
            raise self._error(e, "read", key) from e
        return response

    def exists(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket, Key=self._key(key), **self._sse_c_args())
        except bce.ClientError as e:
            if s3errors.status(e) == 404:
                return False
            raise self._error(e, "check", key) from e
        except s3errors.CLOUD_ERRORS as e:
            raise self._error(e, "check", key) from e
        return True

    def list(self, prefix: str) -> Iterator[str]:
        full = self._prefix + validate_prefix(prefix)
        paginator = self._client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
                for item in page.get("Contents", ()):
                    yield item["Key"][len(self._prefix) :]
        except s3errors.CLOUD_ERRORS as e:
            raise self._error(e, "list") from e

    def delete(self, key: str) -> None:
        try:
            self._client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except s3errors.CLOUD_ERRORS as e:
            raise self._error(e, "delete", key) from e

    def pending_uploads(self, prefix: str) -> Iterator[PendingUpload]:
        """Multipart uploads never completed nor aborted, of keys under `prefix`.

        MinIO lists uploads only for an exact key or with no prefix at all, so when a
        prefix finds none, every upload of the bucket is listed and filtered here."""
        full = self._prefix + validate_prefix(prefix)
        found = list(self._uploads(full))
        if not found and full:
            found = [u for u in self._uploads("") if u["Key"].startswith(full)]
        for u in sorted(found, key=lambda u: (u["Key"], u["UploadId"])):
            yield PendingUpload(
                key=u["Key"][len(self._prefix) :],
                upload_id=u["UploadId"],
                started=u.get("Initiated"),
            )

    def _uploads(self, full_prefix: str) -> Iterator[dict[str, Any]]:
        paginator = self._client.get_paginator("list_multipart_uploads")
        args = {"Prefix": full_prefix} if full_prefix else {}
        try:
            for page in paginator.paginate(Bucket=self.bucket, **args):
                yield from page.get("Uploads", ())
        except s3errors.CLOUD_ERRORS as e:
            raise self._error(e, "list uploads") from e

    def abort_upload(self, upload: PendingUpload) -> None:
        try:
            self._client.abort_multipart_upload(
                Bucket=self.bucket, Key=self._key(upload.key), UploadId=upload.upload_id
            )
        except bce.ClientError as e:
            if s3errors.code(e) == "NoSuchUpload" or s3errors.status(e) == 404:
                return
            raise self._error(e, "abort upload", upload.key) from e
        except s3errors.CLOUD_ERRORS as e:
            raise self._error(e, "abort upload", upload.key) from e
