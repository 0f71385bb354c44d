"""Local staging: the private directories where archives are built and downloaded.

A backup builds its archive on local disk before uploading it, and restore and
`backup show` download one; those files hold Secrets in clear. They all live under one
root, private to the user (0700):

    $BACKUPD_STAGING_DIR                 if set
    <tempdir>/backupd-<uid>/             otherwise ($TMPDIR, else /tmp)

Each run works in its own directory `<purpose>-<name>-<random>/` holding a `.owner`
record (pid, the process's start time, host and boot id). The directory is removed
when the run ends, on an error, on Ctrl-C (KeyboardInterrupt) and on SIGTERM (turned
into SystemExit where nothing else handles SIGTERM), and at interpreter exit. A run
killed with SIGKILL cannot clean up: the next run on the host (any command that opens
a location, or a workspace) removes every directory whose recorded process is gone.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType

from backupd.errors import StorageError

STAGING_ENV = "BACKUPD_STAGING_DIR"
OWNER_FILE = ".owner"
ORPHAN_AGE = 3600.0  # a directory with no owner record is a run killed at its first step

_live: set[Path] = set()
_lock = threading.Lock()
_installed = False


# -- who runs -------------------------------------------------------------------------


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _stat_fields(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name (state first), or [] if unknown."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def process_start(pid: int) -> int | None:
    """The start time of `pid` in clock ticks since boot (Linux), or None if unknown.
    With the pid, it tells a process from a later one that reused its number."""
    fields = _stat_fields(pid)
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


@dataclass(frozen=True)
class Owner:
    """The process that holds a staging directory (or a claim, see storage.claims)."""

    pid: int
    started: int | None  # process_start(pid) when it was recorded
    host: str
    boot: str

    @classmethod
    def me(cls) -> Owner:
        pid = os.getpid()
        return cls(pid=pid, started=process_start(pid), host=socket.gethostname(), boot=_boot_id())

    def is_here(self) -> bool:
        return self.host == socket.gethostname()

    def alive(self) -> bool | None:
        """True or False for a process of this host; None (cannot tell) for another host."""
        if not self.is_here():
            return None
        if self.boot and _boot_id() and self.boot != _boot_id():
            return False  # the host rebooted since
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # alive, another user's
        fields = _stat_fields(self.pid)
        if fields[:1] == ["Z"]:
            return False  # killed, not yet waited for by its parent
        now_started = process_start(self.pid)
        return not (self.started is not None and now_started not in (None, self.started))

    @classmethod
    def from_dict(cls, data: object) -> Owner | None:
        if not isinstance(data, dict):
            return None
        pid, started = data.get("pid"), data.get("started")
        host, boot = data.get("host"), data.get("boot")
        if not isinstance(pid, int) or not isinstance(host, str) or not isinstance(boot, str):
            return None
        return cls(pid, started if isinstance(started, int) else None, host, boot)

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}"


# -- the root ---------------------------------------------------------------------------


def _root_path() -> Path:
    configured = os.environ.get(STAGING_ENV)
    return (
        Path(configured) if configured else Path(tempfile.gettempdir()) / f"backupd-{os.getuid()}"
    )


def root() -> Path:
    """The staging root, created private (0700) and checked to be ours."""
    base = _root_path()
    try:
        base.mkdir(mode=0o700, parents=bool(os.environ.get(STAGING_ENV)), exist_ok=True)
        info = os.lstat(base)
    except OSError as e:
        raise StorageError(f"cannot create the staging directory {base}: {e.strerror}") from e
    if not stat.S_ISDIR(info.st_mode):
        raise StorageError(f"staging directory {base} is not a directory (a symlink?)")
    if info.st_uid != os.getuid():
        raise StorageError(
            f"staging directory {base} belongs to uid {info.st_uid}, not to us; refusing "
            "to put Secrets there",
            hint=f"remove it or set {STAGING_ENV}",
        )
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(base, 0o700)
    return base


# -- one run's directory ----------------------------------------------------------------


def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    if not path.exists():
        with _lock:
            _live.discard(path)


def _cleanup_all() -> None:
    with _lock:
        paths = list(_live)
    for path in paths:
        _remove(path)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds every `with workspace(...)` and upload


def _install() -> None:
    """Clean up at exit and on SIGTERM, once per process, without taking over a
    SIGTERM handler someone else installed (the controller's). Also used by writers
    of other local files (a download's partial file) so that SIGTERM unwinds them."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    atexit.register(_cleanup_all)
    if threading.current_thread() is threading.main_thread():
        with contextlib.suppress(ValueError, OSError):
            if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
                signal.signal(signal.SIGTERM, _on_sigterm)


def _slug(text: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-." else "-" for c in text)
    return cleaned.strip(".")[:63] or "run"


@contextlib.contextmanager
def workspace(purpose: str, name: str = "") -> Iterator[Path]:
    """A fresh private directory for one run, removed however the run ends.

    Opening one first removes what killed runs of this host left behind."""
    base = root()
    reap(base)
    _install()
    prefix = f"{_slug(purpose)}-{_slug(name)}-" if name else f"{_slug(purpose)}-"
    try:
        path = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    except OSError as e:
        raise StorageError(f"cannot create a staging directory in {base}: {e.strerror}") from e
    with _lock:
        _live.add(path)
    try:
        record = {"purpose": purpose, "name": name, **asdict(Owner.me())}
        (path / OWNER_FILE).write_text(json.dumps(record))
        yield path
    finally:
        _remove(path)


# -- what killed runs left ----------------------------------------------------------------


def _owner_of(path: Path) -> Owner | None:
    try:
        return Owner.from_dict(json.loads((path / OWNER_FILE).read_text()))
    except (OSError, ValueError):
        return None


def _abandoned(path: Path) -> bool:
    owner = _owner_of(path)
    if owner is not None:
        return owner.alive() is False
    try:
        age = time.time() - os.lstat(path).st_mtime
    except OSError:
        return False
    return age > ORPHAN_AGE


def reap_leftovers() -> list[Path]:
    """`reap`, for any command that starts: nothing is created, and a root that is
    missing or not ours is left alone (the run that needs it will say why)."""
    base = _root_path()
    try:
        info = os.lstat(base)
    except OSError:
        return []
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        return []
    return reap(base)


def reap(base: Path | None = None) -> list[Path]:
    """Remove the directories of runs that are gone (killed, or from before a reboot);
    returns what was removed. Directories of live runs, and of other hosts sharing
    the directory, are left alone."""
    base = base or root()
    removed: list[Path] = []
    try:
        entries = list(base.iterdir())
    except OSError:
        return removed
    for path in entries:
        if path in _live or path.is_symlink() or not path.is_dir():
            continue
        if _abandoned(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def unwind_on_sigterm() -> None:
    """Make SIGTERM unwind `finally` blocks (SystemExit) in this process, as Ctrl-C
    does, where nothing else handles SIGTERM; idempotent."""
    _install()
