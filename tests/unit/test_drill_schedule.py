"""The DrillSchedule resource as written by a person, its CRD, and the drill alert rules."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest
import yaml

from backupd.api import crds
from backupd.api.drill import DrillTargetKind
from backupd.api.drillschedule import DrillScheduleSpec
from backupd.backup import cron
from backupd.controller.metrics import Metrics
from backupd.errors import UserInputError

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_a_monthly_drill_of_a_schedules_latest_backup_on_an_ephemeral_cluster() -> None:
    spec = DrillScheduleSpec.model_validate({"schedule": "0 3 1 * *", "scheduleName": "nightly"})
    assert (spec.target, spec.backup_name, spec.ready_timeout) == (
        DrillTargetKind.ephemeral,
        None,
        "10m",
    )


def test_a_drill_into_a_cluster_reads_its_kubeconfig_from_a_secret() -> None:
    spec = DrillScheduleSpec.model_validate(
        {
            "schedule": "@monthly",
            "backupName": "b",
            "target": "Kubeconfig",
            "kubeconfigSecret": {"name": "drill-cluster"},
        }
    )
    assert spec.kubeconfig_secret is not None
    assert (spec.kubeconfig_secret.name, spec.kubeconfig_secret.key) == (
        "drill-cluster",
        "kubeconfig",
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"schedule": "@monthly"}, "exactly one of spec.backupName and spec.scheduleName"),
        (
            {"schedule": "@monthly", "backupName": "b", "scheduleName": "s"},
            "exactly one of spec.backupName and spec.scheduleName",
        ),
        (
            {"schedule": "@monthly", "backupName": "b", "target": "Kubeconfig"},
            "spec.kubeconfigSecret goes with target Kubeconfig",
        ),
        (
            {"schedule": "@monthly", "backupName": "b", "kubeconfigSecret": {"name": "k"}},
            "spec.kubeconfigSecret goes with target Kubeconfig",
        ),
    ],
)
def test_a_drill_schedule_without_one_source_or_with_a_stray_secret_is_refused(
    spec: dict[str, object], message: str
) -> None:
    with pytest.raises(UserInputError, match=message):
        DrillScheduleSpec.model_validate(spec)


def test_the_drill_schedule_crd_shows_verdict_and_rto_columns() -> None:
    kind = next(k for k in crds.KINDS if k.plural == "drillschedules")
    columns = {c.name: c.json_path for c in kind.columns}
    assert columns["Verdict"] == ".status.lastVerdict"
    assert columns["RTO"] == ".status.lastRtoSeconds"
    listed = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())["resources"]
    assert f"crds/{crds.file_name(kind)}" in listed


def _rules() -> dict[str, str]:
    doc = yaml.safe_load((DEPLOY / "monitoring" / "alerts.rules.yaml").read_text())
    return {r["alert"]: r["expr"] for g in doc["groups"] for r in g["rules"]}


def test_alerts_fire_when_the_last_drill_failed_or_is_older_than_35_days() -> None:
    rules = _rules()
    assert rules["BackupdDrillFailed"] == "backupd_drill_last_result == 0"
    assert rules["BackupdDrillTooOld"] == (
        "time() - backupd_drill_last_timestamp_seconds > 35 * 86400"
    )
    exported = {f.name for f in Metrics().registry.collect()}
    for expr in (rules["BackupdDrillFailed"], rules["BackupdDrillTooOld"]):
        assert set(re.findall(r"\bbackupd_[a-z_]+\b", expr)) <= exported


def test_the_drill_schedule_status_can_be_written_by_the_controller() -> None:
    rbac = list(yaml.safe_load_all((DEPLOY / "rbac" / "controller.yaml").read_text()))
    role = next(d for d in rbac if d["kind"] == "ClusterRole")
    granted = {r for rule in role["rules"] for r in rule["resources"]}
    assert {"drillschedules", "drillschedules/status"} <= granted


def test_the_example_drill_schedule_is_a_valid_monthly_drill() -> None:
    doc = yaml.safe_load((DEPLOY / "examples" / "drillschedule.yaml").read_text())
    assert (doc["apiVersion"], doc["kind"]) == ("backupd.io/v1alpha1", "DrillSchedule")
    spec = DrillScheduleSpec.model_validate(doc["spec"])
    assert spec.schedule_name == "nightly" and spec.target is DrillTargetKind.ephemeral
    trig = cron.trigger(spec.schedule, spec.time_zone)
    after = datetime.datetime(2026, 11, 26, tzinfo=datetime.UTC)
    assert cron.next_run(trig, after) == datetime.datetime(2026, 12, 1, 3, tzinfo=datetime.UTC)
