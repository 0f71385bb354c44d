"""The few API calls the sandbox makes while it starts: nodes and readiness."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from backupd.cluster.client import KubeClient
from backupd.errors import ClusterConflict, ClusterNotFound


def create_node(kubeconfig: Path, node: dict[str, Any]) -> None:
    with KubeClient.from_kubeconfig(kubeconfig) as kube, contextlib.suppress(ClusterConflict):
        kube.post("/api/v1/nodes", node)


def ready_nodes(kubeconfig: Path) -> int:
    with KubeClient.from_kubeconfig(kubeconfig) as kube:
        nodes = kube.get("/api/v1/nodes")["items"]
    return sum(
        1
        for n in nodes
        for c in n.get("status", {}).get("conditions", [])
        if c["type"] == "Ready" and c["status"] == "True"
    )


def service_account_exists(kubeconfig: Path, namespace: str, name: str) -> bool:
    with KubeClient.from_kubeconfig(kubeconfig) as kube:
        try:
            kube.get(f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}")
        except ClusterNotFound:
            return False
    return True
