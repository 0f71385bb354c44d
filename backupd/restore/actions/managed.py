"""Objects the cluster creates by itself in every namespace."""

from __future__ import annotations

from backupd.restore.actions.base import JSON, Action, Context, Skip, meta

ROOT_CA_CONFIGMAP = "kube-root-ca.crt"


def run(obj: JSON, ctx: Context) -> JSON | Skip:
    if meta(obj).get("name") == ROOT_CA_CONFIGMAP:
        return Skip("published by the target cluster in every namespace")
    return obj


ACTION = Action("skip-cluster-published", run, kinds=frozenset({("", "ConfigMap")}))
