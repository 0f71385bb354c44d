"""When is a restored workload ready, and was it in the backup? backupd.kinds.readiness."""

from __future__ import annotations

from typing import Any

import pytest

from backupd.kinds import readiness as rules

JSON = dict[str, Any]


# -- builders --------------------------------------------------------------------------


def obj(
    kind: str, *, generation: int = 1, labels: dict[str, str] | None = None, **parts: Any
) -> JSON:
    meta: JSON = {"name": "x", "namespace": "shop", "generation": generation}
    if labels:
        meta["labels"] = labels
    return {"kind": kind, "metadata": meta, **parts}


def deployment(wanted: int = 2, *, observed: int = 1, generation: int = 1, **status: Any) -> JSON:
    return obj(
        "Deployment",
        generation=generation,
        spec={"replicas": wanted, "template": {"metadata": {"labels": {"app": "web"}}}},
        status={"observedGeneration": observed, **status},
    )


def condition(kind: str, status: str, reason: str = "", message: str = "") -> JSON:
    return {"type": kind, "status": status, "reason": reason, "message": message}


def pod(*, ready: bool = True, phase: str = "Running", app: str = "web") -> JSON:
    conditions = [condition("Ready", "True" if ready else "False")]
    return obj("Pod", labels={"app": app}, status={"phase": phase, "conditions": conditions})


def service(selector: dict[str, str] | None = None, kind: str = "ClusterIP") -> JSON:
    spec: JSON = {"type": kind}
    if selector is not None:
        spec["selector"] = selector
    return obj("Service", spec=spec)


def slice_of(*ready: bool | None) -> JSON:
    endpoints = [{"addresses": ["10.0.0.1"], "conditions": {"ready": r}} for r in ready]
    return {
        "kind": "EndpointSlice",
        "metadata": {"labels": {rules.SERVICE_NAME_LABEL: "x"}},
        "endpoints": endpoints,
    }


# -- Deployments, StatefulSets, DaemonSets -----------------------------------------------


@pytest.mark.parametrize(
    ("live", "ready", "said"),
    [
        (deployment(2, replicas=2, updatedReplicas=2, availableReplicas=2), True, None),
        (deployment(2, replicas=2, updatedReplicas=2, availableReplicas=1), False, "1/2 available"),
        (deployment(2, replicas=3, updatedReplicas=2, availableReplicas=2), False, "2 updated"),
        (deployment(2, observed=1, generation=2), False, "not seen the latest spec"),
        (deployment(0, observed=0, generation=1), True, None),
        (
            deployment(
                1,
                conditions=[
                    condition(
                        "ReplicaFailure",
                        "True",
                        "FailedCreate",
                        'pods "w" is forbidden: exceeded quota',
                    )
                ],
            ),
            False,
            'FailedCreate: pods "w" is forbidden: exceeded quota',
        ),
        (
            deployment(
                1, conditions=[condition("Progressing", "False", "ProgressDeadlineExceeded")]
            ),
            False,
            "ProgressDeadlineExceeded",
        ),
    ],
    ids=[
        "rolled-out",
        "one-unavailable",
        "old-replica-left",
        "stale",
        "scaled-to-zero",
        "quota",
        "deadline",
    ],
)
def test_a_deployment_is_ready_once_rolled_out(live: JSON, ready: bool, said: str | None) -> None:
    verdict = rules.judge("apps", "Deployment", live)
    assert verdict.ready is ready
    if said is not None:
        assert verdict.reason is not None and said in verdict.reason


def test_a_stateful_set_needs_every_replica_ready_and_updated() -> None:
    def sts(**status: Any) -> JSON:
        return obj("StatefulSet", spec={"replicas": 2}, status={"observedGeneration": 1, **status})

    assert rules.judge(
        "apps", "StatefulSet", sts(readyReplicas=2, availableReplicas=2, updatedReplicas=2)
    ).ready
    half = rules.judge(
        "apps", "StatefulSet", sts(readyReplicas=1, availableReplicas=1, updatedReplicas=2)
    )
    assert not half.ready and half.reason == "1/2 available, 2 updated"
    on_delete = obj(
        "StatefulSet",
        spec={"replicas": 1, "updateStrategy": {"type": "OnDelete"}},
        status={"observedGeneration": 1, "readyReplicas": 1},
    )
    assert rules.judge("apps", "StatefulSet", on_delete).ready


def test_a_daemon_set_is_ready_when_every_node_runs_an_updated_available_pod() -> None:
    def ds(desired: int, updated: int, available: int) -> JSON:
        status = {
            "observedGeneration": 1,
            "desiredNumberScheduled": desired,
            "updatedNumberScheduled": updated,
            "numberAvailable": available,
        }
        return obj("DaemonSet", status=status)

    assert rules.judge("apps", "DaemonSet", ds(3, 3, 3)).ready
    assert rules.judge("apps", "DaemonSet", ds(0, 0, 0)).ready
    assert rules.judge("apps", "DaemonSet", ds(3, 3, 2)).reason == "2/3 nodes available, 3 updated"


# -- Jobs, claims, pods --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "spec", "ready", "said"),
    [
        ({"conditions": [condition("Complete", "True")]}, {}, True, None),
        (
            {"conditions": [condition("Failed", "True", "BackoffLimitExceeded")]},
            {},
            False,
            "failed: BackoffLimitExceeded",
        ),
        ({"active": 1}, {}, False, "not complete (1 active, 0 succeeded)"),
        ({}, {"suspend": True}, False, "suspended"),
    ],
    ids=["complete", "failed", "running", "suspended"],
)
def test_a_job_is_ready_when_complete(
    status: JSON, spec: JSON, ready: bool, said: str | None
) -> None:
    verdict = rules.judge("batch", "Job", obj("Job", spec=spec, status=status))
    assert (verdict.ready, verdict.reason) == (ready, said)


def test_a_job_that_was_running_in_the_backup_was_not_ready() -> None:
    running = obj("Job", status={"active": 1})
    complete = obj("Job", status={"conditions": [condition("Complete", "True")]})
    assert rules.was_ready("batch", "Job", running) is False
    assert rules.was_ready("batch", "Job", complete) is True


def test_a_claim_is_ready_when_bound() -> None:
    assert rules.judge(
        "", "PersistentVolumeClaim", obj("PersistentVolumeClaim", status={"phase": "Bound"})
    ).ready
    pending = rules.judge(
        "", "PersistentVolumeClaim", obj("PersistentVolumeClaim", status={"phase": "Pending"})
    )
    assert (pending.ready, pending.reason) == (False, "Pending, not Bound")


def test_a_pod_is_ready_running_and_ready_or_succeeded() -> None:
    assert rules.judge("", "Pod", pod()).ready
    assert rules.judge("", "Pod", pod(ready=False, phase="Succeeded")).ready
    assert rules.judge("", "Pod", pod(ready=False)).reason == "Running, not Ready"
    unscheduled = obj(
        "Pod",
        status={
            "phase": "Pending",
            "conditions": [condition("PodScheduled", "False", "Unschedulable", "0/3 nodes")],
        },
    )
    assert (
        rules.judge("", "Pod", unscheduled).reason
        == "Pending, not scheduled: Unschedulable: 0/3 nodes"
    )


# -- Services --------------------------------------------------------------------------------


def test_a_service_is_ready_with_a_ready_endpoint() -> None:
    web = service({"app": "web"})
    assert rules.judge("", "Service", web, [slice_of(False, None)]).ready  # unset means ready
    assert not rules.judge("", "Service", web, [slice_of(False)]).ready
    endpoints = {"kind": "Endpoints", "subsets": [{"addresses": [{"ip": "10.0.0.1"}]}]}
    assert rules.judge("", "Service", web, [endpoints]).ready


def test_a_service_without_endpoints_is_ready_when_a_pod_it_selects_is() -> None:
    web = service({"app": "web"})
    assert rules.judge("", "Service", web, [], [pod(app="web")]).ready
    verdict = rules.judge("", "Service", web, [], [pod(app="db"), pod(app="web", ready=False)])
    assert not verdict.ready
    assert verdict.reason == "no ready endpoints: no ready pod matches its selector app=web"


def test_a_service_without_a_selector_has_nothing_to_wait_for() -> None:
    assert rules.judge("", "Service", service()).ready
    assert rules.judge("", "Service", service({"app": "web"}, kind="ExternalName")).ready


def test_a_service_was_ready_when_the_backup_held_ready_endpoints_or_pods_for_it() -> None:
    web = service({"app": "web"})
    assert rules.was_ready("", "Service", web, [slice_of(True)], [])
    assert rules.was_ready("", "Service", web, [slice_of()], [pod(app="web")])
    assert not rules.was_ready("", "Service", web, [slice_of()], [pod(app="db")])
    assert rules.was_ready("", "Service", web, None, None)  # the backup holds neither


def test_a_service_serves_the_pods_of_a_workload_its_selector_selects() -> None:
    assert rules.serves(service({"app": "web"}), deployment())
    assert not rules.serves(service({"app": "db"}), deployment())
    assert not rules.serves(service(), deployment())


# -- custom resources, and the rest ------------------------------------------------------------


@pytest.mark.parametrize(
    ("conditions", "ready", "said"),
    [
        ([], True, None),
        ([condition("Ready", "True")], True, None),
        (
            [condition("Ready", "False", "Pending", "waiting for the database")],
            False,
            "Ready is False: Pending: waiting for the database",
        ),
        ([condition("Available", "Unknown")], False, "Available is Unknown"),
        ([condition("Synced", "False")], True, None),
    ],
    ids=["no-status", "ready", "not-ready", "unknown", "other-condition"],
)
def test_a_custom_resource_is_accepted_unless_a_ready_condition_holds_it_back(
    conditions: list[JSON], ready: bool, said: str | None
) -> None:
    widget = obj("Widget", status={"conditions": conditions})
    verdict = rules.judge("shop.example.com", "Widget", widget)
    assert (verdict.ready, verdict.reason) == (ready, said)


@pytest.mark.parametrize(
    ("group", "kind", "watched"),
    [
        ("apps", "Deployment", True),
        ("", "Service", True),
        ("", "ConfigMap", False),
        ("rbac.authorization.k8s.io", "Role", False),
        ("shop.example.com", "Widget", True),
        ("apps", "ReplicaSet", False),
    ],
)
def test_which_kinds_are_waited_for(group: str, kind: str, watched: bool) -> None:
    assert rules.watched(group, kind) is watched


def test_what_the_backup_does_not_hold_or_holds_without_status_counts_as_ready() -> None:
    assert rules.was_ready("apps", "Deployment", None)
    assert rules.was_ready("apps", "Deployment", obj("Deployment", spec={"replicas": 2}))
    assert not rules.was_ready("apps", "Deployment", deployment(2, availableReplicas=0))


def test_endpoints_name_their_service() -> None:
    assert rules.endpoints_of(slice_of()) == ("", "x")
    endpoints = {"kind": "Endpoints", "metadata": {"name": "web", "namespace": "shop"}}
    assert rules.endpoints_of(endpoints) == ("shop", "web")
    assert rules.endpoints_of({"kind": "EndpointSlice", "metadata": {}}) is None
