"""Signing backup records: what verifies, what is refused, and key rotation."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from backupd.errors import TrustError
from backupd.trust.keys import Keyring, generate_signing_key
from backupd.trust.signing import canonical, signed, verify


def record(name: str = "nightly", archive_sha: str = "a" * 64) -> dict[str, Any]:
    return {
        "apiVersion": "backupd.io/v1alpha1",
        "kind": "Backup",
        "metadata": {"name": name, "labels": {"team": "ünïcode"}},
        "status": {
            "phase": "Completed",
            "archive": {
                "key": f"backups/{name}/resources.tar.gz",
                "size": 10,
                "sha256": archive_sha,
            },
            "progress": {"totalItems": 3},
        },
    }


def test_a_signed_record_verifies_with_the_key_that_signed_it() -> None:
    key = generate_signing_key()
    doc = signed(record(), key)
    assert doc["signature"]["keyId"] == key.key_id
    assert verify(doc, Keyring.build(signing=key), "backup nightly") == key.key_id


def test_the_encoding_ignores_key_order_and_the_signature_field() -> None:
    doc = record()
    shuffled = dict(reversed(list(doc.items())))
    assert canonical(doc) == canonical(shuffled)
    assert canonical(doc) == canonical({**doc, "signature": {"value": "x"}})


@pytest.mark.parametrize(
    "tamper",
    [
        lambda d: d["status"]["archive"].update(sha256="b" * 64),
        lambda d: d["status"].update(phase="Failed"),
        lambda d: d["metadata"]["labels"].update(extra="1"),
        lambda d: d.update(newField=True),
    ],
    ids=["archive digest", "phase", "added label", "added field"],
)
def test_any_change_to_a_signed_record_is_refused_in_one_line(tamper: Any) -> None:
    key = generate_signing_key()
    doc = signed(record(), key)
    tamper(doc)
    with pytest.raises(TrustError) as e:
        verify(doc, Keyring.build(signing=key), "backup nightly")
    assert str(e.value) == (
        f"backup nightly: signature does not verify with key {key.key_id}; "
        "the backup may have been tampered with"
    )
    assert "\n" not in str(e.value)


def test_an_unsigned_record_is_refused_where_a_key_is_trusted_unless_allowed() -> None:
    keyring = Keyring.build(trusted=[generate_signing_key().verify_key])
    with pytest.raises(TrustError, match=r"backup nightly is not signed.*--allow-unsigned"):
        verify(record(), keyring, "backup nightly")
    assert verify(record(), keyring.allowing_unsigned(), "backup nightly") is None


def test_allow_unsigned_never_accepts_a_bad_signature() -> None:
    key = generate_signing_key()
    doc = signed(record(), key)
    doc["status"]["phase"] = "Failed"
    with pytest.raises(TrustError, match="does not verify"):
        verify(doc, Keyring.build(signing=key).allowing_unsigned(), "backup nightly")


def test_a_location_without_keys_accepts_signed_and_unsigned_records() -> None:
    assert verify(record(), Keyring(), "backup nightly") is None
    assert verify(signed(record(), generate_signing_key()), Keyring(), "backup x") is None


def test_a_record_signed_by_an_untrusted_key_is_refused_as_possibly_forged() -> None:
    ours, theirs = generate_signing_key(), generate_signing_key()
    forged = signed(record(), theirs)
    with pytest.raises(TrustError, match=f"signed with key {theirs.key_id}.*may have been forged"):
        verify(forged, Keyring.build(signing=ours), "backup nightly")


def test_after_rotation_old_records_verify_with_the_old_public_key() -> None:
    old, new = generate_signing_key(), generate_signing_key()
    before = signed(record("old"), old)
    rotated = Keyring.build(signing=new, trusted=[old.verify_key])
    after = signed(record("new"), rotated.signing)
    assert verify(before, rotated, "backup old") == old.key_id
    assert verify(after, rotated, "backup new") == new.key_id
    forgotten = Keyring.build(signing=new)
    with pytest.raises(TrustError, match="does not trust"):
        verify(before, forgotten, "backup old")


@pytest.mark.parametrize(
    "signature, message",
    [
        ("abc", "not an object"),
        ({"algorithm": "HMAC", "keyId": "k", "value": "AA=="}, "unknown signature algorithm"),
        ({"algorithm": "Ed25519", "value": "AA=="}, "no key id or value"),
        ({"algorithm": "Ed25519", "keyId": "K", "value": "%%%"}, "not base64"),
    ],
)
def test_a_malformed_signature_field_is_one_line(signature: object, message: str) -> None:
    key = generate_signing_key()
    doc = copy.deepcopy(record())
    doc["signature"] = signature
    with pytest.raises(TrustError, match=message):
        verify(doc, Keyring.build(signing=key), "backup nightly")


def test_a_signature_from_one_record_does_not_verify_another() -> None:
    key = generate_signing_key()
    a, b = signed(record("a"), key), record("b")
    b["signature"] = a["signature"]
    with pytest.raises(TrustError, match="does not verify"):
        verify(b, Keyring.build(signing=key), "backup b")
