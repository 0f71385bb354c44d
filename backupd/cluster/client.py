"""The one place that talks HTTP to a Kubernetes API server.

Requests return raw JSON (dicts), never client model objects. Many workers share
one client. The pieces:

- kubeconfig.py loads where and who (the kubernetes package's loader and merger);
- credentials.py keeps the Authorization header and refreshes it, one at a time;
- proxy.py decides whether a proxy applies; the transport (transport.Transport) is
  then proxied.ProxyTransport (urllib3), else our keep-alive pool http.HttpPool;
- status.py turns a refusal into an error class with the server's Status.

The kubeconfig contract honoured, as kubectl honours it:
- KUBECONFIG / --kubeconfig with several files (':'-separated) is merged: the first
  file to define a cluster, user or context, or current-context, wins; --context is
  found in any file; files that do not exist are skipped. No kubeconfig inside a
  Pod: the in-cluster service account, its token file re-read when it rotates.
- server, certificate-authority(-data), insecure-skip-tls-verify, tls-server-name,
  client certificates, token, tokenFile (re-read when it changes), username and
  password, exec plugins and auth-providers (oidc, gcp) through the kubernetes
  package, refreshed when they expire (its refresh_api_key_hook), under a lock.
- proxy-url, else HTTPS_PROXY/HTTP_PROXY and NO_PROXY (see proxy.py for the rules,
  including Go's: loopback never goes through an environment proxy). A proxy that
  applies is always used; a SOCKS one without PySocks is an error, never bypassed.
- A 401 forces one refresh of the credentials and one retry; a second 401 is
  ClusterUnauthorized naming the credential. A credential that was refused after a
  refresh is not refreshed again, however many threads hit it.
- GETs ask for gzip (the API server compresses replies above 128 KiB); bodies are
  inflated with a bound (transport.MAX_BODY).
- Retries with backoff (Retry-After / retryAfterSeconds honoured, capped) for
  connection failures, 429 and 5xx on GET; a write (POST, PUT, PATCH, DELETE) is
  retried only when the server surely did not act on it (not sent, 429, 503). A
  write that was sent and got no reply, or a 504, is ClusterTimeout(sent=True):
  whether it took effect is unknown, and it is never re-sent blindly.

Not honoured: an exec plugin that returns a client certificate is used as loaded
(a refresh of that certificate needs a new client); a user that impersonates
(`as`, `as-groups`, ...) is refused with an error rather than ignored; an OIDC
id-token is only refreshed once it has expired (a 401 does not force it);
`extensions` are ignored; HTTP/2 is not spoken. `disable-compression` is honoured.
"""

from __future__ import annotations

import os
import random
import re
import ssl
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import orjson

from backupd.cluster import kubeconfig, proxy, status
from backupd.cluster.credentials import Credentials
from backupd.cluster.http import HttpPool
from backupd.cluster.kubeconfig import load as kubeconfig_load
from backupd.cluster.proxied import ProxyFailed, ProxyTransport
from backupd.cluster.transport import BodyTooLarge, ReplyLost, Response, Transport
from backupd.errors import (
    ClusterError,
    ClusterTimeout,
    ClusterUnreachable,
    UserInputError,
)

if TYPE_CHECKING:
    from kubernetes import client as k8s_client  # annotations only: slow to import

__all__ = ["JSON", "KubeClient", "Response", "warning_text"]

JSON = dict[str, Any]
_READ_RETRY = frozenset({429, 500, 502, 503, 504})
_WRITE_RETRY = frozenset({429, 503})  # the server did not act on the request
_SAFE = frozenset({"GET", "HEAD"})
_MAX_ATTEMPTS = 5
_MAX_WAIT = 10.0


def _ssl_context(cfg: k8s_client.Configuration) -> ssl.SSLContext:
    """Verification and client certificate as the kubeconfig says."""
    if cfg.verify_ssl:
        try:
            ctx = ssl.create_default_context(cafile=cfg.ssl_ca_cert or None)
        except (OSError, ssl.SSLError) as e:
            raise UserInputError(f"cannot load the CA certificate {cfg.ssl_ca_cert}: {e}") from e
        ctx.check_hostname = cfg.assert_hostname is not False
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cfg.cert_file:
        try:
            # an empty password instead of OpenSSL's interactive prompt for an encrypted key
            ctx.load_cert_chain(cfg.cert_file, cfg.key_file, password=lambda: b"")
        except (OSError, ssl.SSLError) as e:
            raise UserInputError(f"cannot load the client certificate {cfg.cert_file}: {e}") from e
    return ctx


def _explicit_proxy(cfg: k8s_client.Configuration) -> str | None:
    """A proxy set on the Configuration itself (not the one it read from the environment,
    which proxy.choose reads by kubectl's rules instead)."""
    if getattr(cfg, "_proxy_from_env", False):
        return None
    return str(cfg.proxy) if cfg.proxy else None


def open_transport(
    cfg: k8s_client.Configuration, proxy_url: str | None, *, size: int = 32
) -> Transport:
    """ProxyTransport when a proxy applies, else the keep-alive pool."""
    host = cfg.host.rstrip("/")
    secure = host.startswith("https://")
    ctx = _ssl_context(cfg) if secure else None
    server_hostname = getattr(cfg, "tls_server_name", None) or None
    try:
        if proxy_url:
            return ProxyTransport(
                host, proxy_url, ssl_context=ctx, server_hostname=server_hostname, size=size
            )
        return HttpPool(host, ssl_context=ctx, server_hostname=server_hostname, size=size)
    except ValueError as e:
        raise UserInputError(f"the API server address is not usable: {e}") from e


class KubeClient:
    """A small, thread-safe HTTP client for one API server."""

    def __init__(
        self,
        configuration: k8s_client.Configuration,
        *,
        pool_size: int = 32,
        timeout: float = 60.0,
        transport: Transport | None = None,
        credentials: Credentials | None = None,
        proxy_url: str | None = None,
        compress: bool = True,
    ) -> None:
        self.configuration = configuration
        self.host = configuration.host.rstrip("/")
        self.timeout = timeout
        self.compress = compress
        self.credentials = credentials or kubeconfig.for_configuration(configuration)
        self.proxy = (
            None
            if transport is not None
            else proxy.choose(
                self.host,
                explicit=proxy_url or _explicit_proxy(configuration),
                environ=os.environ,
            )
        )
        self._transport = transport or open_transport(configuration, self.proxy, size=pool_size)

    @classmethod
    def from_kubeconfig(
        cls, kubeconfig: str | Path | None = None, *, context: str | None = None
    ) -> KubeClient:
        """`kubeconfig` may name several files (':'-separated), as KUBECONFIG does."""
        loaded = kubeconfig_load(kubeconfig, context)
        return cls(
            loaded.configuration,
            credentials=loaded.credentials,
            proxy_url=loaded.proxy_url,
            compress=loaded.compress,
        )

    @property
    def transport(self) -> Transport:
        """The keep-alive pool, or the proxy transport when a proxy applies."""
        return self._transport

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> KubeClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- low level ----------------------------------------------------------
    def _headers(
        self, method: str, content_type: str | None, accept: str, auth: str | None
    ) -> dict[str, str]:
        headers = {"User-Agent": "backupd/0.1", "Accept": accept}
        if content_type:
            headers["Content-Type"] = content_type
        if method == "GET" and self.compress:
            headers["Accept-Encoding"] = "gzip"
        if auth:
            headers["Authorization"] = auth
        return headers

    def open(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
        timeout: float | None = None,
        accept: str = "application/json",
    ) -> Response:
        """Send a request; return the (successful) response. Retries what is safe to retry."""
        query = {k: v for k, v in (params or {}).items() if v is not None}
        target = path + (f"?{urlencode(query)}" if query else "")
        wait = timeout or self.timeout
        safe = method in _SAFE
        retry_statuses = _READ_RETRY if safe else _WRITE_RETRY
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            generation, auth = self.credentials.current()
            sent_type = content_type if body is not None else None
            headers = self._headers(method, sent_type, accept, auth)
            try:
                resp = self._transport.request(
                    method, target, headers=headers, body=body, timeout=wait
                )
            except ssl.SSLCertVerificationError as e:
                raise ClusterUnreachable(
                    f"the Kubernetes API server at {self.host} failed TLS verification: "
                    f"{e.verify_message or e.reason}",
                    hint="check the kubeconfig's certificate-authority and server",
                ) from e
            except BodyTooLarge as e:
                raise ClusterError(f"{method} {path}: {e}") from e
            except ReplyLost as e:
                if not safe or attempt == _MAX_ATTEMPTS:
                    raise self._lost(method, path, e, wait) from e
                _backoff(attempt)
                continue
            except OSError as e:
                if attempt == _MAX_ATTEMPTS:
                    raise self._unreachable(e) from e
                _backoff(attempt)
                continue
            code = resp.status
            if code < 400:
                return resp
            if code == 401:
                if not refreshed and self.credentials.refresh(generation):
                    refreshed = True
                    continue
                if refreshed:
                    self.credentials.refused(generation)
                raise self._error(method, path, resp)
            if code in retry_statuses and attempt < _MAX_ATTEMPTS:
                _backoff(attempt, status.retry_after(resp.headers, status.parse(resp.data)))
                continue
            if code == 504 and not safe:
                raise self._lost(method, path, None, wait, resp)
            raise self._error(method, path, resp)

    def _unreachable(self, e: OSError) -> ClusterUnreachable:
        if isinstance(e, ProxyFailed):
            return ClusterUnreachable(
                f"cannot reach the Kubernetes API server at {self.host}: {e}",
                hint="check the proxy (proxy-url in the kubeconfig, HTTPS_PROXY, NO_PROXY)",
            )
        via = f" through the proxy {proxy.redact(self.proxy)}" if self.proxy else ""
        return ClusterUnreachable(
            f"cannot reach the Kubernetes API server at {self.host}{via} ({type(e).__name__})",
            hint="is the cluster running and the kubeconfig right?",
        )

    def _lost(
        self,
        method: str,
        path: str,
        e: ReplyLost | None,
        wait: float,
        resp: Response | None = None,
    ) -> ClusterTimeout:
        """A request that was sent and got no answer: what it did is unknown."""
        if resp is not None:
            said = " ".join(str(status.parse(resp.data).get("message") or "timeout").split())
            what = f"the API server gave up on it ({resp.status} {said[:300]})"
        elif e is not None and e.timed_out:
            what = f"no reply from {self.host} within {wait:g}s"
        else:
            what = f"the connection to {self.host} was lost before the reply ({e})"
        unknown = "" if method in _SAFE else "; whether it took effect is unknown"
        err = ClusterTimeout(f"{method} {path}: {what}{unknown}")
        err.sent = True
        if resp is not None:
            err.status = resp.status
            err.reason = str(status.parse(resp.data).get("reason") or "")
        return err

    def _error(self, method: str, path: str, resp: Response) -> ClusterError:
        credential = self.credentials.describe
        if self.credentials.problem:
            credential += f" (its refresh failed: {self.credentials.problem})"
        return status.error(
            method, path, resp.status, resp.headers, resp.data, credential=credential
        )

    # -- JSON helpers -------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: JSON | bytes | None = None,
        content_type: str = "application/json",
        timeout: float | None = None,
        accept: str = "application/json",
        warnings: list[str] | None = None,
    ) -> JSON:
        """Send JSON, return JSON. The API server's warnings (a dropped unknown field, a
        deprecated version) are added to `warnings` when it is given."""
        data = orjson.dumps(body) if isinstance(body, dict) else body
        resp = self.open(
            method,
            path,
            params=params,
            body=data,
            content_type=content_type,
            timeout=timeout,
            accept=accept,
        )
        if warnings is not None:
            warnings.extend(warning_text(w) for w in resp.warnings)
        result: JSON = orjson.loads(resp.data) if resp.data else {}
        return result

    def get(self, path: str, **params: Any) -> JSON:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: JSON, **params: Any) -> JSON:
        return self.request("POST", path, body=body, params=params)

    def put(self, path: str, body: JSON, **params: Any) -> JSON:
        return self.request("PUT", path, body=body, params=params)

    def delete(self, path: str, **params: Any) -> JSON:
        return self.request("DELETE", path, params=params)


_WARNING = re.compile(r'^\d{3} \S+ "((?:[^"\\]|\\.)*)"')


def warning_text(header: str) -> str:
    """The text of a Warning header (`299 - "unknown field \"x\""` -> `unknown field "x"`)."""
    m = _WARNING.match(header)
    return re.sub(r"\\(.)", r"\1", m.group(1)) if m else header


def _backoff(attempt: int, delay: float | None = None) -> None:
    time.sleep(
        min(delay, _MAX_WAIT)
        if delay is not None
        else min(0.2 * 2 ** (attempt - 1), 5.0) * random.uniform(0.5, 1.0)
    )
