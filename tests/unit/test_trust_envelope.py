"""Envelope encryption and the chunked stream: round trips, wrong keys, tampering."""

from __future__ import annotations

import io
import os
import struct
import tracemalloc
from collections.abc import Callable

import pytest

from backupd.errors import TrustError
from backupd.trust.chunked import HEADER_SIZE, TAG, DecryptingReader, EncryptingReader
from backupd.trust.envelope import open_envelope, seal
from backupd.trust.keys import Keyring, generate_kek

CTX = b"backup nightly archive"
SMALL = 64


def encrypt(data: bytes, key: bytes, *, chunk_size: int = SMALL, context: bytes = CTX) -> bytes:
    return EncryptingReader(io.BytesIO(data), key, context, chunk_size=chunk_size).read()


def decrypt(blob: bytes, key: bytes, *, context: bytes = CTX, step: int = -1) -> bytes:
    reader = DecryptingReader(io.BytesIO(blob), key, context, "the archive of backup nightly")
    if step < 0:
        return reader.read()
    out = b""
    while chunk := reader.read(step):
        out += chunk
    return out


def chunks(blob: bytes, chunk_size: int = SMALL) -> tuple[bytes, list[bytes]]:
    body = blob[HEADER_SIZE:]
    size = chunk_size + TAG
    return blob[:HEADER_SIZE], [body[i : i + size] for i in range(0, len(body), size)]


# -- envelope ------------------------------------------------------------------------


def test_a_data_key_unwraps_with_the_key_that_wrapped_it() -> None:
    kek = generate_kek()
    env = seal(kek, "nightly")
    rec = env.record()
    opened = open_envelope(
        Keyring.build(kek=kek),
        "nightly",
        algorithm=rec["algorithm"],
        key_id=rec["keyId"],
        wrapped_key=rec["wrappedKey"],
    )
    assert opened.data_key == env.data_key and len(env.data_key) == 32
    assert env.data_key not in env.wrapped_key.encode()


def test_a_location_without_the_key_says_which_key_it_lacks() -> None:
    env = seal(generate_kek(), "nightly").record()
    other = generate_kek()
    with pytest.raises(TrustError) as e:
        open_envelope(
            Keyring.build(kek=other),
            "nightly",
            algorithm=env["algorithm"],
            key_id=env["keyId"],
            wrapped_key=env["wrappedKey"],
        )
    assert f"encrypted with key {env['keyId']}, which this location does not have" in str(e.value)
    assert other.key_id in str(e.value)


def test_a_rotated_kek_still_opens_old_backups() -> None:
    old, new = generate_kek(), generate_kek()
    before = seal(old, "old").record()
    rotated = Keyring.build(kek=new, old_keks=[old])
    assert rotated.kek is new
    opened = open_envelope(
        rotated,
        "old",
        algorithm=before["algorithm"],
        key_id=before["keyId"],
        wrapped_key=before["wrappedKey"],
    )
    assert len(opened.data_key) == 32


def test_a_wrapped_key_moved_to_another_backup_or_altered_does_not_unwrap() -> None:
    kek = generate_kek()
    rec = seal(kek, "a").record()
    keyring = Keyring.build(kek=kek)
    with pytest.raises(TrustError, match="does not unwrap"):
        open_envelope(
            keyring,
            "b",
            algorithm=rec["algorithm"],
            key_id=rec["keyId"],
            wrapped_key=rec["wrappedKey"],
        )
    flipped = (
        rec["wrappedKey"][:-6]
        + ("A" if rec["wrappedKey"][-6] != "A" else "B")
        + rec["wrappedKey"][-5:]
    )
    with pytest.raises(TrustError, match=r"does not unwrap|wrong length|not base64"):
        open_envelope(
            keyring, "a", algorithm=rec["algorithm"], key_id=rec["keyId"], wrapped_key=flipped
        )


def test_each_file_has_its_own_key() -> None:
    env = seal(generate_kek(), "x")
    assert env.file_key("archive") != env.file_key("index") != env.data_key


# -- chunked stream --------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, SMALL - 1, SMALL, SMALL + 1, 3 * SMALL, 5 * SMALL + 7])
def test_any_length_round_trips_and_the_ciphertext_hides_the_data(size: int) -> None:
    key, data = os.urandom(32), os.urandom(size)
    blob = encrypt(data, key)
    assert decrypt(blob, key) == data
    assert decrypt(blob, key, step=5) == data
    assert len(blob) == HEADER_SIZE + max(1, -(-size // SMALL)) * TAG + size
    if size >= 16:
        assert data[:16] not in blob


def test_encrypting_twice_gives_different_bytes() -> None:
    key, data = os.urandom(32), b"same" * 100
    assert encrypt(data, key) != encrypt(data, key)


def _refused(blob: bytes, key: bytes, match: str = "does not decrypt") -> None:
    with pytest.raises(TrustError, match=match):
        decrypt(blob, key)


def test_a_wrong_key_or_context_is_refused() -> None:
    key = os.urandom(32)
    blob = encrypt(b"x" * 200, key)
    _refused(blob, os.urandom(32))
    with pytest.raises(TrustError, match="does not decrypt"):
        decrypt(blob, key, context=b"backup other archive")


@pytest.mark.parametrize("where", [HEADER_SIZE - 1, HEADER_SIZE, HEADER_SIZE + 100, -1])
def test_one_flipped_bit_anywhere_is_refused(where: int) -> None:
    key = os.urandom(32)
    blob = bytearray(encrypt(os.urandom(300), key))
    blob[where] ^= 0x01
    _refused(bytes(blob), key)


Cut = Callable[[bytes, list[bytes]], bytes]


@pytest.mark.parametrize(
    "cut",
    [
        lambda h, c: h + b"".join(c[:-1]),  # last chunk dropped: at a chunk boundary
        lambda h, c: h + b"".join(c)[:-1],  # one byte short
        lambda h, c: h + c[1] + c[0] + b"".join(c[2:]),  # two chunks swapped
        lambda h, c: h + c[0] + b"".join(c[2:]),  # a middle chunk dropped
        lambda h, c: h + b"".join(c) + c[-1],  # the final chunk repeated
        lambda h, c: h + b"".join(c[:2]) + c[1] + b"".join(c[2:]),  # a chunk repeated
    ],
    ids=[
        "truncated-at-boundary",
        "truncated-mid-chunk",
        "reordered",
        "dropped",
        "appended",
        "replayed",
    ],
)
def test_truncated_reordered_or_replayed_chunks_are_refused(cut: Cut) -> None:
    key = os.urandom(32)
    header, parts = chunks(encrypt(os.urandom(4 * SMALL + 10), key))
    assert len(parts) == 5
    with pytest.raises(TrustError):
        decrypt(cut(header, parts), key)


def test_a_stream_that_is_only_a_header_or_not_encrypted_is_refused() -> None:
    key = os.urandom(32)
    blob = encrypt(b"data", key)
    _refused(blob[:HEADER_SIZE], key, "truncated|does not decrypt")
    _refused(b"\x1f\x8b plain gzip", key, "bad header")
    huge = blob[:8] + struct.pack(">I", 1 << 30) + blob[12:]
    _refused(huge, key, "chunk size")


def test_memory_stays_flat_for_a_large_stream() -> None:
    key = os.urandom(32)
    size = 48 * 1024 * 1024

    class Zeros(io.RawIOBase):
        left = size

        def readable(self) -> bool:
            return True

        def readinto(self, b: memoryview) -> int:  # type: ignore[override]
            n = min(len(b), self.left)
            b[:n] = bytes(n)
            self.left -= n
            return n

    tracemalloc.start()
    enc = EncryptingReader(io.BufferedReader(Zeros()), key, CTX)

    class Pipe(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, b: memoryview) -> int:  # type: ignore[override]
            data = enc.read(len(b))
            b[: len(data)] = data
            return len(data)

    dec = DecryptingReader(io.BufferedReader(Pipe(), 1 << 20), key, CTX, "big")  # type: ignore[arg-type]
    total = 0
    while chunk := dec.read(1 << 20):
        total += len(chunk)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert total == size
    assert peak < 12 * 1024 * 1024, peak
