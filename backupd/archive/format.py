"""Pure pieces of the format: member paths, index entries and the limits a reader keeps.

Everything read from a location is hostile until checked, so an index entry is
validated field by field when it is read (`IndexEntry.from_dict`): names that could
form a path or a URL of their own, sizes beyond the limits and malformed digests are
refused there, before anything is sized or allocated from them.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from backupd.kinds.naming import item_where as item_where  # re-exported
from backupd.kinds.naming import resource_dir as resource_dir
from backupd.kinds.shortnames import builtin_type
from backupd.kinds.spellings import TypeName

FORMAT_VERSION = 1
INDEX_MEMBER = "index.jsonl"

KIB = 1024
MIB = 1024 * KIB
BLOCK = 512

# One object's JSON. etcd refuses objects over 1.5 MiB (its default request limit),
# so 16 MiB is far above anything a real backup holds and small enough to keep in memory.
MAX_MEMBER_SIZE = 16 * MIB
# The index: one line per item (an item's line is a few hundred bytes), at most
# MAX_ITEMS items, so that reading it can never allocate without bound.
MAX_INDEX_LINE = 8 * KIB
MAX_ITEMS = 1_000_000
MAX_INDEX_BYTES = 512 * MIB
# Data of a PAX extended header or a GNU long name: a path is at most a few hundred bytes.
MAX_HEADER_DATA = 64 * KIB
# Decompressed bytes allowed beyond the members' own header and data: per member a
# PAX header (header block + data), and for the whole stream the end-of-archive
# blocks and a few directory entries other tar writers add.
SLACK_PER_MEMBER = 2 * BLOCK + 1 * KIB
SLACK_TOTAL = 1 * MIB

_NAME_MAX = 253
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_GROUP = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
_RESOURCE = re.compile(r"[a-z0-9]([-a-z0-9]{0,251}[a-z0-9])?")
_VERSION = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
_KIND = re.compile(r"[A-Za-z]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_BAD_NAME_CHARS = re.compile(r"[/%\x00-\x1f\x7f]")


def member_path(resource: str, group: str, namespace: str | None, name: str) -> str:
    base = f"resources/{resource_dir(resource, group)}"
    if namespace:
        return f"{base}/namespaces/{namespace}/{name}.json"
    return f"{base}/cluster/{name}.json"


def padded(size: int) -> int:
    """`size` rounded up to whole tar blocks."""
    return size + (-size % BLOCK)


def decompressed_limit(sizes: list[int], index_size: int) -> int:
    """The most bytes a tar stream holding members of `sizes` and an inner index of
    `index_size` bytes may decompress to; anything beyond is refused."""
    members = sum(padded(s) for s in sizes) + len(sizes) * (BLOCK + SLACK_PER_MEMBER)
    return members + BLOCK + padded(index_size) + SLACK_TOTAL


class InvalidEntry(ValueError):
    """An index line that is not a valid entry; the reader names the backup and line."""


def _text(d: dict[str, Any], key: str, pattern: re.Pattern[str]) -> str:
    value = d.get(key)
    if not isinstance(value, str):
        raise InvalidEntry(f"{key} is not a string")
    if not pattern.fullmatch(value):
        raise InvalidEntry(f"{key} {value[:80]!r} is not valid")
    return value


def _object_name(value: object) -> str:
    """A name the API server would accept as one path segment: never '.', '..', a slash or '%'."""
    if not isinstance(value, str) or not value or len(value) > _NAME_MAX:
        raise InvalidEntry(f"name {str(value)[:80]!r} is not a valid object name")
    if value in (".", "..") or _BAD_NAME_CHARS.search(value):
        raise InvalidEntry(f"name {value[:80]!r} is not a valid object name")
    return value


@dataclass(frozen=True, slots=True)
class ItemRef:
    """One object's identity and type, in a backup or in a cluster (no digest, no size):
    what backup inspection and the restore planner both name items by."""

    group: str
    version: str
    kind: str
    resource: str
    namespace: str | None
    name: str

    @property
    def key(self) -> tuple[str, str, str, str]:
        """Identity across backups and the cluster: group, resource, namespace, name."""
        return (self.group, self.resource, self.namespace or "", self.name)

    @property
    def group_resource(self) -> str:
        return resource_dir(self.resource, self.group)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @classmethod
    def of(cls, e: ItemRef) -> ItemRef:
        """Only the identity and type of `e` (an IndexEntry's digest and size dropped)."""
        return ItemRef(e.group, e.version, e.kind, e.resource, e.namespace, e.name)

    @property
    def type_name(self) -> TypeName:
        return builtin_type(self.group, self.resource, self.kind)

    def where(self) -> str:
        """`deployments.apps/shop/web`, as logs and reports name items."""
        return item_where(self.group_resource, self.namespace, self.name)

    def __str__(self) -> str:
        """`configmaps/settings -n shop`, as `backup diff` has always named items."""
        where = f" -n {self.namespace}" if self.namespace else ""
        return f"{self.group_resource}/{self.name}{where}"


@dataclass(frozen=True, slots=True)
class IndexEntry(ItemRef):
    """One object in a backup: its identity and type (ItemRef), digest and size."""

    sha256: str
    size: int

    @property
    def path(self) -> str:
        return member_path(self.resource, self.group, self.namespace, self.name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: object) -> IndexEntry:
        """A checked entry; InvalidEntry says which field is wrong."""
        if not isinstance(d, dict):
            raise InvalidEntry("not a JSON object")
        group, version, kind, resource = _type_of(d)
        namespace = _namespace(d.get("namespace"))
        size = d.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidEntry(f"size {str(size)[:40]!r} is not a byte count")
        if size > MAX_MEMBER_SIZE:
            raise InvalidEntry(
                f"an object of {size} bytes is over the limit of {MAX_MEMBER_SIZE} bytes"
            )
        sha256 = d.get("sha256")
        if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
            raise InvalidEntry(f"sha256 {str(sha256)[:80]!r} is not valid")
        return cls(
            group, version, kind, resource, namespace, _object_name(d.get("name")), sha256, size
        )


# Every line of an index repeats a few types and namespaces: each is checked once
# (and kept once in memory). The caches are small and cleared when they grow.
_TYPES: dict[tuple[object, ...], tuple[str, str, str, str]] = {}
_NAMESPACES: dict[str, str] = {}
_CACHE_MAX = 4096


def _type_of(d: dict[str, Any]) -> tuple[str, str, str, str]:
    raw = (d.get("group"), d.get("version"), d.get("kind"), d.get("resource"))
    try:
        hit = _TYPES.get(raw)
    except TypeError:  # a list or an object where a string belongs
        hit = None
    if hit is not None:
        return hit
    group = "" if raw[0] == "" else _text(d, "group", _GROUP)
    version, kind = _text(d, "version", _VERSION), _text(d, "kind", _KIND)
    checked = (group, version, kind, _text(d, "resource", _RESOURCE))
    if len(_TYPES) >= _CACHE_MAX:
        _TYPES.clear()
    _TYPES[raw] = checked
    return checked


def _namespace(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        hit = _NAMESPACES.get(value)
        if hit is not None:
            return hit
        if _DNS_LABEL.fullmatch(value):
            if len(_NAMESPACES) >= _CACHE_MAX:
                _NAMESPACES.clear()
            _NAMESPACES[value] = value
            return value
    raise InvalidEntry(f"namespace {str(value)[:80]!r} is not valid")
