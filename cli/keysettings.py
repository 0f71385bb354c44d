"""The key settings of a configured location, and turning them into a Keyring.

    signing_key          a reference to the Ed25519 private key new backups are signed with
    trusted_keys         older public keys (`ed25519:<base64>` or a PEM file) that still
                         verify old backups; the signing key's own is always trusted
    encryption_key       a reference to the KEK new backups are encrypted with
    old_encryption_keys  references to rotated KEKs that still read old backups

A reference is a file path or `secret:NAMESPACE/NAME[#KEY]` (read through the current
kubeconfig, only when used). Nothing secret is stored in the config file itself.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import typer

from backupd.cluster import client as kube_api
from backupd.errors import UserInputError
from backupd.trust.keys import (
    ENCRYPTION_DATA_KEY,
    SIGNING_DATA_KEY,
    Kek,
    Keyring,
    SecretFetcher,
    SigningKey,
    VerifyKey,
    load_ref,
    parse_kek,
    parse_public_key,
    parse_signing_key,
)


def secret_fetcher() -> SecretFetcher:
    """Reads a Secret through the current kubeconfig (only when a reference needs it)."""

    def fetch(namespace: str, name: str) -> Mapping[str, bytes]:
        with kube_api.KubeClient.from_kubeconfig(None) as kube:
            secret = kube.get(f"/api/v1/namespaces/{namespace}/secrets/{name}")
        data = secret.get("data") or {}
        return {k: base64.b64decode(v) for k, v in data.items() if isinstance(v, str)}

    return fetch


def _strings(raw: Mapping[str, Any], key: str, where: str) -> list[str]:
    value = raw.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UserInputError(f"{where}: {key} must be a list of strings")
    return list(value)


def _string(raw: Mapping[str, Any], key: str, where: str) -> str | None:
    value = raw.get(key)
    if value is not None and not isinstance(value, str):
        raise UserInputError(f"{where}: {key} must be a string")
    return value


@dataclass
class KeySettings:
    signing_key: str | None = None
    trusted_keys: list[str] = field(default_factory=list)
    encryption_key: str | None = None
    old_encryption_keys: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], where: str) -> KeySettings:
        return cls(
            signing_key=_string(raw, "signing_key", where),
            trusted_keys=_strings(raw, "trusted_keys", where),
            encryption_key=_string(raw, "encryption_key", where),
            old_encryption_keys=_strings(raw, "old_encryption_keys", where),
        )

    def to_dict(self) -> dict[str, Any]:
        """Only the settings in use (an entry without keys looks as it always did)."""
        out: dict[str, Any] = {}
        if self.signing_key:
            out["signing_key"] = self.signing_key
        if self.trusted_keys:
            out["trusted_keys"] = list(self.trusted_keys)
        if self.encryption_key:
            out["encryption_key"] = self.encryption_key
        if self.old_encryption_keys:
            out["old_encryption_keys"] = list(self.old_encryption_keys)
        return out

    def any(self) -> bool:
        return bool(self.to_dict())

    # -- loading ----------------------------------------------------------------------

    def load_signing(self, fetch: SecretFetcher | None) -> SigningKey | None:
        if not self.signing_key:
            return None
        data, source = load_ref(
            self.signing_key, default_data_key=SIGNING_DATA_KEY, private=True, fetch_secret=fetch
        )
        return parse_signing_key(data, source)

    def load_trusted(self, fetch: SecretFetcher | None) -> list[VerifyKey]:
        keys: list[VerifyKey] = []
        for ref in self.trusted_keys:
            if ref.startswith("ed25519:"):
                keys.append(parse_public_key(ref.encode(), "a trusted key in the config"))
            else:
                data, source = load_ref(
                    ref, default_data_key="signing.pub", private=False, fetch_secret=fetch
                )
                keys.append(parse_public_key(data, source))
        return keys

    def _kek(self, ref: str, fetch: SecretFetcher | None) -> Kek:
        data, source = load_ref(
            ref, default_data_key=ENCRYPTION_DATA_KEY, private=True, fetch_secret=fetch
        )
        return parse_kek(data, source)

    def keyring(self, fetch: SecretFetcher | None) -> Keyring:
        """Every key the settings name, loaded (files read, Secrets fetched)."""
        if not self.any():
            return Keyring()
        return Keyring.build(
            signing=self.load_signing(fetch),
            trusted=self.load_trusted(fetch),
            kek=self._kek(self.encryption_key, fetch) if self.encryption_key else None,
            old_keks=[self._kek(ref, fetch) for ref in self.old_encryption_keys],
        )


AllowUnsignedOption: Any = typer.Option(
    False,
    "--allow-unsigned",
    help="accept a backup that is not signed, in a location that trusts signing keys "
    "(a bad signature is refused all the same)",
)
