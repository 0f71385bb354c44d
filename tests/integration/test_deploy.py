"""deploy/ against the real sandbox: the kustomization passes the API server's own
checks, `backupctl install` applies it, and the ServiceAccount it creates can do what
backupd needs and nothing more (a token from the TokenRequest API, as a Pod gets)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from backupd.cluster.client import KubeClient
from backupd.errors import ClusterForbidden
from backupd.sandbox.binaries import binary
from backupd.sandbox.cluster import Sandbox
from tests.fixtures.cli import backupctl
from tests.fixtures.workloads import cluster_role_binding, wait_until_allowed

pytestmark = pytest.mark.integration
DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
NS = "backupd"
SA = f"/api/v1/namespaces/{NS}/serviceaccounts/backupd"


def kubectl(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binary("kubernetes", "kubectl")), f"--kubeconfig={kubeconfig}", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def table_rows(stdout: str) -> list[list[str]]:
    return [line.split(None, 3) for line in stdout.splitlines()[1:] if line.strip()]


@pytest.fixture(scope="module")
def admin(cluster: Sandbox) -> Iterator[KubeClient]:
    with KubeClient.from_kubeconfig(cluster.kubeconfig) as kube:
        yield kube


@pytest.fixture(scope="module")
def installed(cluster: Sandbox, admin: KubeClient) -> Iterator[subprocess.CompletedProcess[str]]:
    """`backupctl install` for real; the Deployment and Service are removed afterwards
    (the sandbox has no image to run), the RBAC stays for the tests that use it."""
    res = backupctl("install", "--kubeconfig", str(cluster.kubeconfig))
    yield res
    for path in (
        f"/apis/apps/v1/namespaces/{NS}/deployments/backupd",
        f"/api/v1/namespaces/{NS}/services/backupd-metrics",
    ):
        admin.delete(path)


def service_account_kubeconfig(cluster: Sandbox, admin: KubeClient, tmp: Path) -> Path:
    """The admin kubeconfig with its user replaced by a fresh token of deploy/'s SA."""
    reply = admin.post(
        f"{SA}/token",
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": 600},
        },
    )
    config: dict[str, Any] = yaml.safe_load(cluster.kubeconfig.read_text())
    config["users"] = [
        {"name": config["users"][0]["name"], "user": {"token": reply["status"]["token"]}}
    ]
    path = tmp / "backupd-sa.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def test_kubectl_apply_dry_run_server_of_deploy_succeeds(
    cluster: Sandbox, admin: KubeClient
) -> None:
    # A server-side dry run stores nothing, not even the Namespace: the objects that
    # live in it can only be checked once it exists (as after a first install).
    if NS not in {n["metadata"]["name"] for n in admin.get("/api/v1/namespaces")["items"]}:
        admin.post("/api/v1/namespaces", {"metadata": {"name": NS}})
    res = kubectl(cluster.kubeconfig, "apply", "--dry-run=server", "-k", str(DEPLOY))
    assert res.returncode == 0, res.stderr
    assert "deployment.apps/backupd created (server dry run)" in res.stdout or (
        "deployment.apps/backupd configured (server dry run)" in res.stdout
        or "deployment.apps/backupd unchanged (server dry run)" in res.stdout
    ), res.stdout
    assert "clusterrole.rbac.authorization.k8s.io/backupd-restorer" in res.stdout


def test_backupctl_install_dry_run_lists_everything_and_stores_nothing(
    cluster: Sandbox, admin: KubeClient
) -> None:
    def stored() -> list[str]:
        found = admin.get(f"/apis/apps/v1/namespaces/{NS}/deployments").get("items", [])
        return [d["metadata"]["resourceVersion"] for d in found]

    before = stored()
    res = backupctl("install", "--dry-run", "--kubeconfig", str(cluster.kubeconfig))
    assert res.returncode == 0, res.stderr
    kinds = {row[0] for row in table_rows(res.stdout)}
    assert {"CustomResourceDefinition", "ClusterRole", "Deployment", "Service"} <= kinds
    assert all("(server dry run)" in line for line in res.stdout.splitlines()[1:] if line.strip())
    assert stored() == before


def test_backupctl_install_applies_deploy_and_again_changes_nothing_new(
    cluster: Sandbox, admin: KubeClient, installed: subprocess.CompletedProcess[str]
) -> None:
    assert installed.returncode == 0, installed.stderr
    rows = table_rows(installed.stdout)
    assert len(rows) == 16
    deployment = admin.get(f"/apis/apps/v1/namespaces/{NS}/deployments/backupd")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["run", "--metrics-bind-address=0.0.0.0:8080"]
    for crd in ("backups", "restores", "schedules", "drillschedules", "storagelocations"):
        admin.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{crd}.backupd.io")
    again = backupctl("install", "--kubeconfig", str(cluster.kubeconfig))
    assert again.returncode == 0, again.stderr
    assert {row[-1] for row in table_rows(again.stdout)} == {"configured"}


def test_the_service_account_reads_everything_and_is_refused_writes_it_was_not_given(
    cluster: Sandbox,
    admin: KubeClient,
    installed: subprocess.CompletedProcess[str],
    namespace: str,
    tmp_path: Path,
) -> None:
    assert installed.returncode == 0, installed.stderr
    admin.post(f"/api/v1/namespaces/{namespace}/secrets", {"metadata": {"name": "s"}})
    with KubeClient.from_kubeconfig(service_account_kubeconfig(cluster, admin, tmp_path)) as sa:
        # what a backup and the controller need
        assert sa.get(f"/api/v1/namespaces/{namespace}/secrets/s")["metadata"]["name"] == "s"
        sa.get("/apis/apps/v1/deployments")
        sa.get("/apis/backupd.io/v1alpha1/backups")
        lease = {"metadata": {"name": "backupd-rbac-check"}, "spec": {"holderIdentity": "test"}}
        sa.post(f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases", lease)
        admin.delete(f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/backupd-rbac-check")
        # what it was not given
        refused = {
            "delete a Secret": lambda: sa.delete(f"/api/v1/namespaces/{namespace}/secrets/s"),
            "create a ClusterRoleBinding": lambda: sa.post(
                "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
                cluster_role_binding("backupd-escalates", "cluster-admin", "backupd", NS),
            ),
            "create a ConfigMap (restore is not bound)": lambda: sa.post(
                f"/api/v1/namespaces/{namespace}/configmaps", {"metadata": {"name": "c"}}
            ),
            "create a Lease outside its namespace": lambda: sa.post(
                f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases", lease
            ),
        }
        for what, attempt in refused.items():
            with pytest.raises(ClusterForbidden):
                attempt()
                pytest.fail(f"allowed to {what}")


def test_binding_the_restore_role_is_an_opt_in_that_allows_writes_but_never_deletes(
    cluster: Sandbox,
    admin: KubeClient,
    installed: subprocess.CompletedProcess[str],
    namespace: str,
    tmp_path: Path,
) -> None:
    assert installed.returncode == 0, installed.stderr
    binding = DEPLOY / "optional" / "restore-binding.yaml"
    res = kubectl(cluster.kubeconfig, "apply", "-f", str(binding))
    assert res.returncode == 0, res.stderr
    try:
        wait_until_allowed(admin, "backupd", NS, "create", "configmaps", in_namespace=namespace)
        with KubeClient.from_kubeconfig(service_account_kubeconfig(cluster, admin, tmp_path)) as sa:
            made = sa.post(
                f"/api/v1/namespaces/{namespace}/configmaps", {"metadata": {"name": "c"}}
            )
            assert made["metadata"]["name"] == "c"
            with pytest.raises(ClusterForbidden):
                sa.delete(f"/api/v1/namespaces/{namespace}/configmaps/c")
    finally:
        kubectl(cluster.kubeconfig, "delete", "-f", str(binding))
