from backupd.restore.actions import namespace_mapping
from tests.unit.actions.builders import configmap, context, namespace, obj, pv

MAPPED = {"namespace_mappings": {"shop": "shop-restored"}}


def test_metadata_namespace_is_mapped() -> None:
    out = namespace_mapping.run(configmap("cfg", "shop"), context(**MAPPED))
    assert out["metadata"]["namespace"] == "shop-restored"


def test_namespace_object_is_renamed() -> None:
    assert namespace_mapping.run(namespace("shop"), context(**MAPPED))["metadata"]["name"] == (
        "shop-restored"
    )


def test_rolebinding_subjects_are_mapped_others_kept() -> None:
    rb = obj(
        "RoleBinding",
        "read",
        "shop",
        subjects=[
            {"kind": "ServiceAccount", "name": "app", "namespace": "shop"},
            {"kind": "ServiceAccount", "name": "ci", "namespace": "tools"},
        ],
    )
    out = namespace_mapping.run(rb, context(**MAPPED))
    assert [s["namespace"] for s in out["subjects"]] == ["shop-restored", "tools"]


def test_pv_claim_ref_is_mapped() -> None:
    out = namespace_mapping.run(pv("pv-1", claim_ns="shop"), context(**MAPPED))
    assert out["spec"]["claimRef"]["namespace"] == "shop-restored"


def test_unmapped_namespaces_are_untouched() -> None:
    out = namespace_mapping.run(configmap("cfg", "other"), context(**MAPPED))
    assert out["metadata"]["namespace"] == "other"
