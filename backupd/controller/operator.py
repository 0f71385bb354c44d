"""One controller process: wait for the Lease, then watch (kopf), schedule, collect, sync.

    metrics server (always) -> lease acquired -> interrupted work marked Failed
    -> APScheduler started -> housekeeping thread (catalog sync, then GC)
    -> kopf watches Backups, Restores, Schedules, DrillSchedules in the namespace until stopped

kopf is the watch-and-dispatch layer only: each watch event goes to the module of
its kind (backups, restores, schedules), whose handlers are sync functions kopf runs
in its executor; the engines run in the Context's own worker threads, never on the
event loop. A lost Lease stops everything: the process exits non-zero (the work it
had in flight is marked Failed by the next leader, never resumed).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import kopf

from backupd.api import GROUP, VERSION
from backupd.cluster.client import KubeClient
from backupd.controller import backups, restores
from backupd.controller.context import Context
from backupd.controller.drills import DrillSchedules
from backupd.controller.gc import Collector
from backupd.controller.leader import LeaderElector
from backupd.controller.locations import Locations
from backupd.controller.metrics import Metrics, serve
from backupd.controller.resources import Resources
from backupd.controller.schedules import Schedules
from backupd.controller.sync import CatalogSync
from backupd.errors import BackupdError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Options:
    namespace: str = "backupd"
    metrics_bind_address: str = "127.0.0.1:8080"
    identity: str = "backupd"
    lease_duration: float = 15.0
    gc_interval: float = 60.0
    sync_interval: float = 60.0
    progress_interval: float = 2.0
    run_missed: bool = True
    max_concurrent: int = 2


def connection_info(kube: KubeClient, namespace: str) -> kopf.ConnectionInfo:
    """kopf talks to the same server with the same credentials as our KubeClient."""
    cfg = kube.configuration
    _, header = kube.credentials.current()
    token = header.split(" ", 1)[1] if header and header.lower().startswith("bearer ") else None
    return kopf.ConnectionInfo(
        server=kube.host,
        ca_path=cfg.ssl_ca_cert or None,
        insecure=not cfg.verify_ssl,
        certificate_path=cfg.cert_file or None,
        private_key_path=cfg.key_file or None,
        scheme="Bearer" if token else None,
        token=token,
        default_namespace=namespace,
        proxy_url=kube.proxy if isinstance(kube.proxy, str) else None,
    )


def registry(
    ctx: Context, schedules: Schedules, drills: DrillSchedules | None = None
) -> kopf.OperatorRegistry:
    reg = kopf.OperatorRegistry()

    @kopf.on.login(registry=reg)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return connection_info(ctx.kube, ctx.namespace)

    @kopf.on.event(GROUP, VERSION, "backups", registry=reg)  # type: ignore[arg-type]
    def backup_event(event: dict[str, Any], **_: Any) -> None:
        if event.get("type") != "DELETED":
            backups.on_event(ctx, event["object"])

    @kopf.on.event(GROUP, VERSION, "restores", registry=reg)  # type: ignore[arg-type]
    def restore_event(event: dict[str, Any], **_: Any) -> None:
        if event.get("type") != "DELETED":
            restores.on_event(ctx, event["object"])

    @kopf.on.event(GROUP, VERSION, "schedules", registry=reg)  # type: ignore[arg-type]
    def schedule_event(event: dict[str, Any], **_: Any) -> None:
        schedules.on_event(event.get("type"), event["object"])

    if drills is not None:

        @kopf.on.event(GROUP, VERSION, "drillschedules", registry=reg)  # type: ignore[arg-type]
        def drill_schedule_event(event: dict[str, Any], **_: Any) -> None:
            drills.on_event(event.get("type"), event["object"])

    return reg


def settings() -> kopf.OperatorSettings:
    s = kopf.OperatorSettings()
    s.posting.enabled = False  # our own Events say what happened; kopf's would be noise
    s.scanning.disabled = True  # no cluster-wide CRD or namespace watch: one namespace
    s.watching.server_timeout = 300
    s.networking.request_timeout = 60
    return s


def housekeeping(ctx: Context, opts: Options, stop: threading.Event) -> threading.Thread:
    """Catalog sync and garbage collection, one after the other, in one daemon thread."""
    sync, gc = CatalogSync(ctx), Collector(ctx)

    def loop() -> None:
        next_sync = next_gc = 0.0
        while not stop.is_set():
            t = time.monotonic()
            try:
                if t >= next_sync:
                    sync.run_once()
                    next_sync = t + opts.sync_interval
                if t >= next_gc:
                    gc.run_once()
                    next_gc = t + opts.gc_interval
            except BackupdError as e:
                log.warning("housekeeping: %s", e)
            except Exception:
                log.exception("housekeeping: unexpected error")
            stop.wait(max(0.2, min(next_sync, next_gc) - time.monotonic()))

    thread = threading.Thread(target=loop, name="housekeeping", daemon=True)
    thread.start()
    return thread


def run(kube: KubeClient, opts: Options, stop: threading.Event | None = None) -> int:
    """Run until stopped (0) or the Lease is lost (1)."""
    stop = stop or threading.Event()
    metrics = Metrics()
    res = Resources(kube, opts.namespace)
    ctx = Context(
        kube=kube,
        res=res,
        locations=Locations(res),
        metrics=metrics,
        progress_interval=opts.progress_interval,
        max_concurrent=opts.max_concurrent,
    )
    elector = LeaderElector(kube, opts.namespace, opts.identity, lease_duration=opts.lease_duration)
    watching = threading.Event()
    server = serve(metrics, opts.metrics_bind_address, lambda: _ready(elector, watching))
    lost = threading.Event()
    try:
        if not elector.acquire(stop):
            return 0
        metrics.leader.set(1)

        def on_lost() -> None:
            lost.set()
            ctx.stopping.set()
            stop.set()

        elector.keep(stop, on_lost)
        for plural in ("backups", "restores"):
            backups.fail_interrupted(ctx, plural)
        schedules = Schedules(ctx, run_missed=opts.run_missed)
        schedules.start()
        drills = DrillSchedules(ctx)
        drills.start()
        housekeeping(ctx, opts, stop)
        try:
            asyncio.run(_watch(ctx, schedules, stop, watching, drills))
        finally:
            log.info("stopping: no new runs; waiting for runs in flight")
            stop.set()
            ctx.stopping.set()
            schedules.stop()
            drills.stop()
            _drain(ctx, timeout=20.0)
    finally:
        metrics.leader.set(0)
        if not lost.is_set():
            elector.release()
        server.shutdown()
        log.info("stopped")
    return 1 if lost.is_set() else 0


async def _watch(
    ctx: Context,
    schedules: Schedules,
    stop: threading.Event,
    watching: threading.Event,
    drills: DrillSchedules | None = None,
) -> None:
    """kopf until `stop` is set or a SIGTERM/SIGINT arrives (kopf handles those).

    kopf waits on a threading.Event in its default executor, which asyncio.run then
    joins at exit: after a signal that thread would wait for ever. An asyncio.Event,
    set from a daemon thread when `stop` is, leaves nothing to join."""
    loop = asyncio.get_running_loop()
    flag = asyncio.Event()

    def bridge() -> None:
        stop.wait()
        loop.call_soon_threadsafe(flag.set)

    threading.Thread(target=bridge, name="stop-bridge", daemon=True).start()
    await kopf.operator(
        registry=registry(ctx, schedules, drills),
        settings=settings(),
        standalone=True,
        namespaces=[ctx.namespace],
        stop_flag=flag,
        ready_flag=watching,
    )


def _ready(elector: LeaderElector, watching: threading.Event) -> bool:
    """Ready: a standby that waits for the Lease, or a leader whose watches are up."""
    return not elector.leading.is_set() or watching.is_set()


def _drain(ctx: Context, timeout: float) -> None:
    """Let engine runs reach their next item and record themselves (cancelled)."""
    deadline = time.monotonic() + timeout
    while ctx.running() and time.monotonic() < deadline:
        time.sleep(0.2)
    if ctx.running():
        log.warning("stopping with runs still in flight: %s", ctx.running())
