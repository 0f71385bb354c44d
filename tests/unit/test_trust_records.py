"""Sealed backups in a real local store: signed records, encrypted objects, keys from
the layout, and `download` that never overwrites and writes 0600 files."""

from __future__ import annotations

import gzip
import json
import os
import stat
from pathlib import Path

import pytest

from backupd.api.backup import Backup
from backupd.api.common import ObjectMeta, Phase, StoredObject
from backupd.errors import ArchiveError, IntegrityError, TrustError, UserInputError
from backupd.storage import records, sealing
from backupd.storage.layout import BackupKeys
from backupd.storage.location import Location, open_location
from backupd.trust.keys import Kek, Keyring, SigningKey, generate_kek, generate_signing_key

CANARY = b"canary-s3cr3t-value-4f1c"


def store(tmp_path: Path, keyring: Keyring) -> Location:
    location = open_location((tmp_path / "store").as_uri())
    location.keyring = keyring
    return location


def commit(
    location: Location, work: Path, name: str = "nightly", payload: bytes = CANARY * 1000
) -> Backup:
    """What the backup engine stores: archive and index (sealed), then backup.json."""
    keys = BackupKeys(name)
    src = work / f"src-{name}"
    src.mkdir()
    (src / "a").write_bytes(gzip.compress(payload))
    (src / "i").write_bytes(gzip.compress(b'{"items": []}\n' + payload))
    backup = Backup(metadata=ObjectMeta(name=name))
    envelope = sealing.new_envelope(location.keyring, name)
    backup.status.encryption = sealing.encryption_of(envelope)
    backup.status.archive = sealing.put_file(
        location, keys.archive(), src / "a", envelope=envelope, backup=name, role="archive"
    )
    backup.status.index = sealing.put_file(
        location, keys.index, src / "i", envelope=envelope, backup=name, role="index"
    )
    backup.status.phase = Phase.completed
    location.put_bytes(keys.metadata, sealing.record_bytes(backup, location.keyring))
    return backup


def read(location: Location, name: str, role: sealing.Role = "archive") -> bytes:
    backup = records.load_backup(location, name)
    with sealing.backup_object(location, backup, role) as stream:
        return gzip.decompress(stream.read())


def ring() -> tuple[SigningKey, Kek, Keyring]:
    key, kek = generate_signing_key(), generate_kek()
    return key, kek, Keyring.build(signing=key, kek=kek)


def raw_bucket_bytes(tmp_path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (tmp_path / "store").rglob("*") if p.is_file())


def test_a_signed_encrypted_backup_reads_back_and_the_bucket_holds_no_plaintext(
    tmp_path: Path,
) -> None:
    _, kek, keyring = ring()
    location = store(tmp_path, keyring)
    commit(location, tmp_path)
    assert read(location, "nightly") == CANARY * 1000
    assert read(location, "nightly", "index").endswith(CANARY)
    loaded = records.load_backup(location, "nightly")
    assert loaded.signature is not None and loaded.status.encryption is not None
    assert loaded.status.encryption.key_id == kek.key_id
    assert CANARY not in raw_bucket_bytes(tmp_path)
    assert kek.secret not in raw_bucket_bytes(tmp_path)


def test_a_wrong_encryption_key_is_one_line_naming_the_key(tmp_path: Path) -> None:
    key, kek, keyring = ring()
    location = store(tmp_path, keyring)
    commit(location, tmp_path)
    location.keyring = Keyring.build(signing=key, kek=generate_kek())
    with pytest.raises(TrustError, match=f"encrypted with key {kek.key_id}, which this location"):
        read(location, "nightly")


def test_a_rotated_key_still_reads_old_backups(tmp_path: Path) -> None:
    old_key, old_kek, keyring = ring()
    location = store(tmp_path, keyring)
    commit(location, tmp_path, "old")
    new_key, new_kek = generate_signing_key(), generate_kek()
    location.keyring = Keyring.build(
        signing=new_key, trusted=[old_key.verify_key], kek=new_kek, old_keks=[old_kek]
    )
    commit(location, tmp_path, "new")
    assert read(location, "old") == read(location, "new") == CANARY * 1000
    assert records.load_backup(location, "new").status.encryption.key_id == new_kek.key_id  # type: ignore[union-attr]


def test_a_tampered_byte_in_the_archive_is_refused(tmp_path: Path) -> None:
    _, _, keyring = ring()
    location = store(tmp_path, keyring)
    commit(location, tmp_path)
    path = tmp_path / "store" / BackupKeys("nightly").archive()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40
    path.write_bytes(bytes(data))
    with pytest.raises((TrustError, IntegrityError)) as e:
        read(location, "nightly")
    assert "nightly" in str(e.value) and "\n" not in str(e.value)


def test_a_tampered_byte_in_backup_json_is_refused(tmp_path: Path) -> None:
    key, _, keyring = ring()
    location = store(tmp_path, keyring)
    commit(location, tmp_path)
    path = tmp_path / "store" / BackupKeys("nightly").metadata
    path.write_bytes(path.read_bytes().replace(b'"Completed"', b'"PartiallyFailed"'))
    with pytest.raises(TrustError) as e:
        records.load_backup(location, "nightly")
    assert str(e.value) == (
        f"backup nightly: signature does not verify with key {key.key_id}; "
        "the backup may have been tampered with"
    )
    listing = records.list_backups(location)
    assert listing.records == [] and "does not verify" in listing.skipped[0].reason


def test_a_forged_unsigned_backup_is_refused_unless_allowed(tmp_path: Path) -> None:
    _, _, keyring = ring()
    location = store(tmp_path, Keyring())
    commit(location, tmp_path, "forged")  # written by someone without the key: unsigned, in clear
    location.keyring = keyring
    with pytest.raises(TrustError, match="backup forged is not signed"):
        records.load_backup(location, "forged")
    location.keyring = keyring.allowing_unsigned()
    assert read(location, "forged") == CANARY * 1000


def test_a_backup_signed_with_another_key_is_refused(tmp_path: Path) -> None:
    _, _, keyring = ring()
    location = store(tmp_path, Keyring.build(signing=generate_signing_key()))
    commit(location, tmp_path, "forged")
    location.keyring = keyring.allowing_unsigned()
    with pytest.raises(TrustError, match="which this location does not trust"):
        records.load_backup(location, "forged")


def test_a_record_naming_another_key_as_its_archive_is_refused_before_any_download(
    tmp_path: Path,
) -> None:
    location = store(tmp_path, Keyring())
    commit(location, tmp_path)
    path = tmp_path / "store" / BackupKeys("nightly").metadata
    doc = json.loads(path.read_bytes())
    doc["status"]["archive"]["key"] = "backups/nightly/.bashrc"
    path.write_text(json.dumps(doc))
    with pytest.raises(ArchiveError, match=r"names 'backups/nightly/\.bashrc' as its archive"):
        records.load_backup(location, "nightly")


def test_the_object_read_is_the_layouts_whatever_the_record_says(tmp_path: Path) -> None:
    location = store(tmp_path, Keyring())
    backup = commit(location, tmp_path)
    assert backup.status.archive is not None
    backup.status.archive = StoredObject(key="backups/nightly/.bashrc", size=1, sha256="0" * 64)
    # reads resources.tar.gz (the layout's key), whose digest is not 000...
    with pytest.raises(IntegrityError), sealing.backup_object(location, backup, "archive") as s:
        s.read()


def test_download_writes_0600_and_never_overwrites_without_force(tmp_path: Path) -> None:
    _, _, keyring = ring()
    location = store(tmp_path, keyring)
    commit(location, tmp_path)
    backup = records.load_backup(location, "nightly")
    dest = tmp_path / "out" / "nightly.tar.gz"
    dest.parent.mkdir()
    old_umask = os.umask(0)
    try:
        sealing.download_to(location, backup, "archive", dest)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert gzip.decompress(dest.read_bytes()) == CANARY * 1000
    dest.write_bytes(b"mine")
    with pytest.raises(UserInputError, match=r"already exists.*--force"):
        sealing.download_to(location, backup, "archive", dest)
    assert dest.read_bytes() == b"mine"
    link = tmp_path / "out" / "link.tar.gz"
    link.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UserInputError, match="already exists"):
        sealing.download_to(location, backup, "archive", link)
    assert not (tmp_path / "elsewhere").exists()
    sealing.download_to(location, backup, "archive", dest, force=True)
    assert gzip.decompress(dest.read_bytes()) == CANARY * 1000
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert sorted(p.name for p in dest.parent.iterdir()) == ["link.tar.gz", "nightly.tar.gz"]


def test_a_location_that_trusts_keys_but_cannot_sign_refuses_to_write() -> None:
    keyring = Keyring.build(trusted=[generate_signing_key().verify_key])
    with pytest.raises(TrustError, match="no signing key"):
        sealing.check_can_write(keyring, "file:///b")
    sealing.check_can_write(Keyring(), "file:///b")
