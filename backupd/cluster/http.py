"""A lean HTTP/1.1 client for one server: a pool of keep-alive connections. I/O.

A restore sends thousands of small requests from one process, and Python holds one
core: per request, urllib3's layers (pool manager, URL parsing, retry and timeout
objects, header parsing through the email package) cost about as much CPU as the
socket and TLS work itself. This module does only what the API server needs: a
request line and headers written in one go, the status line, headers and a body
read back (Content-Length or chunked), connections kept alive and reused.

Every body is read whole (the callers, single objects and LIST pages, need it
whole), bounded by transport.MAX_BODY, and a gzip body is inflated (bounded too).
A failure after the request went out whole is `ReplyLost`: the server may have
acted on it. Retries, backoff and error mapping stay in client.KubeClient.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from typing import BinaryIO, cast
from urllib.parse import quote

from backupd.cluster.transport import (
    MAX_BODY,
    ReplyLost,
    Response,
    Server,
    Transport,
    check_length,
    decode_body,
)

__all__ = ["ConnectionLost", "HttpPool", "Response", "Transport"]

MAX_LINE = 65536
_BUFFER = 65536
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"


class ConnectionLost(ReplyLost):
    """The server closed the connection or sent a short reply (after the request)."""


# status, headers, body, keep the connection, Warning headers
_Reply = tuple[int, dict[str, str], bytes, bool, tuple[str, ...]]


class _Connection:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.file = cast(BinaryIO, sock.makefile("rb", buffering=_BUFFER))
        self.reused = False

    def close(self) -> None:
        for closeable in (self.file, self.sock):
            with contextlib.suppress(OSError):
                closeable.close()


def _read_chunked(f: BinaryIO) -> bytes:
    readline, read = f.readline, f.read
    parts: list[bytes] = []
    total = 0
    while True:
        line = readline(MAX_LINE)
        if not line:
            raise ConnectionLost("the server closed the connection inside a chunked body")
        size = int(line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while readline(MAX_LINE) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(parts)
        total += size
        check_length(total)
        data = read(size)
        if len(data) < size:
            raise ConnectionLost("the server closed the connection inside a chunk")
        parts.append(data)
        read(2)  # the chunk's CRLF


class HttpPool:
    """Keep-alive connections to one http:// or https:// server, shared by threads.
    A Transport.

    Up to `size` idle connections are kept; more threads than that still get a
    connection each, and the extra ones are closed after use.
    """

    def __init__(
        self,
        url: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        connect_timeout: float = 5.0,
        size: int = 32,
    ) -> None:
        server = Server.parse(url)
        self.secure = server.secure
        self.address = (server.hostname, server.port)
        self.host_header = server.host_header
        self.prefix = server.prefix
        self.ssl_context = ssl_context
        if self.secure and ssl_context is None:
            self.ssl_context = ssl.create_default_context()
        self.server_hostname = server_hostname or server.hostname
        self.connect_timeout = connect_timeout
        self.size = size
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()

    # -- connections ---------------------------------------------------------
    def _connect(self) -> _Connection:
        sock = socket.create_connection(self.address, timeout=self.connect_timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.ssl_context is not None:
                sock = self.ssl_context.wrap_socket(sock, server_hostname=self.server_hostname)
        except BaseException:
            sock.close()
            raise
        return _Connection(sock)

    def _take(self) -> _Connection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self._connect()

    def _give(self, conn: _Connection) -> None:
        conn.reused = True
        with self._lock:
            if len(self._idle) < self.size:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    # -- one exchange ----------------------------------------------------------
    def head(self, method: str, target: str, headers: dict[str, str], body: bytes | None) -> bytes:
        lines = [f"{method} {quote(self.prefix + target, safe=_PATH_SAFE + '?')} HTTP/1.1"]
        lines.append(f"Host: {self.host_header}")
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body is not None or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body or b'')}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def request(
        self,
        method: str,
        target: str,
        *,
        headers: dict[str, str],
        body: bytes | None = None,
        timeout: float = 60.0,
    ) -> Response:
        """One request; `target` is the path and query. Raises OSError on failure.

        A kept-alive connection the server has closed meanwhile fails before any
        reply byte; the request is then sent once more on a new connection. Any
        other failure after the request went out whole is ReplyLost.
        """
        message = self.head(method, target, headers, body)
        if body:
            message += body
        while True:
            conn = self._take()
            sent = False
            try:
                conn.sock.settimeout(timeout)
                conn.sock.sendall(message)
                sent = True
                status, reply_headers, data, keep, warnings = self._read(conn, method)
            except OSError as e:
                conn.close()
                if conn.reused and not isinstance(e, TimeoutError):
                    continue  # a kept-alive connection the server had closed; retry on a new one
                if sent:
                    lost = ReplyLost.after(e)
                    if lost is e:
                        raise
                    raise lost from e
                raise
            except BaseException:
                conn.close()
                raise
            if keep:
                self._give(conn)
            else:
                conn.close()
            if "content-encoding" in reply_headers:
                try:
                    data = decode_body(reply_headers, data)
                except ValueError as e:
                    raise ConnectionLost(f"the reply is not readable: {e}") from e
            return Response(status, reply_headers, data, warnings)

    @staticmethod
    def _read(conn: _Connection, method: str) -> _Reply:
        try:
            return HttpPool._parse(conn, method)
        except ValueError as e:  # a status line, length or chunk size that is not HTTP
            raise ConnectionLost(f"the server's reply is not HTTP/1.1 ({e})") from e

    @staticmethod
    def _parse(conn: _Connection, method: str) -> _Reply:
        f = conn.file
        warnings: list[str] = []
        while True:
            line = f.readline(MAX_LINE)
            if not line:
                raise ConnectionLost("the server closed the connection before replying")
            conn.reused = False  # the server answered: a failure from here on is not staleness
            version, _, rest = line.partition(b" ")
            status = int(rest[:3])
            headers: dict[str, str] = {}
            while True:
                h = f.readline(MAX_LINE)
                if h in (b"\r\n", b"\n"):
                    break
                if not h:
                    raise ConnectionLost("the server closed the connection inside the headers")
                name, _, value = h.partition(b":")
                key = name.strip().lower().decode("latin-1")
                text = value.strip().decode("latin-1")
                headers[key] = f"{headers[key]}, {text}" if key in headers else text
                if key == "warning":
                    warnings.append(text)
            if not 100 <= status < 200:
                break  # an interim 1xx reply is followed by the real one
        keep = version == b"HTTP/1.1" and headers.get("connection", "").lower() != "close"
        seen = tuple(warnings)
        if method == "HEAD" or status in (204, 304):
            return status, headers, b"", keep, seen
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return status, headers, _read_chunked(f), keep, seen
        length = headers.get("content-length")
        if length is None:  # the body ends when the connection does
            data = f.read(MAX_BODY + 1)
            check_length(len(data))
            return status, headers, data, False, seen
        check_length(int(length))
        data = f.read(int(length))
        if len(data) < int(length):
            raise ConnectionLost("the server closed the connection inside the body")
        return status, headers, data, keep, seen
