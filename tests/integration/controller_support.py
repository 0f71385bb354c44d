"""The controller as a process (`backupd run`) against a sandbox, under deploy/'s RBAC.

`deployed` applies deploy/'s CRDs, Namespace, ServiceAccount and RBAC to the sandbox and
writes a kubeconfig holding the `backupd` ServiceAccount's token: the controller runs
with exactly the rights `kubectl apply -k deploy/` gives it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from backupd.cluster.client import JSON, KubeClient
from backupd.controller.resources import Resources, ensure_crds
from backupd.errors import ClusterConflict
from backupd.sandbox.cluster import Sandbox

NAMESPACE = "backupd"
DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RBAC = ["namespace.yaml", "serviceaccount.yaml", "rbac/controller.yaml", "rbac/backup-reader.yaml"]
T = TypeVar("T")


def wait_for(
    what: str, check: Callable[[], T | None], timeout: float = 60.0, every: float = 0.3
) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


def apply(kube: KubeClient, doc: JSON) -> None:
    api = doc["apiVersion"]
    plural = {
        "Namespace": "namespaces",
        "ServiceAccount": "serviceaccounts",
        "ClusterRole": "clusterroles",
        "ClusterRoleBinding": "clusterrolebindings",
        "Role": "roles",
        "RoleBinding": "rolebindings",
    }[doc["kind"]]
    base = f"/api/{api}" if "/" not in api else f"/apis/{api}"
    ns = doc["metadata"].get("namespace")
    path = f"{base}/namespaces/{ns}/{plural}" if ns else f"{base}/{plural}"
    try:
        kube.post(path, doc)
    except ClusterConflict:
        current = kube.get(f"{path}/{doc['metadata']['name']}")
        doc["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        kube.put(f"{path}/{doc['metadata']['name']}", doc)


def service_account_kubeconfig(box: Sandbox, kube: KubeClient, dest: Path) -> Path:
    """deploy/'s RBAC applied, and a kubeconfig with the backupd ServiceAccount's token."""
    ensure_crds(kube)
    for name in RBAC:
        for doc in yaml.safe_load_all((DEPLOY / name).read_text()):
            if doc:
                apply(kube, doc)
    reply = kube.post(
        f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/backupd/token",
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": 7200},
        },
    )
    admin = yaml.safe_load(box.kubeconfig.read_text())
    admin["users"] = [{"name": "backupd-sa", "user": {"token": reply["status"]["token"]}}]
    admin["contexts"][0]["context"]["user"] = "backupd-sa"
    dest.write_text(yaml.safe_dump(admin))
    return dest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Controller:
    """One `backupd run` process; its JSON log goes to `log`."""

    kubeconfig: Path
    log: Path
    lease_duration: float = 3.0
    extra: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0

    def start(self) -> Controller:
        self.port = free_port()
        argv = [
            sys.executable,
            "-m",
            "backupd.controller.main",
            "run",
            f"--kubeconfig={self.kubeconfig}",
            f"--namespace={NAMESPACE}",
            f"--metrics-bind-address=127.0.0.1:{self.port}",
            f"--lease-duration={self.lease_duration}",
            "--gc-interval=1",
            "--sync-interval=1",
            "--progress-interval=0.5",
            *self.extra,
        ]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "KUBECONFIG": ""}
            )
        wait_for(
            "the metrics endpoint", lambda: self.get("/healthz") is not None or self._dead(), 30
        )
        return self

    def _dead(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(
                f"backupd exited {self.proc.returncode}:\n{self.log.read_text()[-3000:]}"
            )
        return False

    def get(self, path: str) -> str | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as r:
                return str(r.read().decode())
        except OSError:
            return None

    def metric(self, name: str, **labels: str) -> float | None:
        text = self.get("/metrics") or ""
        want = name + (
            "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else ""
        )
        for line in text.splitlines():
            if line.startswith(want + " "):
                return float(line.split()[-1])
        return None

    def leading(self) -> bool:
        return self.metric("backupd_leader") == 1.0

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode if self.proc else None

    def logs(self) -> str:
        return self.log.read_text()


def clean(res: Resources) -> None:
    """No Schedule, Backup, Restore or StorageLocation left in the namespace."""
    for plural in ("schedules", "backups", "restores", "storagelocations"):
        for obj in res.list(plural):
            res.delete(plural, obj["metadata"]["name"])
    wait_for(
        "an empty namespace", lambda: all(not res.list(p) for p in ("schedules", "backups")), 30
    )


def location(res: Resources, name: str, url: str, **spec: Any) -> JSON:
    return res.create(
        "storagelocations",
        {"metadata": {"name": name}, "spec": {"url": url, "default": True, **spec}},
    )


def schedule(res: Resources, name: str, cron: str, namespaces: list[str], **spec: Any) -> JSON:
    body = {"schedule": cron, "template": {"includedNamespaces": namespaces, "ttl": "1h"}, **spec}
    return res.create("schedules", {"metadata": {"name": name}, "spec": body})


def backups_of(res: Resources, schedule_name: str) -> list[JSON]:
    return sorted(
        res.list("backups", f"backupd.io/schedule={schedule_name}"),
        key=lambda b: b["metadata"]["name"],
    )


def phases(items: list[JSON]) -> list[str]:
    return [(b.get("status") or {}).get("phase", "New") for b in items]


FINAL = ("Completed", "Failed", "PartiallyFailed")


def wait_final(res: Resources, plural: str, name: str, timeout: float = 60.0) -> JSON:
    """The Backup or Restore `name` once its phase is final (whichever final phase)."""

    def final() -> JSON | None:
        obj = res.get(plural, name)
        return obj if obj is not None and phases([obj])[0] in FINAL else None

    return wait_for(f"{plural}/{name} to finish", final, timeout)


def in_progress(res: Resources, schedule_name: str, timeout: float = 30.0) -> JSON:
    """The schedule's first backup seen in phase InProgress."""
    running = wait_for(
        "a backup in progress",
        lambda: [b for b in backups_of(res, schedule_name) if phases([b]) == ["InProgress"]],
        timeout,
    )
    return running[0]


def events_for(kube: KubeClient, name: str) -> list[JSON]:
    items: list[JSON] = kube.get(
        f"/api/v1/namespaces/{NAMESPACE}/events", fieldSelector=f"involvedObject.name={name}"
    )["items"]
    return items


def events_with(kube: KubeClient, name: str, *reasons: str, timeout: float = 15.0) -> list[JSON]:
    """The Events of `name` once every one of `reasons` is among them. The controller posts
    an Event after the change it tells of, so a test that has seen the change waits for it."""
    return wait_for(
        f"the events {', '.join(reasons)} of {name}",
        lambda: (
            (found := events_for(kube, name))
            and set(reasons) <= {e["reason"] for e in found}
            and found
        ),
        timeout,
    )


@dataclass
class Env:
    box: Sandbox
    admin: KubeClient
    res: Resources  # as admin: the test arranges and inspects
    kubeconfig: Path  # the ServiceAccount's: the controller runs with it
    tmp: Path

    def controller(self, name: str = "a", **kw: Any) -> Controller:
        return Controller(self.kubeconfig, self.tmp / f"backupd-{name}.log", **kw)


def env(box: Sandbox, tmp: Path) -> Iterator[Env]:
    admin = KubeClient.from_kubeconfig(box.kubeconfig)
    kubeconfig = service_account_kubeconfig(box, admin, tmp / "sa.kubeconfig")
    res = Resources(admin, NAMESPACE)
    clean(res)
    try:
        yield Env(box, admin, res, kubeconfig, tmp)
    finally:
        clean(res)


def ctl_fixture(cluster_fixture: str = "cluster") -> Any:
    """A test module's `ctl` fixture: `ctl = ctl_fixture()` (an `Env` on that sandbox)."""

    @pytest.fixture()
    def ctl(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
        yield from env(request.getfixturevalue(cluster_fixture), tmp_path)

    return ctl


def crd_resources(box: Sandbox, namespace: str) -> Resources:
    """The CRDs installed, and the resources of `namespace` as the sandbox's admin."""
    kube = KubeClient.from_kubeconfig(box.kubeconfig)
    ensure_crds(kube)
    return Resources(kube, namespace)


@contextmanager
def allow_restoring(admin: KubeClient) -> Iterator[None]:
    """Restoring through the controller is opt-in: bind the restorer role, then unbind it
    (other tests of this session check that deploy/ alone grants no writes)."""
    binding = [
        d for d in yaml.safe_load_all((DEPLOY / "optional/restore-binding.yaml").read_text()) if d
    ]
    for name in ("rbac/restorer.yaml", "optional/restore-binding.yaml"):
        for doc in yaml.safe_load_all((DEPLOY / name).read_text()):
            if doc:
                apply(admin, doc)
    try:
        yield
    finally:
        for doc in binding:
            assert doc["kind"] == "ClusterRoleBinding"
            name = doc["metadata"]["name"]
            admin.delete(f"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{name}")
