"""botocore errors -> the backupd error hierarchy, with one-line messages and no secrets."""

from __future__ import annotations

import botocore.exceptions as bce
import urllib3.exceptions

from backupd.errors import (
    BackupdError,
    IntegrityError,
    StorageAuthError,
    StorageError,
    StorageUnreachable,
    UserInputError,
)
from backupd.storage.base import BucketNotFound, ObjectNotFound

CLOUD_ERRORS: tuple[type[Exception], ...] = (bce.BotoCoreError, bce.ClientError)
STREAM_ERRORS: tuple[type[Exception], ...] = (
    bce.ReadTimeoutError,
    bce.ResponseStreamingError,
    bce.IncompleteReadError,
    urllib3.exceptions.ProtocolError,
    urllib3.exceptions.ReadTimeoutError,
    ConnectionError,
)

_AUTH_CODES = frozenset(
    {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AccessDenied",
        "ExpiredToken",
        "InvalidToken",
        "TokenRefreshRequired",
        "AllAccessDisabled",
        "AuthorizationHeaderMalformed",
        "InvalidClientTokenId",
    }
)
# MinIO: the object's data fails its checks (read quorum lost: on one drive, bitrot).
_UNREADABLE_CODES = frozenset({"SlowDownRead", "XMinioObjectTampered"})
_RETRYABLE_CODES = frozenset(
    {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "ServiceUnavailable"}
)


def code(e: bce.ClientError) -> str:
    return str(e.response.get("Error", {}).get("Code", "") or "")


def status(e: bce.ClientError) -> int:
    return int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def _short(text: str, limit: int = 160) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def translate(
    e: Exception, *, action: str, bucket: str, where: str, url: str, key: str | None = None
) -> BackupdError:
    """Map a boto3/botocore exception to a BackupdError whose message fits one line."""
    what = f"{key} in {url}" if key else url
    if isinstance(e, bce.ClientError):
        c, s = code(e), status(e)
        message = _short(str(e.response.get("Error", {}).get("Message", "") or c))
        if c == "NoSuchBucket":
            return BucketNotFound(f"bucket {bucket} does not exist at {where}")
        if key and (c in ("NoSuchKey", "404", "NotFound") or s == 404):
            return ObjectNotFound(key, url)
        if c in _AUTH_CODES or s in (401, 403):
            return StorageAuthError(
                f"{where} refused the credentials for bucket {bucket} ({c or s}): {message}",
                hint="check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, the profile or the role",
            )
        if key and c in _UNREADABLE_CODES:
            return IntegrityError(
                f"{key} in {url} is corrupt: {where} cannot read its data ({c}: {message}); "
                "on a server with several drives, too many of them may be offline"
            )
        error = StorageError(f"S3 {action} of {what} failed ({c or s}): {message}")
        error.retryable = c in _RETRYABLE_CODES or s == 429 or s >= 500
        return error
    if isinstance(e, bce.NoCredentialsError | bce.PartialCredentialsError):
        return StorageAuthError(
            f"no AWS credentials found for {url}",
            hint="set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or an IRSA role",
        )
    if isinstance(e, bce.ProfileNotFound):
        return UserInputError(f"AWS profile {e.kwargs.get('profile')!r} not found")
    if isinstance(e, bce.NoRegionError):
        return UserInputError(f"no AWS region for {url}; add ?region=... or set AWS_REGION")
    if isinstance(
        e, bce.EndpointConnectionError | bce.ConnectTimeoutError | bce.ConnectionClosedError
    ):
        return StorageUnreachable(f"cannot reach S3 endpoint {where} (bucket {bucket})")
    if isinstance(e, bce.ReadTimeoutError):
        return StorageUnreachable(f"S3 endpoint {where} timed out during {action} of {what}")
    if isinstance(e, STREAM_ERRORS):
        return StorageUnreachable(f"connection to {where} broke during {action} of {what}")
    if isinstance(e, bce.ParamValidationError):
        return UserInputError(f"invalid S3 request for {what}: {_short(str(e))}")
    return StorageError(f"S3 {action} of {what} failed: {type(e).__name__}: {_short(str(e))}")
