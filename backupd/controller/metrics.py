"""Prometheus metrics, /healthz and /readyz on one small HTTP server (127.0.0.1 by default).

The names are the alert rules' contract (deploy/): keep them stable.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from backupd.errors import UserInputError

RESULTS = ("Completed", "PartiallyFailed", "Failed")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.backup_total = Counter(
            "backupd_backup", "Backups finished, by result", ["result"], registry=r
        )
        self.restore_total = Counter(
            "backupd_restore", "Restores finished, by result", ["result"], registry=r
        )
        self.backup_duration = Histogram(
            "backupd_backup_duration_seconds",
            "How long a backup ran",
            buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200),
            registry=r,
        )
        self.backup_items = Gauge(
            "backupd_backup_items",
            "Items in the last backup, by schedule",
            ["schedule"],
            registry=r,
        )
        self.backup_bytes = Gauge(
            "backupd_backup_bytes",
            "Archive bytes of the last backup, by schedule",
            ["schedule"],
            registry=r,
        )
        self.last_success = Gauge(
            "backupd_backup_last_success_timestamp_seconds",
            "When the last successful backup of a schedule completed (unix time)",
            ["schedule"],
            registry=r,
        )
        self.gc_deletions = Counter(
            "backupd_gc_deletions",
            "Expired backups the garbage collector deleted, by result",
            ["result"],
            registry=r,
        )
        self.schedule_skips = Counter(
            "backupd_schedule_skipped_runs",
            "Scheduled runs skipped, by schedule",
            ["schedule"],
            registry=r,
        )
        self.leader = Gauge("backupd_leader", "1 while this replica leads", registry=r)
        # restore drills (backupd.controller.drills), by DrillSchedule
        self.drill_last_result = Gauge(
            "backupd_drill_last_result",
            "1 if the last drill of a drill schedule passed, 0 if it failed",
            ["drill_schedule"],
            registry=r,
        )
        self.drill_last_timestamp = Gauge(
            "backupd_drill_last_timestamp_seconds",
            "When the last drill of a drill schedule finished (unix time; its creation "
            "time until it first drills)",
            ["drill_schedule"],
            registry=r,
        )
        self.drill_rto = Gauge(
            "backupd_drill_rto_seconds",
            "RTO of the last passed drill of a drill schedule (start to all workloads ready)",
            ["drill_schedule"],
            registry=r,
        )
        self.drill_rpo = Gauge(
            "backupd_drill_rpo_seconds",
            "RPO of the last drill of a drill schedule (the backup's age at its start)",
            ["drill_schedule"],
            registry=r,
        )
        for result in RESULTS:
            self.backup_total.labels(result=result)
            self.restore_total.labels(result=result)
        for result in ("deleted", "failed"):
            self.gc_deletions.labels(result=result)


def parse_bind(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise UserInputError(f"invalid --metrics-bind-address {address!r}: use HOST:PORT")
    return host.strip("[]"), int(port)


def serve(metrics: Metrics, address: str, ready: Callable[[], bool]) -> ThreadingHTTPServer:
    """Start /metrics, /healthz and /readyz in a daemon thread; returns the server."""
    host, port = parse_bind(address)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._reply(200, generate_latest(metrics.registry), CONTENT_TYPE_LATEST)
            elif self.path == "/healthz":
                self._reply(200, b"ok\n")
            elif self.path == "/readyz":
                ok = ready()
                self._reply(200 if ok else 503, b"ok\n" if ok else b"not ready\n")
            else:
                self._reply(404, b"not found\n")

        def _reply(self, code: int, body: bytes, ctype: str = "text/plain") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    try:
        server = ThreadingHTTPServer((host, port), Handler)
    except OSError as e:
        raise UserInputError(f"cannot listen on {address}: {e.strerror or e}") from e
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
