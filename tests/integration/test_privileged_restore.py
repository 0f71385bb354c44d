"""The privileged-restore guard against a real API server: a backup holding a
cluster-admin binding, a privileged hostPath Pod and a mutating admission webhook
restores them only with --allow-privileged; a dry run and `restore describe` name them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from backupd.sandbox.cluster import Sandbox
from tests.fixtures.cli import backupctl, error_line
from tests.integration.restore_support import apply, delete_namespace, restore

pytestmark = pytest.mark.integration

# The webhook matches only a made-up group and is ignored when unreachable: the
# sandbox keeps working whether it exists or not.
OBJECTS = """
apiVersion: v1
kind: Namespace
metadata: {name: NS}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: bot, namespace: NS}
---
apiVersion: v1
kind: Pod
metadata: {name: rooted, namespace: NS}
spec:
  hostPID: true
  containers:
  - name: shell
    image: registry.invalid/shell:1
    securityContext: {privileged: true}
    volumeMounts: [{name: host, mountPath: /host}]
  volumes: [{name: host, hostPath: {path: /}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: NS-root}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: ServiceAccount, name: bot, namespace: NS}]
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: NS-hooks}
webhooks:
- name: gizmos.guard.example.com
  failurePolicy: Ignore
  sideEffects: None
  admissionReviewVersions: [v1]
  timeoutSeconds: 1
  clientConfig: {url: "https://127.0.0.1:9/mutate"}
  rules:
  - {apiGroups: [guard.example.com], apiVersions: [v1], operations: [CREATE], resources: [gizmos]}
"""


def cluster_objects(kube: client.ApiClient, ns: str) -> dict[str, bool]:
    """Whether our binding, webhook configuration and Pod exist."""
    rbac = client.RbacAuthorizationV1Api(kube)
    hooks = client.AdmissionregistrationV1Api(kube)
    core = client.CoreV1Api(kube)
    reads = {
        "binding": lambda: rbac.read_cluster_role_binding(f"{ns}-root"),
        "webhook": lambda: hooks.read_mutating_webhook_configuration(f"{ns}-hooks"),
        "pod": lambda: core.read_namespaced_pod("rooted", ns),
    }
    found: dict[str, bool] = {}
    for what, read in reads.items():
        try:
            read()
            found[what] = True
        except ApiException as e:
            assert e.status == 404, e
            found[what] = False
    return found


def remove(kube: client.ApiClient, ns: str) -> None:
    deletes = (
        lambda: client.RbacAuthorizationV1Api(kube).delete_cluster_role_binding(f"{ns}-root"),
        lambda: client.AdmissionregistrationV1Api(kube).delete_mutating_webhook_configuration(
            f"{ns}-hooks"
        ),
        lambda: delete_namespace(kube, ns),
    )
    for delete in deletes:
        try:
            delete()
        except ApiException as e:
            assert e.status == 404, e


@pytest.fixture()
def ns(kube: client.ApiClient) -> Iterator[str]:
    name = f"guard-{uuid.uuid4().hex[:6]}"
    yield name
    remove(kube, name)


def test_privileged_items_are_restored_only_with_allow_privileged(
    cluster: Sandbox, kube: client.ApiClient, ns: str, tmp_path: Path
) -> None:
    kc = cluster.kubeconfig
    url = (tmp_path / "location").as_uri()
    apply(kc, OBJECTS.replace("NS", ns))
    made = backupctl(
        "backup", "create", "powers", "--location", url, "--kubeconfig", str(kc),
        "--include-namespaces", ns, "--include-cluster-resources", "true",
        "--include-resources", "pods,serviceaccounts,clusterrolebindings,"
        "mutatingwebhookconfigurations",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    remove(kube, ns)
    items = (
        f"pod/rooted,serviceaccount/bot,clusterrolebinding/{ns}-root,"
        f"mutatingwebhookconfiguration/{ns}-hooks"
    )
    select = ["--from-backup", "powers", "--include-namespaces", ns, "--include-items", items]
    binding = f"clusterrolebindings.rbac.authorization.k8s.io/{ns}-root"
    webhook = f"mutatingwebhookconfigurations.admissionregistration.k8s.io/{ns}-hooks"
    pod = f"pods/{ns}/rooted"

    # A dry run lists them, with why, and creates nothing.
    code, out, err = restore(kc, url, *select, "--dry-run")
    assert code == 0, err
    warnings = [w["message"] for w in out["restore"]["status"]["warnings"]]
    listed = next(w for w in warnings if "privileged item(s)" in w)
    assert listed.startswith("3 privileged item(s) grant cluster-wide power; a restore refuses")
    assert f"{binding} (binds ClusterRole cluster-admin)" in listed
    assert f"{webhook} (a mutating admission webhook configuration (gizmos.guard.example.com))" in (
        listed
    )
    assert f"{pod} (hostPID: true; hostPath volume host (/); privileged container shell)" in listed
    reasons = {i["name"]: i.get("reason", "") for i in out["items"]}
    assert "privileged: binds ClusterRole cluster-admin" in reasons[f"{ns}-root"]
    assert "privileged:" not in reasons["bot"]
    assert cluster_objects(kube, ns) == {"binding": False, "webhook": False, "pod": False}

    # Without the flag: refused as a whole, one line naming them; nothing is created.
    refused = backupctl(
        "restore", "create", "without-flag", *select, "--location", url, "--kubeconfig", str(kc)
    )
    line = error_line(refused)
    assert refused.returncode == 2
    assert line.startswith(
        "error: refusing to restore 3 privileged item(s) that grant cluster-wide power: "
    )
    assert binding in line and webhook in line and pod in line
    assert line.endswith("(review them with --dry-run; --allow-privileged restores them)")
    assert cluster_objects(kube, ns) == {"binding": False, "webhook": False, "pod": False}
    core = client.CoreV1Api(kube)
    assert ns not in {n.metadata.name for n in core.list_namespace().items}
    assert not (tmp_path / "location" / "restores" / "without-flag").exists()

    # With it: restored, and the restore says what it let through.
    code, out, err = restore(kc, url, *select, "with-flag", "--allow-privileged")
    assert code == 0, err
    assert out["status"]["phase"] == "Completed"
    assert cluster_objects(kube, ns) == {"binding": True, "webhook": True, "pod": True}
    described = backupctl("restore", "describe", "with-flag", "--location", url)
    assert described.returncode == 0, described.stderr
    assert "3 privileged item(s) restored (--allow-privileged)" in described.stdout
    assert binding in described.stdout

    # Once they exist, a restore without the flag leaves them alone and is not refused.
    code, out, err = restore(kc, url, *select, "again")
    assert code == 0, err
    assert any(
        "exist already and are left alone" in w["message"] for w in out["status"]["warnings"]
    )
