"""Two controllers: only the Lease holder works; killing it hands over within a lease period."""

from __future__ import annotations

import threading
import time

import pytest
from kubernetes import client

from backupd.cluster.client import KubeClient
from backupd.controller.leader import LeaderElector
from tests.integration.controller_support import (
    NAMESPACE,
    Env,
    backups_of,
    ctl_fixture,
    location,
    schedule,
    wait_for,
)

pytestmark = pytest.mark.integration


ctl = ctl_fixture()


def test_of_two_candidates_racing_for_a_lease_exactly_one_leads(ctl: Env) -> None:
    kube = KubeClient.from_kubeconfig(ctl.kubeconfig)
    lease = f"race-{time.monotonic_ns()}"
    electors = [
        LeaderElector(kube, NAMESPACE, f"cand-{i}", name=lease, lease_duration=2) for i in range(4)
    ]
    results: list[bool] = []
    barrier = threading.Barrier(len(electors))

    def attempt(e: LeaderElector) -> None:
        barrier.wait()
        results.append(e.try_acquire_or_renew())

    threads = [threading.Thread(target=attempt, args=(e,)) for e in electors]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, False, False, True]
    holder = kube.get(f"/apis/coordination.k8s.io/v1/namespaces/{NAMESPACE}/leases/{lease}")[
        "spec"
    ]["holderIdentity"]
    winner = next(e for e in electors if e.leading.is_set())
    assert holder == winner.identity
    # the others wait a whole lease period of no renewal before they take over
    loser = next(e for e in electors if not e.leading.is_set())
    assert loser.try_acquire_or_renew() is False
    time.sleep(2.2)
    assert loser.try_acquire_or_renew() is True
    assert winner.try_acquire_or_renew() is False  # the old leader sees it lost
    ctl.admin.delete(
        f"/apis/coordination.k8s.io/v1/namespaces/{NAMESPACE}/leases/{lease}"
    )  # the SA may not delete


def test_only_the_leader_works_and_killing_it_hands_over(
    ctl: Env, kube: client.ApiClient, namespace: str
) -> None:
    client.CoreV1Api(kube).create_namespaced_config_map(
        namespace, {"metadata": {"name": "c"}, "data": {"a": "1"}}
    )
    location(ctl.res, "main", f"file://{ctl.tmp / 'store'}")
    a = ctl.controller("a").start()
    wait_for("a to lead", a.leading, 30)
    b = ctl.controller("b").start()
    try:
        schedule(ctl.res, "ha", "*/2 * * * * *", [namespace])
        wait_for("three backups", lambda: len(backups_of(ctl.res, "ha")) >= 3, 40)
        assert not b.leading()
        assert b.get("/readyz") is not None  # a standby is ready (it waits for the Lease)
        assert "created backup" not in b.logs() and "created backup" in a.logs()
        a.kill()
        killed_at = time.monotonic()
        wait_for("b to lead", b.leading, 20)
        took = time.monotonic() - killed_at
        assert took < 3 * 2 + 2, f"the standby took {took:.1f}s for a 3s lease"
        before = {x["metadata"]["name"] for x in backups_of(ctl.res, "ha")}
        wait_for(
            "b's first backup to complete",
            lambda: [
                x
                for x in backups_of(ctl.res, "ha")
                if x["metadata"]["name"] not in before
                and (x.get("status") or {}).get("phase") == "Completed"
            ],
            30,
        )
        wait_for("b's log of it", lambda: "created backup" in b.logs(), 10)  # logged last
        names = [x["metadata"]["name"] for x in backups_of(ctl.res, "ha")]
        assert len(names) == len(set(names))
    finally:
        a.kill()
        b.stop()
