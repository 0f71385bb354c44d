"""The backup's LIST jobs, fetched in background threads so the API server's work and
the archive's compression overlap."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from backupd.cluster.client import JSON, KubeClient
from backupd.cluster.discovery import ApiResource
from backupd.cluster.listing import list_pages
from backupd.errors import BackupdError

PER_NAMESPACE_LIMIT = 3  # list per namespace up to this many, cluster-wide beyond
LIST_THREADS = 4  # concurrent paged LISTs: most are small, so their round trips overlap


@dataclass(frozen=True)
class ListJob:
    resource: ApiResource
    namespace: str | None  # None: cluster-wide


Page = tuple[ListJob, list[JSON], int] | tuple[ListJob, BackupdError, int]


def list_jobs(resources: list[ApiResource], namespaces: list[str] | None) -> list[ListJob]:
    jobs: list[ListJob] = []
    for res in resources:
        if namespaces is not None and len(namespaces) <= PER_NAMESPACE_LIMIT:
            jobs.extend(ListJob(res, ns) for ns in namespaces)
        else:
            jobs.append(ListJob(res, None))
    return jobs


def prefetch(kube: KubeClient, jobs: list[ListJob], selector: str) -> Iterator[Page]:
    """Fetch pages in background threads; the threads stop when the caller stops.

    Yields (job, items, newly_known_total): a job's first page tells how many items
    it has (the server's remainingItemCount), which grows the progress total.
    """
    pages: queue.Queue[Page | None] = queue.Queue(maxsize=4)
    stop = threading.Event()

    def worker(mine: list[ListJob]) -> None:
        try:
            for job in mine:
                first = True
                try:
                    for items, remaining in list_pages(
                        kube, job.resource, namespace=job.namespace, label_selector=selector
                    ):
                        if stop.is_set():
                            return
                        known = len(items) + (remaining or 0) if first else 0
                        first = False
                        pages.put((job, items, known))
                except BackupdError as e:
                    pages.put((job, e, 0))
        finally:
            pages.put(None)

    threads = [
        threading.Thread(
            target=worker, args=(jobs[i::LIST_THREADS],), name=f"backup-list-{i}", daemon=True
        )
        for i in range(LIST_THREADS)
    ]
    for t in threads:
        t.start()
    running = len(threads)
    try:
        while running:
            entry = pages.get()
            if entry is None:
                running -= 1
            else:
                yield entry
    finally:
        stop.set()
        while any(t.is_alive() for t in threads):  # unblock workers waiting on a full queue
            with contextlib.suppress(queue.Empty):
                pages.get(timeout=0.1)
