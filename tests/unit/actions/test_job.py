from backupd.restore.actions import job
from tests.unit.actions.builders import context
from tests.unit.actions.builders import job as make_job


def test_controller_uid_labels_and_selector_are_removed() -> None:
    out = job.run(make_job("migrate"), context())
    assert "selector" not in out["spec"]
    assert out["spec"]["template"]["metadata"]["labels"] == {"job-name": "migrate"}
    assert out["metadata"]["labels"] == {"team": "a"}


def test_manual_selector_is_kept() -> None:
    j = make_job("migrate")
    j["spec"]["manualSelector"] = True
    j["spec"]["selector"] = {"matchLabels": {"app": "migrate"}}
    assert job.run(j, context())["spec"]["selector"] == {"matchLabels": {"app": "migrate"}}
