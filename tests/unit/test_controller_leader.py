"""Lease election against an in-memory Lease endpoint that checks resourceVersions."""

from __future__ import annotations

import threading
import time
from typing import Any

import orjson
from kubernetes import client as k8s_client

from backupd.cluster.client import KubeClient
from backupd.cluster.fake import FakeTransport, Sent, json_reply, status_reply
from backupd.cluster.transport import Response
from backupd.controller.leader import LeaderElector


class LeaseServer:
    """One Lease, optimistic concurrency as the API server does it."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self.version = 0
        self.down = False
        self.lock = threading.Lock()

    def __call__(self, sent: Sent) -> Response:
        with self.lock:
            if self.down:
                return status_reply(403, "Forbidden", "down")
            if sent.method == "GET":
                return (
                    json_reply(self.lease)
                    if self.lease
                    else status_reply(404, "NotFound", "no lease")
                )
            body = orjson.loads(sent.body or b"{}")
            if sent.method == "POST" and self.lease is not None:
                return status_reply(409, "AlreadyExists", "exists")
            if sent.method == "PUT" and body["metadata"].get("resourceVersion") != str(
                self.version
            ):
                return status_reply(409, "Conflict", "the object has been modified")
            self.version += 1
            body["metadata"]["resourceVersion"] = str(self.version)
            self.lease = body
            return json_reply(body)

    def holder(self) -> str:
        return str((self.lease or {}).get("spec", {}).get("holderIdentity", ""))


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def elector(
    server: LeaseServer, identity: str, clock: Clock, duration: float = 10.0
) -> LeaderElector:
    cfg = k8s_client.Configuration()
    cfg.host = "https://api.example:6443"
    kube = KubeClient(cfg, transport=FakeTransport(*[server] * 1000))
    return LeaderElector(kube, "backupd", identity, lease_duration=duration, clock=clock)


def test_the_first_candidate_creates_the_lease_and_leads() -> None:
    server, clock = LeaseServer(), Clock()
    a = elector(server, "a", clock)
    assert a.try_acquire_or_renew() is True and a.leading.is_set()
    assert server.holder() == "a" and server.lease["spec"]["leaseDurationSeconds"] == 10  # type: ignore[index]


def test_a_standby_waits_while_the_leader_renews_and_takes_over_a_lease_period_after_it_stops() -> (
    None
):
    server, clock = LeaseServer(), Clock()
    a, b = elector(server, "a", clock), elector(server, "b", clock)
    assert a.try_acquire_or_renew()
    for _ in range(5):  # the leader renews every 3 s; the standby looks as often
        clock.t += 3
        assert a.try_acquire_or_renew() is True
        assert b.try_acquire_or_renew() is False
    clock.t += 9.9  # a stopped renewing: not yet a whole period without change
    assert b.try_acquire_or_renew() is False
    clock.t += 0.2
    assert b.try_acquire_or_renew() is True
    assert server.holder() == "b" and server.lease["spec"]["leaseTransitions"] == 1  # type: ignore[index]
    assert a.try_acquire_or_renew() is False  # the old leader sees it has lost


def test_of_two_writes_from_the_same_read_only_one_wins() -> None:
    server, clock = LeaseServer(), Clock()
    a = elector(server, "a", clock)
    a.try_acquire_or_renew()
    a.release()  # no holder now: anyone may take it
    read_by_both = json_reply(server.lease)
    b = elector(server, "b", clock)
    assert b.try_acquire_or_renew() is True
    # c read the Lease when b did; its write carries that resourceVersion, b's replaced it
    c = elector(server, "c", clock)
    c.kube = KubeClient(a.kube.configuration, transport=FakeTransport(read_by_both, server))
    assert c.try_acquire_or_renew() is False
    assert server.holder() == "b" and not c.leading.is_set()


def test_a_leader_that_cannot_renew_gives_up_before_anyone_may_take_over() -> None:
    server = LeaseServer()
    a = elector(server, "a", Clock(), duration=1.0)
    a.clock = time.monotonic
    assert a.try_acquire_or_renew()
    lost = threading.Event()
    stop = threading.Event()
    server.down = True
    a.keep(stop, lost.set)
    assert lost.wait(3.0), "on_lost was not called"
    assert not a.leading.is_set()
    assert a.renew_deadline < a.lease_duration
    stop.set()
