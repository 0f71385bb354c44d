"""Staging directories: private, removed however a run ends, reaped after a kill."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backupd.errors import StorageError
from backupd.storage import staging
from backupd.storage.staging import OWNER_FILE, Owner, process_start

RUN_AND_WAIT = """
import sys, time
from backupd.storage import staging
with staging.workspace("backup", "slow") as work:
    (work / "resources.tar.gz").write_bytes(b"secret" * 1000)
    print(work, flush=True)
    time.sleep(60)
"""


@pytest.fixture()
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    base = tmp_path / "staging"
    monkeypatch.setenv(staging.STAGING_ENV, str(base))
    return base


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def leftover(root: Path, name: str, owner: Owner) -> Path:
    path = root / name
    path.mkdir(parents=True)
    (path / "resources.tar.gz").write_bytes(b"secret")
    record = {"purpose": "backup", "name": name, **owner.__dict__}
    (path / OWNER_FILE).write_text(json.dumps(record))
    return path


def here(pid: int, started: int | None = None) -> Owner:
    me = Owner.me()
    return Owner(pid=pid, started=started, host=socket.gethostname(), boot=me.boot)


def test_a_workspace_is_private_and_gone_after_the_run(root: Path) -> None:
    with staging.workspace("backup", "nightly") as work:
        (work / "resources.tar.gz").write_bytes(b"secret")
        assert work.parent == root
        assert work.name.startswith("backup-nightly-")
        assert (root.stat().st_mode & 0o777, work.stat().st_mode & 0o777) == (0o700, 0o700)
        owner = json.loads((work / OWNER_FILE).read_text())
        assert (owner["pid"], owner["name"]) == (os.getpid(), "nightly")
    assert list(root.iterdir()) == []


def test_a_workspace_is_removed_when_the_run_fails(root: Path) -> None:
    with pytest.raises(RuntimeError), staging.workspace("restore", "x") as work:
        (work / "a").write_bytes(b".")
        raise RuntimeError("boom")
    assert list(root.iterdir()) == []


def test_an_existing_root_open_to_others_is_made_private(root: Path) -> None:
    root.mkdir(mode=0o777)
    root.chmod(0o777)
    with staging.workspace("backup"):
        assert root.stat().st_mode & 0o777 == 0o700


def test_a_root_that_is_a_symlink_is_refused(root: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    root.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(StorageError, match="not a directory"), staging.workspace("backup"):
        pass


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to give the directory away")
def test_a_root_owned_by_someone_else_is_refused(root: Path) -> None:
    root.mkdir(mode=0o700)
    os.chown(root, 4242, 4242)
    with pytest.raises(StorageError, match="belongs to uid 4242"), staging.workspace("backup"):
        pass


def test_the_next_run_removes_what_a_killed_run_left(root: Path) -> None:
    dead = leftover(root, "backup-killed-abc", here(dead_pid()))
    with staging.workspace("backup", "next"):
        assert not dead.exists()


def test_the_directory_of_a_live_run_is_kept(root: Path) -> None:
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        live = leftover(root, "backup-live-abc", here(sleeper.pid, process_start(sleeper.pid)))
        with staging.workspace("backup", "next"):
            pass
        assert live.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_reused_pid_does_not_keep_a_dead_run_alive(root: Path) -> None:
    started = process_start(os.getpid())
    assert started is not None
    reused = leftover(root, "backup-old-abc", here(os.getpid(), started - 1))
    assert staging.reap() == [reused]


def test_another_hosts_directory_is_left_alone(root: Path) -> None:
    other = Owner(pid=dead_pid(), started=None, host="some-other-host", boot="x")
    kept = leftover(root, "backup-there-abc", other)
    assert staging.reap() == []
    assert kept.exists()


def test_a_directory_without_an_owner_is_reaped_only_when_old(root: Path) -> None:
    root.mkdir(mode=0o700)
    fresh, old = root / "backup-fresh-1", root / "backup-old-1"
    fresh.mkdir()
    old.mkdir()
    long_ago = time.time() - staging.ORPHAN_AGE - 60
    os.utime(old, (long_ago, long_ago))
    assert staging.reap() == [old]
    assert fresh.exists()


def start_holder(root: Path) -> tuple[subprocess.Popen[str], Path]:
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN_AND_WAIT],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, staging.STAGING_ENV: str(root)},
    )
    assert proc.stdout is not None
    work = Path(proc.stdout.readline().strip())
    assert (work / "resources.tar.gz").exists()
    return proc, work


@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGTERM, 128 + signal.SIGTERM), (signal.SIGINT, -signal.SIGINT)]
)
def test_sigterm_and_ctrl_c_remove_the_workspace(root: Path, sig: int, code: int) -> None:
    proc, work = start_holder(root)
    proc.send_signal(sig)
    assert proc.wait(timeout=20) == code
    assert not work.exists()


def test_kill_9_leaves_the_workspace_and_the_next_run_removes_it(root: Path) -> None:
    proc, work = start_holder(root)
    proc.kill()
    proc.wait(timeout=20)
    assert work.exists()  # nothing can clean up after SIGKILL...
    with staging.workspace("backup", "next"):
        assert not work.exists()  # ...but the next run does
    assert list(root.iterdir()) == []


UNWIND = """
import sys, time
from pathlib import Path
from backupd.storage import staging
staging.unwind_on_sigterm()
part = Path(sys.argv[1])
part.write_bytes(b"half a download")
try:
    print("ready", flush=True)
    time.sleep(60)
finally:
    part.unlink()
"""


def test_sigterm_unwinds_a_download_so_its_partial_file_goes(tmp_path: Path) -> None:
    part = tmp_path / ".shop.tar.gz.part"
    proc = subprocess.Popen(
        [sys.executable, "-c", UNWIND, str(part)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    assert part.exists()
    proc.terminate()
    assert proc.wait(timeout=20) == 128 + signal.SIGTERM
    assert not part.exists()


def test_any_command_that_opens_a_location_removes_a_killed_runs_directory(
    root: Path, tmp_path: Path
) -> None:
    from backupd.storage.location import open_location

    dead = leftover(root, "backup-killed-abc", here(dead_pid()))
    open_location((tmp_path / "store").as_uri(), access_mode="ReadOnly")
    assert not dead.exists()


def test_opening_a_location_creates_no_staging_root(root: Path, tmp_path: Path) -> None:
    from backupd.storage.location import open_location

    open_location((tmp_path / "store").as_uri())
    assert not root.exists()


def test_a_killed_process_not_yet_waited_for_counts_as_gone(root: Path) -> None:
    zombie = subprocess.Popen(["true"])
    # until it has exited, without reaping it (WNOWAIT): a zombie nobody has waited for
    os.waitid(os.P_PID, zombie.pid, os.WEXITED | os.WNOWAIT)
    try:
        assert here(zombie.pid, process_start(zombie.pid)).alive() is False
    finally:
        zombie.wait()
