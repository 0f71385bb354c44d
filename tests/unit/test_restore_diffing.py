"""Comparing a live object with the backup's version, as `restore` reports it."""

from __future__ import annotations

import copy

from backupd.restore.actions import transform
from backupd.restore.diffing import compare
from backupd.restore.normalize import normalize
from tests.unit.actions.builders import JSON, configmap, context, deployment, job, secret, service


def desired(o: JSON) -> JSON:
    """What the restore would apply for `o`."""
    group = o["apiVersion"].rpartition("/")[0]
    out, _, _ = transform(copy.deepcopy(o), group, o["kind"], context())
    assert out is not None
    return out


def restored(o: JSON, **server_changes: JSON) -> JSON:
    """`o` as the server returns it after a restore: new uid, defaults, new addresses."""
    live = copy.deepcopy(o)
    live["metadata"].update(uid="new", resourceVersion="1", generation=1)
    for key, value in server_changes.items():
        live[key] = value
    return live


def check(live: JSON, backup: JSON) -> tuple[bool, str]:
    c = compare(normalize(live), normalize(desired(backup)), "x")
    return c.identical, c.diff


def test_a_restored_deployment_is_unchanged_despite_server_fields_and_defaults() -> None:
    backup = deployment("web")
    live = restored(backup)
    live["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "1"
    live["spec"]["progressDeadlineSeconds"] = 600  # a default the backup lacks
    live["spec"]["template"]["spec"]["containers"][0]["terminationMessagePath"] = "/dev/x"
    assert check(live, backup) == (True, "")


def test_a_restored_service_with_new_addresses_is_unchanged() -> None:
    backup = service("web", node_port=30080)
    live = restored(backup)
    live["spec"]["clusterIP"] = live["spec"]["clusterIPs"][0] = "10.0.0.99"
    live["spec"]["ports"][0]["nodePort"] = 31999
    assert check(live, backup)[0]


def test_a_restored_job_with_a_new_uid_is_unchanged() -> None:
    backup = job("migrate", uid="old")
    live = job("migrate", uid="new")
    assert check(live, backup)[0]


def test_a_changed_value_is_a_readable_diff() -> None:
    backup = deployment("web", replicas=2)
    live = restored(deployment("web", replicas=5))
    identical, diff = check(live, backup)
    assert not identical
    assert "-  replicas: 5" in diff and "+  replicas: 2" in diff
    assert diff.startswith("--- live x\n+++ backup x")


def test_a_key_added_to_configmap_data_is_a_difference() -> None:
    live = restored(configmap("cfg", a="1", extra="2"))
    identical, diff = check(live, configmap("cfg", a="1"))
    assert not identical and "-  extra: '2'" in diff


def test_an_added_label_is_a_difference() -> None:
    live = restored(configmap("cfg"))
    live["metadata"]["labels"] = {"touched": "yes"}
    assert not check(live, configmap("cfg"))[0]


def test_patch_brings_live_back_to_the_backup() -> None:
    live = normalize(restored(configmap("cfg", a="changed", extra="2")))
    want = normalize(desired(configmap("cfg", a="1")))
    assert compare(live, want).patch == {"data": {"a": "1", "extra": None}}


def test_secret_values_never_appear_in_a_diff() -> None:
    backup = secret("db", password="c2VjcmV0LW9sZA==", user="YWRtaW4=")
    live = restored(secret("db", password="bmV3LXNlY3JldA==", user="YWRtaW4="))
    live["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": '{"data":{"password":"bmV3"}}'
    }
    identical, diff = check(live, backup)
    assert not identical
    for value in ("c2VjcmV0LW9sZA==", "bmV3LXNlY3JldA==", "YWRtaW4=", "bmV3"):
        assert value not in diff
    assert "+  password: '*** (differs)'" in diff
    assert "  user: '***'" in diff
