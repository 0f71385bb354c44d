"""Build the local control plane's binaries from Go modules, once, into a cache.

Each component is a wrapper Go module under deploy/localcluster/<component>/ whose
go.mod lists the binaries as `tool` lines. The cache key is the sha256 of go.mod,
go.sum and the Go version, so a warm cache means no work at all, and a version bump
builds into a new directory beside the old one.

The cache lives at $BACKUPD_CACHE (default ~/.cache/backupd), outside git.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from backupd.errors import SandboxError

REPO_ROOT = Path(__file__).resolve().parents[2]
MODULES_DIR = REPO_ROOT / "deploy" / "localcluster"
COMPLETE_MARKER = ".complete"


@dataclass(frozen=True)
class Component:
    name: str
    binaries: tuple[str, ...]
    ldflags: str = ""
    # The module holds our own Go sources (not only tool lines): they are part of the key.
    own_sources: bool = False


# Binary names are the last element of each tool path in the component's go.mod;
# etcd, MinIO and fake-gcs-server are module roots, so they are renamed after building.
COMPONENTS: dict[str, Component] = {
    c.name: c
    for c in (
        Component(
            "kubernetes",
            ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"),
            # The version the binaries report (they have no VCS stamp when built as modules).
            ldflags=" ".join(
                f"-X k8s.io/{pkg}/version.{k}={v}"
                for pkg in ("component-base", "client-go/pkg")
                for k, v in (("gitVersion", "v1.37.2"), ("gitMajor", "1"), ("gitMinor", "37"))
            ),
        ),
        Component("etcd", ("etcd",)),
        Component("kwok", ("kwok",)),
        Component("minio", ("minio",)),
        Component("fakegcs", ("fake-gcs-server",)),
        Component("csi-snapshotter", ("csi-snapshotter", "snapshot-controller")),
        Component("csi-provisioner", ("csi-provisioner",)),
        Component("csi-driver", ("csi-dirdriver",), own_sources=True),
    )
}
CONTROL_PLANE = ("kubernetes", "etcd", "kwok")
OBJECT_STORES = ("minio", "fakegcs")
# The sandbox's CSI stack (`sandbox up --csi`): sidecars from upstream, our own driver.
CSI_STACK = ("csi-snapshotter", "csi-provisioner", "csi-driver")
# Built name (last element of the module path) -> the name we give it.
_RENAMES = {"server": "etcd"}


def cache_root() -> Path:
    env = os.environ.get("BACKUPD_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "backupd"


def _go() -> str:
    go = shutil.which("go")
    if go is None:
        raise SandboxError(
            "the Go toolchain was not found on PATH; it is needed to build the local control plane",
            hint="install Go 1.26 or newer, or set BACKUPD_BIN_DIR to prebuilt binaries",
        )
    return go


def _go_version(go: str) -> str:
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, check=False)
    return out.stdout.strip()


def cache_key(component: str, go_version: str) -> str:
    module = MODULES_DIR / component
    digest = hashlib.sha256(go_version.encode())
    digest.update(COMPONENTS[component].ldflags.encode())
    for name in ("go.mod", "go.sum"):
        path = module / name
        if path.exists():
            digest.update(path.read_bytes())
    if COMPONENTS[component].own_sources:
        for source in sorted(module.rglob("*.go")):
            digest.update(str(source.relative_to(module)).encode())
            digest.update(source.read_bytes())
    return digest.hexdigest()[:12]


def _component_dir(component: str, go: str) -> Path:
    return cache_root() / "bin" / f"{component}-{cache_key(component, _go_version(go))}"


def _find_prebuilt(component: str) -> Path | None:
    env = os.environ.get("BACKUPD_BIN_DIR")
    if not env:
        return None
    directory = Path(env)
    if all((directory / b).exists() for b in COMPONENTS[component].binaries):
        return directory
    return None


def binary_dir(component: str) -> Path:
    """The directory holding a component's binaries; raises if not built yet."""
    prebuilt = _find_prebuilt(component)
    if prebuilt is not None:
        return prebuilt
    directory = _component_dir(component, _go())
    if not (directory / COMPLETE_MARKER).exists():
        raise SandboxError(
            f"the {component} binaries are not built yet (expected in {directory})",
            hint="run: backupctl sandbox build",
        )
    return directory


def binary(component: str, name: str) -> Path:
    return binary_dir(component) / name


def ensure_built(
    component: str, *, log: Callable[[str], None] = lambda _m: None
) -> tuple[Path, bool]:
    """Build a component if its cache directory is cold. Returns (dir, built_now)."""
    prebuilt = _find_prebuilt(component)
    if prebuilt is not None:
        return prebuilt, False
    go = _go()
    target = _component_dir(component, go)
    if (target / COMPLETE_MARKER).exists():
        return target, False
    module = MODULES_DIR / component
    if not (module / "go.mod").exists():
        raise SandboxError(f"no Go module for {component} at {module}")
    staging = target.with_name(target.name + f".tmp{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    log_path = cache_root() / "logs" / f"build-{target.name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log(f"building {component} (log: {log_path})")
    started = time.monotonic()
    env = dict(os.environ, CGO_ENABLED="0")
    with log_path.open("w") as out:
        proc = subprocess.run(
            [
                go,
                "build",
                "-trimpath",
                f"-ldflags=-s -w {COMPONENTS[component].ldflags}".strip(),
                "-o",
                str(staging) + "/",
                "tool",
            ],
            cwd=module,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            check=False,
        )
    if proc.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise SandboxError(f"building {component} failed (exit {proc.returncode}); see {log_path}")
    for built, wanted in _RENAMES.items():
        if (staging / built).exists():
            (staging / built).rename(staging / wanted)
    missing = [b for b in COMPONENTS[component].binaries if not (staging / b).exists()]
    if missing:
        shutil.rmtree(staging, ignore_errors=True)
        raise SandboxError(f"building {component} produced no {', '.join(missing)}; see {log_path}")
    (staging / COMPLETE_MARKER).write_text(f"{time.monotonic() - started:.1f}s\n")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    log(f"built {component} in {time.monotonic() - started:.0f}s")
    return target, True


def ensure_package(component: str, package: str) -> Path:
    """Build one more package of a component's module (not a `tool` line; the restore
    benchmark's floor) into the cache, keyed by the module and the package's sources."""
    go = _go()
    module = MODULES_DIR / component
    digest = hashlib.sha256(cache_key(component, _go_version(go)).encode())
    for source in sorted((module / package).glob("*.go")):
        digest.update(source.read_bytes())
    target = cache_root() / "bin" / f"{package}-{digest.hexdigest()[:12]}"
    if target.exists():
        return target
    staging = target.with_name(f"{target.name}.tmp{os.getpid()}")
    proc = subprocess.run(
        [go, "build", "-trimpath", "-o", str(staging), f"./{package}"],
        cwd=module,
        env=dict(os.environ, CGO_ENABLED="0"),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SandboxError(f"building {component}/{package} failed: {proc.stderr.strip()[-500:]}")
    staging.rename(target)
    return target


def ensure_all(
    components: tuple[str, ...] = CONTROL_PLANE + OBJECT_STORES,
    *,
    log: Callable[[str], None] = lambda _m: None,
) -> dict[str, Path]:
    return {c: ensure_built(c, log=log)[0] for c in components}
