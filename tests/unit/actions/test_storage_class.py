from backupd.restore.actions import Skip, storage_class
from tests.unit.actions.builders import context, obj, pv, pvc

MAPPED = {"storage_class_mappings": {"gp2": "standard"}}


def test_pv_and_pvc_classes_are_mapped() -> None:
    assert (
        storage_class.run(pv("pv-1"), context(**MAPPED))["spec"]["storageClassName"] == "standard"
    )
    assert (
        storage_class.run(pvc("data"), context(**MAPPED))["spec"]["storageClassName"] == "standard"
    )


def test_statefulset_claim_templates_are_mapped() -> None:
    sts = obj(
        "StatefulSet",
        "db",
        "shop",
        spec={
            "volumeClaimTemplates": [
                {"metadata": {"name": "d"}, "spec": {"storageClassName": "gp2"}}
            ]
        },
    )
    out = storage_class.run(sts, context(**MAPPED))
    assert out["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "standard"


def test_mapped_away_storage_class_is_not_restored() -> None:
    result = storage_class.run(obj("StorageClass", "gp2"), context(**MAPPED))
    assert isinstance(result, Skip) and "standard" in result.reason


def test_unmapped_class_is_kept() -> None:
    assert (
        storage_class.run(pvc("data", sc="fast"), context(**MAPPED))["spec"]["storageClassName"]
        == "fast"
    )
