"""Load: N schedules firing every minute for M minutes against one location, under GC.

    python tests/benchmarks/bench_schedules.py                  # 20 schedules, 5 minutes
    python tests/benchmarks/bench_schedules.py --schedules 5 --minutes 2

A fresh sandbox, deploy/'s RBAC, one `backupd run` process with the ServiceAccount's
token, one file:// location. Every schedule is "0 * * * * *" (each minute at :00) with
keepLast 2, so the garbage collector deletes while backups are made. Meanwhile
`backupctl backup get -o json` is run against the location over and over: it must
always succeed and list only committed backups.

Reported (JSON): per minute mark, whether every schedule ran exactly once (no double
run, none starved), runs skipped because the previous one still ran (overlap), how
late each Backup was created after its mark and how long backups took, GC deletions,
and the `backup get` checks.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from backupd.cluster.client import KubeClient  # noqa: E402
from backupd.controller.resources import Resources  # noqa: E402
from backupd.sandbox.cluster import Sandbox  # noqa: E402
from tests.integration.controller_support import (  # noqa: E402
    NAMESPACE,
    Controller,
    clean,
    location,
    service_account_kubeconfig,
)


def pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


def backup_get_checks(url: str, stop: threading.Event, out: dict[str, Any]) -> None:
    while not stop.is_set():
        res = subprocess.run(
            [sys.executable, "-m", "cli", "backup", "get", "-o", "json", "--location", url],
            capture_output=True,
            text=True,
            timeout=120,
        )
        out["runs"] += 1
        if res.returncode != 0:
            out["failures"].append(res.stderr.strip()[:300])
        else:
            items = json.loads(res.stdout)["items"]
            phases = {i.get("status", {}).get("phase") for i in items}
            if not phases <= {"Completed", "PartiallyFailed", "Failed"}:
                out["failures"].append(f"uncommitted phases listed: {phases}")
        stop.wait(1.0)


def run(schedules: int, minutes: int, work: Path) -> dict[str, Any]:
    with Sandbox(work / "cluster", name="bench-schedules") as box:
        admin = KubeClient.from_kubeconfig(box.kubeconfig)
        kubeconfig = service_account_kubeconfig(box, admin, work / "sa.kubeconfig")
        res = Resources(admin, NAMESPACE)
        clean(res)
        ns = "bench-workload"
        admin.post("/api/v1/namespaces", {"metadata": {"name": ns}})
        for i in range(20):
            admin.post(
                f"/api/v1/namespaces/{ns}/configmaps",
                {"metadata": {"name": f"cm-{i}"}, "data": {"k": "v" * 512}},
            )
        url = f"file://{work / 'store'}"
        location(res, "main", url)
        controller = Controller(kubeconfig, work / "backupd.log", lease_duration=15.0).start()
        names = [f"load-{i:02d}" for i in range(schedules)]
        # start just after a minute mark, so each measured minute is whole
        time.sleep(60 - datetime.datetime.now(datetime.UTC).second + 1)
        started = datetime.datetime.now(datetime.UTC)
        for name in names:
            spec = {
                "schedule": "0 * * * * *",
                "template": {"includedNamespaces": [ns], "ttl": "1h"},
                "retention": {"keepLast": 2},
            }
            res.create("schedules", {"metadata": {"name": name}, "spec": spec})
        checks: dict[str, Any] = {"runs": 0, "failures": []}
        stop = threading.Event()
        checker = threading.Thread(target=backup_get_checks, args=(url, stop, checks))
        checker.start()
        durations: dict[str, float] = {}
        end = started + datetime.timedelta(minutes=minutes)
        while datetime.datetime.now(datetime.UTC) < end + datetime.timedelta(seconds=5):
            for b in res.list("backups"):
                st = b.get("status") or {}
                if st.get("completionTimestamp") and st.get("startTimestamp"):
                    t0 = datetime.datetime.fromisoformat(
                        st["startTimestamp"].replace("Z", "+00:00")
                    )
                    t1 = datetime.datetime.fromisoformat(
                        st["completionTimestamp"].replace("Z", "+00:00")
                    )
                    durations[b["metadata"]["name"]] = (t1 - t0).total_seconds()
            time.sleep(1)
        for name in names:
            res.patch("schedules", name, {"spec": {"paused": True}})
        time.sleep(20)  # let the last runs finish
        stop.set()
        checker.join()
        events = admin.get(f"/api/v1/namespaces/{NAMESPACE}/events")["items"]
        gc_deleted = controller.metric("backupd_gc_deletions_total", result="deleted")
        completed = controller.metric("backupd_backup_total", result="Completed")
        failed = controller.metric("backupd_backup_total", result="Failed")
        controller.stop()
    created = [
        e["message"].split()[2]
        for e in events
        if e["reason"] == "BackupCreated" and e["involvedObject"]["name"] in names
    ]
    skipped = Counter(
        e["involvedObject"]["name"]
        for e in events
        if e["reason"] == "RunSkipped" and e["involvedObject"]["name"] in names
    )
    marks = [
        started.replace(second=0, microsecond=0) + datetime.timedelta(minutes=m + 1)
        for m in range(minutes)
    ]
    per_mark: dict[str, Counter[str]] = {m.strftime("%H:%M"): Counter() for m in marks}
    late: list[float] = []
    for backup in created:
        schedule, stamp = backup.rsplit("-", 1)
        at = datetime.datetime.strptime(stamp, "%Y%m%d%H%M%S").replace(tzinfo=datetime.UTC)
        mark = at.replace(second=0)
        late.append((at - mark).total_seconds())
        if mark.strftime("%H:%M") in per_mark:
            per_mark[mark.strftime("%H:%M")][schedule] += 1
    doubles = {m: [s for s, n in c.items() if n > 1] for m, c in per_mark.items()}
    missing = {m: sorted(set(names) - set(c)) for m, c in per_mark.items()}
    took = list(durations.values())
    return {
        "schedules": schedules,
        "minutes": minutes,
        "runs_expected": schedules * minutes,
        "runs_created_in_window": sum(sum(c.values()) for c in per_mark.values()),
        "double_runs": {m: v for m, v in doubles.items() if v},
        "starved": {m: v for m, v in missing.items() if v},
        "skipped_overlaps": dict(skipped),
        "creation_lateness_s": {
            "p50": pct(late, 0.5),
            "p95": pct(late, 0.95),
            "max": max(late, default=0),
        },
        "backup_duration_s": {
            "p50": pct(took, 0.5),
            "p95": pct(took, 0.95),
            "max": max(took, default=0),
            "mean": statistics.mean(took) if took else 0,
        },
        "backups_completed": completed,
        "backups_failed": failed,
        "gc_deleted": gc_deleted,
        "backup_get": {"runs": checks["runs"], "failures": checks["failures"][:5]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--schedules", type=int, default=20)
    parser.add_argument("--minutes", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-schedules-") as tmp:
        print(json.dumps(run(args.schedules, args.minutes, Path(tmp)), indent=2))


if __name__ == "__main__":
    main()
