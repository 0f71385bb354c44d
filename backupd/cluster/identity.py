"""Which cluster `kube` talks to, as a backup records it (ClusterInfo: kube-system UID
and server URL)."""

from __future__ import annotations

from backupd.api.backup import ClusterInfo
from backupd.cluster import discovery
from backupd.cluster.client import KubeClient
from backupd.errors import ClusterForbidden, ClusterNotFound


def current_cluster(kube: KubeClient) -> ClusterInfo:
    """The identity of the cluster `kube` talks to.

    Without the right to read namespace kube-system the UID stays empty, and backups
    are then told apart by server URL. An unreachable cluster raises.
    """
    try:
        uid = discovery.cluster_id(kube)
    except (ClusterForbidden, ClusterNotFound):
        uid = ""
    return ClusterInfo(id=uid, server=kube.host)
