"""`backupctl schedule ...` against Schedule resources in a real API server."""

from __future__ import annotations

import json

import pytest
import yaml

from backupd.api.backup import SCHEDULE_LABEL
from backupd.controller.resources import Resources
from backupd.sandbox.cluster import Sandbox
from tests.fixtures.cli import backupctl, error_line
from tests.integration.controller_support import crd_resources

pytestmark = pytest.mark.integration


@pytest.fixture()
def res(cluster: Sandbox, namespace: str) -> Resources:
    return crd_resources(cluster, namespace)


def ctl(cluster: Sandbox, res: Resources, *args: str) -> dict[str, object] | list[object] | str:
    out = backupctl(
        "schedule",
        *args,
        "--controller-namespace",
        res.namespace,
        "--kubeconfig",
        str(cluster.kubeconfig),
    )
    assert out.returncode == 0, out.stderr
    if "-o" in args and "json" in args:
        return json.loads(out.stdout)  # type: ignore[no-any-return]
    if "-o" in args and "yaml" in args:
        return yaml.safe_load(out.stdout)  # type: ignore[no-any-return]
    return out.stdout


def test_create_get_describe_pause_trigger_delete(cluster: Sandbox, res: Resources) -> None:
    created = ctl(
        cluster,
        res,
        "create",
        "nightly",
        "--schedule",
        "0 2 * * *",
        "--timezone",
        "Europe/Paris",
        "--include-namespaces",
        "shop,web",
        "--ttl",
        "72h",
        "--keep-last",
        "7",
        "--keep-weekly",
        "4",
        "-o",
        "json",
    )
    assert isinstance(created, dict)
    spec = res.get("schedules", "nightly")["spec"]  # type: ignore[index]
    assert spec["schedule"] == "0 2 * * *" and spec["timeZone"] == "Europe/Paris"
    assert (
        spec["template"]["includedNamespaces"] == ["shop", "web"]
        and spec["template"]["ttl"] == "72h"
    )
    assert spec["retention"] == {"keepLast": 7, "keepWeekly": 4}

    listed = ctl(cluster, res, "get", "-o", "yaml")
    assert isinstance(listed, dict) and listed["kind"] == "List"
    assert [s["metadata"]["name"] for s in listed["items"]] == ["nightly"]  # type: ignore[attr-defined]
    table = ctl(cluster, res, "get")
    assert (
        "nightly" in str(table) and "Europe/Paris" in str(table) and "last=7,weekly=4" in str(table)
    )

    ctl(cluster, res, "pause", "nightly")
    assert res.get("schedules", "nightly")["spec"]["paused"] is True  # type: ignore[index]
    ctl(cluster, res, "unpause", "nightly")
    assert res.get("schedules", "nightly")["spec"]["paused"] is False  # type: ignore[index]

    backup = ctl(cluster, res, "trigger", "nightly", "-o", "json")
    assert isinstance(backup, dict)
    name = backup["metadata"]["name"]  # type: ignore[index]
    assert name.startswith("nightly-") and backup["metadata"]["labels"] == {
        SCHEDULE_LABEL: "nightly"
    }  # type: ignore[index]
    assert backup["spec"]["includedNamespaces"] == ["shop", "web"]  # type: ignore[index]

    described = ctl(cluster, res, "describe", "nightly")
    assert "0 2 * * * (Europe/Paris)" in str(described) and name in str(described)

    ctl(cluster, res, "delete", "nightly")
    assert res.get("schedules", "nightly") is None
    assert res.get("backups", name) is not None  # its backups stay


def test_bad_input_is_one_line_and_a_nonzero_exit(cluster: Sandbox, res: Resources) -> None:
    kc = ["--controller-namespace", res.namespace, "--kubeconfig", str(cluster.kubeconfig)]
    assert "unknown time zone 'Mars/Olympus'" in error_line(
        backupctl(
            "schedule", "create", "x", "--schedule", "@daily", "--timezone", "Mars/Olympus", *kc
        )
    )
    assert "invalid schedule '* * *'" in error_line(
        backupctl("schedule", "create", "x", "--schedule", "* * *", *kc)
    )
    assert "schedule missing not found" in error_line(
        backupctl("schedule", "pause", "missing", *kc)
    )
    ctl(cluster, res, "create", "twice", "--schedule", "@daily")
    assert "schedule twice already exists" in error_line(
        backupctl("schedule", "create", "twice", "--schedule", "@daily", *kc)
    )
