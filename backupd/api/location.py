"""StorageLocation: where backups go (a URL), with which credentials and access mode."""

from __future__ import annotations

import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from backupd.api import API_VERSION
from backupd.api.common import Model, ObjectMeta


class LocationAccessMode(StrEnum):
    """The same values as backupd.storage.location.AccessMode (api/ imports no storage)."""

    read_write = "ReadWrite"
    read_only = "ReadOnly"


class LocationFormat(StrEnum):
    """What the location holds: Backupd's backups, or Velero's (read-only)."""

    # Velero: the controller restores from them and never writes, deletes or expires them.

    backupd = "Backupd"
    velero = "Velero"


class SecretRef(Model):
    """A Secret whose data are env-like keys (AWS_ACCESS_KEY_ID, ...); in the controller's
    namespace unless `namespace` says otherwise."""

    name: str
    namespace: str | None = None


class StorageLocationSpec(Model):
    url: str
    credential: SecretRef | None = None
    # The location's keys (backupd.trust.keys.keyring_from_secret): a Secret with
    # signing.key, trusted.keys, encryption.key and old-encryption.keys, each optional.
    keys: SecretRef | None = None
    default: bool = False
    access_mode: LocationAccessMode = LocationAccessMode.read_write
    format: LocationFormat = LocationFormat.backupd


class LocationPhase(StrEnum):
    available = "Available"
    unavailable = "Unavailable"


class StorageLocationStatus(Model):
    phase: LocationPhase | None = None
    last_validated: datetime.datetime | None = None
    message: str | None = None


class StorageLocation(Model):
    api_version: str = API_VERSION
    kind: Literal["StorageLocation"] = "StorageLocation"
    metadata: ObjectMeta
    spec: StorageLocationSpec
    status: StorageLocationStatus = Field(default_factory=StorageLocationStatus)
