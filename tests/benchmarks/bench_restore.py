"""Restore N objects into an empty sandbox, and time `kubectl create -f` on the same manifests.

    python tests/benchmarks/bench_restore.py                       # 1000 and 10000 objects
    python tests/benchmarks/bench_restore.py --objects 1000 --workers 16
    python tests/benchmarks/bench_restore.py --kubeconfig K        # an existing cluster

One fresh sandbox per size. The manifests (ConfigMaps, Secrets, ServiceAccounts and
Services, in one namespace) are written once as a backup archive in a file://
location and once as a YAML file. `backupctl`'s engine restores the backup into
namespace bench-restore (a namespace mapping); kubectl creates the same objects in
namespace bench-kubectl. kubectl runs first, so the restore meets the larger etcd.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from backupd.api.backup import Backup  # noqa: E402
from backupd.api.common import ObjectMeta, Phase, StoredObject  # noqa: E402
from backupd.api.restore import RestoreSpec  # noqa: E402
from backupd.archive.writer import ArchiveWriter  # noqa: E402
from backupd.cluster.client import KubeClient  # noqa: E402
from backupd.restore.engine import execute  # noqa: E402
from backupd.sandbox import binaries  # noqa: E402
from backupd.sandbox.cluster import Sandbox  # noqa: E402
from backupd.storage.layout import BackupKeys  # noqa: E402
from backupd.storage.location import open_location  # noqa: E402

JSON = dict[str, Any]
SOURCE_NS = "bench"
KINDS = {
    "configmaps": "ConfigMap",
    "secrets": "Secret",
    "serviceaccounts": "ServiceAccount",
    "services": "Service",
}
DEFAULT_MIX = "configmaps=50,secrets=20,serviceaccounts=15,services=15"
# (kind, resource, share of the objects), set from --mix
MIX: list[tuple[str, str, float]] = []


def parse_mix(text: str) -> list[tuple[str, str, float]]:
    parts = [p.split("=") for p in text.split(",")]
    total = sum(float(share) for _, share in parts)
    return [(KINDS[resource], resource, float(share) / total) for resource, share in parts]


def manifest(kind: str, i: int, namespace: str) -> JSON:
    meta = {"name": f"{kind.lower()}-{i:05d}", "namespace": namespace, "labels": {"bench": "1"}}
    obj: JSON = {"apiVersion": "v1", "kind": kind, "metadata": meta}
    if kind == "ConfigMap":
        obj["data"] = {"index": str(i), "payload": "x" * 200}
    elif kind == "Secret":
        obj["data"] = {"token": "c2VjcmV0LXZhbHVl"}
    elif kind == "Service":
        obj["spec"] = {"selector": {"app": f"a{i}"}, "ports": [{"port": 80, "targetPort": 8080}]}
    return obj


def manifests(n: int, namespace: str) -> list[JSON]:
    out: list[JSON] = []
    for kind, _, share in MIX:
        out += [manifest(kind, i, namespace) for i in range(round(n * share))]
    out += [manifest(MIX[0][0], i, namespace) for i in range(len(out), n)]
    return out[:n]


def write_backup(location_dir: Path, objects: list[JSON], name: str = "bench") -> None:
    resources = {kind: resource for kind, resource, _ in MIX}
    work = location_dir / "work"
    work.mkdir()
    with ArchiveWriter(work / "resources.tar.gz", work / "index.jsonl") as writer:
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SOURCE_NS}}
        writer.add(
            group="",
            version="v1",
            kind="Namespace",
            resource="namespaces",
            namespace=None,
            name=SOURCE_NS,
            data=orjson.dumps(ns),
        )
        for o in objects:
            writer.add(
                group="",
                version="v1",
                kind=o["kind"],
                resource=resources[o["kind"]],
                namespace=SOURCE_NS,
                name=o["metadata"]["name"],
                data=orjson.dumps(o),
            )
    location = open_location(location_dir.as_uri())
    keys = BackupKeys(name)
    with (work / "resources.tar.gz").open("rb") as f:
        put = location.put(keys.archive(), f)
    backup = Backup(
        metadata=ObjectMeta(name=name, creation_timestamp=datetime.datetime.now(datetime.UTC))
    )
    backup.status.phase = Phase.completed
    backup.status.archive = StoredObject(key=put.key, size=put.size, sha256=put.sha256)
    location.put_bytes(keys.metadata, orjson.dumps(backup.to_json_dict()))


def count(kube: KubeClient, namespace: str) -> int:
    return sum(
        len(
            kube.get(f"/api/v1/namespaces/{namespace}/{resource}", labelSelector="bench=1")["items"]
        )
        for _, resource, _ in MIX
    )


def bench(n: int, kubeconfig: Path, workers: int) -> JSON:
    kubectl = binaries.binary_dir("kubernetes") / "kubectl"
    with tempfile.TemporaryDirectory(prefix="bench-restore-") as tmp:
        root = Path(tmp)
        source = manifests(n, SOURCE_NS)
        (root / "location").mkdir()
        write_backup(root / "location", source)
        docs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench-kubectl"}}]
        docs += [{**o, "metadata": {**o["metadata"], "namespace": "bench-kubectl"}} for o in source]
        (root / "objects.yaml").write_text(yaml.safe_dump_all(docs))

        started = time.monotonic()
        subprocess.run(
            [
                str(kubectl),
                f"--kubeconfig={kubeconfig}",
                "create",
                "-f",
                str(root / "objects.yaml"),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        kubectl_s = time.monotonic() - started

        kube = KubeClient.from_kubeconfig(kubeconfig)
        location = open_location((root / "location").as_uri())
        spec = RestoreSpec(backup_name="bench", namespace_mappings={SOURCE_NS: "bench-restore"})
        started = time.monotonic()
        restore = execute(f"bench-{n}", spec, kube=kube, location=location, workers=workers).restore
        restore_s = time.monotonic() - started
        created = count(kube, "bench-restore")
        assert count(kube, "bench-kubectl") == n, "kubectl did not create every object"
        assert created == n, f"the restore created {created} of {n} objects"
        assert restore.status.phase is Phase.completed, restore.status.errors[:3]
    return {
        "objects": n,
        "mix": ",".join(f"{r}={share:.0%}" for _, r, share in MIX),
        "workers": workers,
        "restore_s": round(restore_s, 2),
        "kubectl_create_s": round(kubectl_s, 2),
        "restore_per_s": round(n / restore_s),
        "kubectl_per_s": round(n / kubectl_s),
        "speedup": round(kubectl_s / restore_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--kubeconfig", type=Path, help="use this cluster instead of a sandbox")
    parser.add_argument("--mix", default=DEFAULT_MIX, help=f"resource=share,... ({DEFAULT_MIX})")
    args = parser.parse_args()
    MIX[:] = parse_mix(args.mix)
    for n in args.objects:
        if args.kubeconfig:
            result = bench(n, args.kubeconfig, args.workers)
        else:
            with (
                tempfile.TemporaryDirectory(prefix="bench-sandbox-") as tmp,
                Sandbox(Path(tmp) / "sandbox", name="bench") as box,
            ):
                result = bench(n, box.kubeconfig, args.workers)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
