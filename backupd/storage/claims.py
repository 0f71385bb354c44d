"""Claims: exactly one writer per backup name.

Before a backup does any work it creates `backups/<name>/claim.json` with a
conditional create (S3 `If-None-Match: *`, GCS `ifGenerationMatch=0`, a local hard
link): of two runs with one name exactly one creates it, and the other is told at
once that the backup already exists, having written nothing. The claim records who
holds it (a random token, pid, the process's start time, host, boot id, time) and
stays with the backup for its life; `catalog` deletes it last.

A run that stops before it stored anything else gives the name back (`release`). A
run killed mid-write leaves its claim and perhaps unfinished uploads: `sweep` (run by
every new claim) aborts the uploads of claims whose process is gone from this host,
and `backup delete` removes the rest.
"""

from __future__ import annotations

import datetime
import json
import logging
import secrets
from dataclasses import dataclass

from backupd.errors import StorageError, UserInputError
from backupd.storage.base import ObjectExists, ObjectNotFound
from backupd.storage.layout import metadata_key, validate_name
from backupd.storage.location import Location
from backupd.storage.staging import Owner

CLAIM_FILE = "claim.json"

log = logging.getLogger(__name__)


def claim_key(kind: str, name: str) -> str:
    """`<kind>/<name>/claim.json`, next to the metadata object."""
    return metadata_key(kind, name).rsplit("/", 1)[0] + "/" + CLAIM_FILE


@dataclass(frozen=True)
class Claim:
    kind: str
    name: str
    token: str
    owner: Owner
    at: str

    @property
    def key(self) -> str:
        return claim_key(self.kind, self.name)

    @classmethod
    def mine(cls, kind: str, name: str) -> Claim:
        at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        return cls(kind, name, secrets.token_hex(16), Owner.me(), at)

    def to_bytes(self) -> bytes:
        owner = self.owner
        document = {
            "name": self.name,
            "token": self.token,
            "claimedAt": self.at,
            "owner": {"pid": owner.pid, "started": owner.started, "host": owner.host},
            "boot": owner.boot,
        }
        return json.dumps(document, indent=2).encode()

    @classmethod
    def parse(cls, kind: str, name: str, data: bytes) -> Claim | None:
        """The claim in `data`, or None if it is not one (read leniently)."""
        try:
            document = json.loads(data)
        except (UnicodeDecodeError, ValueError):
            return None
        if not isinstance(document, dict) or not isinstance(document.get("owner"), dict):
            return None
        owner = Owner.from_dict({**document["owner"], "boot": document.get("boot", "")})
        token, at = document.get("token"), document.get("claimedAt")
        if owner is None or not isinstance(token, str):
            return None
        return cls(kind, name, token, owner, at if isinstance(at, str) else "")

    def describe(self) -> str:
        alive = self.owner.alive()
        who = f"{self.owner.describe()} since {self.at or 'an unknown time'}"
        if alive is False:
            return f"its writer ({who}) is gone and it never completed"
        if alive:
            return f"it is being written by {who}"
        return f"claimed by {who}"


def read(location: Location, kind: str, name: str) -> Claim | None:
    """The claim of `<kind>/<name>`, or None if there is none (or it is unreadable)."""
    try:
        return Claim.parse(kind, name, location.get_bytes(claim_key(kind, name)))
    except ObjectNotFound:
        return None


def _exists_error(location: Location, kind: str, name: str, holder: Claim | None) -> UserInputError:
    what = kind.rstrip("s")
    hint = None
    if holder is not None:
        hint = holder.describe()
        if holder.owner.alive() is False:
            hint += f"; `backupctl {what} delete {name}` removes what it left"
    return UserInputError(f"{what} {name!r} already exists in {location.url}", hint=hint)


def claim(location: Location, name: str, kind: str = "backups") -> Claim:
    """Claim `<kind>/<name>` for this process, or raise UserInputError "already
    exists" having written nothing. Unfinished uploads of dead claims go first."""
    validate_name(name, kind.rstrip("s"))
    sweep(location, kind)
    if location.exists(metadata_key(kind, name)):
        raise _exists_error(location, kind, name, None)
    mine = Claim.mine(kind, name)
    try:
        location.put_bytes_if_absent(mine.key, mine.to_bytes())
    except ObjectExists:
        raise _exists_error(location, kind, name, read(location, kind, name)) from None
    if location.exists(metadata_key(kind, name)):
        # Committed (by a version that wrote no claim) between our check and the claim.
        location.delete(mine.key)
        raise _exists_error(location, kind, name, None)
    return mine


def release(location: Location, mine: Claim) -> bool:
    """Give the name back if nothing but our claim was stored under it; True if done.
    Anything else stored (a partial or failed backup) keeps the claim with it."""
    prefix = mine.key.rsplit("/", 1)[0] + "/"
    try:
        if location.list(prefix) != [mine.key] or location.pending_uploads(prefix):
            return False
        holder = read(location, mine.kind, mine.name)
        if holder is None or holder.token != mine.token:
            return False
        location.delete(mine.key)
    except StorageError as e:  # the run's own error says what happened to storage
        log.info("could not release the claim %s: %s", mine.key, e)
        return False
    return True


def sweep(location: Location, kind: str = "backups") -> list[str]:
    """Abort the unfinished uploads under `<kind>/` whose claim belongs to a process of
    this host that is gone (killed mid-upload); returns their keys. Storage that
    refuses to list uploads (a narrow IAM policy) is never fatal: it only leaves
    debris for `backup delete`."""
    if location.read_only:
        return []
    aborted: list[str] = []
    try:
        uploads = location.pending_uploads(f"{kind}/")
        holders: dict[str, Claim | None] = {}
        for upload in uploads:
            parts = upload.key.split("/")
            if len(parts) < 3:
                continue
            name = parts[1]
            if name not in holders:
                try:
                    holders[name] = read(location, kind, name)
                except UserInputError:  # not a valid name: not ours to judge
                    holders[name] = None
            holder = holders[name]
            if holder is not None and holder.owner.alive() is False:
                location.abort_upload(upload)
                aborted.append(upload.key)
    except StorageError as e:  # unreachable storage fails the claim itself, next
        log.info("could not look for unfinished uploads in %s: %s", location.url, e)
    for key in aborted:
        log.info("aborted the unfinished upload of %s (its writer is gone)", key)
    return aborted
