"""Key material of a location, and where it comes from.

    signing key     an Ed25519 private key (PEM, PKCS#8) in a file (0600) or a Secret
    trusted keys    Ed25519 public keys: inline `ed25519:<base64>` or a PEM file
    encryption key  an AES-256 key-encryption key (KEK): 32 random bytes, base64 text
                    in a file (0600) or a Secret

A key reference is a file path or `secret:NAMESPACE/NAME[#DATA-KEY]` (the default
data key is `signing.key` or `encryption.key`). A key id is the first 16 hex digits
of the sha256 of the public key (Ed25519) or of a domain tag and the key (KEK): it
names a key without revealing it, so old backups find the old key after a rotation.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
import stat
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from backupd.errors import TrustError, UserInputError

# cryptography is imported where a key is made or parsed: a location without keys (and
# every command that opens one, `backup get` included) never pays its ~50 ms import.
if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

KEK_BYTES = 32
PUBLIC_PREFIX = "ed25519:"
SECRET_PREFIX = "secret:"
SIGNING_DATA_KEY = "signing.key"
ENCRYPTION_DATA_KEY = "encryption.key"
_KEK_ID_TAG = b"backupd-kek-id-v1:"
_MAX_KEY_FILE = 64 * 1024

# (namespace, name) -> the Secret's decoded data
SecretFetcher = Callable[[str, str], Mapping[str, bytes]]


def _key_id(material: bytes) -> str:
    return hashlib.sha256(material).hexdigest()[:16]


@dataclass(frozen=True)
class VerifyKey:
    public: Ed25519PublicKey = field(repr=False)
    key_id: str

    @classmethod
    def of(cls, public: Ed25519PublicKey) -> VerifyKey:
        return cls(public, _key_id(_raw_public(public)))

    def text(self) -> str:
        """`ed25519:<base64>`: how a public key is written in the config file."""
        return PUBLIC_PREFIX + base64.b64encode(_raw_public(self.public)).decode()


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey = field(repr=False)
    key_id: str

    @classmethod
    def of(cls, private: Ed25519PrivateKey) -> SigningKey:
        return cls(private, VerifyKey.of(private.public_key()).key_id)

    @property
    def verify_key(self) -> VerifyKey:
        return VerifyKey.of(self.private.public_key())

    def pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


@dataclass(frozen=True)
class Kek:
    """A key-encryption key: wraps the data key of each backup."""

    secret: bytes = field(repr=False)
    key_id: str

    @classmethod
    def of(cls, secret: bytes) -> Kek:
        if len(secret) != KEK_BYTES:
            raise UserInputError(f"an encryption key must be {KEK_BYTES} bytes, not {len(secret)}")
        return cls(secret, _key_id(_KEK_ID_TAG + secret))

    def text(self) -> bytes:
        return base64.b64encode(self.secret) + b"\n"


def _raw_public(public: Ed25519PublicKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def generate_signing_key() -> SigningKey:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return SigningKey.of(Ed25519PrivateKey.generate())


def generate_kek() -> Kek:
    return Kek.of(secrets.token_bytes(KEK_BYTES))


# -- parsing ---------------------------------------------------------------------------


def parse_signing_key(data: bytes, source: str) -> SigningKey:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise UserInputError(
            f"{source} is not an unencrypted PEM private key",
            hint="make one with: backupctl key generate",
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UserInputError(f"{source} is not an Ed25519 private key")
    return SigningKey.of(key)


def parse_public_key(data: bytes, source: str) -> VerifyKey:
    """`ed25519:<base64>` (32 raw bytes) or a PEM public key."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    text = data.strip()
    if text.startswith(PUBLIC_PREFIX.encode()):
        try:
            raw = base64.b64decode(text[len(PUBLIC_PREFIX) :], validate=True)
            return VerifyKey.of(Ed25519PublicKey.from_public_bytes(raw))
        except (binascii.Error, ValueError):
            raise UserInputError(f"{source} is not a valid ed25519 public key") from None
    try:
        key = serialization.load_pem_public_key(text)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise UserInputError(
            f"{source} is neither 'ed25519:<base64>' nor a PEM public key"
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise UserInputError(f"{source} is not an Ed25519 public key")
    return VerifyKey.of(key)


def parse_kek(data: bytes, source: str) -> Kek:
    try:
        raw = base64.b64decode(data.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise UserInputError(
            f"{source} is not a base64 encryption key",
            hint="make one with: backupctl key generate --encryption",
        ) from None
    if len(raw) != KEK_BYTES:
        raise UserInputError(f"{source} holds {len(raw)} bytes; an encryption key has {KEK_BYTES}")
    return Kek.of(raw)


# -- key files and Secrets -----------------------------------------------------------


def write_private_file(path: Path, data: bytes) -> None:
    """Create `path` with mode 0600 from the start (O_EXCL: never replace a file)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise UserInputError(f"{path} already exists; refusing to overwrite a key") from None
    except OSError as e:
        raise UserInputError(f"cannot create {path}: {e.strerror}") from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def read_key_file(path: Path, *, private: bool) -> bytes:
    """A key file's bytes; a private key readable by group or others is refused."""
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            raise UserInputError(f"key file {path} is not a regular file")
        if private and st.st_mode & 0o077:
            raise UserInputError(
                f"key file {path} is accessible by others (mode {st.st_mode & 0o777:04o})",
                hint=f"chmod 600 {path}",
            )
        if st.st_size > _MAX_KEY_FILE:
            raise UserInputError(f"key file {path} is too large to be a key")
        return path.read_bytes()
    except OSError as e:
        raise UserInputError(f"cannot read key file {path}: {e.strerror}") from None


@dataclass(frozen=True)
class SecretRef:
    namespace: str
    name: str
    data_key: str | None = None

    def __str__(self) -> str:
        return f"{SECRET_PREFIX}{self.namespace}/{self.name}" + (
            f"#{self.data_key}" if self.data_key else ""
        )


def parse_ref(text: str) -> Path | SecretRef:
    """A key reference: a file path, or `secret:NAMESPACE/NAME[#DATA-KEY]`."""
    if not text or not text.strip():
        raise UserInputError("a key reference must not be empty")
    if not text.startswith(SECRET_PREFIX):
        return Path(text).expanduser()
    body, _, data_key = text[len(SECRET_PREFIX) :].partition("#")
    namespace, _, name = body.partition("/")
    if not namespace or not name or "/" in name:
        raise UserInputError(f"invalid Secret reference {text!r}: use secret:NAMESPACE/NAME[#KEY]")
    return SecretRef(namespace, name, data_key or None)


def load_ref(
    text: str, *, default_data_key: str, private: bool, fetch_secret: SecretFetcher | None
) -> tuple[bytes, str]:
    """The bytes a key reference names, and a description of where they came from."""
    ref = parse_ref(text)
    if isinstance(ref, Path):
        return read_key_file(ref, private=private), str(ref)
    if fetch_secret is None:
        raise UserInputError(f"{ref} names a Secret, and there is no cluster to read it from")
    data = fetch_secret(ref.namespace, ref.name)
    wanted = ref.data_key or default_data_key
    if wanted not in data:
        raise UserInputError(f"Secret {ref.namespace}/{ref.name} has no data key {wanted!r}")
    return data[wanted], f"{ref}#{wanted}" if not ref.data_key else str(ref)


# -- the keyring of a location ---------------------------------------------------------


@dataclass(frozen=True)
class Keyring:
    """What a location signs and encrypts with, and what it trusts.

    `trusted` holds every public key that may have signed a backup here (the current
    signing key's included); `keks` every key-encryption key by id (old ones read old
    backups); `kek` the one new backups are encrypted with (None: not encrypted).
    With any trusted key, an unsigned backup is refused unless `allow_unsigned`.
    """

    signing: SigningKey | None = None
    trusted: Mapping[str, VerifyKey] = field(default_factory=dict)
    kek: Kek | None = None
    keks: Mapping[str, Kek] = field(default_factory=dict)
    allow_unsigned: bool = False

    @classmethod
    def build(
        cls,
        *,
        signing: SigningKey | None = None,
        trusted: Iterable[VerifyKey] = (),
        kek: Kek | None = None,
        old_keks: Iterable[Kek] = (),
        allow_unsigned: bool = False,
    ) -> Keyring:
        public = {k.key_id: k for k in trusted}
        if signing is not None:
            public[signing.key_id] = signing.verify_key
        keks = {k.key_id: k for k in old_keks}
        if kek is not None:
            keks[kek.key_id] = kek
        return cls(signing, public, kek, keks, allow_unsigned)

    @property
    def requires_signature(self) -> bool:
        return bool(self.trusted) and not self.allow_unsigned

    def with_kek(self, kek: Kek) -> Keyring:
        """This keyring, encrypting new backups with `kek` (and able to read them)."""
        return replace(self, kek=kek, keks={**self.keks, kek.key_id: kek})

    def allowing_unsigned(self, allow: bool = True) -> Keyring:
        return replace(self, allow_unsigned=allow)

    def find_kek(self, key_id: str, what: str) -> Kek:
        kek = self.keks.get(key_id)
        if kek is None:
            have = ", ".join(sorted(self.keks)) or "none"
            raise TrustError(
                f"{what} is encrypted with key {key_id}, which this location does not have "
                f"(it has: {have})",
                hint="add the key with: backupctl location set NAME --encryption-key "
                "(or --old-encryption-key for a rotated one)",
            )
        return kek

    def describe(self) -> dict[str, object]:
        """Key ids only: nothing secret."""
        current = self.kek.key_id if self.kek else ""
        return {
            "signing_key": self.signing.key_id if self.signing else None,
            "trusted_keys": sorted(self.trusted),
            "encryption_key": self.kek.key_id if self.kek else None,
            "old_encryption_keys": sorted(set(self.keks) - {current}),
        }


EMPTY = Keyring()


TRUSTED_DATA_KEY = "trusted.keys"
OLD_ENCRYPTION_DATA_KEY = "old-encryption.keys"


def keyring_from_secret(data: Mapping[str, bytes], source: str) -> Keyring:
    """The keyring held in one Secret (for the controller: a location's `keys` Secret).

    signing.key          an Ed25519 private key (PEM)
    trusted.keys         older public keys, one `ed25519:<base64>` per line
    encryption.key       the KEK new backups are encrypted with (base64)
    old-encryption.keys  rotated KEKs, one base64 key per line
    """

    def lines(key: str) -> list[bytes]:
        return [ln.strip() for ln in data.get(key, b"").splitlines() if ln.strip()]

    signing = data.get(SIGNING_DATA_KEY)
    kek = data.get(ENCRYPTION_DATA_KEY)
    trusted, old = f"{source}#{TRUSTED_DATA_KEY}", f"{source}#{OLD_ENCRYPTION_DATA_KEY}"
    return Keyring.build(
        signing=parse_signing_key(signing, f"{source}#{SIGNING_DATA_KEY}") if signing else None,
        trusted=[parse_public_key(k, trusted) for k in lines(TRUSTED_DATA_KEY)],
        kek=parse_kek(kek, f"{source}#{ENCRYPTION_DATA_KEY}") if kek else None,
        old_keks=[parse_kek(k, old) for k in lines(OLD_ENCRYPTION_DATA_KEY)],
    )
