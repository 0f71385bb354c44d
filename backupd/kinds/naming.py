"""How items are named in archives, logs and reports. Pure; the ground floor, so the
API types, the cluster client and the archive all spell items alike."""

from __future__ import annotations


def resource_dir(resource: str, group: str) -> str:
    """`configmaps` for the core group, `deployments.apps` otherwise."""
    return f"{resource}.{group}" if group else resource


def item_where(group_resource: str, namespace: str | None, name: str) -> str:
    """How an item is named in logs and reports: `deployments.apps/shop/web`."""
    return f"{group_resource}/{namespace}/{name}" if namespace else f"{group_resource}/{name}"
