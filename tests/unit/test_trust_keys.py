"""Key files, references and key ids."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from backupd.errors import UserInputError
from backupd.trust.keys import (
    Keyring,
    SecretRef,
    generate_kek,
    generate_signing_key,
    keyring_from_secret,
    load_ref,
    parse_kek,
    parse_public_key,
    parse_ref,
    parse_signing_key,
    read_key_file,
    write_private_file,
)


def test_key_files_are_created_0600_and_never_overwritten(tmp_path: Path) -> None:
    key = generate_signing_key()
    path = tmp_path / "prod.key"
    write_private_file(path, key.pem())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(UserInputError, match="already exists"):
        write_private_file(path, b"other")
    assert parse_signing_key(read_key_file(path, private=True), str(path)).key_id == key.key_id


def test_a_private_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "k"
    write_private_file(path, generate_kek().text())
    path.chmod(0o644)
    with pytest.raises(UserInputError, match=r"accessible by others.*chmod 600"):
        read_key_file(path, private=True)
    assert read_key_file(path, private=False)  # public keys may be world-readable


def test_public_keys_inline_or_pem_give_the_same_id() -> None:
    key = generate_signing_key()
    inline = key.verify_key.text()
    assert inline.startswith("ed25519:")
    assert parse_public_key(inline.encode(), "config").key_id == key.key_id
    pem = key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert parse_public_key(pem, "file").key_id == key.key_id


def test_kek_round_trips_through_its_text_and_its_id_does_not_reveal_it() -> None:
    kek = generate_kek()
    again = parse_kek(kek.text(), "file")
    assert again.key_id == kek.key_id and again.secret == kek.secret
    assert kek.key_id not in kek.secret.hex()
    assert kek.secret.hex() not in repr(kek) and str(kek.secret) not in repr(kek)


@pytest.mark.parametrize(
    "data, message",
    [(b"not base64!!", "not a base64"), (b"AAAA", "holds 3 bytes")],
)
def test_a_bad_kek_is_one_line(data: bytes, message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        parse_kek(data, "k")


def test_garbage_is_not_a_signing_or_public_key() -> None:
    with pytest.raises(UserInputError, match="not an unencrypted PEM private key"):
        parse_signing_key(b"hello", "k")
    with pytest.raises(UserInputError, match="neither"):
        parse_public_key(b"hello", "k")
    with pytest.raises(UserInputError, match="not a valid ed25519"):
        parse_public_key(b"ed25519:AAAA", "k")


def test_key_references_name_files_or_secrets() -> None:
    assert parse_ref("secret:backupd/signing") == SecretRef("backupd", "signing")
    assert parse_ref("secret:ns/name#my.key") == SecretRef("ns", "name", "my.key")
    assert parse_ref("/etc/k") == Path("/etc/k")
    with pytest.raises(UserInputError, match="invalid Secret reference"):
        parse_ref("secret:only-name")


def test_a_secret_reference_reads_the_default_data_key() -> None:
    kek = generate_kek()
    seen: list[tuple[str, str]] = []

    def fetch(ns: str, name: str) -> dict[str, bytes]:
        seen.append((ns, name))
        return {"encryption.key": kek.text()}

    data, source = load_ref(
        "secret:backupd/keys", default_data_key="encryption.key", private=True, fetch_secret=fetch
    )
    assert parse_kek(data, source).key_id == kek.key_id and seen == [("backupd", "keys")]
    with pytest.raises(UserInputError, match=r"no data key .signing\.key."):
        load_ref(
            "secret:backupd/keys", default_data_key="signing.key", private=True, fetch_secret=fetch
        )
    with pytest.raises(UserInputError, match="no cluster"):
        load_ref("secret:a/b", default_data_key="x", private=True, fetch_secret=None)


def test_a_keyring_trusts_its_signing_key_and_keeps_old_keks() -> None:
    signing, old_pub = generate_signing_key(), generate_signing_key().verify_key
    kek, old = generate_kek(), generate_kek()
    ring = Keyring.build(signing=signing, trusted=[old_pub], kek=kek, old_keks=[old])
    assert set(ring.trusted) == {signing.key_id, old_pub.key_id}
    assert set(ring.keks) == {kek.key_id, old.key_id} and ring.requires_signature
    assert ring.describe()["old_encryption_keys"] == [old.key_id]
    assert not Keyring().requires_signature and not ring.allowing_unsigned().requires_signature


def test_a_keys_secret_gives_the_whole_keyring() -> None:
    signing, old = generate_signing_key(), generate_signing_key()
    kek, old_kek = generate_kek(), generate_kek()
    data = {
        "signing.key": signing.pem(),
        "trusted.keys": old.verify_key.text().encode() + b"\n\n",
        "encryption.key": kek.text(),
        "old-encryption.keys": old_kek.text(),
    }
    ring = keyring_from_secret(data, "Secret backupd/keys")
    assert ring.signing is not None and ring.signing.key_id == signing.key_id
    assert set(ring.trusted) == {signing.key_id, old.key_id}
    assert ring.kek is not None and ring.kek.key_id == kek.key_id
    assert set(ring.keks) == {kek.key_id, old_kek.key_id}
    assert keyring_from_secret({}, "s") == Keyring()
    with pytest.raises(UserInputError, match=r"Secret backupd/keys#encryption\.key"):
        keyring_from_secret({"encryption.key": b"AAAA"}, "Secret backupd/keys")
