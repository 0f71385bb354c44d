"""Every kind: drop server-set metadata (uid, resourceVersion, owners...) and status."""

from __future__ import annotations

from backupd.restore.actions.base import JSON, Action, Context, drop_keys, meta
from backupd.restore.serverfields import SERVER_ANNOTATIONS, SERVER_LABELS, SERVER_METADATA


def run(obj: JSON, ctx: Context) -> JSON:
    m = meta(obj)
    drop_keys(m, SERVER_METADATA)
    for key, dropped in (("annotations", SERVER_ANNOTATIONS), ("labels", SERVER_LABELS)):
        values = m.get(key)
        if isinstance(values, dict):
            drop_keys(values, dropped)
            if not values:
                del m[key]
    obj.pop("status", None)
    return obj


ACTION = Action("strip-server-metadata", run, description="server-set metadata and status")
