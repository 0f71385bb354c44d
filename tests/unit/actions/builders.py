"""Small builders of Kubernetes objects (as the API server returns them) for restore tests."""

from __future__ import annotations

import hashlib
import itertools
from typing import Any

import orjson

from backupd.api.restore import RestoreSpec
from backupd.archive.format import IndexEntry
from backupd.restore.actions import Context

JSON = dict[str, Any]
_uids = itertools.count(1)

# kind -> (group, version, resource)
TYPES: dict[str, tuple[str, str, str]] = {
    "Namespace": ("", "v1", "namespaces"),
    "ConfigMap": ("", "v1", "configmaps"),
    "Secret": ("", "v1", "secrets"),
    "Service": ("", "v1", "services"),
    "Endpoints": ("", "v1", "endpoints"),
    "Pod": ("", "v1", "pods"),
    "ServiceAccount": ("", "v1", "serviceaccounts"),
    "PersistentVolume": ("", "v1", "persistentvolumes"),
    "PersistentVolumeClaim": ("", "v1", "persistentvolumeclaims"),
    "Event": ("", "v1", "events"),
    "EndpointSlice": ("discovery.k8s.io", "v1", "endpointslices"),
    "Deployment": ("apps", "v1", "deployments"),
    "ReplicaSet": ("apps", "v1", "replicasets"),
    "StatefulSet": ("apps", "v1", "statefulsets"),
    "Job": ("batch", "v1", "jobs"),
    "CronJob": ("batch", "v1", "cronjobs"),
    "Role": ("rbac.authorization.k8s.io", "v1", "roles"),
    "RoleBinding": ("rbac.authorization.k8s.io", "v1", "rolebindings"),
    "ClusterRoleBinding": ("rbac.authorization.k8s.io", "v1", "clusterrolebindings"),
    "StorageClass": ("storage.k8s.io", "v1", "storageclasses"),
    "CustomResourceDefinition": ("apiextensions.k8s.io", "v1", "customresourcedefinitions"),
}


def new_uid() -> str:
    return f"uid-{next(_uids):04d}"


def obj(kind: str, name: str, namespace: str | None = None, **fields: Any) -> JSON:
    """An object as read back from a server: uid, resourceVersion, timestamps, status."""
    group, version = TYPES[kind][:2] if kind in TYPES else ("example.com", "v1")
    meta: JSON = {
        "name": name,
        "uid": new_uid(),
        "resourceVersion": "42",
        "creationTimestamp": "2026-11-25T01:00:00Z",
        "managedFields": [{"manager": "kubectl", "operation": "Update"}],
    }
    if namespace:
        meta["namespace"] = namespace
    meta.update(fields.pop("metadata", {}))
    return {
        "apiVersion": f"{group}/{version}" if group else version,
        "kind": kind,
        "metadata": meta,
        **fields,
    }


def owned_by(child: JSON, owner: JSON) -> JSON:
    child["metadata"]["ownerReferences"] = [
        {
            "apiVersion": owner["apiVersion"],
            "kind": owner["kind"],
            "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"],
            "controller": True,
        }
    ]
    return child


def namespace(name: str) -> JSON:
    return obj(
        "Namespace",
        name,
        metadata={"labels": {"kubernetes.io/metadata.name": name}},
        spec={"finalizers": ["kubernetes"]},
        status={"phase": "Active"},
    )


def configmap(name: str, ns: str = "shop", **data: str) -> JSON:
    return obj("ConfigMap", name, ns, data=data or {"key": "value"})


def secret(name: str, ns: str = "shop", type_: str = "Opaque", **data: str) -> JSON:
    return obj("Secret", name, ns, type=type_, data=data or {"password": "c2VjcmV0"})


def service(
    name: str, ns: str = "shop", *, cluster_ip: str = "10.0.0.7", node_port: int | None = None
) -> JSON:
    port: JSON = {"port": 80, "protocol": "TCP", "targetPort": 8080}
    if node_port:
        port["nodePort"] = node_port
    return obj(
        "Service",
        name,
        ns,
        spec={
            "type": "NodePort" if node_port else "ClusterIP",
            "clusterIP": cluster_ip,
            "clusterIPs": [cluster_ip],
            "selector": {"app": name},
            "ports": [port],
        },
        status={"loadBalancer": {}},
    )


def deployment(name: str, ns: str = "shop", replicas: int = 2, image: str = "app:1") -> JSON:
    labels = {"app": name}
    return obj(
        "Deployment",
        name,
        ns,
        metadata={"annotations": {"deployment.kubernetes.io/revision": "3"}, "generation": 4},
        spec={
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels, "creationTimestamp": None},
                "spec": {
                    "containers": [{"name": "app", "image": image, "resources": {}}],
                    "restartPolicy": "Always",
                },
            },
        },
        status={"replicas": replicas, "readyReplicas": replicas},
    )


def pod(name: str, ns: str = "shop") -> JSON:
    return obj(
        "Pod",
        name,
        ns,
        spec={
            "nodeName": "node-1",
            "priority": 0,
            "containers": [
                {
                    "name": "app",
                    "image": "app:1",
                    "volumeMounts": [
                        {"name": "data", "mountPath": "/data"},
                        {"name": "kube-api-access-x1y2z", "mountPath": "/var/run/secrets"},
                    ],
                }
            ],
            "volumes": [
                {"name": "data", "emptyDir": {}},
                {"name": "kube-api-access-x1y2z", "projected": {"sources": []}},
            ],
        },
        status={"phase": "Running"},
    )


def job(name: str, ns: str = "shop", uid: str = "job-uid-1") -> JSON:
    uid_labels = {"controller-uid": uid, "batch.kubernetes.io/controller-uid": uid}
    return obj(
        "Job",
        name,
        ns,
        metadata={"uid": uid, "labels": {"team": "a"}},
        spec={
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}},
            "template": {
                "metadata": {"labels": {"job-name": name, **uid_labels}},
                "spec": {"containers": [{"name": "x", "image": "x"}], "restartPolicy": "Never"},
            },
        },
        status={"succeeded": 1},
    )


def pvc(name: str, ns: str = "shop", volume: str | None = "pv-1", sc: str = "gp2") -> JSON:
    spec: JSON = {"storageClassName": sc, "accessModes": ["ReadWriteOnce"]}
    if volume:
        spec["volumeName"] = volume
    return obj(
        "PersistentVolumeClaim",
        name,
        ns,
        metadata={
            "annotations": {
                "pv.kubernetes.io/bind-completed": "yes",
                "pv.kubernetes.io/bound-by-controller": "yes",
                "volume.kubernetes.io/storage-provisioner": "ebs.csi.aws.com",
                "team": "a",
            },
            "finalizers": ["kubernetes.io/pvc-protection"],
        },
        spec=spec,
        status={"phase": "Bound"},
    )


def pv(name: str, claim_ns: str = "shop", claim: str = "data", sc: str = "gp2") -> JSON:
    return obj(
        "PersistentVolume",
        name,
        metadata={"annotations": {"pv.kubernetes.io/bound-by-controller": "yes"}},
        spec={
            "storageClassName": sc,
            "capacity": {"storage": "1Gi"},
            "hostPath": {"path": "/tmp/x"},
            "claimRef": {
                "kind": "PersistentVolumeClaim",
                "namespace": claim_ns,
                "name": claim,
                "uid": "old-claim-uid",
                "resourceVersion": "7",
            },
        },
        status={"phase": "Bound"},
    )


def crd(plural: str, group: str, kind: str) -> JSON:
    return obj(
        "CustomResourceDefinition",
        f"{plural}.{group}",
        spec={"group": group, "names": {"plural": plural, "kind": kind}, "scope": "Namespaced"},
    )


def custom(kind: str, name: str, ns: str = "shop", group: str = "example.com") -> JSON:
    o = obj(kind, name, ns, spec={"size": 1})
    o["apiVersion"] = f"{group}/v1"
    return o


def entry(o: JSON, resource: str | None = None) -> IndexEntry:
    """The index entry the backup writer would have made for `o`."""
    api_version = o["apiVersion"]
    group, _, version = api_version.rpartition("/")
    data = orjson.dumps(o)
    return IndexEntry(
        group=group,
        version=version,
        kind=o["kind"],
        resource=resource or TYPES.get(o["kind"], ("", "", o["kind"].lower() + "s"))[2],
        namespace=o["metadata"].get("namespace"),
        name=o["metadata"]["name"],
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
    )


def spec(**kwargs: Any) -> RestoreSpec:
    return RestoreSpec(backup_name=kwargs.pop("backup_name", "nightly"), **kwargs)


def context(**kwargs: Any) -> Context:
    fields = {
        k: kwargs.pop(k)
        for k in ("restored_uids", "selector_services", "restored_pvs")
        if k in kwargs
    }
    return Context(spec(**kwargs), **fields)
