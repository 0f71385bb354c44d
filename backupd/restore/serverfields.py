"""Fields the API server or a controller sets: never restored, never compared. Pure data."""

from __future__ import annotations

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
