"""The API server's refusal (a Status object) as a backupd error. Pure.

The class says what happened (errors.py), so callers never read the text:

    401 ClusterUnauthorized   403 ClusterForbidden   404 ClusterNotFound
    409 ClusterConflict       410 ClusterGone        422 ClusterInvalid
    429 ClusterTooManyRequests                       5xx ClusterServerError
    anything else             ClusterError

The Status's reason, details, causes and retryAfterSeconds (or the Retry-After
header) are kept on the error; texts are cut short and kept on one line, so no
large payload reaches a log.
"""

from __future__ import annotations

from typing import Any

import orjson

from backupd.errors import (
    ClusterConflict,
    ClusterError,
    ClusterForbidden,
    ClusterGone,
    ClusterInvalid,
    ClusterNotFound,
    ClusterServerError,
    ClusterTooManyRequests,
    ClusterUnauthorized,
)

CLASSES: dict[int, type[ClusterError]] = {
    401: ClusterUnauthorized,
    403: ClusterForbidden,
    404: ClusterNotFound,
    409: ClusterConflict,
    410: ClusterGone,
    422: ClusterInvalid,
    429: ClusterTooManyRequests,
}
_READ = 65536
_MESSAGE = 500


def _line(text: object, limit: int = _MESSAGE) -> str:
    return " ".join(str(text).split())[:limit]


def parse(data: bytes) -> dict[str, Any]:
    """The Status object in a reply body, or {} when the body is not one."""
    try:
        status = orjson.loads(data[:_READ])
    except orjson.JSONDecodeError:
        return {}
    return status if isinstance(status, dict) else {}


def retry_after(headers: dict[str, str], status: dict[str, Any]) -> float | None:
    """Seconds the server asks us to wait: details.retryAfterSeconds, else Retry-After."""
    details = status.get("details")
    value: object = details.get("retryAfterSeconds") if isinstance(details, dict) else None
    if value is None:
        value = headers.get("retry-after")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date: not worth parsing for a backoff
    return seconds if seconds >= 0 else None


def _causes(details: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for cause in details.get("causes") or []:
        if not isinstance(cause, dict):
            continue
        message, field = _line(cause.get("message", ""), 300), cause.get("field")
        out.append(f"{field}: {message}" if field and field not in message else message)
    return out


def error(
    method: str,
    path: str,
    code: int,
    headers: dict[str, str],
    data: bytes,
    *,
    credential: str = "",
) -> ClusterError:
    """The error for a reply with status `code` >= 400."""
    status = parse(data)
    message = _line(status.get("message") or data[:300].decode(errors="replace"))
    details = status.get("details")
    details = details if isinstance(details, dict) else {}
    cls = CLASSES.get(code) or (ClusterServerError if code >= 500 else ClusterError)
    if code == 401:
        text = f"{method} {path}: 401 the API server refused the credentials of {credential}"
        if message and message.lower() != "unauthorized":
            text += f": {message}"
    else:
        text = f"{method} {path}: {code} {message}".rstrip()
    err = cls(text)
    err.status = code
    err.reason = str(status.get("reason") or "")
    err.details = details
    err.causes = _causes(details)
    err.retry_after = retry_after(headers, status)
    return err
