"""One item's result: the ItemResult an applied item gets, and how an error reads in it.

Shared by the applier (creates, validation) and existing (objects that exist already).
"""

from __future__ import annotations

import re

from backupd.api.restore import ItemResult, Outcome
from backupd.errors import BackupdError, ClusterError
from backupd.restore.planner import PlannedItem

_REQUEST_PREFIX = re.compile(r"^[A-Z]+ /\S*: ")


def result(
    item: PlannedItem,
    outcome: Outcome,
    reason: str | None = None,
    diff: str | None = None,
    warnings: list[str] | None = None,
) -> ItemResult:
    ref = item.ref
    return ItemResult(
        group=ref.group,
        version=ref.version,
        kind=ref.kind,
        resource=ref.resource,
        namespace=ref.namespace,
        name=ref.name,
        outcome=outcome,
        source_namespace=item.source.namespace if item.source.namespace != ref.namespace else None,
        reason=reason,
        diff=diff or None,
        warnings=warnings or [],
    )


def error_text(e: BackupdError) -> str:
    text = _REQUEST_PREFIX.sub("", str(e))  # the item is named already
    if isinstance(e, ClusterError) and e.causes:
        extra = "; ".join(c for c in e.causes if c and c not in text)
        if extra:
            text = f"{text} ({extra})"
    return text


def with_note(r: ItemResult, note: str) -> ItemResult:
    return r.model_copy(update={"reason": f"{note}: {r.reason}" if r.reason else note})
