"""Lift-and-shift into a new, empty cluster: the namespace brings what it needs, and only that.

The source holds two namespaces. `app` uses a custom PriorityClass and RuntimeClass, a
RoleBinding to a custom ClusterRole, a StatefulSet whose claim has a custom
StorageClass (and a static PersistentVolume), an Ingress with an IngressClass, and
custom resources of a CRD in a `*.k8s.io` group. `other` uses other cluster-scoped
objects of the same types. Both are backed up (default: auto cluster resources);
`restore create --include-namespaces app` into the second sandbox must bring exactly
what `app` needs.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from backupd.api.backup import BackupSpec
from backupd.backup import engine as backup_engine
from backupd.cluster.client import KubeClient
from backupd.cluster.discovery import discover
from backupd.sandbox.cluster import Sandbox
from backupd.storage.location import open_location
from tests.fixtures.cli import kubectl
from tests.fixtures.clusters import api_client
from tests.fixtures.waiting import eventually
from tests.fixtures.workloads import (
    approved_crd,
    cluster_role,
    cluster_role_binding,
    custom_object,
    deployment_using,
    ingress,
    ingress_class,
    manifest_list,
    priority_class,
    role_binding,
    runtime_class,
    service_account,
    statefulset_with_claims,
    static_volume,
    storage_class,
)
from tests.integration.restore_support import backup, counts, restore

pytestmark = pytest.mark.integration

# The cluster-scoped types involved: compared before and after the restore. (The
# control plane adds objects of its own elsewhere, e.g. an APIService per CRD group.)
CLUSTER_TYPES = ",".join(
    [
        "namespaces",
        "priorityclasses",
        "runtimeclasses",
        "clusterroles",
        "clusterrolebindings",
        "storageclasses",
        "persistentvolumes",
        "ingressclasses",
        "customresourcedefinitions",
        "validatingwebhookconfigurations",
        "mutatingwebhookconfigurations",
    ]
)


@dataclass(frozen=True)
class Names:
    """Unique names for one run (the sandboxes live for the whole test session)."""

    u: str

    def __getattr__(self, what: str) -> str:
        if what.startswith("_"):
            raise AttributeError(what)
        return f"lift-{what.replace('_', '-')}-{self.u}"

    @property
    def gizmo_group(self) -> str:  # a CRD group under k8s.io, as Gateway API's
        return f"lift{self.u}.example.k8s.io"

    @property
    def gadget_group(self) -> str:
        return f"lift{self.u}.example.com"


def apply(kubeconfig: Path, *items: dict[str, Any]) -> None:
    kubectl(kubeconfig, "apply", "-f", "-", stdin=json.dumps(manifest_list(*items)))


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def service(name: str, ns: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80}]},
    }


def cluster_objects(kubeconfig: Path) -> set[str]:
    return set(kubectl(kubeconfig, "get", CLUSTER_TYPES, "-o", "name").split())


def pods(api: client.ApiClient, ns: str) -> list[Any]:
    return [
        p
        for p in client.CoreV1Api(api).list_namespaced_pod(ns).items
        if not p.metadata.deletion_timestamp
    ]


def all_running(api: client.ApiClient, ns: str, expected: int) -> bool:
    found = pods(api, ns)
    return len(found) == expected and all(p.status.phase == "Running" for p in found)


def cleanup(kubeconfig: Path, names: list[str]) -> None:
    """Best effort: the sandboxes are shared by the session's other tests."""
    kubectl(kubeconfig, "delete", "--ignore-not-found", "--wait=false", *names)


def seed(kubeconfig: Path, n: Names) -> None:
    app, other = n.app, n.other
    apply(
        kubeconfig,
        approved_crd(n.gizmo_group, "Gizmo"),
        approved_crd(n.gadget_group, "Gadget"),
        namespace(app),
        namespace(other),
        priority_class(n.high, 1000),
        priority_class(n.low, 10),
        runtime_class(n.runtime),
        cluster_role(n.app_role),
        cluster_role(n.other_role),
        storage_class(n.ssd),
        static_volume(n.pv, n.ssd, app, "data-db-0"),
        ingress_class(n.nginx),
        ingress_class(n.traefik),
    )
    for group, plural in ((n.gizmo_group, "gizmos"), (n.gadget_group, "gadgets")):
        kubectl(kubeconfig, "wait", "--for=condition=Established", f"crd/{plural}.{group}")
    apply(
        kubeconfig,
        service_account("web", app),
        deployment_using(
            "web",
            app,
            priority_class_name=n.high,
            runtime_class_name=n.runtime,
            service_account_name="web",
        ),
        role_binding("web-config", n.app_role, "web", app),
        statefulset_with_claims("db", app, n.ssd),
        service("web", app),
        ingress("web", app, n.nginx, "web"),
        custom_object(n.gizmo_group, "Gizmo", "g1", app, size=1),
        custom_object(n.gizmo_group, "Gizmo", "g2", app, size=2),
        # a binding that grants app's service account: it comes with the namespace
        cluster_role_binding(n.crb, n.app_role, "web", app),
        deployment_using("api", other, priority_class_name=n.low, replicas=1),
        role_binding("api-config", n.other_role, "default", other),
        ingress("api", other, n.traefik, "api"),
        custom_object(n.gadget_group, "Gadget", "x1", other),
    )


@pytest.fixture()
def names(cluster: Sandbox, second_cluster: Sandbox) -> Iterator[Names]:
    n = Names(uuid.uuid4().hex[:6])
    yield n
    made = [
        f"namespace/{n.app}",
        f"namespace/{n.other}",
        f"priorityclass/{n.high}",
        f"priorityclass/{n.low}",
        f"runtimeclass/{n.runtime}",
        f"clusterrole/{n.app_role}",
        f"clusterrole/{n.other_role}",
        f"clusterrolebinding/{n.crb}",
        f"storageclass/{n.ssd}",
        f"persistentvolume/{n.pv}",
        f"ingressclass/{n.nginx}",
        f"ingressclass/{n.traefik}",
        f"crd/gizmos.{n.gizmo_group}",
        f"crd/gadgets.{n.gadget_group}",
    ]
    for box in (cluster, second_cluster):
        cleanup(box.kubeconfig, made)


def test_a_namespace_restored_into_an_empty_cluster_brings_what_it_needs_and_nothing_else(
    cluster: Sandbox,
    second_cluster: Sandbox,
    kube: client.ApiClient,
    names: Names,
    tmp_path: Path,
) -> None:
    n = names
    a, b = cluster.kubeconfig, second_cluster.kubeconfig
    url = (tmp_path / "location").as_uri()
    seed(a, n)
    eventually(lambda: all_running(kube, n.app, 3), what="web and db pods in the source")
    eventually(lambda: all_running(kube, n.other, 1), what="the api pod in the source")
    taken = backup(a, url, "lift", n.app, n.other)
    by_type = taken.status.resource_counts
    for resource in (
        "priorityclasses.scheduling.k8s.io",
        "clusterroles.rbac.authorization.k8s.io",
        "ingressclasses.networking.k8s.io",
        "customresourcedefinitions.apiextensions.k8s.io",
    ):
        assert by_type.get(resource) == 2, (resource, by_type)  # app's and other's
    assert by_type.get("storageclasses.storage.k8s.io") == 1  # claim -> volume -> class
    assert by_type.get("persistentvolumes") == 1
    assert by_type.get("clusterrolebindings.rbac.authorization.k8s.io") == 1  # grants app's web
    before = cluster_objects(b)

    code, planned, err = restore(
        b, url, "--from-backup", "lift", "--include-namespaces", n.app, "--dry-run"
    )
    assert code == 0, err
    why = {(i["resource"], i["name"]): i.get("reason") or "" for i in planned["items"]}
    assert why[("priorityclasses", n.high)].startswith(f"used by deployment {n.app}/web")
    assert why[("persistentvolumes", n.pv)].startswith(
        f"used by persistentvolumeclaim {n.app}/data-db-0"
    )
    assert why[("customresourcedefinitions", f"gizmos.{n.gizmo_group}")].startswith(
        f"used by gizmo {n.app}/g"
    )
    assert why[("clusterrolebindings", n.crb)] == f"grants serviceaccount {n.app}/web"
    assert not [key for key in why if n.other in key[1] or key[1] in (n.low, n.traefik)]
    assert cluster_objects(b) == before  # a dry run changes nothing

    code, out, err = restore(b, url, "--from-backup", "lift", "--include-namespaces", n.app)
    assert code == 0, err
    assert counts(out).get("failed", 0) == 0, out["status"]

    created = cluster_objects(b) - before
    assert created == {
        f"namespace/{n.app}",
        f"priorityclass.scheduling.k8s.io/{n.high}",
        f"runtimeclass.node.k8s.io/{n.runtime}",
        f"clusterrole.rbac.authorization.k8s.io/{n.app_role}",
        f"clusterrolebinding.rbac.authorization.k8s.io/{n.crb}",
        f"storageclass.storage.k8s.io/{n.ssd}",
        f"persistentvolume/{n.pv}",
        f"ingressclass.networking.k8s.io/{n.nginx}",
        f"customresourcedefinition.apiextensions.k8s.io/gizmos.{n.gizmo_group}",
    }
    assert before <= cluster_objects(b)
    with api_client(b) as api_b:
        eventually(lambda: all_running(api_b, n.app, 3), what="every pod Running in cluster B")
        web = [p for p in pods(api_b, n.app) if p.metadata.name.startswith("web-")]
        assert {(p.spec.priority, p.spec.runtime_class_name) for p in web} == {(1000, n.runtime)}
        gizmos = client.CustomObjectsApi(api_b).list_namespaced_custom_object(
            n.gizmo_group, "v1", n.app, "gizmos"
        )
        assert sorted(g["metadata"]["name"] for g in gizmos["items"]) == ["g1", "g2"]
        claim = client.CoreV1Api(api_b).read_namespaced_persistent_volume_claim("data-db-0", n.app)
        assert claim.status.phase == "Bound" and claim.spec.volume_name == n.pv


def test_types_are_spelled_as_kubectl_spells_them_and_a_typo_is_refused(
    cluster: Sandbox, kube: client.ApiClient, tmp_path: Path
) -> None:
    ns = f"lift-spell-{uuid.uuid4().hex[:6]}"
    a = cluster.kubeconfig
    high = f"{ns}-high"
    apply(
        a,
        namespace(ns),
        priority_class(high, 100),
        deployment_using("web", ns, priority_class_name=high, replicas=1),
        service("web", ns),
    )
    try:
        with KubeClient.from_kubeconfig(a) as k:
            served = {r.group_resource: r for r in discover(k).resources}
        assert "deploy" in served["deployments.apps"].short_names
        assert served["deployments.apps"].singular == "deployment"
        url = (tmp_path / "location").as_uri()
        with KubeClient.from_kubeconfig(a) as k:
            short = backup_engine.run(
                "short",
                BackupSpec(
                    included_namespaces=[ns, "no-such-*"], included_resources=["deploy", "svc"]
                ),
                kube=k,
                location=open_location(url),
            )
        assert set(short.status.resource_counts) == {"deployments.apps", "services", "namespaces"}
        warned = [w.message for w in short.status.warnings]
        assert "namespace pattern 'no-such-*' matches no namespace" in warned
        assert (
            f"PriorityClass {high}: used by deployment {ns}/web; not taken: the resource "
            "filters leave priorityclasses.scheduling.k8s.io out"
        ) in warned
        backup(a, url, "spelled", ns)

        code, out, err = restore(
            a,
            url,
            "--from-backup",
            "spelled",
            "-n",
            ns,
            "--include-resources",
            "deploy",
            "--dry-run",
        )
        assert code == 0, err
        assert {i["kind"] for i in out["items"]} == {"Namespace", "Deployment"}

        for args, message in (
            (["-n", "shpo"], "namespace 'shpo' matches nothing in the backup"),
            (["-n", ns, "--include-resources", "deploymnets"], "unknown resource 'deploymnets'"),
            (["-n", ns, "--selector", "app=nope"], "label selector 'app=nope' matches nothing"),
        ):
            res_code, _, res_err = restore(a, url, "--from-backup", "spelled", *args)
            assert res_code == 2, res_err
            assert message in error_line_of(res_err)
    finally:
        cleanup(a, [f"namespace/{ns}", f"priorityclass/{high}"])


def error_line_of(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, stderr
    return lines[0]
