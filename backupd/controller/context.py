"""What every part of the controller shares: clients, metrics, workers, the stop flag."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from backupd.cluster.client import KubeClient
from backupd.controller.locations import Locations
from backupd.controller.metrics import Metrics
from backupd.controller.resources import Resources


@dataclass
class Context:
    kube: KubeClient
    res: Resources
    locations: Locations
    metrics: Metrics
    progress_interval: float = 2.0
    max_concurrent: int = 2
    # set when the controller stops or loses its lease: engines stop at the next item
    stopping: threading.Event = field(default_factory=threading.Event)
    _claimed: set[tuple[str, str]] = field(default_factory=set)
    _active: set[tuple[str, str]] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: ThreadPoolExecutor | None = None

    @property
    def namespace(self) -> str:
        return self.res.namespace

    @property
    def workers(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._workers is None:
                self._workers = ThreadPoolExecutor(
                    max_workers=self.max_concurrent, thread_name_prefix="engine"
                )
            return self._workers

    def claim(self, plural: str, name: str) -> bool:
        """True the first time (plural, name) is claimed in this process: a run starts once."""
        with self._lock:
            if (plural, name) in self._claimed:
                return False
            self._claimed.add((plural, name))
            self._active.add((plural, name))
            return True

    def done(self, plural: str, name: str) -> None:
        """The run claimed as (plural, name) has ended (it is not started again)."""
        with self._lock:
            self._active.discard((plural, name))

    def running(self) -> list[tuple[str, str]]:
        """Runs started in this process that have not ended."""
        with self._lock:
            return sorted(self._active)
