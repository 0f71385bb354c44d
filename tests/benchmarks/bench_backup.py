"""Backup speed and memory against a raw paged LIST of the same objects, in one run.

    python tests/benchmarks/bench_backup.py --sizes 1000 10000 50000
    python tests/benchmarks/bench_backup.py --sizes 10000 100000 --repeat 1 --restore

For each N it starts a fresh sandbox, seeds N objects (40% ConfigMaps, 40% Secrets,
20% Deployments with 0 replicas, across N/1000 namespaces), then, each in a fresh
child process and in alternating order (--repeat times):
- the floor: a paged LIST (limit 500) of every type that holds items, read and
  parsed as JSON, through the same HTTP client;
- the backup of the same namespaces to a local directory, by the engine in-process;
- the same backup by the CLI (`backupctl backup create`, start-up included).
It reports the median times, their ratio, and each child's peak RSS. With --restore,
the last backup of each size is restored into an empty sandbox (engine in a child).
Targets (issue 15): backup of 1k <= 1.5x the LIST; 100k backed up in <= 60 s with
peak RSS < 250 MB, flat from 10k to 100k.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from backupd.cluster.client import KubeClient
from backupd.sandbox.cluster import Sandbox

SEED_THREADS = 16
NAMESPACE_PREFIX = "bench"

# Peak RSS of this process image: VmHWM resets at exec, unlike getrusage's ru_maxrss,
# which a child inherits from its parent's size at fork.
_PEAK = """
def peak_rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
"""

_CHILD_LIST = (
    _PEAK
    + """
import json, sys, time, orjson
from backupd.cluster.client import KubeClient
from backupd.cluster.discovery import discover
from backupd.cluster.listing import list_pages
kube = KubeClient.from_kubeconfig(sys.argv[1])
by_gr = discover(kube).by_group_resource()
started = time.monotonic()
n = 0
for gr in ("configmaps", "secrets", "deployments.apps", "replicasets.apps"):
    for items, _ in list_pages(kube, by_gr[gr]):
        n += sum(1 for i in items if i["metadata"]["namespace"].startswith("bench-"))
elapsed = time.monotonic() - started
print(json.dumps({"seconds": elapsed, "items": n,
                  "rss_mb": peak_rss_mb()}))
"""
)

_CHILD_BACKUP = (
    _PEAK
    + """
import json, sys, time
from backupd.api.backup import BackupSpec
from backupd.backup import engine as backup_engine
from backupd.cluster.client import KubeClient
from backupd.storage.location import open_location
kube = KubeClient.from_kubeconfig(sys.argv[1])
loc = open_location("file://" + sys.argv[2])
started = time.monotonic()
b = backup_engine.run(sys.argv[3], BackupSpec(included_namespaces=["bench-*"]), kube=kube, location=loc)
elapsed = time.monotonic() - started
print(json.dumps({"seconds": elapsed, "items": b.status.progress.items_backed_up, "phase": b.status.phase,
                  "archive_bytes": b.status.archive.size if b.status.archive else 0,
                  "rss_mb": peak_rss_mb()}))
"""
)


_CHILD_RESTORE = (
    _PEAK
    + """
import json, sys, time
from backupd.api.restore import RestoreSpec
from backupd.restore import engine as restore_engine
from backupd.cluster.client import KubeClient
from backupd.storage.location import open_location
kube = KubeClient.from_kubeconfig(sys.argv[1])
loc = open_location("file://" + sys.argv[2])
started = time.monotonic()
r = restore_engine.run("r-" + sys.argv[3], RestoreSpec(backup_name=sys.argv[3]), kube=kube, location=loc)
elapsed = time.monotonic() - started
print(json.dumps({"seconds": elapsed, "phase": r.restore.status.phase, "rss_mb": peak_rss_mb()}))
"""
)


def cli_backup(kubeconfig: Path, store: Path, name: str) -> dict[str, float]:
    """`backupctl backup create` as a user runs it: wall time from the parent, start-up included."""
    started = time.monotonic()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "cli",
            "backup",
            "create",
            name,
            "--include-namespaces",
            "bench-*",
            "--location",
            f"file://{store}",
            "--kubeconfig",
            str(kubeconfig),
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return {"seconds": time.monotonic() - started}


def seed(kube: KubeClient, n: int) -> None:
    namespaces = max(1, n // 1000)
    for i in range(namespaces):
        kube.post("/api/v1/namespaces", {"metadata": {"name": f"{NAMESPACE_PREFIX}-{i}"}})
    payload = "x" * 400

    def create(i: int) -> None:
        ns = f"{NAMESPACE_PREFIX}-{i % namespaces}"
        kind = i % 5
        name = f"obj-{i}"
        labels = {"app": f"app-{i % 50}", "tier": "bench"}
        if kind in (0, 1):
            kube.post(
                f"/api/v1/namespaces/{ns}/configmaps",
                {"metadata": {"name": name, "labels": labels}, "data": {"config": payload}},
            )
        elif kind in (2, 3):
            kube.post(
                f"/api/v1/namespaces/{ns}/secrets",
                {"metadata": {"name": name, "labels": labels}, "stringData": {"token": payload}},
            )
        else:
            template = {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "registry.invalid/c:1"}]},
            }
            kube.post(
                f"/apis/apps/v1/namespaces/{ns}/deployments",
                {
                    "metadata": {"name": name, "labels": labels},
                    "spec": {
                        "replicas": 0,
                        "selector": {"matchLabels": {"app": name}},
                        "template": template,
                    },
                },
            )

    with ThreadPoolExecutor(SEED_THREADS) as pool:
        list(pool.map(create, range(n)))


def child(code: str, *args: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def wait_for_replicasets(kube: KubeClient, want: int, timeout: float = 600) -> None:
    """Until the deployment controller has made every ReplicaSet (counted, not listed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page = kube.get("/apis/apps/v1/replicasets", limit=1)
        have = len(page.get("items", [])) + int(page["metadata"].get("remainingItemCount") or 0)
        if have >= want:
            return
        time.sleep(2)


def run_size(n: int, repeat: int, work: Path, restore: bool) -> dict[str, float]:
    with Sandbox(work / f"box-{n}", name=f"bench-{n}") as box:
        kube = KubeClient.from_kubeconfig(box.kubeconfig)
        t = time.monotonic()
        seed(kube, n)
        wait_for_replicasets(kube, n // 5)  # the controller's ReplicaSets are part of the data
        seeded_s = time.monotonic() - t
        lists, backups, clis = [], [], []
        store = work / f"store-{n}"
        for r in range(repeat):
            order = ["list", "backup", "cli"][r % 3 :] + ["list", "backup", "cli"][: r % 3]
            for what in order:
                if what == "list":
                    lists.append(child(_CHILD_LIST, str(box.kubeconfig)))
                elif what == "cli":
                    clis.append(cli_backup(box.kubeconfig, store, f"c{n}-{r}"))
                else:
                    backups.append(
                        child(_CHILD_BACKUP, str(box.kubeconfig), str(store), f"b{n}-{r}")
                    )
        list_s = statistics.median(x["seconds"] for x in lists)
        backup_s = statistics.median(x["seconds"] for x in backups)
        cli_s = statistics.median(x["seconds"] for x in clis)
    restored: dict[str, float] = {}
    if restore:
        with Sandbox(work / f"target-{n}", name=f"target-{n}") as target:
            restored = child(_CHILD_RESTORE, str(target.kubeconfig), str(store), f"b{n}-0")
    return {
        "n": n,
        "seed_s": seeded_s,
        "items_listed": lists[0]["items"],
        "items_backed_up": backups[0]["items"],
        "list_s": list_s,
        "backup_s": backup_s,
        "ratio": backup_s / list_s,
        "cli_s": cli_s,
        "cli_ratio": cli_s / list_s,
        "list_rss_mb": max(x["rss_mb"] for x in lists),
        "backup_rss_mb": max(x["rss_mb"] for x in backups),
        "archive_mb": backups[0]["archive_bytes"] / 1e6,
        "restore_s": restored.get("seconds", 0.0),
        "restore_rss_mb": restored.get("rss_mb", 0.0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--restore", action="store_true", help="restore into an empty sandbox")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-backup-") as tmp:
        for n in args.sizes:
            row = run_size(n, args.repeat, Path(tmp), args.restore)
            rows.append(row)
            print(json.dumps(row), flush=True)
    print()
    print(
        f"{'N':>7} {'items':>7} {'LIST s':>8} {'backup s':>9} {'ratio':>6} {'CLI s':>6} "
        f"{'LIST RSS':>9} {'backup RSS':>11} {'archive':>8} {'restore s':>9}"
    )
    for r in rows:
        print(
            f"{r['n']:>7} {r['items_backed_up']:>7.0f} {r['list_s']:>8.2f} {r['backup_s']:>9.2f} "
            f"{r['ratio']:>6.2f} {r['cli_s']:>6.2f} {r['list_rss_mb']:>7.0f}MB "
            f"{r['backup_rss_mb']:>9.0f}MB {r['archive_mb']:>6.1f}MB {r['restore_s']:>9.1f}"
        )


if __name__ == "__main__":
    main()
