"""The audit views a Velero user reaches for: `backup describe --details`, `backup get`,
`backup diff` (two backups, or one and the live cluster), `backup show`, `backup logs`,
and `restore create --dry-run --changes-only`, run as real processes against the
sandbox."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client

from backupd.sandbox.cluster import Sandbox
from tests.fixtures.cli import backupctl, error_line
from tests.fixtures.clusters import api_client
from tests.fixtures.workloads import configmap, seed_realistic_namespace
from tests.integration.restore_support import create_shop, wait_shop_running

pytestmark = pytest.mark.integration

ANSI = re.compile(r"\x1b\[")


@dataclass
class Shop:
    """A shop namespace backed up twice: `before`, then changes, then `after`."""

    namespace: str
    env: dict[str, str]
    url: str
    kube: client.ApiClient

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        res = backupctl(*args, env=self.env)
        assert "Traceback" not in res.stderr, res.stderr
        return res

    def ok(self, *args: str) -> str:
        res = self.run(*args)
        assert res.returncode == 0, res.stderr
        return res.stdout


@pytest.fixture(scope="module")
def shop(cluster: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    tmp = tmp_path_factory.mktemp("views")
    ns = f"views-{uuid.uuid4().hex[:6]}"
    url = (tmp / "store").as_uri()
    env = {
        "KUBECONFIG": str(cluster.kubeconfig),
        "BACKUPD_CONFIG": str(tmp / "config.yaml"),
        "BACKUPD_LOCATION": url,
    }
    with api_client(cluster.kubeconfig) as api:
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        core.create_namespace({"metadata": {"name": ns}})
        create_shop(cluster.kubeconfig, ns)
        wait_shop_running(api, ns)
        shop = Shop(ns, env, url, api)
        shop.ok("backup", "create", "before", "--include-namespaces", ns)
        core.patch_namespaced_config_map("settings", ns, {"data": {"mode": "debug"}})
        core.create_namespaced_config_map(ns, configmap("added-later", a="b"))
        apps.patch_namespaced_deployment_scale("web", ns, {"spec": {"replicas": 3}})
        wait_shop_running(api, ns, web=3)  # a new Pod: controller-owned churn
        shop.ok("backup", "create", "after", "--include-namespaces", ns)
        yield shop
        core.delete_namespace(ns, propagation_policy="Background")


def test_describe_details_lists_every_object_grouped_by_kind(shop: Shop) -> None:
    ns = shop.namespace
    text = shop.ok("backup", "describe", "before", "--details")
    assert "Per namespace" in text  # the counts stay, as the summary
    listing = text[text.index("Resource List:") :]
    deployments = listing[listing.index("  apps/v1/Deployment:") :].splitlines()
    assert deployments[1] == f"    - {ns}/web"
    assert f"    - {ns}/settings" in listing and "  v1/ConfigMap:" in listing
    assert f"    - {ns}\n" in listing  # the Namespace itself, cluster-scoped
    data = json.loads(shop.ok("backup", "describe", "before", "--details", "-o", "json"))
    items = data["resourceList"]
    assert sum(len(v) for v in items.values()) == data["status"]["progress"]["itemsBackedUp"]
    counts = data["status"]["resourceCounts"]
    assert len(items["v1/Pod"]) == counts["pods"] >= 3  # two web pods, the db pod, ...
    assert len(items["apps/v1/ReplicaSet"]) == counts["replicasets.apps"]
    assert "resourceList" not in json.loads(shop.ok("backup", "describe", "before", "-o", "json"))


def test_get_shows_scope_location_and_expiry_as_an_age_uncoloured_in_a_pipe(shop: Shop) -> None:
    text = shop.ok("backup", "get", "before")
    header, row = text.splitlines()[:2]
    for column in ("STATUS", "CREATED", "EXPIRES", "SCOPE", "LOCATION"):
        assert column in header
    assert f"ns={shop.namespace}" in row and shop.url in row
    assert re.search(r"\b29d\b", row), row  # --ttl 720h, a moment ago
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", row), row
    assert not ANSI.search(text)
    wide_header, wide_row = shop.ok("backup", "get", "before", "-o", "wide").splitlines()[:2]
    assert wide_header.split()[-4:] == ["TTL", "DURATION", "ENCRYPTED", "SIGNED"]
    assert wide_row.split()[-4] == "720h" and wide_row.split()[-2:] == ["no", "no"]


def test_get_colours_the_status_on_a_terminal(shop: Shop) -> None:
    leader, follower = os.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "cli", "backup", "get", "before"],
            stdout=follower,
            stderr=subprocess.PIPE,
            env={
                **{k: v for k, v in os.environ.items() if k != "NO_COLOR"},
                **shop.env,
                "COLUMNS": "250",
                "TERM": "xterm",
            },
            timeout=120,
        )
        os.close(follower)
        out = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(leader)
    assert proc.returncode == 0, proc.stderr
    assert re.search(rb"\x1b\[[0-9;]*32m(\x1b\[[0-9;]*m)*Completed", out), out  # green


def test_diff_names_both_backups_groups_by_namespace_and_filters(shop: Shop) -> None:
    ns = shop.namespace
    text = shop.ok("backup", "diff", "before", "after")
    lines = text.splitlines()
    assert re.fullmatch(r"--- backup before\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", lines[0])
    assert re.fullmatch(r"\+\+\+ backup after\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", lines[1])
    assert f"namespace {ns}:" in lines
    assert "  + configmaps/added-later" in lines
    assert "  ~ configmaps/settings" in lines
    assert any(line.startswith("  + pods/web-") for line in lines)  # the scaled-up Pod

    quiet = shop.run("backup", "diff", "before", "after", "--hide-owned")
    assert quiet.returncode == 0, quiet.stderr
    assert "pods/" not in quiet.stdout and "replicasets" not in quiet.stdout
    assert "  ~ deployments.apps/web" in quiet.stdout  # replicas 2 -> 3 is a real change
    assert "controller-owned change(s) hidden" in quiet.stderr
    assert "filters: controller-owned objects hidden" in quiet.stdout

    only_cm = json.loads(shop.ok("backup", "diff", "before", "after", "--kind", "cm", "-o", "json"))
    assert only_cm["added"] == [f"configmaps/added-later -n {ns}"]
    assert [c["item"] for c in only_cm["changed"]] == [f"configmaps/settings -n {ns}"]
    assert only_cm["removed"] == []
    assert only_cm["from"]["name"] == "backup before" and only_cm["to"]["name"] == "backup after"

    elsewhere = json.loads(
        shop.ok("backup", "diff", "before", "after", "--namespace", "kube-system", "-o", "json")
    )
    assert (elsewhere["added"], elsewhere["removed"], elsewhere["changed"]) == ([], [], [])
    assert "did you mean configmap" in error_line(
        shop.run("backup", "diff", "before", "after", "--kind", "configmapz")
    )


def test_diff_live_shows_what_changed_since_the_backup(shop: Shop) -> None:
    ns = shop.namespace
    core = client.CoreV1Api(shop.kube)
    core.create_namespaced_config_map(ns, configmap("made-today", x="y"))
    core.patch_namespaced_config_map("settings", ns, {"data": {"mode": "live"}})
    core.delete_namespaced_service("db-headless", ns)
    try:
        res = shop.run("backup", "diff", "after", "--live", "--hide-owned", "-o", "json")
        assert res.returncode == 0, res.stderr
        d = json.loads(res.stdout)
        assert d["added"] == [f"configmaps/made-today -n {ns}"]
        assert d["removed"] == [f"services/db-headless -n {ns}"]
        # normalised as a restore compares: nothing else differs from a moment ago
        assert [c["item"] for c in d["changed"]] == [f"configmaps/settings -n {ns}"]
        assert {"path": "data.mode", "old": "debug", "new": "live"} in d["changed"][0]["changes"]
        assert d["to"]["name"].startswith("live cluster https://127.0.0.1")
        text = shop.ok("backup", "diff", "after", "--live", "--hide-owned")
        assert text.splitlines()[1].startswith("+++ live cluster")
    finally:
        core.delete_namespaced_config_map("made-today", ns)
        core.patch_namespaced_config_map("settings", ns, {"data": {"mode": "debug"}})
        core.create_namespaced_service(
            ns,
            {
                "metadata": {"name": "db-headless"},
                "spec": {"clusterIP": "None", "selector": {"app": "db"}, "ports": [{"port": 5432}]},
            },
        )


def test_show_takes_kubectl_spellings_and_suggests_close_items(shop: Shop) -> None:
    ns = shop.namespace
    shown = shop.ok("backup", "show", "before", "cm/settings", "-n", ns)
    assert shown.startswith("apiVersion: v1\nkind: ConfigMap\n")
    assert "mode: production" in shown
    deploy = shop.ok("backup", "show", "before", "deploy/web")
    assert deploy.startswith("apiVersion: apps/v1\nkind: Deployment\n")
    assert shop.ok("backup", "show", "before", "configmap/settings", "-n", ns) == shown
    typo = error_line(shop.run("backup", "show", "before", "cm/setings", "-n", ns))
    assert typo == (
        f"error: cm/setings in namespace {ns} is not in backup before; "
        f"did you mean cm/settings -n {ns}?"
    )
    kind_typo = error_line(shop.run("backup", "show", "before", "confgmap/settings"))
    assert f"did you mean configmap/settings -n {ns}?" in kind_typo


def test_dry_run_changes_only_shows_a_plan_without_unchanged_rows_or_a_name(
    shop: Shop,
) -> None:
    res = shop.run("restore", "create", "--from-backup", "before", "--dry-run", "--changes-only")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    actions = {line.split()[0] for line in out.splitlines() if line.strip()}
    assert "unchanged" not in actions and "skipped" not in actions
    assert re.search(r"differs\s+configmaps\s+\S+\s+settings", out), out
    assert re.search(r"differs\s+deployments.apps\s+\S+\s+web", out), out  # 2 replicas, not 3
    plan = [line for line in out.splitlines() if line.startswith("Plan")]
    assert plan and re.search(r"\d+ unchanged, \d+ differs", plan[0]), out
    assert "Completed" not in out and "before-20" not in out + res.stderr
    full = shop.ok("restore", "create", "--from-backup", "before", "--dry-run")
    assert re.search(r"^unchanged\s+\S+", full, re.MULTILINE), full  # shown without the flag
    data = json.loads(
        shop.ok(
            "restore", "create", "--from-backup", "before", "--dry-run", "--changes-only",
            "-o", "json",
        )
    )  # fmt: skip
    assert "name" not in data["restore"]["metadata"]
    assert {i["outcome"] for i in data["items"]} == {"differs"}  # no unchanged or skipped
    assert data["restore"]["status"]["counts"]["unchanged"] > 0  # still counted
    alone = shop.run("restore", "create", "--from-backup", "before", "--changes-only")
    assert "use it with --dry-run" in error_line(alone)


def test_logs_say_what_was_listed_per_resource(shop: Shop) -> None:
    ns = shop.namespace
    log = shop.ok("backup", "logs", "before")
    counts = json.loads(shop.ok("backup", "describe", "before", "--details", "-o", "json"))[
        "status"
    ]["resourceCounts"]
    assert f"listed apps/v1 deployments in {ns}: 1 item\n" in log
    for resource, key in (("v1 pods", "pods"), ("v1 secrets", "secrets")):
        n = counts[key]
        assert f"listed {resource} in {ns}: {n} item{'' if n == 1 else 's'}\n" in log
    assert re.search(rf"listed v1 configmaps in {ns}: \d+ items\n", log)
    assert re.search(r"listed v1 namespaces: \d+ items, 1 taken\n", log), log  # of all
    assert "backup Completed" in log


def test_diff_live_right_after_a_backup_of_a_realistic_namespace_shows_nothing(
    cluster: Sandbox, kube: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    """Normalised as a restore compares, nothing the cluster does on its own (status,
    resourceVersion, controllers' annotations) reads as a change: a PVC bound to its
    PV, an HPA, a CronJob, an Ingress, custom resources and their CRD."""
    seed_realistic_namespace(kube, namespace)
    env = {
        "KUBECONFIG": str(cluster.kubeconfig),
        "BACKUPD_CONFIG": str(tmp_path / "config.yaml"),
        "BACKUPD_LOCATION": (tmp_path / "store").as_uri(),
    }
    made = backupctl("backup", "create", "now", "--include-namespaces", namespace, env=env)
    assert made.returncode == 0, made.stderr
    res = backupctl("backup", "diff", "now", "--live", "-o", "json", env=env)
    assert res.returncode == 0, res.stderr
    d = json.loads(res.stdout)
    owned = {"pods", "replicasets.apps", "endpointslices.discovery.k8s.io", "endpoints"}
    churn = [
        c
        for c in d["added"] + d["removed"] + [c["item"] for c in d["changed"]]
        if c.split("/")[0] not in owned
    ]
    assert churn == [], d
