"""Incident: a namespace is deleted; `backupctl restore create` brings it back."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client

from backupd.archive.reader import read_index_file
from backupd.sandbox.cluster import Sandbox
from backupd.storage.layout import BackupKeys
from tests.fixtures.cli import backupctl
from tests.fixtures.waiting import eventually
from tests.integration.restore_support import (
    apply,
    backup,
    counts,
    create_shop,
    delete_namespace,
    restore,
    retained_volume,
    running_pods,
    wait_shop_running,
)

pytestmark = pytest.mark.integration

SKIPPED_KINDS = {"Pod", "ReplicaSet", "ControllerRevision", "Endpoints", "EndpointSlice", "Event"}


def data_of(core: client.CoreV1Api, ns: str) -> dict[str, object]:
    """Every ConfigMap's and Secret's data, exactly as stored (base64 for Secrets)."""
    out: dict[str, object] = {}
    for cm in core.list_namespaced_config_map(ns).items:
        if cm.metadata.name != "kube-root-ca.crt":
            out[f"cm/{cm.metadata.name}"] = (cm.data, cm.binary_data)
    for s in core.list_namespaced_secret(ns).items:
        out[f"secret/{s.metadata.name}"] = (s.type, s.data)
    return out


def restorable_items(root: Path, name: str) -> set[tuple[str, str]]:
    """(kind, name) of every namespaced item in a backup that a restore brings back itself."""
    _, entries = read_index_file(root / BackupKeys(name).index)
    items = {(e.kind, e.name) for e in entries if e.namespace and e.kind not in SKIPPED_KINDS}
    assert len(items) > 15
    return items - {("ConfigMap", "kube-root-ca.crt")}


def live_names(api: client.ApiClient, ns: str) -> set[tuple[str, str]]:
    core, apps, batch = client.CoreV1Api(api), client.AppsV1Api(api), client.BatchV1Api(api)
    rbac, net = client.RbacAuthorizationV1Api(api), client.NetworkingV1Api(api)
    policy = client.PolicyV1Api(api)
    listings = {
        "ConfigMap": core.list_namespaced_config_map,
        "Secret": core.list_namespaced_secret,
        "ServiceAccount": core.list_namespaced_service_account,
        "Service": core.list_namespaced_service,
        "PersistentVolumeClaim": core.list_namespaced_persistent_volume_claim,
        "LimitRange": core.list_namespaced_limit_range,
        "Deployment": apps.list_namespaced_deployment,
        "StatefulSet": apps.list_namespaced_stateful_set,
        "Job": batch.list_namespaced_job,
        "CronJob": batch.list_namespaced_cron_job,
        "Role": rbac.list_namespaced_role,
        "RoleBinding": rbac.list_namespaced_role_binding,
        "NetworkPolicy": net.list_namespaced_network_policy,
        "PodDisruptionBudget": policy.list_namespaced_pod_disruption_budget,
    }
    return {(kind, o.metadata.name) for kind, list_ in listings.items() for o in list_(ns).items}


def test_a_deleted_namespace_comes_back_whole(
    cluster: Sandbox, kube: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    url = (tmp_path / "location").as_uri()
    create_shop(cluster.kubeconfig, namespace)
    pv = f"{namespace}-data"[:63]
    apply(cluster.kubeconfig, retained_volume(pv, namespace, "manual"))
    wait_shop_running(kube, namespace)
    core = client.CoreV1Api(kube)
    eventually(lambda: claim_phase(core, namespace) == "Bound", what="the claim to bind")
    ips_before = {
        s.metadata.name: s.spec.cluster_ip for s in core.list_namespaced_service(namespace).items
    }
    data_before = data_of(core, namespace)
    backup(cluster.kubeconfig, url, "nightly-2026-11-25", namespace)
    backed_up = restorable_items(tmp_path / "location", "nightly-2026-11-25")

    delete_namespace(kube, namespace)
    code, out, err = restore(cluster.kubeconfig, url, "--from-backup", "nightly-2026-11-25")

    assert code == 0, err
    assert out["status"]["phase"] == "Completed"
    assert counts(out).get("failed", 0) == 0 and counts(out).get("differs", 0) == 0
    assert counts(out)["updated"] == 1  # the Released volume, given back to its claim
    assert backed_up <= live_names(kube, namespace)
    wait_shop_running(kube, namespace)
    ips_after = {
        s.metadata.name: s.spec.cluster_ip for s in core.list_namespaced_service(namespace).items
    }
    assert ips_after["db-headless"] == "None"
    assert ips_after["web"] != ips_before["web"]
    assert ips_after["web-nodeport"] != ips_before["web-nodeport"]
    assert data_of(core, namespace) == data_before
    eventually(lambda: claim_phase(core, namespace) == "Bound", what="the Retain volume to rebind")
    claim = core.read_namespaced_persistent_volume_claim("data", namespace)
    assert core.read_persistent_volume(pv).spec.claim_ref.uid == claim.metadata.uid
    core.delete_persistent_volume(pv)


def claim_phase(core: client.CoreV1Api, namespace: str) -> str:
    return str(core.read_namespaced_persistent_volume_claim("data", namespace).status.phase)


def test_restoring_twice_converges_and_is_recorded(
    cluster: Sandbox, kube: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    url = (tmp_path / "location").as_uri()
    create_shop(cluster.kubeconfig, namespace)
    wait_shop_running(kube, namespace)
    backup(cluster.kubeconfig, url, "shop", namespace)
    delete_namespace(kube, namespace)

    first = restore(cluster.kubeconfig, url, "first", "--from-backup", "shop")
    second = restore(cluster.kubeconfig, url, "second", "--from-backup", "shop")

    assert first[0] == second[0] == 0, (first[2], second[2])
    assert counts(first[1])["created"] > 10
    assert set(counts(second[1])) == {"unchanged", "skipped"}
    assert counts(second[1])["unchanged"] == counts(first[1])["created"] + counts(first[1]).get(
        "unchanged", 0
    )
    listing = backupctl("restore", "get", "--location", url)
    assert listing.returncode == 0 and "first" in listing.stdout and "second" in listing.stdout
    described = backupctl("restore", "describe", "first", "--location", url)
    assert described.returncode == 0, described.stderr
    assert "Phase:       Completed" in described.stdout
    logs = backupctl("restore", "logs", "first", "--location", url)
    assert f"created deployments.apps/{namespace}/web" in logs.stdout
    assert "c2VjcmV0" not in logs.stdout + described.stdout


def test_from_schedule_restores_the_latest_completed_backup(
    cluster: Sandbox, kube: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    url = (tmp_path / "location").as_uri()
    schedule = {"backupd.io/schedule": "nightly"}
    create_shop(cluster.kubeconfig, namespace)
    backup(cluster.kubeconfig, url, "nightly-1", namespace, labels=schedule)
    client.AppsV1Api(kube).patch_namespaced_deployment_scale(
        "web", namespace, {"spec": {"replicas": 3}}
    )
    backup(cluster.kubeconfig, url, "nightly-2", namespace, labels=schedule)
    backup(cluster.kubeconfig, url, "adhoc-3", namespace)
    delete_namespace(kube, namespace)

    code, out, err = restore(cluster.kubeconfig, url, "--from-schedule", "nightly")

    assert code == 0, err
    assert out["status"]["backupName"] == "nightly-2"
    assert out["metadata"]["name"].startswith("nightly-2-")
    eventually(lambda: running_pods(kube, namespace, "web") == 3, what="3 web pods")


def test_one_deleted_deployment_comes_back_alone(
    cluster: Sandbox, kube: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    url = (tmp_path / "location").as_uri()
    create_shop(cluster.kubeconfig, namespace)
    backup(cluster.kubeconfig, url, "shop", namespace)
    apps = client.AppsV1Api(kube)
    apps.delete_namespaced_deployment("web", namespace)
    eventually(lambda: not apps.list_namespaced_deployment(namespace).items, what="deletion")

    code, out, err = restore(
        cluster.kubeconfig, url, "--from-backup", "shop",
        "--include-items", "deployment/web", "-n", namespace,
    )  # fmt: skip

    assert code == 0, err
    assert counts(out) == {"created": 1, "unchanged": 1}  # the Deployment; its Namespace
    eventually(lambda: running_pods(kube, namespace, "web") == 2, what="2 web pods")
