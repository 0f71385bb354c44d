"""The built-in Kubernetes types and their short names (`cm`, `deploy`, `svc`). Pure.

A cluster's discovery says them too (backupd.cluster.discovery), but reading a backup
needs no cluster: `backupctl backup show nightly cm/settings` must work at 3 a.m. with
the cluster gone. These are the API server's own, stable across releases; a custom
resource's short names come from discovery only.
"""

from __future__ import annotations

from backupd.kinds.spellings import TypeName


def _t(group: str, resource: str, kind: str, *short: str) -> TypeName:
    return TypeName(group, resource, kind, kind.lower(), short)


# As `kubectl api-resources` lists them (the types a backup holds, and a few more).
BUILTIN_TYPES: tuple[TypeName, ...] = (
    _t("", "configmaps", "ConfigMap", "cm"),
    _t("", "endpoints", "Endpoints", "ep"),
    _t("", "events", "Event", "ev"),
    _t("", "limitranges", "LimitRange", "limits"),
    _t("", "namespaces", "Namespace", "ns"),
    _t("", "nodes", "Node", "no"),
    _t("", "persistentvolumeclaims", "PersistentVolumeClaim", "pvc"),
    _t("", "persistentvolumes", "PersistentVolume", "pv"),
    _t("", "pods", "Pod", "po"),
    _t("", "podtemplates", "PodTemplate"),
    _t("", "replicationcontrollers", "ReplicationController", "rc"),
    _t("", "resourcequotas", "ResourceQuota", "quota"),
    _t("", "secrets", "Secret"),
    _t("", "serviceaccounts", "ServiceAccount", "sa"),
    _t("", "services", "Service", "svc"),
    _t(
        "admissionregistration.k8s.io",
        "mutatingwebhookconfigurations",
        "MutatingWebhookConfiguration",
    ),
    _t(
        "admissionregistration.k8s.io",
        "validatingwebhookconfigurations",
        "ValidatingWebhookConfiguration",
    ),
    _t(
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        "crd",
        "crds",
    ),
    _t("apps", "controllerrevisions", "ControllerRevision"),
    _t("apps", "daemonsets", "DaemonSet", "ds"),
    _t("apps", "deployments", "Deployment", "deploy"),
    _t("apps", "replicasets", "ReplicaSet", "rs"),
    _t("apps", "statefulsets", "StatefulSet", "sts"),
    _t("autoscaling", "horizontalpodautoscalers", "HorizontalPodAutoscaler", "hpa"),
    _t("batch", "cronjobs", "CronJob", "cj"),
    _t("batch", "jobs", "Job"),
    _t("certificates.k8s.io", "certificatesigningrequests", "CertificateSigningRequest", "csr"),
    _t("coordination.k8s.io", "leases", "Lease"),
    _t("discovery.k8s.io", "endpointslices", "EndpointSlice"),
    _t("events.k8s.io", "events", "Event", "ev"),
    _t("networking.k8s.io", "ingressclasses", "IngressClass"),
    _t("networking.k8s.io", "ingresses", "Ingress", "ing"),
    _t("networking.k8s.io", "networkpolicies", "NetworkPolicy", "netpol"),
    _t("node.k8s.io", "runtimeclasses", "RuntimeClass"),
    _t("policy", "poddisruptionbudgets", "PodDisruptionBudget", "pdb"),
    _t("rbac.authorization.k8s.io", "clusterrolebindings", "ClusterRoleBinding"),
    _t("rbac.authorization.k8s.io", "clusterroles", "ClusterRole"),
    _t("rbac.authorization.k8s.io", "rolebindings", "RoleBinding"),
    _t("rbac.authorization.k8s.io", "roles", "Role"),
    _t("scheduling.k8s.io", "priorityclasses", "PriorityClass", "pc"),
    _t(
        "snapshot.storage.k8s.io",
        "volumesnapshotclasses",
        "VolumeSnapshotClass",
        "vsclass",
        "vsclasses",
    ),
    _t("snapshot.storage.k8s.io", "volumesnapshotcontents", "VolumeSnapshotContent", "vsc", "vscs"),
    _t("snapshot.storage.k8s.io", "volumesnapshots", "VolumeSnapshot", "vs"),
    _t("storage.k8s.io", "csidrivers", "CSIDriver"),
    _t("storage.k8s.io", "storageclasses", "StorageClass", "sc"),
)
_BY_IDENTITY = {t.identity: t for t in BUILTIN_TYPES}


def builtin_type(group: str, resource: str, kind: str) -> TypeName:
    """The type with every name kubectl accepts for it without asking a cluster: plural,
    kind, singular (the kind in lower case) and, for a built-in type, its short names."""
    known = _BY_IDENTITY.get((group, resource))
    short = known.short_names if known is not None else ()
    return TypeName(group, resource, kind, kind.lower(), short)


def names_builtin(spelling: str) -> bool:
    """Whether `spelling` names a built-in type (`ingress`, `cm`, `roles.rbac...`)."""
    return any(t.matches(spelling) for t in BUILTIN_TYPES)
