"""The applier's decisions, against a tiny in-memory API server (no cluster)."""

from __future__ import annotations

from typing import Any

import pytest

from backupd.api.restore import Outcome
from backupd.cluster.discovery import ApiResource
from backupd.errors import ClusterConflict, ClusterNotFound, ClusterUnreachable
from backupd.restore.applier import Applier
from backupd.restore.planner import plan, select_entries
from tests.unit.actions.builders import JSON, configmap, deployment, entry, namespace, spec

CONFIGMAPS = ApiResource("", "v1", "configmaps", "ConfigMap", True, frozenset())
NAMESPACES = ApiResource("", "v1", "namespaces", "Namespace", False, frozenset())
DEPLOYMENTS = ApiResource("apps", "v1", "deployments", "Deployment", True, frozenset())


class FakeTargets:
    def __init__(self, *resources: ApiResource) -> None:
        self.by_kind = {(r.group, r.kind): r for r in resources}

    def resolve(self, group: str, version: str, kind: str) -> ApiResource | None:
        return self.by_kind.get((group, kind))


class FakeKube:
    """Objects by path; POST creates (409 if present), PATCH merges one level deep."""

    def __init__(self, *, down: bool = False) -> None:
        self.objects: dict[str, JSON] = {}
        self.calls: list[tuple[str, str, Any]] = []
        self.down = down
        self.attempts = 0

    def _check(self) -> None:
        self.attempts += 1
        if self.down:
            raise ClusterUnreachable("cannot reach the Kubernetes API server")

    def get(self, path: str, **params: Any) -> JSON:
        self._check()
        if path not in self.objects:
            err = ClusterNotFound(f"GET {path}: 404 not found")
            raise err
        return self.objects[path]

    def request(
        self,
        method: str,
        path: str,
        *,
        body: JSON,
        params: Any = None,
        warnings: list[str] | None = None,
        **_: Any,
    ) -> JSON:
        self._check()
        self.calls.append((method, path, params))
        if warnings is not None and "bogus" in body:  # as the API server drops unknown fields
            warnings.append('unknown field "bogus"')
        if params:  # dryRun=All: validate only
            return {}
        if method == "POST":
            item = f"{path}/{body['metadata']['name']}"
            if item in self.objects:
                err = ClusterConflict(f"POST {path}: 409 already exists")
                err.reason = "AlreadyExists"
                raise err
            self.objects[item] = body
        else:
            for key, value in body.items():
                self.objects[path].setdefault(key, {}).update(value)
        return {}


def run(kube: FakeKube, *objects: JSON, **kwargs: Any) -> dict[str, Outcome]:
    s = spec(**kwargs)
    pairs = [(entry(o), o) for o in objects]
    selection = select_entries([e for e, _ in pairs], s)
    the_plan = plan(pairs, selection, s)
    targets = FakeTargets(CONFIGMAPS, NAMESPACES, DEPLOYMENTS)
    results = Applier(kube, targets, s, workers=2).apply(the_plan)  # type: ignore[arg-type]
    return {r.name: r.outcome for r in results}


def test_missing_objects_are_created_in_tier_order() -> None:
    kube = FakeKube()
    assert run(kube, configmap("cfg"), namespace("shop")) == {
        "shop": Outcome.created,
        "cfg": Outcome.created,
    }
    assert [c[1] for c in kube.calls] == [
        "/api/v1/namespaces",
        "/api/v1/namespaces/shop/configmaps",
    ]


def test_existing_objects_are_compared_then_left_alone_or_updated() -> None:
    kube = FakeKube()
    run(kube, namespace("shop"), configmap("same", a="1"), configmap("changed", a="1"))
    kube.objects["/api/v1/namespaces/shop/configmaps/changed"]["data"] = {"a": "2"}

    assert run(kube, configmap("same", a="1"), configmap("changed", a="1")) == {
        "shop": Outcome.unchanged,
        "same": Outcome.unchanged,
        "changed": Outcome.differs,
    }
    outcomes = run(kube, configmap("changed", a="1"), existing_resource_policy="update")
    assert outcomes["changed"] is Outcome.updated
    assert kube.objects["/api/v1/namespaces/shop/configmaps/changed"]["data"] == {"a": "1"}


def test_dry_run_validates_and_writes_nothing() -> None:
    kube = FakeKube()
    assert run(kube, namespace("shop"), configmap("cfg"), dry_run=True) == {
        "shop": Outcome.created,
        "cfg": Outcome.created,
    }
    assert kube.objects == {}
    assert all(params == {"dryRun": "All"} for _, _, params in kube.calls)


def test_a_type_the_target_does_not_serve_fails_that_item_only() -> None:
    kube = FakeKube()
    widget = configmap("w")
    widget["apiVersion"], widget["kind"] = "example.com/v1", "Widget"
    outcomes = run(kube, namespace("shop"), widget, deployment("web"))
    assert outcomes == {"shop": Outcome.created, "w": Outcome.failed, "web": Outcome.created}


def test_an_unreachable_server_fails_fast_instead_of_retrying_every_item() -> None:
    kube = FakeKube(down=True)
    objects = [configmap(f"c{i}") for i in range(50)]
    outcomes = run(kube, namespace("shop"), *objects)
    assert set(outcomes.values()) == {Outcome.failed}
    assert kube.attempts == 1  # the Namespace; then the restore stopped trying


def test_every_item_of_a_large_tier_gets_exactly_one_result() -> None:
    kube = FakeKube()
    s = spec()
    objects = [namespace("shop"), *(configmap(f"c{i:03d}") for i in range(300))]
    pairs = [(entry(o), o) for o in objects]
    the_plan = plan(pairs, select_entries([e for e, _ in pairs], s), s)
    targets = FakeTargets(CONFIGMAPS, NAMESPACES)
    results = Applier(kube, targets, s, workers=8).apply(the_plan)  # type: ignore[arg-type]
    assert sorted(r.name for r in results) == sorted(o["metadata"]["name"] for o in objects)
    assert {r.outcome for r in results} == {Outcome.created}
    assert len(kube.objects) == 301


class BuggyKube(FakeKube):
    def request(self, method: str, path: str, *, body: JSON, **kw: Any) -> JSON:
        if body["metadata"]["name"] == "c7":
            raise RuntimeError("a bug, not a cluster error")
        return super().request(method, path, body=body, **kw)


def test_a_bug_in_a_worker_is_raised_not_lost() -> None:
    with pytest.raises(RuntimeError, match="a bug"):
        run(BuggyKube(), namespace("shop"), *(configmap(f"c{i}") for i in range(20)))


def test_a_failing_result_callback_is_raised_not_a_hang() -> None:
    s = spec()
    objects = [namespace("shop"), *(configmap(f"c{i}") for i in range(20))]
    pairs = [(entry(o), o) for o in objects]
    the_plan = plan(pairs, select_entries([e for e, _ in pairs], s), s)
    applier = Applier(FakeKube(), FakeTargets(CONFIGMAPS, NAMESPACES), s, workers=4)  # type: ignore[arg-type]

    def progress(r: Any) -> None:
        if r.name == "c3":
            raise ValueError("the progress bar broke")

    with pytest.raises(ValueError, match="progress bar"):
        applier.apply(the_plan, progress)


def test_the_api_servers_warnings_are_kept_on_the_item() -> None:
    s = spec()
    odd = configmap("odd")
    odd["bogus"] = 1
    pairs = [(entry(o), o) for o in (namespace("shop"), odd, configmap("fine"))]
    the_plan = plan(pairs, select_entries([e for e, _ in pairs], s), s)
    targets = FakeTargets(CONFIGMAPS, NAMESPACES)
    results = Applier(FakeKube(), targets, s, workers=2).apply(the_plan)  # type: ignore[arg-type]
    assert {r.name: r.warnings for r in results} == {
        "shop": [],
        "odd": ['unknown field "bogus"'],
        "fine": [],
    }
