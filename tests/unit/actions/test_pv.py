from backupd.restore.actions import pv
from tests.unit.actions.builders import context
from tests.unit.actions.builders import pv as make_pv


def test_claim_ref_points_at_the_claim_by_name_only() -> None:
    out = pv.run(make_pv("pv-1", claim_ns="shop", claim="data"), context())
    assert out["spec"]["claimRef"] == {
        "kind": "PersistentVolumeClaim",
        "namespace": "shop",
        "name": "data",
    }
    assert out["metadata"]["annotations"] == {}
