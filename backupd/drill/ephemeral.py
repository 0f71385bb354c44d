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
then left, in $TMPDIR, named backupd-drill-*, and the next ephemeral drill removes it
(`sweep_stale`: every component recorded in it is gone).

Signal handlers can only be set from the main thread: elsewhere (the controller's
workers) teardown still runs, and the caller's own shutdown sets `cancel`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from backupd.api.progress import Cancel
from backupd.cluster.client import KubeClient
from backupd.sandbox.cluster import STATE_FILE, Sandbox
from backupd.sandbox.processes import pid_alive

PREFIX = "backupd-drill-"
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
NODES = 1
STALE_AFTER = 3600.0  # a directory with no record of its components, untouched this long


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


def sweep_stale(parent: Path, *, older_than: float = STALE_AFTER) -> list[Path]:
    """Remove what drills killed outright (SIGKILL, a crash) left in `parent`: a
    backupd-drill-* directory whose components are all gone, or, with no record of
    them, one untouched for `older_than` seconds. Returns the directories removed."""
    removed: list[Path] = []
    for directory in sorted(parent.glob(f"{PREFIX}*")):
        state = directory / "cluster" / STATE_FILE
        try:
            if state.exists():
                pids = json.loads(state.read_text()).get("pids") or {}
                stale = not any(pid_alive(int(p)) for p in pids.values())
            else:
                stale = time.time() - directory.stat().st_mtime > older_than
        except (OSError, ValueError, TypeError, AttributeError):
            continue  # being written or not ours to judge: leave it
        if stale and directory.is_dir():
            _remove(directory)
            removed.append(directory)
    return removed


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
        sweep_stale(Path(tempfile.gettempdir()))
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
