from backupd.restore.actions import metadata
from tests.unit.actions.builders import context, deployment, namespace, owned_by


def test_server_set_metadata_and_status_are_dropped() -> None:
    d = owned_by(deployment("web"), namespace("shop"))
    out = metadata.run(d, context())
    assert set(out["metadata"]) == {"name", "namespace"}
    assert "status" not in out


def test_user_labels_and_annotations_stay_controller_ones_go() -> None:
    d = deployment("web")
    d["metadata"]["annotations"]["owner"] = "team-a"
    out = metadata.run(d, context())
    assert out["metadata"]["annotations"] == {"owner": "team-a"}


def test_namespace_loses_its_server_set_name_label() -> None:
    out = metadata.run(namespace("shop"), context())
    assert "labels" not in out["metadata"]
    assert out["spec"] == {"finalizers": ["kubernetes"]}
