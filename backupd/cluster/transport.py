"""The seam between KubeClient and the wire: one request in, one whole response out.

Two transports implement it: http.HttpPool (our keep-alive pool, used when no proxy
applies) and proxied.ProxyTransport (urllib3's ProxyManager, or SOCKSProxyManager).
fake.FakeTransport is the scripted one unit tests use.

A transport raises OSError when the request failed. `ReplyLost` (an OSError) says
more: the request was sent whole and no complete reply came, so the server may have
acted on it; KubeClient never re-sends a write after it. Bodies come back decoded
(gzip) and bounded: `BodyTooLarge` rather than a huge allocation.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

MAX_BODY = 1 << 30  # 1 GiB: no API reply is this big; a bigger one is an error
_STEP = 1 << 20


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    data: bytes  # decoded: a gzip body comes back inflated (content-encoding stays as sent)
    warnings: tuple[str, ...] = ()  # each Warning header as sent (their text has commas)


@dataclass(frozen=True)
class Server:
    """An API server URL taken apart: what every transport needs of it."""

    secure: bool
    hostname: str
    port: int
    host_header: str  # host[:port], without any user info
    prefix: str  # the URL's own path (a server behind a path prefix), no trailing slash

    @classmethod
    def parse(cls, url: str) -> Server:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url}")
        secure = parts.scheme == "https"
        return cls(
            secure,
            parts.hostname,
            parts.port or (443 if secure else 80),
            parts.netloc.rpartition("@")[2],
            parts.path.rstrip("/"),
        )

    @property
    def origin(self) -> str:
        return f"{'https' if self.secure else 'http'}://{self.host_header}"


class Transport(Protocol):
    """Sends one request to one API server; shared by many threads."""

    def request(
        self,
        method: str,
        target: str,
        *,
        headers: dict[str, str],
        body: bytes | None = None,
        timeout: float = 60.0,
    ) -> Response:
        """`target` is the path and query (the server URL's own path is prefixed)."""
        ...

    def close(self) -> None: ...


class ReplyLost(ConnectionError):
    """The request was sent whole; the reply did not come (a timeout or a lost connection)."""

    timed_out = False

    @classmethod
    def after(cls, cause: BaseException) -> ReplyLost:
        """The ReplyLost for `cause`, an error met after the request was sent."""
        if isinstance(cause, ReplyLost):
            return cause
        lost = cls(str(cause) or type(cause).__name__)
        lost.timed_out = isinstance(cause, TimeoutError)
        return lost


class BodyTooLarge(Exception):
    """A reply body bigger than the bound (MAX_BODY), compressed or not."""


def check_length(length: int, limit: int = MAX_BODY) -> None:
    if length > limit:
        raise BodyTooLarge(f"the reply body is larger than {limit} bytes")


def gunzip(data: bytes, limit: int = MAX_BODY) -> bytes:
    """Inflate a gzip body, never to more than `limit` bytes."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    parts: list[bytes] = []
    total = 0
    pending = data
    try:
        while pending and not inflater.eof:
            part = inflater.decompress(pending, min(_STEP, limit - total + 1))
            total += len(part)
            check_length(total, limit)
            parts.append(part)
            pending = inflater.unconsumed_tail
        if not inflater.eof:
            tail = inflater.flush(limit - total + 1)
            total += len(tail)
            check_length(total, limit)
            parts.append(tail)
            if not inflater.eof:
                raise ValueError("the gzip stream ends early")
    except zlib.error as e:
        raise ValueError(f"the gzip body is damaged ({e})") from e
    return b"".join(parts)


def decode_body(headers: dict[str, str], data: bytes, limit: int = MAX_BODY) -> bytes:
    """The body as the server meant it: gzip inflated (bounded), identity as is.

    A damaged gzip body raises ValueError; an encoding we did not ask for too.
    """
    encoding = headers.get("content-encoding", "").strip().lower()
    if not encoding or encoding == "identity":
        return data
    if encoding in ("gzip", "x-gzip"):
        return gunzip(data, limit)
    raise ValueError(f"the server sent a body in an encoding not asked for: {encoding}")
