"""Stored records: read leniently, skipped when damaged, and the right latest backup."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pydantic
import pytest

from backupd.api.backup import SCHEDULE_LABEL, Backup, BackupSpec, ClusterInfo
from backupd.api.common import ObjectMeta, Phase
from backupd.api.restore import Restore, RestoreSpec
from backupd.errors import ArchiveError, NotFoundError
from backupd.restore.engine import cluster_notice, resolve_backup
from backupd.storage import records
from backupd.storage.catalog import Skipped
from backupd.storage.layout import BackupKeys, RestoreKeys
from backupd.storage.location import Location, open_location
from backupd.storage.records import NoBackupChosen, Wanted
from tests.fixtures.cli import backupctl, error_line

HERE = ClusterInfo(id="1b6f0e9a-aaaa-4c1e-9d6e-000000000001", server="https://127.0.0.1:6443")
THERE = ClusterInfo(id="7c2d1f3b-bbbb-4f2a-8e7d-000000000002", server="https://10.0.0.9:6443")


def backup(
    name: str,
    day: int = 1,
    *,
    cluster: ClusterInfo = HERE,
    phase: Phase = Phase.completed,
    schedule: str | None = None,
    holds: tuple[str, ...] = ("shop",),
    **spec: Any,
) -> Backup:
    """A backup record as the engine commits it, made on 2026-11-<day>."""
    created = datetime.datetime(2026, 11, day, 3, tzinfo=datetime.UTC)
    labels = {SCHEDULE_LABEL: schedule} if schedule else {}
    b = Backup(
        metadata=ObjectMeta(name=name, creation_timestamp=created, labels=labels),
        spec=BackupSpec(**spec),
    )
    b.status.phase = phase
    b.status.cluster = cluster.model_copy()
    b.status.namespace_counts = {ns: 3 for ns in holds}
    return b


def restore(name: str) -> Restore:
    r = Restore(metadata=ObjectMeta(name=name), spec=RestoreSpec(backup_name="nightly"))
    r.status.phase = Phase.completed
    return r


def put(location: Location, key: str, document: Any) -> None:
    data = document if isinstance(document, bytes) else json.dumps(document).encode()
    location.put_bytes(key, data)


def with_future_fields(document: dict[str, Any]) -> dict[str, Any]:
    """The record as a newer backupd might write it: unknown fields at several depths."""
    document["shard"] = {"of": 3}
    document["metadata"]["generation"] = 7
    document["spec"]["orderedResources"] = ["pods"]
    document["status"]["hookStatus"] = {"attempted": 1}
    document["status"].setdefault("warnings", []).append({"message": "m", "code": "W1"})
    return document


@pytest.fixture()
def location(tmp_path: Path) -> Location:
    return open_location((tmp_path / "bucket").as_uri())


# -- reading ---------------------------------------------------------------------------


def test_a_record_with_unknown_fields_at_any_depth_is_read(location: Location) -> None:
    put(location, BackupKeys("new").metadata, with_future_fields(backup("new").to_json_dict()))
    listing = records.list_backups(location)
    assert [b.metadata.name for b in listing.records] == ["new"]
    assert listing.skipped == []
    assert records.load_backup(location, "new").status.warnings[0].message == "m"


def test_writers_still_refuse_unknown_fields() -> None:
    with pytest.raises(pydantic.ValidationError):
        Backup.model_validate(with_future_fields(backup("new").to_json_dict()))
    with pytest.raises(pydantic.ValidationError):
        BackupSpec.model_validate({"includedNamespace": ["shop"]})  # a typo stays an error


def test_each_damaged_backup_record_is_skipped_with_its_reason(location: Location) -> None:
    put(location, BackupKeys("good").metadata, backup("good").to_json_dict())
    put(location, BackupKeys("garbage").metadata, b"{not json")
    put(location, BackupKeys("array").metadata, b"[1, 2]")
    bad_phase = backup("invalid").to_json_dict()
    bad_phase["status"]["progress"] = {"totalItems": "many"}
    put(location, BackupKeys("invalid").metadata, bad_phase)
    put(location, BackupKeys("renamed").metadata, backup("other").to_json_dict())
    put(location, "backups/Bad_Name/backup.json", backup("x").to_json_dict())
    listing = records.list_backups(location)
    assert [b.metadata.name for b in listing.records] == ["good"]
    assert [str(s) for s in listing.skipped] == [
        "skipping backups/Bad_Name/backup.json: 'Bad_Name' is not a valid backup name",
        "skipping backups/array/backup.json: not a JSON object",
        "skipping backups/garbage/backup.json: not valid JSON",
        "skipping backups/invalid/backup.json: not a valid backup record: "
        "status.progress.totalItems: Input should be a valid integer, "
        "unable to parse string as an integer",
        "skipping backups/renamed/backup.json: it records the name 'other'",
    ]


def test_a_restore_record_of_the_wrong_kind_is_damaged(location: Location) -> None:
    put(location, BackupKeys("mixed").metadata, restore("mixed").to_json_dict())
    listing = records.list_backups(location)
    assert listing.records == []
    assert "kind: Input should be 'Backup'" in str(listing.skipped[0])


def test_an_unfinished_backup_is_not_listed_and_not_called_damaged(location: Location) -> None:
    put(
        location,
        BackupKeys("running").metadata,
        backup("running", phase=Phase.in_progress).to_json_dict(),
    )
    assert records.list_backups(location) == records.Listing()


def test_loading_one_damaged_backup_is_a_one_line_error(location: Location) -> None:
    put(location, BackupKeys("garbage").metadata, b"\x00\xff")
    with pytest.raises(
        ArchiveError, match=r"^backups/garbage/backup.json in .* is not valid JSON$"
    ):
        records.load_backup(location, "garbage")
    with pytest.raises(NotFoundError, match="backup absent not found"):
        records.load_backup(location, "absent")


def test_restores_are_read_leniently_and_damaged_ones_skipped(location: Location) -> None:
    put(location, RestoreKeys("new").metadata, with_future_fields(restore("new").to_json_dict()))
    broken = restore("broken").to_json_dict()
    broken["spec"]["namespaceMappings"] = {"shop": "Not A Namespace"}
    put(location, RestoreKeys("broken").metadata, broken)
    listing = records.list_restores(location)
    assert [r.metadata.name for r in listing.records] == ["new"]
    assert len(listing.skipped) == 1
    assert listing.skipped[0].key == "restores/broken/restore.json"
    assert "not a valid restore record" in listing.skipped[0].reason
    assert records.load_restore(location, "new").spec.backup_name == "nightly"


# -- which cluster --------------------------------------------------------------------


def test_clusters_are_told_apart_by_kube_system_uid_before_server() -> None:
    same_uid_new_address = ClusterInfo(id=HERE.id, server="https://lb.example.com")
    rebuilt_at_same_address = ClusterInfo(id="new-uid", server=HERE.server)
    assert HERE.same_cluster(same_uid_new_address)
    assert not HERE.same_cluster(rebuilt_at_same_address)


def test_an_old_record_without_uid_is_matched_by_server_url() -> None:
    old = ClusterInfo(server="https://127.0.0.1:6443/")
    assert HERE.same_cluster(old)
    assert not THERE.same_cluster(old)
    assert not HERE.same_cluster(ClusterInfo())  # records nothing: never "the same"


def test_a_cluster_can_be_named_by_uid_prefix_or_server() -> None:
    assert records.named_cluster(THERE.id[:8]).matches(THERE)
    assert not records.named_cluster(THERE.id[:4]).matches(THERE)  # too short to be sure
    assert records.named_cluster("https://10.0.0.9:6443/").matches(THERE)
    assert not records.named_cluster(THERE.id).matches(HERE)


def test_a_restore_into_another_cluster_says_so() -> None:
    b = backup("nightly", cluster=THERE)
    (notice,) = cluster_notice(b, HERE)
    assert notice == (
        f"lift-and-shift: backup nightly came from cluster {THERE.id} at {THERE.server}; "
        f"restoring into cluster {HERE.id} at {HERE.server}"
    )
    assert cluster_notice(backup("nightly", cluster=HERE), HERE) == []
    assert (
        "records no source cluster" in cluster_notice(backup("x", cluster=ClusterInfo()), HERE)[0]
    )


# -- the latest backup ----------------------------------------------------------------


def names(backups: list[Backup]) -> list[str]:
    return [b.metadata.name for b in backups]


def test_newest_first_is_by_creation_time_not_name() -> None:
    found = [backup("a", 2), backup("b", 1), backup("c", 3)]
    assert names(records.newest_first(found)) == ["c", "a", "b"]


def test_latest_of_this_cluster_ignores_a_newer_backup_of_another() -> None:
    found = [backup("mine", 1), backup("theirs", 5, cluster=THERE)]
    here = records.this_cluster(HERE)
    assert records.latest(found, Wanted(cluster=here), "file:///b").metadata.name == "mine"
    assert records.latest(found, Wanted(), "file:///b").metadata.name == "theirs"


def test_no_backup_of_this_cluster_says_what_other_clusters_have() -> None:
    found = [backup("theirs", 5, cluster=THERE)]
    with pytest.raises(NoBackupChosen) as caught:
        records.latest(found, Wanted(cluster=records.this_cluster(HERE)), "file:///b")
    assert caught.value.other_clusters == 1
    assert str(caught.value).startswith(
        f"no Completed backup from this cluster (cluster {HERE.id} at {HERE.server}) in file:///b"
    )
    assert f"the newest theirs from cluster {THERE.id}" in str(caught.value)


def test_latest_of_a_schedule_skips_failed_and_other_schedules() -> None:
    found = [
        backup("nightly-1", 1, schedule="nightly"),
        backup("nightly-2", 2, schedule="nightly", phase=Phase.partially_failed),
        backup("weekly-1", 3, schedule="weekly"),
    ]
    assert records.latest(found, Wanted(schedule="nightly"), "x").metadata.name == "nightly-1"


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ({"included_namespaces": ["shop-*"]}, "namespace shop is not included"),
        ({"excluded_namespaces": ["sh*"]}, "namespace shop is excluded"),
        ({"label_selector": "app=web"}, "only objects labelled app=web"),
        ({"included_resources": ["deployments"]}, "only resources deployments"),
        ({"excluded_resources": ["secrets"]}, "only resources *,!secrets"),
    ],
)
def test_latest_for_a_namespace_skips_a_newer_backup_holding_part_of_it(
    spec: dict[str, Any], why: str
) -> None:
    whole = backup("whole", 1, included_namespaces=["s*"])
    part = backup("part", 2, **spec)
    assert records.holds_namespace(part, "shop") == [why]
    wanted = Wanted(namespace="shop")
    assert records.latest([whole, part], wanted, "x").metadata.name == "whole"


def test_allow_partial_takes_the_newest_backup_with_objects_of_the_namespace() -> None:
    found = [
        backup("whole", 1),
        backup("part", 2, label_selector="app=web"),
        backup("other", 3, holds=("db",)),
    ]
    wanted = Wanted(namespace="shop", allow_partial=True)
    assert records.latest(found, wanted, "x").metadata.name == "part"


def test_a_backup_of_every_namespace_taken_before_it_existed_does_not_hold_it() -> None:
    assert records.holds_namespace(backup("all", holds=("db",)), "shop") == [
        "it holds no object of namespace shop"
    ]


def test_only_partial_backups_of_a_namespace_is_an_error_that_says_why() -> None:
    with pytest.raises(NoBackupChosen) as caught:
        records.latest([backup("part", label_selector="tier=db")], Wanted(namespace="shop"), "x")
    assert caught.value.partial == 1
    assert str(caught.value) == (
        "no Completed backup holding all of namespace shop in x "
        "(1 hold only part of namespace shop, the newest part (only objects labelled tier=db))"
    )


def test_the_scope_of_a_backup_in_one_line() -> None:
    assert BackupSpec().scope() == "ns=*"
    spec = BackupSpec(
        included_namespaces=["shop", "db-*"],
        excluded_namespaces=["db-tmp"],
        included_resources=["deployments"],
        excluded_resources=["secrets"],
        label_selector="app=web",
    )
    assert spec.scope() == "ns=shop,db-*,!db-tmp res=deployments,!secrets sel=app=web"


# -- what backupctl shows ----------------------------------------------------------------


def test_backup_get_lists_the_readable_backups_and_warns_about_the_damaged_one(
    location: Location,
) -> None:
    put(
        location,
        BackupKeys("newer").metadata,
        with_future_fields(backup("newer", 2).to_json_dict()),
    )
    put(location, BackupKeys("older").metadata, backup("older").to_json_dict())
    put(location, BackupKeys("garbage").metadata, b"{oops")
    res = backupctl("backup", "get", "--location", location.url, "-o", "name")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["newer", "older"]
    assert "warning: skipping backups/garbage/backup.json: not valid JSON" in res.stderr
    table = backupctl("backup", "get", "--location", location.url)
    assert table.returncode == 0, table.stderr
    assert "SCOPE" in table.stdout and "ns=*" in table.stdout


def test_restore_get_lists_the_readable_restores_and_warns_about_the_damaged_one(
    location: Location,
) -> None:
    put(location, RestoreKeys("new").metadata, with_future_fields(restore("new").to_json_dict()))
    put(location, RestoreKeys("damaged").metadata, b"[]")
    res = backupctl("restore", "get", "--location", location.url, "-o", "name")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["new"]
    assert "warning: skipping restores/damaged/restore.json: not a JSON object" in res.stderr


def test_backup_get_latest_without_a_cluster_says_what_it_assumed(location: Location) -> None:
    put(location, BackupKeys("theirs").metadata, backup("theirs", 2, cluster=THERE).to_json_dict())
    put(
        location,
        BackupKeys("part").metadata,
        backup("part", 3, label_selector="a=b").to_json_dict(),
    )
    env = {"KUBECONFIG": str(Path(location.url.removeprefix("file://")) / "no-kubeconfig")}
    res = backupctl(
        "backup", "get", "--location", location.url, "--latest", "-n", "shop", "-o", "name", env=env
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["theirs"]
    assert "choosing among the backups of every cluster" in res.stderr


def test_backup_get_latest_that_finds_nothing_names_the_flags_that_widen_it(
    location: Location,
) -> None:
    put(location, BackupKeys("theirs").metadata, backup("theirs", 2, cluster=THERE).to_json_dict())
    put(
        location,
        BackupKeys("part").metadata,
        backup("part", 3, label_selector="a=b").to_json_dict(),
    )
    res = backupctl(
        "backup",
        "get",
        "--location",
        location.url,
        "--latest",
        "-n",
        "shop",
        "--cluster",
        HERE.server,
    )
    line = error_line(res)
    assert line.startswith(
        "error: no Completed backup holding all of namespace shop from cluster "
        f"{HERE.server} in {location.url}"
    )
    assert "--allow-partial" in line and "--any-cluster" in line
    widened = backupctl(
        "backup",
        "get",
        "--location",
        location.url,
        "--latest",
        "-n",
        "shop",
        "--cluster",
        HERE.server,
        "--allow-partial",
        "-o",
        "name",
    )
    assert widened.stdout.split() == ["part"], widened.stderr


def test_a_restore_from_a_schedule_notes_the_damaged_records_it_skipped(
    location: Location,
) -> None:
    put(
        location,
        BackupKeys("nightly-1").metadata,
        backup("nightly-1", schedule="nightly").to_json_dict(),
    )
    put(location, BackupKeys("nightly-2").metadata, b"{truncated")
    skipped: list[Skipped] = []
    spec = RestoreSpec(schedule_name="nightly")
    chosen = resolve_backup(location, spec, cluster=records.this_cluster(HERE), skipped=skipped)
    assert chosen.metadata.name == "nightly-1"
    assert [str(s) for s in skipped] == ["skipping backups/nightly-2/backup.json: not valid JSON"]
    with pytest.raises(NoBackupChosen, match="from this cluster"):
        resolve_backup(location, spec, cluster=records.this_cluster(THERE))
