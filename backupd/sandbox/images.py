"""Container images built for real with no registry: a Debian base made by debootstrap
(cached by hash), and the project's Dockerfile built FROM it by buildah.

    base     debootstrap --variant=minbase bookworm + Debian's python3.11 and venv,
             from the Debian mirror this machine's apt uses; a tarball under
             <cache>/images, imported as localhost/backupd-base:<key>
    wheels   the package's run-time dependencies at the locked versions, fetched by
             pip (this machine's pip configuration) into <cache>/images/wheels-<key>,
             so the image build itself needs no index
    image    `buildah bud` of the Dockerfile with BASE_IMAGE and an offline PIP_OPTIONS

buildah keeps its own storage under <cache>/images (vfs driver, chroot isolation:
no daemon, no privileges beyond root).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from collections.abc import Sequence
from pathlib import Path

from backupd.errors import SandboxError
from backupd.sandbox.binaries import REPO_ROOT, cache_root

SUITE = "bookworm"
BASE_PACKAGES = ("python3.11", "python3-venv", "ca-certificates")
BASE_NAME = "localhost/backupd-base"
APT_SOURCES = Path("/etc/apt")
# The build context: what the Dockerfile COPYs (see .dockerignore).
CONTEXT = ("pyproject.toml", "requirements.lock", "Dockerfile", ".dockerignore", "backupd", "cli")
CONTEXT_DEPLOY = ("kustomization.yaml", "*.yaml", "crds", "rbac", "optional", "monitoring")


def images_dir() -> Path:
    return cache_root() / "images"


def _run(argv: Sequence[str], what: str, *, timeout: float = 1800) -> str:
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError as e:
        raise SandboxError(f"{what}: {argv[0]} is not installed") from e
    except subprocess.TimeoutExpired as e:
        raise SandboxError(f"{what}: no result after {timeout:.0f}s") from e
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise SandboxError(f"{what} failed (exit {done.returncode}):\n{tail}")
    return done.stdout


def _buildah_argv(*args: str) -> list[str]:
    storage = images_dir()
    return [
        "buildah", "--storage-driver", "vfs",
        "--root", str(storage / "storage"), "--runroot", str(storage / "run"), *args,
    ]  # fmt: skip


def buildah(*args: str, what: str = "buildah", timeout: float = 1800) -> str:
    return _run(_buildah_argv(*args), what, timeout=timeout)


def _deb822_mirrors(text: str) -> list[tuple[str, list[str]]]:
    found = []
    for stanza in re.split(r"\n\s*\n", text):
        fields = dict(
            (k.strip().lower(), v.strip())
            for line in stanza.splitlines()
            if ":" in line and not line.lstrip().startswith("#")
            for k, v in [line.split(":", 1)]
        )
        if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes") != "no":
            for uri in fields.get("uris", "").split():
                found.append((uri, fields.get("suites", "").split()))
    return found


def _one_line_mirrors(text: str) -> list[tuple[str, list[str]]]:
    found = []
    for line in text.splitlines():
        words = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
        if len(words) >= 3 and words[0] == "deb":
            found.append((words[1], [words[2]]))
    return found


def debian_mirror(apt: Path = APT_SOURCES, suite: str = SUITE) -> str:
    """The mirror this machine's apt takes `suite` from (never a hard-coded host)."""
    candidates: list[tuple[str, list[str]]] = []
    for path in sorted((apt / "sources.list.d").glob("*.sources")):
        candidates += _deb822_mirrors(path.read_text())
    for path in [apt / "sources.list", *sorted((apt / "sources.list.d").glob("*.list"))]:
        if path.is_file():
            candidates += _one_line_mirrors(path.read_text())
    for uri, suites in candidates:
        if suite in suites:
            return uri.rstrip("/")
    raise SandboxError(f"no apt source for Debian {suite} in {apt}; debootstrap needs a mirror")


def base_key(mirror: str) -> str:
    debootstrap = _run(["dpkg-query", "-W", "-f=${Version}", "debootstrap"], "debootstrap version")
    spec = "\n".join([mirror, SUITE, "minbase", *BASE_PACKAGES, debootstrap])
    return hashlib.sha256(spec.encode()).hexdigest()[:12]


def _has_image(name: str) -> bool:
    return bool(buildah("images", "--quiet", "--filter", f"reference={name}").strip())


PREPARE = "deploy/setup.sh prepares it (the only step that downloads)"


def ensure_base(*, offline: bool = False) -> str:
    """The base image's name, made (debootstrap, ~1.5 min cold) only when not cached.

    `offline` (the tests): never download; a base not prepared yet is an error.
    """
    mirror = debian_mirror()
    key = base_key(mirror)
    name = f"{BASE_NAME}:{key}"
    if _has_image(name):
        return name
    tarball = images_dir() / f"base-{key}.tar"
    if not tarball.exists():
        if offline:
            raise SandboxError(f"the image's base {name} is not prepared; {PREPARE}")
        _debootstrap(mirror, tarball)
    container = buildah("from", "scratch", what="buildah from scratch").strip()
    try:
        buildah("add", container, str(tarball), "/", what="import the base")
        buildah("config", "--env", "PATH=/usr/local/bin:/usr/bin:/bin", container)
        buildah("commit", "--quiet", container, name, what="commit the base")
    finally:
        buildah("rm", container)
    return name


def _debootstrap(mirror: str, tarball: Path) -> None:
    tarball.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tarball.parent, prefix="rootfs-") as tmp:
        root = Path(tmp) / "rootfs"
        _run(
            [
                "debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
                SUITE, str(root), mirror,
            ],
            f"debootstrap {SUITE} from {mirror}",
        )  # fmt: skip
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for entry in (root / junk).glob("*"):
                if entry.is_file():
                    entry.unlink()
        partial = tarball.with_suffix(".partial")
        with tarfile.open(partial, "w") as tar:
            tar.add(root, arcname=".")
        partial.rename(tarball)


def runtime_requirements(repo: Path = REPO_ROOT) -> list[str]:
    project = tomllib.loads((repo / "pyproject.toml").read_text())["project"]
    build = tomllib.loads((repo / "pyproject.toml").read_text())["build-system"]["requires"]
    return [*project["dependencies"], *build]


def ensure_wheels(repo: Path = REPO_ROOT, *, offline: bool = False) -> Path:
    """Wheels of the run-time dependencies (locked versions) and the build backend."""
    wanted = runtime_requirements(repo)
    digest = hashlib.sha256("\n".join(wanted).encode())
    digest.update((repo / "requirements.lock").read_bytes())
    wheels = images_dir() / f"wheels-{digest.hexdigest()[:12]}"
    if (wheels / ".complete").exists():
        return wheels
    if offline:
        raise SandboxError(f"the image's wheels are not prepared; {PREPARE}")
    wheels.mkdir(parents=True, exist_ok=True)
    _run(
        [
            sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:",
            "--dest", str(wheels), "--constraint", str(repo / "requirements.lock"), *wanted,
        ],
        "pip download of the image's dependencies",
    )  # fmt: skip
    (wheels / ".complete").touch()
    return wheels


def _context(repo: Path, wheels: Path, into: Path) -> None:
    for name in CONTEXT:
        source = repo / name
        if source.is_dir():
            shutil.copytree(source, into / name, symlinks=True, ignore=_no_bytecode)
        else:
            shutil.copy2(source, into / name)
    (into / "deploy").mkdir()
    for pattern in CONTEXT_DEPLOY:
        for source in (repo / "deploy").glob(pattern):
            target = into / "deploy" / source.name
            if source.is_dir():
                shutil.copytree(source, target, dirs_exist_ok=True)
            else:
                shutil.copy2(source, target)
    shutil.copytree(wheels, into / "wheelhouse")


def _no_bytecode(_dir: str, names: list[str]) -> list[str]:
    return [n for n in names if n == "__pycache__" or n.endswith(".pyc")]


def prepare(repo: Path = REPO_ROOT) -> None:
    """Download what an image build needs (the base, the wheels); a warm cache does nothing."""
    ensure_base()
    ensure_wheels(repo)


def build_image(tag: str, *, base: str, repo: Path = REPO_ROOT) -> None:
    """Build the Dockerfile FROM `base`, offline: wheels prepared by `prepare` only."""
    wheels = ensure_wheels(repo, offline=True)
    with tempfile.TemporaryDirectory(prefix="backupd-context-") as tmp:
        context = Path(tmp)
        _context(repo, wheels, context)
        buildah(
            "bud", "--isolation", "chroot", "--pull-never", "--layers=false",
            "--build-arg", f"BASE_IMAGE={base}",
            "--build-arg", "PIP_OPTIONS=--no-index --find-links /src/wheelhouse",
            "--tag", tag, "--file", str(context / "Dockerfile"), str(context),
            what=f"buildah bud {tag}",
        )  # fmt: skip


def run_in_image(
    tag: str, argv: Sequence[str], *, network_host: bool = False, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run `argv` in a fresh container of `tag` (its user, env and workdir)."""
    container = buildah("from", "--pull-never", tag, what=f"buildah from {tag}").strip()
    try:
        net = ["--network", "host"] if network_host else []
        return subprocess.run(
            _buildah_argv("run", "--isolation", "chroot", *net, container, "--", *argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    finally:
        buildah("rm", container)


def tools_missing() -> list[str]:
    return [t for t in ("buildah", "debootstrap") if shutil.which(t) is None]
