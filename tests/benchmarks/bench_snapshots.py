"""Volume snapshots: one backup of N claims against a backup of one claim alone.

    python tests/benchmarks/bench_snapshots.py --claims 20 --concurrency 4 --repeat 3

Starts a sandbox with the CSI stack, makes one namespace with a single claim and one
with N claims (each volume holding a 1 MB file), then backs each up (--repeat times,
alternating) through the real snapshot path: VolumeSnapshot, readyToUse, content
retained, VolumeSnapshot deleted. Reports the median times, the time N snapshots
would take one after another (N x one alone) and the speed-up of taking them
--concurrency at a time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from backupd.api.backup import BackupSpec
from backupd.api.common import Phase
from backupd.backup import engine
from backupd.cluster.client import KubeClient
from backupd.sandbox import binaries
from backupd.sandbox.cluster import Sandbox
from backupd.sandbox.csi import STORAGE_CLASS, volume_dir
from backupd.snapshots.backup import take_all
from backupd.storage.location import open_location


def claims(kube: KubeClient, ns: str, count: int, data_dir: Path) -> None:
    kube.post("/api/v1/namespaces", {"metadata": {"name": ns}})
    for i in range(count):
        kube.post(
            f"/api/v1/namespaces/{ns}/persistentvolumeclaims",
            {
                "metadata": {"name": f"data-{i}"},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": STORAGE_CLASS,
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            },
        )
    deadline = time.monotonic() + 120
    while True:
        items = kube.get(f"/api/v1/namespaces/{ns}/persistentvolumeclaims")["items"]
        if sum(1 for c in items if c.get("status", {}).get("phase") == "Bound") == count:
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"claims in {ns} not Bound after 120s")
        time.sleep(0.2)
    for claim in items:
        pv = kube.get(f"/api/v1/persistentvolumes/{claim['spec']['volumeName']}")
        (volume_dir(data_dir, pv["spec"]["csi"]["volumeHandle"]) / "data.bin").write_bytes(
            os.urandom(2**20)
        )


def timed_backup(kube: KubeClient, store: Path, name: str, ns: str, concurrency: int) -> float:
    loc = open_location(f"file://{store}")
    spec = BackupSpec(included_namespaces=[ns], snapshot_concurrency=concurrency)
    started = time.monotonic()
    backup = engine.run(name, spec, kube=kube, location=loc, volumes=take_all)
    took = time.monotonic() - started
    st = backup.status
    if st.phase is not Phase.completed or st.volume_snapshots_completed == 0:
        raise SystemExit(f"backup {name}: {st.phase}, {[w.message for w in st.warnings]}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for component in binaries.CSI_STACK:
        binaries.ensure_built(component, log=print)
    with tempfile.TemporaryDirectory(prefix="bench-snapshots-") as tmp:
        root = Path(tmp)
        with Sandbox(root / "box", name="bench-csi", csi=True) as box:
            kube = KubeClient.from_kubeconfig(box.kubeconfig)
            claims(kube, "one", 1, box.csi_data_dir)
            claims(kube, "many", args.claims, box.csi_data_dir)
            one: list[float] = []
            many: list[float] = []
            for r in range(args.repeat):
                order = [("one", one), ("many", many)]
                for ns, times in order if r % 2 == 0 else order[::-1]:
                    times.append(
                        timed_backup(kube, root / "store", f"{ns}-{r}", ns, args.concurrency)
                    )
    alone, together = statistics.median(one), statistics.median(many)
    serial = alone * args.claims
    print(
        f"one claim alone:            {alone:6.2f}s  (runs: {', '.join(f'{t:.2f}' for t in one)})"
    )
    print(
        f"{args.claims} claims in one backup:   {together:6.2f}s  "
        f"(runs: {', '.join(f'{t:.2f}' for t in many)}), {args.concurrency} in flight"
    )
    print(
        f"{args.claims} x one alone (serial):  {serial:6.2f}s  -> speed-up {serial / together:.1f}x"
    )


if __name__ == "__main__":
    main()
