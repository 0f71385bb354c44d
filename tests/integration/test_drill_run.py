"""`backupctl drill run`, as a person runs it: a realistic backup comes back on an
ephemeral cluster and on a second cluster; a backup that lacks a piece fails and names
it; Ctrl-C leaves nothing behind; the backup's own source cluster is refused."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from backupd.api.backup import SCHEDULE_LABEL, BackupSpec
from backupd.api.drill import DrillReport, DrillSpec, DrillTargetKind, DrillVerdict
from backupd.backup import engine as backup_engine
from backupd.cluster.client import KubeClient
from backupd.drill import run as drill_run
from backupd.sandbox.cluster import Sandbox
from backupd.sandbox.processes import pid_alive
from backupd.storage.location import open_location
from backupd.trust.keys import Keyring, generate_signing_key
from tests.fixtures.cli import backupctl, error_line, kubectl
from tests.fixtures.clusters import api_client
from tests.fixtures.waiting import eventually
from tests.fixtures.workloads import (
    approved_crd,
    custom_object,
    deployment_using,
    manifest_list,
    priority_class,
    seed_realistic_namespace,
)

pytestmark = pytest.mark.integration

SHOP = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "shop.yaml"


@dataclass
class Stored:
    url: str
    backup: str


def available(api: client.ApiClient, ns: str, name: str, replicas: int = 2) -> bool:
    status = client.AppsV1Api(api).read_namespaced_deployment(name, ns).status
    return (status.available_replicas or 0) >= replicas


def take_backup(
    cluster: Sandbox, url: str, name: str, spec: BackupSpec, labels: dict[str, str] | None = None
) -> None:
    with KubeClient.from_kubeconfig(cluster.kubeconfig) as kube:
        result = backup_engine.run(
            name, spec, kube=kube, location=open_location(url), labels=labels
        )
    assert result.status.phase.value == "Completed", result.status.errors


@pytest.fixture(scope="module")
def realistic(cluster: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Stored:
    """The shop example and a realistic namespace, running, backed up."""
    u = uuid.uuid4().hex[:5]
    ns = f"drill-app-{u}"
    with api_client(cluster.kubeconfig) as api:
        client.CoreV1Api(api).create_namespace({"metadata": {"name": ns}})
        seed_realistic_namespace(api, ns)
        kubectl(cluster.kubeconfig, "apply", "-f", str(SHOP))
        for where in (ns, "shop"):
            eventually(lambda w=where: available(api, w, "web"), timeout=90, what=f"{where}/web")
    url = f"file://{tmp_path_factory.mktemp('drill-store')}"
    take_backup(cluster, url, f"app-{u}", BackupSpec(included_namespaces=[ns, "shop"]))
    return Stored(url, f"app-{u}")


def drill(
    stored: Stored, *args: str, env: dict[str, str] | None = None
) -> tuple[int, DrillReport, str]:
    res = backupctl(
        "drill", "run", "--from-backup", stored.backup, "--location", stored.url, "-o", "json",
        *args, env=env, timeout=600,
    )  # fmt: skip
    assert "Traceback" not in res.stderr, res.stderr
    assert res.stdout.strip(), res.stderr
    return res.returncode, DrillReport.from_stored(json.loads(res.stdout)), res.stderr


def stored_report(stored: Stored, name: str) -> DrillReport:
    path = Path(stored.url.removeprefix("file://")) / "drills" / name / "report.json"
    return DrillReport.from_stored(json.loads(path.read_text()))


def assert_passed_with_rto_and_rpo(code: int, report: DrillReport, stderr: str) -> None:
    assert code == 0, (report.problems, stderr)
    assert report.verdict is DrillVerdict.passed and report.verified
    times = report.times
    assert times.rto_seconds is not None and times.rto_seconds > 0
    assert times.rto_seconds == pytest.approx(times.restore_seconds + times.readiness_seconds)
    # RPO is the backup's age when the drill started; both times are kept to the second, so a
    # drill started in the second the backup completed has an RPO of 0.
    assert report.backup_completed is not None
    assert times.rpo_seconds == (report.started - report.backup_completed).total_seconds() >= 0
    assert report.workloads and all(w.ready for w in report.workloads)
    assert {"Deployment", "StatefulSet", "Widget"} <= {w.kind for w in report.workloads}
    assert all(row.failed == 0 for row in report.namespaces)
    assert sum(row.items for row in report.namespaces) > 40  # every item accounted for
    counted = sum(row.created + row.unchanged + row.skipped for row in report.namespaces)
    assert counted == sum(row.items for row in report.namespaces)


def test_a_realistic_backup_drilled_on_an_ephemeral_cluster_passes_and_leaves_nothing(
    realistic: Stored, tmp_path: Path
) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    code, report, stderr = drill(
        realistic, "--ephemeral", "--name", "monthly", env={"TMPDIR": str(scratch)}
    )
    assert_passed_with_rto_and_rpo(code, report, stderr)
    assert report.spec.target is DrillTargetKind.ephemeral
    assert report.times.cluster_seconds > 0
    assert stored_report(realistic, "monthly") == report
    steps = [e.step for e in report.timeline]
    assert steps[:2] == ["start", "verify"] and "teardown" in steps and steps[-1] == "end"
    assert "starting an ephemeral cluster in" in stderr and "readiness:" in stderr
    assert list(scratch.iterdir()) == []  # the ephemeral cluster's directory is gone


def test_the_same_backup_drilled_into_a_second_cluster_passes(
    realistic: Stored, second_cluster: Sandbox
) -> None:
    code, report, stderr = drill(realistic, "--kubeconfig", str(second_cluster.kubeconfig))
    assert_passed_with_rto_and_rpo(code, report, stderr)
    assert report.spec.target is DrillTargetKind.kubeconfig
    assert second_cluster.state is not None
    assert report.target_server == second_cluster.state.server
    assert report.metadata.name.startswith(f"drill-{realistic.backup}-")


def test_the_table_output_says_the_verdict_rto_rpo_and_where_the_report_is(
    realistic: Stored, second_cluster: Sandbox
) -> None:
    res = backupctl(
        "drill", "run", "--from-backup", realistic.backup, "--location", realistic.url,
        "--kubeconfig", str(second_cluster.kubeconfig), "--name", "table-view", timeout=600,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith(
        f"drill table-view PASSED: backup {realistic.backup} into kubeconfig"
    )
    assert lines[1].startswith("RTO ") and "; RPO " in lines[1]
    assert lines[-1].startswith(f"report: {realistic.url}/drills/table-view/")


@dataclass
class Lacking:
    stored: Stored
    namespace: str
    priority_class: str
    group: str


@pytest.fixture(scope="module")
def lacking(cluster: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Lacking:
    """A backup of a running app whose PriorityClass and CRD were excluded."""
    u = uuid.uuid4().hex[:5]
    ns, high, group = f"drill-lacking-{u}", f"high-{u}", f"drill{u}.example.com"
    kubectl(cluster.kubeconfig, "create", "namespace", ns)
    kubectl(
        cluster.kubeconfig, "apply", "-f", "-",
        stdin=json.dumps(manifest_list(
            priority_class(high, 1000), approved_crd(group, "Gizmo"),
            deployment_using("web", ns, priority_class_name=high),
        )),
    )  # fmt: skip
    with api_client(cluster.kubeconfig) as api:
        eventually(lambda: available(api, ns, "web"), timeout=90, what="web")
    gizmo = custom_object(group, "Gizmo", "gizmo-1", ns, size=1)
    eventually(lambda: kubectl(cluster.kubeconfig, "apply", "-f", "-", stdin=json.dumps(gizmo)))
    stored = Stored(f"file://{tmp_path_factory.mktemp('lacking')}", f"lacking-{u}")
    excluded = ["priorityclasses", "customresourcedefinitions"]
    spec = BackupSpec(included_namespaces=[ns], excluded_resources=excluded)
    take_backup(cluster, stored.url, stored.backup, spec)
    return Lacking(stored, ns, high, group)


def test_a_backup_lacking_the_crd_and_a_priority_class_fails_naming_them_and_what_they_block(
    lacking: Lacking, second_cluster: Sandbox
) -> None:
    stored, ns = lacking.stored, lacking.namespace
    code, report, stderr = drill(
        stored, "--kubeconfig", str(second_cluster.kubeconfig), "--ready-timeout", "15s"
    )
    assert code == 1, stderr
    assert report.verdict is DrillVerdict.failed and report.times.rto_seconds is None
    found = {(p.message, p.blocks) for p in report.problems}
    missing_class = f"PriorityClass {lacking.priority_class} is not in the backup"
    assert (missing_class, f"deployment {ns}/web") in found
    assert (
        f"CustomResourceDefinition gizmos.{lacking.group} is not in the backup",
        f"gizmo {ns}/gizmo-1",
    ) in found
    stuck = [w for w in report.workloads if w.name == "web"]
    assert stuck and not stuck[0].ready and stuck[0].was_ready
    assert stored_report(stored, report.metadata.name) == report


def test_the_latest_backup_of_a_schedule_is_drilled(
    realistic: Stored, cluster: Sandbox, second_cluster: Sandbox, tmp_path: Path
) -> None:
    url, schedule = f"file://{tmp_path / 'store'}", f"nightly-{uuid.uuid4().hex[:5]}"
    for name in ("older", "newer"):
        time.sleep(1.1)  # backups are ordered by their completion time, to the second
        take_backup(
            cluster, url, name, BackupSpec(included_namespaces=["shop"]), {SCHEDULE_LABEL: schedule}
        )
    res = backupctl(
        "drill", "run", "--from-schedule", schedule, "--latest", "--location", url,
        "--kubeconfig", str(second_cluster.kubeconfig), "-o", "yaml", timeout=600,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    report = DrillReport.from_stored(yaml.safe_load(res.stdout))
    assert (report.backup_name, report.spec.schedule_name) == ("newer", schedule)
    assert report.passed and report.times.rto_seconds is not None


def test_a_backup_that_does_not_verify_fails_before_anything_is_restored(
    realistic: Stored, second_cluster: Sandbox, tmp_path: Path
) -> None:
    source = Path(realistic.url.removeprefix("file://"))
    copy = tmp_path / "store"
    shutil.copytree(source / "backups" / realistic.backup, copy / "backups" / realistic.backup)
    archive = next((copy / "backups" / realistic.backup).glob("resources.*"))
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    stored = Stored(f"file://{copy}", realistic.backup)

    code, report, stderr = drill(
        stored, "--kubeconfig", str(second_cluster.kubeconfig), "--name", "bad"
    )
    assert code == 1, stderr
    assert not report.verified and report.restore_name is None
    assert report.problems[0].message.startswith(f"backup {realistic.backup} did not verify: ")
    assert "corrupt" in report.problems[0].message
    assert not (copy / "restores").exists()  # nothing was restored
    assert stored_report(stored, "bad") == report


def test_a_signed_backup_is_drilled_with_its_signature_checked(
    realistic: Stored, cluster: Sandbox, second_cluster: Sandbox, tmp_path: Path
) -> None:
    key = generate_signing_key()
    location = open_location(f"file://{tmp_path / 'store'}")
    location.keyring = Keyring.build(signing=key)
    with KubeClient.from_kubeconfig(cluster.kubeconfig) as kube:
        backup_engine.run(
            "signed", BackupSpec(included_namespaces=["shop"]), kube=kube, location=location
        )
    spec = DrillSpec(backup_name="signed", target=DrillTargetKind.kubeconfig)
    with KubeClient.from_kubeconfig(second_cluster.kubeconfig) as target:
        ran = drill_run.run("signed-drill", spec, location=location, kube=target)
    assert ran.report.passed and ran.report.verified
    assert ran.report.verify_message is not None
    assert ran.report.verify_message.startswith(f"signature checked (key {key.key_id}); ")
    assert ran.stored == f"{location.url.rstrip('/')}/drills/signed-drill/"


def children_of(pid: int) -> set[int]:
    """Every live descendant of `pid` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def start_drill(stored: Stored, scratch: Path, *args: str) -> subprocess.Popen[str]:
    """`backupctl drill run --ephemeral` as a process of its own, its temp dir `scratch`."""
    scratch.mkdir()
    return subprocess.Popen(
        [sys.executable, "-m", "cli", "drill", "run", "--from-backup", stored.backup,
         "--location", stored.url, "--ephemeral", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TMPDIR": str(scratch)},
    )  # fmt: skip


def component_pids(scratch: Path) -> set[int]:
    """The ephemeral cluster's recorded processes, once its API server runs."""
    states = list(scratch.glob("backupd-drill-*/cluster/sandbox.json"))
    pids = json.loads(states[0].read_text()).get("pids", {}) if states else {}
    return set(pids.values()) if "kube-apiserver" in pids else set()


def interrupt_and_check_nothing_is_left(
    proc: subprocess.Popen[str], scratch: Path, signum: int
) -> None:
    started = children_of(proc.pid) | component_pids(scratch)
    assert started
    proc.send_signal(signum)
    assert proc.wait(timeout=60) == 130
    assert [p for p in started if pid_alive(p)] == []
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupting_an_ephemeral_drill_while_its_cluster_starts_leaves_nothing_behind(
    realistic: Stored, tmp_path: Path, signum: int
) -> None:
    scratch = tmp_path / "tmp"
    proc = start_drill(realistic, scratch)
    try:
        eventually(lambda: proc.poll() is not None or component_pids(scratch), timeout=120)
        assert proc.poll() is None, proc.communicate()
        time.sleep(1)  # a moment into the start-up of the other components
        interrupt_and_check_nothing_is_left(proc, scratch, signum)
        assert "Traceback" not in proc.communicate()[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_ctrl_c_while_a_drill_waits_for_readiness_leaves_nothing_behind(
    lacking: Lacking, tmp_path: Path
) -> None:
    scratch = tmp_path / "tmp"
    proc = start_drill(lacking.stored, scratch, "--ready-timeout", "10m")
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stderr is not None
    threading.Thread(
        target=lambda: [lines.put(ln) for ln in proc.stderr or []], daemon=True
    ).start()
    try:
        seen: list[str] = []
        while not any("waiting up to 10m for readiness" in ln for ln in seen):
            seen.append(lines.get(timeout=180))
        time.sleep(2)  # the web Deployment can never be ready: its PriorityClass is missing
        assert proc.poll() is None, seen
        interrupt_and_check_nothing_is_left(proc, scratch, signal.SIGINT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_backups_source_cluster_is_refused_without_i_know(
    realistic: Stored, cluster: Sandbox
) -> None:
    res = backupctl(
        "drill", "run", "--from-backup", realistic.backup, "--location", realistic.url,
        "--kubeconfig", str(cluster.kubeconfig), "--name", "on-source",
    )  # fmt: skip
    assert "it is the source cluster of backup" in error_line(res)
    assert "--i-know" in error_line(res)
    assert not (Path(realistic.url.removeprefix("file://")) / "drills" / "on-source").exists()
