"""What the API server or a controller owns in an object, decided in one place. Pure.

A restore never writes these from the backup: they are dropped on create (see
actions/metadata, service, pv, pvc, job) and, when `--existing-resource-policy update`
replaces a live object with the backup's version (a PUT), they are kept from the live
object (`replacement`). The same body, sent first as a server-side dry run, is how a
restore learns "the backup's version as this server would store it", which is what it
compares with the live object (see applier and diffing).

    field                              on create            on replace: kept from live
    metadata uid, resourceVersion      dropped              yes: the PUT's preconditions
    other SERVER_METADATA (generation, dropped              the server keeps them itself
      creationTimestamp, managedFields..)
    metadata.ownerReferences           dropped              yes: owners' uids are this
                                                            cluster's, and dropping them
                                                            would orphan the object
    metadata.finalizers                the backup's         yes: controllers add and
                                                            remove them as they work
    SERVER_ANNOTATIONS, SERVER_LABELS  dropped              yes (controllers' bookkeeping)
    status                             dropped              yes (ignored by the server
                                                            where status is a subresource)
    Service clusterIP, clusterIPs      dropped (headless    yes, when the backup has none:
                                       stays "None")        allocated and immutable
    Service nodePort,                  dropped unless       yes, when the backup has none
      healthCheckNodePort              --preserve-nodeports (with it, the backup's wins)
    PersistentVolume spec.claimRef     uid and resource-    yes, when the live volume is
                                       Version dropped      bound: the binding is the
                                                            volume controller's
    PersistentVolumeClaim volumeName   kept if its volume   yes, when the backup has none
                                       is restored
    Job selector, controller-uid       dropped (made from   yes: they carry the live Job's
      labels (JOB_UID_LABELS)          the new uid)         uid and are immutable
    ClusterRole rules, when it has     the backup's         yes: the aggregation
      an aggregationRule                                    controller writes them

Everything else is the backup's: a field added to the live object since the backup is
removed by a replace, and shows as a difference before that.

Pods are never replaced: most of a Pod's spec is immutable and admission fills in more
of it (token volume, tolerations, priority) than the backup carries; the API server
refuses such a replace, and the restore compares them on the backup's fields only.
"""

from __future__ import annotations

from typing import Any

import orjson

JSON = dict[str, Any]

# metadata keys the server owns
SERVER_METADATA: frozenset[str] = frozenset(
    {
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
        "managedFields",
        "ownerReferences",
        "generateName",
    }
)

# metadata a replace keeps from the live object (see the table above)
KEPT_METADATA: tuple[str, ...] = ("uid", "resourceVersion", "ownerReferences", "finalizers")

# annotations written by controllers (the value on another cluster would differ)
SERVER_ANNOTATIONS: frozenset[str] = frozenset(
    {
        "deployment.kubernetes.io/revision",
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.daemonset.template.generation",
        "pv.kubernetes.io/bind-completed",
        "pv.kubernetes.io/bound-by-controller",
        "volume.beta.kubernetes.io/storage-provisioner",
        "volume.kubernetes.io/storage-provisioner",
        "volume.kubernetes.io/selected-node",
        "endpoints.kubernetes.io/last-change-trigger-time",
        "control-plane.alpha.kubernetes.io/leader",
        "batch.kubernetes.io/job-tracking",
        "batch.kubernetes.io/cronjob-scheduled-timestamp",
        "kubernetes.io/service-account.uid",
    }
)

# labels written by the server or by controllers
SERVER_LABELS: frozenset[str] = frozenset(
    {
        "kubernetes.io/metadata.name",  # Namespaces: always the namespace's own name
        "controller-uid",
        "batch.kubernetes.io/controller-uid",
    }
)

# Job labels that carry the Job's uid (in the template and the selector too)
JOB_UID_LABELS: frozenset[str] = frozenset({"controller-uid", "batch.kubernetes.io/controller-uid"})

# the projected service-account token volume the admission plugin adds to every Pod
TOKEN_VOLUME_PREFIX = "kube-api-access-"


def _dict(parent: JSON, key: str) -> JSON:
    value = parent.get(key)
    return value if isinstance(value, dict) else {}


def _keep_map(body_meta: JSON, live_meta: JSON, key: str, owned: frozenset[str]) -> None:
    live_values = _dict(live_meta, key)
    kept = {k: v for k, v in live_values.items() if k in owned}
    if kept:
        body_meta[key] = {**_dict(body_meta, key), **kept}


def _service(body: JSON, live: JSON, preserve_nodeports: bool) -> None:
    spec, live_spec = body.setdefault("spec", {}), _dict(live, "spec")
    for allocated_ip in ("clusterIP", "clusterIPs"):
        if allocated_ip not in spec and allocated_ip in live_spec:
            spec[allocated_ip] = live_spec[allocated_ip]
    if preserve_nodeports:
        return
    if "healthCheckNodePort" not in spec and "healthCheckNodePort" in live_spec:
        spec["healthCheckNodePort"] = live_spec["healthCheckNodePort"]
    allocated = {
        (p.get("port"), p.get("protocol", "TCP")): p["nodePort"]
        for p in live_spec.get("ports") or []
        if isinstance(p, dict) and p.get("nodePort")
    }
    for port in spec.get("ports") or []:
        key = (port.get("port"), port.get("protocol", "TCP"))
        if not port.get("nodePort") and key in allocated:
            port["nodePort"] = allocated[key]


def _persistent_volume(body: JSON, live: JSON) -> None:
    claim = _dict(live, "spec").get("claimRef")
    if claim:
        body.setdefault("spec", {})["claimRef"] = claim


def _claim(body: JSON, live: JSON) -> None:
    spec, volume = body.setdefault("spec", {}), _dict(live, "spec").get("volumeName")
    if volume and not spec.get("volumeName"):
        spec["volumeName"] = volume


def _job(body: JSON, live: JSON) -> None:
    spec, live_spec = body.setdefault("spec", {}), _dict(live, "spec")
    if "selector" in live_spec and not spec.get("manualSelector"):
        spec["selector"] = live_spec["selector"]
    live_labels = _dict(_dict(_dict(live_spec, "template"), "metadata"), "labels")
    uid_labels = {k: v for k, v in live_labels.items() if k in JOB_UID_LABELS}
    if uid_labels:
        template_meta = spec.setdefault("template", {}).setdefault("metadata", {})
        template_meta["labels"] = {**_dict(template_meta, "labels"), **uid_labels}


def _cluster_role(body: JSON, live: JSON) -> None:
    if body.get("aggregationRule") and "rules" in live:
        body["rules"] = live["rules"]


def replacement(backup: JSON, live: JSON, *, preserve_nodeports: bool = False) -> JSON:
    """The body of a replace (PUT) that turns `live` into the backup's version.

    `backup` is the object a restore would create (transformed); the result is a copy
    of it carrying what the server owns from `live` (the table above), including the
    live resourceVersion, so a replace of an object changed meanwhile is refused (409).
    """
    body: JSON = orjson.loads(orjson.dumps(backup))
    meta, live_meta = body.setdefault("metadata", {}), _dict(live, "metadata")
    for key in KEPT_METADATA:
        if key in live_meta:
            meta[key] = live_meta[key]
        else:
            meta.pop(key, None)
    _keep_map(meta, live_meta, "annotations", SERVER_ANNOTATIONS)
    _keep_map(meta, live_meta, "labels", SERVER_LABELS)
    if "status" in live:
        body["status"] = live["status"]
    group = str(body.get("apiVersion", "")).rpartition("/")[0]
    kind = body.get("kind")
    if (group, kind) == ("", "Service"):
        _service(body, live, preserve_nodeports)
    elif (group, kind) == ("", "PersistentVolume"):
        _persistent_volume(body, live)
    elif (group, kind) == ("", "PersistentVolumeClaim"):
        _claim(body, live)
    elif (group, kind) == ("batch", "Job"):
        _job(body, live)
    elif (group, kind) == ("rbac.authorization.k8s.io", "ClusterRole"):
        _cluster_role(body, live)
    return body
