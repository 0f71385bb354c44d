"""The generated CRDs are accepted by a real API server and behave as a Velero user expects."""

from __future__ import annotations

import uuid

import pytest

from backupd.api.crds import GROUP, KINDS, VERSION
from backupd.controller.resources import Resources
from backupd.errors import ClusterInvalid
from backupd.sandbox.cluster import Sandbox
from tests.integration.controller_support import crd_resources

pytestmark = pytest.mark.integration


@pytest.fixture()
def res(cluster: Sandbox, namespace: str) -> Resources:
    return crd_resources(cluster, namespace)


def table(res: Resources, plural: str) -> dict[str, list[object]]:
    """What `kubectl get <plural>` shows: column name -> cells of the first row."""
    reply = res.kube.request(
        "GET", res.path(plural), accept="application/json;as=Table;v=v1;g=meta.k8s.io"
    )
    names = [c["name"] for c in reply["columnDefinitions"]]
    return dict(zip(names, reply["rows"][0]["cells"], strict=True))


def test_every_crd_is_established_and_served(res: Resources) -> None:
    served = res.kube.get(f"/apis/{GROUP}/{VERSION}")["resources"]
    names = {r["name"] for r in served}
    for kind in KINDS:
        assert kind.plural in names and f"{kind.plural}/status" in names


def test_a_schedule_round_trips_and_unknown_fields_are_pruned(res: Resources) -> None:
    body = {
        "metadata": {"name": "nightly"},
        "spec": {
            "schedule": "0 2 * * *",
            "timeZone": "Europe/Paris",
            "template": {"includedNamespaces": ["shop"], "ttl": "72h", "bogus": 1},
            "retention": {"keepLast": 3},
        },
    }
    created = res.create("schedules", body)
    assert created["spec"]["template"] == {"includedNamespaces": ["shop"], "ttl": "72h"}
    assert created["spec"]["retention"] == {"keepLast": 3}
    res.patch_status(
        "schedules",
        "nightly",
        {
            "phase": "Enabled",
            "lastBackup": "nightly-20260101020000",
            "lastBackupTime": "2026-01-01T02:00:00Z",
        },
    )
    cells = table(res, "schedules")
    assert (
        cells["Schedule"] == "0 2 * * *" and cells["Phase"] == "Enabled" and cells["Paused"] is None
    )


def test_status_is_only_written_through_the_status_subresource(res: Resources) -> None:
    created = res.create(
        "backups",
        {
            "metadata": {"name": f"b-{uuid.uuid4().hex[:6]}"},
            "spec": {},
            "status": {"phase": "Completed"},
        },
    )
    assert "status" not in created or created["status"].get("phase") is None
    name = created["metadata"]["name"]
    res.patch_status(
        "backups",
        name,
        {
            "phase": "Completed",
            "progress": {"itemsBackedUp": 12},
            "expiration": "2030-01-01T00:00:00Z",
        },
    )
    cells = table(res, "backups")
    assert (
        cells["Phase"] == "Completed"
        and cells["Items"] == 12
        and cells["Expires"] == "2030-01-01T00:00:00Z"
    )


def test_the_api_server_refuses_what_the_models_refuse(res: Resources) -> None:
    with pytest.raises(ClusterInvalid, match="keepLast"):
        res.create(
            "schedules",
            {
                "metadata": {"name": "bad"},
                "spec": {"schedule": "@daily", "retention": {"keepLast": 0}},
            },
        )
    with pytest.raises(ClusterInvalid, match="accessMode"):
        res.create(
            "storagelocations",
            {"metadata": {"name": "bad"}, "spec": {"url": "file:///x", "accessMode": "Sometimes"}},
        )
    with pytest.raises(ClusterInvalid, match="schedule"):
        res.create("schedules", {"metadata": {"name": "bad2"}, "spec": {"paused": True}})
