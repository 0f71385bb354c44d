"""The flags that choose what a backup holds: `backup create` and `schedule create` share them.

Each list flag may be repeated and takes comma lists; an empty include list means all.
"""

from __future__ import annotations

from typing import Any

import typer

from backupd.api.backup import BackupSpec, ClusterResources
from backupd.backup.selection import split_csv
from cli import completion

IncludeNamespacesOption = typer.Option(
    ["*"],
    "--include-namespaces",
    "-n",
    metavar="NAMESPACE[,NAMESPACE...]",
    autocompletion=completion.namespaces,
    help="namespaces to back up; comma list or repeated, wildcards ok "
    "(default: every namespace, i.e. the whole cluster)",
    show_default=False,
)
ExcludeNamespacesOption = typer.Option(
    [],
    "--exclude-namespaces",
    metavar="NAMESPACE[,NAMESPACE...]",
    help="namespaces to leave out; comma list or repeated, wildcards ok",
    autocompletion=completion.namespaces,
    show_default=False,
)
IncludeResourcesOption = typer.Option(
    ["*"],
    "--include-resources",
    metavar="RESOURCE[,RESOURCE...]",
    help="resource types to back up, e.g. deployments,configmaps or *.example.com (default: all)",
    show_default=False,
)
ExcludeResourcesOption = typer.Option(
    [],
    "--exclude-resources",
    metavar="RESOURCE[,RESOURCE...]",
    help="resource types to leave out, e.g. events,pods",
    show_default=False,
)
SelectorOption = typer.Option(
    None,
    "--selector",
    "-l",
    metavar="SELECTOR",
    help="label selector, as kubectl's -l: only objects matching it, e.g. app=web,tier!=db",
)
ClusterResourcesOption = typer.Option(
    ClusterResources.auto,
    "--include-cluster-resources",
    help="cluster-scoped objects: auto = those the backed-up namespaces use "
    "(ClusterRoles, StorageClasses, CRDs, PersistentVolumes ...); true = all of them; "
    "false = none",
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
