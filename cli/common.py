"""Options and helpers shared by the backupctl commands that touch a cluster or a location."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING
from urllib.parse import quote

import typer

from backupd.api import GROUP, VERSION
from backupd.errors import UserInputError
from cli import completion
from cli.output import err_console

if TYPE_CHECKING:  # the API client loads when a command asks for a cluster (fast start)
    from backupd.cluster.client import KubeClient

KubeconfigOption = typer.Option(
    None,
    "--kubeconfig",
    envvar="KUBECONFIG",
    help="kubeconfig file(s) of the cluster, ':'-separated and merged as kubectl does "
    "(default: $KUBECONFIG, then ~/.kube/config)",
)
ContextOption = typer.Option(
    None,
    "--context",
    metavar="CONTEXT",
    help="kubeconfig context to use (default: its current-context)",
    autocompletion=completion.contexts,
)
LocationOption = typer.Option(
    None,
    "--location",
    "--storage-location",
    metavar="NAME|URL",
    help="storage location: a name from `backupctl location get` or a URL "
    "(default: $BACKUPD_LOCATION, then the config's default location)",
    autocompletion=completion.location_names,
)
BackupArgument = typer.Argument(
    ..., metavar="NAME", help="the backup's name", autocompletion=completion.backup_names
)
RestoreArgument = typer.Argument(
    ..., metavar="NAME", help="the restore's name", autocompletion=completion.restore_names
)


YesOption = typer.Option(
    False, "--yes", "-y", "--confirm", help="do not ask for confirmation (Velero: --confirm)"
)


def confirm(question: str, yes: bool) -> None:
    """Ask `question` on a terminal; without one, refuse unless --yes was given."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise UserInputError("refusing to delete without confirmation; pass --yes")
    typer.confirm(question, abort=True)


def kube_client(kubeconfig: str | None, context: str | None) -> KubeClient:
    """A client for the kubeconfig (several files merged) and context given."""
    from backupd.cluster.client import KubeClient

    return KubeClient.from_kubeconfig(kubeconfig, context=context)


@contextmanager
def progress_bar(description: str, *, enabled: bool = True) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr; yields update(done, total). Silent when not a terminal."""
    if not enabled or not err_console.is_terminal:
        yield lambda _done, _total: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            # total < 0: not known yet (a backup still listing); the bar shows the count
            bar.update(task, completed=done, total=max(total, done) if total >= 0 else None)

        yield update


class Namespaced:
    """backupd's resources in one namespace of the cluster (the controller's)."""

    def __init__(self, kube: KubeClient, namespace: str) -> None:
        self.kube = kube
        self.namespace = namespace

    def path(self, plural: str, name: str | None = None) -> str:
        base = f"/apis/{GROUP}/{VERSION}/namespaces/{quote(self.namespace, safe='')}/{plural}"
        return base if name is None else f"{base}/{quote(name, safe='')}"
