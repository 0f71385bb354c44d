"""`backupctl location` as a person runs it: a real process, real object stores."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from backupd.sandbox.objectstores import FakeGcsServer, MinioServer
from backupd.sandbox.processes import free_port
from backupd.storage.location import open_location
from tests.fixtures.cli import error_line
from tests.fixtures.objectstores import unique_bucket

pytestmark = pytest.mark.integration
BACKUPCTL = str(Path(sys.executable).with_name("backupctl"))


@pytest.fixture()
def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BACKUPD_"))}
    env.pop("STORAGE_EMULATOR_HOST", None)
    env["BACKUPD_CONFIG"] = str(tmp_path / "config" / "config.yaml")
    env["HOME"] = str(tmp_path / "home")
    env["AWS_EC2_METADATA_DISABLED"] = "true"  # never ask 169.254.169.254 for credentials
    return env


def run(env: dict[str, str], *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BACKUPCTL, *args], capture_output=True, text=True, timeout=120, env={**env, **extra}
    )


def ok(res: subprocess.CompletedProcess[str]) -> str:
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_add_get_delete_keep_named_locations_in_the_config_file(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    local = (tmp_path / "backups").as_uri()
    ok(run(cli_env, "location", "add", "home", "--url", local))
    added = json.loads(
        ok(run(cli_env, "location", "add", "prod", "--url", local, "--default", "-o", "json"))
    )
    assert added == {"name": "prod", "url": local, "access_mode": "ReadWrite", "default": True}
    ok(run(cli_env, "location", "add", "ro", "--url", local, "--access-mode", "ReadOnly"))

    listed = yaml.safe_load(ok(run(cli_env, "location", "get", "-o", "yaml")))["items"]
    assert [(e["name"], e["access_mode"], e["default"]) for e in listed] == [
        ("home", "ReadWrite", False),
        ("prod", "ReadWrite", True),
        ("ro", "ReadOnly", False),
    ]
    table = ok(run(cli_env, "location", "get"))
    assert "NAME" in table and "prod" in table and local in table
    assert json.loads(ok(run(cli_env, "location", "get", "ro", "-o", "json")))["name"] == "ro"

    ok(run(cli_env, "location", "add", "other", "--url", local, "--default"))
    on_disk = yaml.safe_load(Path(cli_env["BACKUPD_CONFIG"]).read_text())
    assert [e["name"] for e in on_disk["locations"] if e["default"]] == ["other"]
    assert Path(cli_env["BACKUPD_CONFIG"]).stat().st_mode & 0o077 == 0

    ok(run(cli_env, "location", "delete", "home"))
    listed = json.loads(ok(run(cli_env, "location", "get", "-o", "json")))["items"]
    names = [e["name"] for e in listed]
    assert names == ["prod", "ro", "other"]
    assert "not found" in error_line(run(cli_env, "location", "delete", "home"))
    assert "already exists" in error_line(run(cli_env, "location", "add", "prod", "--url", local))


def test_check_proves_write_read_list_and_delete(cli_env: dict[str, str], tmp_path: Path) -> None:
    local = (tmp_path / "backups").as_uri()
    out = ok(run(cli_env, "location", "check", local))
    for step in ("write", "read", "list", "delete"):
        assert any(line.startswith(f"{step} ") and " ok " in line for line in out.splitlines()), out
    report = json.loads(ok(run(cli_env, "location", "check", local, "-o", "json")))
    assert report["ok"] is True
    assert [s["step"] for s in report["steps"]] == ["write", "read", "list", "delete"]
    assert open_location(local).list("") == []  # the probe is gone


def test_check_of_named_minio_and_gcs_locations(
    cli_env: dict[str, str], minio_server: MinioServer, fake_gcs_server: FakeGcsServer
) -> None:
    s3_url = minio_server.url(minio_server.create_bucket(unique_bucket("cli")), "team-a")
    gs_url = fake_gcs_server.url(fake_gcs_server.create_bucket(unique_bucket("cli")), "team-a")
    ok(run(cli_env, "location", "add", "s3loc", "--url", s3_url))
    report = json.loads(
        ok(run(cli_env, "location", "check", "s3loc", "-o", "json", **minio_server.credentials))
    )
    assert report["location"] == "s3loc" and report["ok"] is True
    ok(run(cli_env, "location", "check", gs_url))


def test_download_verifies_the_digest(cli_env: dict[str, str], tmp_path: Path) -> None:
    url = (tmp_path / "backups").as_uri()
    data = b"index" * 100
    open_location(url).put_bytes("backups/a/index.json.gz", data)
    dest = tmp_path / "index.json.gz"
    digest = hashlib.sha256(data).hexdigest()
    ok(
        run(
            cli_env,
            "location",
            "download",
            url,
            "backups/a/index.json.gz",
            str(dest),
            "--sha256",
            digest,
        )
    )
    assert dest.read_bytes() == data


# -- every failure is one line and a non-zero exit -------------------------------------


def test_missing_bucket(
    cli_env: dict[str, str], minio_server: MinioServer, fake_gcs_server: FakeGcsServer
) -> None:
    s3 = run(
        cli_env, "location", "check", minio_server.url("backupd-absent"), **minio_server.credentials
    )
    assert error_line(s3).startswith("error: bucket backupd-absent does not exist")
    assert s3.returncode == 3
    gs = run(cli_env, "location", "check", fake_gcs_server.url("backupd-absent"))
    assert error_line(gs).startswith("error: bucket backupd-absent does not exist")
    assert gs.returncode == 3


def test_wrong_credentials(cli_env: dict[str, str], minio_server: MinioServer) -> None:
    bucket = minio_server.create_bucket(unique_bucket("cli"))
    wrong_secret = minio_server.secret_key[::-1] + "x"
    bad_key = run(
        cli_env,
        "location",
        "check",
        minio_server.url(bucket),
        AWS_ACCESS_KEY_ID="nobody",
        AWS_SECRET_ACCESS_KEY=wrong_secret,
    )
    bad_secret = run(
        cli_env,
        "location",
        "check",
        minio_server.url(bucket),
        AWS_ACCESS_KEY_ID=minio_server.access_key,
        AWS_SECRET_ACCESS_KEY=wrong_secret,
    )
    for res in (bad_key, bad_secret):
        assert "refused the credentials" in error_line(res)
        assert res.returncode == 1
        assert wrong_secret not in res.stderr + res.stdout


def test_unreachable_endpoint(cli_env: dict[str, str]) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    s3 = run(
        cli_env,
        "location",
        "check",
        f"s3://backupd-x/p?endpoint={closed}&max_attempts=2",
        AWS_ACCESS_KEY_ID="a",
        AWS_SECRET_ACCESS_KEY="b",
    )
    assert error_line(s3) == f"error: cannot reach S3 endpoint {closed} (bucket backupd-x)"
    gs = run(cli_env, "location", "check", f"gs://backupd-x/p?endpoint={closed}&retry_timeout=2")
    assert error_line(gs) == f"error: cannot reach GCS endpoint {closed} (bucket backupd-x)"
    assert s3.returncode == gs.returncode == 1


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("s3:/no-bucket", "malformed location URL"),
        ("s3://", "no bucket"),
        ("s3://Bad_Bucket/x", "invalid S3 bucket"),
        ("s3://bucket/x?regoin=eu-west-1", "unknown parameter 'regoin'"),
        ("s3://bucket/x?endpoint=localhost:9000", "endpoint must look like"),
        ("s3://key:secret@bucket/x", "credentials do not belong in the URL"),
        ("s3://bucket/x?sse_c_key=bm90LWEta2V5", "sse_c_key must decode to 32 bytes"),
        ("s3://bucket/x?object_lock_mode=COMPLIANCE", "must be given together"),
        ("gs://bucket/a/../b", "invalid prefix"),
        ("ftp://host/path", "unknown location scheme 'ftp'"),
        ("file://host/path", "a file URL has no host"),
        ("/var/lib/backupd", "neither a location name nor a URL"),
    ],
)
def test_malformed_url(cli_env: dict[str, str], url: str, reason: str) -> None:
    res = run(cli_env, "location", "check", url)
    line = error_line(res)
    assert reason in line, line
    assert res.returncode == 2
    assert "bm90LWEta2V5" not in res.stderr


def test_add_refuses_a_malformed_url_and_saves_nothing(cli_env: dict[str, str]) -> None:
    res = run(cli_env, "location", "add", "x", "--url", "s3://bucket?region")
    assert "malformed location URL" in error_line(res)
    assert not Path(cli_env["BACKUPD_CONFIG"]).exists()


def test_write_to_a_read_only_location(cli_env: dict[str, str], tmp_path: Path) -> None:
    url = (tmp_path / "backups").as_uri()
    ok(run(cli_env, "location", "add", "archive", "--url", url, "--access-mode", "ReadOnly"))
    res = run(cli_env, "location", "check", "archive")
    assert "is ReadOnly; refusing to write" in error_line(res)
    assert res.returncode == 2
    assert not (tmp_path / "backups").exists()


def test_digest_mismatch_on_read(cli_env: dict[str, str], tmp_path: Path) -> None:
    url = (tmp_path / "backups").as_uri()
    good = open_location(url).put_bytes("backups/a/resources.tar.gz", b"archive")
    open_location(url).put_bytes("backups/a/resources.tar.gz", b"tampered")
    dest = tmp_path / "out.tar.gz"
    res = run(
        cli_env,
        "location",
        "download",
        url,
        "backups/a/resources.tar.gz",
        str(dest),
        "--sha256",
        good.sha256,
    )
    assert "sha256 mismatch for backups/a/resources.tar.gz" in error_line(res)
    assert res.returncode == 1
    assert not dest.exists()
