"""S3 specifics a user relies on: encryption and Object Lock reach the server,
large objects go up in parts. Checked against MinIO, a real S3 server."""

from __future__ import annotations

import base64
import hashlib
import io
import os
from datetime import UTC, datetime, timedelta

import pytest

from backupd.errors import StorageError
from backupd.sandbox.objectstores import MINIO_KMS_KEY_ID, MinioServer
from backupd.storage.location import open_location
from tests.fixtures.objectstores import unique_bucket

pytestmark = pytest.mark.integration
MIB = 1024 * 1024


def test_sse_s3_is_requested_on_every_write(minio_server: MinioServer) -> None:
    bucket = minio_server.create_bucket(unique_bucket("sse"))
    location = open_location(
        minio_server.url(bucket, "p", sse="AES256"), credentials=minio_server.credentials
    )
    location.put_bytes("backups/a/backup.json", b"{}")
    head = minio_server.client().head_object(Bucket=bucket, Key="p/backups/a/backup.json")
    assert head["ServerSideEncryption"] == "AES256"


def test_sse_kms_uses_the_given_key(minio_server: MinioServer) -> None:
    bucket = minio_server.create_bucket(unique_bucket("kms"))
    url = minio_server.url(bucket, "p", sse="aws:kms", kms_key_id=MINIO_KMS_KEY_ID)
    location = open_location(url, credentials=minio_server.credentials)
    result = location.put("backups/a/resources.tar.gz", io.BytesIO(os.urandom(6 * MIB)))
    head = minio_server.client().head_object(Bucket=bucket, Key="p/backups/a/resources.tar.gz")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"].endswith(MINIO_KMS_KEY_ID)
    assert location.get_bytes("backups/a/resources.tar.gz", sha256=result.sha256)


def test_sse_c_objects_need_the_key_to_be_read(minio_tls_server: MinioServer) -> None:
    server = minio_tls_server
    bucket = server.create_bucket(unique_bucket("ssec"))
    key = base64.b64encode(os.urandom(32)).decode()
    with_key = open_location(
        server.url(bucket, "p", sse_c_key=key, part_size_mib="5"), credentials=server.credentials
    )
    data = os.urandom(12 * MIB)  # three parts: SSE-C on a multipart upload
    result = with_key.put("backups/a/resources.tar.gz", io.BytesIO(data))
    assert with_key.get_bytes("backups/a/resources.tar.gz", sha256=result.sha256) == data
    assert with_key.exists("backups/a/resources.tar.gz")
    assert key not in with_key.url
    without_key = open_location(server.url(bucket, "p"), credentials=server.credentials)
    with pytest.raises(StorageError, match="Server Side Encryption"):
        without_key.get_bytes("backups/a/resources.tar.gz")


def test_sse_c_key_can_come_from_the_credentials_instead_of_the_url(
    minio_tls_server: MinioServer,
) -> None:
    server = minio_tls_server
    bucket = server.create_bucket(unique_bucket("ssec"))
    key = base64.b64encode(os.urandom(32)).decode()
    creds = server.credentials | {"BACKUPD_S3_SSE_C_KEY": key}
    location = open_location(server.url(bucket, "p"), credentials=creds)
    result = location.put_bytes("backups/a/backup.json", b"{}")
    raw = base64.b64decode(key)
    head = server.client().head_object(
        Bucket=bucket,
        Key="p/backups/a/backup.json",
        SSECustomerAlgorithm="AES256",
        SSECustomerKey=key,
        SSECustomerKeyMD5=base64.b64encode(hashlib.md5(raw).digest()).decode(),
    )
    assert head["SSECustomerAlgorithm"] == "AES256"
    assert location.get_bytes("backups/a/backup.json", sha256=result.sha256) == b"{}"


def test_object_lock_retention_is_set_on_write(minio_server: MinioServer) -> None:
    bucket = minio_server.create_bucket(unique_bucket("lock"), object_lock=True)
    url = minio_server.url(bucket, "p", object_lock_mode="COMPLIANCE", object_lock_days="30")
    location = open_location(url, credentials=minio_server.credentials)
    location.put_bytes("backups/a/backup.json", b"{}")
    client = minio_server.client()
    head = client.head_object(Bucket=bucket, Key="p/backups/a/backup.json")
    assert head["ObjectLockMode"] == "COMPLIANCE"
    expected = datetime.now(UTC) + timedelta(days=30)
    assert abs((head["ObjectLockRetainUntilDate"] - expected).total_seconds()) < 300
    with pytest.raises(client.exceptions.ClientError, match=r"AccessDenied|WORM|locked"):
        client.delete_object(
            Bucket=bucket, Key="p/backups/a/backup.json", VersionId=head["VersionId"]
        )


def test_large_objects_are_uploaded_in_parts(minio_server: MinioServer) -> None:
    bucket = minio_server.create_bucket(unique_bucket("parts"))
    location = open_location(
        minio_server.url(bucket, "p", part_size_mib="5"), credentials=minio_server.credentials
    )
    location.put("big", io.BytesIO(os.urandom(11 * MIB)))
    etag = minio_server.client().head_object(Bucket=bucket, Key="p/big")["ETag"]
    assert etag.strip('"').endswith("-3")  # a multipart ETag names its part count
