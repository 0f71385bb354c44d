"""The flags that choose what a backup holds: `backup create` and `schedule create` share them.

Each list flag may be repeated and takes comma lists; an empty include list means all.
"""

from __future__ import annotations

from typing import Any

import typer

from backupd.api.backup import BackupSpec, ClusterResources
from backupd.backup.selection import split_csv

IncludeNamespacesOption = typer.Option(
    ["*"], "--include-namespaces", help="comma list; wildcards ok"
)
ExcludeNamespacesOption = typer.Option([], "--exclude-namespaces")
IncludeResourcesOption = typer.Option(
    ["*"], "--include-resources", help="deployments, *.example.com"
)
ExcludeResourcesOption = typer.Option([], "--exclude-resources")
SelectorOption = typer.Option(None, "--selector", help="label selector, e.g. app=web,tier!=db")
ClusterResourcesOption = typer.Option(
    ClusterResources.auto, "--include-cluster-resources", help="auto: what the namespaces use"
)


def backup_spec(
    include_namespaces: list[str],
    exclude_namespaces: list[str],
    include_resources: list[str],
    exclude_resources: list[str],
    selector: str | None,
    include_cluster_resources: ClusterResources,
    ttl: str,
    **more: Any,
) -> BackupSpec:
    """The BackupSpec the selection flags (and `more` of its fields) describe."""
    return BackupSpec(
        included_namespaces=split_csv(include_namespaces) or ["*"],
        excluded_namespaces=split_csv(exclude_namespaces),
        included_resources=split_csv(include_resources) or ["*"],
        excluded_resources=split_csv(exclude_resources),
        label_selector=selector,
        include_cluster_resources=include_cluster_resources,
        ttl=ttl,
        **more,
    )
