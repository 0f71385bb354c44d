"""The planner: which items a restore touches, in what order, and how they look."""

from __future__ import annotations

from typing import Any

import pytest

from backupd.errors import UserInputError
from backupd.restore.ordering import tier_of
from backupd.restore.planner import Plan, plan, select_entries
from tests.unit.actions.builders import (
    JSON,
    configmap,
    crd,
    custom,
    deployment,
    entry,
    namespace,
    obj,
    owned_by,
    pod,
    pv,
    pvc,
    secret,
    service,
    spec,
)


def backup_of(*objects: JSON) -> list[tuple[Any, JSON]]:
    return [(entry(o), o) for o in objects]


def make_plan(objects: list[tuple[Any, JSON]], **kwargs: Any) -> Plan:
    s = spec(**kwargs)
    selection = select_entries([e for e, _ in objects], s)
    wanted = {e.key for e in selection.to_read()}
    return plan([(e, o) for e, o in objects if e.key in wanted], selection, s)


def shop() -> list[tuple[Any, JSON]]:
    web = deployment("web")
    rs = owned_by(obj("ReplicaSet", "web-5d9", "shop"), web)
    return backup_of(
        namespace("shop"),
        namespace("other"),
        web,
        rs,
        owned_by(pod("web-5d9-abc"), rs),
        service("web"),
        configmap("settings"),
        secret("db"),
        configmap("elsewhere", "other"),
        crd("widgets", "example.com", "Widget"),
        custom("Widget", "w1"),
        obj("Event", "web.1", "shop"),
    )


def names(p: Plan, *, applied: bool = True) -> list[str]:
    return [i.ref.where() for i in p.items if (i.obj is not None) is applied]


def test_items_come_in_tier_order() -> None:
    p = make_plan(shop())
    tiers = [i.tier for i in p.items]
    assert tiers == sorted(tiers)
    assert p.items[0].ref.kind == "CustomResourceDefinition"
    assert names(p)[-1] == "widgets.example.com/shop/w1"


def test_controller_owned_items_and_events_are_skipped_with_reasons() -> None:
    skipped = {i.ref.name: i.skip_reason for i in make_plan(shop()).items if i.obj is None}
    assert set(skipped) == {"web-5d9", "web-5d9-abc", "web.1"}
    assert "Deployment/web" in (skipped["web-5d9"] or "")


def test_namespace_filter_brings_its_namespace_and_the_crds_it_uses() -> None:
    p = make_plan(shop(), included_namespaces=["shop"])
    applied = names(p)
    assert "namespaces/shop" in applied and "namespaces/other" not in applied
    assert "customresourcedefinitions.apiextensions.k8s.io/widgets.example.com" in applied
    assert "configmaps/other/elsewhere" not in applied


def test_excluded_namespace() -> None:
    assert "configmaps/other/elsewhere" not in names(
        make_plan(shop(), excluded_namespaces=["other"])
    )


def test_resource_filter_still_creates_the_namespace() -> None:
    p = make_plan(shop(), included_namespaces=["shop"], included_resources=["configmaps"])
    assert names(p) == ["namespaces/shop", "configmaps/shop/settings"]


def test_single_item() -> None:
    p = make_plan(shop(), included_namespaces=["shop"], include_items=["deployment/web"])
    assert names(p) == ["namespaces/shop", "deployments.apps/shop/web"]


def test_label_selector() -> None:
    objects = shop()
    for _, o in objects:
        if o["metadata"]["name"] == "settings":
            o["metadata"]["labels"] = {"app": "web"}
    p = make_plan(objects, included_namespaces=["shop"], label_selector="app=web")
    assert names(p) == ["namespaces/shop", "configmaps/shop/settings"]


def test_namespace_mapping_moves_items_and_remembers_where_from() -> None:
    p = make_plan(shop(), included_namespaces=["shop"], namespace_mappings={"shop": "shop-2"})
    cm = next(i for i in p.items if i.ref.name == "settings")
    assert cm.ref.namespace == "shop-2" and cm.source.namespace == "shop"
    assert cm.obj is not None and cm.obj["metadata"]["namespace"] == "shop-2"
    assert "namespaces/shop-2" in names(p)


def test_a_namespace_missing_from_the_backup_is_created_empty() -> None:
    p = make_plan(backup_of(configmap("settings")), included_namespaces=["shop"])
    assert names(p) == ["namespaces/shop", "configmaps/shop/settings"]
    assert any("created empty" in w for w in p.warnings)


def test_unused_namespace_mapping_is_a_warning() -> None:
    p = make_plan(shop(), namespace_mappings={"shp": "x"})
    assert any("shp" in w for w in p.warnings)


def test_bound_volume_and_storage_class_come_with_the_claim() -> None:
    objects = backup_of(
        namespace("shop"),
        pvc("data", volume="pv-1", sc="gp2"),
        pv("pv-1", claim="data", sc="gp2"),
        pv("pv-unrelated", claim_ns="other", claim="x"),
        obj("StorageClass", "gp2", provisioner="ebs"),
    )
    p = make_plan(objects, included_namespaces=["shop"])
    assert set(names(p)) == {
        "namespaces/shop",
        "persistentvolumeclaims/shop/data",
        "persistentvolumes/pv-1",
        "storageclasses.storage.k8s.io/gp2",
    }
    claim = next(i for i in p.items if i.ref.kind == "PersistentVolumeClaim")
    assert claim.obj is not None and claim.obj["spec"]["volumeName"] == "pv-1"


def test_no_cluster_resources_means_only_namespaces() -> None:
    p = make_plan(shop(), included_namespaces=["shop"], include_cluster_resources="false")
    assert not [i for i in p.items if i.ref.namespace is None and i.ref.kind != "Namespace"]


def test_planning_does_not_modify_the_backup_objects() -> None:
    objects = shop()
    before = [repr(o) for _, o in objects]
    make_plan(objects, namespace_mappings={"shop": "x"})
    assert [repr(o) for _, o in objects] == before


def test_transformed_objects_carry_no_server_fields() -> None:
    for item in make_plan(shop()).to_apply:
        assert item.obj is not None
        assert "uid" not in item.obj["metadata"] and "status" not in item.obj
        assert item.tier == tier_of(item.ref.group, item.ref.kind)


def test_invalid_item_pattern_is_refused_before_planning() -> None:
    with pytest.raises(UserInputError):
        make_plan(shop(), include_items=["nonsense"])
