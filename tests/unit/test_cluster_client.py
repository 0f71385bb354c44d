"""The HTTP client's request line, against a local HTTP server (no cluster)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from kubernetes import client as k8s_client

from backupd.cluster.client import KubeClient, warning_text
from backupd.errors import ClusterNotFound


class Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str]]] = []

    def do_GET(self) -> None:
        self.seen.append(("GET", self.path))
        found = "missing" not in self.path
        body = json.dumps(
            {"kind": "NamespaceList", "items": []}
            if found
            else {"kind": "Status", "reason": "NotFound", "message": "not here"}
        ).encode()
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    Recorder.seen = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def client_for(host: str) -> KubeClient:
    cfg = k8s_client.Configuration()
    cfg.host = host
    return KubeClient(cfg)


def test_a_server_url_with_a_path_prefixes_every_request(server: str) -> None:
    with client_for(f"{server}/k8s/clusters/c-1/") as kube:
        assert kube.get("/api/v1/namespaces", limit=1, labelSelector=None)["items"] == []
    assert Recorder.seen == [("GET", "/k8s/clusters/c-1/api/v1/namespaces?limit=1")]


def test_plain_http_and_an_error_reply_then_a_good_one(server: str) -> None:
    with client_for(server) as kube:
        with pytest.raises(ClusterNotFound, match="not here"):
            kube.get("/api/v1/namespaces/missing")
        assert kube.get("/api/v1/namespaces")["kind"] == "NamespaceList"
    assert [p for _, p in Recorder.seen] == ["/api/v1/namespaces/missing", "/api/v1/namespaces"]


def test_warning_text_unquotes_the_api_servers_warnings() -> None:
    assert warning_text('299 - "unknown field \\"spec.color\\""') == 'unknown field "spec.color"'
    assert warning_text("not a warn-code") == "not a warn-code"
