"""StorageLocation resources: which location a backup uses, and whether it answers.

A Backup names its location (`spec.storageLocation`); without one it goes to the
location marked `default`. Credentials come from the Secret the location refers to.
Every location is checked on each sync: Available if it can be listed, Unavailable
(with the reason) if not. Nothing is ever written to a ReadOnly location.
"""

from __future__ import annotations

import base64
import logging
import threading
from dataclasses import dataclass

from pydantic import ValidationError

from backupd.api.common import now
from backupd.api.location import (
    LocationAccessMode,
    LocationFormat,
    LocationPhase,
    StorageLocation,
)
from backupd.controller.resources import Resources
from backupd.errors import BackupdError, NotFoundError, UserInputError
from backupd.storage.location import Location, open_location
from backupd.trust.keys import keyring_from_secret

PLURAL = "storagelocations"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Resolved:
    name: str
    location: Location
    resource: StorageLocation


class Locations:
    def __init__(self, res: Resources) -> None:
        self.res = res
        self._cache: dict[tuple[str, str], Location] = {}
        self._lock = threading.Lock()

    def _open(self, obj: dict[str, object], loc: StorageLocation) -> Location:
        meta = obj.get("metadata")
        version = str(meta.get("resourceVersion", "")) if isinstance(meta, dict) else ""
        key = (loc.metadata.name, version)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        credentials = None
        if loc.spec.credential is not None:
            credentials = self._secret(loc.spec.credential.name, loc.spec.credential.namespace)
        mode = "ReadOnly" if loc.spec.access_mode is LocationAccessMode.read_only else "ReadWrite"
        opened = open_location(loc.spec.url, access_mode=mode, credentials=credentials)
        # Velero's backups only where the resource says so (never found by detection
        # here: the controller expires and deletes what it lists); read-only then.
        opened.format = "velero" if loc.spec.format is LocationFormat.velero else "backupd"
        if loc.spec.keys is not None:  # signing and encryption (backupd.trust)
            ns = loc.spec.keys.namespace or self.res.namespace
            data = self._secret_bytes(loc.spec.keys.name, ns)
            opened.keyring = keyring_from_secret(data, f"Secret {ns}/{loc.spec.keys.name}")
        with self._lock:
            self._cache[key] = opened
        return opened

    def _secret_bytes(self, name: str, namespace: str) -> dict[str, bytes]:
        data = self.res.kube.get(f"/api/v1/namespaces/{namespace}/secrets/{name}").get("data")
        return {k: base64.b64decode(v) for k, v in (data or {}).items()}

    def _secret(self, name: str, namespace: str | None) -> dict[str, str]:
        ns = namespace or self.res.namespace
        data = self.res.kube.get(f"/api/v1/namespaces/{ns}/secrets/{name}").get("data") or {}
        return {k: base64.b64decode(v).decode() for k, v in data.items()}

    def all(self) -> list[Resolved]:
        """Every StorageLocation that parses and opens (the others are marked Unavailable)."""
        out: list[Resolved] = []
        for obj in self.res.list(PLURAL):
            name = obj["metadata"]["name"]
            try:
                loc = StorageLocation.from_stored(obj)
                out.append(Resolved(name, self._open(obj, loc), loc))
            except (ValidationError, BackupdError) as e:
                self._mark(name, LocationPhase.unavailable, f"invalid: {_short(e)}")
        return out

    def resolve(self, name: str | None) -> Resolved:
        """The location called `name`, or the default one. NotFoundError if there is none."""
        found = self.all()
        if name is not None:
            for r in found:
                if r.name == name:
                    return r
            raise NotFoundError(f"storage location {name} not found in {self.res.namespace}")
        defaults = [r for r in found if r.resource.spec.default]
        if len(defaults) == 1:
            return defaults[0]
        if len(found) == 1:
            return found[0]
        if not defaults:
            raise NotFoundError(
                f"no default storage location in {self.res.namespace}",
                hint="mark one with spec.default: true or name one in spec.storageLocation",
            )
        names = ", ".join(r.name for r in defaults)
        raise UserInputError(f"several storage locations are marked default: {names}")

    def check(self, r: Resolved) -> bool:
        """List the location once; record Available or Unavailable. True if it answered."""
        try:
            next(iter(r.location.iter_keys("backups/")), None)
        except BackupdError as e:
            self._mark(r.name, LocationPhase.unavailable, _short(e))
            return False
        mode = r.resource.spec.access_mode.value
        self._mark(r.name, LocationPhase.available, f"{mode}, {r.location.url}")
        return True

    def _mark(self, name: str, phase: LocationPhase, message: str) -> None:
        status = {"phase": phase.value, "lastValidated": now().isoformat(), "message": message}
        try:
            self.res.patch_status(PLURAL, name, status)
        except BackupdError as e:
            log.warning("cannot update storage location %s: %s", name, e)


def _short(e: Exception) -> str:
    return str(e).splitlines()[0][:300] if str(e) else type(e).__name__
