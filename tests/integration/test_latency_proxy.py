"""The sandbox's latency proxy: a round trip costs 2 x delay more, bytes pass intact and
are counted, and a kubeconfig through it reaches the API server over untouched TLS."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from backupd.cluster.client import KubeClient
from backupd.sandbox.cluster import Sandbox
from backupd.sandbox.latency import LatencyProxy, latency_proxy


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


@pytest.fixture()
def echo_kubeconfig(tmp_path: Path) -> Iterator[Path]:
    """A kubeconfig whose server is a TCP echo server on 127.0.0.1 (the proxy only moves bytes)."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "echo", "cluster": {"server": f"https://127.0.0.1:{port}"}}],
        "users": [{"name": "u", "user": {}}],
        "contexts": [{"name": "echo", "context": {"cluster": "echo", "user": "u"}}],
        "current-context": "echo",
    }
    path = tmp_path / "echo.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    yield path
    server.shutdown()
    server.server_close()


def _connect(proxy: LatencyProxy) -> socket.socket:
    server = yaml.safe_load(proxy.kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    port = int(server.rsplit(":", 1)[1])
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def _round_trip(s: socket.socket) -> float:
    started = time.monotonic()
    s.sendall(b"x")
    assert s.recv(1) == b"x"
    return time.monotonic() - started


def test_each_round_trip_takes_twice_the_delay_more(echo_kubeconfig: Path, tmp_path: Path) -> None:
    with latency_proxy(echo_kubeconfig, 25, tmp_path / "proxy") as proxy, _connect(proxy) as s:
        _round_trip(s)  # the connection is up
        trips = sorted(_round_trip(s) for _ in range(5))
    assert 0.050 <= trips[0] < 0.2, trips


def test_a_large_stream_arrives_intact_and_its_bytes_are_counted(
    echo_kubeconfig: Path, tmp_path: Path
) -> None:
    payload = bytes(range(256)) * 40_000  # 10 MB, more than the proxy's high-water mark
    with latency_proxy(echo_kubeconfig, 2, tmp_path / "proxy") as proxy, _connect(proxy) as s:
        received = bytearray()

        def read() -> None:
            while len(received) < len(payload):
                received.extend(s.recv(1 << 20))

        reader = threading.Thread(target=read)
        reader.start()
        s.sendall(payload)
        reader.join(timeout=60)
        stats = proxy.stats()
    assert bytes(received) == payload
    assert stats.connections == 1
    assert stats.bytes_up == len(payload) and stats.bytes_down == len(payload)


def test_a_kubeconfig_through_the_proxy_reaches_the_api_server(
    cluster: Sandbox, tmp_path: Path
) -> None:
    direct = KubeClient.from_kubeconfig(cluster.kubeconfig)
    with latency_proxy(cluster.kubeconfig, 10, tmp_path / "proxy") as proxy:
        slow = KubeClient.from_kubeconfig(proxy.kubeconfig)
        assert slow.get("/version")["major"] == direct.get("/version")["major"]
        started = time.monotonic()
        for _ in range(5):
            slow.get("/api/v1/namespaces/default")
        per_request = (time.monotonic() - started) / 5
        stats = proxy.stats()
        slow.close()
    direct.close()
    assert per_request >= 0.020  # one round trip: 2 x 10 ms
    assert stats.bytes_up > 0 and stats.bytes_down > stats.bytes_up
