"""`backup get` on a remote store: listing N backups, one record read at a time against
16 at a time, in one run.

    python tests/benchmarks/bench_listing.py                         # 365 backups; 0, 2, 10 ms
    python tests/benchmarks/bench_listing.py --backups 1000 --latency-ms 5

One MinIO holds N backup records of a realistic size (a nightly backup of 20
namespaces, about 2 kB each). For each latency a loopback TCP proxy in front of MinIO
(backupd.sandbox.latency, in its own process; 0 = direct) adds that delay each way,
so a round trip costs twice it, as a store a few milliseconds away would. Then
`records.list_backups` (what `backup get` runs) lists the location with
backupd.storage.fanout reading one record at a time (the behaviour before) and with
its default, each the median of --repeat runs, in alternating order. One JSON line per
latency, then a table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from backupd.api.backup import Backup, BackupSpec, ClusterInfo  # noqa: E402
from backupd.api.common import ObjectMeta, Phase  # noqa: E402
from backupd.sandbox import binaries  # noqa: E402
from backupd.sandbox.latency import tcp_latency_proxy  # noqa: E402
from backupd.sandbox.objectstores import MinioServer, minio  # noqa: E402
from backupd.storage import fanout, records  # noqa: E402
from backupd.storage.layout import BackupKeys  # noqa: E402
from backupd.storage.location import Location, open_location  # noqa: E402

BUCKET = "listing"
NAMESPACES = [f"team-{i:02d}" for i in range(20)]


def record(i: int) -> dict[str, Any]:
    day = datetime.datetime(2026, 1, 1, 2, tzinfo=datetime.UTC) + datetime.timedelta(days=i)
    b = Backup(
        metadata=ObjectMeta(name=f"nightly-{day:%Y%m%d}-{i:04d}", creation_timestamp=day),
        spec=BackupSpec(included_namespaces=NAMESPACES, ttl="720h"),
    )
    b.status.phase = Phase.completed
    b.status.start_timestamp = day
    b.status.completion_timestamp = day + datetime.timedelta(seconds=42)
    b.status.cluster = ClusterInfo(id="6f1c7a52-1111-4c1e-9d6e-000000000001", server="https://k")
    b.status.namespace_counts = {ns: 40 + i % 7 for ns in NAMESPACES}
    return b.to_json_dict()


def seed(location: Location, n: int) -> None:
    for i in range(n):
        document = record(i)
        name = document["metadata"]["name"]
        location.put_bytes(BackupKeys(name).metadata, json.dumps(document).encode())


def timed_listing(location: Location, readers: int) -> float:
    saved = fanout.READERS
    fanout.READERS = readers
    try:
        started = time.perf_counter()
        listing = records.list_backups(location)
        took = time.perf_counter() - started
    finally:
        fanout.READERS = saved
    if listing.skipped:
        raise SystemExit(f"records skipped: {listing.skipped[:3]}")
    return took


def run(store: MinioServer, work: Path, n: int, latency_ms: float, repeat: int) -> dict[str, Any]:
    endpoint = urlsplit(store.endpoint)
    upstream = (endpoint.hostname or "", endpoint.port or 0)

    def measure(url: str) -> dict[str, Any]:
        location = open_location(url, credentials=store.credentials)
        serial: list[float] = []
        fanned: list[float] = []
        for r in range(repeat):
            for readers in (1, fanout.READERS) if r % 2 == 0 else (fanout.READERS, 1):
                (serial if readers == 1 else fanned).append(timed_listing(location, readers))
        one, many = statistics.median(serial), statistics.median(fanned)
        return {
            "backups": n,
            "latency_ms": latency_ms,
            "one_at_a_time_s": round(one, 3),
            f"{fanout.READERS}_at_a_time_s": round(many, 3),
            "speedup": round(one / many, 1),
        }

    if latency_ms <= 0:
        return measure(store.url(BUCKET))
    with tcp_latency_proxy(upstream, latency_ms, work / f"proxy-{latency_ms:g}") as proxy:
        proxied = store.url(BUCKET, endpoint=f"http://127.0.0.1:{proxy.port}")
        return measure(proxied)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backups", type=int, default=365)
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[0, 2, 10])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    binaries.ensure_built("minio")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-listing-") as tmp:
        work = Path(tmp)
        with minio(work / "minio") as store:
            store.create_bucket(BUCKET)
            seed(open_location(store.url(BUCKET), credentials=store.credentials), args.backups)
            for latency in args.latency_ms:
                row = run(store, work, args.backups, latency, args.repeat)
                rows.append(row)
                print(json.dumps(row), flush=True)
    print()
    print("| backups | latency each way | one at a time | 16 at a time | speed-up |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['backups']} | {r['latency_ms']:g} ms | {r['one_at_a_time_s']:.2f} s "
            f"| {r[f'{fanout.READERS}_at_a_time_s']:.2f} s | {r['speedup']}x |"
        )


if __name__ == "__main__":
    main()
