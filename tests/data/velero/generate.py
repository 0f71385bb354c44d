"""Regenerate the Velero fixtures: real Velero backups of the namespace in shop.yaml.

    .venv/bin/python tests/data/velero/generate.py [--keep WORKDIR]

Builds Velero v1.18.0 and velero-plugin-for-aws v1.14.3 on demand (cached, see
tests/benchmarks/velero_support.py: needs Go and the module proxy), starts a sandbox
and MinIO, creates shop.yaml's objects, waits until the Deployment is available, runs
`velero server` out of cluster, and has it back up:

    shop          namespace shop (Velero adds its CRD, PriorityClass and ClusterRole)
    shop-config   ConfigMaps and Secrets of shop labelled app=web, no cluster resources

Each backup's objects in the bucket (but its log, which names the machine) are copied
to tests/data/velero/<name>/, as Velero wrote them. CI never runs this: it reads the
committed files (tests/unit/test_velero_fixtures.py, tests/integration/test_velero_import.py).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from backupd.sandbox.cluster import Sandbox  # noqa: E402
from backupd.sandbox.objectstores import minio  # noqa: E402
from tests.benchmarks.velero_support import (  # noqa: E402
    NAMESPACE,
    ensure_velero,
    kubectl,
    velero_server,
)

MANIFESTS = HERE / "shop.yaml"
BUCKET = "velero-fixtures"
MAX_FILE = 64 * 1024  # fixtures stay small

BACKUPS: dict[str, dict[str, object]] = {
    "shop": {"includedNamespaces": ["shop"]},
    "shop-config": {
        "includedNamespaces": ["shop"],
        "includedResources": ["configmaps", "secrets"],
        "labelSelector": {"matchLabels": {"app": "web"}},
        "includeClusterResources": False,
    },
}


def create_shop(kubeconfig: Path) -> None:
    """shop.yaml's objects, the CRD first; returns once the Deployment is available."""
    text = MANIFESTS.read_text()
    documents = text.split("\n---\n")
    kubectl(kubeconfig, "create", "-f", "-", stdin=documents[0])
    kubectl(kubeconfig, "wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
    kubectl(kubeconfig, "create", "-f", "-", stdin="\n---\n".join(documents[1:]))
    kubectl(
        kubeconfig,
        "-n",
        "shop",
        "wait",
        "--for=condition=Available",
        "--timeout=120s",
        "deployment/web",
    )


def backup_body(name: str, spec: dict[str, object]) -> dict[str, object]:
    return {
        "apiVersion": "velero.io/v1",
        "kind": "Backup",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"ttl": "720h0m0s", "storageLocation": "default", "snapshotVolumes": False, **spec},
    }


def copy_out(client: Any, name: str) -> list[str]:
    """backups/<name>/* (but the log) into tests/data/velero/<name>/."""
    target = HERE / name
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix=f"backups/{name}/")
    written = []
    for item in listed.get("Contents", []):
        filename = item["Key"].rsplit("/", 1)[1]
        if filename.endswith("-logs.gz"):
            continue
        data = client.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
        if len(data) > MAX_FILE:
            raise SystemExit(f"{item['Key']} has {len(data)} bytes: a fixture must stay small")
        (target / filename).write_bytes(data)
        written.append(f"{name}/{filename} ({len(data)} bytes)")
    return written


def generate(work: Path) -> None:
    bins = ensure_velero(log=print)
    with Sandbox(work / "cluster", name="velero-fixtures") as box, minio(work / "minio") as store:
        store.client().create_bucket(Bucket=BUCKET)
        create_shop(box.kubeconfig)
        with velero_server(box, store, BUCKET, work / "velero", bins=bins) as velero:
            for name, spec in BACKUPS.items():
                done = velero._timed("backups", backup_body(name, spec), 300)
                print(f"backup {name}: {done.phase}, {done.items} items in {done.seconds:.1f}s")
                if done.phase != "Completed":
                    raise SystemExit(f"Velero backup {name} is {done.phase}: {done.detail}")
        for name in BACKUPS:
            for line in copy_out(store.client(), name):
                print(f"wrote tests/data/velero/{line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="work directory to keep (default: a temp dir)")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        generate(args.keep)
        return
    with tempfile.TemporaryDirectory(prefix="velero-fixtures-") as work:
        generate(Path(work))


if __name__ == "__main__":
    main()
