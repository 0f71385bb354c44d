from backupd.restore.actions import Changed, pvc
from tests.unit.actions.builders import context
from tests.unit.actions.builders import pvc as make_pvc


def test_binding_annotations_are_cleaned_and_restored_volume_kept() -> None:
    out = pvc.run(make_pvc("data", volume="pv-1"), context(restored_pvs=frozenset({"pv-1"})))
    assert isinstance(out, dict)
    assert out["metadata"]["annotations"] == {"team": "a"}
    assert out["spec"]["volumeName"] == "pv-1"


def test_claim_of_a_volume_not_restored_binds_anew() -> None:
    result = pvc.run(make_pvc("data", volume="pv-1"), context(restored_pvs=frozenset()))
    assert isinstance(result, Changed)
    assert "volumeName" not in result.obj["spec"]
    assert "pv-1" in result.notes[0]
