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
from backupd.storage.location import DEFAULT_URL, AccessMode, Location, open_store
from backupd.storage.urls import redact
from cli.config import LocationEntry, editing, load_config, resolve_location
from cli.output import OutputFormat, OutputOption, console, emit, info, print_table

app = typer.Typer(no_args_is_help=True, help="Add, show, delete and check storage locations.")

PROBE_PREFIX = "backupd-check/"
_COLUMNS = ["NAME", "URL", "ACCESS MODE", "DEFAULT"]


def _row(entry: dict[str, Any]) -> list[Any]:
    return [entry["name"], entry["url"], entry["access_mode"], "*" if entry["default"] else ""]


@app.command()
def add(
    name: str = typer.Argument(..., help="a name for the location (a DNS-1123 label)"),
    url: str = typer.Option(
        ..., "--url", help="file:///path, s3://bucket/prefix or gs://bucket/prefix"
    ),
    access_mode: str = typer.Option("ReadWrite", "--access-mode", help="ReadWrite or ReadOnly"),
    default: bool = typer.Option(False, "--default", help="use it when no --location is given"),
    output: OutputFormat = OutputOption,
) -> None:
    """Store a named location in the config file (nothing is contacted)."""
    entry = LocationEntry(name, url, AccessMode.parse(access_mode), default)
    open_store(url)  # validates the URL offline; malformed URLs never reach the file
    with editing() as config:
        config.add(entry)
    shown = entry.shown()
    emit(shown, output, lambda: print_table(_COLUMNS, [_row(shown)]))
    info(f"location {name!r} saved in {config.path}")


@app.command()
def get(
    name: str = typer.Argument(None, help="one location (default: all)"),
    output: OutputFormat = OutputOption,
) -> None:
    """Show the configured locations."""
    config = load_config()
    if name is not None:
        one = config.get(name).shown()
        emit(one, output, lambda: print_table(_COLUMNS, [_row(one)]))
        return
    entries = [e.shown() for e in config.locations.values()]

    def table() -> None:
        if not entries:
            info(f"no locations configured in {config.path}; backups go to {DEFAULT_URL}")
            return
        print_table(_COLUMNS, [_row(e) for e in entries])

    emit(entries, output, table)


@app.command()
def delete(name: str = typer.Argument(...), output: OutputFormat = OutputOption) -> None:
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
    name_or_url: str = typer.Argument(..., metavar="NAME_OR_URL"),
    output: OutputFormat = OutputOption,
) -> None:
    """Prove a location works: write, read, list and delete a probe object."""
    location = resolve_location(name_or_url)
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
    name_or_url: str = typer.Argument(..., metavar="NAME_OR_URL"),
    key: str = typer.Argument(..., help="object key, e.g. backups/NAME/backup.json"),
    dest: Path = typer.Argument(..., help="file to write"),
    sha256: str = typer.Option(None, "--sha256", help="refuse the data unless it has this digest"),
    output: OutputFormat = OutputOption,
) -> None:
    """Copy one object to a local file, verifying its sha256 if given."""
    location = resolve_location(name_or_url, access_mode=AccessMode.ReadOnly)
    location.download(key, dest, sha256=sha256)
    size = dest.stat().st_size
    data = {"key": key, "path": str(dest), "size": size, "verified": sha256 is not None}
    emit(data, output, lambda: info(f"{key} -> {dest} ({size} bytes)"))
