"""The restore's worker threads: items of a tier applied in parallel, results under one lock.

I/O only through the `apply` function they are given (see applier).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from backupd.api.restore import ItemResult
from backupd.restore.planner import PlannedItem


class Workers:
    """Threads that apply items and report each result under one lock.

    Started once for the whole restore; `run` hands them a tier and returns when every
    item of it is reported. No future per item: at thousands of items, futures and
    their wake-ups cost more CPU than the requests.
    """

    def __init__(
        self,
        apply: Callable[[PlannedItem], ItemResult],
        done: Callable[[ItemResult], None],
        workers: int,
    ) -> None:
        self._apply = apply
        self._done = done
        self._queue: queue.SimpleQueue[PlannedItem | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._tier_done = threading.Event()
        self._remaining = 0
        self._failures: list[BaseException] = []
        self._threads = [
            threading.Thread(target=self._work, name=f"restore-{n}", daemon=True)
            for n in range(max(1, workers))
        ]

    def __enter__(self) -> Workers:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for t in self._threads:
            t.join()

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            try:
                r: ItemResult | None = self._apply(item)
            except BaseException as e:  # a bug: re-raised by run(), not lost with the thread
                r = None
                self._failures.append(e)
            with self._lock:
                try:
                    if r is not None:
                        self._done(r)
                except BaseException as e:  # the caller's callback: the same
                    self._failures.append(e)
                finally:
                    self._remaining -= 1
                    if self._remaining == 0:
                        self._tier_done.set()

    def run(self, items: list[PlannedItem]) -> None:
        if not items:
            return
        self._tier_done.clear()
        self._remaining = len(items)
        for item in items:
            self._queue.put(item)
        self._tier_done.wait()
        if self._failures:
            raise self._failures[0]
