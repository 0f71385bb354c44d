"""A Secret's values never appear in any output of any command.

A Secret holds unique canary values, in `data`, in `stringData` through `kubectl
apply` and so in its last-applied annotation. It is backed up before and after it is
re-applied, changed again in the cluster, and then every command that prints
something runs, in every output format, including a restore that fails with
BACKUPD_DEBUG=1 (a traceback). Their stdout and stderr hold no canary, plain or
base64.
"""

from __future__ import annotations

import base64
import json
import textwrap
import uuid
from pathlib import Path

import pytest

from backupd.sandbox.cluster import Sandbox
from tests.fixtures.cli import backupctl, kubectl

pytestmark = pytest.mark.integration

FORMATS = ("table", "json", "yaml")


def secret_manifest(ns: str, password: str, *, immutable: bool = False) -> str:
    return textwrap.dedent(
        f"""
        apiVersion: v1
        kind: Secret
        metadata: {{name: db, namespace: {ns}}}
        type: Opaque
        stringData: {{password: "{password}", user: app}}
        {"immutable: true" if immutable else ""}
        """
    )


class Outputs:
    """Every command's stdout and stderr, kept to be searched."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.seen: list[tuple[str, str]] = []

    def run(self, *args: str, ok: bool = True, env: dict[str, str] | None = None) -> str:
        res = backupctl(*args, env={**self.env, **(env or {})})
        self.seen.append((" ".join(args), res.stdout + res.stderr))
        if ok:
            assert res.returncode == 0, f"{args}: {res.stderr}"
        else:
            assert res.returncode != 0, f"{args} should fail: {res.stdout}"
        return res.stdout + res.stderr

    def leaks(self, canaries: list[str]) -> list[tuple[str, str]]:
        return [(cmd, c) for cmd, text in self.seen for c in canaries if c in text]


@pytest.fixture()
def ns(cluster: Sandbox) -> str:
    name = f"canary-{uuid.uuid4().hex[:6]}"
    kubectl(cluster.kubeconfig, "create", "namespace", name)
    yield name  # type: ignore[misc]
    kubectl(cluster.kubeconfig, "delete", "namespace", name, "--wait=false")


def test_no_command_prints_a_secret_value(cluster: Sandbox, ns: str, tmp_path: Path) -> None:
    kc = cluster.kubeconfig
    tag = uuid.uuid4().hex[:8]
    old, applied, live = (f"canary-{what}-{tag}" for what in ("old", "applied", "live"))
    canaries = [v for c in (old, applied, live) for v in (c, base64.b64encode(c.encode()).decode())]
    out = Outputs(
        {
            "KUBECONFIG": str(kc),
            "BACKUPD_LOCATION": (tmp_path / "store").as_uri(),
            "BACKUPD_CONFIG": str(tmp_path / "config.yaml"),
        }
    )
    run = out.run

    # Backup A: created without kubectl apply (no annotation); backup B: re-applied, so
    # the last-applied annotation holds the new value in clear.
    kubectl(kc, "-n", ns, "create", "secret", "generic", "db", f"--from-literal=password={old}")
    run("backup", "create", "before", "--include-namespaces", ns)
    kubectl(kc, "apply", "-f", "-", stdin=secret_manifest(ns, applied))
    stored = json.loads(kubectl(kc, "-n", ns, "get", "secret", "db", "-o", "json"))
    assert (
        applied
        in stored["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
    )
    run("backup", "create", "after", "--include-namespaces", ns)
    # The live Secret changes again: every restore of it conflicts.
    kubectl(kc, "apply", "-f", "-", stdin=secret_manifest(ns, live))

    for fmt in (*FORMATS, "name"):
        run("backup", "get", "-o", fmt)
    for name in ("before", "after"):
        for fmt in FORMATS:
            run("backup", "describe", name, "--details", "-o", fmt)
        run("backup", "logs", name)
        for fmt in ("yaml", "json"):
            shown = run("backup", "show", name, "secret/db", "-n", ns, "-o", fmt)
            assert "***" in shown
    for fmt in FORMATS:
        diff = run("backup", "diff", "before", "after", "-o", fmt)
        assert "db" in diff and "last-applied-configuration" in diff  # it did change
    select = ["--from-backup", "after", "--include-namespaces", ns]
    for fmt in FORMATS:
        plan = run("restore", "create", "preview", *select, "--dry-run", "-o", fmt)
        assert "differs" in plan
        run(
            "restore", "create", "preview", *select, "--dry-run", "-o", fmt,
            "--existing-resource-policy", "update",
        )  # fmt: skip
    run("restore", "create", "left-alone", *select)
    run("restore", "get")
    for fmt in FORMATS:
        described = run("restore", "describe", "left-alone", "-o", fmt)
        assert "secrets" in described
    run("restore", "logs", "left-alone")

    # An immutable live Secret cannot be replaced: the restore fails, with a traceback.
    kubectl(kc, "apply", "-f", "-", stdin=secret_manifest(ns, live, immutable=True))
    failed = run(
        "restore", "create", "replace", *select, "--existing-resource-policy", "update",
        ok=False, env={"BACKUPD_DEBUG": "1"},
    )  # fmt: skip
    assert "Traceback (most recent call last)" in failed
    for fmt in FORMATS:
        run("restore", "describe", "replace", "-o", fmt)
    run("restore", "logs", "replace")

    assert len(out.seen) > 30
    assert out.leaks(canaries) == []
