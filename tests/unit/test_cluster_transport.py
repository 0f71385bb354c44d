"""Reply bodies: gzip inflated, never past the bound."""

from __future__ import annotations

import gzip
import zlib

import pytest

from backupd.cluster.transport import BodyTooLarge, decode_body, gunzip


def test_a_gzip_body_is_inflated() -> None:
    body = b'{"kind":"PodList","items":[]}' * 1000
    assert decode_body({"content-encoding": "gzip"}, gzip.compress(body)) == body


def test_an_identity_body_is_left_as_it_is() -> None:
    assert decode_body({}, b"{}") == b"{}"
    assert decode_body({"content-encoding": "identity"}, b"{}") == b"{}"


def test_a_body_that_inflates_past_the_bound_is_an_error_not_an_allocation() -> None:
    bomb = gzip.compress(b"\0" * (8 << 20))  # 8 MiB of zeros in ~8 KiB
    assert len(bomb) < 64 << 10
    with pytest.raises(BodyTooLarge, match="larger than 1048576 bytes"):
        gunzip(bomb, limit=1 << 20)


def test_a_body_exactly_at_the_bound_is_fine() -> None:
    body = b"x" * 4096
    assert gunzip(gzip.compress(body), limit=4096) == body


def test_a_damaged_or_cut_gzip_body_is_an_error() -> None:
    packed = gzip.compress(b"y" * 100_000)
    with pytest.raises(ValueError, match="ends early"):
        gunzip(packed[: len(packed) // 2])
    with pytest.raises(ValueError, match="damaged"):
        gunzip(b"\x1f\x8b\x08\x00garbage-garbage")


def test_an_encoding_we_did_not_ask_for_is_an_error() -> None:
    with pytest.raises(ValueError, match="not asked for: br"):
        decode_body({"content-encoding": "br"}, b"...")


def test_a_raw_deflate_stream_is_not_taken_for_gzip() -> None:
    with pytest.raises(ValueError):
        gunzip(zlib.compress(b"z" * 100))
