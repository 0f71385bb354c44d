"""`backupctl location`: name storage locations, and prove one works."""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from backupd.errors import StorageError
from backupd.storage import sealing
from backupd.storage.location import DEFAULT_URL, AccessMode, Location, open_store
from backupd.storage.urls import redact
from backupd.trust.keys import generate_kek, generate_signing_key, write_private_file
from cli.completion import location_names
from cli.config import (
    LocationEntry,
    editing,
    load_config,
    location_format,
    resolve_location,
)
from cli.keysettings import KeySettings, secret_fetcher
from cli.output import OutputFormat, OutputOption, console, emit, info, print_table

app = typer.Typer(no_args_is_help=True, help="Add, show, delete and check storage locations.")

PROBE_PREFIX = "backupd-check/"
_COLUMNS = ["NAME", "URL", "ACCESS MODE", "DEFAULT"]


_WIDE = ["FORMAT", "SIGNING KEY", "TRUSTED KEYS", "ENCRYPTION KEY"]


def _wide(entry: dict[str, Any]) -> list[Any]:
    return [
        entry.get("format") or "backupd",
        entry.get("signing_key") or "-",
        len(entry.get("trusted_keys") or []),
        entry.get("encryption_key") or "-",
    ]


def _row(entry: dict[str, Any]) -> list[Any]:
    return [entry["name"], entry["url"], entry["access_mode"], "*" if entry["default"] else ""]


@app.command()
def add(
    name: str = typer.Argument(..., help="a name for the location (a DNS-1123 label)"),
    url: str = typer.Option(
        ..., "--url", help="file:///path, s3://bucket/prefix or gs://bucket/prefix"
    ),
    access_mode: str = typer.Option(
        "ReadWrite", "--access-mode", metavar="ReadWrite|ReadOnly", help="ReadWrite or ReadOnly"
    ),
    default: bool = typer.Option(False, "--default", help="use it when no --location is given"),
    signing_key: str = typer.Option(
        None, "--signing-key", help="sign backups: a key file or secret:NAMESPACE/NAME[#KEY]"
    ),
    trust_key: list[str] = typer.Option(
        [], "--trust-key", help="also verify with this public key (ed25519:... or a file)"
    ),
    encryption_key: str = typer.Option(
        None, "--encryption-key", help="encrypt backups: a key file or secret:NAMESPACE/NAME"
    ),
    format_: str = typer.Option(
        None,
        "--format",
        help="velero: it holds Velero's backups, read-only to backupd "
        "(default: backupd's, and Velero backups found there are read too)",
    ),
    output: OutputFormat = OutputOption,
) -> None:
    """Store a named location in the config file (nothing is contacted).

    URLs: file:///PATH, s3://BUCKET[/PREFIX][?PARAM=VALUE&...] or
    gs://BUCKET[/PREFIX][?PARAM=VALUE&...]. Credentials never go in the URL: they come
    from the AWS and Google default chains (env vars, profiles, workload identity).

    \b
    s3:// parameters (all optional):
      region            AWS region (default: the AWS chain)
      endpoint          http(s)://HOST[:PORT] of an S3-compatible server (MinIO)
      ca_bundle         PEM file of CAs to trust for an https endpoint
      profile           AWS shared-config profile
      addressing_style  path | virtual | auto
      sse               AES256 | aws:kms (server-side encryption on every write)
      kms_key_id        KMS key id or ARN for sse=aws:kms
      sse_c_key         base64 32-byte SSE-C key (better: $BACKUPD_S3_SSE_C_KEY)
      object_lock_mode  GOVERNANCE | COMPLIANCE, with object_lock_days=N
      max_attempts      tries per request (default 5); retry_mode standard | adaptive
      connect_timeout   seconds (default 10); read_timeout seconds (default 60)
      part_size_mib     multipart part size (default 16, min 5)

    \b
    gs:// parameters (all optional):
      endpoint          http(s)://HOST[:PORT] of an emulator (fake-gcs-server)
      project           project id
      chunk_size_mib    upload/download chunk (default 16)
      retry_timeout     seconds to keep retrying (default 120)
      timeout           seconds per request (default 60)
    """
    keys = KeySettings(signing_key, list(trust_key), encryption_key)
    entry = LocationEntry(name, url, AccessMode.parse(access_mode), default, keys)
    entry.format = location_format(format_, "unknown location format")
    open_store(url)  # validates the URL offline; malformed URLs never reach the file
    keys.keyring(secret_fetcher())  # every key must load before it reaches the file
    with editing() as config:
        config.add(entry)
    shown = entry.shown()
    emit(shown, output, lambda: print_table(_COLUMNS, [_row(shown)]))
    info(f"location {name!r} saved in {config.path}")


@app.command()
def get(
    name: str = typer.Argument(
        None, help="one location (default: all)", autocompletion=location_names
    ),
    output: OutputFormat = OutputOption,
) -> None:
    """Show the configured locations (-o wide: also their format and keys)."""
    config = load_config()
    chosen = [config.get(name)] if name is not None else list(config.locations.values())
    entries = [e.shown() for e in chosen]

    def table(wide: bool = False) -> None:
        if not entries:
            info(f"no locations configured in {config.path}; backups go to {DEFAULT_URL}")
            return
        columns = [*_COLUMNS, *_WIDE] if wide else _COLUMNS
        print_table(columns, [_row(e) + (_wide(e) if wide else []) for e in entries])

    emit(entries[0] if name is not None else entries, output, table, lambda: table(wide=True))


@app.command("set-default")
def set_default(
    name: str = typer.Argument(
        ..., help="the location commands use when none is given", autocompletion=location_names
    ),
    output: OutputFormat = OutputOption,
) -> None:
    """Make a configured location the default one ($BACKUPD_LOCATION and --location
    still override it).
    """
    with editing() as config:
        entry = config.set_default(name)
    shown = entry.shown()
    emit(shown, output, lambda: info(f"location {name!r} is the default ({shown['url']})"))


@app.command()
def delete(
    name: str = typer.Argument(..., help="the location to forget", autocompletion=location_names),
    output: OutputFormat = OutputOption,
) -> None:
    """Forget a named location (its bucket and backups are not touched)."""
    with editing() as config:
        entry = config.remove(name)
    emit({"deleted": entry.name}, output, lambda: info(f"location {name!r} deleted"))


def _step(steps: list[dict[str, Any]], name: str, live: bool, action: Callable[[], str]) -> None:
    started = time.monotonic()
    detail = action()
    ms = round((time.monotonic() - started) * 1000)
    steps.append({"step": name, "ok": True, "ms": ms, "detail": detail})
    if live:
        console.print(f"{name:<7} ok  {ms:>5} ms  {detail}", highlight=False)


def run_check(location: Location, *, live: bool = False) -> list[dict[str, Any]]:
    """Write, read, list and delete a probe object; raises on the first failing step."""
    key = f"{PROBE_PREFIX}probe-{secrets.token_hex(6)}"
    data = secrets.token_bytes(4096)
    digest = hashlib.sha256(data).hexdigest()
    steps: list[dict[str, Any]] = []
    written = False

    def write() -> str:
        nonlocal written
        result = location.put_bytes(key, data)
        written = True
        if result.sha256 != digest or result.size != len(data):
            raise StorageError(f"the store reported a wrong size or digest for {key}")
        return f"{key} ({len(data)} bytes)"

    def read() -> str:
        location.get_bytes(key, sha256=digest)
        return "sha256 verified"

    def list_() -> str:
        if key not in location.list(PROBE_PREFIX):
            raise StorageError(f"{key} was written but is missing from the listing")
        return f"found under {PROBE_PREFIX}"

    def delete_() -> str:
        location.delete(key)
        if location.exists(key):
            raise StorageError(f"{key} still exists after delete")
        return "gone"

    try:
        for name, action in (
            ("write", write),
            ("read", read),
            ("list", list_),
            ("delete", delete_),
        ):
            _step(steps, name, live, action)
    except BaseException:
        if written:
            with contextlib.suppress(Exception):  # best effort; the real error is reported
                location.delete(key)
        raise
    return steps


@app.command()
def check(
    name_or_url: str = typer.Argument(
        ...,
        metavar="NAME_OR_URL",
        help="a configured location's name, or a URL",
        autocompletion=location_names,
    ),
    output: OutputFormat = OutputOption,
) -> None:
    """Prove a location works: write, read, list and delete a probe object."""
    location = resolve_location(name_or_url, announce=False)  # it says which below
    live = output is OutputFormat.table
    if live:
        console.print(f"checking {location.url} ({location.access_mode.value})", highlight=False)
    steps = run_check(location, live=live)
    result = {
        "location": name_or_url if "://" not in name_or_url else None,
        "url": location.url,
        "ok": True,
        "steps": steps,
    }
    emit(result, output, lambda: console.print(f"location {redact(name_or_url)} is usable"))


@app.command()
def download(
    name_or_url: str = typer.Argument(
        ...,
        metavar="NAME_OR_URL",
        help="a configured location's name, or a URL",
        autocompletion=location_names,
    ),
    key: str = typer.Argument(..., help="object key, e.g. backups/NAME/backup.json"),
    dest: Path = typer.Argument(..., help="file to write (created 0600)"),
    sha256: str = typer.Option(None, "--sha256", help="refuse the data unless it has this digest"),
    force: bool = typer.Option(False, "--force", help="replace an existing file"),
    output: OutputFormat = OutputOption,
) -> None:
    """Copy one object, as stored, to a new local file (0600), verifying its sha256 if
    given; an existing file is kept unless --force."""
    location = resolve_location(name_or_url, access_mode=AccessMode.ReadOnly, announce=False)
    size = sealing.save(lambda: location.get(key, sha256=sha256), dest, force=force)
    data = {"key": key, "path": str(dest), "size": size, "verified": sha256 is not None}
    emit(data, output, lambda: info(f"{key} -> {dest} ({size} bytes)"))


def _keep_trusting_current(keys: KeySettings) -> None:
    """Before the signing key changes, trust its public key, so old backups verify."""
    current = keys.load_signing(secret_fetcher())
    if current is not None:
        text = current.verify_key.text()
        if text not in keys.trusted_keys:
            keys.trusted_keys.append(text)


def _keep_current_kek(keys: KeySettings) -> None:
    if keys.encryption_key and keys.encryption_key not in keys.old_encryption_keys:
        keys.old_encryption_keys.append(keys.encryption_key)


@app.command("set")
def set_(
    name: str = typer.Argument(
        ..., help="the location whose keys change", autocompletion=location_names
    ),
    signing_key: str = typer.Option(
        None, "--signing-key", help="sign new backups with this key (the old one stays trusted)"
    ),
    trust_key: list[str] = typer.Option([], "--trust-key", help="also trust this public key"),
    untrust_key: list[str] = typer.Option([], "--untrust-key", help="stop trusting this key id"),
    encryption_key: str = typer.Option(
        None, "--encryption-key", help="encrypt new backups with this key (the old one is kept)"
    ),
    old_encryption_key: list[str] = typer.Option(
        [], "--old-encryption-key", help="a rotated key that still reads old backups"
    ),
    no_encryption: bool = typer.Option(
        False, "--no-encryption", help="new backups are not encrypted (old keys are kept)"
    ),
    output: OutputFormat = OutputOption,
) -> None:
    """Change the keys of a location: signing, trusted public keys, encryption."""
    with editing() as config:
        keys = config.get(name).keys
        if signing_key is not None and signing_key != keys.signing_key:
            _keep_trusting_current(keys)
            keys.signing_key = signing_key
        keys.trusted_keys += [k for k in trust_key if k not in keys.trusted_keys]
        if encryption_key is not None and encryption_key != keys.encryption_key:
            _keep_current_kek(keys)
            keys.encryption_key = encryption_key
        if no_encryption:
            _keep_current_kek(keys)
            keys.encryption_key = None
        keys.old_encryption_keys += [
            k for k in old_encryption_key if k not in keys.old_encryption_keys
        ]
        if untrust_key:
            fetch = secret_fetcher()
            kept = [
                ref
                for ref, key in zip(keys.trusted_keys, keys.load_trusted(fetch), strict=True)
                if key.key_id not in untrust_key
            ]
            keys.trusted_keys = kept
        keyring = keys.keyring(secret_fetcher())  # every key must load before it is saved
    shown = {"name": name, **keyring.describe()}
    emit(shown, output, lambda: info(f"location {name!r}: {_describe_keys(shown)}"))


def _describe_keys(keys: dict[str, Any]) -> str:
    parts = [f"signing key {keys['signing_key'] or 'none'}"]
    parts.append(f"trusted {', '.join(keys['trusted_keys']) or 'none'}")
    parts.append(f"encryption key {keys['encryption_key'] or 'none'}")
    if keys["old_encryption_keys"]:
        parts.append(f"old encryption keys {', '.join(keys['old_encryption_keys'])}")
    return "; ".join(parts)


@app.command()
def keygen(
    name: str = typer.Argument(
        ..., help="the location that gets the new key", autocompletion=location_names
    ),
    directory: Path = typer.Option(
        None, "--dir", help="where to write the key files (default: next to the config file)"
    ),
    encryption: bool = typer.Option(
        False, "--encryption", help="an encryption key (AES-256) instead of a signing key"
    ),
    output: OutputFormat = OutputOption,
) -> None:
    """Make a new key (files created 0600) and use it for the location's new backups.

    A signing key is an Ed25519 pair (NAME-ID.key, NAME-ID.pub); the previous signing
    key stays trusted, so older backups still verify. An encryption key (NAME-ID.kek)
    replaces the previous one for new backups, which is kept to read older backups.
    """
    with editing() as config:
        keys = config.get(name).keys
        where = directory or config.path.parent / "keys"
        where.mkdir(mode=0o700, parents=True, exist_ok=True)
        if encryption:
            kek = generate_kek()
            path = where / f"{name}-{kek.key_id}.kek"
            write_private_file(path, kek.text())
            _keep_current_kek(keys)
            keys.encryption_key = str(path)
            made: dict[str, Any] = {"encryption_key": kek.key_id, "path": str(path)}
        else:
            key = generate_signing_key()
            path = where / f"{name}-{key.key_id}.key"
            _keep_trusting_current(keys)
            write_private_file(path, key.pem())
            write_private_file(path.with_suffix(".pub"), key.verify_key.text().encode() + b"\n")
            keys.signing_key = str(path)
            made = {
                "signing_key": key.key_id,
                "path": str(path),
                "public_key": key.verify_key.text(),
            }
        keyring = keys.keyring(secret_fetcher())
    result = {"name": name, **made, "keys": keyring.describe()}
    emit(
        result,
        output,
        lambda: info(f"new key {path} for location {name!r}; {_describe_keys(keyring.describe())}"),
    )
