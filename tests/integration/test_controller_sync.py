"""Catalog sync: a new cluster pointed at an old bucket sees its backups; the garbage
collector never writes to a ReadOnly location and keeps track of what it could not delete."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from backupd.api.backup import SCHEDULE_LABEL, BackupSpec
from backupd.backup import engine
from backupd.cluster.client import KubeClient
from backupd.controller.resources import DELETION_PENDING, IMPORTED
from backupd.sandbox.cluster import Sandbox
from backupd.storage.catalog import committed_names, deletion
from backupd.storage.location import open_location
from tests.integration.controller_support import (
    NAMESPACE,
    Env,
    ctl_fixture,
    env,
    events_for,
    events_with,
    free_port,
    location,
    phases,
    wait_for,
)

pytestmark = pytest.mark.integration


@pytest.fixture()
def old_bucket(cluster: Sandbox, kube: client.ApiClient, namespace: str, tmp_path: Path) -> str:
    """A bucket holding two backups of `cluster`, one of them made by a schedule."""
    client.CoreV1Api(kube).create_namespaced_config_map(
        namespace, {"metadata": {"name": "c"}, "data": {"a": "1"}}
    )
    url = f"file://{tmp_path / 'old-bucket'}"
    loc = open_location(url)
    kc = KubeClient.from_kubeconfig(cluster.kubeconfig)
    spec = BackupSpec(included_namespaces=[namespace])
    engine.run("manual-one", spec, kube=kc, location=loc)
    engine.run(
        "nightly-20260101020000", spec, kube=kc, location=loc, labels={SCHEDULE_LABEL: "nightly"}
    )
    return url


@pytest.fixture()
def fresh(second_cluster: Sandbox, tmp_path: Path) -> Iterator[Env]:
    (tmp_path / "fresh").mkdir()
    yield from env(second_cluster, tmp_path / "fresh")


def test_a_new_cluster_pointed_at_an_old_bucket_lists_its_backups_and_follows_deletions(
    old_bucket: str, fresh: Env
) -> None:
    location(fresh.res, "old", old_bucket)
    c = fresh.controller().start()
    try:
        found = wait_for(  # an import is a create, then its status: wait for both
            "both backups imported",
            lambda: (
                len(items := fresh.res.list("backups")) == 2
                and "New" not in phases(items)
                and items
            ),
            30,
        )
        by_name = {b["metadata"]["name"]: b for b in found}
        assert set(by_name) == {"manual-one", "nightly-20260101020000"}
        assert phases(found) == ["Completed", "Completed"]
        nightly = by_name["nightly-20260101020000"]
        assert nightly["metadata"]["labels"][SCHEDULE_LABEL] == "nightly"
        assert nightly["metadata"]["annotations"][IMPORTED] == "old"
        assert nightly["status"]["progress"]["itemsBackedUp"] >= 2
        # imported, never run again here
        assert "BackupStarted" not in {e["reason"] for e in events_for(fresh.admin, "manual-one")}
        deletion(open_location(old_bucket), "manual-one").execute()
        wait_for(
            "the deleted backup to leave the cluster",
            lambda: (
                [b["metadata"]["name"] for b in fresh.res.list("backups")]
                == ["nightly-20260101020000"]
            ),
            30,
        )
        ls = fresh.res.get("storagelocations", "old")
        assert ls is not None and ls["status"]["phase"] == "Available"
    finally:
        c.stop()


ctl = ctl_fixture()


def test_an_expired_backup_in_a_read_only_location_is_kept_until_it_can_be_deleted(
    cluster: Sandbox, ctl: Env, kube: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    client.CoreV1Api(kube).create_namespaced_config_map(
        namespace, {"metadata": {"name": "c"}, "data": {"a": "1"}}
    )
    url = f"file://{tmp_path / 'bucket'}"
    engine.run(
        "short-lived",
        BackupSpec(included_namespaces=[namespace], ttl="1s"),
        kube=KubeClient.from_kubeconfig(cluster.kubeconfig),
        location=open_location(url),
    )
    location(ctl.res, "ro", url, accessMode="ReadOnly")
    c = ctl.controller().start()
    try:
        pending = wait_for(
            "the deletion to be pending",
            lambda: (
                (b := ctl.res.get("backups", "short-lived"))
                and b["metadata"].get("annotations", {}).get(DELETION_PENDING)
                and b
            ),
            30,
        )
        assert pending["metadata"]["annotations"][DELETION_PENDING] == "location ro is ReadOnly"
        assert committed_names(open_location(url)) == ["short-lived"]
        events_with(ctl.admin, "short-lived", "DeletionPending")
        assert (c.metric("backupd_gc_deletions_total", result="failed") or 0) >= 1
        ctl.res.patch("storagelocations", "ro", {"spec": {"accessMode": "ReadWrite"}})
        wait_for(
            "the backup to be deleted", lambda: ctl.res.get("backups", "short-lived") is None, 30
        )
        assert committed_names(open_location(url)) == []
        assert open_location(url).list("backups/short-lived/") == []
    finally:
        c.stop()


def test_a_location_that_does_not_answer_is_unavailable_and_changes_nothing(ctl: Env) -> None:
    port = free_port()  # nothing listens there: connection refused
    url = f"s3://bucket/p?endpoint=http://127.0.0.1:{port}&region=us-east-1&max_attempts=1&connect_timeout=2"
    secret = {"AWS_ACCESS_KEY_ID": "dGVzdA==", "AWS_SECRET_ACCESS_KEY": "dGVzdHRlc3Q="}
    ctl.admin.post(
        f"/api/v1/namespaces/{NAMESPACE}/secrets",
        {"metadata": {"name": "s3-creds"}, "data": secret},
    )
    try:
        location(ctl.res, "down", url, credential={"name": "s3-creds"})
        ctl.res.create(
            "backups",
            {"metadata": {"name": "kept", "labels": {"backupd.io/location": "down"}}, "spec": {}},
        )
        ctl.res.patch_status("backups", "kept", {"phase": "Completed"})
        c = ctl.controller().start()
        try:
            status = wait_for(
                "the location marked Unavailable",
                lambda: (
                    (s := (ctl.res.get("storagelocations", "down") or {}).get("status", {})).get(
                        "phase"
                    )
                    == "Unavailable"
                    and s
                ),
                30,
            )
            assert f"127.0.0.1:{port}" in status["message"] and status["lastValidated"]
            time.sleep(3)  # several sync passes
            assert ctl.res.get("backups", "kept") is not None  # not removed for want of an answer
        finally:
            c.stop()
    finally:
        ctl.admin.delete(f"/api/v1/namespaces/{NAMESPACE}/secrets/s3-creds")
