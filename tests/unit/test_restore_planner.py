"""The planner: which items a restore touches, in what order, and how they look."""

from __future__ import annotations

from typing import Any

import pytest

from backupd.errors import UserInputError
from backupd.kinds.spellings import TypeName
from backupd.restore.ordering import CUSTOM_TIER, OTHER_TIER, tier_of
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


def make_plan(
    objects: list[tuple[Any, JSON]], served: tuple[TypeName, ...] = (), **kwargs: Any
) -> Plan:
    s = spec(**kwargs)
    selection = select_entries([e for e, _ in objects], s, served=served)
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
    why = {i.ref.name: i.reason for i in p.items}
    assert why["pv-1"] == "used by persistentvolumeclaim shop/data"
    assert why["gp2"] == "used by persistentvolumeclaim shop/data and 1 more"  # and pv-1


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
        custom = item.ref.kind == "Widget"
        assert item.tier == tier_of(item.ref.group, item.ref.kind, custom=custom)


def test_invalid_item_pattern_is_refused_before_planning() -> None:
    with pytest.raises(UserInputError):
        make_plan(shop(), include_items=["nonsense"])


# -- what a namespace needs from the cluster (backupd.kinds decides) ---------------
# kind -> (group, resource) of the types the shared builders do not know
MORE_TYPES = {
    "PriorityClass": ("scheduling.k8s.io", "priorityclasses"),
    "ClusterRole": ("rbac.authorization.k8s.io", "clusterroles"),
    "IngressClass": ("networking.k8s.io", "ingressclasses"),
    "Ingress": ("networking.k8s.io", "ingresses"),
    "ValidatingWebhookConfiguration": (
        "admissionregistration.k8s.io",
        "validatingwebhookconfigurations",
    ),
    "HTTPRoute": ("gateway.networking.k8s.io", "httproutes"),
}


def typed(kind: str, name: str, ns: str | None = None, **fields: Any) -> tuple[Any, JSON]:
    group, resource = MORE_TYPES[kind]
    o = obj(kind, name, ns, **fields)
    o["apiVersion"] = f"{group}/v1"
    return entry(o, resource), o


def uses(kind: str, name: str, **pod_spec: Any) -> JSON:
    o = deployment(name)
    o["spec"]["template"]["spec"].update(pod_spec)
    return o


def app() -> list[tuple[Any, JSON]]:
    """A namespace whose items need cluster-scoped objects, and a cluster full of others."""
    statefulset = obj(
        "StatefulSet",
        "db",
        "shop",
        spec={
            "template": {"spec": {"containers": [{"name": "db", "image": "db"}]}},
            "volumeClaimTemplates": [{"spec": {"storageClassName": "ssd"}}],
        },
    )
    rolebinding = obj(
        "RoleBinding",
        "admins",
        "shop",
        roleRef={"kind": "ClusterRole", "name": "shop-admin"},
        subjects=[{"kind": "ServiceAccount", "name": "web", "namespace": "shop"}],
    )
    route = obj("HTTPRoute", "r1", "shop", spec={"parentRefs": []})
    route["apiVersion"] = "gateway.networking.k8s.io/v1"
    return [
        *backup_of(
            namespace("shop"),
            uses("Deployment", "web", priorityClassName="high"),
            statefulset,
            rolebinding,
            obj("StorageClass", "ssd", provisioner="x"),
            obj("StorageClass", "unused", provisioner="x"),
            crd("httproutes", "gateway.networking.k8s.io", "HTTPRoute"),
            crd("gadgets", "example.com", "Gadget"),
        ),
        (entry(route, "httproutes"), route),
        typed("PriorityClass", "high", value=1000),
        typed("PriorityClass", "low", value=1),
        typed("ClusterRole", "shop-admin", rules=[]),
        typed("ClusterRole", "other", rules=[]),
        typed("IngressClass", "nginx", spec={"controller": "x"}),
        typed("IngressClass", "traefik", spec={"controller": "y"}),
        typed("Ingress", "web", "shop", spec={"ingressClassName": "nginx"}),
        typed("ValidatingWebhookConfiguration", "hooks", webhooks=[]),
    ]


def cluster_scoped(p: Plan) -> dict[str, str | None]:
    return {i.ref.where(): i.reason for i in p.to_apply if i.ref.namespace is None}


def test_a_namespace_brings_exactly_the_cluster_objects_it_needs_and_says_why() -> None:
    p = make_plan(app(), included_namespaces=["shop"])
    assert cluster_scoped(p) == {
        "namespaces/shop": None,
        "priorityclasses.scheduling.k8s.io/high": "used by deployment shop/web",
        "clusterroles.rbac.authorization.k8s.io/shop-admin": "used by rolebinding shop/admins",
        "storageclasses.storage.k8s.io/ssd": "used by statefulset shop/db",
        "ingressclasses.networking.k8s.io/nginx": "used by ingress shop/web",
        "customresourcedefinitions.apiextensions.k8s.io/httproutes.gateway.networking.k8s.io": (
            "used by httproute shop/r1"
        ),
    }
    high = next(i for i in p.items if i.ref.name == "high")
    assert high.notes[0] == "used by deployment shop/web"  # shown in the plan and the result


def test_a_custom_resource_in_a_k8s_io_group_comes_after_its_crd() -> None:
    p = make_plan(app(), included_namespaces=["shop"])
    route = next(i for i in p.items if i.ref.kind == "HTTPRoute")
    assert route.tier == CUSTOM_TIER and p.items[-1] is route
    ingress = next(i for i in p.items if i.ref.kind == "Ingress")
    assert ingress.tier == OTHER_TIER


def test_a_type_the_target_does_not_serve_is_ordered_as_custom() -> None:
    served = (TypeName("apps", "deployments", "Deployment"),)
    objects = backup_of(namespace("shop"), deployment("web"), custom("Gizmo", "g1"))
    p = make_plan(objects, served=served, included_namespaces=["shop"])
    tiers = {i.ref.kind: i.tier for i in p.items}
    assert tiers["Gizmo"] == CUSTOM_TIER and tiers["Deployment"] < CUSTOM_TIER


def test_an_excluded_type_is_not_pulled_in_but_warned_of() -> None:
    p = make_plan(
        app(), included_namespaces=["shop"], excluded_resources=["customresourcedefinitions"]
    )
    assert not [i for i in p.items if i.ref.kind == "CustomResourceDefinition"]
    assert [w for w in p.warnings if "httproutes.gateway.networking.k8s.io" in w] == [
        "CustomResourceDefinition httproutes.gateway.networking.k8s.io: used by httproute "
        "shop/r1; not restored: the resource filters leave "
        "customresourcedefinitions.apiextensions.k8s.io out, so it must already exist in the target"
    ]


def test_an_excluded_crd_stays_out_of_a_whole_backup_restore_too() -> None:
    crds = TypeName(
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        "customresourcedefinition",
        ("crd", "crds"),
    )
    p = make_plan(app(), served=(crds,), excluded_resources=["crd"])
    assert not [i for i in p.items if i.ref.kind == "CustomResourceDefinition"]
    assert any("CustomResourceDefinition httproutes" in w for w in p.warnings)


def test_a_mapped_storage_class_is_the_one_taken() -> None:
    objects = backup_of(
        namespace("shop"),
        pvc("data", volume=None, sc="gp2"),
        obj("StorageClass", "gp2", provisioner="ebs"),
        obj("StorageClass", "standard", provisioner="local"),
    )
    p = make_plan(objects, included_namespaces=["shop"], storage_class_mappings={"gp2": "standard"})
    assert set(cluster_scoped(p)) == {"namespaces/shop", "storageclasses.storage.k8s.io/standard"}


def test_short_names_come_from_the_target_cluster() -> None:
    served = (TypeName("apps", "deployments", "Deployment", "deployment", ("deploy",)),)
    p = make_plan(
        shop(), served=served, included_namespaces=["shop"], included_resources=["deploy"]
    )
    assert names(p) == ["namespaces/shop", "deployments.apps/shop/web"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"included_namespaces": ["shpo"]}, "namespace 'shpo' matches nothing in the backup"),
        ({"included_resources": ["gizmos"]}, "unknown resource 'gizmos'"),
        (
            {"included_namespaces": ["shop"], "include_items": ["deployment/wbe"]},
            "item 'deployment/wbe' matches nothing in the backup",
        ),
        (
            {"included_namespaces": ["other"], "included_resources": ["deployments"]},
            "nothing in the backup matches the filters \\(namespaces other; resources deployments",
        ),
        (
            {"included_namespaces": ["shop"], "label_selector": "app=nope"},
            "label selector 'app=nope' matches nothing in the backup",
        ),
    ],
)
def test_a_filter_that_matches_nothing_is_refused_with_its_name(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(UserInputError, match=message):
        make_plan(shop(), **kwargs)


def test_the_reason_names_the_deployment_not_the_pods_it_makes_again() -> None:
    web = uses("Deployment", "web", priorityClassName="high")
    rs = owned_by(obj("ReplicaSet", "web-5d9", "shop", spec=web["spec"]), web)
    made = owned_by(pod("web-5d9-abc"), rs)
    made["spec"]["priorityClassName"] = "high"
    objects = [
        (entry(made), made),
        *backup_of(namespace("shop"), rs, web),
        typed("PriorityClass", "high", value=1000),
    ]
    p = make_plan(objects, included_namespaces=["shop"])
    assert cluster_scoped(p)["priorityclasses.scheduling.k8s.io/high"] == (
        "used by deployment shop/web"
    )
