"""Secrets: skip service-account tokens (the cluster issues its own)."""

from __future__ import annotations

from backupd.restore.actions.base import JSON, Action, Context, Skip

TOKEN_TYPE = "kubernetes.io/service-account-token"


def run(obj: JSON, ctx: Context) -> JSON | Skip:
    if obj.get("type") == TOKEN_TYPE:
        return Skip("a service-account token; the target cluster issues its own")
    return obj


ACTION = Action("skip-token-secrets", run, kinds=frozenset({("", "Secret")}))
