"""Signatures over stored records (backup.json), and checking them.

A record is signed over its canonical encoding without the `signature` field: JSON
with sorted keys, no whitespace, ASCII only, after a domain tag. The record names
the sha256 of every object of the backup (archive, index, log, ...), so one
signature covers them all. The signature is stored in the record itself:

    "signature": {"algorithm": "Ed25519", "keyId": "<16 hex>", "value": "<base64>"}

The encoding is computed from the parsed document, so the writer and every reader
agree whatever JSON library wrote the bytes.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from backupd.errors import TrustError
from backupd.trust.keys import Keyring, SigningKey

SIGNATURE_FIELD = "signature"
ALGORITHM = "Ed25519"
_DOMAIN = b"backupd signed record v1\n"


def canonical(document: Mapping[str, Any]) -> bytes:
    """The bytes a signature covers: the record without its signature, canonically."""
    body = {k: v for k, v in document.items() if k != SIGNATURE_FIELD}
    try:
        text = json.dumps(
            body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
        )
    except (TypeError, ValueError) as e:
        raise TrustError(f"a record that cannot be encoded canonically: {e}") from None
    return _DOMAIN + text.encode()


def sign(document: Mapping[str, Any], key: SigningKey) -> dict[str, str]:
    """The signature field for `document` (a JSON-compatible mapping)."""
    value = key.private.sign(canonical(document))
    return {"algorithm": ALGORITHM, "keyId": key.key_id, "value": base64.b64encode(value).decode()}


def signed(document: Mapping[str, Any], key: SigningKey | None) -> dict[str, Any]:
    """`document` with its signature (unchanged, without one, when `key` is None)."""
    body = {k: v for k, v in document.items() if k != SIGNATURE_FIELD}
    if key is not None:
        body[SIGNATURE_FIELD] = sign(body, key)
    return body


def verify(document: Mapping[str, Any], keyring: Keyring, what: str) -> str | None:
    """Check the signature of a record read from storage (`what`: e.g. "backup x").

    Returns the id of the key that signed it, or None for an unsigned record that is
    accepted (the location trusts no key, or unsigned records are allowed). A record
    signed while the location trusts no key is accepted too: nothing to check with.
    Raises TrustError, in one line, for anything else.
    """
    raw = document.get(SIGNATURE_FIELD)
    if raw is None:
        if keyring.requires_signature:
            raise TrustError(
                f"{what} is not signed, and this location accepts only signed backups "
                f"(trusted keys: {', '.join(sorted(keyring.trusted))})",
                hint="pass --allow-unsigned to accept it anyway",
            )
        return None
    if not keyring.trusted:
        return None
    key_id, value = _fields(raw, what)
    key = keyring.trusted.get(key_id)
    if key is None:
        raise TrustError(
            f"{what}: signed with key {key_id}, which this location does not trust; "
            "the backup may have been forged"
        )
    from cryptography.exceptions import InvalidSignature  # here: see backupd.trust.keys

    try:
        key.public.verify(value, canonical(document))
    except InvalidSignature:
        raise TrustError(
            f"{what}: signature does not verify with key {key_id}; "
            "the backup may have been tampered with"
        ) from None
    return key_id


def _fields(raw: object, what: str) -> tuple[str, bytes]:
    if not isinstance(raw, dict):
        raise TrustError(f"{what}: its signature field is not an object")
    algorithm, key_id, value = raw.get("algorithm"), raw.get("keyId"), raw.get("value")
    if algorithm != ALGORITHM:
        shown = algorithm[:40] if isinstance(algorithm, str) else type(algorithm).__name__
        raise TrustError(f"{what}: unknown signature algorithm {shown!r}; expected {ALGORITHM}")
    if not isinstance(key_id, str) or not isinstance(value, str):
        raise TrustError(f"{what}: its signature has no key id or value")
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise TrustError(f"{what}: its signature is not base64") from None
    return key_id[:64], decoded
