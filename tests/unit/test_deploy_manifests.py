"""deploy/ read as data: what the Deployment promises (non-root, read-only root,
probes, limits), least-privilege RBAC, alert rules that only name metrics the
controller exports, and `backupctl install` rendering exactly the kustomization."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from backupd.errors import BackupdError
from cli.install import MANIFESTS, load_objects, manifest_files
from tests.fixtures.cli import backupctl

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
AGREED_METRICS = {
    "backupd_backup_total",
    "backupd_restore_total",
    "backupd_backup_duration_seconds",
    "backupd_backup_items",
    "backupd_backup_bytes",
    "backupd_backup_last_success_timestamp_seconds",
    "backupd_gc_deletions_total",
    "backupd_leader",
    "backupd_drill_last_result",
    "backupd_drill_last_timestamp_seconds",
    "backupd_drill_rto_seconds",
}
FORBIDDEN_VERBS = {"*", "escalate", "bind", "impersonate"}


def objects() -> list[dict[str, Any]]:
    return load_objects(DEPLOY)


def one(kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects() if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}"
    return found[0]


def rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load((DEPLOY / "monitoring" / "alerts.rules.yaml").read_text())
    return [r for group in doc["groups"] for r in group["rules"]]


def test_the_controller_runs_non_root_on_a_read_only_root_with_a_writable_tmp() -> None:
    pod = one("Deployment", "backupd")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["serviceAccountName"] == "backupd"
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert set(container["resources"]) == {"requests", "limits"}


def test_probes_reach_the_metrics_port_bound_to_every_address_in_the_pod() -> None:
    (container,) = one("Deployment", "backupd")["spec"]["template"]["spec"]["containers"]
    assert "--metrics-bind-address=0.0.0.0:8080" in container["args"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert {"name": "metrics", "containerPort": 8080} in container["ports"]
    service = one("Service", "backupd-metrics")["spec"]
    assert service["ports"][0]["targetPort"] == "metrics"


def test_no_role_grants_wildcard_verbs_escalate_bind_or_impersonate() -> None:
    roles = [o for o in objects() if o["kind"] in ("ClusterRole", "Role")]
    assert len(roles) == 4
    for role in roles:
        for rule in role["rules"]:
            assert not FORBIDDEN_VERBS & set(rule["verbs"]), role["metadata"]["name"]


def test_backup_reads_everything_and_only_reads() -> None:
    (rule,) = one("ClusterRole", "backupd-backup-reader")["rules"]
    assert rule == {"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list"]}


def test_the_restore_role_is_installed_but_bound_only_on_request() -> None:
    (rule,) = one("ClusterRole", "backupd-restorer")["rules"]
    assert "delete" not in rule["verbs"]
    bound = {
        o["roleRef"]["name"]
        for o in objects()
        if o["kind"] in ("ClusterRoleBinding", "RoleBinding")
    }
    assert "backupd-restorer" not in bound
    optional = yaml.safe_load((DEPLOY / "optional" / "restore-binding.yaml").read_text())
    assert optional["roleRef"]["name"] == "backupd-restorer"


def test_leases_are_granted_only_in_the_controllers_namespace() -> None:
    lease_roles = [
        o
        for o in objects()
        if o["kind"] in ("ClusterRole", "Role")
        and any("coordination.k8s.io" in r["apiGroups"] for r in o["rules"])
    ]
    assert [(r["kind"], r["metadata"].get("namespace")) for r in lease_roles] == [
        ("Role", "backupd")
    ]


def test_alerts_cover_a_stale_schedule_a_failed_backup_and_a_down_controller() -> None:
    by_name = {r["alert"]: r["expr"] for r in rules()}
    assert "26 * 3600" in by_name["BackupdScheduleNoRecentSuccess"]
    assert (
        "backupd_backup_last_success_timestamp_seconds" in by_name["BackupdScheduleNoRecentSuccess"]
    )
    assert 'result="Failed"' in by_name["BackupdBackupFailed"]
    assert "up{" in by_name["BackupdControllerDown"]


def test_alerts_name_only_metrics_the_controller_exports() -> None:
    named = {m for r in rules() for m in re.findall(r"\bbackupd_[a-z_]+\b", r["expr"])}
    assert named <= AGREED_METRICS
    metrics = pytest.importorskip("backupd.controller.metrics")
    exported = {s.name for family in metrics.Metrics().registry.collect() for s in family.samples}
    exported |= {f.name for f in metrics.Metrics().registry.collect()}
    assert named <= exported, named - exported


def test_install_renders_exactly_the_kustomization_in_order() -> None:
    listed = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())["resources"]
    assert [p.relative_to(DEPLOY.resolve()).as_posix() for p in manifest_files(DEPLOY)] == listed
    assert MANIFESTS.resolve() == DEPLOY.resolve()  # the package's copy is deploy/ itself
    res = backupctl("install", "-o", "yaml")
    assert res.returncode == 0, res.stderr
    assert list(yaml.safe_load_all(res.stdout)) == objects()
    names = backupctl("install", "-o", "name").stdout.splitlines()
    assert names[0] == "customresourcedefinition/backups.backupd.io"
    assert "deployment/backupd" in names


def test_a_kustomization_naming_a_file_outside_its_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: [../etc/passwd]\n")
    with pytest.raises(BackupdError, match="is not a file of"):
        manifest_files(tmp_path)


def test_a_document_that_is_not_an_object_is_refused(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: [a.yaml]\n")
    (tmp_path / "a.yaml").write_text("- just\n- a list\n")
    with pytest.raises(BackupdError, match="not a Kubernetes object"):
        load_objects(tmp_path)


def test_the_deployments_arguments_are_ones_the_controller_accepts() -> None:
    from backupd.controller.main import _parser

    (container,) = one("Deployment", "backupd")["spec"]["template"]["spec"]["containers"]
    args = _parser().parse_args(container["args"])
    assert args.command == "run"
    assert args.metrics_bind_address == "0.0.0.0:8080"
    assert args.kubeconfig is None  # in-cluster credentials
