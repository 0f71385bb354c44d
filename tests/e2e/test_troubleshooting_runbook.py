"""runbooks/troubleshooting.md, section by section: each test makes the failure for
real (a quota, a PriorityClass or CRD left out of the backup, a claim of a class that
does not exist, an unsigned backup, a location that refuses, a name too long, an
object changed since the backup), checks that the command that fails prints what
the section's "What you see" block shows, then runs the section's Confirm and Fix
steps as written (their "You should see" lines are checked by run_runbook).

Image pull back-off is the exception: the sandbox's nodes are fake (kwok) and never
pull an image, so that test records the kubelet's BackOff Event itself (as the
kubelet would), and the section's "What you see" line is not produced here.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from backupd.sandbox.cluster import Sandbox
from backupd.sandbox.csi import STORAGE_CLASS
from backupd.sandbox.objectstores import MinioServer
from tests.fixtures.cli import backupctl, kubectl
from tests.fixtures.runbooks import deploy_sample_app, missing, parse, run_runbook, shown

pytestmark = pytest.mark.integration

RUNBOOK = "troubleshooting.md"
FIRST = "Before you start"
QUOTA = "Pods are not created: the namespace quota is full"
PRIORITY = "Pods are not created: a PriorityClass is missing"
CRD = "A custom resource is refused: its CRD is missing"
IMAGE = "Pods do not start: image pull back-off"
CLAIM = "A claim stays Pending: its StorageClass does not exist"
SIGNATURE = "A backup does not verify, or is not signed"
LOCATION = "The backup location is unreachable or refuses access"
NAME = "A name is too long"
DIFFERS = "An object differs from the backup and was left alone"
TESTED = {QUOTA, PRIORITY, CRD, IMAGE, CLAIM, SIGNATURE, LOCATION, NAME, DIFFERS}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:5]}"


def shows_symptom(section: str, res: subprocess.CompletedProcess[str]) -> None:
    """The failing command printed the lines of the section's "What you see"."""
    lost = missing(shown(RUNBOOK, section), res.stdout + "\n" + res.stderr)
    assert not lost, f"{section}: not printed: {lost}\n{res.stdout[-3000:]}\n{res.stderr[-2000:]}"


@pytest.fixture()
def env(tmp_path: Path, cluster: Sandbox) -> dict[str, str]:
    return {
        "KUBECONFIG": str(cluster.kubeconfig),
        "BACKUPD_LOCATION": (tmp_path / "store").as_uri(),
        "BACKUPD_CONFIG": str(tmp_path / "config.yaml"),
    }


@pytest.fixture()
def app(env: dict[str, str], cluster: Sandbox) -> Iterator[str]:
    """The sample app in a namespace of its own, backed up as `b1`."""
    ns = unique("tr")
    deploy_sample_app(cluster.kubeconfig, ns)
    made = backupctl("backup", "create", "b1", "--include-namespaces", ns, env=env)
    assert made.returncode == 0, made.stderr
    env.update(NAMESPACE=ns, BACKUP="b1")
    yield ns
    kubectl(cluster.kubeconfig, "delete", "namespace", ns, "--wait=false", "--ignore-not-found")


def apply(kubeconfig: Path, manifest: str) -> None:
    kubectl(kubeconfig, "apply", "-f", "-", stdin=manifest)


def delete_namespace(kubeconfig: Path, ns: str) -> None:
    kubectl(kubeconfig, "delete", "namespace", ns, "--wait=true", "--timeout=120s")


def test_every_troubleshooting_section_with_commands_has_a_test() -> None:
    sections = {
        s.section for s in parse((Path(__file__).parents[2] / "runbooks" / RUNBOOK).read_text())
    }
    assert sections - {s for s in sections if s.startswith(FIRST)} == TESTED


def test_quota_section_confirms_the_quota_and_the_fix_brings_the_pods(
    env: dict[str, str], app: str, cluster: Sandbox
) -> None:
    kc = cluster.kubeconfig
    delete_namespace(kc, app)
    kubectl(kc, "create", "namespace", app)
    kubectl(kc, "-n", app, "create", "quota", "no-pods", "--hard=pods=0")
    kubectl(kc, "-n", app, "wait", "--for=jsonpath={.status.hard.pods}=0", "resourcequota/no-pods")
    res = backupctl(
        "restore", "create", "r1", "--from-backup", "b1", "--include-namespaces", app,
        "--wait-ready", "--ready-timeout", "10s", env=env,
    )  # fmt: skip
    assert res.returncode != 0
    shows_symptom(QUOTA, res)
    run_runbook(RUNBOOK, {**env, "RESTORE": "r1"}, sections=[FIRST, QUOTA])


def test_priority_class_section_names_it_and_the_fix_creates_it(
    env: dict[str, str], cluster: Sandbox
) -> None:
    kc, ns = cluster.kubeconfig, unique("trpc")
    priority = f"{ns}-high"
    kubectl(kc, "create", "priorityclass", priority, "--value=1000")
    apply(kc, DEPLOYMENT.format(ns=ns, extra=f"priorityClassName: {priority}"))
    kubectl(kc, "-n", ns, "rollout", "status", "deployment/api", "--timeout=120s")
    made = backupctl(
        "backup", "create", "b-pc", "--include-namespaces", ns,
        "--exclude-resources", "priorityclasses", env=env,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    delete_namespace(kc, ns)
    kubectl(kc, "delete", "priorityclass", priority)
    try:
        res = backupctl(
            "restore", "create", "r-pc", "--from-backup", "b-pc",
            "--wait-ready", "--ready-timeout", "8s", env=env,
        )  # fmt: skip
        assert res.returncode != 0
        shows_symptom(PRIORITY, res)
        run_runbook(
            RUNBOOK,
            {
                **env,
                "NAMESPACE": ns,
                "BACKUP": "b-pc",
                "RESTORE": "r-pc",
                "PRIORITY_CLASS": priority,
            },
            sections=[FIRST, PRIORITY],
        )
    finally:
        kubectl(kc, "delete", "priorityclass", priority, "--ignore-not-found")
        kubectl(kc, "delete", "namespace", ns, "--wait=false", "--ignore-not-found")


def test_crd_section_confirms_it_is_missing_and_a_new_backup_drills_green(
    env: dict[str, str], cluster: Sandbox, second_cluster: Sandbox
) -> None:
    kc, ns = cluster.kubeconfig, unique("trcrd")
    group = f"{ns}.example.com"
    apply(kc, CRD_MANIFEST.format(group=group))
    kubectl(kc, "wait", "--for=condition=Established", f"crd/widgets.{group}", "--timeout=60s")
    kubectl(kc, "create", "namespace", ns)
    apply(kc, f"apiVersion: {group}/v1\nkind: Widget\nmetadata: {{name: w1, namespace: {ns}}}\n")
    made = backupctl(
        "backup", "create", "b-crd", "--include-namespaces", ns,
        "--exclude-resources", "customresourcedefinitions", env=env,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    try:
        res = backupctl(
            "drill", "run", "--from-backup", "b-crd", "--ephemeral", "--ready-timeout", "20s",
            env=env,
        )  # fmt: skip
        assert res.returncode != 0
        shows_symptom(CRD, res)
        run_runbook(
            RUNBOOK,
            {
                **env,
                "KUBECONFIG": str(second_cluster.kubeconfig),  # the target: no such CRD
                "SOURCE_KUBECONFIG": str(kc),
                "NAMESPACE": ns,
                "BACKUP": "b-crd",
                "RESTORE": "r-crd",
                "CRD": f"widgets.{group}",
            },
            sections=[FIRST, CRD],
        )
    finally:
        kubectl(kc, "delete", "namespace", ns, "--wait=false", "--ignore-not-found")
        kubectl(kc, "delete", "crd", f"widgets.{group}", "--ignore-not-found")


def test_image_pull_section_finds_the_back_off_and_the_fix_adds_a_pull_secret(
    env: dict[str, str], app: str, cluster: Sandbox
) -> None:
    kc = cluster.kubeconfig
    pod = kubectl(kc, "-n", app, "get", "pods", "-o", "jsonpath={.items[0].metadata.name}")
    apply(kc, BACKOFF_EVENT.format(ns=app, pod=pod))
    run_runbook(RUNBOOK, {**env, "RESTORE": "r-img"}, sections=[FIRST, IMAGE])
    secrets = kubectl(
        kc, "-n", app, "get", "serviceaccount", "default", "-o", "jsonpath={.imagePullSecrets}"
    )
    assert "registry-credentials" in secrets


def test_claim_section_finds_the_missing_class_and_the_fix_binds_the_claim(
    tmp_path: Path, csi_cluster: Sandbox
) -> None:
    kc, ns = csi_cluster.kubeconfig, unique("trpvc")
    env = {
        "KUBECONFIG": str(kc),
        "BACKUPD_LOCATION": (tmp_path / "store").as_uri(),
        "BACKUPD_CONFIG": str(tmp_path / "config.yaml"),
    }
    kubectl(kc, "create", "namespace", ns)
    apply(kc, CLAIM_MANIFEST.format(ns=ns, storage_class=f"{ns}-gone"))
    made = backupctl(
        "backup", "create", "b-pvc", "--include-namespaces", ns, "--no-snapshot-volumes", env=env
    )  # an unbound claim has no data to snapshot
    assert made.returncode == 0, made.stderr
    delete_namespace(kc, ns)
    try:
        res = backupctl(
            "restore", "create", "r-pvc", "--from-backup", "b-pvc",
            "--wait-ready", "--ready-timeout", "8s", env=env,
        )  # fmt: skip
        shows_symptom(CLAIM, res)
        run_runbook(
            RUNBOOK,
            {
                **env,
                "NAMESPACE": ns,
                "BACKUP": "b-pvc",
                "RESTORE": "r-pvc",
                "CLAIM": "data",
                "NEW_STORAGE_CLASS": STORAGE_CLASS,
            },
            sections=[FIRST, CLAIM],
        )
    finally:
        kubectl(kc, "delete", "namespace", ns, "--wait=false", "--ignore-not-found")


def test_signature_section_finds_the_unsigned_backup_and_the_fix_picks_a_signed_one(
    tmp_path: Path, env: dict[str, str], cluster: Sandbox
) -> None:
    ns = unique("trsig")
    deploy_sample_app(cluster.kubeconfig, ns)
    env = {**env, "BACKUPD_LOCATION": "sig"}  # the location's name: its keys come with it
    store = (tmp_path / "signed").as_uri()
    steps = [
        ("location", "add", "sig", "--url", store, "--default"),
        ("backup", "create", "old", "--include-namespaces", ns),
        ("location", "keygen", "sig", "--dir", str(tmp_path / "keys")),
        ("backup", "create", "new", "--include-namespaces", ns),
    ]
    try:
        for args in steps:
            done = backupctl(*args, env=env)
            assert done.returncode == 0, done.stderr
        res = backupctl("restore", "create", "r-sig", "--from-backup", "old", "--dry-run", env=env)
        assert res.returncode != 0
        shows_symptom(SIGNATURE, res)
        env.update(NAMESPACE=ns, BACKUP="old", RESTORE="r-sig")
        out = run_runbook(RUNBOOK, env, sections=[FIRST, SIGNATURE]).stdout
        assert "new" in out.split()
    finally:
        kubectl(cluster.kubeconfig, "delete", "namespace", ns, "--wait=false")


def test_location_section_confirms_refused_credentials_and_the_fix_checks_green(
    env: dict[str, str], minio_server: MinioServer
) -> None:
    bucket = f"backupd-tr-{uuid.uuid4().hex[:10]}"
    minio_server.client().create_bucket(Bucket=bucket)
    unreachable = backupctl(
        "backup", "get", "--location", "s3://backups/prod?endpoint=http://127.0.0.1:9",
        env={**env, "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"},
    )  # fmt: skip
    assert unreachable.returncode != 0
    shows_symptom(LOCATION, unreachable)
    env = {**env, "BACKUPD_LOCATION": minio_server.url(bucket)}
    wrong = {"AWS_ACCESS_KEY_ID": "nobody", "AWS_SECRET_ACCESS_KEY": "wrong-secret"}
    confirm = run_runbook(RUNBOOK, {**env, **wrong}, sections=[FIRST, f"{LOCATION} / Confirm"])
    assert "the location check failed" in confirm.stdout
    run_runbook(RUNBOOK, {**env, **minio_server.credentials}, sections=[FIRST, f"{LOCATION} / Fix"])


def test_name_section_counts_the_characters_and_the_fix_shortens_it(
    env: dict[str, str], app: str
) -> None:
    long_name = f"{app}-restore-before-the-upgrade-of-the-payment-service-20261126"
    res = backupctl("restore", "create", long_name, "--from-backup", "b1", "--dry-run", env=env)
    assert res.returncode != 0
    shows_symptom(NAME, res)
    run_runbook(RUNBOOK, {**env, "RESTORE": long_name}, sections=[FIRST, NAME])


def test_differs_section_shows_the_difference_and_the_fix_updates_it(
    env: dict[str, str], app: str, cluster: Sandbox
) -> None:
    kc = cluster.kubeconfig
    kubectl(kc, "-n", app, "patch", "configmap", "settings", "-p", '{"data":{"mode":"x"}}')
    res = backupctl("restore", "create", "r-diff", "--from-backup", "b1", env=env)
    shows_symptom(DIFFERS, res)
    run_runbook(RUNBOOK, {**env, "RESTORE": "r-diff"}, sections=[FIRST, DIFFERS])
    mode = kubectl(kc, "-n", app, "get", "configmap", "settings", "-o", "jsonpath={.data.mode}")
    assert mode == "production"


DEPLOYMENT = """\
apiVersion: v1
kind: Namespace
metadata: {{name: {ns}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: api, namespace: {ns}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: api}}}}
  template:
    metadata: {{labels: {{app: api}}}}
    spec:
      {extra}
      containers: [{{name: api, image: registry.invalid/api:1}}]
"""

CRD_MANIFEST = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: widgets.{group}}}
spec:
  group: {group}
  names: {{kind: Widget, plural: widgets, singular: widget}}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema: {{openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}}}
"""

CLAIM_MANIFEST = """\
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: data, namespace: {ns}}}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: {storage_class}
  resources: {{requests: {{storage: 1Gi}}}}
"""

# What the kubelet records when it cannot pull a Pod's image.
BACKOFF_EVENT = """\
apiVersion: v1
kind: Event
metadata: {{name: {pod}.backoff, namespace: {ns}}}
involvedObject: {{kind: Pod, name: {pod}, namespace: {ns}, apiVersion: v1}}
reason: BackOff
type: Warning
message: 'Back-off pulling image "registry.invalid/shop-web:1.0"'
source: {{component: kubelet}}
count: 3
firstTimestamp: "2026-01-01T00:00:00Z"
lastTimestamp: "2026-01-01T00:00:00Z"
"""
