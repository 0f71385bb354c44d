"""Throttling and 5xx answers are retried with backoff; persistent ones become errors.

A tiny scripted HTTP server on 127.0.0.1 answers as S3 or GCS would, failing first.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

import pytest

from backupd.errors import StorageError
from backupd.storage.location import open_location
from tests.fixtures.loopback import serving

pytestmark = pytest.mark.integration
S3_CREDS = {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}
SLOW_DOWN = (
    503,
    {"Content-Type": "application/xml"},
    b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
)
S3_LIST = (
    200,
    {"Content-Type": "application/xml"},
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
    b"<Name>bkt</Name><Prefix>p/backups/</Prefix><KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys>"
    b"<IsTruncated>false</IsTruncated><Contents><Key>p/backups/a/backup.json</Key>"
    b"<Size>2</Size><ETag>&quot;x&quot;</ETag></Contents></ListBucketResult>",
)
GCS_UNAVAILABLE = (
    503,
    {"Content-Type": "application/json"},
    b'{"error":{"code":503,"message":"busy"}}',
)
GCS_LIST = (
    200,
    {"Content-Type": "application/json"},
    json.dumps(
        {"kind": "storage#objects", "items": [{"name": "p/backups/a/backup.json", "bucket": "bkt"}]}
    ).encode(),
)

Response = tuple[int, dict[str, str], bytes]


@dataclass
class Script:
    responses: list[Response]
    requests: list[str] = field(default_factory=list)


@pytest.fixture()
def scripted() -> Iterator[tuple[str, Script]]:
    script = Script([])

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            if self.path.startswith("/storage/v1/b/bkt?"):  # GCS bucket metadata lookup
                status, headers, body = 200, {"Content-Type": "application/json"}, b'{"name":"bkt"}'
                self._send(status, headers, body)
                return
            script.requests.append(f"{self.command} {self.path}")
            status, headers, body = (
                script.responses.pop(0) if len(script.responses) > 1 else script.responses[0]
            )
            self._send(status, headers, body)

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serving(Handler) as endpoint:
        yield endpoint, script


def test_s3_throttling_is_retried_until_it_succeeds(scripted: tuple[str, Script]) -> None:
    endpoint, script = scripted
    script.responses[:] = [SLOW_DOWN, SLOW_DOWN, S3_LIST]
    location = open_location(f"s3://bkt/p?endpoint={endpoint}", credentials=S3_CREDS)
    assert location.list("backups/") == ["backups/a/backup.json"]
    assert len(script.requests) == 3


def test_s3_gives_up_after_max_attempts(scripted: tuple[str, Script]) -> None:
    endpoint, script = scripted
    script.responses[:] = [SLOW_DOWN]
    location = open_location(f"s3://bkt/p?endpoint={endpoint}&max_attempts=3", credentials=S3_CREDS)
    with pytest.raises(StorageError, match="SlowDown") as info:
        location.list("backups/")
    assert info.value.retryable
    assert len(script.requests) == 3


def test_gcs_5xx_is_retried_until_it_succeeds(scripted: tuple[str, Script]) -> None:
    endpoint, script = scripted
    script.responses[:] = [GCS_UNAVAILABLE, GCS_UNAVAILABLE, GCS_LIST]
    location = open_location(f"gs://bkt/p?endpoint={endpoint}")
    assert location.list("backups/") == ["backups/a/backup.json"]
    assert len(script.requests) == 3


def test_gcs_gives_up_at_the_retry_deadline(scripted: tuple[str, Script]) -> None:
    endpoint, script = scripted
    script.responses[:] = [GCS_UNAVAILABLE]
    location = open_location(f"gs://bkt/p?endpoint={endpoint}&retry_timeout=2")
    with pytest.raises(StorageError):
        location.list("backups/")
    assert len(script.requests) >= 2
