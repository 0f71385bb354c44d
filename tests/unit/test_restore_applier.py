"""The applier's decisions, against a tiny in-memory API server (no cluster)."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client as k8s_client

from backupd.api.restore import ItemResult, Outcome
from backupd.cluster.client import KubeClient
from backupd.cluster.discovery import ApiResource
from backupd.cluster.fake import FakeTransport, Step, json_reply, status_reply
from backupd.cluster.transport import ReplyLost
from backupd.errors import (
    ClusterConflict,
    ClusterInvalid,
    ClusterNotFound,
    ClusterTimeout,
    ClusterUnauthorized,
    ClusterUnreachable,
)
from backupd.restore.applier import REPLACE_ATTEMPTS, Applier
from backupd.restore.planner import plan, select_entries
from tests.unit.actions.builders import JSON, configmap, deployment, entry, namespace, pod, spec

VERBS = frozenset({"create", "get", "list", "update", "patch", "delete"})
CONFIGMAPS = ApiResource("", "v1", "configmaps", "ConfigMap", True, VERBS)
NAMESPACES = ApiResource("", "v1", "namespaces", "Namespace", False, VERBS)
DEPLOYMENTS = ApiResource("apps", "v1", "deployments", "Deployment", True, VERBS)
PODS = ApiResource("", "v1", "pods", "Pod", True, VERBS)
DRY_RUN = {"dryRun": "All"}


class FakeTargets:
    def __init__(self, *resources: ApiResource) -> None:
        self.by_kind = {(r.group, r.kind): r for r in resources}

    def resolve(self, group: str, version: str, kind: str) -> ApiResource | None:
        return self.by_kind.get((group, kind))


def conflict(reason: str) -> ClusterConflict:
    err = ClusterConflict(f"409 {reason}")
    err.reason = reason
    return err


def timed_out() -> ClusterTimeout:
    err = ClusterTimeout("no reply within 60s")
    err.sent = True
    return err


class FakeKube:
    """Objects by path, stored as an API server would: a uid, a resourceVersion, defaults.

    POST creates (409 AlreadyExists if present); PUT replaces at the current
    resourceVersion (409 Conflict otherwise) and keeps the status (and a Namespace's
    spec); dryRun=All returns
    what would be stored and writes nothing. Pods refuse a replace (immutable spec).
    """

    def __init__(self, *, down: bool = False, check_namespaces: bool = False) -> None:
        self.objects: dict[str, JSON] = {}
        self.calls: list[tuple[str, str, Any]] = []
        self.down = down
        self.check_namespaces = check_namespaces
        self.attempts = 0
        self.versions = itertools.count(100)
        self.lose_reply: Callable[[str, JSON], bool] = lambda method, body: False
        self.before_put: Callable[[str], None] = lambda path: None

    def _check(self) -> None:
        self.attempts += 1
        if self.down:
            raise ClusterUnreachable("cannot reach the Kubernetes API server")

    def stored(self, body: JSON, old: JSON | None = None) -> JSON:
        obj = copy.deepcopy(body)
        meta = obj["metadata"]
        meta["uid"] = old["metadata"]["uid"] if old else f"uid-{next(self.versions)}"
        meta["resourceVersion"] = str(next(self.versions))
        meta["managedFields"] = [{"manager": "fake", "operation": "Update"}]
        if obj["kind"] == "Deployment":  # defaults, as the real server adds them
            obj["spec"].setdefault("progressDeadlineSeconds", 600)
            for c in obj["spec"]["template"]["spec"]["containers"]:
                c.setdefault("terminationMessagePath", "/dev/termination-log")
        obj.pop("status", None)
        if old is not None and "status" in old:
            obj["status"] = old["status"]
        if old is not None and obj["kind"] == "Namespace":  # finalizers change via /finalize
            obj["spec"] = old.get("spec", {})
        return obj

    def get(self, path: str, **params: Any) -> JSON:
        self._check()
        self.calls.append(("GET", path, params or None))
        if path not in self.objects:
            raise ClusterNotFound(f"GET {path}: 404 not found")
        return copy.deepcopy(self.objects[path])

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
        dry = params == DRY_RUN
        if method == "POST":
            return self._create(path, body, dry)
        if method == "PUT":
            return self._replace(path, body, dry)
        for key, value in body.items():  # a merge PATCH, one level deep
            self.objects[path].setdefault(key, {}).update(value)
        return {}

    def _create(self, path: str, body: JSON, dry: bool) -> JSON:
        ns = body["metadata"].get("namespace")
        if self.check_namespaces and ns and f"/api/v1/namespaces/{ns}" not in self.objects:
            err = ClusterNotFound(f'POST {path}: 404 namespaces "{ns}" not found')
            err.details = {"kind": "namespaces", "name": ns}
            raise err
        item = f"{path}/{body['metadata']['name']}"
        if item in self.objects:
            raise conflict("AlreadyExists")
        obj = self.stored(body)
        if not dry:
            self.objects[item] = obj
            if self.lose_reply("POST", body):
                raise timed_out()
        return obj

    def _replace(self, path: str, body: JSON, dry: bool) -> JSON:
        if not dry:
            self.before_put(path)
        current = self.objects[path]
        if body["kind"] == "Pod":
            err = ClusterInvalid(f"PUT {path}: 422 pod updates may not change fields")
            err.reason = "Invalid"
            raise err
        if body["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise conflict("Conflict")
        obj = self.stored(body, current)
        if not dry:
            self.objects[path] = obj
            if self.lose_reply("PUT", body):
                raise timed_out()
        return obj


TARGETS = FakeTargets(CONFIGMAPS, NAMESPACES, DEPLOYMENTS, PODS)
WEB = "/apis/apps/v1/namespaces/shop/deployments/web"
CFG = "/api/v1/namespaces/shop/configmaps/cfg"


def results(kube: FakeKube, *objects: JSON, **kwargs: Any) -> dict[str, ItemResult]:
    s = spec(**kwargs)
    pairs = [(entry(o), o) for o in objects]
    the_plan = plan(pairs, select_entries([e for e, _ in pairs], s), s)
    applied = Applier(kube, TARGETS, s, workers=2).apply(the_plan)  # type: ignore[arg-type]
    return {r.name: r for r in applied}


def run(kube: FakeKube, *objects: JSON, **kwargs: Any) -> dict[str, Outcome]:
    return {name: r.outcome for name, r in results(kube, *objects, **kwargs).items()}


def with_env(d: JSON, **env: str) -> JSON:
    d["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": k, "value": v} for k, v in env.items()
    ]
    return d


def test_missing_objects_are_created_in_tier_order_with_one_request_each() -> None:
    kube = FakeKube()
    assert run(kube, configmap("cfg"), namespace("shop")) == {
        "shop": Outcome.created,
        "cfg": Outcome.created,
    }
    assert [c[:2] for c in kube.calls] == [
        ("POST", "/api/v1/namespaces"),
        ("POST", "/api/v1/namespaces/shop/configmaps"),
    ]


def test_an_unchanged_existing_object_costs_one_dry_run_replace_more() -> None:
    kube = FakeKube()
    run(kube, namespace("shop"), deployment("web"))
    kube.calls.clear()
    assert run(kube, deployment("web")) == {"shop": Outcome.unchanged, "web": Outcome.unchanged}
    web_calls = [(m, p) for m, path, p in kube.calls if path.startswith(WEB.rsplit("/", 1)[0])]
    assert [m for m, _ in web_calls] == ["POST", "GET", "PUT"]
    assert web_calls[-1][1] == DRY_RUN


def test_existing_objects_are_compared_then_left_alone_or_replaced() -> None:
    kube = FakeKube()
    run(kube, namespace("shop"), configmap("same", a="1"), configmap("changed", a="1"))
    kube.objects["/api/v1/namespaces/shop/configmaps/changed"]["data"] = {"a": "2", "new": "x"}

    assert run(kube, configmap("same", a="1"), configmap("changed", a="1")) == {
        "shop": Outcome.unchanged,
        "same": Outcome.unchanged,
        "changed": Outcome.differs,
    }
    outcomes = run(kube, configmap("changed", a="1"), existing_resource_policy="update")
    assert outcomes["changed"] is Outcome.updated
    assert kube.objects["/api/v1/namespaces/shop/configmaps/changed"]["data"] == {"a": "1"}


def test_a_field_added_to_the_live_object_differs_and_update_removes_it() -> None:
    kube = FakeKube()
    run(kube, namespace("shop"), deployment("web"))
    with_env(kube.objects[WEB], DEBUG="1")  # added after the backup

    left_alone = results(kube, deployment("web"))["web"]
    assert left_alone.outcome is Outcome.differs
    assert left_alone.diff is not None and "-        - name: DEBUG" in left_alone.diff
    assert "env" in kube.objects[WEB]["spec"]["template"]["spec"]["containers"][0]

    updated = results(kube, deployment("web"), existing_resource_policy="update")["web"]
    assert updated.outcome is Outcome.updated
    assert "env" not in kube.objects[WEB]["spec"]["template"]["spec"]["containers"][0]
    assert run(kube, deployment("web"))["web"] is Outcome.unchanged


def test_a_replace_keeps_the_status_and_uid_the_server_owns() -> None:
    kube = FakeKube()
    run(kube, namespace("shop"), deployment("web", replicas=2))
    kube.objects[WEB]["spec"]["replicas"] = 5
    kube.objects[WEB]["status"] = {"readyReplicas": 5}
    uid = kube.objects[WEB]["metadata"]["uid"]

    run(kube, deployment("web", replicas=2), existing_resource_policy="update")

    assert kube.objects[WEB]["spec"]["replicas"] == 2
    assert kube.objects[WEB]["status"] == {"readyReplicas": 5}
    assert kube.objects[WEB]["metadata"]["uid"] == uid


def test_an_object_changed_during_the_replace_is_compared_again_from_a_fresh_read() -> None:
    kube = FakeKube()
    run(kube, namespace("shop"), configmap("cfg", a="1"))
    kube.objects[CFG]["data"] = {"a": "2"}
    changes = iter([{"a": "3"}])

    def someone_else_writes(path: str) -> None:
        for data in changes:  # once: bump the resourceVersion under the restore
            kube.objects[CFG] = kube.stored({**kube.objects[CFG], "data": data})

    kube.before_put = someone_else_writes
    r = results(kube, configmap("cfg", a="1"), existing_resource_policy="update")["cfg"]

    assert r.outcome is Outcome.updated
    assert kube.objects[CFG]["data"] == {"a": "1"}
    assert r.diff is not None and "-  a: '3'" in r.diff  # the diff is against the fresh read
    assert [m for m, path, _ in kube.calls if path == CFG].count("GET") == 2


def test_an_object_that_keeps_changing_fails_after_a_few_attempts() -> None:
    kube = FakeKube()
    run(kube, namespace("shop"), configmap("cfg", a="1"))
    kube.objects[CFG]["data"] = {"a": "2"}
    kube.before_put = lambda path: kube.objects.update(
        {path: kube.stored(kube.objects[path], kube.objects[path])}
    )

    r = results(kube, configmap("cfg", a="1"), existing_resource_policy="update")["cfg"]

    assert r.outcome is Outcome.failed
    assert r.reason == f"it changed while being replaced, {REPLACE_ATTEMPTS} times: 409 Conflict"
    real_puts = [c for c in kube.calls if c[0] == "PUT" and c[1] == CFG and c[2] is None]
    assert len(real_puts) == REPLACE_ATTEMPTS


def test_a_kind_the_server_will_not_replace_is_compared_on_the_backups_fields() -> None:
    kube = FakeKube()
    run(kube, namespace("shop"), pod("solo"))
    path = "/api/v1/namespaces/shop/pods/solo"
    kube.objects[path]["spec"]["containers"][0]["image"] = "app:2"

    left_alone = results(kube, pod("solo"))["solo"]
    assert left_alone.outcome is Outcome.differs
    assert left_alone.reason is not None and "compared on the backup's fields only" in (
        left_alone.reason
    )
    assert left_alone.diff is not None and "+  - image: app:1" in left_alone.diff

    update = results(kube, pod("solo"), existing_resource_policy="update")["solo"]
    assert update.outcome is Outcome.failed
    assert update.reason is not None and "cannot be replaced: 422" in update.reason
    assert kube.objects[path]["spec"]["containers"][0]["image"] == "app:2"


def test_dry_run_validates_and_writes_nothing() -> None:
    kube = FakeKube()
    assert run(kube, namespace("shop"), configmap("cfg"), dry_run=True) == {
        "shop": Outcome.created,
        "cfg": Outcome.created,
    }
    assert kube.objects == {}
    assert all(params == DRY_RUN for m, _, params in kube.calls if m != "GET")


def test_a_dry_run_update_says_what_would_be_replaced_and_writes_nothing() -> None:
    kube = FakeKube()
    run(kube, namespace("shop"), deployment("web"))
    with_env(kube.objects[WEB], DEBUG="1")
    before = copy.deepcopy(kube.objects[WEB])

    r = results(kube, deployment("web"), existing_resource_policy="update", dry_run=True)["web"]

    assert r.outcome is Outcome.updated
    assert r.reason == "would be replaced by the backup's version"
    assert kube.objects[WEB] == before


def test_a_dry_run_into_a_namespace_not_made_yet_is_validated_elsewhere() -> None:
    kube = FakeKube(check_namespaces=True)
    kube.objects["/api/v1/namespaces/default"] = namespace("default")
    r = results(kube, namespace("shop"), configmap("cfg"), dry_run=True)["cfg"]
    assert r.outcome is Outcome.created
    assert r.reason == "validated in namespace default: shop does not exist yet"


def test_a_not_found_is_read_from_the_status_details_not_from_its_message() -> None:
    class Odd(FakeKube):
        def _create(self, path: str, body: JSON, dry: bool) -> JSON:
            if body["kind"] == "ConfigMap":  # the text says namespace; the Status does not
                raise ClusterNotFound(f'POST {path}: 404 namespaces "shop" not found')
            return super()._create(path, body, dry)

    r = results(Odd(), namespace("shop"), configmap("cfg"), dry_run=True)["cfg"]
    assert r.outcome is Outcome.failed


def test_a_create_that_timed_out_and_took_effect_is_created_with_a_note() -> None:
    kube = FakeKube()
    run(kube, namespace("shop"))
    kube.lose_reply = lambda method, body: method == "POST"

    r = results(kube, configmap("cfg", a="1"))["cfg"]

    assert r.outcome is Outcome.created
    assert (
        r.reason == "the create timed out; the object was found afterwards and matches the backup"
    )
    cfg_posts = [c for c in kube.calls if c[:2] == ("POST", "/api/v1/namespaces/shop/configmaps")]
    assert len(cfg_posts) == 1  # never re-sent


def test_a_create_that_timed_out_without_effect_fails_and_says_so() -> None:
    class Lost(FakeKube):
        def _create(self, path: str, body: JSON, dry: bool) -> JSON:
            if body["kind"] == "ConfigMap":
                raise timed_out()  # the server never acted on it
            return super()._create(path, body, dry)

    kube = Lost()
    r = results(kube, namespace("shop"), configmap("cfg"))["cfg"]

    assert r.outcome is Outcome.failed
    assert r.reason == "the create timed out and the object does not exist"
    assert CFG not in kube.objects


def test_a_create_that_timed_out_and_finds_a_different_object_reports_it_differs() -> None:
    class Raced(FakeKube):
        def _create(self, path: str, body: JSON, dry: bool) -> JSON:
            if body["kind"] == "ConfigMap":  # another writer got there first
                self.objects[CFG] = self.stored({**body, "data": {"a": "theirs"}})
                raise timed_out()
            return super()._create(path, body, dry)

    r = results(Raced(), namespace("shop"), configmap("cfg", a="1"))["cfg"]

    assert r.outcome is Outcome.differs
    assert r.reason is not None
    assert r.reason.startswith("the create timed out; an object was found afterwards: exists")
    assert r.diff is not None and "-  a: theirs" in r.diff


def test_a_create_that_timed_out_on_a_silent_server_is_unknown_not_unchanged() -> None:
    class Silent(FakeKube):
        def _create(self, path: str, body: JSON, dry: bool) -> JSON:
            if body["kind"] == "ConfigMap":
                self.down = True
                raise timed_out()
            return super()._create(path, body, dry)

    r = results(Silent(), namespace("shop"), configmap("cfg"))["cfg"]
    assert r.outcome is Outcome.failed
    assert r.reason is not None
    assert r.reason.startswith("the create timed out; whether the object was created is unknown")


def create_through_the_client(*steps: Step) -> tuple[ItemResult, list[str]]:
    """Restore one ConfigMap through the real KubeClient over a scripted transport."""
    cfg = k8s_client.Configuration()
    cfg.host = "https://api.example:6443"
    fake = FakeTransport(*steps)
    s = spec()
    cm = configmap("cfg", a="1")
    the_plan = plan([(entry(cm), cm)], select_entries([entry(cm)], s), s)
    (item,) = [i for i in the_plan.items if i.ref.kind == "ConfigMap"]
    with KubeClient(cfg, transport=fake) as kube:
        r = Applier(kube, TARGETS, s).apply_item(item)  # type: ignore[arg-type]
    return r, [f"{x.method} {x.target}" for x in fake.requests]


LOST = ReplyLost(TimeoutError("timed out"))
GATEWAY_TIMEOUT = status_reply(504, "Timeout", "the server was unable to respond in time")
NOT_FOUND = status_reply(404, "NotFound", 'configmaps "cfg" not found')


@pytest.mark.parametrize("lost", [LOST, GATEWAY_TIMEOUT], ids=["no-reply", "504"])
def test_a_create_lost_on_the_wire_is_read_back_not_sent_again(lost: Step) -> None:
    server_copy = FakeKube().stored(configmap("cfg", a="1"))

    r, sent = create_through_the_client(lost, json_reply(server_copy), json_reply(server_copy))

    assert r.outcome is Outcome.created
    assert (
        r.reason == "the create timed out; the object was found afterwards and matches the backup"
    )
    assert sent == [
        "POST /api/v1/namespaces/shop/configmaps",
        f"GET {CFG}",
        f"PUT {CFG}?dryRun=All",
    ]


def test_a_create_lost_on_the_wire_that_did_nothing_fails_and_says_so() -> None:
    r, sent = create_through_the_client(LOST, NOT_FOUND)
    assert r.outcome is Outcome.failed
    assert r.reason == "the create timed out and the object does not exist"
    assert sent == ["POST /api/v1/namespaces/shop/configmaps", f"GET {CFG}"]


def test_a_replace_that_timed_out_is_checked_not_re_sent() -> None:
    kube = FakeKube()
    run(kube, namespace("shop"), configmap("cfg", a="1"))
    kube.objects[CFG]["data"] = {"a": "2"}
    kube.lose_reply = lambda method, body: method == "PUT"

    r = results(kube, configmap("cfg", a="1"), existing_resource_policy="update")["cfg"]

    assert r.outcome is Outcome.updated
    assert r.reason is not None and r.reason.startswith("the replace timed out")
    assert [m for m, path, p in kube.calls if path == CFG and p is None] == ["GET", "PUT", "GET"]


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


def test_a_refused_credential_fails_fast_instead_of_failing_every_item_alike() -> None:
    kube = FakeKube()

    def refuse() -> None:
        kube.attempts += 1
        raise ClusterUnauthorized("the credential of user admin was refused (401)")

    kube._check = refuse  # type: ignore[method-assign]
    objects = [configmap(f"c{i}") for i in range(50)]
    found = results(kube, namespace("shop"), *objects)
    assert {r.outcome for r in found.values()} == {Outcome.failed}
    assert kube.attempts == 1  # the Namespace; then the restore stopped trying
    assert "refused the credential" in (found["c7"].reason or "")


def test_a_namespace_the_plan_makes_up_is_never_a_difference() -> None:
    kube = FakeKube()
    run(kube, namespace("shop"))
    kube.objects["/api/v1/namespaces/shop"]["metadata"].setdefault("labels", {})["team"] = (
        "payments"
    )

    found = results(kube, configmap("cfg"), existing_resource_policy="update")

    assert found["shop"].outcome is Outcome.unchanged  # not in the backup: nothing to compare
    assert kube.objects["/api/v1/namespaces/shop"]["metadata"]["labels"]["team"] == "payments"
    assert not [c for c in kube.calls if c[0] == "PUT"]


def test_a_dependency_found_unchanged_still_says_why_it_was_restored() -> None:
    kube = FakeKube()
    pc = {
        "apiVersion": "scheduling.k8s.io/v1",
        "kind": "PriorityClass",
        "metadata": {"name": "high"},
        "value": 1000,
    }
    web = deployment("web")
    web["spec"]["template"]["spec"]["priorityClassName"] = "high"
    classes = ApiResource(
        "scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", False, VERBS
    )
    targets = FakeTargets(CONFIGMAPS, NAMESPACES, DEPLOYMENTS, PODS, classes)
    s = spec(included_namespaces=["shop"])
    pairs = [(entry(namespace("shop")), namespace("shop")), (entry(web), web)]
    pairs.append((entry(pc, "priorityclasses"), pc))
    for _ in range(2):  # created, then found unchanged
        the_plan = plan(pairs, select_entries([e for e, _ in pairs], s), s)
        applied = {
            r.name: r
            for r in Applier(kube, targets, s, workers=2).apply(the_plan)  # type: ignore[arg-type]
        }
    assert applied["high"].outcome is Outcome.unchanged
    assert "used by deployment shop/web" in (applied["high"].reason or "")


def test_every_item_of_a_large_tier_gets_exactly_one_result() -> None:
    kube = FakeKube()
    objects = [namespace("shop"), *(configmap(f"c{i:03d}") for i in range(300))]
    outcomes = run(kube, *objects)
    assert sorted(outcomes) == sorted(o["metadata"]["name"] for o in objects)
    assert set(outcomes.values()) == {Outcome.created}
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
    applier = Applier(FakeKube(), TARGETS, s, workers=4)  # type: ignore[arg-type]

    def progress(r: Any) -> None:
        if r.name == "c3":
            raise ValueError("the progress bar broke")

    with pytest.raises(ValueError, match="progress bar"):
        applier.apply(the_plan, progress)


def test_the_api_servers_warnings_are_kept_on_the_item() -> None:
    odd = configmap("odd")
    odd["bogus"] = 1
    r = results(FakeKube(), namespace("shop"), odd, configmap("fine"))
    assert {name: x.warnings for name, x in r.items()} == {
        "shop": [],
        "odd": ['unknown field "bogus"'],
        "fine": [],
    }
