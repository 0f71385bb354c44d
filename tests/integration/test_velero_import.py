"""A Velero backup, made by a real Velero (tests/data/velero/, see generate.py there),
read and restored by backupctl; no Velero needed here.

- `location add --format velero`: backup get, describe --details and show read it;
  create and delete are refused in one line.
- `restore create --from-backup` into an empty sandbox: every object of the backup
  Velero's restore would bring is there and equal to its backed-up self after
  normalisation, the Deployment becomes available, Secrets are byte-identical.
- `backup diff` between the Velero backup and a backupd backup of the same namespace,
  made from the same manifests (tests/data/velero/shop.yaml) in another sandbox: the
  two hold the same objects, which differ in metadata only (and the per-cluster CA in
  kube-root-ca.crt); Velero's events, which backupd never backs up nor restores, are
  not compared, and the diff says so.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from backupd.archive.format import IndexEntry
from backupd.archive.stored import opened
from backupd.cluster.client import KubeClient
from backupd.restore.normalize import normalize
from backupd.sandbox.cluster import Sandbox
from backupd.storage import records
from backupd.storage.location import Location, open_location
from tests.fixtures.cli import backupctl, error_line, kubectl
from tests.fixtures.velero import FIXTURES, put_fixture
from tests.fixtures.waiting import eventually

pytestmark = pytest.mark.integration

MANIFESTS = FIXTURES / "shop.yaml"
# Fields the API server allocates anew for a restored object, compared apart.
ALLOCATED = {("", "services"): ("clusterIP", "clusterIPs")}
# Made again by controllers or the cluster: skipped by the restore, each with its reason.
REMADE = {"pods", "replicasets.apps", "endpoints", "endpointslices.discovery.k8s.io", "events"}


@pytest.fixture(scope="module")
def empty_box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(tmp_path_factory.mktemp("velero-target"), name="velero-target") as box:
        yield box


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config.yaml"
    monkeypatch.setenv("BACKUPD_CONFIG", str(path))
    return path


def bucket(tmp_path: Path) -> tuple[str, Location]:
    url = f"file://{tmp_path / 'bucket'}"
    location = open_location(url)
    put_fixture(location, "shop")
    put_fixture(location, "shop-config")
    return url, location


def ok(*args: str) -> str:
    res = backupctl(*args)
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    return res.stdout


def api_path(e: IndexEntry) -> str:
    base = f"/apis/{e.group}/{e.version}" if e.group else f"/api/{e.version}"
    where = f"/namespaces/{e.namespace}" if e.namespace else ""
    return f"{base}{where}/{e.resource}/{e.name}"


def backed_up(location: Location, name: str) -> list[tuple[IndexEntry, dict[str, Any]]]:
    location.format = "velero"
    backup = records.load_backup(location, name)
    with opened(location, backup) as o:
        return o.objects(o.entries)


def test_a_velero_location_lists_describes_and_shows_its_backups_read_only(
    tmp_path: Path, config: Path
) -> None:
    url, _ = bucket(tmp_path)
    ok("location", "add", "old", "--url", url, "--format", "velero")

    listed = json.loads(ok("backup", "get", "--location", "old", "-o", "json"))["items"]
    assert {b["metadata"]["name"]: b["status"]["phase"] for b in listed} == {
        "shop": "Completed",
        "shop-config": "Completed",
    }
    described = ok("backup", "describe", "shop", "--details", "--location", "old")
    assert "apps/v1/Deployment" in described and "shop/web" in described
    assert "Written by:   Velero (format 1.1.0), unsigned, read-only to backupd" in described
    shown = ok(
        "backup", "show", "shop", "secret/web-credentials", "-n", "shop", "--location", "old"
    )
    assert "key.bin: '***'" in shown and "AP8B" not in shown  # masked

    create = error_line(backupctl("backup", "create", "x", "--location", "old"))
    assert "holds Velero backups" in create
    delete = error_line(backupctl("backup", "delete", "shop", "--yes", "--location", "old"))
    assert "written by Velero" in delete
    assert (tmp_path / "bucket" / "backups" / "shop" / "shop.tar.gz").exists()


def restore(box: Sandbox, *more: str) -> dict[str, Any]:
    argv = ["restore", "create", "--from-backup", "shop", "--location", "old"]
    out: dict[str, Any] = json.loads(
        ok(*argv, "--kubeconfig", str(box.kubeconfig), *more, "-o", "json")
    )
    return out


def test_a_velero_backup_restores_into_an_empty_sandbox_equal_to_what_was_backed_up(
    tmp_path: Path, config: Path, empty_box: Sandbox
) -> None:
    url, location = bucket(tmp_path)
    ok("location", "add", "old", "--url", url, "--format", "velero")
    kube = KubeClient.from_kubeconfig(empty_box.kubeconfig)

    plan = restore(empty_box, "--dry-run")
    skipped = {
        (i["group"], i["resource"], i.get("namespace"), i["name"]): i.get("reason")
        for i in plan["items"]
        if i["outcome"] == "skipped"
    }
    done = restore(empty_box)

    warnings = [w["message"] for w in done["status"]["warnings"]]
    assert done["status"]["phase"] == "Completed", done["status"]
    assert "backup shop was written by Velero: it carries no signature to verify" in warnings
    assert any(w.startswith("results not stored") for w in warnings)  # read-only location
    compared = 0
    for entry, original in backed_up(location, "shop"):
        key = (entry.group, entry.resource, entry.namespace, entry.name)
        if key in skipped:  # pods, events, endpoints... and kube-root-ca.crt, each with why
            assert entry.group_resource in REMADE or entry.name == "kube-root-ca.crt", key
            continue
        live = kube.get(api_path(entry))
        want, got = normalize(original), normalize(live)
        for field in ALLOCATED.get((entry.group, entry.resource), ()):
            assert field in got["spec"]  # allocated again by the target
            want["spec"].pop(field, None)
            got["spec"].pop(field, None)
        assert got == want, entry.path
        if entry.resource == "secrets":
            assert live["data"] == original["data"]  # byte for byte
        compared += 1
    assert compared == 16

    eventually(
        lambda: (
            kube.get("/apis/apps/v1/namespaces/shop/deployments/web")
            .get("status", {})
            .get("availableReplicas")
            == 2
        ),
        timeout=120,
        what="deployment shop/web available",
    )
    mapped = restore(empty_box, "--namespace-mappings", "shop:shop-copy", "--dry-run")
    created = {
        (i["kind"], i.get("namespace")) for i in mapped["items"] if i["outcome"] == "created"
    }
    assert ("Deployment", "shop-copy") in created and ("Namespace", None) in created
    assert not {ns for _, ns in created} & {"shop"}  # the originals are never overwritten
    again = restore(empty_box, "--dry-run")
    outcomes = {i["outcome"] for i in again["items"]}
    assert outcomes <= {"unchanged", "skipped"}, [
        (i["kind"], i["name"], i.get("reason"))
        for i in again["items"]
        if i["outcome"] not in ("unchanged", "skipped")
    ]


def test_backup_diff_of_velero_and_backupd_backups_of_the_same_namespace_shows_only_metadata(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, config: Path
) -> None:
    url, _ = bucket(tmp_path)
    with Sandbox(tmp_path_factory.mktemp("velero-source"), name="velero-source") as box:
        documents = MANIFESTS.read_text().split("\n---\n")
        kubectl(box.kubeconfig, "create", "-f", "-", stdin=documents[0])
        kubectl(box.kubeconfig, "wait", "--for=condition=Established", "crd", "--all")
        kubectl(box.kubeconfig, "create", "-f", "-", stdin="\n---\n".join(documents[1:]))
        with KubeClient.from_kubeconfig(box.kubeconfig) as kube:
            for path in ("serviceaccounts/default", "configmaps/kube-root-ca.crt"):
                eventually(  # the controller-manager adds both to a new namespace, in its time
                    lambda path=path: kube.get(f"/api/v1/namespaces/shop/{path}"),
                    what=f"{path} in namespace shop",
                )
        ok(
            "backup",
            "create",
            "ours",
            "--include-namespaces",
            "shop",
            "--location",
            url,
            "--kubeconfig",
            str(box.kubeconfig),
        )

    diff = ["backup", "diff", "shop", "ours", "--hide-owned", "--location", url, "-o", "json"]
    res = backupctl(*diff)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)

    # nothing only one side holds: Velero's ClusterRoleBinding of the namespace's
    # ServiceAccount, and its ClusterRole, are taken by backupd's auto scope too
    assert report["added"] == [] and report["removed"] == []
    # ... but for the namespace's events, which backupd never backs up nor restores:
    # not compared, and said so in one line
    hidden = report["hiddenNeverKept"]
    assert set(hidden) == {"events"} and hidden["events"] > 0
    assert (
        f"not compared: {hidden['events']} events (backupd never backs up nor restores them: "
        "events are transient and recreated by the cluster); --show-all compares them too"
    ) in res.stderr.splitlines()
    changed = {c["item"]: [ch["path"] for ch in c["changes"]] for c in report["changed"]}
    assert set(manifest_refs()) <= set(changed)  # on both sides (their uids differ)
    # each side's objects differ in metadata only (uid, resourceVersion, timestamps ...),
    # except the per-cluster kube-root-ca.crt: the two sandboxes have different CAs (each
    # cluster writes its own CA into every namespace), so its data.ca.crt cannot match
    beyond_metadata = {
        item: [p for p in paths if not p.startswith("metadata.")] for item, paths in changed.items()
    }
    assert {item: paths for item, paths in beyond_metadata.items() if paths} == {
        "configmaps/kube-root-ca.crt -n shop": ["data.ca.crt"]
    }

    everything = json.loads(ok(*diff, "--show-all"))
    assert everything["hiddenNeverKept"] == {}
    assert everything["added"] == []
    assert len(everything["removed"]) == hidden["events"]
    assert all(r.startswith("events/") for r in everything["removed"])


# the manifests' kinds, as backup diff names their items
RESOURCES = {
    "CustomResourceDefinition": "customresourcedefinitions.apiextensions.k8s.io",
    "PriorityClass": "priorityclasses.scheduling.k8s.io",
    "ClusterRole": "clusterroles.rbac.authorization.k8s.io",
    "ClusterRoleBinding": "clusterrolebindings.rbac.authorization.k8s.io",
    "Namespace": "namespaces",
    "ServiceAccount": "serviceaccounts",
    "Role": "roles.rbac.authorization.k8s.io",
    "RoleBinding": "rolebindings.rbac.authorization.k8s.io",
    "ConfigMap": "configmaps",
    "Secret": "secrets",
    "Service": "services",
    "Deployment": "deployments.apps",
    "Widget": "widgets.shop.example.com",
}


def manifest_refs() -> list[str]:
    refs = []
    for d in yaml.safe_load_all(MANIFESTS.read_text()):
        meta = d["metadata"]
        where = f" -n {meta['namespace']}" if meta.get("namespace") else ""
        refs.append(f"{RESOURCES[d['kind']]}/{meta['name']}{where}")
    return refs
