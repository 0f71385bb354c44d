"""Paged LIST as raw JSON: pages of `limit` items, with continue tokens.

Pages are GETs, so they ask for gzip (KubeClient): the API server compresses pages
above 128 KiB, several times fewer bytes from a remote server.
A continue token that expires (410 Gone) restarts the list. Items come back in
etcd key order (namespace/name), so the restart skips everything up to the last
item already yielded: no duplicates and no gaps, and no memory of what was seen.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from backupd.cluster.client import JSON, KubeClient
from backupd.cluster.discovery import ApiResource
from backupd.errors import ClusterGone

PAGE_SIZE = 500
_MAX_RESTARTS = 5


def _position(item: JSON) -> bytes:
    meta = item.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}".encode()


def list_pages(
    kube: KubeClient,
    res: ApiResource,
    *,
    namespace: str | None = None,
    label_selector: str | None = None,
    limit: int = PAGE_SIZE,
) -> Iterator[tuple[list[JSON], int | None]]:
    """Yield (items, remaining_item_count_or_None) page by page."""
    path = res.path(namespace)
    token: str | None = None
    last: bytes | None = None
    restarts = 0
    while True:
        params: dict[str, Any] = {
            "limit": limit,
            "labelSelector": label_selector,
            "continue": token,
        }
        try:
            resp = kube.open("GET", path, params=params)
        except ClusterGone:
            if restarts >= _MAX_RESTARTS:
                raise
            restarts += 1
            token = None  # start over; skip what was already yielded
            continue
        page = orjson.loads(resp.data)
        items: list[JSON] = page.get("items") or []
        if restarts and last is not None:
            items = [i for i in items if _position(i) > last]
        if items:
            last = _position(items[-1])
        meta = page.get("metadata") or {}
        remaining = meta.get("remainingItemCount")
        yield items, int(remaining) if remaining is not None else None
        token = meta.get("continue") or None
        if token is None:
            return
