"""Waiting for restored workloads (backupd.restore.readiness) over a scripted API server:
one LIST per type and namespace, the Events of what is stuck, the restore's status."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit

from kubernetes import client as k8s_client

from backupd.api.common import Phase
from backupd.api.drill import WorkloadReadiness
from backupd.api.progress import Recorder
from backupd.api.restore import ItemResult, Outcome, RestoreStatus
from backupd.archive.format import IndexEntry
from backupd.cluster.client import KubeClient
from backupd.cluster.fake import FakeTransport, Sent, json_reply, status_reply
from backupd.cluster.transport import Response
from backupd.restore import events, readiness
from backupd.restore.readiness import BackedUp, Restored

JSON = dict[str, Any]
DEPLOYMENTS = "/apis/apps/v1/namespaces/{}/deployments"


class Server:
    """Serves LISTs from `lists` (path -> items); a path in `missing` is 404, one in
    `forbidden` 403."""

    def __init__(
        self,
        lists: dict[str, list[JSON]],
        missing: tuple[str, ...] = (),
        forbidden: tuple[str, ...] = (),
    ) -> None:
        self.lists = lists
        self.missing = missing
        self.forbidden = forbidden
        self.fake = FakeTransport(*[self.reply] * 500)
        cfg = k8s_client.Configuration()
        cfg.host = "https://api.example:6443"
        self.kube = KubeClient(cfg, transport=self.fake)

    def reply(self, sent: Sent) -> Response:
        path = urlsplit(sent.target).path
        if path in self.missing:
            return status_reply(404, "NotFound", "the server could not find the requested resource")
        if path in self.forbidden:
            return status_reply(403, "Forbidden", f"cannot list {path}")
        return json_reply({"items": self.lists.get(path, [])})

    def gets(self) -> list[str]:
        return [urlsplit(r.target).path for r in self.fake.requests]


def deployment(
    name: str, available: int, replicas: int = 1, uid: str = "", namespace: str = "shop"
) -> JSON:
    meta = {"name": name, "namespace": namespace, "generation": 1, "uid": uid or f"uid-{name}"}
    return {
        "metadata": meta,
        "spec": {"replicas": replicas},
        "status": {
            "observedGeneration": 1,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "availableReplicas": available,
        },
    }


def restored(name: str, namespace: str = "shop", *, was_ready: bool = True) -> Restored:
    return Restored("apps", "v1", "Deployment", "deployments", namespace, name, was_ready)


def warning(kind: str, name: str, uid: str, reason: str, message: str, at: str) -> JSON:
    return {
        "type": "Warning",
        "reason": reason,
        "message": message,
        "lastTimestamp": at,
        "involvedObject": {"kind": kind, "name": name, "uid": uid},
    }


def test_ready_workloads_take_one_list_per_type_and_namespace() -> None:
    server = Server(
        {
            DEPLOYMENTS.format("shop"): [deployment("web", 1), deployment("api", 1)],
            DEPLOYMENTS.format("blog"): [deployment("web", 1, namespace="blog")],
        }
    )
    recorder = Recorder()
    waited = readiness.wait_ready(
        server.kube,
        [restored("web"), restored("api"), restored("web", "blog")],
        timeout=5,
        report=recorder,
    )
    assert [(w.namespace, w.name, w.ready) for w in waited] == [
        ("shop", "web", True),
        ("shop", "api", True),
        ("blog", "web", True),
    ]
    assert sorted(server.gets()) == [DEPLOYMENTS.format("blog"), DEPLOYMENTS.format("shop")]
    assert recorder.progresses == [(3, 3)]
    assert all(w.seconds_to_ready is not None for w in waited)


def test_a_stuck_deployment_says_why_from_the_events_of_its_replica_set() -> None:
    quota = 'Error creating: pods "web-5d8f-x" is forbidden: exceeded quota: no-pods'
    server = Server(
        {
            DEPLOYMENTS.format("shop"): [deployment("web", 0, uid="d1"), deployment("api", 1)],
            "/apis/apps/v1/namespaces/shop/replicasets": [
                {"metadata": {"name": "web-5d8f", "uid": "r1", "ownerReferences": [{"uid": "d1"}]}},
                {
                    "metadata": {
                        "name": "api-1",
                        "uid": "r2",
                        "ownerReferences": [{"uid": "uid-api"}],
                    }
                },
            ],
            "/api/v1/namespaces/shop/events": [
                warning(
                    "ReplicaSet", "web-5d8f", "r1", "FailedCreate", quota, "2026-01-01T00:00:02Z"
                ),
                warning(
                    "ReplicaSet", "web-5d8f", "r1", "FailedCreate", quota, "2026-01-01T00:00:03Z"
                ),
                warning("Deployment", "web", "d1", "Odd", "something else", "2026-01-01T00:00:01Z"),
                warning(
                    "ReplicaSet",
                    "api-1",
                    "r2",
                    "FailedCreate",
                    "not about web",
                    "2026-01-01T00:00:01Z",
                ),
                {"type": "Normal", "reason": "ScalingReplicaSet", "involvedObject": {"uid": "d1"}},
            ],
        }
    )
    web, api = readiness.wait_ready(
        server.kube, [restored("web"), restored("api")], timeout=0.3, poll=0.1
    )
    assert api.ready and api.events == []
    assert not web.ready and web.was_ready
    assert web.events == [
        "Deployment/web: Odd: something else",
        f"ReplicaSet/web-5d8f: FailedCreate: {quota}",
    ]
    assert web.reason == f"0/1 available, 1 updated; ReplicaSet/web-5d8f: FailedCreate: {quota}"
    assert server.gets().count(DEPLOYMENTS.format("shop")) >= 2  # polled until the timeout


def test_a_workload_that_was_not_ready_in_the_backup_is_not_waited_for() -> None:
    server = Server({DEPLOYMENTS.format("shop"): [deployment("web", 0)]})
    (web,) = readiness.wait_ready(
        server.kube, [restored("web", was_ready=False)], timeout=30, poll=10
    )
    assert (web.ready, web.was_ready) == (False, False)
    assert server.gets().count(DEPLOYMENTS.format("shop")) == 1


def test_cancel_stops_the_wait() -> None:
    server = Server({DEPLOYMENTS.format("shop"): [deployment("web", 0)]})
    cancel = threading.Event()
    cancel.set()
    (web,) = readiness.wait_ready(
        server.kube, [restored("web")], timeout=30, poll=10, cancel=cancel
    )
    assert not web.ready
    assert server.gets().count(DEPLOYMENTS.format("shop")) == 1


def test_a_custom_resource_whose_type_is_not_served_names_its_crd() -> None:
    path = "/apis/shop.example.com/v1/namespaces/shop/widgets"
    server = Server({}, missing=(path,))
    widget = Restored("shop.example.com", "v1", "Widget", "widgets", "shop", "w1")
    (w,) = readiness.wait_ready(server.kube, [widget], timeout=0.1, poll=0.05)
    assert not w.ready
    assert w.reason == "widgets.shop.example.com is not served (is its CRD restored?)"


def test_an_object_gone_from_the_target_is_not_ready() -> None:
    server = Server({DEPLOYMENTS.format("shop"): []})
    (web,) = readiness.wait_ready(server.kube, [restored("web")], timeout=0.1, poll=0.05)
    assert web.reason == "not found in the target (deleted after the restore?)"


def entry(group: str, kind: str, resource: str, namespace: str, name: str) -> IndexEntry:
    return IndexEntry(group, "v1", kind, resource, namespace, name, "", 0)


def result(kind: str, name: str, outcome: Outcome, *, group: str = "apps") -> ItemResult:
    resource = f"{kind.lower()}s"
    return ItemResult(
        group=group,
        version="v1",
        kind=kind,
        resource=resource,
        namespace="shop-b",
        source_namespace="shop",
        name=name,
        outcome=outcome,
    )


def test_the_workloads_to_wait_for_are_those_restored_with_what_the_backup_says() -> None:
    kept = BackedUp()
    objects = [
        (
            entry("apps", "Deployment", "deployments", "shop", "web"),
            deployment("web", 2, replicas=2),
        ),
        (
            entry("apps", "Deployment", "deployments", "shop", "down"),
            deployment("down", 0, replicas=2),
        ),
        (entry("", "ConfigMap", "configmaps", "shop", "cfg"), {"data": {"a": "1"}}),
    ]
    assert list(kept.keep(objects)) == objects  # passed through untouched
    watch = readiness.to_watch(
        [
            result("Deployment", "web", Outcome.created),
            result("Deployment", "down", Outcome.unchanged),
            result("Deployment", "refused", Outcome.failed),
            result("ConfigMap", "cfg", Outcome.created, group=""),
        ],
        kept,
    )
    assert [(r.namespace, r.name, r.was_ready) for r in watch] == [
        ("shop-b", "web", True),
        ("shop-b", "down", False),
    ]
    assert watch[0].path() == "/apis/apps/v1/namespaces/shop-b/deployments"


def status_after(*workloads: WorkloadReadiness) -> RestoreStatus:
    status = RestoreStatus(phase=Phase.completed)
    readiness.record(status, list(workloads))
    return status


def test_a_workload_ready_in_the_backup_that_does_not_come_back_fails_the_restore_partly() -> None:
    stuck = WorkloadReadiness(
        kind="Deployment", namespace="shop", name="web", ready=False, reason="exceeded quota"
    )
    status = status_after(stuck)
    assert status.phase is Phase.partially_failed
    assert [(e.resource, e.namespace, e.name, e.message) for e in status.errors] == [
        ("deployment", "shop", "web", "not ready: exceeded quota")
    ]


def test_a_workload_that_was_not_ready_in_the_backup_either_is_only_a_warning() -> None:
    stuck = WorkloadReadiness(
        kind="Job", namespace="shop", name="m", ready=False, was_ready=False, reason="running"
    )
    ready = WorkloadReadiness(kind="Deployment", namespace="shop", name="web", ready=True)
    status = status_after(stuck, ready)
    assert status.phase is Phase.completed
    assert status.errors == []
    assert [w.message for w in status.warnings] == [
        "not ready: running (it was not ready in the backup either)"
    ]
    assert status.workloads == [stuck, ready]


def test_one_type_waiting_in_many_namespaces_is_read_with_one_list_across_them() -> None:
    namespaces = [f"team-{n}" for n in range(readiness.MANY_NAMESPACES + 1)]
    everywhere = [deployment("web", 1, namespace=ns) for ns in namespaces]
    server = Server({"/apis/apps/v1/deployments": everywhere})
    waited = readiness.wait_ready(
        server.kube, [restored("web", ns) for ns in namespaces], timeout=5
    )
    assert all(w.ready for w in waited)
    assert server.gets() == ["/apis/apps/v1/deployments"]


def test_where_listing_across_namespaces_is_forbidden_each_namespace_is_listed() -> None:
    namespaces = [f"team-{n}" for n in range(readiness.MANY_NAMESPACES + 1)]
    lists = {DEPLOYMENTS.format(ns): [deployment("web", 1, namespace=ns)] for ns in namespaces}
    server = Server(lists, forbidden=("/apis/apps/v1/deployments",))
    waited = readiness.wait_ready(
        server.kube, [restored("web", ns) for ns in namespaces], timeout=5
    )
    assert all(w.ready for w in waited)
    assert server.gets() == [
        "/apis/apps/v1/deployments",
        *(DEPLOYMENTS.format(ns) for ns in namespaces),
    ]


def test_a_service_waits_on_when_its_endpoints_and_pods_cannot_be_read() -> None:
    web = {"metadata": {"name": "web", "namespace": "shop"}, "spec": {"selector": {"app": "web"}}}
    server = Server(
        {"/api/v1/namespaces/shop/services": [web]},
        forbidden=(
            "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices",
            "/api/v1/namespaces/shop/pods",
            "/api/v1/namespaces/shop/events",
        ),
    )
    service = Restored("", "v1", "Service", "services", "shop", "web")
    (w,) = readiness.wait_ready(server.kube, [service], timeout=0.1, poll=0.05)
    assert not w.ready
    assert w.reason == "no ready endpoints: no ready pod matches its selector app=web"


def test_the_most_telling_event_is_why_pods_are_not_made_then_not_scheduled() -> None:
    said = [
        "Pod/web-1: FailedScheduling: 0/3 nodes are available",
        "ReplicaSet/web-5d8f: FailedCreate: Error creating: pods is forbidden: exceeded quota",
        "Pod/web-1: BackOff: Back-off pulling image",
    ]
    assert events.most_telling(said) == said[1]
    assert events.most_telling([said[0], said[2]]) == said[0]
    assert events.most_telling([said[2]]) == said[2]
    assert events.gist(said[1]) == "pods is forbidden: exceeded quota"


def _owned(kind: str, name: str, uid: str, owner: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "metadata": {"name": name, "uid": uid, "ownerReferences": [{"uid": owner}]},
    }


def _warning(kind: str, name: str, uid: str, reason: str, at: str) -> dict[str, Any]:
    return {
        "type": "Warning",
        "reason": reason,
        "message": f"{reason} of {name}",
        "lastTimestamp": at,
        "involvedObject": {"kind": kind, "name": name, "uid": uid},
    }


def test_each_stuck_workload_gets_the_warnings_of_its_replicasets_and_pods_only() -> None:
    ns = "/api/v1/namespaces/shop"
    server = Server(
        {
            f"{ns}/events": [
                _warning("ReplicaSet", "web-1", "rs-web", "FailedCreate", "2026-01-01T00:00:02Z"),
                _warning("Pod", "web-1-a", "pod-web", "FailedScheduling", "2026-01-01T00:00:01Z"),
                _warning("ReplicaSet", "api-1", "rs-api", "FailedCreate", "2026-01-01T00:00:03Z"),
                {
                    **_warning("Pod", "x", "pod-x", "Other", "2026-01-01T00:00:04Z"),
                    "type": "Normal",
                },
            ],
            "/apis/apps/v1/namespaces/shop/replicasets": [
                _owned("ReplicaSet", "web-1", "rs-web", "dep-web"),
                _owned("ReplicaSet", "api-1", "rs-api", "dep-api"),
            ],
            f"{ns}/pods": [_owned("Pod", "web-1-a", "pod-web", "rs-web")],
        }
    )
    web, api, idle = (
        {"kind": "Deployment", "metadata": {"name": n, "uid": u}}
        for n, u in (("web", "dep-web"), ("api", "dep-api"), ("idle", "dep-idle"))
    )
    found = events.of_workloads(server.kube, "shop", [web, api, idle])
    assert found == [
        [
            "Pod/web-1-a: FailedScheduling: FailedScheduling of web-1-a",
            "ReplicaSet/web-1: FailedCreate: FailedCreate of web-1",
        ],
        ["ReplicaSet/api-1: FailedCreate: FailedCreate of api-1"],
        [],
    ]
