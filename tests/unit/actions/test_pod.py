from backupd.restore.actions import pod
from tests.unit.actions.builders import context
from tests.unit.actions.builders import pod as make_pod


def test_bare_pod_is_scheduled_again_with_a_fresh_token() -> None:
    spec = pod.run(make_pod("debug"), context())["spec"]
    assert "nodeName" not in spec and "priority" not in spec
    assert [v["name"] for v in spec["volumes"]] == ["data"]
    assert [m["name"] for m in spec["containers"][0]["volumeMounts"]] == ["data"]
