"""Leader election through a coordination.k8s.io/v1 Lease, written with our KubeClient.

Only the holder of the Lease works. The rules, as client-go's leaderelection:
- A candidate takes the Lease when nobody holds it, or when the record it last saw
  has not changed for a whole lease duration (observed on its own monotonic clock,
  so clocks that disagree between machines do not matter).
- Every write carries the resourceVersion it read: of two candidates racing for
  it, the API server lets one win (the other gets 409 Conflict and stays standby).
- The leader renews every `lease_duration / 3`; if it has not renewed for
  `renew_deadline` (2/3 of the duration) it gives up (`on_lost`) before anyone
  else may take over, so two replicas never work at once.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections.abc import Callable

from backupd.cluster.client import JSON, KubeClient
from backupd.errors import BackupdError, ClusterConflict, ClusterNotFound

log = logging.getLogger(__name__)
LEASE = "backupd-controller"


def _micro(at: datetime.datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(
        self,
        kube: KubeClient,
        namespace: str,
        identity: str,
        *,
        name: str = LEASE,
        lease_duration: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if lease_duration < 1:
            raise ValueError("the lease duration is at least 1 second")
        self.kube = kube
        self.identity = identity
        self.path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
        self.name = name
        self.lease_duration = lease_duration
        self.renew_deadline = lease_duration * 2 / 3
        self.retry_period = lease_duration / 3
        self.clock = clock
        self._observed: tuple[str, str] | None = None  # (holder, renewTime) last seen
        self._observed_at = 0.0
        self._renewed_at: float | None = None
        self.leading = threading.Event()

    def _spec(self, transitions: int, acquired: str | None) -> JSON:
        stamp = _micro(datetime.datetime.now(datetime.UTC))
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(1, round(self.lease_duration)),
            "acquireTime": acquired or stamp,
            "renewTime": stamp,
            "leaseTransitions": transitions,
        }

    def try_acquire_or_renew(self) -> bool:
        """One attempt; True if this candidate holds the Lease afterwards."""
        try:
            current = self.kube.get(f"{self.path}/{self.name}")
        except ClusterNotFound:
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.name},
                "spec": self._spec(0, None),
            }
            try:
                self.kube.post(self.path, body)
            except ClusterConflict:
                return False
            return self._won()
        spec = current.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        seen = (holder, str(spec.get("renewTime") or ""))
        if seen != self._observed:
            self._observed, self._observed_at = seen, self.clock()
        mine = holder == self.identity
        expired = self.clock() - self._observed_at >= self.lease_duration
        if holder and not mine and not expired:
            return False
        transitions = int(spec.get("leaseTransitions") or 0) + (0 if mine else 1)
        current["spec"] = self._spec(transitions, spec.get("acquireTime") if mine else None)
        try:
            self.kube.put(f"{self.path}/{self.name}", current)  # carries resourceVersion
        except ClusterConflict:
            return False
        if not mine:
            log.info("took the lease %s over from %r", self.name, holder or "nobody")
        return self._won()

    def _won(self) -> bool:
        self._renewed_at = self.clock()
        self.leading.set()
        return True

    def acquire(self, stop: threading.Event) -> bool:
        """Block until leader (True) or `stop` is set (False)."""
        log.info("waiting to lead (lease %s, %.0fs)", self.name, self.lease_duration)
        while not stop.is_set():
            try:
                if self.try_acquire_or_renew():
                    log.info("leading as %s", self.identity)
                    return True
            except BackupdError as e:
                log.warning("lease %s: %s", self.name, e)
            stop.wait(self.retry_period)
        return False

    def keep(self, stop: threading.Event, on_lost: Callable[[], None]) -> threading.Thread:
        """Renew in a daemon thread; call `on_lost` once when the lease cannot be kept."""

        def renew() -> None:
            while not stop.wait(self.retry_period):
                try:
                    if self.try_acquire_or_renew():
                        continue
                    why = f"the lease is held by {self._observed[0] if self._observed else '?'}"
                except BackupdError as e:
                    assert self._renewed_at is not None
                    if self.clock() - self._renewed_at < self.renew_deadline:
                        log.warning("lease renewal failed, retrying: %s", e)
                        continue
                    why = f"not renewed for {self.renew_deadline:.1f}s: {e}"
                self.leading.clear()
                log.error("lost the lease %s: %s", self.name, why)
                on_lost()
                return

        thread = threading.Thread(target=renew, name="lease", daemon=True)
        thread.start()
        return thread

    def release(self) -> None:
        """Give the lease up at once (a clean shutdown) so a standby need not wait."""
        if not self.leading.is_set():
            return
        self.leading.clear()
        try:
            current = self.kube.get(f"{self.path}/{self.name}")
            if (current.get("spec") or {}).get("holderIdentity") != self.identity:
                return
            current["spec"]["holderIdentity"] = ""
            current["spec"]["leaseDurationSeconds"] = 1
            self.kube.put(f"{self.path}/{self.name}", current)
        except BackupdError as e:
            log.warning("could not release the lease %s: %s", self.name, e)
