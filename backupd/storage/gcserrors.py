"""google-cloud-storage errors -> the backupd error hierarchy (one line, no secrets)."""

from __future__ import annotations

import requests
from google.api_core import exceptions as api_exceptions
from google.auth import exceptions as auth_exceptions
from google.cloud.storage.exceptions import DataCorruption, InvalidResponse

from backupd.errors import (
    BackupdError,
    IntegrityError,
    StorageAuthError,
    StorageError,
    StorageUnreachable,
)
from backupd.storage.base import BucketNotFound, ObjectNotFound

CLOUD_ERRORS: tuple[type[Exception], ...] = (
    api_exceptions.GoogleAPIError,
    auth_exceptions.GoogleAuthError,
    InvalidResponse,
    DataCorruption,
    requests.RequestException,
    ConnectionError,
    TimeoutError,
)


def _unwrap(e: BaseException) -> BaseException:
    """The root cause behind retry wrappers and transport errors."""
    seen = 0
    while seen < 5:
        seen += 1
        if isinstance(e, api_exceptions.RetryError) and e.cause is not None:
            e = e.cause
        elif (
            isinstance(e, auth_exceptions.TransportError)
            and e.args
            and isinstance(e.args[0], BaseException)
        ):
            e = e.args[0]
        else:
            break
    return e


def status(e: BaseException) -> int:
    e = _unwrap(e)
    if isinstance(e, api_exceptions.GoogleAPICallError) and e.code is not None:
        return int(e.code)
    if isinstance(e, InvalidResponse):
        response = getattr(e, "response", None)
        return int(getattr(response, "status_code", 0) or 0)
    return 0


def is_not_found(e: BaseException) -> bool:
    return status(e) == 404


def _short(text: str, limit: int = 160) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _message(e: BaseException) -> str:
    if isinstance(e, api_exceptions.GoogleAPICallError):
        return _short(e.message or type(e).__name__)
    return _short(type(e).__name__)


def translate(
    e: BaseException, *, action: str, bucket: str, where: str, url: str, key: str | None = None
) -> BackupdError:
    """Map a Google client exception to a BackupdError whose message fits one line."""
    what = f"{key} in {url}" if key else url
    root = _unwrap(e)
    code = status(root)
    if code == 404:
        if key is None:
            return BucketNotFound(f"bucket {bucket} does not exist at {where}")
        return ObjectNotFound(key, url)
    if code in (401, 403) or isinstance(
        root, auth_exceptions.RefreshError | auth_exceptions.DefaultCredentialsError
    ):
        return StorageAuthError(
            f"{where} refused the credentials for bucket {bucket} ({code or type(root).__name__})",
            hint="check GOOGLE_APPLICATION_CREDENTIALS or the workload identity",
        )
    if isinstance(root, DataCorruption):
        return IntegrityError(f"{what} is corrupt: GCS reports a checksum mismatch during {action}")
    if isinstance(root, requests.ConnectionError | ConnectionError) and not isinstance(
        root, requests.ReadTimeout
    ):
        return StorageUnreachable(f"cannot reach GCS endpoint {where} (bucket {bucket})")
    if isinstance(root, requests.Timeout | TimeoutError):
        return StorageUnreachable(f"GCS endpoint {where} timed out during {action} of {what}")
    if isinstance(e, api_exceptions.RetryError):
        return StorageUnreachable(f"GCS {action} of {what} kept failing until the retry deadline")
    error = StorageError(
        f"GCS {action} of {what} failed ({code or type(root).__name__}): {_message(root)}"
    )
    error.retryable = code == 429 or code >= 500
    return error
