"""Envelope encryption: a fresh data key per backup, wrapped by the location's KEK.

The data key (32 random bytes) encrypts the backup's archive and index (see
chunked.py); only its wrapped form is stored, in backup.json, with the KEK's id:

    "encryption": {"algorithm": "AES-256-GCM-chunked-v1", "keyId": "<16 hex>",
                   "wrappedKey": "<base64 of nonce + AES-256-GCM(KEK, data key)>"}

The wrap is bound to the backup's name (associated data), so a wrapped key copied
into another backup's record does not unwrap there. Each stored file is encrypted
under its own key derived from the data key and the file's role (HKDF-SHA256).
"""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass

from backupd.errors import TrustError
from backupd.trust.keys import Kek, Keyring

ALGORITHM = "AES-256-GCM-chunked-v1"
DATA_KEY_BYTES = 32
_NONCE = 12


def _wrap_context(backup: str, key_id: str) -> bytes:
    return f"backupd data key v1|{backup}|{key_id}".encode()


@dataclass(frozen=True)
class Envelope:
    """The data key of one backup, and the record that lets a reader recover it."""

    data_key: bytes
    key_id: str
    wrapped_key: str
    algorithm: str = ALGORITHM

    def file_key(self, role: str) -> bytes:
        return file_key(self.data_key, role)

    def record(self) -> dict[str, str]:
        return {"algorithm": self.algorithm, "keyId": self.key_id, "wrappedKey": self.wrapped_key}


def file_key(data_key: bytes, role: str) -> bytes:
    """The key of one stored file (role: "archive", "index"), derived from the data key."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    hkdf = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=f"backupd file {role}".encode()
    )
    return hkdf.derive(data_key)


def seal(kek: Kek, backup: str) -> Envelope:
    """A fresh data key for `backup`, wrapped by `kek`."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # see backupd.trust.keys

    data_key = secrets.token_bytes(DATA_KEY_BYTES)
    nonce = secrets.token_bytes(_NONCE)
    wrapped = nonce + AESGCM(kek.secret).encrypt(nonce, data_key, _wrap_context(backup, kek.key_id))
    return Envelope(data_key, kek.key_id, base64.b64encode(wrapped).decode())


def open_envelope(
    keyring: Keyring, backup: str, *, algorithm: str, key_id: str, wrapped_key: str
) -> Envelope:
    """Recover the data key of `backup` from its record; TrustError in one line if the
    location lacks the key, or the wrapped key was made with another key or altered."""
    what = f"backup {backup}"
    if algorithm != ALGORITHM:
        raise TrustError(f"{what}: unknown encryption {algorithm[:40]!r}; expected {ALGORITHM}")
    kek = keyring.find_kek(key_id, what)
    try:
        wrapped = base64.b64decode(wrapped_key, validate=True)
    except (binascii.Error, ValueError):
        raise TrustError(f"{what}: its wrapped data key is not base64") from None
    if len(wrapped) != _NONCE + DATA_KEY_BYTES + 16:
        raise TrustError(f"{what}: its wrapped data key has the wrong length")
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        data_key = AESGCM(kek.secret).decrypt(
            wrapped[:_NONCE], wrapped[_NONCE:], _wrap_context(backup, key_id)
        )
    except InvalidTag:
        raise TrustError(
            f"{what}: its data key does not unwrap with key {key_id}; "
            "the backup may have been tampered with"
        ) from None
    return Envelope(data_key, key_id, wrapped_key, algorithm)
