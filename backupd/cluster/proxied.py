"""A Transport through an HTTP(S) or SOCKS proxy: urllib3's ProxyManager. I/O.

Used only when proxy.choose() says a proxy applies; otherwise the keep-alive pool
(http.HttpPool) is faster. HTTPS API servers are reached through a CONNECT tunnel,
so the proxy sees only TLS bytes. SOCKS needs PySocks, which backupd does not
depend on: without it a socks5:// proxy is a one-line error, never a direct
connection behind the user's back.
"""

from __future__ import annotations

import importlib.util
import ssl
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import urllib3
from urllib3 import exceptions as u3

from backupd.cluster.proxy import redact
from backupd.cluster.transport import (
    ReplyLost,
    Response,
    Server,
    check_length,
    decode_body,
)
from backupd.errors import UserInputError

_STEP = 1 << 16
_PATH_SAFE = "/:@!$&'()*+,;=-._~%?"
# failures before the request left: safe to send again
_NOT_SENT = (u3.ProxyError, u3.NewConnectionError, u3.ConnectTimeoutError, u3.LocationParseError)


class ProxyFailed(ConnectionError):
    """The proxy could not be reached, or refused the tunnel (nothing was sent)."""


def _manager(proxy: str, pool_kw: dict[str, Any]) -> urllib3.PoolManager:
    parts = urlsplit(proxy)
    if parts.scheme.startswith("socks"):
        if importlib.util.find_spec("socks") is None:
            raise UserInputError(
                f"the proxy {redact(proxy)} is a SOCKS proxy, which needs the PySocks package "
                "(pip install pysocks)"
            )
        from urllib3.contrib.socks import SOCKSProxyManager

        return SOCKSProxyManager(proxy, **pool_kw)
    headers: dict[str, str] = {}
    if parts.username is not None:
        auth = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers = urllib3.util.make_headers(proxy_basic_auth=auth)
    return urllib3.ProxyManager(proxy, proxy_headers=headers, **pool_kw)


class ProxyTransport:
    """Requests to one API server through one proxy; shared by threads. A Transport."""

    def __init__(
        self,
        server: str,
        proxy: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        connect_timeout: float = 5.0,
        size: int = 32,
    ) -> None:
        parsed = Server.parse(server)
        self.origin = parsed.origin
        self.prefix = parsed.prefix
        self.proxy = proxy
        self.connect_timeout = connect_timeout
        pool_kw: dict[str, Any] = {"maxsize": size, "block": False, "retries": False}
        if parsed.secure:
            pool_kw["ssl_context"] = ssl_context or ssl.create_default_context()
            if server_hostname:
                pool_kw["server_hostname"] = server_hostname
            if not pool_kw["ssl_context"].check_hostname:
                pool_kw["assert_hostname"] = False
        self._manager = _manager(proxy, pool_kw)

    def close(self) -> None:
        self._manager.clear()

    def request(
        self,
        method: str,
        target: str,
        *,
        headers: dict[str, str],
        body: bytes | None = None,
        timeout: float = 60.0,
    ) -> Response:
        url = self.origin + quote(self.prefix + target, safe=_PATH_SAFE)
        try:
            resp = self._manager.urlopen(
                method,
                url,
                body=body,
                headers=headers,
                timeout=urllib3.Timeout(connect=self.connect_timeout, read=timeout),
                retries=False,
                redirect=False,
                preload_content=False,
                decode_content=False,
            )
            try:
                data = self._read(resp)
            finally:
                resp.release_conn()
        except u3.ProxyError as e:
            raise ProxyFailed(f"the proxy {redact(self.proxy)} failed: {_cause(e)}") from e
        except _NOT_SENT as e:
            raise ConnectionError(_cause(e)) from e
        except u3.SSLError as e:
            inner = e.args[0] if e.args and isinstance(e.args[0], ssl.SSLError) else None
            if isinstance(inner, ssl.SSLCertVerificationError):
                raise inner from e
            raise ConnectionError(f"TLS: {_cause(e)}") from e
        except u3.ReadTimeoutError as e:
            raise ReplyLost.after(TimeoutError(_cause(e))) from e
        except u3.HTTPError as e:  # the connection broke while sending or reading
            raise ReplyLost(_cause(e)) from e
        reply_headers = {k.lower(): v for k, v in resp.headers.itermerged()}
        if "content-encoding" in reply_headers:
            try:
                data = decode_body(reply_headers, data)
            except ValueError as e:
                raise ReplyLost(f"the reply is not readable: {e}") from e
        warnings = tuple(resp.headers.getlist("warning"))
        return Response(resp.status, reply_headers, data, warnings)

    @staticmethod
    def _read(resp: urllib3.BaseHTTPResponse) -> bytes:
        length = resp.headers.get("content-length")
        if length is not None and length.isdigit():
            check_length(int(length))
            return resp.read(decode_content=False)
        parts: list[bytes] = []
        total = 0
        for part in resp.stream(_STEP, decode_content=False):
            total += len(part)
            check_length(total)
            parts.append(part)
        return b"".join(parts)


def _cause(e: BaseException) -> str:
    """The innermost reason urllib3 wraps, on one line."""
    while e.args and isinstance(e.args[-1], BaseException) and e.args[-1] is not e:
        e = e.args[-1]
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__
