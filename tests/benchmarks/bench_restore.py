"""Restore N objects into an empty sandbox, and time `kubectl create -f` on the same manifests.

    python tests/benchmarks/bench_restore.py                       # 1000 and 10000 objects
    python tests/benchmarks/bench_restore.py --objects 1000 --workers 16 --repeat 3
    python tests/benchmarks/bench_restore.py --kubeconfig K        # an existing cluster
    python tests/benchmarks/bench_restore.py --latency-ms 2        # 2 ms each way to the API

The manifests (ConfigMaps, Secrets, ServiceAccounts and Services, in one namespace)
are written once as a backup archive in a file:// location, and as the YAML or
JSON lines the other contenders read. Each round, each contender creates the same
objects into an empty sandbox of its own (started before its clock starts):
- `kubectl create -f` on the YAML file (the baseline);
- `backupctl`'s restore engine, restoring the backup with a namespace mapping;
- the floor: deploy/localcluster/kubernetes/createfloor, a Go client-go program
  sending protobuf from the same number of workers with no rate limit; the fastest
  any client could be here (skip it with --no-floor).
The order rotates between rounds; medians over the rounds are reported. With
--kubeconfig every contender shares that cluster, each in a namespace of its own.
With --latency-ms every contender reaches the API server through the sandbox's
latency proxy (backupd.sandbox.latency: that delay added in each direction, one
round trip per new connection), as a remote cluster would be.

CPU accounting (sandbox only): the CPU seconds the client and the sandbox's server
processes (etcd, kube-apiserver, controller-manager, scheduler, kwok) spend in each
timed window. When the machine is CPU-bound, no client can restore faster than
server CPU / cores, so `ceiling` = kubectl's time / (server CPU / cores) bounds the
speedup any client could reach on this machine; it takes the lesser server CPU of
the restore and the floor (protobuf bodies cost the API server less than JSON).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
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
from backupd.archive.writer import ArchiveWriter, gzip_file  # noqa: E402
from backupd.cluster.client import KubeClient  # noqa: E402
from backupd.restore import engine as restore_engine  # noqa: E402
from backupd.sandbox import binaries  # noqa: E402
from backupd.sandbox.cluster import Sandbox  # noqa: E402
from backupd.sandbox.latency import latency_proxy  # noqa: E402
from backupd.storage.layout import BackupKeys  # noqa: E402
from backupd.storage.location import open_location  # noqa: E402
from tests.fixtures.archives import add_object  # noqa: E402

JSON = dict[str, Any]
# the N objects of the size being measured (namespace bench)
SOURCE: list[JSON] = []
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
        add_object(writer, ns, "namespaces")
        for o in objects:
            add_object(writer, o, resources[o["kind"]])
    location = open_location(location_dir.as_uri())
    keys = BackupKeys(name)
    with (work / "resources.tar.gz").open("rb") as f:
        put = location.put(keys.archive(), f)
    gzip_file(work / "index.jsonl", work / "index.json.gz")  # restore plans from it
    with (work / "index.json.gz").open("rb") as f:
        index = location.put(keys.index, f)
    backup = Backup(
        metadata=ObjectMeta(name=name, creation_timestamp=datetime.datetime.now(datetime.UTC))
    )
    backup.status.phase = Phase.completed
    backup.status.archive = StoredObject(key=put.key, size=put.size, sha256=put.sha256)
    backup.status.index = StoredObject(key=index.key, size=index.size, sha256=index.sha256)
    location.put_bytes(keys.metadata, orjson.dumps(backup.to_json_dict()))


def count(kube: KubeClient, namespace: str) -> int:
    return sum(
        len(
            kube.get(f"/api/v1/namespaces/{namespace}/{resource}", labelSelector="bench=1")["items"]
        )
        for _, resource, _ in MIX
    )


class Cpu:
    """CPU seconds (user + system) of this process, its reaped children and the server pids."""

    def __init__(self, server_pids: dict[str, int]) -> None:
        self.server_pids = server_pids

    def sample(self) -> dict[str, float]:
        me = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = {
            "self": me.ru_utime + me.ru_stime,
            "children": kids.ru_utime + kids.ru_stime,
        }
        tick = os.sysconf("SC_CLK_TCK")
        for name, pid in self.server_pids.items():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            out[name] = (int(fields[11]) + int(fields[12])) / tick
        return out

    def settle(self, window: float = 0.5, idle: float = 0.1, timeout: float = 60.0) -> None:
        """Wait until the servers are quiet: a new sandbox's controllers work for a while."""
        deadline = time.monotonic() + timeout
        before = self.sample()
        while time.monotonic() < deadline:
            time.sleep(window)
            after = self.sample()
            if self.servers(Cpu.spent(before, after)) < idle * window:
                return
            before = after

    @staticmethod
    def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        return {k: after[k] - before.get(k, 0.0) for k in after}

    def servers(self, spent: dict[str, float]) -> float:
        return sum(v for k, v in spent.items() if k in self.server_pids)


def timed(cpu: Cpu, run: Any) -> tuple[float, dict[str, float]]:
    before = cpu.sample()
    started = time.monotonic()
    run()
    elapsed = time.monotonic() - started
    return elapsed, Cpu.spent(before, cpu.sample())


def kubectl_create(kubeconfig: Path, manifests_file: Path) -> None:
    kubectl = binaries.binary_dir("kubernetes") / "kubectl"
    subprocess.run(
        [str(kubectl), f"--kubeconfig={kubeconfig}", "create", "-f", str(manifests_file)],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def floor_create(floor: Path, kubeconfig: Path, ndjson: Path, workers: int, n: int) -> None:
    out = subprocess.run(
        [str(floor), str(kubeconfig), str(ndjson), str(workers)],
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(out.stdout)
    assert report["errors"] == 0 and report["created"] == n + 1, out.stderr[-500:]


LATENCY_MS = [0.0]  # set from --latency-ms


@contextlib.contextmanager
def empty_cluster(kubeconfig: Path | None) -> Iterator[tuple[Path, Cpu]]:
    """A fresh sandbox (or the given cluster), and CPU accounting for its servers;
    through the latency proxy with --latency-ms."""
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-sandbox-")))
        if kubeconfig is not None:
            cpu = Cpu({})
        else:
            box = stack.enter_context(Sandbox(tmp / "sandbox", name="bench"))
            assert box.state is not None
            kubeconfig, cpu = box.kubeconfig, Cpu(dict(box.state.pids))
            cpu.settle()
        if LATENCY_MS[0] > 0:
            kubeconfig = stack.enter_context(
                latency_proxy(kubeconfig, LATENCY_MS[0], tmp / "proxy")
            ).kubeconfig
        yield kubeconfig, cpu


def run_contender(
    name: str,
    r: int,
    n: int,
    root: Path,
    kubeconfig: Path,
    cpu: Cpu,
    workers: int,
    floor: Path | None,
) -> JSON:
    """Round r: create the N objects one way into namespace bench-<name>-<r>; time it."""
    namespace = f"bench-{name}-{r}"
    ns_doc = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    docs = [ns_doc, *({**o, "metadata": {**o["metadata"], "namespace": namespace}} for o in SOURCE)]
    kube = KubeClient.from_kubeconfig(kubeconfig)
    outcome: list[Any] = []
    run: Callable[[], None]
    if name == "kubectl":
        manifests_file = root / "objects.yaml"
        manifests_file.write_text(yaml.safe_dump_all(docs))
        run = functools.partial(kubectl_create, kubeconfig, manifests_file)
    elif name == "floor":
        assert floor is not None
        ndjson = root / "objects.ndjson"
        ndjson.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs))
        run = functools.partial(floor_create, floor, kubeconfig, ndjson, workers, n)
    else:
        location = open_location((root / "location").as_uri())
        spec = RestoreSpec(backup_name="bench", namespace_mappings={SOURCE_NS: namespace})

        def run() -> None:
            restore = restore_engine.run(
                f"bench-{n}-{r}", spec, kube=kube, location=location, workers=workers
            )
            outcome.append(restore)

    seconds, spent = timed(cpu, run)
    if outcome:
        status = outcome[0].restore.status
        assert status.phase is Phase.completed, status.errors[:3]
    created = count(kube, namespace)
    assert created == n, f"{name} created {created} of {n} objects"
    client = spent["children"] if name != "restore" else spent["self"]
    return {"seconds": seconds, "client_cpu": client, "server_cpu": cpu.servers(spent)}


def bench(n: int, kubeconfig: Path | None, workers: int, repeat: int, floor: Path | None) -> JSON:
    names = ["kubectl", "restore"] + (["floor"] if floor is not None else [])
    runs: dict[str, list[JSON]] = {name: [] for name in names}
    SOURCE[:] = manifests(n, SOURCE_NS)
    with tempfile.TemporaryDirectory(prefix="bench-restore-") as tmp:
        root = Path(tmp)
        (root / "location").mkdir()
        write_backup(root / "location", SOURCE)
        for r in range(repeat):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                with empty_cluster(kubeconfig) as (target, cpu):
                    runs[name].append(run_contender(name, r, n, root, target, cpu, workers, floor))
    med = {
        name: {k: statistics.median(x[k] for x in xs) for k in xs[0]} for name, xs in runs.items()
    }
    kubectl_s, restore_s = med["kubectl"]["seconds"], med["restore"]["seconds"]
    result: JSON = {
        "objects": n,
        "mix": ",".join(f"{r}={share:.0%}" for _, r, share in MIX),
        "workers": workers,
        "latency_ms": LATENCY_MS[0],
        "rounds": repeat,
        "restore_s": round(restore_s, 2),
        "kubectl_create_s": round(kubectl_s, 2),
        "restore_per_s": round(n / restore_s),
        "kubectl_per_s": round(n / kubectl_s),
        "speedup": round(kubectl_s / restore_s, 2),
        "speedups": [
            round(k["seconds"] / x["seconds"], 2)
            for k, x in zip(runs["kubectl"], runs["restore"], strict=True)
        ],
    }
    for name in names:
        result[f"{name}_runs_s"] = [round(x["seconds"], 2) for x in runs[name]]
    if floor is not None:
        result["floor_s"] = round(med["floor"]["seconds"], 2)
        result["floor_speedup"] = round(kubectl_s / med["floor"]["seconds"], 2)
    if kubeconfig is None:
        cores = len(os.sched_getaffinity(0))
        for name in names:
            for what in ("client_cpu", "server_cpu"):
                result[f"{name}_{what}_ms_per_object"] = round(med[name][what] / n * 1e3, 3)
        result["cores"] = cores
        least = min(med[name]["server_cpu"] for name in names if name != "kubectl")
        result["ceiling"] = round(kubectl_s / (least / cores), 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3, help="rounds per size (median)")
    parser.add_argument("--no-floor", action="store_true", help="skip the Go client-go floor")
    parser.add_argument("--kubeconfig", type=Path, help="use this cluster instead of a sandbox")
    parser.add_argument("--mix", default=DEFAULT_MIX, help=f"resource=share,... ({DEFAULT_MIX})")
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="API latency each way (latency proxy)"
    )
    args = parser.parse_args()
    MIX[:] = parse_mix(args.mix)
    LATENCY_MS[0] = args.latency_ms
    floor = None if args.no_floor else binaries.ensure_package("kubernetes", "createfloor")
    for n in args.objects:
        result = bench(n, args.kubeconfig, args.workers, args.repeat, floor)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
