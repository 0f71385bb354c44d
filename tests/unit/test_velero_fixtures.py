"""The committed Velero fixtures (made by a real Velero v1.18.0, tests/data/velero/
generate.py) read by the adapter: what Velero wrote is what backupd sees."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from backupd.api.backup import ClusterResources
from backupd.api.common import Phase
from backupd.archive.stored import load_index, opened
from backupd.storage import records
from backupd.storage.location import Location, open_location
from backupd.storage.velero import VeleroBackup
from tests.fixtures.velero import FIXTURES, fixture_names, put_fixture

MANIFESTS = [d for d in yaml.safe_load_all((FIXTURES / "shop.yaml").read_text()) if d]


def manifest(kind: str, name: str) -> dict[str, Any]:
    return next(d for d in MANIFESTS if (d["kind"], d["metadata"]["name"]) == (kind, name))


@pytest.fixture
def location(tmp_path: Path) -> Location:
    loc = open_location(f"file://{tmp_path / 'bucket'}")
    for name in fixture_names():
        put_fixture(loc, name)
    loc.format = "velero"
    return loc


def objects(location: Location, name: str) -> dict[tuple[str, str], dict[str, Any]]:
    with opened(location, records.load_backup(location, name)) as o:
        return {(e.kind, e.name): obj for e, obj in o.objects(o.entries)}


def test_the_fixtures_are_small_real_velero_backups() -> None:
    assert fixture_names() == ["shop", "shop-config"]
    for path in FIXTURES.glob("*/*"):
        assert path.stat().st_size < 64 * 1024, path
    assert not list(FIXTURES.glob("*/*-logs.gz"))  # the log names the machine: left out


def test_both_fixtures_are_listed_completed_with_their_scope(location: Location) -> None:
    listed = {b.metadata.name: b for b in records.list_backups(location).records}
    shop, config = listed["shop"], listed["shop-config"]
    assert all(isinstance(b, VeleroBackup) for b in listed.values())
    assert shop.status.phase is config.status.phase is Phase.completed
    assert shop.spec.included_namespaces == ["shop"]
    assert not shop.spec.resource_filtered  # Velero's default snapshot exclusions aside
    assert shop.status.namespace_counts["shop"] >= 12
    assert config.spec.label_selector == "app=web"
    assert config.spec.included_resources == ["configmaps", "secrets"]
    assert config.spec.include_cluster_resources is ClusterResources.false
    assert shop.status.cluster.version.startswith("v1.")
    assert shop.status.expiration is not None and shop.status.completion_timestamp is not None


def test_every_object_of_the_manifests_is_in_velero_backup_of_the_namespace(
    location: Location,
) -> None:
    found = objects(location, "shop")
    for d in MANIFESTS:
        key = (d["kind"], d["metadata"]["name"])
        assert key in found, key
        assert found[key]["apiVersion"] == d["apiVersion"]


def test_a_secrets_bytes_are_what_the_manifest_gave(location: Location) -> None:
    secret = objects(location, "shop")["Secret", "web-credentials"]
    want = manifest("Secret", "web-credentials")["data"]
    assert secret["data"] == want
    assert base64.b64decode(secret["data"]["key.bin"])[:2] == b"\x00\xff"  # not UTF-8


def test_custom_resources_are_indexed_under_their_crd_group_and_preferred_version(
    location: Location,
) -> None:
    index = load_index(location, records.load_backup(location, "shop"))
    widgets = [e for e in index.entries if e.kind == "Widget"]
    assert {(e.group, e.version, e.resource, e.namespace) for e in widgets} == {
        ("shop.example.com", "v1", "widgets", "shop")
    }
    assert sorted(e.name for e in widgets) == ["blue", "green"]
    assert any(e.name == "widgets.shop.example.com" for e in index.entries)


def test_the_labelled_backup_holds_only_the_labelled_configmap_and_secret(
    location: Location,
) -> None:
    assert set(objects(location, "shop-config")) == {
        ("ConfigMap", "web-settings"),
        ("Secret", "web-credentials"),
    }
