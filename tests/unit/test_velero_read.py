"""Reading Velero's backups: records mapped, tarballs indexed, hostile ones refused,
and nothing ever written. Hand-made backups in Velero's layout here; the committed
fixtures made by a real Velero in test_velero_fixtures.py."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from backupd.api.backup import SCHEDULE_LABEL, ClusterResources
from backupd.api.common import Phase
from backupd.api.restore import RestoreSpec
from backupd.archive import velero as velero_archive
from backupd.archive.stored import opened
from backupd.errors import (
    ArchiveError,
    NotFoundError,
    ReadOnlyLocation,
    TrustError,
    UserInputError,
)
from backupd.restore import planner
from backupd.restore import velero as conventions
from backupd.storage import catalog, records
from backupd.storage import velero as storage_velero
from backupd.storage.location import Location, open_location
from backupd.storage.velero import VeleroBackup, is_velero
from backupd.storage.velero_record import to_backup
from backupd.trust.keys import Keyring, generate_signing_key
from tests.fixtures.cli import backupctl, error_line
from tests.fixtures.velero import (
    Item,
    configmap,
    obj,
    put_backup,
    record,
    tar_members,
    tarball,
)

SHOP = [
    Item("namespaces", obj("v1", "Namespace", "shop")),
    configmap("settings", mode="fast"),
    Item("deployments.apps", obj("apps/v1", "Deployment", "web", "shop", spec={"replicas": 2})),
    Item(
        "priorityclasses.scheduling.k8s.io",
        obj("scheduling.k8s.io/v1", "PriorityClass", "shop-high", value=1000),
    ),
]


def place(tmp_path: Path, fmt: str = "auto") -> Location:
    location = open_location(f"file://{tmp_path / 'bucket'}")
    location.format = fmt
    return location


def loaded(location: Location, name: str) -> dict[tuple[str, str | None, str], Any]:
    backup = records.load_backup(location, name)
    with opened(location, backup) as o:
        return {(e.group_resource, e.namespace, e.name): ob for e, ob in o.objects(o.entries)}


# -- the record ------------------------------------------------------------------------


def test_a_velero_backup_is_listed_with_its_phase_times_scope_and_counts(tmp_path: Path) -> None:
    location = place(tmp_path)
    document = record(
        "nightly",
        includedNamespaces=["shop"],
        excludedResources=["events"],
        includeClusterResources=False,
        labelSelector={
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}],
        },
    )
    document["metadata"]["labels"]["velero.io/schedule-name"] = "daily"
    put_backup(location, "nightly", SHOP, document=document)

    [backup] = records.list_backups(location).records

    assert isinstance(backup, VeleroBackup) and is_velero(backup)
    assert backup.status.phase is Phase.completed
    assert backup.status.expiration is not None and backup.status.expiration.day == 20
    assert backup.spec.included_namespaces == ["shop"]
    assert backup.spec.excluded_resources == ["events"]
    assert backup.spec.include_cluster_resources is ClusterResources.false
    assert backup.spec.label_selector == "app=web,tier in (a,b)"
    assert backup.spec.ttl == "720h"
    assert backup.metadata.labels[SCHEDULE_LABEL] == "daily"
    assert backup.status.namespace_counts == {"shop": 2}
    assert backup.status.resource_counts["apps/v1/Deployment"] == 1
    assert backup.status.cluster.version == "v1.31.0"
    assert backup.to_json_dict()["source"]["format"] == "velero"  # type: ignore[index]


def test_unfinished_velero_backups_are_not_listed_and_damaged_ones_are_skipped_with_why(
    tmp_path: Path,
) -> None:
    location = place(tmp_path)
    put_backup(location, "good", SHOP)
    put_backup(location, "running", SHOP, document=record("running", phase="InProgress"))
    put_backup(location, "renamed", SHOP, document=record("another"))
    location.put_bytes("backups/garbage/velero-backup.json", b"{not json")

    listing = records.list_backups(location)

    assert [b.metadata.name for b in listing.records] == ["good"]
    assert [(s.key, s.reason) for s in listing.skipped] == [
        ("backups/garbage/velero-backup.json", "not valid JSON"),
        ("backups/renamed/velero-backup.json", "it records the name 'another'"),
    ]
    with pytest.raises(NotFoundError, match="has not finished"):
        records.load_backup(location, "running")


def test_a_partially_failed_velero_backup_says_how_many_errors_velero_counted() -> None:
    document = record("nightly", phase="PartiallyFailed")
    document["status"]["errors"] = 2
    backup = to_backup(document, "nightly", None)
    assert isinstance(backup, VeleroBackup)
    assert backup.status.phase is Phase.partially_failed
    assert "Velero recorded 2 error(s)" in backup.status.errors[0].message


def test_velero_scoped_resource_filters_narrow_the_scope_but_its_snapshot_defaults_do_not() -> None:
    document = record(
        "nightly",
        includedNamespaceScopedResources=["configmaps"],
        includedClusterScopedResources=["*"],
        excludedNamespaceScopedResources=["volumesnapshots.snapshot.storage.k8s.io", "secrets"],
    )
    backup = to_backup(document, "nightly", None)
    assert isinstance(backup, VeleroBackup)
    assert backup.spec.included_resources == ["configmaps"]
    assert backup.spec.excluded_resources == ["secrets"]
    plain = to_backup(
        record(
            "plain",
            excludedClusterScopedResources=["volumesnapshotcontents.snapshot.storage.k8s.io"],
        ),
        "plain",
        None,
    )
    assert isinstance(plain, VeleroBackup) and not plain.spec.resource_filtered


def test_a_record_of_another_kind_is_not_a_velero_backup() -> None:
    document = record("nightly") | {"kind": "Restore"}
    assert to_backup(document, "nightly", None) == (
        "not a Velero backup (apiVersion velero.io/v1, kind Backup)"
    )


def test_detection_reads_velero_backups_beside_backupd_ones_and_declared_formats_pick_one(
    tmp_path: Path,
) -> None:
    location = place(tmp_path)
    put_backup(location, "from-velero", SHOP)
    location.put_bytes("backups/ours/backup.json", b"{}")  # a backupd name: never Velero's
    location.put_bytes("backups/ours/velero-backup.json", json.dumps(record("ours")).encode())

    assert [b.metadata.name for b in records.list_backups(location).records] == ["from-velero"]
    location.format = "backupd"
    assert records.list_backups(location).records == []
    with pytest.raises(NotFoundError):
        records.load_backup(location, "from-velero")
    location.format = "velero"
    assert records.load_backup(location, "from-velero").metadata.name == "from-velero"


# -- the tarball -----------------------------------------------------------------------


def test_each_item_is_read_once_from_the_preferred_version_with_its_kind_from_the_json(
    tmp_path: Path,
) -> None:
    location = place(tmp_path)
    old = Item("widgets.example.com", obj("example.com/v1beta1", "Widget", "w", "shop", old=True))
    new = Item("widgets.example.com", obj("example.com/v1", "Widget", "w", "shop", size=3))
    members = [
        ("metadata/version", b"1.1.0"),
        (new.path(), json.dumps(new.obj).encode()),
        (old.path("v1beta1"), json.dumps(old.obj).encode()),
        (new.path("v1-preferredversion"), json.dumps(new.obj).encode()),
    ]
    put_backup(location, "crs", [new], contents=tar_members(members))

    objects = loaded(location, "crs")

    assert list(objects) == [("widgets.example.com", "shop", "w")]
    assert objects["widgets.example.com", "shop", "w"]["size"] == 3
    with opened(location, records.load_backup(location, "crs")) as o:
        [entry] = o.entries
    assert (entry.group, entry.version, entry.kind, entry.resource) == (
        "example.com",
        "v1",
        "Widget",
        "widgets",
    )


def test_an_older_velero_tarball_without_version_directories_is_read(tmp_path: Path) -> None:
    location = place(tmp_path)
    put_backup(location, "old", SHOP, contents=tarball(SHOP, preferred=False, version=None))
    assert sorted(loaded(location, "old")) == sorted(
        [
            ("namespaces", None, "shop"),
            ("configmaps", "shop", "settings"),
            ("deployments.apps", "shop", "web"),
            ("priorityclasses.scheduling.k8s.io", None, "shop-high"),
        ]
    )


@pytest.mark.parametrize(("preferred", "unversioned"), [(True, True), (False, True), (True, False)])
def test_every_layout_velero_wrote_gives_the_same_index(
    tmp_path: Path, preferred: bool, unversioned: bool
) -> None:
    location = place(tmp_path)
    contents = tarball(SHOP, preferred=preferred, unversioned=unversioned)
    put_backup(location, "nightly", SHOP, contents=contents)
    with opened(location, records.load_backup(location, "nightly")) as o:
        entries = sorted((e.path, e.kind, e.version, e.size) for e in o.entries)
        assert len(o.objects(o.entries)) == len(SHOP)
    assert entries == sorted(
        (i.path(), i.obj["kind"], i.version, len(json.dumps(i.obj))) for i in SHOP
    )


def test_show_finds_one_item_of_a_velero_backup(tmp_path: Path) -> None:
    location = place(tmp_path)
    put_backup(location, "nightly", SHOP)
    with opened(location, records.load_backup(location, "nightly")) as o:
        entry = o.find("deployment/web", "shop")
        assert o.reader.read(entry.path)["spec"] == {"replicas": 2}


def _symlink_tarball() -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb") as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        info = tarfile.TarInfo("resources/configmaps/namespaces/shop/x.json")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tar.addfile(info)
    return buffer.getvalue()


def _member(path: str, document: object) -> bytes:
    return tar_members([(path, json.dumps(document).encode())])


HOSTILE = {
    "a symbolic link": (_symlink_tarball(), "is a symbolic link"),
    "a name climbing out": (
        _member("resources/configmaps/namespaces/../../x.json", {}),
        "'..'",
    ),
    "a member outside the layout": (
        _member("resources/configmaps/elsewhere/x.json", {}),
        "is not where Velero puts an item",
    ),
    "an object under another name": (
        _member("resources/configmaps/namespaces/shop/a.json", configmap("b").obj),
        "holds an object of another name",
    ),
    "an object of another group": (
        _member(
            "resources/deployments.apps/namespaces/shop/web.json",
            obj("evil.io/v1", "Deployment", "web", "shop"),
        ),
        "holds an object of evil.io/v1 elsewhere",
    ),
    "an object in another namespace": (
        _member("resources/configmaps/namespaces/shop/a.json", configmap("a", "kube-system").obj),
        "elsewhere",
    ),
    "a name no API server accepts": (
        _member("resources/configmaps/namespaces/shop/a%2F.json", configmap("a%2F").obj),
        "is not a valid object name",
    ),
    "not JSON": (
        tar_members([("resources/configmaps/namespaces/shop/a.json", b"\xff{")]),
        "is not JSON",
    ),
    "a newer format": (tar_members([("metadata/version", b"2.0.0")]), "not one this backupd"),
    "not gzip": (b"PK\x03\x04 a zip file", "not a valid gzip stream"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_velero_tarball_is_refused_in_one_line_naming_the_backup(
    tmp_path: Path, case: str
) -> None:
    location = place(tmp_path)
    contents, refusal = HOSTILE[case]
    put_backup(location, "evil", SHOP, contents=contents)
    with pytest.raises(ArchiveError) as e:
        loaded(location, "evil")
    message = str(e.value)
    assert "Velero backup evil" in message and refusal in message and "\n" not in message


def test_a_gzip_bomb_stops_at_the_ratio_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(velero_archive, "MIN_BOMB_CHECK", 1 << 20)
    location = place(tmp_path)
    zeros = bytes(1 << 20)
    bomb = tar_members((f"metadata/pad-{i}", zeros) for i in range(8))
    put_backup(location, "bomb", SHOP, contents=bomb)
    with pytest.raises(ArchiveError, match="decompresses more than 200 times its size"):
        loaded(location, "bomb")


def test_a_tarball_that_changes_between_passes_is_refused(tmp_path: Path) -> None:
    location = place(tmp_path)
    put_backup(location, "nightly", SHOP)
    backup = records.load_backup(location, "nightly")
    with opened(location, backup) as o:
        changed = [SHOP[0], configmap("settings", mode="slow"), *SHOP[2:]]
        location.put_bytes("backups/nightly/nightly.tar.gz", tarball(changed))
        with pytest.raises(ArchiveError, match="changed since it was indexed"):
            o.objects(o.entries)


def test_a_missing_tarball_is_not_found(tmp_path: Path) -> None:
    location = place(tmp_path)
    put_backup(location, "nightly", SHOP)
    location.delete("backups/nightly/nightly.tar.gz")
    with pytest.raises(NotFoundError, match="archive of Velero backup nightly is missing"):
        loaded(location, "nightly")


# -- read-only -------------------------------------------------------------------------


def test_a_velero_location_refuses_every_write_in_one_line(tmp_path: Path) -> None:
    location = place(tmp_path, "velero")
    assert location.read_only
    with pytest.raises(ReadOnlyLocation, match="holds Velero backups") as e:
        location.put_bytes("backups/new/backup.json", b"{}")
    assert "\n" not in str(e.value)


def test_backupd_never_deletes_a_velero_backup_even_where_it_was_only_detected(
    tmp_path: Path,
) -> None:
    location = place(tmp_path)
    put_backup(location, "nightly", SHOP)
    with pytest.raises(UserInputError, match="written by Velero"):
        catalog.deletion(location, "nightly")
    assert location.exists("backups/nightly/nightly.tar.gz")


# -- restore conventions ---------------------------------------------------------------


def test_velero_own_resources_are_skipped_in_the_plan_with_a_reason(tmp_path: Path) -> None:
    location = place(tmp_path)
    own = [
        Item("backups.velero.io", obj("velero.io/v1", "Backup", "b1", "shop")),
        Item(
            "customresourcedefinitions.apiextensions.k8s.io",
            obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "backups.velero.io"),
        ),
    ]
    put_backup(location, "nightly", SHOP + own)
    spec = RestoreSpec(backup_name="nightly")
    with opened(location, records.load_backup(location, "nightly")) as o:
        selection = planner.select_entries(o.entries, spec)
        plan = planner.plan(o.objects(selection.to_read()), selection, spec)
    assert conventions.apply(plan) == 2
    skipped = {i.source.name: i.skip_reason for i in plan.items if i.obj is None}
    assert skipped == {"b1": conventions.OWN, "backups.velero.io": conventions.OWN_CRD}
    assert {i.source.name for i in plan.to_apply} == {"shop", "settings", "web", "shop-high"}


def test_an_oversized_record_is_skipped_and_a_resource_list_bomb_only_warns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage_velero, "MAX_LIST_BYTES", 1 << 20)
    location = place(tmp_path)
    put_backup(location, "big", SHOP)
    location.put_bytes("backups/big/velero-backup.json", b" " * (5 << 20))
    put_backup(location, "bomb", SHOP)
    location.put_bytes("backups/bomb/bomb-resource-list.json.gz", gzip.compress(bytes(4 << 20)))

    listing = records.list_backups(location)

    [bomb] = listing.records
    assert bomb.status.namespace_counts == {}
    assert "decompresses to more than 1048576 bytes" in bomb.status.warnings[0].message
    [skipped] = listing.skipped
    assert skipped.key == "backups/big/velero-backup.json"
    assert "larger than 4194304 bytes" in skipped.reason


def test_location_add_refuses_an_unknown_format_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKUPD_CONFIG", str(tmp_path / "config.yaml"))
    url = f"file://{tmp_path}"
    line = error_line(backupctl("location", "add", "old", "--url", url, "--format", "restic"))
    assert "unknown location format 'restic'; use backupd or velero" in line
    assert not (tmp_path / "config.yaml").exists()


def test_where_only_signed_backups_are_accepted_a_detected_velero_backup_is_refused(
    tmp_path: Path,
) -> None:
    location = place(tmp_path)
    put_backup(location, "dropped-in", SHOP)
    location.keyring = Keyring.build(trusted=[generate_signing_key().verify_key])

    listing = records.list_backups(location)
    assert listing.records == []
    assert "not signed, and this location accepts only signed backups" in listing.skipped[0].reason
    with pytest.raises(TrustError, match="--format velero"):
        records.load_backup(location, "dropped-in")

    location.keyring = location.keyring.allowing_unsigned()
    assert records.load_backup(location, "dropped-in").metadata.name == "dropped-in"
    location.keyring = location.keyring.allowing_unsigned(False)
    location.format = "velero"  # declared: Velero's unsigned backups are expected there
    assert records.load_backup(location, "dropped-in").metadata.name == "dropped-in"
