"""Reading an S3 object to the end although the connection may drop on the way.

`ResumingBody` wraps a GetObject body: when the stream breaks it asks again from
the byte it reached (a Range request pinned to the ETag), a few times with backoff.
A server that answers every resume and then breaks again at the same byte is not a
network problem: the object cannot be read there (MinIO cuts the stream at a block
that fails its bitrot check), and that is reported as corrupt, with the key. A
server that does not answer stays "cannot reach".
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from backupd.errors import BackupdError, IntegrityError
from backupd.storage import s3errors

RESUMES = 3

# (offset, etag) -> a GetObject response from `offset` on; raises a BackupdError.
Fetch = Callable[[int, str | None], dict[str, Any]]


class ResumingBody:
    def __init__(
        self,
        response: dict[str, Any],
        *,
        fetch: Fetch,
        error: Callable[[Exception], BackupdError],
        what: str,
        where: str,
    ) -> None:
        self._fetch = fetch
        self._error = error
        self._what = what  # "<key> in <url>"
        self._where = where  # the endpoint
        self._body = response["Body"]
        self._etag: str | None = response.get("ETag")
        self._offset = 0
        self._resumes = 0
        self._stalls = 0  # consecutive answered resumes that broke again without progress
        self._broke_at = -1
        self._answered = False

    def read(self, n: int) -> bytes:
        while True:
            try:
                data: bytes = self._body.read(n)
            except s3errors.STREAM_ERRORS as e:
                self._resume(e)
                continue
            self._offset += len(data)
            return data

    def _resume(self, cause: Exception) -> None:
        stalled = self._answered and self._offset == self._broke_at
        self._stalls = self._stalls + 1 if stalled else 0
        self._broke_at, self._answered = self._offset, False
        self._resumes += 1
        if self._resumes > RESUMES:
            if self._stalls >= RESUMES:
                raise IntegrityError(
                    f"{self._what} is corrupt: {self._where} answers but every read of it "
                    f"breaks at byte {self._offset}"
                ) from cause
            raise self._error(cause) from cause
        time.sleep(min(0.5 * 2**self._resumes, 8.0))
        with contextlib.suppress(Exception):
            self._body.close()
        self._body = self._fetch(self._offset, self._etag)["Body"]
        self._answered = True

    def close(self) -> None:
        self._body.close()
