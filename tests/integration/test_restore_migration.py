"""Lift-and-shift: back up on cluster A, restore into cluster B under new names."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client

from backupd.sandbox.cluster import Sandbox
from tests.fixtures.clusters import api_client
from tests.fixtures.waiting import eventually
from tests.integration.restore_support import (
    apply,
    backup,
    counts,
    create_shop,
    kubectl,
    restore,
    retained_volume,
    running_pods,
    wait_shop_running,
)

pytestmark = pytest.mark.integration

CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.migration.example.com}
spec:
  group: migration.example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {size: {type: integer}}}
"""

STORAGE = """
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: CLASS}
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: Immediate
"""


def test_namespace_moves_to_another_cluster_with_its_crds_and_volumes(
    cluster: Sandbox,
    second_cluster: Sandbox,
    kube: client.ApiClient,
    namespace: str,
    tmp_path: Path,
) -> None:
    url = (tmp_path / "location").as_uri()
    a, b = cluster.kubeconfig, second_cluster.kubeconfig
    pv, target = f"{namespace}-data"[:63], f"{namespace}-b"[:63]
    apply(a, CRD)
    kubectl(a, "wait", "--for=condition=Established", "crd/widgets.migration.example.com")
    apply(a, STORAGE.replace("CLASS", "gp2"))
    apply(a, retained_volume(pv, namespace, "gp2"))
    create_shop(a, namespace)
    apply(
        a,
        "{apiVersion: migration.example.com/v1, kind: Widget, metadata: {name: w1}, spec: {size: 3}}",
        namespace,
    )
    wait_shop_running(kube, namespace)
    backup(a, url, "lift", namespace)
    apply(b, STORAGE.replace("CLASS", "standard"))

    code, out, err = restore(
        b, url, "--from-backup", "lift",
        "--namespace-mappings", f"{namespace}:{target}",
        "--storage-class-mappings", "gp2:standard",
    )  # fmt: skip

    assert code == 0, err
    assert counts(out).get("failed", 0) == 0
    with api_client(b) as api_b:
        custom = client.CustomObjectsApi(api_b)
        widget = custom.get_namespaced_custom_object(
            "migration.example.com", "v1", target, "widgets", "w1"
        )
        assert widget["spec"] == {"size": 3}
        wait_shop_running(api_b, target)
        core = client.CoreV1Api(api_b)
        eventually(
            lambda: (
                core.read_namespaced_persistent_volume_claim("data", target).status.phase == "Bound"
            ),
            what="the claim to bind in cluster B",
        )
        volume = core.read_persistent_volume(pv)
        assert volume.spec.storage_class_name == "standard"
        assert (volume.spec.claim_ref.namespace, volume.spec.claim_ref.name) == (target, "data")
        claim = core.read_namespaced_persistent_volume_claim("data", target)
        assert claim.spec.storage_class_name == "standard"
        binding = client.RbacAuthorizationV1Api(api_b).read_namespaced_role_binding(
            "web-reader", target
        )
        assert binding.subjects[0].namespace == target
        assert running_pods(api_b, target, "web") == 2
