"""`backupctl sandbox`: a real local cluster to try things on, started by hand."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import typer

from backupd.errors import SandboxError, UserInputError
from backupd.sandbox import binaries
from backupd.sandbox.cluster import Sandbox, SandboxState, stop_detached
from backupd.sandbox.processes import pid_alive
from cli.output import OutputFormat, OutputOption, emit, info, print_table

app = typer.Typer(no_args_is_help=True, help="Start, stop and inspect a local sandbox cluster.")

NameOption = typer.Option("default", "--name", help="sandbox name; several can run at once")


def sandbox_dir(name: str) -> Path:
    root = os.environ.get("BACKUPD_SANDBOXES")
    return (Path(root) if root else binaries.cache_root() / "sandboxes") / name


@app.command()
def build(
    components: list[str] = typer.Argument(
        None,
        help="kubernetes, etcd, kwok, minio, fakegcs, csi-snapshotter, csi-provisioner, "
        "csi-driver (default: all)",
    ),
) -> None:
    """Build the control plane and object store binaries from Go modules (cached)."""
    wanted = tuple(components) if components else tuple(binaries.COMPONENTS)
    for c in wanted:
        if c not in binaries.COMPONENTS:
            raise UserInputError(
                f"unknown component {c!r}; choose from {', '.join(binaries.COMPONENTS)}"
            )
        directory, built = binaries.ensure_built(c, log=info)
        info(f"{c}: {'built' if built else 'cached'} in {directory}")


@app.command()
def up(
    name: str = NameOption,
    port: int = typer.Option(
        None, "--port", help="API server port on 127.0.0.1 (default: a free one)"
    ),
    nodes: int = typer.Option(1, "--nodes", min=1, help="number of fake kwok nodes"),
    csi: bool = typer.Option(
        False, "--csi", help="also start the CSI stack (driver, provisioner, snapshotter)"
    ),
    csi_data_dir: Path = typer.Option(
        None, "--csi-data-dir", help="the CSI driver's data directory (share it between sandboxes)"
    ),
) -> None:
    """Start a sandbox in the background and print how to use it."""
    started = time.monotonic()
    extra = ", CSI driver and sidecars" if csi else ""
    info(
        f"starting sandbox {name!r} "
        f"(etcd, kube-apiserver, controller-manager, scheduler, kwok{extra})..."
    )
    if csi:
        for component in binaries.CSI_STACK:
            binaries.ensure_built(component, log=info)
    box = Sandbox(
        sandbox_dir(name),
        name=name,
        api_port=port,
        nodes=nodes,
        detach=True,
        csi=csi,
        csi_data_dir=csi_data_dir,
    )
    state = box.start()
    info(f"sandbox {name!r} is ready at {state.server} in {time.monotonic() - started:.1f}s")
    typer.echo(f"export KUBECONFIG={state.kubeconfig}")
    # kubectl, built with the control plane, on PATH: `eval "$(backupctl sandbox up)"`.
    typer.echo(f'export PATH="{binaries.binary_dir("kubernetes")}:$PATH"')
    if state.csi_data_dir:
        info(f"CSI volumes live in {state.csi_data_dir}/volumes/<the PV's volumeHandle>")


@app.command()
def down(name: str = NameOption) -> None:
    """Stop a sandbox started with `sandbox up`."""
    state = stop_detached(sandbox_dir(name))
    info(f"sandbox {name!r} stopped; its files stay in {state.directory}")


def _described(directory: Path) -> dict[str, Any] | None:
    """A sandbox directory as `sandbox list` shows it; None if it holds no sandbox."""
    try:
        state = SandboxState.load(directory)
    except (SandboxError, OSError, ValueError, TypeError):
        return None
    alive = [pid_alive(pid) for pid in state.pids.values()]
    running = bool(alive) and all(alive)
    return {
        "name": state.name,
        "state": "running" if running else ("degraded" if any(alive) else "stopped"),
        "server": state.server,
        "kubeconfig": state.kubeconfig,
        "csi": bool(state.csi_data_dir),
    }


@app.command("list")
def list_(output: OutputFormat = OutputOption) -> None:
    """List the sandboxes started with `sandbox up` (running or stopped)."""
    root = sandbox_dir("default").parent
    found = [] if not root.is_dir() else sorted(root.iterdir())
    rows = [d for d in (_described(p) for p in found if p.is_dir()) if d is not None]

    def table() -> None:
        if not rows:
            info(f"no sandboxes in {root}; start one: backupctl sandbox up")
            return
        print_table(
            ["NAME", "STATE", "SERVER", "KUBECONFIG"],
            [[r["name"], r["state"], r["server"], r["kubeconfig"]] for r in rows],
        )

    emit(rows, output, table)


@app.command()
def status(name: str = NameOption, output: OutputFormat = OutputOption) -> None:
    """Show whether a sandbox's components are running."""
    state = SandboxState.load(sandbox_dir(name))
    alive = {c: pid_alive(pid) for c, pid in state.pids.items()}
    running = bool(alive) and all(alive.values())
    components = {c: ("running" if up else "stopped") for c, up in alive.items()}
    data = {
        "name": state.name,
        "server": state.server,
        "kubeconfig": state.kubeconfig,
        "running": running,
        "components": components,
        "logs": str(Path(state.directory) / "logs"),
    }

    def table() -> None:
        print_table(
            ["COMPONENT", "PID", "STATE"],
            [(c, state.pids[c], components[c]) for c in state.pids],
            title=f"sandbox {name} at {state.server} ({'running' if running else 'stopped'})",
        )
        info(f"kubeconfig: {state.kubeconfig}")

    emit(data, output, table)
    if not running:
        raise typer.Exit(1)
