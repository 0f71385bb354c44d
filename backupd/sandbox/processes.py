"""Local server processes: free ports, log files, readiness, and clean teardown.

Every server started here binds 127.0.0.1 only. A process started with
`tie_to_parent=True` gets SIGKILL from the kernel when its parent dies, so a crashed
test run leaves no orphans; `backupctl sandbox up` starts detached processes instead
and records their pids so `sandbox down` can stop them.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from backupd.errors import SandboxError

LOOPBACK = "127.0.0.1"
_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def ensure_port_free(port: int, what: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            raise SandboxError(
                f"port {port} on {LOOPBACK} is already in use; {what} cannot listen there",
                hint="stop whatever holds it, or choose another port",
            ) from None


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def check_alive(self) -> None:
        code = self.popen.poll()
        if code is not None:
            raise SandboxError(
                f"{self.name} exited with code {code} during start-up: {last_line(self.log_path)}",
                hint=f"log: {self.log_path}",
            )

    def stop(self, timeout: float = 10.0) -> None:
        stop_pid(self.pid, timeout=timeout, popen=self.popen)


def last_line(log_path: Path, limit: int = 300) -> str:
    """The last non-empty line of a log, trimmed; the usual reason a server died."""
    try:
        with log_path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 8192))
            lines = [ln.strip() for ln in f.read().decode(errors="replace").splitlines()]
    except OSError:
        return "(no log)"
    lines = [ln for ln in lines if ln]
    return lines[-1][:limit] if lines else "(empty log)"


def start(
    name: str,
    argv: Sequence[str],
    log_path: Path,
    *,
    tie_to_parent: bool = True,
    env: dict[str, str] | None = None,
) -> Process:
    binary = Path(argv[0])
    if not binary.exists():
        raise SandboxError(
            f"{name} binary not found at {binary}", hint="run: backupctl sandbox build"
        )
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("ab")
    try:
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent if tie_to_parent else None,
            env=env,
        )
    except OSError as e:
        raise SandboxError(f"{name} could not be started: {e}", hint=f"log: {log_path}") from e
    finally:
        log.close()
    return Process(name, popen, log_path)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still "exists"; reap it if it is ours.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


def stop_pid(
    pid: int, *, timeout: float = 10.0, popen: subprocess.Popen[bytes] | None = None
) -> None:
    """SIGTERM the process group, then SIGKILL it if it has not gone after `timeout`."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if popen is not None:
                if popen.poll() is not None:
                    return
            elif not pid_alive(pid):
                return
            time.sleep(0.05)


def wait_until(
    what: str,
    probe: Callable[[], bool],
    *,
    timeout: float,
    processes: Sequence[Process] = (),
    interval: float = 0.1,
) -> None:
    """Poll `probe` until it is true; fail early if a watched process dies."""
    deadline = time.monotonic() + timeout
    while True:
        for p in processes:
            p.check_alive()
        try:
            if probe():
                return
        except Exception:
            pass
        if time.monotonic() > deadline:
            logs = ", ".join(str(p.log_path) for p in processes) or "none"
            raise SandboxError(
                f"timed out after {timeout:.0f}s waiting for {what}", hint=f"logs: {logs}"
            )
        time.sleep(interval)
