"""A backup's sealed objects: signed backup.json, encrypted archive and index.

    record_bytes        backup.json as stored: signed when the location has a signing key
    new_envelope        a fresh data key for a backup, when the location encrypts
    put_file            upload one local file (encrypted under the envelope, if any)
    backup_object       stream a backup's archive or index back: key from the layout,
                        digest verified, decrypted with the location's keys
    download_to         the same into a new 0600 file (`backup download`); `save` for
                        any stream (`location download`), never replacing a file

Everything read here comes from a record already loaded through backupd.storage.records
(signature checked, keys matching the layout); the keys are derived again from the
backup's name, so a record can never make us read or write another object.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO, Literal

import orjson

from backupd.api.backup import Backup, Encryption
from backupd.api.common import StoredObject
from backupd.api.progress import NEVER, Cancel
from backupd.errors import NotFoundError, TrustError, UserInputError
from backupd.storage.layout import BackupKeys
from backupd.storage.location import Location
from backupd.storage.streams import CHUNK, stopping
from backupd.trust.chunked import DecryptingReader, EncryptingReader
from backupd.trust.envelope import Envelope, open_envelope, seal
from backupd.trust.keys import Keyring
from backupd.trust.signing import signed

Role = Literal["archive", "index"]


def check_can_write(keyring: Keyring, url: str) -> None:
    """Refuse early to write where the backup could not be read back: a location that
    trusts keys but cannot sign would refuse its own unsigned backups."""
    if keyring.trusted and keyring.signing is None:
        raise TrustError(
            f"location {url} trusts signing keys but has no signing key to sign new backups",
            hint="set one with: backupctl location set NAME --signing-key PATH",
        )


def record_bytes(backup: Backup, keyring: Keyring) -> bytes:
    """backup.json as stored, with its signature when the location has a signing key.

    The signature is computed over the document as a reader will parse it back."""
    document = json.loads(orjson.dumps(backup.to_json_dict()))
    return orjson.dumps(signed(document, keyring.signing), option=orjson.OPT_INDENT_2)


def new_envelope(keyring: Keyring, backup: str) -> Envelope | None:
    return seal(keyring.kek, backup) if keyring.kek is not None else None


def encryption_of(envelope: Envelope | None) -> Encryption | None:
    if envelope is None:
        return None
    return Encryption(
        algorithm=envelope.algorithm, key_id=envelope.key_id, wrapped_key=envelope.wrapped_key
    )


def _context(backup: str, role: str) -> bytes:
    return f"backupd {backup} {role}".encode()


def put_file(
    location: Location,
    key: str,
    path: Path,
    *,
    envelope: Envelope | None = None,
    backup: str = "",
    role: str = "",
    cancel: Cancel = NEVER,
) -> StoredObject:
    """Upload `path` to `key`; encrypted (streaming) when `envelope` is given. The
    size and sha256 recorded are those of the stored bytes. Once `cancel` is set the
    upload stops at its next chunk (Cancelled) and the store aborts it."""
    with path.open("rb") as raw:
        f = stopping(raw, cancel)
        stream: BinaryIO = f
        if envelope is not None:
            encrypting = EncryptingReader(f, envelope.file_key(role), _context(backup, role))
            stream = io.BufferedReader(encrypting, CHUNK)
        result = location.put(key, stream)
    return StoredObject(key=key, size=result.size, sha256=result.sha256)


def envelope_of(backup: Backup, keyring: Keyring) -> Envelope | None:
    """The data key of an encrypted backup (None: not encrypted); TrustError if the
    location lacks its key or the wrapped key does not unwrap."""
    enc = backup.status.encryption
    if enc is None:
        return None
    return open_envelope(
        keyring,
        backup.metadata.name,
        algorithm=enc.algorithm,
        key_id=enc.key_id,
        wrapped_key=enc.wrapped_key,
    )


def _stored(backup: Backup, role: Role) -> tuple[str, StoredObject]:
    """The layout's key of `role` and what the record says was stored there."""
    name = backup.metadata.name
    st = backup.status
    recorded = st.archive if role == "archive" else st.index
    if st.archive is None or st.index is None or recorded is None:
        raise NotFoundError(
            f"backup {name} has no archive (phase {st.phase}: "
            f"{st.failure_reason or 'nothing was stored'})"
        )
    keys = BackupKeys(name)
    return (keys.archive(backup.spec.compression) if role == "archive" else keys.index), recorded


@contextlib.contextmanager
def backup_object(location: Location, backup: Backup, role: Role) -> Iterator[BinaryIO]:
    """The plaintext of a backup's archive or index, streamed from its location.

    `backup` is a record loaded through backupd.storage.records (signature checked);
    the key comes from the layout and the backup's name. The stored sha256 is checked
    at the end of the stream (IntegrityError), and an encrypted object is decrypted
    with the location's keys as it streams (TrustError, naming the backup, on a wrong
    key or tampered data). A block left early still reads the rest, so a `with` block
    that completes normally always means every byte checked out.
    """
    key, recorded = _stored(backup, role)
    name = backup.metadata.name
    envelope = envelope_of(backup, location.keyring)
    with location.get(key, sha256=recorded.sha256) as raw:
        if envelope is None:
            yield raw
            return
        what = f"the {role} of backup {name}"
        decrypting = DecryptingReader(raw, envelope.file_key(role), _context(name, role), what)
        plain = io.BufferedReader(decrypting, CHUNK)
        yield plain
        while plain.read(CHUNK):
            pass


def _create_private(path: Path) -> BinaryIO:
    """A new file, mode 0600 from the start; never an existing file or a symlink."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    return os.fdopen(os.open(path, flags, 0o600), "wb")


Opener = Callable[[], AbstractContextManager[BinaryIO]]


def _write_new(source: Opener, dest: Path) -> int:
    """Copy the stream `source` opens into `dest`, a new file created 0600 (never an
    existing file or a symlink: FileExistsError); on any failure `dest` is removed."""
    size = 0
    with _create_private(dest) as out:
        try:
            with source() as stream:
                while chunk := stream.read(CHUNK):
                    out.write(chunk)
                    size += len(chunk)
        except BaseException:
            with contextlib.suppress(OSError):
                dest.unlink()
            raise
    return size


def save(source: Opener, dest: Path, *, force: bool = False) -> int:
    """Write what `source` streams into `dest` as one step: a new 0600 file beside it,
    then linked into place (never replacing anything), or with `force` renamed over it.
    An existing `dest` (even a dangling symlink) is refused before anything is read.
    Returns the size written."""
    if not force and os.path.lexists(dest):
        raise UserInputError(f"{dest} already exists", hint="pass --force to replace it")
    tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.part")
    try:
        size = _write_new(source, tmp)
        if force:
            os.replace(tmp, dest)
        else:
            try:
                os.link(tmp, dest)
            except FileExistsError:
                raise UserInputError(
                    f"{dest} already exists", hint="pass --force to replace it"
                ) from None
    except OSError as e:
        raise UserInputError(f"cannot write {dest}: {e.strerror}") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return size


def download_to(
    location: Location, backup: Backup, role: Role, dest: Path, *, force: bool = False
) -> int:
    """The plaintext of a backup's archive or index (every check of `backup_object`)
    saved to `dest` (see `save`: 0600, never replacing a file unless `force`)."""
    return save(lambda: backup_object(location, backup, role), dest, force=force)
