"""What the target API server warns of while restoring reaches the restore's warnings.

The case that matters: the target's CRD is older than the source's and prunes a field
the backup has. The object is created, but without that field; the restore says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from backupd.sandbox.cluster import Sandbox
from tests.fixtures.waiting import eventually
from tests.fixtures.workloads import namespaced_crd
from tests.integration.restore_support import backup, delete_namespace, restore

pytestmark = pytest.mark.integration

GROUP = "warn.backupd.test"
CRD = f"gadgets.{GROUP}"


def gadget_crd(*fields: str) -> dict[str, Any]:
    spec = {"type": "object", "properties": {f: {"type": "string"} for f in fields}}
    return namespaced_crd(GROUP, "Gadget", spec)


def test_a_field_the_target_drops_is_a_warning(
    cluster: Sandbox, kube: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    ext, custom = client.ApiextensionsV1Api(kube), client.CustomObjectsApi(kube)
    ext.create_custom_resource_definition(gadget_crd("size", "color"))
    try:
        eventually(
            lambda: any(
                c.type == "Established" and c.status == "True"
                for c in ext.read_custom_resource_definition(CRD).status.conditions or []
            ),
            what="the Gadget CRD to be Established",
        )
        gadget = {
            "apiVersion": f"{GROUP}/v1",
            "kind": "Gadget",
            "metadata": {"name": "g1"},
            "spec": {"size": "large", "color": "red"},
        }
        eventually(
            lambda: (
                custom.create_namespaced_custom_object(GROUP, "v1", namespace, "gadgets", gadget)
                is not None
            ),
            what="the Gadget to be created",
        )
        url = (tmp_path / "location").as_uri()
        backup(cluster.kubeconfig, url, "gadgets", namespace)
        # the target now knows an older Gadget: no `color`
        older = gadget_crd("size")
        older["metadata"]["resourceVersion"] = ext.read_custom_resource_definition(
            CRD
        ).metadata.resource_version
        ext.replace_custom_resource_definition(CRD, older)
        delete_namespace(kube, namespace)

        code, out, err = restore(cluster.kubeconfig, url, "--from-backup", "gadgets")

        assert code == 0, err
        status = out.get("restore", out)["status"]
        warned = [w for w in status["warnings"] if w.get("resource") == f"gadgets.{GROUP}"]
        assert any('unknown field "spec.color"' in w["message"] for w in warned), warned
        restored = custom.get_namespaced_custom_object(GROUP, "v1", namespace, "gadgets", "g1")
        assert restored["spec"] == {"size": "large"}
    finally:
        ext.delete_custom_resource_definition(CRD)
