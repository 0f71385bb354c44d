"""A damaged object says "corrupt" with its key; only a server that does not answer
says "cannot reach". The objects are damaged where each server keeps them on disk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from backupd.errors import IntegrityError, StorageUnreachable
from backupd.sandbox import objectstores
from backupd.sandbox.processes import free_port
from backupd.storage.location import Location, open_location
from tests.fixtures.objectstores import unique_bucket

pytestmark = pytest.mark.integration
KEY = "backups/shop/resources.tar.gz"


def flip_a_byte(path: Path, at: float = 0.5) -> None:
    data = bytearray(path.read_bytes())
    data[int(len(data) * at)] ^= 0xFF
    path.write_bytes(bytes(data))


def minio_location(server: objectstores.MinioServer) -> tuple[Location, Path]:
    bucket = server.create_bucket(unique_bucket("corrupt"))
    location = open_location(server.url(bucket, "data"), credentials=server.credentials)
    return location, server.directory / "data" / bucket / "data" / KEY


def test_minio_a_damaged_large_object_is_corrupt_not_a_broken_connection(
    minio_server: objectstores.MinioServer,
) -> None:
    location, where = minio_location(minio_server)
    location.put_bytes(KEY, os.urandom(3_000_000))
    parts = [p for p in where.rglob("part.*") if p.is_file()]
    assert parts, f"MinIO keeps no part file under {where}"
    flip_a_byte(parts[0])
    # MinIO sends the first blocks, then cuts the stream at the damaged one, every time.
    with pytest.raises(IntegrityError, match=rf"{KEY} in .* is corrupt") as caught:
        location.get_bytes(KEY)
    assert "connection" not in str(caught.value)


def test_minio_a_damaged_small_object_is_corrupt(
    minio_server: objectstores.MinioServer,
) -> None:
    location, where = minio_location(minio_server)
    location.put_bytes(KEY, os.urandom(100_000))  # kept inline, in xl.meta
    flip_a_byte(where / "xl.meta")
    with pytest.raises(IntegrityError, match=rf"{KEY} in .* is corrupt: .*cannot read its data"):
        location.get_bytes(KEY)


def gcs_location(server: objectstores.FakeGcsServer) -> tuple[Location, Path]:
    bucket = server.create_bucket(unique_bucket("corrupt"))
    location = open_location(server.url(bucket, "data", chunk_size_mib="1"))
    return location, server.directory / "data" / bucket / "data" / KEY


@pytest.mark.parametrize("damage", ["flipped byte", "truncated"])
def test_gcs_a_damaged_object_is_corrupt_even_without_a_digest_to_check(
    fake_gcs_server: objectstores.FakeGcsServer, damage: str
) -> None:
    location, where = gcs_location(fake_gcs_server)
    location.put_bytes(KEY, os.urandom(3_000_000))
    if damage == "truncated":
        where.write_bytes(where.read_bytes()[:1_000_000])
    else:
        flip_a_byte(where)
    with pytest.raises(IntegrityError, match=rf"{KEY} in .* is corrupt"):
        location.get_bytes(KEY)  # no sha256 given: the size and CRC32C GCS records


def test_a_replaced_object_is_corrupt_against_the_recorded_digest(
    minio_server: objectstores.MinioServer,
) -> None:
    location, _ = minio_location(minio_server)
    good = location.put_bytes(KEY, b"the real archive")
    location.put_bytes(KEY, b"a forged archive")
    with pytest.raises(IntegrityError, match=rf"corrupt object: sha256 mismatch for {KEY}"):
        location.get_bytes(KEY, sha256=good.sha256)


def test_only_a_server_that_does_not_answer_cannot_be_reached(
    minio_server: objectstores.MinioServer, fake_gcs_server: objectstores.FakeGcsServer
) -> None:
    port = free_port()
    s3 = open_location(
        f"s3://nobody-here/data?endpoint=http://127.0.0.1:{port}&region=us-east-1"
        "&max_attempts=1&connect_timeout=1",
        credentials=minio_server.credentials,
    )
    with pytest.raises(StorageUnreachable, match=f"cannot reach S3 endpoint .*:{port}"):
        s3.get_bytes(KEY)
    gcs = open_location(f"gs://nobody-here/data?endpoint=http://127.0.0.1:{port}&retry_timeout=1")
    with pytest.raises(StorageUnreachable, match=f"cannot reach GCS endpoint .*:{port}"):
        gcs.get_bytes(KEY)
