"""The pure pieces of the audit views: ages, times, grouping, the owned filter, item
lookup by kubectl spellings, and the per-LIST log lines."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest

from backupd.api.backup import Backup, BackupSpec
from backupd.api.common import ObjectMeta, Phase
from backupd.api.restore import Restore, RestoreSpec
from backupd.backup.inspect import (
    ItemChange,
    ItemFilter,
    ItemRef,
    is_churn,
    object_changes,
    resource_list,
    shown,
)
from backupd.backup.log import Listings, listed_line
from backupd.backup.lookup import find_item
from backupd.errors import NotFoundError, UserInputError
from backupd.restore.normalize import normalize
from backupd.storage.layout import BackupKeys, RestoreKeys
from backupd.storage.location import open_location
from cli.backup_view import phase_text, relative
from cli.output import timestamp
from tests.fixtures.cli import backupctl, error_line
from tests.unit.actions.builders import (
    configmap,
    deployment,
    entry,
    namespace,
    obj,
    owned_by,
)

JSON = dict[str, Any]
NOW = datetime.datetime(2026, 11, 26, 12, 0, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    ("delta", "shown_as"),
    [
        (datetime.timedelta(hours=720) - datetime.timedelta(seconds=5), "29d"),
        (datetime.timedelta(days=30), "30d"),
        (datetime.timedelta(days=3, hours=4, minutes=5), "3d4h"),
        (datetime.timedelta(hours=30), "30h"),
        (datetime.timedelta(hours=5), "5h"),
        (datetime.timedelta(hours=4, minutes=59, seconds=55), "4h59m"),
        (datetime.timedelta(minutes=12, seconds=3), "12m"),
        (datetime.timedelta(minutes=3, seconds=7), "3m7s"),
        (datetime.timedelta(seconds=40), "40s"),
        (datetime.timedelta(days=800), "2y70d"),
        (datetime.timedelta(seconds=-1), "expired"),
    ],
)
def test_expiry_reads_as_an_age_like_kubectl(delta: datetime.timedelta, shown_as: str) -> None:
    assert relative(NOW + delta, NOW) == shown_as


def test_a_time_without_zone_is_utc_and_every_time_carries_its_zone() -> None:
    paris = datetime.timezone(datetime.timedelta(hours=1))
    assert timestamp(datetime.datetime(2026, 11, 26, 13, 0, tzinfo=paris)) == (
        "2026-11-26 12:00:00 UTC"
    )
    assert timestamp(datetime.datetime(2026, 11, 26, 12, 0)) == "2026-11-26 12:00:00 UTC"
    assert timestamp("2026-11-26T12:00:00Z") == "2026-11-26 12:00:00 UTC"
    assert relative(datetime.datetime(2026, 11, 27, 12, 0), NOW) == "24h"  # naive: UTC
    assert timestamp(None) == "" and timestamp("soon") == "soon"


def test_status_colours_follow_velero() -> None:
    assert phase_text(Phase.completed).style == "green"
    assert phase_text(Phase.partially_failed).style == "yellow"
    assert phase_text(Phase.failed).style == "red"
    assert str(phase_text(Phase.completed)) == "Completed"


def test_describe_details_groups_items_by_kind_then_namespace_and_name() -> None:
    entries = [
        entry(configmap("b", "shop")),
        entry(deployment("web", "shop")),
        entry(configmap("a", "zoo")),
        entry(configmap("z", "api")),
        entry(namespace("shop")),
    ]
    assert resource_list(entries) == {
        "apps/v1/Deployment": ["shop/web"],
        "v1/ConfigMap": ["api/z", "shop/b", "zoo/a"],
        "v1/Namespace": ["shop"],
    }


def objects(*items: JSON) -> dict[tuple[str, str, str, str], tuple[ItemRef, JSON]]:
    refs = [(ItemRef.of(entry(o)), o) for o in items]
    return {r.key: (r, o) for r, o in refs}


def test_owned_filter_hides_pods_replicasets_and_anything_a_controller_owns() -> None:
    web = deployment("web")
    rs = owned_by(obj("ReplicaSet", "web-5d8", "shop"), web)
    pod = obj("Pod", "web-5d8-x", "shop")  # a bare Pod: still churn, by its type
    job = owned_by(obj("Job", "report-2911", "shop"), obj("CronJob", "report", "shop"))
    settings = configmap("settings")
    changes = object_changes(objects(web, settings), objects(web, settings, rs, pod, job))
    assert [str(c.ref) for c in changes] == [  # sorted by group, resource, namespace, name
        "pods/web-5d8-x -n shop",
        "replicasets.apps/web-5d8 -n shop",
        "jobs.batch/report-2911 -n shop",
    ]
    view = shown(changes, ItemFilter.of(None, [], hide_owned=True))
    assert (view.changes, view.hidden) == ([], 3)
    assert len(shown(changes, ItemFilter()).changes) == 3
    assert not is_churn(ItemRef.of(entry(settings)), settings)


def test_live_compare_ignores_what_the_server_sets_and_finds_real_changes() -> None:
    then = deployment("web", replicas=2)
    now = {**deployment("web", replicas=3), "status": {"replicas": 3}}
    now["metadata"] = {**then["metadata"], "resourceVersion": "99", "uid": "another"}
    (change,) = object_changes(objects(then), objects(now), normalize=normalize)
    assert change.change == "changed"
    assert [(f.path, f.old, f.new) for f in change.fields] == [("spec.replicas", 2, 3)]
    same = {**then, "status": {"replicas": 2}}
    assert object_changes(objects(then), objects(same), normalize=normalize) == []


def test_diff_filters_by_namespace_and_kind_spelling_and_groups_by_namespace() -> None:
    changes = [
        ItemChange(ItemRef.of(entry(o)), "added")
        for o in (
            configmap("a", "zoo"),
            deployment("web", "shop"),
            configmap("b", "shop"),
            namespace("shop"),
        )
    ]
    grouped = shown(changes, ItemFilter()).by_namespace()
    assert [(ns, [c.ref.name for c in cs]) for ns, cs in grouped] == [
        ("shop", ["web", "b"]),
        ("zoo", ["a"]),
        (None, ["shop"]),  # cluster-scoped last
    ]
    only = shown(changes, ItemFilter.of("shop", ["cm"], hide_owned=False)).changes
    assert [str(c.ref) for c in only] == ["configmaps/b -n shop"]
    deploys = shown(changes, ItemFilter.of(None, ["deploy,ns"], hide_owned=False)).changes
    assert [c.ref.name for c in deploys] == ["web", "shop"]


def test_a_mistyped_kind_is_an_error_naming_the_closest() -> None:
    refs = [ItemRef.of(entry(configmap("a"))), ItemRef.of(entry(deployment("web")))]
    ItemFilter.of(None, ["cm", "deployments.apps"], False).check_kinds(refs)
    ItemFilter.of(None, ["ingress", "roles.rbac.authorization.k8s.io"], False).check_kinds(refs)
    with pytest.raises(UserInputError, match="did you mean deployment"):
        ItemFilter.of(None, ["deploymnet"], False).check_kinds(refs)


BACKUP = [
    entry(configmap("settings", "shop")),
    entry(configmap("settings", "staging")),
    entry(configmap("feature-flags", "shop")),
    entry(deployment("web", "shop")),
    entry(namespace("shop")),
]


@pytest.mark.parametrize(
    ("item", "namespace", "found"),
    [
        ("cm/settings", "shop", ("configmaps", "shop", "settings")),
        ("configmap/settings", "staging", ("configmaps", "staging", "settings")),
        ("ConfigMap/feature-flags", None, ("configmaps", "shop", "feature-flags")),
        ("deploy/web", None, ("deployments", "shop", "web")),
        ("deployments.apps/web", None, ("deployments", "shop", "web")),
        ("deployment.v1.apps/web", None, ("deployments", "shop", "web")),
        ("ns/shop", None, ("namespaces", None, "shop")),
        ("namespace/shop", "shop", ("namespaces", None, "shop")),  # -n ignored, as kubectl does
    ],
)
def test_show_finds_an_item_by_any_kubectl_spelling(
    item: str, namespace: str | None, found: tuple[str, str | None, str]
) -> None:
    e = find_item(BACKUP, item, namespace, "nightly")
    assert (e.resource, e.namespace, e.name) == found


def test_show_suggests_the_closest_items_in_its_one_line_error() -> None:
    with pytest.raises(NotFoundError) as typo:
        find_item(BACKUP, "cm/setings", "shop", "nightly")
    assert str(typo.value) == (
        "cm/setings in namespace shop is not in backup nightly; did you mean "
        "cm/settings -n shop or cm/settings -n staging?"
    )
    with pytest.raises(
        NotFoundError, match=r"mean cm/settings -n shop or cm/settings -n staging\?"
    ):
        find_item(BACKUP, "cm/settings", "prod", "nightly")  # there, in other namespaces
    with pytest.raises(NotFoundError, match=r"did you mean deployment/web -n shop\?"):
        find_item(BACKUP, "deploymnet/web", None, "nightly")
    with pytest.raises(NotFoundError, match=r"is not in backup nightly$"):
        find_item(BACKUP, "secret/zzz", None, "nightly")


def test_show_asks_for_a_namespace_when_a_name_is_in_two_and_for_type_slash_name() -> None:
    with pytest.raises(UserInputError, match=r"ambiguous.*add -n NAMESPACE"):
        find_item(BACKUP, "cm/settings", None, "nightly")
    with pytest.raises(UserInputError, match="expected TYPE/NAME"):
        find_item(BACKUP, "settings", None, "nightly")


def test_the_log_says_what_each_list_found() -> None:
    assert listed_line("apps/v1", "deployments", "shop", 3, 3) == (
        "listed apps/v1 deployments in shop: 3 items"
    )
    assert listed_line("v1", "configmaps", "shop", 1, 1) == "listed v1 configmaps in shop: 1 item"
    assert listed_line("v1", "pods", "all namespaces", 40, 12) == (
        "listed v1 pods in all namespaces: 40 items, 12 taken"
    )
    tally = Listings()
    tally.plan("v1", "secrets", "shop")
    tally.plan("apps/v1", "deployments", "shop")
    tally.count("apps/v1", "deployments", "shop", 500, 500)  # two pages
    tally.count("apps/v1", "deployments", "shop", 20, 20)
    assert tally.lines() == [
        "listed v1 secrets in shop: 0 items",
        "listed apps/v1 deployments in shop: 520 items",
    ]
    assert tally.lines() == []  # each LIST is said once


def test_describe_details_of_a_failed_backup_without_index_says_none_is_stored(
    tmp_path: Path,
) -> None:
    location = open_location((tmp_path / "bucket").as_uri())
    failed = Backup(
        metadata=ObjectMeta(name="broken", creation_timestamp=NOW),
        spec=BackupSpec(included_namespaces=["shop"]),
    )
    failed.status.phase = Phase.failed
    failed.status.failure_reason = "connection reset while uploading"
    location.put_bytes(BackupKeys("broken").metadata, json.dumps(failed.to_json_dict()).encode())
    res = backupctl("backup", "describe", "broken", "--details", "--location", location.url)
    assert res.returncode == 0, res.stderr
    assert "Resource List: none stored (no index)" in res.stdout
    assert "Started:" in res.stdout and "Failure:      connection reset" in res.stdout


def test_restore_get_prints_times_in_the_same_zoned_format(tmp_path: Path) -> None:
    location = open_location((tmp_path / "bucket").as_uri())
    done = Restore(
        metadata=ObjectMeta(name="back", creation_timestamp=NOW),
        spec=RestoreSpec(backup_name="nightly"),
    )
    done.status.phase = Phase.completed
    location.put_bytes(RestoreKeys("back").metadata, json.dumps(done.to_json_dict()).encode())
    res = backupctl("restore", "get", "--location", location.url)
    assert res.returncode == 0, res.stderr
    assert "2026-11-26 12:00:00 UTC" in res.stdout


@pytest.mark.parametrize("args", [("a", "b", "--live"), ("a",)])
def test_diff_takes_a_second_backup_or_live_not_both(args: tuple[str, ...], tmp_path: Path) -> None:
    res = backupctl("backup", "diff", *args, "--location", (tmp_path / "bucket").as_uri())
    assert error_line(res) == "error: give BACKUP_B or --live (not both)"
