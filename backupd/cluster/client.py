"""The one place that talks HTTP to a Kubernetes API server.

Requests return raw JSON (dicts), never client model objects. Credentials come from
a kubeconfig (file, context) or the in-cluster service account, loaded by the
kubernetes package's config loader; requests go through our own keep-alive pool
(cluster/http.py), which many workers share.

Retries with backoff for 429, 5xx and connection failures live here; errors are
wrapped into the backupd hierarchy (see errors.py) with the server's message, cut
short so no large payload reaches a log.
"""

from __future__ import annotations

import os
import random
import re
import ssl
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from backupd.cluster.http import HttpPool, Response
from backupd.errors import (
    ClusterConflict,
    ClusterError,
    ClusterForbidden,
    ClusterGone,
    ClusterInvalid,
    ClusterNotFound,
    ClusterUnreachable,
    UserInputError,
)

JSON = dict[str, Any]
_RETRY_STATUSES = {429, 500, 502, 503, 504}
_MAX_ATTEMPTS = 5
_STATUS_ERRORS: dict[int, type[ClusterError]] = {
    403: ClusterForbidden,
    404: ClusterNotFound,
    409: ClusterConflict,
    410: ClusterGone,
    422: ClusterInvalid,
}


def _load_configuration(
    kubeconfig: str | Path | None, context: str | None
) -> k8s_client.Configuration:
    cfg = k8s_client.Configuration()
    path = str(kubeconfig) if kubeconfig else None
    try:
        if (
            path is None
            and "KUBECONFIG" not in os.environ
            and "KUBERNETES_SERVICE_HOST" in os.environ
        ):
            k8s_config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        else:
            k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=path, context=context, client_configuration=cfg, persist_config=False
            )
    except (k8s_config.ConfigException, OSError, TypeError, ValueError) as e:
        where = path or os.environ.get("KUBECONFIG") or "~/.kube/config"
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserInputError(f"cannot load kubeconfig {where}: {first}") from e
    return cfg


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


class KubeClient:
    """A small, thread-safe HTTP client for one API server."""

    def __init__(
        self, configuration: k8s_client.Configuration, *, pool_size: int = 32, timeout: float = 60.0
    ) -> None:
        self.configuration = configuration
        self.host = configuration.host.rstrip("/")
        self.timeout = timeout
        secure = self.host.startswith("https://")
        try:
            self._pool = HttpPool(
                self.host,
                ssl_context=_ssl_context(configuration) if secure else None,
                server_hostname=getattr(configuration, "tls_server_name", None) or None,
                size=pool_size,
            )
        except ValueError as e:
            raise UserInputError(f"the API server address is not usable: {e}") from e

    @classmethod
    def from_kubeconfig(
        cls, kubeconfig: str | Path | None = None, *, context: str | None = None
    ) -> KubeClient:
        return cls(_load_configuration(kubeconfig, context))

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> KubeClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- low level ----------------------------------------------------------
    def _headers(self, content_type: str | None, accept: str) -> dict[str, str]:
        headers = {"User-Agent": "backupd/0.1", "Accept": accept}
        if content_type:
            headers["Content-Type"] = content_type
        cfg = self.configuration
        if cfg.refresh_api_key_hook is not None:
            cfg.refresh_api_key_hook(cfg)
        token = cfg.get_api_key_with_prefix("authorization") or cfg.get_api_key_with_prefix(
            "BearerToken"
        )
        if token:
            headers["Authorization"] = token
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
        """Send a request; return the (successful) response. Retries transient failures."""
        query = {k: v for k, v in (params or {}).items() if v is not None}
        target = path + (f"?{urlencode(query)}" if query else "")
        for attempt in range(1, _MAX_ATTEMPTS + 1):
            try:
                resp = self._pool.request(
                    method,
                    target,
                    headers=self._headers(content_type if body is not None else None, accept),
                    body=body,
                    timeout=timeout or self.timeout,
                )
            except ssl.SSLCertVerificationError as e:
                raise ClusterUnreachable(
                    f"the Kubernetes API server at {self.host} failed TLS verification: "
                    f"{e.verify_message or e.reason}",
                    hint="check the kubeconfig's certificate-authority and server",
                ) from e
            except OSError as e:
                if attempt == _MAX_ATTEMPTS:
                    raise ClusterUnreachable(
                        f"cannot reach the Kubernetes API server at {self.host} "
                        f"({type(e).__name__})",
                        hint="is the cluster running and the kubeconfig right?",
                    ) from e
                _backoff(attempt)
                continue
            if resp.status in _RETRY_STATUSES and attempt < _MAX_ATTEMPTS:
                _backoff(attempt, _retry_after(resp))
                continue
            if resp.status >= 400:
                raise self._error(method, path, resp)
            return resp
        raise AssertionError("unreachable")  # pragma: no cover

    def _error(self, method: str, path: str, resp: Response) -> ClusterError:
        raw = resp.data[:65536]
        message = raw.decode(errors="replace")[:300]
        reason = ""
        try:
            status = orjson.loads(raw)
            message = str(status.get("message", message))[:500]
            reason = str(status.get("reason", ""))
            details = status.get("details") or {}
        except orjson.JSONDecodeError:
            details = {}
        cls = _STATUS_ERRORS.get(resp.status, ClusterError)
        err = cls(f"{method} {path}: {resp.status} {message}")
        err.status = resp.status
        err.reason = reason
        err.causes = [str(c.get("message", "")) for c in details.get("causes", []) or []]
        return err

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


def _retry_after(resp: Response) -> float | None:
    value = resp.headers.get("retry-after")
    try:
        return min(float(value), 10.0) if value else None
    except ValueError:
        return None


def _backoff(attempt: int, delay: float | None = None) -> None:
    time.sleep(
        delay
        if delay is not None
        else min(0.2 * 2 ** (attempt - 1), 5.0) * random.uniform(0.5, 1.0)
    )
