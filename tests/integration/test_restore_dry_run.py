"""--dry-run writes nothing, and shows what the target API server would refuse."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client

from backupd.sandbox.cluster import Sandbox
from tests.integration.restore_support import backup, create_shop, restore

pytestmark = pytest.mark.integration


def object_counts(api: client.ApiClient, *namespaces: str) -> dict[str, int]:
    """Objects in `namespaces`, whether each exists, and the PersistentVolumes for their
    claims (only these: other tests' namespaces and volumes may still be going away in
    the background)."""
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    rbac = client.RbacAuthorizationV1Api(api)
    listings = {
        "configmaps": core.list_namespaced_config_map,
        "secrets": core.list_namespaced_secret,
        "services": core.list_namespaced_service,
        "serviceaccounts": core.list_namespaced_service_account,
        "pvcs": core.list_namespaced_persistent_volume_claim,
        "deployments": apps.list_namespaced_deployment,
        "statefulsets": apps.list_namespaced_stateful_set,
        "rolebindings": rbac.list_namespaced_role_binding,
    }
    counts = {
        f"{kind}/{ns}": len(list_(ns).items)
        for kind, list_ in listings.items()
        for ns in namespaces
    }
    existing = {n.metadata.name for n in core.list_namespace().items}
    for ns in namespaces:
        counts[f"namespace/{ns}"] = int(ns in existing)
    counts["persistentvolumes"] = len(
        [
            pv
            for pv in core.list_persistent_volume().items
            if pv.spec.claim_ref is not None and pv.spec.claim_ref.namespace in namespaces
        ]
    )
    return counts


def test_dry_run_writes_nothing_and_reports_a_rejected_item(
    cluster: Sandbox, kube: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    url = (tmp_path / "location").as_uri()
    create_shop(cluster.kubeconfig, namespace)
    backup(cluster.kubeconfig, url, "shop", namespace)
    copy = f"{namespace}-copy"[:63]
    before = object_counts(kube, namespace, copy)

    # A copy beside the original that keeps its node ports: the port is taken.
    code, out, err = restore(
        cluster.kubeconfig, url, "--from-backup", "shop", "--dry-run", "--preserve-nodeports",
        "--namespace-mappings", f"{namespace}:{copy}",
    )  # fmt: skip

    assert code != 0
    assert err.strip().splitlines()[-1].startswith("error: dry run of restore")
    items = {(i["resource"], i["name"]): i for i in out["items"]}
    rejected = items[("services", "web-nodeport")]
    assert rejected["outcome"] == "failed"
    assert "already allocated" in rejected["reason"]
    assert items[("deployments", "web")]["outcome"] == "created"
    assert items[("namespaces", copy)]["outcome"] == "created"
    assert object_counts(kube, namespace, copy) == before
    assert not (tmp_path / "location" / "restores").exists()


def test_dry_run_in_place_shows_differences_and_changes_nothing(
    cluster: Sandbox, kube: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    url = (tmp_path / "location").as_uri()
    core = client.CoreV1Api(kube)
    create_shop(cluster.kubeconfig, namespace)
    backup(cluster.kubeconfig, url, "shop", namespace)
    core.patch_namespaced_config_map("settings", namespace, {"data": {"mode": "debug"}})
    core.delete_namespaced_service("web", namespace)

    code, out, err = restore(
        cluster.kubeconfig, url, "--from-backup", "shop", "--dry-run",
        "--existing-resource-policy", "update",
    )  # fmt: skip

    assert code == 0, err
    items = {(i["resource"], i["name"]): i for i in out["items"]}
    assert items[("services", "web")]["outcome"] == "created"
    assert items[("configmaps", "settings")]["outcome"] == "updated"
    assert "+  mode: production" in items[("configmaps", "settings")]["diff"]
    assert core.read_namespaced_config_map("settings", namespace).data["mode"] == "debug"
    assert "web" not in {s.metadata.name for s in core.list_namespaced_service(namespace).items}
