"""An S3 read whose connection breaks resumes where it stopped; a server that breaks
every read at the same byte is serving a damaged object, and says so.

A tiny HTTP server on 127.0.0.1 answers GetObject as S3 would, with a body it cuts
short on purpose.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

import pytest

from backupd.errors import IntegrityError
from backupd.storage.location import open_location
from tests.fixtures.loopback import serving

pytestmark = pytest.mark.integration
CREDS = {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}
DATA = os.urandom(300_000)
KEY = "backups/shop/resources.tar.gz"


@dataclass
class Cutting:
    """Where each GET's body is cut (an absolute offset), in order; None: not cut."""

    cuts: list[int | None]
    ranges: list[str] = field(default_factory=list)


@pytest.fixture()
def server() -> Iterator[tuple[str, Cutting]]:
    cutting = Cutting([])

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            wanted = self.headers.get("Range") or ""
            cutting.ranges.append(wanted)
            match = re.fullmatch(r"bytes=(\d+)-", wanted)
            start = int(match.group(1)) if match else 0
            cut = cutting.cuts.pop(0) if len(cutting.cuts) > 1 else cutting.cuts[0]
            self.send_response(206 if match else 200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("ETag", '"e"')
            self.send_header("Content-Length", str(len(DATA) - start))
            if match:
                self.send_header("Content-Range", f"bytes {start}-{len(DATA) - 1}/{len(DATA)}")
            self.end_headers()
            end = len(DATA) if cut is None else max(cut, start)
            self.wfile.write(DATA[start:end])
            if cut is not None:
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serving(Handler) as endpoint:
        yield endpoint, cutting


def test_a_connection_that_breaks_once_resumes_where_it_stopped(
    server: tuple[str, Cutting],
) -> None:
    endpoint, cutting = server
    cutting.cuts = [100_000, 200_000, None]
    loc = open_location(
        f"s3://bkt/p?endpoint={endpoint}&region=us-east-1&max_attempts=1", credentials=CREDS
    )
    data = loc.get_bytes(KEY, sha256=hashlib.sha256(DATA).hexdigest())
    assert data == DATA
    assert cutting.ranges == ["", "bytes=100000-", "bytes=200000-"]


def test_a_server_that_breaks_every_read_at_one_byte_serves_a_corrupt_object(
    server: tuple[str, Cutting],
) -> None:
    endpoint, cutting = server
    cutting.cuts = [150_000]
    loc = open_location(
        f"s3://bkt/p?endpoint={endpoint}&region=us-east-1&max_attempts=1", credentials=CREDS
    )
    with pytest.raises(IntegrityError, match=rf"{KEY} in .* is corrupt: .*breaks at byte 150000"):
        loc.get_bytes(KEY)
    assert cutting.ranges[1:] == ["bytes=150000-"] * 3
