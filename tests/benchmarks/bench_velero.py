"""backupctl against Velero v1.18.0: back up the same namespaces, restore into empty sandboxes.

    python tests/benchmarks/bench_velero.py                          # 1k, 5k, 20k; 0 and 2 ms
    python tests/benchmarks/bench_velero.py --sizes 1000 --latency-ms 0

For each N a source sandbox is seeded with N objects of a realistic mix: per app a
Deployment (1 replica, so its ReplicaSet and Pod, run by kwok), a Service, a
ServiceAccount, a Role and a RoleBinding, two ConfigMaps and two Secrets; 50 apps per
namespace. Then, for each latency (the sandbox's latency proxy in front of every API
server, `backupd.sandbox.latency`; 0 = direct):
- Velero (built on demand, tests/benchmarks/velero_support.py, out of cluster with
  the AWS plugin) backs the namespaces up to bucket `velero` of one MinIO;
- `backupctl backup create` (a subprocess, as a user runs it) backs the same
  namespaces up to bucket `backupd` of the same MinIO;
- each restores its backup into an empty sandbox of its own.
Wall time, peak RSS (VmHWM: Velero's server plus its plugin process, reset before each
operation; backupctl's process, read at its exit), CPU seconds and items are reported
per tool, with the ratios Velero / backupctl. The raw LIST floor (every namespaced type
of the namespaces, paged, no start-up) bounds what any backup can reach: the "bound"
column is Velero's backup time over it. One JSON line per (N, latency), then a table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from backupd.cluster.client import KubeClient  # noqa: E402
from backupd.sandbox import binaries  # noqa: E402
from backupd.sandbox.cluster import Sandbox  # noqa: E402
from backupd.sandbox.latency import latency_proxy  # noqa: E402
from backupd.sandbox.objectstores import MinioServer, minio  # noqa: E402
from tests.benchmarks.velero_support import Usage, ensure_velero, velero_server  # noqa: E402

JSON = dict[str, Any]
APPS_PER_NAMESPACE = 50
OBJECTS_PER_APP = 11  # Deployment, ReplicaSet, Pod, Service, SA, Role, RoleBinding, 2 CM, 2 Secret
PODS_PER_NODE = 400
SEED_THREADS = 16

# backupctl in a child process that writes its own peak RSS (VmHWM) at exit: the value
# getrusage reports for a child includes the parent's size at fork.
_BACKUPCTL = """
import atexit, os, sys
def _hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            open(os.environ["BENCH_HWM_FILE"], "w").write(line.split()[1])
atexit.register(_hwm)
sys.argv[0] = "backupctl"
from cli.main import main
main()
"""


# The floor of any backup of the namespaces: a paged LIST (limit 500) of every namespaced
# type that can be listed, read and parsed, in a child process through the same client and
# the same latency, timed from the first request (start-up and discovery excluded).
_FLOOR = """
import json, sys, time
from backupd.cluster.client import KubeClient
from backupd.cluster.discovery import discover
from backupd.cluster.listing import list_pages
kube = KubeClient.from_kubeconfig(sys.argv[1])
wanted = set(sys.argv[2].split(","))
types = [r for r in discover(kube).resources if r.namespaced and "list" in r.verbs]
started = time.monotonic()
n = 0
for res in types:
    for items, _ in list_pages(kube, res):
        n += sum(1 for i in items if i["metadata"].get("namespace") in wanted)
print(json.dumps({"seconds": time.monotonic() - started, "items": n}))
"""


def floor(kubeconfig: Path, namespaces: list[str]) -> JSON:
    """Seconds and items of the raw LIST floor (see _FLOOR)."""
    out = subprocess.run(
        [sys.executable, "-c", _FLOOR, str(kubeconfig), ",".join(namespaces)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
    )
    result: JSON = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def app_objects(ns: str, i: int) -> list[tuple[str, JSON]]:
    """(collection path, body) of one app's objects; the controllers add its RS and Pod."""
    name = f"app-{i:04d}"
    labels = {"app": name, "tier": "bench"}
    meta = {"name": name, "labels": labels}
    core, apps, rbac = (
        f"/api/v1/namespaces/{ns}",
        f"/apis/apps/v1/namespaces/{ns}",
        (f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}"),
    )
    container = {
        "name": "main",
        "image": f"registry.invalid/{name}:1.{i % 7}",
        "ports": [{"containerPort": 8080}],
        "env": [{"name": "CONFIG", "valueFrom": {"configMapKeyRef": {"name": name, "key": "a"}}}],
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
    }
    template = {
        "metadata": {"labels": labels},
        "spec": {"serviceAccountName": name, "containers": [container]},
    }
    payload = "v" * 300
    return [
        (f"{core}/serviceaccounts", {"metadata": meta}),
        (f"{core}/configmaps", {"metadata": meta, "data": {"a": payload, "b": str(i)}}),
        (f"{core}/configmaps", {"metadata": {**meta, "name": f"{name}-env"}, "data": {"x": "1"}}),
        (f"{core}/secrets", {"metadata": meta, "stringData": {"token": payload}}),
        (
            f"{core}/secrets",
            {"metadata": {**meta, "name": f"{name}-tls"}, "data": {"key": "AAECAwQF/w=="}},
        ),
        (
            f"{core}/services",
            {"metadata": meta, "spec": {"selector": labels, "ports": [{"port": 80}]}},
        ),
        (
            f"{rbac}/roles",
            {
                "metadata": meta,
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}],
            },
        ),
        (
            f"{rbac}/rolebindings",
            {
                "metadata": meta,
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}],
            },
        ),
        (
            f"{apps}/deployments",
            {
                "metadata": meta,
                "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": template},
            },
        ),
    ]


def namespaces_for(n: int) -> list[str]:
    apps = max(1, n // OBJECTS_PER_APP)
    return [f"bench-{j}" for j in range(-(-apps // APPS_PER_NAMESPACE))]


def seed(kube: KubeClient, n: int) -> list[str]:
    apps = max(1, n // OBJECTS_PER_APP)
    namespaces = namespaces_for(n)
    for ns in namespaces:
        kube.post("/api/v1/namespaces", {"metadata": {"name": ns}})

    def create(i: int) -> None:
        for path, body in app_objects(namespaces[i // APPS_PER_NAMESPACE], i):
            kube.post(path, body)

    with ThreadPoolExecutor(SEED_THREADS) as pool:
        list(pool.map(create, range(apps)))
    deadline, have = time.monotonic() + 1800, 0
    while time.monotonic() < deadline:  # the controllers' ReplicaSets and Pods are data too
        have = len(kube.get("/api/v1/pods", fieldSelector="status.phase=Running")["items"])
        if have >= apps:
            return namespaces
        time.sleep(2)
    raise RuntimeError(f"only {have} of {apps} Pods Running after 30 minutes")


@contextlib.contextmanager
def api(box: Sandbox, latency_ms: float, work: Path) -> Iterator[Path]:
    """The sandbox's kubeconfig, through the latency proxy when latency_ms > 0."""
    if latency_ms <= 0:
        yield box.kubeconfig
        return
    with latency_proxy(box.kubeconfig, latency_ms, work / f"proxy-{box.name}") as proxy:
        yield proxy.kubeconfig


def backupctl(args: list[str], kubeconfig: Path, server: MinioServer, work: Path) -> Usage:
    hwm = work / f"hwm-{time.monotonic_ns()}"
    env = dict(
        os.environ,
        BENCH_HWM_FILE=str(hwm),
        AWS_ACCESS_KEY_ID=server.access_key,
        AWS_SECRET_ACCESS_KEY=server.secret_key,
        KUBECONFIG=str(kubeconfig),
        BACKUPD_CONFIG=str(work / "backupctl-config.yaml"),
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", _BACKUPCTL, *args, "-o", "json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
    )
    seconds = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise RuntimeError(f"backupctl {' '.join(args[:3])} failed: {out.stderr.strip()[-800:]}")
    status = json.loads(out.stdout).get("status", {})
    progress = status.get("progress", {})
    return Usage(
        seconds=seconds,
        peak_rss_mb=int(hwm.read_text()) / 1024,
        cpu_s=(after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
        items=int(progress.get("itemsBackedUp", progress.get("itemsDone", 0)) or 0),
        phase=str(status.get("phase", "")),
    )


def empty_sandbox(work: Path, name: str, nodes: int) -> Sandbox:
    return Sandbox(work / name, name=name, nodes=nodes)


def run_latency(
    n: int,
    latency_ms: float,
    source: Sandbox,
    namespaces: list[str],
    store: MinioServer,
    work: Path,
) -> JSON:
    tag = f"n{n}-l{latency_ms:g}".replace(".", "-")
    nodes = max(1, -(-n // OBJECTS_PER_APP // PODS_PER_NODE))
    location = store.url("backupd")
    row: JSON = {"objects": n, "latency_ms": latency_ms, "namespaces": len(namespaces)}
    with api(source, latency_ms, work) as kubeconfig:
        with velero_server(
            source, store, "velero", work / f"velero-{tag}", kubeconfig=kubeconfig
        ) as v:
            velero_backup = v.backup(namespaces, f"v-{tag}")
        row["list_floor"] = floor(kubeconfig, namespaces)
        ours_backup = backupctl(
            ["backup", "create", f"b-{tag}", "-n", ",".join(namespaces), "--location", location],
            kubeconfig,
            store,
            work,
        )
    with contextlib.ExitStack() as stack:
        box = stack.enter_context(empty_sandbox(work, f"velero-{tag}", nodes))
        kc = stack.enter_context(api(box, latency_ms, work))
        where = work / f"velero-r-{tag}"
        v = stack.enter_context(
            velero_server(box, store, "velero", where, kubeconfig=kc, read_only=True)
        )
        velero_restore = v.restore(f"v-{tag}")
    with empty_sandbox(work, f"ours-{tag}", nodes) as box, api(box, latency_ms, work) as kc:
        ours_restore = backupctl(
            ["restore", "create", f"r-{tag}", "--from-backup", f"b-{tag}", "--location", location],
            kc,
            store,
            work,
        )
    for what, velero, ours in (
        ("backup", velero_backup, ours_backup),
        ("restore", velero_restore, ours_restore),
    ):
        for who, u in (("velero", velero), ("backupctl", ours)):
            row[f"{who}_{what}"] = {
                "s": round(u.seconds, 2),
                "rss_mb": round(u.peak_rss_mb),
                "cpu_s": round(u.cpu_s, 1),
                "items": u.items,
                "phase": u.phase,
            }
        row[f"{what}_speedup"] = round(velero.seconds / ours.seconds, 2)
        row[f"{what}_rss_ratio"] = round(velero.peak_rss_mb / ours.peak_rss_mb, 2)
    # The best backup speed-up any tool could reach: Velero's time over the raw LIST alone.
    row["backup_speedup_bound"] = round(velero_backup.seconds / row["list_floor"]["seconds"], 2)
    return row


def table(rows: list[JSON]) -> str:
    head = (
        "| objects | latency | Velero backup | backupctl backup | speedup "
        "| raw LIST | bound | Velero restore | backupctl restore | speedup |"
    )
    lines = [head, "|" + "---|" * 10]

    def cell(u: JSON) -> str:
        return f"{u['s']:.1f} s, {u['rss_mb']} MB, {u['cpu_s']:.1f} CPU-s, {u['items']} items"

    for r in rows:
        lines.append(
            f"| {r['objects']:,} | {r['latency_ms']:g} ms | {cell(r['velero_backup'])} "
            f"| {cell(r['backupctl_backup'])} | {r['backup_speedup']}x "
            f"| {r['list_floor']['seconds']:.2f} s, {r['list_floor']['items']} items "
            f"| {r['backup_speedup_bound']}x "
            f"| {cell(r['velero_restore'])} | {cell(r['backupctl_restore'])} "
            f"| {r['restore_speedup']}x |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000])
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[0, 2])
    args = parser.parse_args()
    ensure_velero(log=lambda m: print(m, file=sys.stderr, flush=True))
    binaries.ensure_built("minio")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-velero-") as tmp:
        work = Path(tmp)
        with minio(work / "minio") as store:
            for bucket in ("velero", "backupd"):
                store.create_bucket(bucket)
            for n in args.sizes:
                nodes = max(1, -(-n // OBJECTS_PER_APP // PODS_PER_NODE))
                with Sandbox(work / f"source-{n}", name=f"source-{n}", nodes=nodes) as source:
                    t = time.monotonic()
                    namespaces = seed(KubeClient.from_kubeconfig(source.kubeconfig), n)
                    print(f"seeded {n} in {time.monotonic() - t:.0f}s", file=sys.stderr)
                    for latency in args.latency_ms:
                        row = run_latency(n, latency, source, namespaces, store, work)
                        rows.append(row)
                        print(json.dumps(row), flush=True)
    print()
    print(table(rows))


if __name__ == "__main__":
    main()
