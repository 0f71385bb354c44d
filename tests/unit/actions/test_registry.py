from backupd.restore.actions import REGISTRY, transform
from tests.unit.actions.builders import context, pod, service


def test_every_action_module_is_registered_once() -> None:
    names = [a.name for a in REGISTRY]
    assert len(names) == len(set(names)) == 12


def test_skips_run_before_transforms_and_strip_runs_last() -> None:
    assert REGISTRY[0].name == "skip-controller-owned"
    assert REGISTRY[-1].name == "strip-server-metadata"


def test_transform_collects_notes_and_strips_metadata() -> None:
    out, skipped, notes = transform(service("web"), "", "Service", context())
    assert skipped is None and out is not None
    assert notes == ["cluster IP cleared"]
    assert "uid" not in out["metadata"]


def test_transform_reports_a_skip() -> None:
    p = pod("web-1")
    p["metadata"]["ownerReferences"] = [
        {"kind": "ReplicaSet", "name": "web", "uid": "rs", "controller": True}
    ]
    out, skipped, _ = transform(p, "", "Pod", context(restored_uids=frozenset({"rs"})))
    assert out is None and skipped is not None
