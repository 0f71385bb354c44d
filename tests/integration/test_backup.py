"""Backups of a realistic namespace on a real cluster, through the engine and the CLI."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from backupd.api.backup import Backup, BackupSpec, ClusterResources
from backupd.api.common import Phase
from backupd.archive.reader import ArchiveReader, read_index_file
from backupd.backup import engine as backup_engine
from backupd.cluster.client import KubeClient
from backupd.cluster.discovery import discover
from backupd.cluster.listing import list_pages
from backupd.errors import ClusterGone
from backupd.sandbox.cluster import Sandbox
from backupd.storage.catalog import list_committed
from backupd.storage.layout import BackupKeys
from backupd.storage.location import Location
from tests.fixtures.cli import backupctl, error_line
from tests.fixtures.waiting import eventually
from tests.fixtures.workloads import WIDGET_CRD, Seeded, configmap, seed_realistic_namespace

pytestmark = pytest.mark.integration

# What controllers add to any namespace with these workloads.
GENERATED = {
    "pods",
    "replicasets.apps",
    "controllerrevisions.apps",
    "endpoints",
    "endpointslices.discovery.k8s.io",
}
DEFAULT_OBJECTS = {("serviceaccounts", "default"), ("configmaps", "kube-root-ca.crt")}


@pytest.fixture()
def shop(kube: client.ApiClient, namespace: str) -> Seeded:
    return seed_realistic_namespace(kube, namespace)


def backup(kc: KubeClient, loc: Location, name: str, **spec: Any) -> Backup:
    return backup_engine.run(name, BackupSpec(**spec), kube=kc, location=loc)


def archive_items(loc: Location, b: Backup, tmp_path: Path) -> list[Any]:
    assert b.status.index is not None
    path = tmp_path / f"{b.metadata.name}-index.gz"
    loc.download(b.status.index.key, path, sha256=b.status.index.sha256)
    return read_index_file(path)[1]


def test_archive_holds_exactly_the_namespace_and_what_it_uses(
    kc: KubeClient, loc: Location, shop: Seeded, tmp_path: Path
) -> None:
    b = backup(kc, loc, "full", included_namespaces=[shop.namespace])
    assert b.status.phase is Phase.completed, b.status.errors
    entries = archive_items(loc, b, tmp_path)
    namespaced = {(e.group_resource, e.name) for e in entries if e.namespace}
    assert {e.namespace for e in entries if e.namespace} == {shop.namespace}
    assert shop.items <= namespaced
    extra = namespaced - shop.items - DEFAULT_OBJECTS
    assert {gr for gr, _ in extra} <= GENERATED, extra
    cluster_scoped = {(e.group_resource, e.name) for e in entries if not e.namespace}
    assert cluster_scoped == {
        ("namespaces", shop.namespace),
        ("persistentvolumes", shop.pv),
        ("storageclasses.storage.k8s.io", shop.storage_class),
        ("customresourcedefinitions.apiextensions.k8s.io", WIDGET_CRD),
        ("clusterroles.rbac.authorization.k8s.io", "view"),
    }
    assert b.status.progress.items_backed_up == len(entries)
    assert b.status.namespace_counts == {shop.namespace: len(namespaced)}
    skipped = {s.resource for s in b.status.skipped_resources}
    assert {"events", "nodes", "leases.coordination.k8s.io"} <= skipped


def test_archive_members_follow_the_layout_and_match_their_digests(
    kc: KubeClient, loc: Location, shop: Seeded, tmp_path: Path
) -> None:
    b = backup(kc, loc, "layout", included_namespaces=[shop.namespace], compression="zstd")
    assert b.status.archive is not None and b.status.archive.key.endswith(".tar.zst")
    local = tmp_path / "a.tar.zst"
    loc.download(b.status.archive.key, local, sha256=b.status.archive.sha256)
    objects = {e.path: obj for e, obj in ArchiveReader(local).objects()}
    ns = shop.namespace
    cm = objects[f"resources/configmaps/namespaces/{ns}/settings.json"]
    assert cm["data"] == {"mode": "prod", "colour": "blue"} and cm["kind"] == "ConfigMap"
    assert f"resources/deployments.apps/namespaces/{ns}/web.json" in objects
    assert f"resources/persistentvolumes/cluster/{shop.pv}.json" in objects
    assert "managedFields" not in cm["metadata"]


def test_filters_selector_and_exclude_label(
    kc: KubeClient, loc: Location, kube: client.ApiClient, shop: Seeded, tmp_path: Path
) -> None:
    core = client.CoreV1Api(kube)
    hidden = configmap("hidden")
    hidden["metadata"]["labels"] = {"backupd.io/exclude": "true"}
    core.create_namespaced_config_map(shop.namespace, hidden)

    only = backup(
        kc,
        loc,
        "only-config",
        included_namespaces=[shop.namespace],
        included_resources=["configmaps", "secrets"],
    )
    kinds = {e.group_resource for e in archive_items(loc, only, tmp_path) if e.namespace}
    assert kinds == {"configmaps", "secrets"}
    names = {e.name for e in archive_items(loc, only, tmp_path)}
    assert "hidden" not in names and "settings" in names

    no_apps = backup(
        kc,
        loc,
        "no-apps",
        included_namespaces=[shop.namespace],
        excluded_resources=["*.apps", "pods"],
    )
    kinds = {e.group_resource for e in archive_items(loc, no_apps, tmp_path)}
    assert not {k for k in kinds if k.endswith(".apps") or k == "pods"}
    assert "configmaps" in kinds

    web = backup(
        kc, loc, "only-web", included_namespaces=[shop.namespace], label_selector="app=web"
    )
    entries = [e for e in archive_items(loc, web, tmp_path) if e.namespace]
    assert {(e.group_resource, e.name) for e in entries} >= {("deployments.apps", "web")}
    assert all(
        e.group_resource in {"deployments.apps", "pods", "replicasets.apps"} for e in entries
    )

    wild = backup(
        kc,
        loc,
        "wild",
        included_namespaces=[shop.namespace[:-3] + "*"],
        excluded_namespaces=["kube-*"],
    )
    assert {e.namespace for e in archive_items(loc, wild, tmp_path) if e.namespace} == {
        shop.namespace
    }


def test_cluster_resources_true_and_false(
    kc: KubeClient, loc: Location, shop: Seeded, tmp_path: Path
) -> None:
    none = backup(
        kc,
        loc,
        "no-cluster",
        included_namespaces=[shop.namespace],
        include_cluster_resources=ClusterResources.false,
    )
    cluster_scoped = {
        e.group_resource for e in archive_items(loc, none, tmp_path) if not e.namespace
    }
    assert cluster_scoped == {"namespaces"}
    everything = backup(
        kc,
        loc,
        "all-cluster",
        included_namespaces=[shop.namespace],
        include_cluster_resources=ClusterResources.true,
    )
    names = {
        (e.group_resource, e.name)
        for e in archive_items(loc, everything, tmp_path)
        if not e.namespace
    }
    assert (
        "clusterroles.rbac.authorization.k8s.io",
        "admin",
    ) in names  # not referenced, still taken
    assert not any(gr == "nodes" for gr, _ in names)


class ExpiringClient(KubeClient):
    """The real client, except that the third page of a LIST answers 410 Gone once."""

    calls = 0

    def open(self, method: str, path: str, **kw: Any) -> Any:
        if path.endswith("/configmaps"):
            self.calls += 1
            if self.calls == 3:
                raise ClusterGone("GET: 410 continue token expired")
        return super().open(method, path, **kw)


def test_an_expired_continue_token_restarts_without_duplicates_or_gaps(
    cluster: Sandbox, kube: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(kube)
    for i in range(23):
        core.create_namespaced_config_map(namespace, configmap(f"cm-{i:02d}", i=str(i)))
    eventually(  # the controller-manager adds it to every namespace, in its own time
        lambda: any(
            c.metadata.name == "kube-root-ca.crt"
            for c in core.list_namespaced_config_map(namespace).items
        ),
        what="kube-root-ca.crt in the namespace",
    )
    kc = ExpiringClient.from_kubeconfig(cluster.kubeconfig)
    res = discover(kc).by_group_resource()["configmaps"]
    names = [
        i["metadata"]["name"]
        for items, _ in list_pages(kc, res, namespace=namespace, limit=5)
        for i in items
    ]
    expected = sorted([f"cm-{i:02d}" for i in range(23)] + ["kube-root-ca.crt"])
    assert kc.calls > 3  # the restart happened
    assert names == expected


class FailingArchiveStore:
    """A real local store that refuses the archive upload, like a bucket going away."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.url = inner.url

    def put(self, key: str, stream: Any) -> Any:
        if "resources.tar" in key:
            from backupd.errors import StorageUnreachable

            raise StorageUnreachable("connection reset while uploading")
        return self.inner.put(key, stream)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_storage_failure_mid_backup_is_failed_never_completed(
    kc: KubeClient, loc: Location, shop: Seeded, tmp_path: Path
) -> None:
    flaky = Location(loc.url, FailingArchiveStore(loc.store), loc.access_mode)  # type: ignore[arg-type]
    b = backup(kc, flaky, "broken", included_namespaces=[shop.namespace])
    assert b.status.phase is Phase.failed
    assert "connection reset" in (b.status.failure_reason or "")
    listed = {d["metadata"]["name"]: d["status"]["phase"] for d in list_committed(loc)}
    assert listed == {"broken": "Failed"}
    assert not loc.exists(BackupKeys("broken").archive("gzip"))


def cli_env(tmp_path: Path, cluster: Sandbox) -> dict[str, str]:
    return {
        "KUBECONFIG": str(cluster.kubeconfig),
        "BACKUPD_CONFIG": str(tmp_path / "config.yaml"),
        "BACKUPD_LOCATION": f"file://{tmp_path / 'cli-store'}",
    }


def test_cli_create_get_describe_show_diff_logs_download_delete(
    tmp_path: Path, cluster: Sandbox, kube: client.ApiClient, shop: Seeded
) -> None:
    env = cli_env(tmp_path, cluster)
    ns = shop.namespace
    first = backupctl(
        "backup", "create", "first", "--include-namespaces", ns, "-o", "json", env=env
    )
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["status"]["phase"] == "Completed"
    core = client.CoreV1Api(kube)
    core.patch_namespaced_config_map("settings", ns, {"data": {"mode": "debug"}})
    core.patch_namespaced_secret("db-credentials", ns, {"stringData": {"password": "n3w-s3cr3t"}})
    core.create_namespaced_config_map(ns, configmap("added-later", a="b"))
    assert (
        backupctl("backup", "create", "second", "--include-namespaces", ns, env=env).returncode == 0
    )

    listed = json.loads(backupctl("backup", "get", "-o", "json", env=env).stdout)["items"]
    assert {b["metadata"]["name"]: b["status"]["phase"] for b in listed} == {
        "first": "Completed",
        "second": "Completed",
    }
    described = backupctl("backup", "describe", "first", "--details", env=env)
    assert (
        described.returncode == 0 and "Per namespace" in described.stdout and ns in described.stdout
    )
    yaml_desc = backupctl("backup", "describe", "first", "-o", "yaml", env=env)
    assert "phase: Completed" in yaml_desc.stdout

    shown = backupctl("backup", "show", "first", "configmap/settings", "-n", ns, env=env)
    assert shown.returncode == 0 and "mode: prod" in shown.stdout
    secret_shown = backupctl(
        "backup", "show", "first", "secret/db-credentials", "-n", ns, "-o", "json", env=env
    )
    assert json.loads(secret_shown.stdout)["data"] == {"password": "***"}

    diff = backupctl("backup", "diff", "first", "second", "-o", "json", env=env)
    assert diff.returncode == 0, diff.stderr
    d = json.loads(diff.stdout)
    assert f"configmaps/added-later -n {ns}" in d["added"]
    changed = {c["item"]: c["changes"] for c in d["changed"]}
    assert {"path": "data.mode", "old": "prod", "new": "debug"} in changed[
        f"configmaps/settings -n {ns}"
    ]
    assert changed[f"secrets/db-credentials -n {ns}"] == [
        {"path": "data.password", "old": "***", "new": "*** (changed)"}
    ]

    logs = backupctl("backup", "logs", "first", env=env)
    assert "backup Completed" in logs.stdout
    dl = backupctl("backup", "download", "first", "-d", str(tmp_path / "dl"), env=env)
    assert dl.returncode == 0 and Path(dl.stdout.strip()).stat().st_size > 0

    everything = "".join(
        r.stdout + r.stderr for r in (first, described, yaml_desc, secret_shown, diff, logs)
    )
    for value in ("s3cr3t-value", "n3w-s3cr3t"):
        assert value not in everything
        assert base64.b64encode(value.encode()).decode() not in everything

    assert backupctl("backup", "delete", "first", "--yes", env=env).returncode == 0
    names = [
        b["metadata"]["name"]
        for b in json.loads(backupctl("backup", "get", "-o", "json", env=env).stdout)["items"]
    ]
    assert names == ["second"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["ok-name", "--include-namespaces", "no-such-ns"],
            "namespace(s) not found in the cluster: no-such-ns",
        ),
        (["ok-name", "--include-resources", "gizmos"], "unknown resource(s): gizmos"),
        (["ok-name", "--selector", "app in (web"], "invalid label selector"),
        (["Not_A_Name"], "invalid backup name"),
        (["x" * 64], "longer than 63 characters"),
        (["ok-name", "--ttl", "forever"], "invalid duration"),
    ],
)
def test_bad_input_gets_one_line_and_writes_nothing(
    tmp_path: Path, cluster: Sandbox, args: list[str], message: str
) -> None:
    env = cli_env(tmp_path, cluster)
    assert message in error_line(backupctl("backup", "create", *args, env=env))
    store = tmp_path / "cli-store"
    assert not store.exists() or not any(store.rglob("*.json"))


def test_an_unreachable_api_server_is_one_line(tmp_path: Path, cluster: Sandbox) -> None:
    from backupd.sandbox.processes import free_port

    text = cluster.kubeconfig.read_text().replace(f":{cluster.state.api_port}", f":{free_port()}")  # type: ignore[union-attr]
    dead = tmp_path / "dead.kubeconfig"
    dead.write_text(text)
    env = {**cli_env(tmp_path, cluster), "KUBECONFIG": str(dead)}
    line = error_line(
        backupctl("backup", "create", "nowhere", "--include-namespaces", "default", env=env)
    )
    assert "cannot reach the Kubernetes API server" in line
    assert not (tmp_path / "cli-store").exists() or not any(
        (tmp_path / "cli-store").rglob("backup.json")
    )


def test_a_server_that_fails_tls_verification_is_one_line_at_once(
    tmp_path: Path, cluster: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    import yaml

    from backupd.sandbox import certs

    other = certs.generate(tmp_path / "other-pki", service_ip="127.96.0.1")
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["certificate-authority-data"] = base64.b64encode(
        other.ca_cert.read_bytes()
    ).decode()
    wrong_ca = tmp_path / "wrong-ca.kubeconfig"
    wrong_ca.write_text(yaml.safe_dump(config))
    env = {**cli_env(tmp_path, cluster), "KUBECONFIG": str(wrong_ca)}
    started = time.monotonic()
    line = error_line(
        backupctl("backup", "create", "untrusted", "--include-namespaces", "default", env=env)
    )
    assert "failed TLS verification" in line
    assert time.monotonic() - started < 10  # no retries with backoff: it will not get better
    assert not any((tmp_path / "cli-store").rglob("backup.json"))

    # the same in-process: the first failure is final, no backoff before it
    from backupd.cluster import client as kube_client
    from backupd.errors import ClusterUnreachable

    backoffs: list[int] = []
    monkeypatch.setattr(kube_client, "_backoff", lambda attempt, _delay=None: backoffs.append(1))
    with pytest.raises(ClusterUnreachable, match="failed TLS verification"):
        KubeClient.from_kubeconfig(wrong_ca).get("/version")
    assert backoffs == []
