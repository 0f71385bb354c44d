"""`--in-cluster`'s talk with the API server, against the in-package fake transport."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client as k8s_client

from backupd.api.backup import BackupSpec
from backupd.cluster.client import KubeClient
from backupd.cluster.fake import FakeTransport, Step, json_reply, status_reply
from backupd.errors import BackupdError, UserInputError
from cli.incluster import BACKUP, RESTORE, Resources, follow, refuse

DISCOVERY = {"resources": [{"name": "backups"}, {"name": "backups/status"}]}


def resources(*script: Step) -> tuple[Resources, FakeTransport]:
    cfg = k8s_client.Configuration()
    cfg.host = "https://api.example:6443"
    fake = FakeTransport(*script)
    return Resources(KubeClient(cfg, transport=fake), "backupd"), fake


def backup(phase: str | None, done: int = 0, total: int = 0) -> dict[str, Any]:
    status: dict[str, Any] = {"progress": {"totalItems": total, "itemsBackedUp": done}}
    if phase:
        status["phase"] = phase
    return {"metadata": {"name": "b"}, "status": status}


def test_a_cluster_without_the_crds_is_told_to_run_without_in_cluster() -> None:
    res, _ = resources(status_reply(404, "NotFound", "the server could not find it"))
    with pytest.raises(BackupdError, match=r"backupd is not installed.*without --in-cluster"):
        res.require_installed(BACKUP)


def test_a_group_served_without_the_kind_is_not_installed_either() -> None:
    res, _ = resources(json_reply(DISCOVERY))
    res.require_installed(BACKUP)  # backups are served
    res, _ = resources(json_reply(DISCOVERY))
    with pytest.raises(BackupdError, match=r"no restores\.backupd\.io resource"):
        res.require_installed(RESTORE)


def test_creating_a_backup_that_exists_says_so_in_the_controllers_namespace() -> None:
    res, fake = resources(status_reply(409, "AlreadyExists", "backups.backupd.io b exists"))
    with pytest.raises(UserInputError, match="backup b already exists in namespace backupd"):
        res.create(BACKUP, "b", BackupSpec(included_namespaces=["shop"]))
    sent = fake.requests[0]
    assert sent.method == "POST" and "/namespaces/backupd/backups" in sent.target


def test_follow_feeds_the_progress_bar_and_stops_at_the_final_phase() -> None:
    res, _ = resources(
        json_reply(backup(None)),
        json_reply(backup("InProgress", 3, 10)),
        json_reply(backup("InProgress", 10, 10)),
        json_reply(backup("PartiallyFailed", 10, 10)),
    )
    seen: list[tuple[int, int]] = []
    ended = follow(res, BACKUP, "b", lambda d, t: seen.append((d, t)), sleep=lambda _: None)
    assert ended["status"]["phase"] == "PartiallyFailed"
    assert seen == [(0, 0), (3, 10), (10, 10), (10, 10)]


def test_follow_says_once_when_nothing_picks_the_resource_up(
    capsys: pytest.CaptureFixture[str],
) -> None:
    res, _ = resources(*[json_reply(backup(None))] * 5, json_reply(backup("Completed")))
    ticks = iter(range(0, 1000, 20))
    follow(res, BACKUP, "b", lambda d, t: None, clock=lambda: next(ticks), sleep=lambda _: None)
    err = capsys.readouterr().err
    assert err.count("still New") == 1 and "running in namespace backupd" in err


def test_a_resource_deleted_while_followed_is_an_error() -> None:
    res, _ = resources(status_reply(404, "NotFound", "gone"))
    with pytest.raises(BackupdError, match="was deleted from namespace backupd while followed"):
        follow(res, BACKUP, "b", lambda d, t: None, sleep=lambda _: None)


def test_local_only_flags_are_refused_by_name() -> None:
    refuse({"--workers": False}, "why")
    with pytest.raises(UserInputError, match="--location, --any-cluster cannot be used with"):
        refuse({"--location": True, "--workers": False, "--any-cluster": True}, "why")
