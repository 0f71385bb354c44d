"""The one masking rule (backupd.api.masking) and every output that goes through it:
`backup show`, `backup diff`, the restore's diffs and the text of a refused Secret."""

from __future__ import annotations

import base64
import datetime
import json
from typing import Any

import pytest
from kubernetes import client as k8s_client

from backupd.api.masking import MASK, mask_pair, mask_secret, mask_text, secret_values
from backupd.api.restore import ItemResult, Outcome
from backupd.backup.inspect import field_changes
from backupd.cluster.client import KubeClient
from backupd.cluster.discovery import ApiResource
from backupd.cluster.fake import FakeTransport, status_reply
from backupd.restore.applier import Applier
from backupd.restore.diffing import compare, compare_fields
from backupd.restore.planner import ItemRef, PlannedItem, plan, select_entries
from backupd.restore.report import log_line, secret_masking
from tests.unit.actions import builders

JSON = dict[str, Any]
CANARY = "canary-7f3a9c-do-not-print"
B64 = base64.b64encode(CANARY.encode()).decode()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def applied(**string_data: str) -> str:
    """The annotation `kubectl apply` leaves: the applied manifest, values in clear."""
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "db"},
            "stringData": string_data,
        }
    )


def secret(data: dict[str, str] | None = None, **fields: Any) -> JSON:
    annotations = fields.pop("annotations", None)
    meta: JSON = {"name": "db", "namespace": "shop"}
    if annotations is not None:
        meta["annotations"] = annotations
    out: JSON = {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": "Opaque"}
    if data is not None:
        out["data"] = data
    return {**out, **fields}


def leaks(output: Any, *values: str) -> list[str]:
    text = output if isinstance(output, str) else json.dumps(output)
    return [v for v in (CANARY, B64, *values) if v in text]


# -- one object ------------------------------------------------------------------------
SHOW_CASES = [
    ("data", secret({"password": B64})),
    ("stringData", secret(stringData={"password": CANARY})),
    ("last-applied", secret({"password": B64}, annotations={
        "kubectl.kubernetes.io/last-applied-configuration": applied(password=CANARY)})),
    ("an older value in last-applied", secret({"password": b64("new-value")}, annotations={
        "kubectl.kubernetes.io/last-applied-configuration": applied(password=CANARY)})),
    ("another annotation embedding the value", secret({"password": B64}, annotations={
        "example.com/copy": f"password={CANARY}"})),
    ("an annotation embedding it base64", secret({"password": B64}, annotations={
        "example.com/copy": B64})),
]  # fmt: skip


@pytest.mark.parametrize(("case", "obj"), SHOW_CASES, ids=[c[0] for c in SHOW_CASES])
def test_a_shown_secret_holds_no_value_in_any_form(case: str, obj: JSON) -> None:
    shown = mask_secret(obj)
    assert leaks(shown) == []
    assert leaks(obj)  # the input did hold it: the test can fail
    assert shown["metadata"]["name"] == "db"


def test_masking_keeps_keys_and_harmless_annotations_and_leaves_the_input_alone() -> None:
    obj = secret({"password": B64}, annotations={"team": "payments"})
    shown = mask_secret(obj)
    assert shown["data"] == {"password": MASK}
    assert shown["metadata"]["annotations"] == {"team": "payments"}
    assert obj["data"] == {"password": B64}


def test_other_kinds_are_shown_as_they_are() -> None:
    config = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"password": CANARY}}
    assert mask_secret(config) is config
    assert secret_values(config) == frozenset()


def test_secret_values_are_found_in_every_printable_form() -> None:
    values = secret_values(secret({"password": b64('pa"ss\nword')}, stringData={"token": CANARY}))
    assert {b64('pa"ss\nword'), 'pa"ss\nword', 'pa\\"ss\\nword', CANARY, B64} <= values


def test_short_values_are_not_hunted_in_text() -> None:
    assert secret_values(secret({"flag": b64("on")})) == frozenset({b64("on")})


# -- two versions ----------------------------------------------------------------------
def test_a_pair_says_which_values_changed_never_what() -> None:
    old = secret({"password": B64, "user": b64("admin")})
    new = secret({"password": b64("other-value"), "user": b64("admin")})
    shown_old, shown_new = mask_pair(old, new)
    assert shown_old["data"] == {"password": MASK, "user": MASK}
    assert shown_new["data"] == {"password": f"{MASK} (changed)", "user": MASK}
    assert leaks((shown_old, shown_new), "other-value", b64("other-value")) == []


def test_a_pair_of_other_kinds_is_unchanged() -> None:
    a, b = {"kind": "ConfigMap", "data": {"k": "1"}}, {"kind": "ConfigMap", "data": {"k": "2"}}
    assert mask_pair(a, b) == (a, b)


# `backup diff A B` of a re-applied Secret: each way the annotation can change.
REAPPLIED = [
    ("annotation added by a first apply", secret({"password": b64("old-value")}), secret(
        {"password": B64},
        annotations={"kubectl.kubernetes.io/last-applied-configuration": applied(password=CANARY)},
    )),
    ("annotation changed by a second apply", secret({"password": b64("old-value")}, annotations={
        "kubectl.kubernetes.io/last-applied-configuration": applied(password="old-value")}),
     secret({"password": B64}, annotations={
        "kubectl.kubernetes.io/last-applied-configuration": applied(password=CANARY)})),
    ("data appearing", secret(), secret({"password": B64})),
    ("data going away", secret({"password": B64}), secret()),
    ("stringData", secret(stringData={"password": "old-value"}),
     secret(stringData={"password": CANARY})),
]  # fmt: skip


@pytest.mark.parametrize(("case", "old", "new"), REAPPLIED, ids=[c[0] for c in REAPPLIED])
def test_backup_diff_of_a_reapplied_secret_shows_no_value(case: str, old: JSON, new: JSON) -> None:
    changes = field_changes(old, new)
    assert changes  # something did change
    shown = [(c.path, c.old, c.new) for c in changes]
    assert leaks(repr(shown), "old-value", b64("old-value")) == []


def test_backup_diff_says_a_last_applied_value_changed() -> None:
    _, old, new = REAPPLIED[1]
    path = "metadata.annotations.kubectl.kubernetes.io/last-applied-configuration"
    assert [(c.path, c.old, c.new) for c in field_changes(old, new)] == [
        ("data.password", MASK, f"{MASK} (changed)"),
        (path, MASK, f"{MASK} (changed)"),
    ]


@pytest.mark.parametrize("how", [compare, compare_fields])
def test_the_restore_diff_of_a_changed_live_secret_shows_no_value(how: Any) -> None:
    annotation = "kubectl.kubernetes.io/last-applied-configuration"
    live = secret({"password": b64("live-value")}, annotations={annotation: applied(password="x")})
    backup = secret({"password": B64}, annotations={annotation: applied(password=CANARY)})
    diff = how(live, backup, "secrets/shop/db").diff
    assert f"password: '{MASK} (differs)'" in diff
    assert leaks(diff, "live-value", b64("live-value")) == []


# -- text: the API server's refusal of a Secret ---------------------------------------------
TEXTS = [
    (
        "a value echoed as a Go string",
        f'Secret "db" is invalid: data[.dockerconfigjson]: Invalid value: "{CANARY}": '
        "invalid character 'c' looking for beginning of value",
        f'Secret "db" is invalid: data[.dockerconfigjson]: Invalid value: {MASK}: '
        "invalid character 'c' looking for beginning of value",
    ),
    (
        "a value echoed as Go bytes",
        "data[x]: Invalid value: []byte{0x63, 0x61, 0x6e}: bad",
        f"data[x]: Invalid value: {MASK}: bad",
    ),
    (
        "a quoted value cut short",
        'data[x]: Invalid value: "{\\"auths\\": {\\"reg',
        f"data[x]: Invalid value: {MASK}",
    ),
    ("a value anywhere", f"refused: {CANARY} and {B64}", f"refused: {MASK} and {MASK}"),
    ("nothing to mask", 'namespaces "shop" not found', 'namespaces "shop" not found'),
]


@pytest.mark.parametrize(("case", "text", "expected"), TEXTS, ids=[c[0] for c in TEXTS])
def test_error_text_about_a_secret_holds_no_value(case: str, text: str, expected: str) -> None:
    assert mask_text(text, secret_values(secret({"password": B64}))) == expected


def planned(obj: JSON) -> PlannedItem:
    ref = ItemRef("", "v1", obj["kind"], obj["kind"].lower() + "s", "shop", "db")
    return PlannedItem(ref, ref, 0, obj)


def failed(kind: str, reason: str, diff: str | None = None) -> ItemResult:
    return ItemResult(
        group="", version="v1", kind=kind, resource=kind.lower() + "s", namespace="shop",
        name="db", outcome=Outcome.failed, reason=reason, diff=diff, warnings=[reason],
    )  # fmt: skip


def test_a_failed_secrets_result_and_log_line_hold_no_value() -> None:
    mask = secret_masking([planned(secret({"password": B64}))])
    reason = f'Secret "db" is invalid: data[p]: Invalid value: "{CANARY}x": too long ({B64})'
    r = mask(failed("Secret", reason, diff=f"+ {CANARY}"))
    assert leaks(r.model_dump_json()) == []
    assert leaks(log_line(r, datetime.datetime(2026, 11, 26, tzinfo=datetime.UTC))) == []
    assert r.reason == f'Secret "db" is invalid: data[p]: Invalid value: {MASK}: too long ({MASK})'


def test_other_kinds_results_are_kept_as_the_server_said() -> None:
    mask = secret_masking([planned(secret({"password": B64}))])
    r = failed("ConfigMap", 'data[x]: Invalid value: "a b": bad key')
    assert mask(r) is r


class SecretsOnly:
    """The target's types: Secrets and Namespaces."""

    def resolve(self, group: str, version: str, kind: str) -> ApiResource | None:
        verbs = frozenset({"create", "get", "update"})
        return {
            "Secret": ApiResource("", "v1", "secrets", "Secret", True, verbs),
            "Namespace": ApiResource("", "v1", "namespaces", "Namespace", False, verbs),
        }.get(kind)


def test_a_secret_the_api_server_refuses_with_its_value_is_recorded_without_it() -> None:
    """A 422 whose message and causes echo the Secret's content, through the real client
    and applier: the kept result and its log line say why, without the value."""
    cfg = k8s_client.Configuration()
    cfg.host = "https://api.example:6443"
    echoed = f"Invalid value: \"{CANARY}\": invalid character 'c' looking for beginning of value"
    refusal = status_reply(
        422,
        "Invalid",
        f'Secret "db" is invalid: data[.dockerconfigjson]: {echoed}',
        details={"causes": [{"field": "data[.dockerconfigjson]", "message": f"{echoed} ({B64})"}]},
    )
    s = builders.spec()
    obj = builders.secret("db", **{".dockerconfigjson": B64})
    the_plan = plan([(builders.entry(obj), obj)], select_entries([builders.entry(obj)], s), s)
    (item,) = [i for i in the_plan.items if i.ref.kind == "Secret"]
    with KubeClient(cfg, transport=FakeTransport(refusal)) as kube:
        raw = Applier(kube, SecretsOnly(), s).apply_item(item)  # type: ignore[arg-type]
    assert raw.reason is not None and CANARY in raw.reason  # the server did echo it

    kept = secret_masking(the_plan.items)(raw)

    assert kept.outcome is Outcome.failed
    assert kept.reason is not None
    assert kept.reason.startswith(
        f'422 Secret "db" is invalid: data[.dockerconfigjson]: Invalid value: {MASK}: '
        "invalid character 'c' looking for beginning of value"
    )
    line = log_line(kept, datetime.datetime(2026, 11, 26, tzinfo=datetime.UTC))
    assert leaks(kept.model_dump_json()) == [] and leaks(line) == []
