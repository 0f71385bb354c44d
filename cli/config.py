"""The backupctl config file: named storage locations, and which one is the default.

Path: $BACKUPD_CONFIG, else ~/.config/backupd/config.yaml. Shape:

    locations:
    - name: prod
      url: s3://backups/prod?region=eu-west-1
      access_mode: ReadWrite
      default: true
      signing_key: ~/.config/backupd/keys/prod-1a2b.key    # or secret:NAMESPACE/NAME[#KEY]
      trusted_keys: [ed25519:BASE64...]                   # older public keys (rotation)
      encryption_key: ~/.config/backupd/keys/prod-3c4d.kek  # or secret:NAMESPACE/NAME[#KEY]
      old_encryption_keys: [~/.config/backupd/keys/prod-0f0f.kek]

No credentials live here: they come from the environment (the usual AWS and Google
chains); key settings are references to files (0600) or Secrets, or public keys.
Keys this module does not know are kept as they are when the file is saved.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from backupd.errors import NotFoundError, UserInputError
from backupd.storage.layout import validate_name
from backupd.storage.local import parse_file_url
from backupd.storage.location import (
    DEFAULT_URL,
    LOCATION_ENV,
    AccessMode,
    Location,
    open_location,
)
from backupd.storage.urls import redact
from backupd.trust.keys import ENCRYPTION_DATA_KEY, Keyring, load_ref, parse_kek
from cli.keysettings import KeySettings, secret_fetcher
from cli.output import info

CONFIG_ENV = "BACKUPD_CONFIG"
FORMATS = ("backupd", "velero")  # what a location holds (backupd.storage.velero)


def config_path() -> Path:
    env = os.environ.get(CONFIG_ENV)
    return Path(env) if env else Path.home() / ".config" / "backupd" / "config.yaml"


@dataclass
class LocationEntry:
    name: str
    url: str
    access_mode: AccessMode = AccessMode.ReadWrite
    default: bool = False
    keys: KeySettings = field(default_factory=KeySettings)
    format: str | None = None  # "velero": Velero's backups, read-only; None: backupd's

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "url": self.url,
            "access_mode": self.access_mode.value,
            "default": self.default,
            **({"format": self.format} if self.format else {}),
            **self.keys.to_dict(),
        }

    def shown(self) -> dict[str, Any]:
        """As printed: secret URL parameters redacted."""
        return self.to_dict() | {"url": redact(self.url)}


@dataclass
class CliConfig:
    path: Path
    locations: dict[str, LocationEntry] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def default_location(self) -> LocationEntry | None:
        return next((e for e in self.locations.values() if e.default), None)

    def get(self, name: str) -> LocationEntry:
        entry = self.locations.get(name)
        if entry is None:
            raise NotFoundError(
                f"location {name!r} not found in {self.path}",
                hint="list them with: backupctl location get; or give a URL such as "
                "file:///path or s3://bucket/prefix",
            )
        return entry

    def add(self, entry: LocationEntry) -> None:
        validate_name(entry.name, "location")
        if entry.name in self.locations:
            raise UserInputError(
                f"location {entry.name!r} already exists in {self.path}",
                hint=f"delete it first: backupctl location delete {entry.name}",
            )
        if entry.default:
            for other in self.locations.values():
                other.default = False
        self.locations[entry.name] = entry

    def set_default(self, name: str) -> LocationEntry:
        """Make `name` the default location (the only one)."""
        entry = self.get(name)
        for other in self.locations.values():
            other.default = other is entry
        return entry

    def remove(self, name: str) -> LocationEntry:
        entry = self.get(name)
        del self.locations[name]
        return entry


def _entry(raw: Any, path: Path, index: int) -> LocationEntry:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise UserInputError(f"config file {path}: locations[{index}] needs a name")
    if not isinstance(raw.get("url"), str):
        raise UserInputError(f"config file {path}: location {raw['name']!r} needs a url")
    return LocationEntry(
        name=raw["name"],
        url=raw["url"],
        access_mode=AccessMode.parse(str(raw.get("access_mode") or "ReadWrite")),
        default=bool(raw.get("default", False)),
        keys=KeySettings.from_dict(raw, f"config file {path}: location {raw['name']!r}"),
        format=location_format(raw.get("format"), f"config file {path}: format"),
    )


def location_format(value: object, what: str) -> str | None:
    """A location's declared format, lower-cased (None: not declared); `what` starts the
    error, e.g. "unknown location format"."""
    if value is None or str(value).lower() in FORMATS:
        return str(value).lower() if value is not None else None
    raise UserInputError(f"{what} {str(value)[:40]!r}; use backupd or velero")


def load_config(path: Path | None = None) -> CliConfig:
    """Read the config file; a missing file is an empty config."""
    path = path or config_path()
    try:
        text = path.read_text()
    except FileNotFoundError:
        return CliConfig(path)
    except OSError as e:
        raise UserInputError(f"cannot read config file {path}: {e.strerror}") from None
    import yaml  # once there is a file (13 ms of a start; none without a config)

    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise UserInputError(f"config file {path} is not valid YAML{where}") from None
    if not isinstance(data, dict):
        raise UserInputError(f"config file {path} must be a YAML mapping")
    raw_locations = data.pop("locations", None) or []
    if not isinstance(raw_locations, list):
        raise UserInputError(f"config file {path}: locations must be a list")
    config = CliConfig(path, extra=data)
    for i, raw in enumerate(raw_locations):
        entry = _entry(raw, path, i)
        config.locations[entry.name] = entry
    return config


def save_config(config: CliConfig) -> None:
    """Write the config atomically, readable by its owner only."""
    import yaml

    data = dict(config.extra)
    data["locations"] = [e.to_dict() for e in config.locations.values()]
    path = config.path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".config-", dir=path.parent)
        with os.fdopen(fd, "w") as f:
            yaml.safe_dump(data, f, sort_keys=False, default_flow_style=False)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError, UnboundLocalError):
            os.unlink(tmp)
        raise UserInputError(f"cannot write config file {path}: {e.strerror}") from None


@contextlib.contextmanager
def editing() -> Iterator[CliConfig]:
    """Load, let the caller change, and save the config (only if no error was raised)."""
    config = load_config()
    yield config
    save_config(config)


def _stricter(a: AccessMode, b: AccessMode | None) -> AccessMode:
    return AccessMode.ReadOnly if AccessMode.ReadOnly in (a, b) else AccessMode.ReadWrite


def resolve_location(
    name_or_url: str | None,
    *,
    access_mode: AccessMode | str | None = None,
    allow_unsigned: bool = False,
    encryption_key: str | None = None,
    announce: bool = True,
) -> Location:
    """The location a command should use, with the keys of its config entry (see
    `choose_location`). `allow_unsigned` accepts unsigned backups where keys are trusted;
    `encryption_key` (a key reference) encrypts new backups with that key. With
    `announce`, a location other than the config's default is named on stderr."""
    chosen = choose_location(name_or_url, access_mode=access_mode)
    if announce and chosen.source is not Source.config_default:
        info(chosen.describe())
    location, entry = chosen.location, chosen.entry
    keyring = entry.keys.keyring(secret_fetcher()) if entry is not None else Keyring()
    if encryption_key is not None:
        data, source = load_ref(
            encryption_key,
            default_data_key=ENCRYPTION_DATA_KEY,
            private=True,
            fetch_secret=secret_fetcher(),
        )
        keyring = keyring.with_kek(parse_kek(data, source))
    location.keyring = keyring.allowing_unsigned(allow_unsigned)
    # a declared format, else backupd's backups and any Velero backup found by its layout
    location.format = (entry.format if entry is not None else None) or "auto"
    return location


class Source(StrEnum):
    """Where the location a command uses was chosen."""

    flag = "--location"
    env = f"${LOCATION_ENV}"
    config_default = "the config's default"
    built_in = "the built-in default"


@dataclass(frozen=True)
class Chosen:
    location: Location
    entry: LocationEntry | None
    source: Source

    def describe(self) -> str:
        shown = redact(self.location.url)
        what = f"{self.entry.name} ({shown})" if self.entry is not None else shown
        why = {
            Source.flag: "from --location",
            Source.env: f"from ${LOCATION_ENV}",
            Source.built_in: f"the built-in default: no default location in {config_path()}",
            Source.config_default: "the config's default",
        }[self.source]
        return f"location: {what}, {why}"


def choose_location(
    name_or_url: str | None, *, access_mode: AccessMode | str | None = None
) -> Chosen:
    """The location a command should use, and why.

    None -> $BACKUPD_LOCATION (as $KUBECONFIG overrides ~/.kube/config), then the
    config's default location, then DEFAULT_URL. Anything containing '://' (or any
    ':') is a URL; anything else names a location in the config.
    A ReadOnly location stays ReadOnly whatever `access_mode` asks; asking for
    ReadOnly makes any location read-only for this use, and a file:// location that
    does not exist is then an error (there is nothing to read), not an empty one.
    """
    wanted = AccessMode.parse(access_mode) if access_mode is not None else None
    source = Source.flag
    entry: LocationEntry | None = None
    if name_or_url is None:
        name_or_url = os.environ.get(LOCATION_ENV) or None
        source = Source.env
    if name_or_url is None:
        entry = load_config().default_location()
        source = Source.config_default
        if entry is None:
            name_or_url, source = DEFAULT_URL, Source.built_in
    if entry is None and name_or_url is not None:
        entry = _entry_named(name_or_url)
    if entry is None:
        assert name_or_url is not None
        location = open_location(name_or_url, access_mode=wanted or AccessMode.ReadWrite)
    else:
        location = open_location(entry.url, access_mode=_stricter(entry.access_mode, wanted))
    if wanted is AccessMode.ReadOnly:
        _require_existing(location, source)
    return Chosen(location, entry, source)


def _entry_named(name_or_url: str) -> LocationEntry | None:
    """The config entry `name_or_url` names, or None for a URL."""
    if ":" in name_or_url:  # a URL, or a malformed one ("s3:/x"): names have no ':'
        return None
    try:
        validate_name(name_or_url, "location")
    except UserInputError:
        raise UserInputError(
            f"{name_or_url[:80]!r} is neither a location name nor a URL",
            hint="use a name from `backupctl location get`, or a URL such as "
            "file:///path, s3://bucket/prefix or gs://bucket/prefix",
        ) from None
    return load_config().get(name_or_url)


def _require_existing(location: Location, source: Source) -> None:
    """A file:// location to read from must exist: a typo is not an empty location."""
    if not location.url.startswith("file:"):
        return
    root = parse_file_url(location.url)
    if not root.is_dir():
        raise NotFoundError(
            f"location {location.url} does not exist: no directory {root}",
            hint=f"chosen by {source.value}; check the path, or see: backupctl location get",
        )
