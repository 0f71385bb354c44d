"""Ctrl-C in a backup and in a restore of 1,500 objects, sent to a real backupctl process.

The API server sits behind the sandbox's latency proxy (20 ms each way), so both runs
last long enough to be interrupted in the middle, as on a remote cluster. Each must
exit 130 within 2 s of the signal, print one line, leave a record that says
"interrupted" with what it did, and a rerun must converge.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
import pytest

from backupd.cluster.client import KubeClient
from backupd.sandbox.cluster import Sandbox
from backupd.sandbox.latency import latency_proxy
from tests.fixtures.cli import backupctl
from tests.fixtures.workloads import configmap

pytestmark = pytest.mark.integration
OBJECTS = 1500
DELAY_MS = 20


@pytest.fixture(scope="module")
def slow_kubeconfig(cluster: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with latency_proxy(cluster.kubeconfig, DELAY_MS, tmp_path_factory.mktemp("latency")) as p:
        yield p.kubeconfig


@pytest.fixture(scope="module")
def many(cluster: Sandbox) -> str:
    """A namespace holding OBJECTS ConfigMaps (created in parallel, straight to the server)."""
    ns = "interrupt-many"
    with KubeClient.from_kubeconfig(cluster.kubeconfig) as kube:
        kube.post("/api/v1/namespaces", {"metadata": {"name": ns}})

        def make(n: int) -> None:
            kube.post(f"/api/v1/namespaces/{ns}/configmaps", configmap(f"cm-{n:04d}", n=str(n)))

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(make, range(OBJECTS)))
    return ns


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )


def interrupt_when(
    proc: subprocess.Popen[str], ready: Callable[[], bool]
) -> tuple[int, float, str]:
    """SIGINT once `ready()`; returns (exit code, seconds from the signal to exit, stderr)."""
    deadline = time.monotonic() + 120
    while not ready():
        assert proc.poll() is None, f"ended before it could be interrupted: {proc.communicate()}"
        assert time.monotonic() < deadline, "never got ready to interrupt"
        time.sleep(0.02)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    return proc.returncode, time.monotonic() - sent, err


def test_ctrl_c_stops_a_backup_within_2s_records_it_interrupted_and_a_rerun_completes(
    slow_kubeconfig: Path, many: str, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    url = f"file://{store}"
    proc = start(
        "backup", "create", "halfway", "--include-namespaces", many,
        "--location", url, "--kubeconfig", str(slow_kubeconfig),
    )  # fmt: skip
    claimed = store / "backups" / "halfway" / "claim.json"
    code, took, err = interrupt_when(proc, claimed.exists)  # the run has begun: stop it

    assert code == 130, err
    assert took < 2.0, f"took {took:.1f}s to stop"
    lines = [line for line in err.splitlines() if line.startswith("interrupted:")]
    assert len(lines) == 1 and "backup halfway recorded as Failed (interrupted)" in lines[0], err
    assert "Traceback" not in err
    described = backupctl("backup", "describe", "halfway", "--location", url, "-o", "json")
    record = orjson.loads(described.stdout)
    assert record["status"]["phase"] == "Failed"
    assert record["status"]["failureReason"] == "interrupted"
    # what it did so far is counted, and the line says the same count as the record (the
    # LISTs of 1,500 objects may all be done by then: the interrupt may land in the
    # listing or in the upload, and either is stopped)
    said = re.search(r" after (\d+) items;", lines[0])
    assert said is not None, lines[0]
    assert record["status"]["progress"]["itemsBackedUp"] == int(said[1]) <= OBJECTS + 1
    assert "archive" not in record["status"]  # nothing claims a finished archive

    again = backupctl(
        "backup", "create", "again", "--include-namespaces", many,
        "--location", url, "--kubeconfig", str(slow_kubeconfig),
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    done = orjson.loads(
        backupctl("backup", "describe", "again", "--location", url, "-o", "json").stdout
    )
    assert done["status"]["phase"] == "Completed"
    assert done["status"]["progress"]["itemsBackedUp"] >= OBJECTS


def test_ctrl_c_stops_a_restore_within_2s_and_a_rerun_creates_only_what_is_missing(
    cluster: Sandbox, slow_kubeconfig: Path, many: str, tmp_path: Path
) -> None:
    url = f"file://{tmp_path / 'store'}"
    made = backupctl(
        "backup", "create", "full", "--include-namespaces", many,
        "--location", url, "--kubeconfig", str(cluster.kubeconfig),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    target = "interrupt-restored"
    proc = start(
        "restore", "create", "first", "--from-backup", "full", "--location", url,
        "--namespace-mappings", f"{many}:{target}", "--kubeconfig", str(slow_kubeconfig),
    )  # fmt: skip
    with KubeClient.from_kubeconfig(cluster.kubeconfig) as kube:

        def some_restored() -> bool:
            path = f"/api/v1/namespaces/{target}/configmaps"
            return len(kube.get(path, limit=200).get("items", [])) >= 100

        code, took, err = interrupt_when(proc, some_restored)
        assert code == 130, err
        assert took < 2.0, f"took {took:.1f}s to stop"
        lines = [line for line in err.splitlines() if line.startswith("interrupted:")]
        assert len(lines) == 1 and "restore first recorded as PartiallyFailed" in lines[0], err
        record = orjson.loads(
            backupctl("restore", "describe", "first", "--location", url, "-o", "json").stdout
        )
        status = record["restore"]["status"]
        assert status["failureReason"] == "interrupted"
        created = status["counts"].get("created", 0)
        assert 100 <= created < OBJECTS + 1
        assert any("interrupted:" in e["message"] for e in status["errors"])
        listed = kube.get(f"/api/v1/namespaces/{target}/configmaps").get("items", [])
        there = len([i for i in listed if i["metadata"]["name"].startswith("cm-")])
        assert 100 <= there < OBJECTS

        rerun = backupctl(
            "restore", "create", "second", "--from-backup", "full", "--location", url,
            "--namespace-mappings", f"{many}:{target}", "--kubeconfig", str(cluster.kubeconfig),
            "-o", "json",
        )  # fmt: skip
        assert rerun.returncode == 0, rerun.stderr
        counts = orjson.loads(rerun.stdout)["status"]["counts"]
        assert counts.get("failed", 0) == 0
        items = kube.get(f"/api/v1/namespaces/{target}/configmaps").get("items", [])
        assert len([i for i in items if i["metadata"]["name"].startswith("cm-")]) == OBJECTS
        assert counts.get("created", 0) == OBJECTS - there  # only what was missing
