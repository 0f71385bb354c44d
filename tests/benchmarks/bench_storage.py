"""Stream a large object through the S3 (MinIO) and GCS (fake-gcs-server) backends.

    python tests/benchmarks/bench_storage.py                 # 1 GiB, both backends
    python tests/benchmarks/bench_storage.py --size-mib 256 --backends minio

The servers are started by the same helpers as the tests (backupd.sandbox.objectstores).
Each backend runs in a child process of its own, so its peak RSS (getrusage
ru_maxrss) covers exactly one upload and one verified download. The data comes from a
generator, made on the fly: no object is ever whole in memory, on either side.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

MIB = 1024 * 1024
LIMIT_MB = 200
KEY = "backups/bench/resources.tar.zst"


def blocks(size: int, block: int = MIB) -> Iterator[bytes]:
    """`size` bytes of pseudo-random data, one block at a time."""
    counter = 0
    seed = hashlib.sha256(b"backupd-bench").digest()
    pattern = seed * (block // len(seed))
    while size > 0:
        n = min(block, size)
        # Vary each block so no layer can deduplicate or compress it away.
        head = hashlib.sha256(seed + counter.to_bytes(8, "big")).digest()
        yield (head + pattern[len(head) :])[:n]
        size -= n
        counter += 1


class GeneratorStream(io.RawIOBase):
    """A readable binary stream over a generator of byte blocks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def peak_rss_mb() -> float:
    """This process image's peak RSS. /proc's VmHWM starts afresh at exec, whereas
    getrusage's ru_maxrss would carry over the parent's size at fork."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(url: str, size: int) -> dict[str, Any]:
    """One upload and one verified download; runs in its own process."""
    from backupd.storage.location import open_location

    location = open_location(url, credentials=json.loads(os.environ.get("BENCH_CREDENTIALS", "{}")))
    baseline = peak_rss_mb()
    started = time.monotonic()
    result = location.put(KEY, io.BufferedReader(GeneratorStream(blocks(size)), MIB))
    upload_s = time.monotonic() - started
    after_upload = peak_rss_mb()
    started = time.monotonic()
    read = 0
    with location.get(KEY, sha256=result.sha256) as stream:
        while chunk := stream.read(MIB):
            read += len(chunk)
    download_s = time.monotonic() - started
    location.delete(KEY)
    if read != size or result.size != size:
        raise SystemExit(f"size mismatch: wrote {result.size}, read {read}, expected {size}")
    return {
        "baseline_mb": round(baseline, 1),
        "upload_peak_mb": round(after_upload, 1),
        "peak_mb": round(peak_rss_mb(), 1),
        "upload_mib_s": round(size / MIB / upload_s, 1),
        "download_mib_s": round(size / MIB / download_s, 1),
        "sha256": result.sha256,
    }


def run_child(url: str, size: int, credentials: dict[str, str] | None) -> dict[str, Any]:
    env = dict(
        os.environ, PYTHONPATH=str(REPO_ROOT), BENCH_CREDENTIALS=json.dumps(credentials or {})
    )
    proc = subprocess.run(
        [sys.executable, __file__, "--child", url, "--size-mib", str(size // MIB)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child failed for {url}: {proc.stderr.strip()[-500:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--backends", default="minio,gcs", help="comma-separated: minio, gcs")
    parser.add_argument("--child", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    size = args.size_mib * MIB
    if args.child:
        print(json.dumps(child(args.child, size)))
        return 0

    from backupd.sandbox import binaries, objectstores

    wanted = [b.strip() for b in args.backends.split(",") if b.strip()]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as tmp:
        for backend in wanted:
            if backend == "minio":
                binaries.ensure_built("minio")
                with objectstores.minio(Path(tmp) / "minio") as server:
                    url = server.url(server.create_bucket("bench"), "p")
                    rows.append(
                        {"backend": "s3 (MinIO)", **run_child(url, size, server.credentials)}
                    )
            elif backend == "gcs":
                binaries.ensure_built("fakegcs")
                with objectstores.fake_gcs(Path(tmp) / "gcs") as gcs:
                    url = gcs.url(gcs.create_bucket("bench"), "p")
                    rows.append({"backend": "gs (fake-gcs-server)", **run_child(url, size, None)})
            else:
                raise SystemExit(f"unknown backend {backend!r}; use minio or gcs")

    header = (
        f"{'BACKEND':<22}{'SIZE':>9}{'UPLOAD':>13}{'DOWNLOAD':>13}{'BASE RSS':>11}{'PEAK RSS':>11}"
    )
    print(header)
    for r in rows:
        print(
            f"{r['backend']:<22}{args.size_mib:>5} MiB{r['upload_mib_s']:>7} MiB/s"
            f"{r['download_mib_s']:>7} MiB/s{r['baseline_mb']:>8} MB{r['peak_mb']:>8} MB"
        )
    worst = max((r["peak_mb"] for r in rows), default=0.0)
    verdict = "ok" if worst < LIMIT_MB else "OVER"
    print(f"peak RSS limit {LIMIT_MB} MB: {verdict} (worst {worst} MB)")
    return 0 if worst < LIMIT_MB else 1


if __name__ == "__main__":
    sys.exit(main())
