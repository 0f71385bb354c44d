"""The short names Kubernetes gives its built-in types (`cm`, `deploy`, `svc`). Pure.

A cluster's discovery says them too (backupd.cluster.discovery), but reading a backup
needs no cluster: `backupctl backup show nightly cm/settings` must work at 3 a.m. with
the cluster gone. These are the API server's own, stable across releases; a custom
resource's short names come from discovery only.
"""

from __future__ import annotations

from backupd.kinds.spellings import TypeName

# (group, plural) -> short names, as `kubectl api-resources` lists them
BUILTIN_SHORT_NAMES: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "configmaps"): ("cm",),
    ("", "endpoints"): ("ep",),
    ("", "events"): ("ev",),
    ("", "limitranges"): ("limits",),
    ("", "namespaces"): ("ns",),
    ("", "nodes"): ("no",),
    ("", "persistentvolumeclaims"): ("pvc",),
    ("", "persistentvolumes"): ("pv",),
    ("", "pods"): ("po",),
    ("", "replicationcontrollers"): ("rc",),
    ("", "resourcequotas"): ("quota",),
    ("", "serviceaccounts"): ("sa",),
    ("", "services"): ("svc",),
    ("apiextensions.k8s.io", "customresourcedefinitions"): ("crd", "crds"),
    ("apps", "daemonsets"): ("ds",),
    ("apps", "deployments"): ("deploy",),
    ("apps", "replicasets"): ("rs",),
    ("apps", "statefulsets"): ("sts",),
    ("autoscaling", "horizontalpodautoscalers"): ("hpa",),
    ("batch", "cronjobs"): ("cj",),
    ("certificates.k8s.io", "certificatesigningrequests"): ("csr",),
    ("events.k8s.io", "events"): ("ev",),
    ("networking.k8s.io", "ingresses"): ("ing",),
    ("networking.k8s.io", "networkpolicies"): ("netpol",),
    ("policy", "poddisruptionbudgets"): ("pdb",),
    ("scheduling.k8s.io", "priorityclasses"): ("pc",),
    ("storage.k8s.io", "storageclasses"): ("sc",),
    ("snapshot.storage.k8s.io", "volumesnapshots"): ("vs",),
    ("snapshot.storage.k8s.io", "volumesnapshotclasses"): ("vsclass", "vsclasses"),
    ("snapshot.storage.k8s.io", "volumesnapshotcontents"): ("vsc", "vscs"),
}


def builtin_type(group: str, resource: str, kind: str) -> TypeName:
    """The type with every name kubectl accepts for it without asking a cluster: plural,
    kind, singular (the kind in lower case) and, for a built-in type, its short names."""
    return TypeName(
        group, resource, kind, kind.lower(), BUILTIN_SHORT_NAMES.get((group, resource), ())
    )
