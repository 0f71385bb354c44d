"""A throw-away local control plane for a drill (`--ephemeral`): started in a temporary
directory, torn down whatever happens.

    with ephemeral_cluster(cancel=cancel) as cluster:   # etcd, kube-apiserver,
        kube = cluster.kube                             # controllers, kwok nodes
        ...                                             # (backupd.sandbox, loopback only)

Teardown runs on every way out: a normal end, an error, Ctrl-C (SIGINT), SIGTERM and
SIGHUP. While the cluster lives, those signals set `cancel` (so worker threads stop at
their next item) and raise DrillInterrupted (a KeyboardInterrupt) in the main thread,
once; a second signal during teardown is ignored, so a impatient Ctrl-C cannot leave
half of it behind. Teardown stops every component's process group (SIGTERM, then
SIGKILL) and removes the directory. The components also die with this process if it
is killed outright (they are started with PR_SET_PDEATHSIG); only the directory is
then left, in $TMPDIR, named backupd-drill-*.

Signal handlers can only be set from the main thread: elsewhere (the controller's
workers) teardown still runs, and the caller's own shutdown sets `cancel`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from backupd.api.progress import Cancel
from backupd.cluster.client import KubeClient
from backupd.sandbox.cluster import Sandbox
from backupd.sandbox.processes import pid_alive

PREFIX = "backupd-drill-"
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
NODES = 1


class DrillInterrupted(KeyboardInterrupt):
    """A signal ended the drill; the ephemeral cluster is torn down on the way out."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum


@dataclass
class EphemeralCluster:
    directory: Path
    sandbox: Sandbox
    kube: KubeClient

    @property
    def server(self) -> str:
        return self.kube.host


class TeardownSignals:
    """Signal handlers for the life of the cluster: the first signal cancels and raises,
    later ones (and any during teardown) are only noted."""

    def __init__(self, cancel: Cancel | None) -> None:
        self.cancel = cancel
        self.quiet = False
        self.previous: dict[int, Any] = {}

    def handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.quiet:
            return
        self.quiet = True
        if isinstance(self.cancel, threading.Event):
            self.cancel.set()
        raise DrillInterrupted(signum)

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for s in SIGNALS:
            self.previous[s] = signal.signal(s, self.handle)

    def restore(self) -> None:
        for s, handler in self.previous.items():
            signal.signal(s, handler)
        self.previous.clear()


def _remove(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
    if directory.exists():  # a component still writing: once more after it is gone
        shutil.rmtree(directory, ignore_errors=True)


def teardown(sandbox: Sandbox, directory: Path) -> None:
    """Stop every component (process groups), make sure none is left, remove the dir."""
    pids = dict(sandbox.state.pids) if sandbox.state is not None else {}
    pids.update({p.name: p.pid for p in sandbox.processes})
    try:
        sandbox.stop()
    finally:
        for pid in pids.values():
            if pid_alive(pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
        _remove(directory)


@contextlib.contextmanager
def ephemeral_cluster(
    *,
    cancel: Cancel | None = None,
    on_directory: Callable[[Path], None] | None = None,
    nodes: int = NODES,
) -> Iterator[EphemeralCluster]:
    """Start a local cluster in a new temporary directory; tear it down on the way out.
    `on_directory` hears the directory before anything starts in it."""
    signals = TeardownSignals(cancel)
    directory: Path | None = None
    sandbox: Sandbox | None = None
    try:
        signals.install()
        directory = Path(tempfile.mkdtemp(prefix=PREFIX))
        sandbox = Sandbox(directory / "cluster", name="drill", nodes=nodes)
        if on_directory is not None:
            on_directory(directory)
        sandbox.start()
        with KubeClient.from_kubeconfig(str(sandbox.kubeconfig)) as kube:
            yield EphemeralCluster(directory, sandbox, kube)
    finally:
        signals.quiet = True
        try:
            if directory is not None and sandbox is not None:
                teardown(sandbox, directory)
            elif directory is not None:
                _remove(directory)
        finally:
            signals.restore()
