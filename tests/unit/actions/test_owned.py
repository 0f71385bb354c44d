from backupd.restore.actions import Skip, owned
from tests.unit.actions.builders import context, deployment, obj, owned_by, pod


def test_pod_of_a_restored_replicaset_is_skipped() -> None:
    rs = obj("ReplicaSet", "web-abc", "shop")
    result = owned.run(
        owned_by(pod("web-abc-1"), rs), context(restored_uids=frozenset({rs["metadata"]["uid"]}))
    )
    assert isinstance(result, Skip)
    assert "ReplicaSet/web-abc" in result.reason


def test_replicaset_whose_deployment_is_not_restored_is_kept() -> None:
    rs = owned_by(obj("ReplicaSet", "web-abc", "shop"), deployment("web"))
    assert owned.run(rs, context(restored_uids=frozenset())) is rs


def test_bare_pod_is_kept() -> None:
    p = pod("debug")
    assert owned.run(p, context(restored_uids=frozenset({"anything"}))) is p


def test_only_pods_replicasets_jobs_and_revisions() -> None:
    assert owned.ACTION.applies_to("batch", "Job")
    assert not owned.ACTION.applies_to("", "ConfigMap")
