"""Velero as a contender: built from Go modules on demand, run out of cluster on a sandbox.

    from tests.benchmarks.velero_support import ensure_velero, velero_server
    bins = ensure_velero()                       # cached under ~/.cache/backupd/bin
    with velero_server(box, minio, "bucket", work) as velero:
        seconds = velero.backup(["shop"], "nightly")
        velero.restore("nightly")                 # on a server whose sandbox is empty

Velero v1.18.0 is built from a wrapper module that requires it with the same
`replace` line as Velero's own go.mod (its kopia fork; read from the module cache),
and the AWS plugin v1.14.3 with `go install` (it has its own main package). Each is
cached by its version and the Go version. CI never builds Velero: only benchmarks and
the script that regenerates the Velero fixtures call this.

`velero server` runs as a local process with `--kubeconfig` (admin of the sandbox),
`--namespace velero`, a plugin directory holding only the AWS plugin, and
AWS_SHARED_CREDENTIALS_FILE. The CRDs come from `velero install --crds-only`, and a
stand-in Deployment named `velero` (kwok runs its Pod) satisfies the restore's
lookup of Velero's own Deployment. The controller-runtime metrics port 8080 is fixed
in Velero (it binds every interface): nothing else may hold it; the other ports are
moved to free 127.0.0.1 ports.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from backupd.cluster.client import KubeClient
from backupd.errors import ClusterError, SandboxError
from backupd.sandbox import binaries
from backupd.sandbox.cluster import Sandbox
from backupd.sandbox.objectstores import MinioServer
from backupd.sandbox.processes import LOOPBACK, Process, ensure_port_free, free_port, start

VELERO_MODULE = "github.com/vmware-tanzu/velero"
VELERO_VERSION = "v1.18.0"
PLUGIN_MODULE = "github.com/vmware-tanzu/velero-plugin-for-aws"
PLUGIN_VERSION = "v1.14.3"
NAMESPACE = "velero"
METRICS_PORT = 8080  # controller-runtime's default, not configurable in Velero
FINAL = {"Completed", "PartiallyFailed", "Failed", "FailedValidation"}
VELERO_API = f"/apis/velero.io/v1/namespaces/{NAMESPACE}"

Log = Callable[[str], None]


@dataclass(frozen=True)
class VeleroBinaries:
    velero: Path
    plugin_dir: Path  # holds only the AWS plugin


def _run(argv: list[str], *, cwd: Path, log_path: Path, env: dict[str, str]) -> None:
    with log_path.open("a") as out:
        out.write(f"$ {' '.join(argv)}\n")
        out.flush()
        proc = subprocess.run(
            argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env, check=False
        )
    if proc.returncode != 0:
        raise SandboxError(f"{' '.join(argv[:3])} failed (exit {proc.returncode}); see {log_path}")


def _module_dir(go: str, module: str, version: str, work: Path, env: dict[str, str]) -> Path:
    out = subprocess.run(
        [go, "mod", "download", "-json", f"{module}@{version}"],
        cwd=work,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    info = json.loads(out.stdout or "{}")
    if out.returncode != 0 or "Dir" not in info:
        raise SandboxError(f"go mod download {module}@{version} failed: {info.get('Error', '')}")
    return Path(info["Dir"])


def replace_lines(go_mod: str) -> list[str]:
    """The `replace` directives of a go.mod (single lines and blocks), as single lines."""
    lines, block = [], False
    for raw in go_mod.splitlines():
        line = raw.split("//")[0].strip()
        if block:
            if line == ")":
                block = False
            elif line:
                lines.append(f"replace {line}")
        elif line == "replace (":
            block = True
        elif line.startswith("replace "):
            lines.append(line)
    return lines


def wrapper_go_mod(velero_go_mod: str, version: str) -> str:
    go_line = next(ln for ln in velero_go_mod.splitlines() if ln.startswith("go "))
    return "\n".join(
        [
            "module backupd.local/velero-wrapper",
            "",
            go_line,
            "",
            f"require {VELERO_MODULE} {version}",
            "",
            *replace_lines(velero_go_mod),
            "",
            f"tool {VELERO_MODULE}/cmd/velero",
            "",
        ]
    )


def _target(name: str, version: str, go_version: str) -> Path:
    key = hashlib.sha256(f"{name}@{version} {go_version}".encode()).hexdigest()[:12]
    return binaries.cache_root() / "bin" / f"{name}-{version}-{key}"


def ensure_velero(
    version: str = VELERO_VERSION,
    plugin_version: str = PLUGIN_VERSION,
    *,
    log: Log = lambda _m: None,
) -> VeleroBinaries:
    """Build (once) and return Velero and its AWS plugin; a warm cache does no work."""
    go = binaries._go()
    go_version = binaries._go_version(go)
    velero_dir = _target("velero", version, go_version)
    plugin_target = _target("velero-plugin-for-aws", plugin_version, go_version)
    plugin_dir = plugin_target / "plugins"
    env = dict(os.environ, CGO_ENABLED="0")
    logs = binaries.cache_root() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    if not (velero_dir / binaries.COMPLETE_MARKER).exists():
        staging = velero_dir.with_name(f"{velero_dir.name}.tmp{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        (staging / "module").mkdir(parents=True)
        log_path = logs / f"build-{velero_dir.name}.log"
        log(f"building Velero {version} (log: {log_path})")
        source = _module_dir(go, VELERO_MODULE, version, staging, env)
        go_mod = wrapper_go_mod((source / "go.mod").read_text(), version)
        (staging / "module" / "go.mod").write_text(go_mod)
        ldflags = f"-s -w -X {VELERO_MODULE}/pkg/buildinfo.Version={version}"
        _run([go, "mod", "tidy"], cwd=staging / "module", log_path=log_path, env=env)
        _run(
            [go, "build", "-trimpath", f"-ldflags={ldflags}", "-o", str(staging) + "/", "tool"],
            cwd=staging / "module",
            log_path=log_path,
            env=env,
        )
        (staging / binaries.COMPLETE_MARKER).write_text(version + "\n")
        shutil.rmtree(velero_dir, ignore_errors=True)
        staging.rename(velero_dir)
    if not (plugin_target / binaries.COMPLETE_MARKER).exists():
        staging = plugin_target.with_name(f"{plugin_target.name}.tmp{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        (staging / "plugins").mkdir(parents=True)
        log_path = logs / f"build-{plugin_target.name}.log"
        log(f"building velero-plugin-for-aws {plugin_version} (log: {log_path})")
        package = f"{PLUGIN_MODULE}/velero-plugin-for-aws@{plugin_version}"
        _run(
            [go, "install", "-trimpath", "-ldflags=-s -w", package],
            cwd=staging,
            log_path=log_path,
            env=dict(env, GOBIN=str(staging / "plugins")),
        )
        (staging / binaries.COMPLETE_MARKER).write_text(plugin_version + "\n")
        shutil.rmtree(plugin_target, ignore_errors=True)
        staging.rename(plugin_target)
    return VeleroBinaries(velero_dir / "velero", plugin_dir)


# -- running ---------------------------------------------------------------------------


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> str:
    binary = binaries.binary("kubernetes", "kubectl")
    out = subprocess.run(
        [str(binary), f"--kubeconfig={kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SandboxError(f"kubectl {' '.join(args[:2])} failed: {out.stderr.strip()[-400:]}")
    return out.stdout


def stand_in_deployment() -> dict[str, Any]:
    """A Deployment named `velero`: a Velero restore reads its own Deployment."""
    labels = {"component": "velero", "deploy": "velero"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "velero", "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [{"name": "velero", "image": f"velero/velero:{VELERO_VERSION}"}]
                },
            },
        },
    }


def storage_location(minio: MinioServer, bucket: str, *, read_only: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "provider": "aws",
        "default": True,
        "objectStorage": {"bucket": bucket},
        "config": {"region": "minio", "s3ForcePathStyle": "true", "s3Url": minio.endpoint},
    }
    if read_only:
        spec["accessMode"] = "ReadOnly"
    return {
        "apiVersion": "velero.io/v1",
        "kind": "BackupStorageLocation",
        "metadata": {"name": "default", "namespace": NAMESPACE},
        "spec": spec,
    }


def install_prerequisites(
    velero: Path, kubeconfig: Path, minio: MinioServer, bucket: str, *, read_only: bool
) -> None:
    """Velero's CRDs, its namespace, the stand-in Deployment and the storage location."""
    crds = subprocess.run(
        [str(velero), "install", "--crds-only", "--dry-run", "-o", "yaml"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    kubectl(kubeconfig, "apply", "--server-side", "-f", "-", stdin=crds)
    kubectl(kubeconfig, "wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
    docs = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        stand_in_deployment(),
        storage_location(minio, bucket, read_only=read_only),
    ]
    kubectl(kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump_all(docs))


def proc_status(pid: int) -> dict[str, int]:
    """VmHWM/VmRSS in kB and CPU seconds x100 (utime+stime) of one process."""
    out: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                out[key] = int(value.split()[0])
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        out["cpu_ticks"] = int(fields[11]) + int(fields[12])
    return out


def descendants(pid: int) -> list[int]:
    """pid and every process below it (Velero runs each plugin as a child process)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{p}/task").iterdir():
                children = (task / "children").read_text().split()
                todo += [int(c) for c in children]
    return found


@dataclass
class Usage:
    """Peak RSS (sum of VmHWM over the server and its plugins) and CPU of one operation."""

    seconds: float = 0.0
    peak_rss_mb: float = 0.0
    cpu_s: float = 0.0
    items: int = 0
    phase: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class VeleroServer:
    velero: Path
    kubeconfig: Path
    process: Process
    kube: KubeClient

    def _pids(self) -> list[int]:
        return descendants(self.process.pid)

    def _reset_peaks(self) -> None:
        for pid in self._pids():  # "5" resets VmHWM to the current RSS (proc(5))
            with contextlib.suppress(OSError):
                Path(f"/proc/{pid}/clear_refs").write_text("5")

    def _cpu_ticks(self) -> int:
        return sum(proc_status(p).get("cpu_ticks", 0) for p in self._pids())

    def _peak_mb(self) -> float:
        return sum(proc_status(p).get("VmHWM", 0) for p in self._pids()) / 1024

    def _wait_final(self, plural: str, name: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            self.process.check_alive()
            obj = self.kube.get(f"{VELERO_API}/{plural}/{name}")
            if obj.get("status", {}).get("phase") in FINAL:
                return obj
            if time.monotonic() > deadline:
                raise SandboxError(f"Velero {plural} {name} not done after {timeout:.0f}s")
            time.sleep(0.05)

    def _timed(self, plural: str, body: dict[str, Any], timeout: float) -> Usage:
        self._reset_peaks()
        cpu = self._cpu_ticks()
        started = time.monotonic()
        self.kube.post(f"{VELERO_API}/{plural}", body)
        obj = self._wait_final(plural, body["metadata"]["name"], timeout)
        seconds = time.monotonic() - started
        status = obj["status"]
        progress = status.get("progress", {})
        return Usage(
            seconds=seconds,
            peak_rss_mb=self._peak_mb(),
            cpu_s=(self._cpu_ticks() - cpu) / os.sysconf("SC_CLK_TCK"),
            items=int(progress.get("itemsBackedUp", progress.get("itemsRestored", 0))),
            phase=status["phase"],
            detail={
                k: status.get(k) for k in ("errors", "warnings", "failureReason") if k in status
            },
        )

    def backup(self, namespaces: list[str], name: str, *, timeout: float = 3600) -> Usage:
        """Back the namespaces up (resources only) and wait for the final phase."""
        body = {
            "apiVersion": "velero.io/v1",
            "kind": "Backup",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {
                "includedNamespaces": namespaces,
                "storageLocation": "default",
                "snapshotVolumes": False,
                "ttl": "720h0m0s",
            },
        }
        return self._timed("backups", body, timeout)

    def wait_synced(self, backup: str, timeout: float = 120) -> None:
        """Until the backup sync controller has made the Backup resource from the bucket."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.process.check_alive()
            with contextlib.suppress(ClusterError):
                if self.kube.get(f"{VELERO_API}/backups/{backup}").get("status", {}).get("phase"):
                    return
            time.sleep(0.2)
        raise SandboxError(f"Velero did not sync backup {backup} from the bucket in {timeout:.0f}s")

    def restore(self, backup: str, name: str | None = None, *, timeout: float = 7200) -> Usage:
        """Restore a backup (synced from the bucket first) and wait for the final phase."""
        self.wait_synced(backup)
        body = {
            "apiVersion": "velero.io/v1",
            "kind": "Restore",
            "metadata": {"name": name or f"{backup}-restore", "namespace": NAMESPACE},
            "spec": {"backupName": backup, "restorePVs": False},
        }
        return self._timed("restores", body, timeout)


def velero_server_argv(bins: VeleroBinaries, kubeconfig: Path) -> list[str]:
    return [
        str(bins.velero),
        "server",
        f"--kubeconfig={kubeconfig}",
        f"--namespace={NAMESPACE}",
        f"--plugin-dir={bins.plugin_dir}",
        f"--metrics-address={LOOPBACK}:{free_port()}",
        f"--profiler-address={LOOPBACK}:{free_port()}",
        "--backup-sync-period=2s",
        "--store-validation-frequency=5s",
        "--features=",
        "--log-level=info",
    ]


@contextlib.contextmanager
def velero_server(
    box: Sandbox,
    minio: MinioServer,
    bucket: str,
    work: Path,
    *,
    kubeconfig: Path | None = None,
    read_only: bool = False,
    bins: VeleroBinaries | None = None,
) -> Iterator[VeleroServer]:
    """Velero out of cluster on a sandbox, storing in a MinIO bucket; stopped on exit.

    `kubeconfig` overrides the sandbox's (for example one through the latency proxy).
    """
    bins = bins or ensure_velero()
    kubeconfig = kubeconfig or box.kubeconfig
    ensure_port_free(METRICS_PORT, "Velero's metrics server (fixed port)")
    install_prerequisites(bins.velero, box.kubeconfig, minio, bucket, read_only=read_only)
    work.mkdir(parents=True, exist_ok=True)
    credentials = work / "credentials-velero"
    credentials.write_text(
        f"[default]\naws_access_key_id={minio.access_key}\n"
        f"aws_secret_access_key={minio.secret_key}\n"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(work),
        "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
        "NO_PROXY": "*",
    }
    process = start("velero", velero_server_argv(bins, kubeconfig), work / "velero.log", env=env)
    kube = KubeClient.from_kubeconfig(box.kubeconfig)
    server = VeleroServer(bins.velero, kubeconfig, process, kube)
    try:
        _wait_available(server)
        yield server
    finally:
        process.stop()
        kube.close()


def _wait_available(server: VeleroServer, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        server.process.check_alive()
        bsl = server.kube.get(f"{VELERO_API}/backupstoragelocations/default")
        if bsl.get("status", {}).get("phase") == "Available":
            return
        time.sleep(0.2)
    raise SandboxError(f"Velero's storage location is not Available after {timeout:.0f}s")
