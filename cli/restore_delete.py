"""`backupctl restore delete`: forget a restore's record in the location.

The record is what `restore get|describe|logs` read: its result, per-item results and
log under restores/NAME/. The objects the restore created or updated in the cluster
are never touched; delete those with kubectl if they must go.
"""

from __future__ import annotations

import typer

from backupd.storage import catalog
from cli.common import LocationOption, YesOption, confirm
from cli.config import resolve_location
from cli.output import info


def delete(
    name: str = typer.Argument(..., help="the restore whose record is deleted"),
    yes: bool = YesOption,
    location: str = LocationOption,
) -> None:
    """Delete a restore's record (result, per-item results, log) from the location.
    The objects it restored stay in the cluster.
    """
    loc = resolve_location(location)
    doomed = catalog.deletion(loc, name, "restores")
    confirm(
        f"delete the record of restore {name} ({len(doomed.objects)} objects) from {loc.url}? "
        "(the restored objects stay in the cluster)",
        yes,
    )
    deleted = doomed.execute()
    info(f"restore {name} deleted ({deleted} objects); the objects it restored are untouched")
