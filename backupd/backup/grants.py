"""Backup's `auto` scope, the reverse direction: the cluster-scoped objects that point
*to* what the backup took (backupd.kinds.references' reverse rule).

A ClusterRoleBinding whose subjects include a ServiceAccount the backup took is
needed: without it the restored app loses its cluster-wide rights. Nothing in the
namespace names it, so it cannot be followed like a PriorityClass is: each type of
GRANTING_TYPES is listed once (only when the backup took a ServiceAccount), every
object offered to `Needs.granting()`, and the ones it wants are taken and noted, so
that the dependencies step that follows takes their ClusterRoles.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backupd.backup.selection import ResourceFilter
from backupd.cluster.client import KubeClient
from backupd.cluster.discovery import ApiResource
from backupd.cluster.listing import list_pages
from backupd.errors import ClusterError, ClusterUnauthorized
from backupd.kinds.references import GRANTING_TYPES

if TYPE_CHECKING:
    from backupd.backup.engine import _Run


def take_granting(
    kube: KubeClient, run: _Run, by_gr: dict[str, ApiResource], res_filter: ResourceFilter
) -> None:
    """Take the objects that grant a ServiceAccount the backup took, each with why."""
    if not run.needs.accounts:
        return
    for res in (r for r in by_gr.values() if (r.group, r.resource) in GRANTING_TYPES):
        filtered_out = not res_filter.matches(res)  # once per type, not per object
        try:
            for items, _ in list_pages(kube, res):
                for obj in items:
                    ref = run.needs.granting(obj, res.group, res.resource, res.kind)
                    if ref is None or (res.group_resource, ref.name) in run.taken:
                        continue
                    why = run.needs.describe(ref.key)
                    if filtered_out:
                        run.issue(
                            "warning",
                            res,
                            f"{why}; not taken: the resource filters leave "
                            f"{res.group_resource} out",
                        )
                        continue
                    run.log.info(f"taking {why}")
                    run.add(res, obj)
                    run.needs.note(obj, res.group, res.resource, res.kind)
        except ClusterError as e:
            if isinstance(e, ClusterUnauthorized):
                raise
            run.issue("error", res, f"cannot list: {e}")
