"""Which proxy a request to the API server goes through (kubectl's rules)."""

from __future__ import annotations

import base64
import gzip
import importlib.util
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from kubernetes import client as k8s_client

from backupd.cluster import proxy
from backupd.cluster.client import KubeClient
from backupd.cluster.http import HttpPool
from backupd.cluster.proxied import ProxyTransport
from backupd.errors import UserInputError

SERVER = "https://api.corp.example:6443"
PROXY = "http://proxy.corp:3128"


@pytest.mark.parametrize(
    ("server", "explicit", "env", "expected"),
    [
        # the kubeconfig's proxy-url wins, and NO_PROXY does not apply to it
        (SERVER, "http://pu:8080", {"HTTPS_PROXY": PROXY, "NO_PROXY": "*"}, "http://pu:8080"),
        ("https://127.0.0.1:6443", "http://pu:8080", {}, "http://pu:8080"),
        (SERVER, None, {}, None),
        (SERVER, None, {"HTTPS_PROXY": PROXY}, PROXY),
        (SERVER, None, {"https_proxy": PROXY}, PROXY),
        (SERVER, None, {"HTTPS_PROXY": PROXY, "https_proxy": "http://lower:1"}, PROXY),
        (SERVER, None, {"HTTPS_PROXY": "", "https_proxy": PROXY}, PROXY),
        (SERVER, None, {"HTTP_PROXY": PROXY}, None),  # https is not sent to an http proxy
        ("http://api.corp.example:8080", None, {"HTTP_PROXY": PROXY}, PROXY),
        (SERVER, None, {"HTTPS_PROXY": "proxy.corp:3128"}, "http://proxy.corp:3128"),
        (SERVER, None, {"HTTPS_PROXY": "socks5://s:1080"}, "socks5://s:1080"),
        # loopback never goes through the environment's proxy (Go's rule)
        ("https://127.0.0.1:6443", None, {"HTTPS_PROXY": PROXY}, None),
        ("https://localhost:6443", None, {"HTTPS_PROXY": PROXY}, None),
        ("https://[::1]:6443", None, {"HTTPS_PROXY": PROXY}, None),
    ],
)
def test_the_proxy_that_applies(
    server: str, explicit: str | None, env: dict[str, str], expected: str | None
) -> None:
    assert proxy.choose(server, explicit=explicit, environ=env) == expected


@pytest.mark.parametrize(
    ("host", "port", "no_proxy", "bypassed"),
    [
        ("api.corp.example", 6443, "*", True),
        ("api.corp.example", 6443, "corp.example", True),
        ("corp.example", 6443, "corp.example", True),
        ("api.corp.example", 6443, ".corp.example", True),
        ("corp.example", 6443, ".corp.example", False),
        ("api.corp.example", 6443, "*.corp.example", True),
        ("notcorp.example", 6443, "corp.example", False),
        ("api.corp.example", 6443, "other.example, corp.example", True),
        ("api.corp.example", 6443, "corp.example:6443", True),
        ("api.corp.example", 6443, "corp.example:443", False),
        ("API.Corp.Example", 6443, "corp.example", True),
        ("10.1.2.3", 6443, "10.1.2.3", True),
        ("10.1.2.3", 6443, "10.1.2.4", False),
        ("10.1.2.3", 6443, "10.0.0.0/8", True),
        ("11.1.2.3", 6443, "10.0.0.0/8", False),
        ("10.1.2.3", 6443, "10.1.2.3:6443", True),
        ("10.1.2.3", 6443, "10.1.2.3:443", False),
        ("fd00::5", 6443, "fd00::/8", True),
        ("fd00::5", 6443, "[fd00::5]:6443", True),
        ("api.corp.example", 6443, "10.0.0.0/8", False),  # a CIDR never matches a name
        ("10.1.2.3", 6443, "corp.example", False),
        ("api.corp.example", 6443, "", False),
        ("api.corp.example", 6443, " , ,", False),
    ],
)
def test_no_proxy_entries(host: str, port: int, no_proxy: str, bypassed: bool) -> None:
    assert proxy.bypassed(host, port, no_proxy) is bypassed


def test_no_proxy_is_read_in_either_case() -> None:
    for name in ("NO_PROXY", "no_proxy"):
        env = {"HTTPS_PROXY": PROXY, name: "corp.example"}
        assert proxy.choose(SERVER, explicit=None, environ=env) is None


@pytest.mark.parametrize("bad", ["ftp://proxy:21", "http://:3128", "http://proxy:port"])
def test_a_proxy_url_that_cannot_work_is_a_one_line_error(bad: str) -> None:
    with pytest.raises(UserInputError, match="proxy URL"):
        proxy.choose(SERVER, explicit=bad, environ={})


def test_a_proxy_password_never_reaches_a_message() -> None:
    assert proxy.redact("http://bob:s3cret@proxy:3128") == "http://bob:***@proxy:3128"
    with pytest.raises(UserInputError) as caught:
        proxy.proxy_url("gopher://bob:s3cret@proxy:3128")
    assert "s3cret" not in str(caught.value)


def client(proxy_url: str | None, monkeypatch: pytest.MonkeyPatch, **env: str) -> KubeClient:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    cfg = k8s_client.Configuration()
    cfg.host = SERVER
    return KubeClient(cfg, proxy_url=proxy_url)


def test_without_a_proxy_the_keep_alive_pool_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    with client(None, monkeypatch, NO_PROXY="corp.example", HTTPS_PROXY=PROXY) as kube:
        assert isinstance(kube.transport, HttpPool)
        assert kube.proxy is None


def test_with_a_proxy_the_proxy_transport_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    with client(None, monkeypatch, HTTPS_PROXY=PROXY) as kube:
        assert isinstance(kube.transport, ProxyTransport)
        assert kube.proxy == PROXY


@pytest.mark.skipif(importlib.util.find_spec("socks") is not None, reason="PySocks is installed")
def test_a_socks_proxy_without_pysocks_is_an_error_not_a_direct_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(UserInputError, match=r"SOCKS proxy, which needs the PySocks package"):
        client("socks5://127.0.0.1:1080", monkeypatch)


class ForwardProxy(BaseHTTPRequestHandler):
    """Stands in for a forwarding proxy: records what it was asked, answers itself."""

    seen: ClassVar[list[tuple[str, str | None]]] = []

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Proxy-Authorization")))
        body = gzip.compress(b'{"kind":"NamespaceList","items":[]}')
        self.send_response(200)
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Warning", '299 - "deprecated"')
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


def test_a_plain_http_server_is_reached_through_the_proxy_with_its_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), ForwardProxy)
    ForwardProxy.seen = []
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        cfg = k8s_client.Configuration()
        cfg.host = "http://api.corp.example:8080/prefix"
        via = f"http://bob:s%40cret@127.0.0.1:{httpd.server_address[1]}"
        with KubeClient(cfg, proxy_url=via) as kube:
            warnings: list[str] = []
            reply = kube.request(
                "GET", "/api/v1/namespaces", params={"limit": 5}, warnings=warnings
            )
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert reply["kind"] == "NamespaceList"
    assert warnings == ["deprecated"]
    expected_auth = "Basic " + base64.b64encode(b"bob:s@cret").decode()
    assert ForwardProxy.seen == [
        ("http://api.corp.example:8080/prefix/api/v1/namespaces?limit=5", expected_auth)
    ]
