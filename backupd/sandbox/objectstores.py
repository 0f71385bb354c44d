"""Local object store servers for tests, benchmarks and drills: MinIO and fake-gcs-server.

Both are built from Go modules (see `binaries`), started as processes on free
127.0.0.1 ports with their logs in the given directory, and stopped on exit:

    with minio(tmp / "minio") as server:
        server.create_bucket("backups")
        location = open_location(server.url("backups"), credentials=server.credentials)

Nothing here listens on or talks to anything but the loopback interface: MinIO's
update check and call-home are off, fake-gcs-server's public and external URLs are
the loopback address it binds.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shutil
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from backupd.errors import SandboxError
from backupd.sandbox import binaries, certs
from backupd.sandbox.processes import LOOPBACK, Process, free_port, start, wait_until

START_TIMEOUT = 60.0
# A static MinIO KMS key, so SSE-S3 and SSE-KMS work without an external KMS.
MINIO_KMS_KEY_ID = "backupd-test-key"


def _base_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "TMPDIR", "LANG")
    return {k: v for k, v in os.environ.items() if k in keep}


def _minio_certs(directory: Path) -> Path:
    """A CA and a serving certificate for 127.0.0.1, where MinIO looks for them."""
    pki = certs.generate(directory / "pki", service_ip=LOOPBACK)
    certs_dir = directory / "certs"
    certs_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(pki.serving_cert, certs_dir / "public.crt")
    shutil.copyfile(pki.serving_key, certs_dir / "private.key")
    return pki.ca_cert


def _http_status(
    url: str, *, method: str = "GET", body: bytes | None = None, ca: Path | None = None
) -> int:
    request = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
    if ca is not None:
        context = ssl.create_default_context(cafile=str(ca))
        handlers.append(urllib.request.HTTPSHandler(context=context))
    try:
        with urllib.request.build_opener(*handlers).open(request, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


@dataclass
class MinioServer:
    endpoint: str
    access_key: str
    secret_key: str
    directory: Path
    process: Process | None = field(default=None, repr=False)
    region: str = "us-east-1"
    ca_bundle: Path | None = None

    @property
    def credentials(self) -> dict[str, str]:
        """Env-like credentials, as a Kubernetes Secret would carry them."""
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}

    def url(self, bucket: str, prefix: str = "", **params: str) -> str:
        query = {"endpoint": self.endpoint, "region": self.region, **params}
        if self.ca_bundle is not None:
            query["ca_bundle"] = str(self.ca_bundle)
        path = f"/{prefix.strip('/')}" if prefix.strip("/") else ""
        return f"s3://{bucket}{path}?" + "&".join(
            f"{k}={quote(v, safe=':/')}" for k, v in query.items()
        )

    def client(self) -> Any:
        """A boto3 S3 client for test setup (creating buckets, tampering objects)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
            verify=str(self.ca_bundle) if self.ca_bundle else None,
        )

    def create_bucket(self, name: str, *, object_lock: bool = False) -> str:
        self.client().create_bucket(Bucket=name, ObjectLockEnabledForBucket=object_lock)
        return name


@dataclass
class FakeGcsServer:
    endpoint: str
    directory: Path
    process: Process | None = field(default=None, repr=False)

    @property
    def credentials(self) -> dict[str, str]:
        return {"STORAGE_EMULATOR_HOST": self.endpoint}

    def url(self, bucket: str, prefix: str = "", **params: str) -> str:
        query = {"endpoint": self.endpoint, **params}
        path = f"/{prefix.strip('/')}" if prefix.strip("/") else ""
        return f"gs://{bucket}{path}?" + "&".join(
            f"{k}={quote(v, safe=':/')}" for k, v in query.items()
        )

    def create_bucket(self, name: str) -> str:
        body = json.dumps({"name": name}).encode()
        code = _http_status(
            f"{self.endpoint}/storage/v1/b?project=backupd", method="POST", body=body
        )
        if code not in (200, 201):
            raise SandboxError(f"fake-gcs-server refused to create bucket {name} (HTTP {code})")
        return name


@contextlib.contextmanager
def minio(directory: Path, *, port: int | None = None, tls: bool = False) -> Iterator[MinioServer]:
    """Start MinIO on 127.0.0.1 with fresh root credentials; stop it on exit.

    With `tls`, it serves https with a certificate for 127.0.0.1 from a throw-away CA
    (`server.ca_bundle`); S3 needs TLS for SSE-C.
    """
    binary = binaries.binary("minio", "minio")
    directory.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    console_port = free_port()
    access_key = "backupd-" + secrets.token_hex(4)
    secret_key = secrets.token_urlsafe(24)
    kms_key = base64.b64encode(secrets.token_bytes(32)).decode()
    env = _base_env() | {
        "MINIO_ROOT_USER": access_key,
        "MINIO_ROOT_PASSWORD": secret_key,
        "MINIO_KMS_SECRET_KEY": f"{MINIO_KMS_KEY_ID}:{kms_key}",
        "MINIO_UPDATE": "off",
        "MINIO_CALLHOME_ENABLE": "off",
        "MINIO_BROWSER": "off",
    }
    argv = [
        str(binary),
        "server",
        "--quiet",
        "--address",
        f"{LOOPBACK}:{port}",
        "--console-address",
        f"{LOOPBACK}:{console_port}",
        "--certs-dir",
        str(directory / "certs"),
        str(directory / "data"),
    ]
    ca_bundle = _minio_certs(directory) if tls else None
    process = start("minio", argv, directory / "minio.log", env=env)
    scheme = "https" if tls else "http"
    server = MinioServer(
        f"{scheme}://{LOOPBACK}:{port}", access_key, secret_key, directory, process
    )
    server.ca_bundle = ca_bundle
    try:
        wait_until(
            f"MinIO on {server.endpoint}",
            lambda: _http_status(f"{server.endpoint}/minio/health/ready", ca=ca_bundle) == 200,
            timeout=START_TIMEOUT,
            processes=[process],
        )
        yield server
    finally:
        process.stop()


@contextlib.contextmanager
def fake_gcs(directory: Path, *, port: int | None = None) -> Iterator[FakeGcsServer]:
    """Start fake-gcs-server on 127.0.0.1 (plain HTTP, filesystem backend)."""
    binary = binaries.binary("fakegcs", "fake-gcs-server")
    directory.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    endpoint = f"http://{LOOPBACK}:{port}"
    argv = [
        str(binary),
        "-scheme",
        "http",
        "-host",
        LOOPBACK,
        "-port",
        str(port),
        "-backend",
        "filesystem",
        "-filesystem-root",
        str(directory / "data"),
        "-external-url",
        endpoint,
        "-public-host",
        f"{LOOPBACK}:{port}",
        "-log-level",
        "warn",
    ]
    process = start("fake-gcs-server", argv, directory / "fake-gcs-server.log", env=_base_env())
    server = FakeGcsServer(endpoint, directory, process)
    try:
        wait_until(
            f"fake-gcs-server on {endpoint}",
            lambda: _http_status(f"{endpoint}/storage/v1/b") == 200,
            timeout=START_TIMEOUT,
            processes=[process],
        )
        yield server
    finally:
        process.stop()
