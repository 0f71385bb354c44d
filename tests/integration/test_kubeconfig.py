"""The kubeconfig contract against the real sandbox API server: merged files, proxies,
credential refresh after a 401, gzip on LIST."""

from __future__ import annotations

import copy
import json
import selectors
import socket
import socketserver
import stat
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from backupd.cluster.client import KubeClient
from backupd.cluster.discovery import ApiResource
from backupd.cluster.http import HttpPool
from backupd.cluster.listing import list_pages
from backupd.cluster.proxied import ProxyTransport
from backupd.errors import ClusterUnauthorized
from backupd.sandbox.cluster import Sandbox
from tests.fixtures.cli import backupctl, error_line
from tests.fixtures.kubeconfigs import JSON, entry, read, write
from tests.fixtures.workloads import role_binding, wait_until_allowed

PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy")


# -- a loopback CONNECT proxy that counts what passes --------------------------------
@dataclass
class ConnectProxy:
    """Tunnels CONNECT host:port to 127.0.0.1:port (whatever the host), counting."""

    url: str = ""
    targets: list[str] = field(default_factory=list)
    up: int = 0  # bytes client -> server
    down: int = 0  # bytes server -> client
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, direction: str, n: int) -> None:
        with self.lock:
            setattr(self, direction, getattr(self, direction) + n)


def _pump(a: socket.socket, b: socket.socket, proxy: ConnectProxy) -> None:
    sel = selectors.DefaultSelector()
    sel.register(a, selectors.EVENT_READ, (b, "up"))
    sel.register(b, selectors.EVENT_READ, (a, "down"))
    while True:
        for key, _ in sel.select():
            src = key.fileobj
            assert isinstance(src, socket.socket)
            dst, direction = key.data
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                return
            proxy.count(direction, len(data))
            dst.sendall(data)


@pytest.fixture
def connect_proxy() -> Iterator[ConnectProxy]:
    proxy = ConnectProxy()

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            line = self.rfile.readline(8192).decode("latin-1")
            while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                pass
            method, target, _ = line.split(" ", 2)
            if method != "CONNECT":
                self.wfile.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            with proxy.lock:
                proxy.targets.append(target)
            port = int(target.rpartition(":")[2])
            with socket.create_connection(("127.0.0.1", port), timeout=10) as upstream:
                self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                self.wfile.flush()
                _pump(self.connection, upstream, proxy)

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    proxy.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield proxy
    server.shutdown()
    server.server_close()


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


# -- kubeconfigs derived from the sandbox's ---------------------------------------------
def variant(cluster: Sandbox, path: Path, **changes: object) -> Path:
    """The sandbox kubeconfig with its cluster entry changed (None deletes a key)."""
    config = copy.deepcopy(read(cluster.kubeconfig))
    entry_ = entry(config, "clusters", cluster.name)
    for key, value in changes.items():
        key = key.replace("_", "-")
        if value is None:
            entry_.pop(key, None)
        else:
            entry_[key] = value
    return write(path, config)


def api_port(cluster: Sandbox) -> int:
    port = urlsplit(entry(read(cluster.kubeconfig), "clusters", cluster.name)["server"]).port
    assert port is not None
    return port


def read_namespaces(kube: KubeClient) -> None:
    assert kube.get("/api/v1/namespaces")["kind"] == "NamespaceList"
    kube.get("/api/v1/namespaces/default")


def test_proxy_url_carries_every_request_through_the_proxy(
    cluster: Sandbox, connect_proxy: ConnectProxy, no_proxy_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = variant(cluster, tmp_path / "k.yaml", proxy_url=connect_proxy.url)
    no_proxy_env.setenv("NO_PROXY", "127.0.0.1")  # does not apply to proxy-url, as in kubectl
    with KubeClient.from_kubeconfig(path) as kube:
        assert isinstance(kube.transport, ProxyTransport)
        read_namespaces(kube)
    assert connect_proxy.targets == [f"127.0.0.1:{api_port(cluster)}"]
    assert connect_proxy.up > 0 and connect_proxy.down > 0


def test_https_proxy_from_the_environment_is_used(
    cluster: Sandbox, connect_proxy: ConnectProxy, no_proxy_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # a name only the proxy resolves (to loopback): the client cannot go direct
    server = f"https://api.backupd-test.invalid:{api_port(cluster)}"
    path = variant(cluster, tmp_path / "k.yaml", server=server, tls_server_name="localhost")
    no_proxy_env.setenv("HTTPS_PROXY", connect_proxy.url)
    no_proxy_env.setenv("NO_PROXY", "example.com,10.0.0.0/8")
    with KubeClient.from_kubeconfig(path) as kube:
        read_namespaces(kube)
    assert connect_proxy.targets == [f"api.backupd-test.invalid:{api_port(cluster)}"]


def loopback_name() -> str:
    name = socket.gethostname()
    try:
        resolved = socket.gethostbyname(name)
    except OSError:
        pytest.skip(f"the host name {name} does not resolve")
    if not resolved.startswith("127."):
        pytest.skip(f"the host name {name} is not a loopback address here")
    return name


@pytest.mark.parametrize(
    ("host", "no_proxy"),
    [("127.0.0.1", "127.0.0.1"), ("<hostname>", "<hostname>"), ("<hostname>", "*")],
)
def test_no_proxy_sends_requests_direct(
    cluster: Sandbox,
    connect_proxy: ConnectProxy,
    no_proxy_env: pytest.MonkeyPatch,
    tmp_path: Path,
    host: str,
    no_proxy: str,
) -> None:
    if "<hostname>" in (host, no_proxy):
        name = loopback_name()
        host, no_proxy = host.replace("<hostname>", name), no_proxy.replace("<hostname>", name)
    server = f"https://{host}:{api_port(cluster)}"
    path = variant(cluster, tmp_path / "k.yaml", server=server, tls_server_name="localhost")
    no_proxy_env.setenv("HTTPS_PROXY", connect_proxy.url)
    no_proxy_env.setenv("NO_PROXY", no_proxy)
    with KubeClient.from_kubeconfig(path) as kube:
        assert isinstance(kube.transport, HttpPool)
        read_namespaces(kube)
    assert connect_proxy.targets == []
    assert connect_proxy.up == connect_proxy.down == 0


# -- gzip on LIST -------------------------------------------------------------------------
def seed_configmaps(kube: KubeClient, namespace: str, count: int) -> None:
    def one(i: int) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"settings-{i:04d}", "labels": {"app": "shop"}},
            "data": {"config.yaml": f"replica: {i}\n" + "feature.flag: enabled\n" * 60},
        }
        kube.post(f"/api/v1/namespaces/{namespace}/configmaps", body)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(count)))


@pytest.mark.parametrize("compression", ["on", "disabled in the kubeconfig"])
def test_a_large_list_comes_back_gzip_encoded(
    cluster: Sandbox,
    namespace: str,
    connect_proxy: ConnectProxy,
    no_proxy_env: pytest.MonkeyPatch,
    tmp_path: Path,
    compression: str,
) -> None:
    off = compression != "on"
    path = variant(
        cluster, tmp_path / "k.yaml", proxy_url=connect_proxy.url, disable_compression=off or None
    )
    with KubeClient.from_kubeconfig(path) as kube:
        seed_configmaps(kube, namespace, 300)
        before = connect_proxy.down
        resp = kube.open(
            "GET",
            f"/api/v1/namespaces/{namespace}/configmaps",
            params={"limit": 500, "labelSelector": "app=shop"},
        )
        on_wire = connect_proxy.down - before
        decoded = len(resp.data)
        assert len(json.loads(resp.data)["items"]) == 300
        assert decoded > 128 * 1024  # above the API server's compression threshold
        if off:
            assert "content-encoding" not in resp.headers
            assert on_wire > decoded
        else:
            assert resp.headers["content-encoding"] == "gzip"
            assert on_wire * 5 < decoded, (on_wire, decoded)


def test_paged_listing_reads_gzip_pages_whole(
    cluster: Sandbox,
    namespace: str,
    connect_proxy: ConnectProxy,
    no_proxy_env: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    path = variant(cluster, tmp_path / "k.yaml", proxy_url=connect_proxy.url)
    configmaps = ApiResource("", "v1", "configmaps", "ConfigMap", True, frozenset({"list"}))
    with KubeClient.from_kubeconfig(path) as kube:
        seed_configmaps(kube, namespace, 250)
        before = connect_proxy.down
        pages = list(
            list_pages(kube, configmaps, namespace=namespace, label_selector="app=shop", limit=200)
        )
        on_wire = connect_proxy.down - before
    assert [len(items) for items, _ in pages] == [200, 50]
    names = [i["metadata"]["name"] for items, _ in pages for i in items]
    assert names == [f"settings-{i:04d}" for i in range(250)]
    assert on_wire * 3 < sum(len(json.dumps(i)) for items, _ in pages for i in items)


# -- credentials: exec plugins and token files ------------------------------------------
def service_account_token(cluster: Sandbox, namespace: str) -> str:
    """A ServiceAccount that may read the namespace (ClusterRole view), and a token for it
    from the TokenRequest API."""
    with KubeClient.from_kubeconfig(cluster.kubeconfig) as admin:
        admin.post(
            f"/api/v1/namespaces/{namespace}/serviceaccounts", {"metadata": {"name": "reader"}}
        )
        admin.post(
            f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings",
            role_binding("reader-view", "view", "reader", namespace),
        )
        wait_until_allowed(admin, "reader", namespace, "list", "configmaps")
        issued = admin.post(
            f"/api/v1/namespaces/{namespace}/serviceaccounts/reader/token",
            {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "spec": {"expirationSeconds": 3600},
            },
        )
    token: str = issued["status"]["token"]
    return token


def exec_plugin(directory: Path, *tokens: str) -> Path:
    """A plugin that prints tokens[n] on its n-th run (the last one ever after) and counts
    its runs in `runs`."""
    for i, token in enumerate(tokens):
        (directory / f"token-{i}").write_text(token)
    script = directory / "get-token"
    script.write_text(
        f"""#!/bin/sh
cd {directory}
n=$(cat runs 2>/dev/null || echo 0)
echo $((n + 1)) > runs
i=$n; [ $i -ge {len(tokens)} ] && i={len(tokens) - 1}
printf '{{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{{"token":"%s"}}}}' "$(cat token-$i)"
"""
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def runs(directory: Path) -> int:
    return int((directory / "runs").read_text())


def user_kubeconfig(cluster: Sandbox, path: Path, user: JSON) -> Path:
    """The sandbox's cluster with another user."""
    config = copy.deepcopy(read(cluster.kubeconfig))
    config["users"] = [{"name": "reader", "user": user}]
    for ctx in config["contexts"]:
        ctx["context"]["user"] = "reader"
    return write(path, config)


def exec_user(script: Path) -> JSON:
    return {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": str(script)}}


def test_an_exec_plugin_refused_once_is_run_once_more_and_requests_succeed(
    cluster: Sandbox, namespace: str, no_proxy_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    good = service_account_token(cluster, namespace)
    script = exec_plugin(tmp_path, "not-a-valid-token", good)
    path = user_kubeconfig(cluster, tmp_path / "k.yaml", exec_user(script))
    with KubeClient.from_kubeconfig(path) as kube:
        assert runs(tmp_path) == 1
        # eight workers meet the 401 together: one refresh between them
        with ThreadPoolExecutor(8) as pool:
            lists = list(
                pool.map(lambda _: kube.get(f"/api/v1/namespaces/{namespace}/configmaps"), range(8))
            )
        assert all(lst["kind"] == "ConfigMapList" for lst in lists)
        kube.get(f"/api/v1/namespaces/{namespace}/serviceaccounts/reader")
        assert kube.credentials.refreshes == 1
    assert runs(tmp_path) == 2


def test_an_exec_plugin_that_stays_refused_is_one_line_naming_it(
    cluster: Sandbox, no_proxy_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    script = exec_plugin(tmp_path, "not-a-valid-token")
    path = user_kubeconfig(cluster, tmp_path / "k.yaml", exec_user(script))
    with KubeClient.from_kubeconfig(path) as kube:
        errors: list[str] = []

        def attempt(_: int) -> None:
            try:
                kube.get("/api/v1/namespaces")
            except ClusterUnauthorized as e:
                errors.append(str(e))

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(attempt, range(16)))
    assert len(errors) == 16
    assert errors[0] == (
        "GET /api/v1/namespaces: 401 the API server refused the credentials of "
        f'kubeconfig user "reader" (exec plugin {script})'
    )
    assert runs(tmp_path) == 2  # loaded once, refreshed once, never again


def test_a_rotated_token_file_is_picked_up(
    cluster: Sandbox, namespace: str, no_proxy_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    token = tmp_path / "token"
    token.write_text("expired-token")
    path = user_kubeconfig(cluster, tmp_path / "k.yaml", {"tokenFile": str(token)})
    good = service_account_token(cluster, namespace)
    with KubeClient.from_kubeconfig(path) as kube:
        with pytest.raises(ClusterUnauthorized, match=f"token file {token}"):
            kube.get(f"/api/v1/namespaces/{namespace}/configmaps")
        rotated = tmp_path / "token.new"
        rotated.write_text(good)
        rotated.replace(token)
        assert kube.get(f"/api/v1/namespaces/{namespace}/configmaps")["kind"] == "ConfigMapList"


# -- merged kubeconfig files through backupctl ---------------------------------------------
def test_backupctl_merges_kubeconfig_files_and_finds_a_context_in_any(
    cluster: Sandbox, namespace: str, tmp_path: Path
) -> None:
    real = read(cluster.kubeconfig)
    context = real["current-context"]
    # the first file: its own (dead) cluster as current-context, and nothing else
    first = write(
        tmp_path / "first.yaml",
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "dead", "cluster": {"server": "https://127.0.0.1:9"}}],
            "users": [{"name": "nobody", "user": {"token": "x"}}],
            "contexts": [{"name": "dead", "context": {"cluster": "dead", "user": "nobody"}}],
            "current-context": "dead",
        },
    )
    env = {
        "KUBECONFIG": f"{first}:{tmp_path / 'missing.yaml'}:{cluster.kubeconfig}",
        "BACKUPD_CONFIG": str(tmp_path / "config.yaml"),
        "BACKUPD_LOCATION": f"file://{tmp_path / 'store'}",
    }
    ok = backupctl(
        "backup",
        "create",
        "merged",
        "--include-namespaces",
        namespace,
        "--context",
        context,
        env=env,
    )
    assert ok.returncode == 0, ok.stderr
    by_flag = backupctl(
        "backup", "create", "by-flag", "--include-namespaces", namespace,
        "--kubeconfig", f"{first}:{cluster.kubeconfig}", "--context", context,
        env={k: v for k, v in env.items() if k != "KUBECONFIG"},
    )  # fmt: skip
    assert by_flag.returncode == 0, by_flag.stderr
    # without --context the first file's current-context wins: its dead cluster
    dead = backupctl("backup", "create", "dead", "--include-namespaces", namespace, env=env)
    assert "https://127.0.0.1:9" in error_line(dead)
