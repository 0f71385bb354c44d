"""An app whose ServiceAccount is granted cluster-wide rights by a ClusterRoleBinding:
backup's `auto` scope takes the binding and its ClusterRole (and no other binding),
and restoring the namespace into a new cluster brings both back, the powerful one
only with --allow-privileged, as the guard says."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backupd.archive.stored import opened
from backupd.cluster.client import KubeClient
from backupd.errors import ClusterNotFound
from backupd.sandbox.cluster import Sandbox
from backupd.storage import records
from backupd.storage.location import open_location
from tests.fixtures.cli import backupctl, error_line
from tests.integration.restore_support import apply, restore

pytestmark = pytest.mark.integration

RBAC = "/apis/rbac.authorization.k8s.io/v1"
# NS's account `app` is granted a harmless reader role and a powerful one; the other
# bindings grant someone else: another namespace's account of the same name, a user.
OBJECTS = """
apiVersion: v1
kind: Namespace
metadata: {name: NS}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: app, namespace: NS}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: NS-reader}
rules: [{apiGroups: [""], resources: [configmaps], verbs: [get, list]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: NS-power}
rules: [{apiGroups: [grants.example.com], resources: [gizmos], verbs: ["*"]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: NS-reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: NS-reader}
subjects: [{kind: ServiceAccount, name: app, namespace: NS}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: NS-power}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: NS-power}
subjects:
- {kind: User, name: alice}
- {kind: ServiceAccount, name: app, namespace: NS}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: NS-elsewhere}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: NS-reader}
subjects: [{kind: ServiceAccount, name: app, namespace: NS-other}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: NS-user}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: NS-power}
subjects: [{kind: User, name: bob}]
"""
BINDINGS = ("reader", "power", "elsewhere", "user")


def cleanup(kubeconfig: Path, ns: str) -> None:
    with KubeClient.from_kubeconfig(kubeconfig) as kube:
        paths = [f"{RBAC}/clusterrolebindings/{ns}-{b}" for b in BINDINGS]
        paths += [f"{RBAC}/clusterroles/{ns}-{r}" for r in ("reader", "power")]
        paths.append(f"/api/v1/namespaces/{ns}")
        for path in paths:
            with contextlib.suppress(ClusterNotFound):
                kube.delete(path)


@pytest.fixture()
def ns(cluster: Sandbox, second_cluster: Sandbox) -> Iterator[str]:
    name = f"grants-{uuid.uuid4().hex[:6]}"
    yield name
    for box in (cluster, second_cluster):
        cleanup(box.kubeconfig, name)


def stored_cluster_scoped(url: str, name: str) -> set[str]:
    location = open_location(url)
    backup = records.load_backup(location, name)
    with opened(location, backup) as o:
        return {f"{e.kind} {e.name}" for e in o.entries if e.namespace is None}


def rbac_in(kubeconfig: Path, path: str) -> dict[str, Any] | None:
    with KubeClient.from_kubeconfig(kubeconfig) as kube:
        try:
            found: dict[str, Any] = kube.get(f"{RBAC}/{path}")
        except ClusterNotFound:
            return None
    return found


def test_a_namespace_backup_takes_the_cluster_role_bindings_granting_its_accounts_and_restores_them(
    cluster: Sandbox, second_cluster: Sandbox, ns: str, tmp_path: Path
) -> None:
    url = (tmp_path / "location").as_uri()
    apply(cluster.kubeconfig, OBJECTS.replace("NS", ns))

    made = backupctl(
        "backup", "create", "grants", "--include-namespaces", ns,
        "--location", url, "--kubeconfig", str(cluster.kubeconfig),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert stored_cluster_scoped(url, "grants") == {
        f"Namespace {ns}",
        f"ClusterRoleBinding {ns}-reader",
        f"ClusterRoleBinding {ns}-power",
        f"ClusterRole {ns}-reader",
        f"ClusterRole {ns}-power",
    }
    logs = backupctl("backup", "logs", "grants", "--location", url)
    assert logs.returncode == 0, logs.stderr
    assert f"taking ClusterRoleBinding {ns}-power: grants serviceaccount {ns}/app" in logs.stdout
    assert f"taking ClusterRole {ns}-power: used by clusterrolebinding {ns}-power" in logs.stdout

    target = second_cluster.kubeconfig
    select = ["--from-backup", "grants", "--include-namespaces", ns]
    code, out, err = restore(target, url, *select, "--dry-run")
    assert code == 0, err
    reasons = {(i["kind"], i["name"]): i.get("reason", "") for i in out["items"]}
    assert reasons[("ClusterRoleBinding", f"{ns}-reader")] == f"grants serviceaccount {ns}/app"
    assert reasons[("ClusterRoleBinding", f"{ns}-power")].startswith(
        f"grants serviceaccount {ns}/app; privileged: binds ClusterRole {ns}-power, which "
        "grants every verb (*) on gizmos"
    )
    assert reasons[("ClusterRole", f"{ns}-reader")].startswith(
        f"used by clusterrolebinding {ns}-reader"
    )
    assert "privileged" not in reasons[("ClusterRoleBinding", f"{ns}-reader")]

    # the guard: the powerful binding and its role are refused as a whole without the flag
    refused = backupctl(
        "restore", "create", "without-flag", *select,
        "--location", url, "--kubeconfig", str(target),
    )  # fmt: skip
    line = error_line(refused)
    assert refused.returncode == 2, refused.stderr
    assert line.startswith(
        "error: refusing to restore 2 privileged item(s) that grant cluster-wide power: "
    ), line
    assert (
        f"clusterrolebindings.rbac.authorization.k8s.io/{ns}-power (binds ClusterRole "
        f"{ns}-power, which grants every verb (*) on gizmos)"
    ) in line
    assert (
        f"clusterroles.rbac.authorization.k8s.io/{ns}-power (grants every verb (*) on gizmos)"
    ) in line
    assert rbac_in(target, f"clusterrolebindings/{ns}-reader") is None  # nothing was created

    code, out, err = restore(target, url, *select, "with-flag", "--allow-privileged")
    assert code == 0, err
    assert out["status"]["phase"] == "Completed", out["status"]
    for name in (f"{ns}-reader", f"{ns}-power"):
        binding = rbac_in(target, f"clusterrolebindings/{name}")
        assert binding is not None, name
        assert {"kind": "ServiceAccount", "name": "app", "namespace": ns} in binding["subjects"]
        assert rbac_in(target, f"clusterroles/{name}") is not None, name
    for name in (f"{ns}-elsewhere", f"{ns}-user"):
        assert rbac_in(target, f"clusterrolebindings/{name}") is None, name
    warnings = [w["message"] for w in out["status"]["warnings"]]
    assert any(w.startswith("2 privileged item(s) restored (--allow-privileged)") for w in warnings)
