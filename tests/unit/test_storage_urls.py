"""Location URLs: parsed without touching the network, refused with one-line reasons."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from backupd.errors import UserInputError
from backupd.storage.gcs import parse_gs_url
from backupd.storage.local import parse_file_url
from backupd.storage.location import (
    DEFAULT_URL,
    AccessMode,
    open_location,
)
from backupd.storage.s3 import S3Store, parse_s3_url
from backupd.storage.urls import redact

KEY = base64.b64encode(bytes(range(32))).decode()


def test_s3_url_with_every_option() -> None:
    o = parse_s3_url(
        "s3://my-bucket/team/prod?region=eu-west-1&endpoint=http://127.0.0.1:9000"
        "&profile=backup&addressing_style=virtual&sse=aws:kms&kms_key_id=alias/backupd"
        "&object_lock_mode=governance&object_lock_days=30&max_attempts=8"
        "&retry_mode=adaptive&connect_timeout=3&read_timeout=30&part_size_mib=64"
    )
    assert (o.bucket, o.prefix, o.region, o.endpoint) == (
        "my-bucket",
        "team/prod/",
        "eu-west-1",
        "http://127.0.0.1:9000",
    )
    assert (o.profile, o.addressing_style, o.sse, o.kms_key_id) == (
        "backup",
        "virtual",
        "aws:kms",
        "alias/backupd",
    )
    assert (o.object_lock_mode, o.object_lock_days) == ("GOVERNANCE", 30)
    assert (o.max_attempts, o.retry_mode, o.connect_timeout, o.read_timeout) == (
        8,
        "adaptive",
        3,
        30,
    )
    assert o.part_size == 64 * 1024 * 1024


def test_s3_defaults() -> None:
    o = parse_s3_url("s3://bucket")
    assert (o.prefix, o.region, o.endpoint, o.addressing_style, o.sse) == (
        "",
        None,
        None,
        "auto",
        None,
    )
    assert (o.max_attempts, o.retry_mode) == (5, "standard")
    assert parse_s3_url("s3://bucket/p?endpoint=http://127.0.0.1:1").addressing_style == "path"


def test_sse_c_key_is_decoded_and_redacted() -> None:
    url = f"s3://bucket/p?sse_c_key={KEY}&region=us-east-1"
    assert parse_s3_url(url).sse_c_key == bytes(range(32))
    assert KEY not in redact(url)
    assert redact(url) == "s3://bucket/p?sse_c_key=REDACTED&region=us-east-1"


def test_s3_write_args_carry_encryption_and_retention() -> None:
    store = S3Store(
        "s3://b/p",
        parse_s3_url(
            "s3://bucket/p?sse=aws:kms&kms_key_id=k1&object_lock_mode=COMPLIANCE&object_lock_days=7"
        ),
        credentials={"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"},
    )
    args = store.write_args()
    assert (args["ServerSideEncryption"], args["SSEKMSKeyId"], args["ObjectLockMode"]) == (
        "aws:kms",
        "k1",
        "COMPLIANCE",
    )
    assert "ObjectLockRetainUntilDate" in args


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("s3://ab", "invalid S3 bucket"),
        ("s3://bucket..x/p", "invalid S3 bucket"),
        ("s3://bucket:9000/p", "the bucket has no port"),
        ("s3://bucket/p?sse=des", "sse must be one of"),
        ("s3://bucket/p?kms_key_id=k", "kms_key_id needs sse=aws:kms"),
        (f"s3://bucket/p?sse=AES256&sse_c_key={KEY}", "cannot be combined"),
        ("s3://bucket/p?object_lock_days=3", "must be given together"),
        ("s3://bucket/p?object_lock_mode=STRICT&object_lock_days=3", "object_lock_mode must be"),
        (
            "s3://bucket/p?object_lock_mode=COMPLIANCE&object_lock_days=0",
            "object_lock_days must be",
        ),
        ("s3://bucket/p?max_attempts=many", "max_attempts must be"),
        ("s3://bucket/p?part_size_mib=1", "part_size_mib must be"),
        ("s3://bucket/p?connect_timeout=-1", "connect_timeout must be"),
        ("s3://bucket/p?region=a&region=b", "given twice"),
        ("s3://bucket/p?endpoint=ftp://127.0.0.1", "endpoint must look like"),
        ("s3://bucket/p?endpoint=http://127.0.0.1:99999", "invalid port"),
        ("s3://bucket/p?ca_bundle=/no/such/file.pem", "is not a file"),
        ("s3://bucket/p#frag", "unexpected '#'"),
        ("s3://bucket/a//b", "invalid prefix"),
    ],
)
def test_bad_s3_urls(url: str, reason: str) -> None:
    with pytest.raises(UserInputError, match=reason):
        parse_s3_url(url)


def test_gs_url() -> None:
    o = parse_gs_url(
        "gs://my_bucket.example/x/y?endpoint=http://127.0.0.1:4443&chunk_size_mib=8&retry_timeout=5"
    )
    assert (o.bucket, o.prefix, o.endpoint) == (
        "my_bucket.example",
        "x/y/",
        "http://127.0.0.1:4443",
    )
    assert (o.chunk_size, o.retry_timeout) == (8 * 1024 * 1024, 5)
    with pytest.raises(UserInputError, match="unknown parameter 'region'"):
        parse_gs_url("gs://bucket?region=x")
    with pytest.raises(UserInputError, match="invalid GCS bucket"):
        parse_gs_url("gs://-bad")


def test_file_urls() -> None:
    assert parse_file_url("file:///var/lib/backupd") == Path("/var/lib/backupd")
    assert parse_file_url("file://localhost/srv/b%20c") == Path("/srv/b c")
    for bad in ("file://host/x", "file:relative", "file:///x?y=1"):
        with pytest.raises(UserInputError):
            parse_file_url(bad)


def test_open_location_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("BACKUPD_LOCATION", raising=False)
    assert open_location().url == DEFAULT_URL == "file:///var/lib/backupd"
    monkeypatch.setenv("BACKUPD_LOCATION", tmp_path.as_uri())
    location = open_location(access_mode="readonly")
    assert (location.url, location.access_mode) == (tmp_path.as_uri(), AccessMode.ReadOnly)


@pytest.mark.parametrize("url", ["", "bucket/prefix", "s3:/x", "http://127.0.0.1/x", "azure://c/p"])
def test_open_location_refuses_what_is_not_a_location_url(url: str) -> None:
    with pytest.raises(UserInputError):
        open_location(url or "nothing")


def test_unknown_access_mode() -> None:
    with pytest.raises(UserInputError, match="unknown access mode"):
        open_location("file:///tmp/x", access_mode="WriteOnly")


def test_credentials_must_come_in_pairs() -> None:
    with pytest.raises(UserInputError, match="both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"):
        open_location("s3://bucket/p", credentials={"AWS_ACCESS_KEY_ID": "only-the-id"})
