"""A real local Kubernetes control plane, started as processes.

etcd, kube-apiserver (RBAC on), kube-controller-manager, kube-scheduler and kwok
(fake Nodes whose Pods become Running without containers). Every component binds
127.0.0.1; the service and pod ranges lie inside 127.0.0.0/8, so no address the
control plane might dial ever leaves loopback.

Several sandboxes can run at once: each has its own directory, ports and etcd.
"""

from __future__ import annotations

import json
import shutil
import ssl
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from backupd.errors import SandboxError
from backupd.sandbox import binaries, certs
from backupd.sandbox.processes import (
    LOOPBACK,
    Process,
    ensure_port_free,
    free_port,
    pid_alive,
    start,
    stop_pid,
    wait_until,
)

SERVICE_CIDR = "127.96.0.0/16"
SERVICE_IP = "127.96.0.1"  # the first address: the `kubernetes` Service
POD_CIDR = "127.128.0.1/16"
NODE_IP = "127.0.0.1"
STATE_FILE = "sandbox.json"
START_TIMEOUT = 90.0
STAGES = Path(__file__).with_name("kwok-stages.yaml")


@dataclass
class SandboxState:
    """What `sandbox status/down` needs to find a running sandbox again."""

    name: str
    directory: str
    api_port: int
    etcd_port: int
    kubeconfig: str
    pids: dict[str, int] = field(default_factory=dict)
    started_at: float = 0.0
    csi_data_dir: str = ""  # set when the CSI stack runs (sandbox/csi.py)

    @property
    def server(self) -> str:
        return f"https://{LOOPBACK}:{self.api_port}"

    def save(self) -> None:
        (Path(self.directory) / STATE_FILE).write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, directory: Path) -> SandboxState:
        path = directory / STATE_FILE
        if not path.exists():
            raise SandboxError(f"no sandbox in {directory}", hint="start one: backupctl sandbox up")
        return cls(**json.loads(path.read_text()))


def kubeconfig_dict(server: str, pki: certs.Pki, name: str) -> dict[str, Any]:
    import base64

    def b64(p: Path) -> str:
        return base64.b64encode(p.read_bytes()).decode()

    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": name,
                "cluster": {"server": server, "certificate-authority-data": b64(pki.ca_cert)},
            }
        ],
        "users": [
            {
                "name": f"{name}-admin",
                "user": {
                    "client-certificate-data": b64(pki.admin_cert),
                    "client-key-data": b64(pki.admin_key),
                },
            }
        ],
        "contexts": [{"name": name, "context": {"cluster": name, "user": f"{name}-admin"}}],
        "current-context": name,
    }


class Sandbox:
    """One local cluster. Use as a context manager, or start()/stop()."""

    def __init__(
        self,
        directory: Path,
        *,
        name: str = "sandbox",
        api_port: int | None = None,
        nodes: int = 1,
        detach: bool = False,
        csi: bool = False,
        csi_data_dir: Path | None = None,
    ) -> None:
        self.directory = directory.resolve()
        self.name = name
        self.requested_api_port = api_port
        self.nodes = nodes
        self.detach = detach
        self.csi = csi
        # Outside the sandbox directory when given, so two sandboxes can share it.
        self.csi_data_dir = (csi_data_dir or self.directory / "csi-data").resolve()
        self.processes: list[Process] = []
        self.state: SandboxState | None = None

    # -- paths -------------------------------------------------------------
    @property
    def kubeconfig(self) -> Path:
        return self.directory / "admin.kubeconfig"

    def log(self, component: str) -> Path:
        return self.directory / "logs" / f"{component}.log"

    # -- lifecycle ---------------------------------------------------------
    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def start(self, timeout: float = START_TIMEOUT) -> SandboxState:
        if self.requested_api_port is not None:
            ensure_port_free(self.requested_api_port, "kube-apiserver")
        kube = binaries.binary_dir("kubernetes")
        etcd_bin = binaries.binary("etcd", "etcd")
        kwok_bin = binaries.binary("kwok", "kwok")
        if (self.directory / STATE_FILE).exists():
            old = SandboxState.load(self.directory)
            if any(pid_alive(p) for p in old.pids.values()):
                raise SandboxError(
                    f"a sandbox is already running in {self.directory}",
                    hint="stop it first: backupctl sandbox down",
                )
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory.mkdir(parents=True)
        pki = certs.generate(self.directory / "pki", service_ip=SERVICE_IP)
        api_port = self.requested_api_port or free_port()
        etcd_port, peer_port = free_port(), free_port()
        self.kubeconfig.write_text(
            yaml.safe_dump(kubeconfig_dict(f"https://{LOOPBACK}:{api_port}", pki, self.name))
        )
        self.state = SandboxState(
            name=self.name,
            directory=str(self.directory),
            api_port=api_port,
            etcd_port=etcd_port,
            kubeconfig=str(self.kubeconfig),
            started_at=time.time(),
        )
        try:
            self._start_etcd(etcd_bin, etcd_port, peer_port)
            self._start_apiserver(kube / "kube-apiserver", api_port, etcd_port, pki, timeout)
            self._start_controllers(kube, pki)
            self._start_kwok(kwok_bin)
            self._create_nodes()
            self._wait_for_cluster(timeout)
            if self.csi:
                self._start_csi(timeout)
        except BaseException:
            self.stop()
            raise
        self.state.save()
        return self.state

    def stop(self) -> None:
        for p in reversed(self.processes):
            p.stop()
        self.processes.clear()
        if self.state is not None:
            self.state.pids = {}
            if self.directory.exists():
                self.state.save()

    # -- components --------------------------------------------------------
    def _spawn(self, name: str, argv: list[str]) -> Process:
        proc = start(name, argv, self.log(name), tie_to_parent=not self.detach)
        self.processes.append(proc)
        assert self.state is not None
        self.state.pids[name] = proc.pid
        self.state.save()
        return proc

    def _start_etcd(self, etcd: Path, port: int, peer: int) -> None:
        client, peer_url = f"http://{LOOPBACK}:{port}", f"http://{LOOPBACK}:{peer}"
        proc = self._spawn(
            "etcd",
            [
                str(etcd),
                "--name=sandbox",
                f"--data-dir={self.directory / 'etcd'}",
                f"--listen-client-urls={client}",
                f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=sandbox={peer_url}",
                "--unsafe-no-fsync=true",
                "--quota-backend-bytes=8589934592",
                "--log-level=warn",
            ],
        )

        def healthy() -> bool:
            with urllib.request.urlopen(f"{client}/health", timeout=2) as resp:
                return bool(resp.status == 200)

        wait_until("etcd /health", healthy, timeout=START_TIMEOUT, processes=[proc])

    def _start_apiserver(
        self, binary: Path, port: int, etcd_port: int, pki: certs.Pki, timeout: float
    ) -> None:
        self._spawn(
            "kube-apiserver",
            [
                str(binary),
                f"--bind-address={LOOPBACK}",
                f"--advertise-address={LOOPBACK}",
                f"--secure-port={port}",
                f"--etcd-servers=http://{LOOPBACK}:{etcd_port}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--authorization-mode=RBAC",
                f"--client-ca-file={pki.ca_cert}",
                f"--tls-cert-file={pki.serving_cert}",
                f"--tls-private-key-file={pki.serving_key}",
                f"--service-account-key-file={pki.sa_pub}",
                f"--service-account-signing-key-file={pki.sa_key}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                "--api-audiences=https://kubernetes.default.svc.cluster.local",
                "--allow-privileged=true",
                "--endpoint-reconciler-type=none",
                "--enable-priority-and-fairness=false",
                "--max-requests-inflight=2000",
                "--max-mutating-requests-inflight=1000",
                "--profiling=false",
                "--v=1",
            ],
        )
        ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
        ctx.load_cert_chain(str(pki.admin_cert), str(pki.admin_key))

        def ready() -> bool:
            url = f"https://{LOOPBACK}:{port}/readyz"
            with urllib.request.urlopen(url, context=ctx, timeout=2) as resp:
                return bool(resp.status == 200)

        wait_until("kube-apiserver /readyz", ready, timeout=timeout, processes=self.processes)

    def _start_controllers(self, kube: Path, pki: certs.Pki) -> None:
        kc = str(self.kubeconfig)
        common = [
            f"--kubeconfig={kc}",
            f"--authentication-kubeconfig={kc}",
            f"--authorization-kubeconfig={kc}",
            f"--bind-address={LOOPBACK}",
            "--secure-port=0",
            "--leader-elect=false",
            "--v=1",
        ]
        self._spawn(
            "kube-controller-manager",
            [
                str(kube / "kube-controller-manager"),
                *common,
                f"--service-account-private-key-file={pki.sa_key}",
                f"--root-ca-file={pki.ca_cert}",
                f"--cluster-signing-cert-file={pki.ca_cert}",
                f"--cluster-signing-key-file={pki.ca_key}",
                "--use-service-account-credentials=false",
                "--controllers=*",
                "--concurrent-gc-syncs=50",
                "--concurrent-namespace-syncs=20",
                "--kube-api-qps=500",
                "--kube-api-burst=1000",
            ],
        )
        self._spawn(
            "kube-scheduler",
            [str(kube / "kube-scheduler"), *common, "--kube-api-qps=500", "--kube-api-burst=1000"],
        )

    def _start_kwok(self, kwok: Path) -> None:
        self._spawn(
            "kwok",
            [
                str(kwok),
                f"--kubeconfig={self.kubeconfig}",
                "--manage-all-nodes=false",
                "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                f"--cidr={POD_CIDR}",
                f"--node-ip={NODE_IP}",
                f"--config={STAGES}",
                "--node-lease-duration-seconds=40",
            ],
        )

    def _start_csi(self, timeout: float) -> None:
        from backupd.sandbox.csi import start_stack

        assert self.state is not None
        self.state.csi_data_dir = str(self.csi_data_dir)
        start_stack(
            self._spawn,
            kubeconfig=self.kubeconfig,
            directory=self.directory,
            data_dir=self.csi_data_dir,
            processes=self.processes,
            timeout=timeout,
        )

    def _create_nodes(self) -> None:
        from backupd.sandbox.kube import create_node

        for i in range(self.nodes):
            create_node(self.kubeconfig, fake_node(f"kwok-node-{i}"))

    def _wait_for_cluster(self, timeout: float) -> None:
        from backupd.sandbox.kube import ready_nodes, service_account_exists

        wait_until(
            "a Ready kwok node",
            lambda: ready_nodes(self.kubeconfig) >= self.nodes,
            timeout=timeout,
            processes=self.processes,
        )
        wait_until(
            "the default ServiceAccount (controller-manager)",
            lambda: service_account_exists(self.kubeconfig, "default", "default"),
            timeout=timeout,
            processes=self.processes,
        )


def fake_node(name: str) -> dict[str, Any]:
    capacity = {"cpu": "64", "memory": "256Gi", "pods": "500"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "type": "kwok",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node-role.kubernetes.io/agent": "",
            },
        },
        "spec": {},
        "status": {"allocatable": capacity, "capacity": capacity},
    }


def stop_detached(directory: Path) -> SandboxState:
    """Stop a sandbox started by `backupctl sandbox up` (another process)."""
    state = SandboxState.load(directory)
    for pid in reversed(list(state.pids.values())):
        stop_pid(pid)
    state.pids = {}
    state.save()
    return state
