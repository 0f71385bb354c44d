"""What each backend's failures say: corrupt data names its key and says "corrupt";
only a server that does not answer says "cannot reach"."""

from __future__ import annotations

import botocore.exceptions as bce
import pytest
import urllib3.exceptions
from google.cloud.storage.exceptions import DataCorruption

from backupd.errors import IntegrityError, StorageError, StorageUnreachable
from backupd.storage import gcserrors, s3errors

KEY = "backups/shop/resources.tar.gz"
WHERE = {"bucket": "bkt", "where": "http://127.0.0.1:9000", "url": "s3://bkt/p"}


def client_error(code: str, status: int, message: str = "") -> bce.ClientError:
    response = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return bce.ClientError(response, "GetObject")  # type: ignore[arg-type]


def test_s3_an_object_the_server_cannot_read_is_corrupt_with_its_key() -> None:
    e = client_error("SlowDownRead", 503, "Resource requested is unreadable")
    error = s3errors.translate(e, action="read", key=KEY, **WHERE)
    assert isinstance(error, IntegrityError)
    assert str(error).startswith(f"{KEY} in s3://bkt/p is corrupt")


def test_s3_real_throttling_stays_a_retryable_storage_error() -> None:
    error = s3errors.translate(client_error("SlowDown", 503), action="read", key=KEY, **WHERE)
    assert type(error) is StorageError and error.retryable
    assert "corrupt" not in str(error)


@pytest.mark.parametrize(
    ("cause", "says"),
    [
        (bce.EndpointConnectionError(endpoint_url="http://127.0.0.1:9000"), "cannot reach"),
        (urllib3.exceptions.ProtocolError("Connection broken"), "broke during read"),
    ],
)
def test_s3_network_failures_say_so_and_never_corrupt(cause: Exception, says: str) -> None:
    error = s3errors.translate(cause, action="read", key=KEY, **WHERE)
    assert isinstance(error, StorageUnreachable)
    assert says in str(error) and "corrupt" not in str(error)


def test_gcs_a_checksum_mismatch_is_corrupt_with_its_key() -> None:
    e = DataCorruption(None, "Checksum mismatch while downloading")
    error = gcserrors.translate(e, action="read", key=KEY, **{**WHERE, "url": "gs://bkt/p"})
    assert isinstance(error, IntegrityError)
    assert str(error).startswith(f"{KEY} in gs://bkt/p is corrupt")
