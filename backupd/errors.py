"""The one exception hierarchy of backupd.

    BackupdError                 every error the user may see; the CLI prints str(e)
    ├── UserInputError           bad flags, names, URLs, selectors (exit 2)
    ├── NotFoundError            a backup, restore or location that does not exist
    ├── SandboxError             the local control plane could not be built or started
    ├── ClusterError             the Kubernetes API failed or refused (the server's Status:
    │   │                        status, reason, message, details, causes, retry_after)
    │   ├── ClusterUnreachable   no answer from the API server (retryable)
    │   │   └── ClusterTimeout   a request was sent and no reply came in time: whether a
    │   │                        write took effect is unknown (`sent` says it was sent)
    │   ├── ClusterUnauthorized  401 (the credential was refused, even after one refresh)
    │   ├── ClusterForbidden     403
    │   ├── ClusterNotFound      404
    │   ├── ClusterConflict      409 (already exists, or a stale resourceVersion)
    │   ├── ClusterGone          410 (an expired continue token)
    │   ├── ClusterInvalid       422 (the server rejected the object)
    │   ├── ClusterTooManyRequests 429 after every retry (retryable)
    │   └── ClusterServerError   5xx after every retry (retryable)
    ├── StorageError             the object store failed or refused
    │   ├── StorageNotFound      a bucket or object is missing
    │   ├── StorageAuthError     credentials were refused
    │   ├── StorageUnreachable   the endpoint did not answer
    │   ├── ReadOnlyLocation     a write to a ReadOnly location
    │   └── IntegrityError       a digest mismatch on read
    ├── ArchiveError             an archive is corrupt or unreadable
    └── TrustError               a backup's signature, key or encryption does not check
                                 out (forged, tampered, or read with the wrong key)

`retryable` on an error says whether trying again may help (429, 5xx, timeouts).
"""

from __future__ import annotations


class BackupdError(Exception):
    """Base of every error backupd reports to a user."""

    exit_code = 1
    retryable = False

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class UserInputError(BackupdError):
    exit_code = 2


class NotFoundError(BackupdError):
    exit_code = 3


class SandboxError(BackupdError):
    pass


class ClusterError(BackupdError):
    status: int = 0
    reason: str = ""  # the Status reason, e.g. AlreadyExists, Conflict, Invalid
    causes: list[str] = []  # noqa: RUF012 - replaced per instance
    details: dict[str, object] = {}  # noqa: RUF012 - the Status details, replaced per instance
    retry_after: float | None = None  # details.retryAfterSeconds or a Retry-After header


class ClusterUnreachable(ClusterError):
    retryable = True


class ClusterTimeout(ClusterUnreachable):
    """No reply in time. With `sent`, the server may have acted on the request."""

    sent: bool = False


class ClusterUnauthorized(ClusterError):
    pass


class ClusterForbidden(ClusterError):
    pass


class ClusterNotFound(ClusterError):
    pass


class ClusterConflict(ClusterError):
    pass


class ClusterGone(ClusterError):
    pass


class ClusterInvalid(ClusterError):
    pass


class ClusterTooManyRequests(ClusterError):
    retryable = True


class ClusterServerError(ClusterError):
    retryable = True


class StorageError(BackupdError):
    pass


class StorageNotFound(StorageError):
    exit_code = 3


class StorageAuthError(StorageError):
    pass


class StorageUnreachable(StorageError):
    retryable = True


class ReadOnlyLocation(StorageError):
    exit_code = 2


class IntegrityError(StorageError):
    pass


class ArchiveError(BackupdError):
    pass


class TrustError(BackupdError):
    pass
