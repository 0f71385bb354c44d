"""Comparing a live object with the backup's version, as `restore` reports it, and the
body a replace sends. Pure: the server's rendering of the backup is given."""

from __future__ import annotations

import copy

from backupd.restore.actions import transform
from backupd.restore.diffing import compare, compare_fields
from backupd.restore.normalize import normalize
from backupd.restore.serverfields import replacement
from tests.unit.actions.builders import (
    JSON,
    configmap,
    context,
    deployment,
    job,
    obj,
    pv,
    pvc,
    secret,
    service,
)


def desired(o: JSON, **spec: object) -> JSON:
    """What the restore would apply for `o`."""
    group = o["apiVersion"].rpartition("/")[0]
    out, _, _ = transform(copy.deepcopy(o), group, o["kind"], context(**spec))
    assert out is not None
    return out


def stored(o: JSON, **metadata: object) -> JSON:
    """`o` as the server stores it after a write: a new resourceVersion and generation."""
    out = copy.deepcopy(o)
    out["metadata"].update(resourceVersion="77", generation=9, **metadata)
    out["metadata"]["managedFields"] = [{"manager": "backupd", "operation": "Update"}]
    return out


def check(live: JSON, server_view: JSON) -> tuple[bool, str]:
    c = compare(normalize(live), normalize(server_view), "x")
    return c.identical, c.diff


def containers(d: JSON) -> list[JSON]:
    result: list[JSON] = d["spec"]["template"]["spec"]["containers"]
    return result


# -- the whole object ------------------------------------------------------------------


def test_an_unchanged_deployment_is_unchanged_despite_server_bookkeeping() -> None:
    live = deployment("web")
    assert check(live, stored(live)) == (True, "")


def test_an_env_var_added_after_the_backup_is_a_difference() -> None:
    backup_view = deployment("web")
    live = copy.deepcopy(backup_view)
    containers(live)[0]["env"] = [{"name": "DEBUG", "value": "1"}]
    identical, diff = check(live, stored(backup_view))
    assert not identical
    assert "-      - env:\n-        - name: DEBUG\n-          value: '1'" in diff
    assert "*" not in diff  # written out in full, no YAML anchors or aliases


def test_a_label_removed_after_the_backup_is_a_difference() -> None:
    backup_view = deployment("web")
    backup_view["metadata"]["labels"] = {"app": "web", "team": "shop"}
    live = copy.deepcopy(backup_view)
    del live["metadata"]["labels"]["team"]
    identical, diff = check(live, stored(backup_view))
    assert not identical and "+    team: shop" in diff


def test_a_changed_replica_count_is_a_readable_diff() -> None:
    identical, diff = check(deployment("web", replicas=5), stored(deployment("web", replicas=2)))
    assert not identical
    assert "-  replicas: 5" in diff and "+  replicas: 2" in diff
    assert diff.startswith("--- live x\n+++ backup x")


def test_a_status_that_moved_on_is_not_a_difference() -> None:
    live = deployment("web")
    live["status"] = {"replicas": 7, "observedGeneration": 12}
    assert check(live, stored(deployment("web")))[0]


def test_secret_values_never_appear_in_a_diff() -> None:
    backup_view = secret("db", password="c2VjcmV0LW9sZA==", user="YWRtaW4=")
    live = secret("db", password="bmV3LXNlY3JldA==", user="YWRtaW4=", extra="ZXh0cmE=")
    live["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": '{"data":{"password":"bmV3"}}'
    }
    identical, diff = check(live, stored(backup_view))
    assert not identical
    for value in ("c2VjcmV0LW9sZA==", "bmV3LXNlY3JldA==", "YWRtaW4=", "ZXh0cmE=", "bmV3"):
        assert value not in diff
    assert "+  password: '*** (differs)'" in diff
    assert "  user: '***'" in diff
    assert "-  extra: '***'" in diff


# -- the body of a replace ---------------------------------------------------------------


def test_a_replace_body_is_the_backups_version_at_the_live_resource_version() -> None:
    backup = deployment("web")
    live = deployment("web")
    containers(live)[0]["env"] = [{"name": "DEBUG", "value": "1"}]
    live["metadata"].update(resourceVersion="555", uid="live-uid")
    live["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "8"

    body = replacement(desired(backup), live)

    assert "env" not in containers(body)[0]
    assert body["metadata"]["resourceVersion"] == "555"
    assert body["metadata"]["uid"] == "live-uid"
    assert body["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "8"
    assert body["status"] == live["status"]
    assert "env" not in containers(desired(backup))[0]  # the planned object is not touched


def test_a_replace_keeps_owners_and_finalizers_the_cluster_added() -> None:
    backup = configmap("cfg")
    live = configmap("cfg")
    live["metadata"]["ownerReferences"] = [{"kind": "App", "name": "a", "uid": "owner-uid"}]
    live["metadata"]["finalizers"] = ["example.com/cleanup"]
    body = replacement(desired(backup), live)
    assert body["metadata"]["ownerReferences"] == live["metadata"]["ownerReferences"]
    assert body["metadata"]["finalizers"] == ["example.com/cleanup"]


def test_a_replace_keeps_a_services_allocated_addresses_and_node_ports() -> None:
    backup = service("web", cluster_ip="10.0.0.7", node_port=30080)
    live = service("web", cluster_ip="10.96.5.5", node_port=31999)
    body = replacement(desired(backup), live)
    assert body["spec"]["clusterIP"] == "10.96.5.5"
    assert body["spec"]["clusterIPs"] == ["10.96.5.5"]
    assert body["spec"]["ports"][0]["nodePort"] == 31999


def test_a_replace_with_preserved_node_ports_sets_the_backups_node_port() -> None:
    backup = service("web", node_port=30080)
    live = service("web", cluster_ip="10.96.5.5", node_port=31999)
    body = replacement(desired(backup, preserve_nodeports=True), live, preserve_nodeports=True)
    assert body["spec"]["ports"][0]["nodePort"] == 30080
    assert body["spec"]["clusterIP"] == "10.96.5.5"


def test_a_replace_keeps_a_volumes_binding_and_a_claims_volume() -> None:
    live_pv = pv("pv-1")
    live_pv["spec"]["claimRef"]["uid"] = "live-claim-uid"
    assert replacement(desired(pv("pv-1")), live_pv)["spec"]["claimRef"]["uid"] == (
        "live-claim-uid"
    )
    claim = desired(pvc("data", volume="pv-1"))  # pv-1 is not restored: the claim binds anew
    assert "volumeName" not in claim["spec"]
    assert replacement(claim, pvc("data", volume="pv-9"))["spec"]["volumeName"] == "pv-9"


def test_a_replace_keeps_a_jobs_selector_and_uid_labels() -> None:
    body = replacement(desired(job("migrate", uid="old")), job("migrate", uid="live"))
    assert body["spec"]["selector"] == {
        "matchLabels": {"batch.kubernetes.io/controller-uid": "live"}
    }
    assert body["spec"]["template"]["metadata"]["labels"]["controller-uid"] == "live"


def test_a_replace_keeps_the_rules_an_aggregated_cluster_role_was_given() -> None:
    rule = {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}
    aggregated = {"clusterRoleSelectors": [{"matchLabels": {"agg": "yes"}}]}
    role = obj("ClusterRole", "view-all", aggregationRule=aggregated, rules=[])
    role["apiVersion"] = "rbac.authorization.k8s.io/v1"
    live = copy.deepcopy(role)
    live["rules"] = [rule]
    assert replacement(role, live)["rules"] == [rule]


# -- the fallback: the backup's fields only -------------------------------------------


def restored(o: JSON) -> JSON:
    live = copy.deepcopy(o)
    live["metadata"].update(uid="new", resourceVersion="1", generation=1)
    return live


def check_fields(live: JSON, backup: JSON) -> tuple[bool, str]:
    c = compare_fields(normalize(live), normalize(desired(backup)), "x")
    return c.identical, c.diff


def test_by_fields_defaults_the_backup_lacks_are_not_differences() -> None:
    backup = deployment("web")
    live = restored(backup)
    live["spec"]["progressDeadlineSeconds"] = 600
    containers(live)[0]["terminationMessagePath"] = "/dev/x"
    assert check_fields(live, backup) == (True, "")


def test_by_fields_a_key_added_to_configmap_data_is_a_difference() -> None:
    live = restored(configmap("cfg", a="1", extra="2"))
    identical, diff = check_fields(live, configmap("cfg", a="1"))
    assert not identical and "-  extra: '2'" in diff


def test_by_fields_an_added_label_is_a_difference() -> None:
    live = restored(configmap("cfg"))
    live["metadata"]["labels"] = {"touched": "yes"}
    assert not check_fields(live, configmap("cfg"))[0]


def test_by_fields_secret_values_are_masked_too() -> None:
    live = restored(secret("db", password="bmV3"))
    identical, diff = check_fields(live, secret("db", password="b2xk"))
    assert not identical and "bmV3" not in diff and "b2xk" not in diff
    assert "+  password: '*** (differs)'" in diff
