"""A Reporter (backupd.api.progress) that patches an engine's progress into status.

Phase changes are patched at once; progress at most every `interval` seconds (and
the final count always). Warnings and errors go to the log as they come; the engine
returns them all in the final status.
"""

from __future__ import annotations

import logging
import threading
import time

from backupd.api.common import Phase
from backupd.api.progress import Step
from backupd.controller.resources import Resources
from backupd.errors import BackupdError

log = logging.getLogger(__name__)


class StatusReporter:
    def __init__(
        self,
        res: Resources,
        plural: str,
        name: str,
        *,
        done_field: str,
        interval: float = 2.0,
    ) -> None:
        self.res = res
        self.plural = plural
        self.name = name
        self.done_field = done_field
        self.interval = interval
        self._last = 0.0
        self._lock = threading.Lock()
        self.patches = 0
        self._waiting = False  # a restore waiting for workloads: its progress counts those

    def _patch(self, status: dict[str, object]) -> None:
        try:
            self.res.patch_status(self.plural, self.name, status)
            self.patches += 1
        except BackupdError as e:
            log.warning("status of %s %s not updated: %s", self.plural, self.name, e)

    def phase(self, phase: Phase, step: Step) -> None:
        log.info("%s %s: %s (%s)", self.plural, self.name, phase.value, step.value)
        self._waiting = step is Step.waiting
        if phase is Phase.in_progress:
            self._patch({"phase": phase.value})

    def progress(self, done: int, total: int) -> None:
        if self._waiting:
            return  # ready workloads, not items: the final status records them
        with self._lock:
            now = time.monotonic()
            if now - self._last < self.interval:
                return
            self._last = now
        self._patch({"progress": {"totalItems": max(total, done), self.done_field: done}})

    def warning(self, message: str) -> None:
        log.warning("%s %s: %s", self.plural, self.name, message)

    def error(self, message: str) -> None:
        log.error("%s %s: %s", self.plural, self.name, message)
