"""runbooks/monthly-restore-drill.md, run as written: the drill of a schedule's latest
backup on an ephemeral cluster and on a second sandbox, the report read back, the
cron file written (and its command run, as cron would), and the DrillSchedule run by
the controller (`backupd run` under deploy/'s rights, as in the controller tests)."""

from __future__ import annotations

import os
import shlex
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from backupd.api.backup import SCHEDULE_LABEL, BackupSpec
from backupd.backup import engine as backup_engine
from backupd.cluster.client import KubeClient
from backupd.sandbox.cluster import Sandbox
from backupd.storage.location import open_location
from tests.fixtures.cli import kubectl
from tests.fixtures.runbooks import deploy_sample_app, run_runbook
from tests.integration.controller_support import Env, ctl_fixture, location

pytestmark = pytest.mark.integration

RUNBOOK = "monthly-restore-drill.md"
ctl = ctl_fixture()


def scheduled_backups(cluster: Sandbox, url: str, schedule: str) -> str:
    """The sample app in a namespace of its own, backed up twice by `schedule` (as the
    controller labels a schedule's backups); returns the namespace."""
    ns = f"drill-rb-{uuid.uuid4().hex[:5]}"
    deploy_sample_app(cluster.kubeconfig, ns)
    for n in (1, 2):
        time.sleep(1.1)  # backups are ordered by their completion time, to the second
        with KubeClient.from_kubeconfig(cluster.kubeconfig) as kube:
            result = backup_engine.run(
                f"{schedule}-{n}",
                BackupSpec(included_namespaces=[ns]),
                kube=kube,
                location=open_location(url),
                labels={SCHEDULE_LABEL: schedule},
            )
        assert result.status.phase.value == "Completed", result.status.errors
    return ns


def cron_command(cron_file: Path) -> tuple[dict[str, str], str]:
    """The environment lines and the command of the cron file's one entry."""
    env: dict[str, str] = {}
    command = ""
    for line in cron_file.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if sep and " " not in name:
            env[name] = value
        else:
            command = line.split(None, 6)[6]  # after the 5 time fields and the user
    return env, command


def test_drill_runbook_drills_reports_and_writes_a_cron_entry_that_works(
    tmp_path: Path, cluster: Sandbox, second_cluster: Sandbox
) -> None:
    url, schedule = (tmp_path / "store").as_uri(), f"nightly-{uuid.uuid4().hex[:4]}"
    ns = scheduled_backups(cluster, url, schedule)
    cron_file, log = tmp_path / "backupd-drill", tmp_path / "drill.log"
    env = {
        "BACKUPD_LOCATION": url,
        "BACKUPD_CONFIG": str(tmp_path / "config.yaml"),
        "SCHEDULE": schedule,
        "DRILL_KUBECONFIG": str(second_cluster.kubeconfig),
        "CRON_FILE": str(cron_file),
        "CRON_USER": "root",
        "DRILL_LOG": str(log),
    }
    try:
        out = run_runbook(
            RUNBOOK, env, sections=["1.", "2.", "3.", "4.", "6."], timeout=900, cwd=tmp_path
        )
        shown = out.stdout + out.stderr
        assert f"backup {schedule}-2 (latest of schedule {schedule}) into ephemeral" in shown
        page = next(tmp_path.glob(f"drill-{schedule}-*.html")).read_text()
        assert "PASSED" in page.upper() and "<script src" not in page

        cron_env, command = cron_command(cron_file)
        assert cron_env["BACKUPD_LOCATION"] == url
        ran = subprocess.run(
            ["bash", "-c", command],
            env={"HOME": os.environ["HOME"], "SHELL": "/bin/sh", **cron_env},  # as cron does
            timeout=600,
        )
        assert ran.returncode == 0, log.read_text()[-3000:]
        assert f"PASSED: backup {schedule}-2" in log.read_text(), shlex.quote(command)
    finally:
        kubectl(cluster.kubeconfig, "delete", "namespace", ns, "--wait=false")


def test_drill_runbook_drill_schedule_runs_through_the_controller(
    tmp_path: Path, cluster: Sandbox, ctl: Env
) -> None:
    url, schedule = (tmp_path / "store").as_uri(), f"nightly-{uuid.uuid4().hex[:4]}"
    ns = scheduled_backups(cluster, url, schedule)
    location(ctl.res, "main", url)
    controller = ctl.controller().start()
    env = {
        "KUBECONFIG": str(cluster.kubeconfig),
        "BACKUPD_LOCATION": url,
        "BACKUPD_CONFIG": str(tmp_path / "config.yaml"),
        "SCHEDULE": schedule,
    }
    try:
        run_runbook(RUNBOOK, env, sections=["1.", "7."], timeout=900)
        drilled = ctl.res.get("drillschedules", f"monthly-{schedule}") or {}
        assert drilled["status"]["lastBackup"] == f"{schedule}-2"
    finally:
        controller.stop()
        ctl.res.delete("drillschedules", f"monthly-{schedule}")
        kubectl(cluster.kubeconfig, "delete", "namespace", ns, "--wait=false")
