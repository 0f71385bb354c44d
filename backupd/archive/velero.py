"""A Velero backup's tarball, read as a backupd archive with an index.

Velero writes every item as `resources/<resource>[.<group>]/<dir>/<name>.json`, where
`<dir>` is `namespaces/<ns>` or `cluster`, once without a version directory and once
under `<version>-preferredversion/` (other versions too, with EnableAPIGroupVersions),
plus `metadata/version` ("1.1.0"). It keeps no index and no digests, so:

    index_tarball(open, source)    one pass: every member's name checked, each item's
                                   JSON read once to learn its group, version and kind
                                   (the directory names only its group-resource), the
                                   preferred version's copy chosen, and an Index built
                                   with each item's size and sha256
    VeleroReader(open, index, ...) an ArchiveReader whose later passes must find exactly
                                   those bytes again (the object may not change between)
    opened_velero(location, backup) what backupd.archive.stored.opened gives for a
                                   Velero backup

Untrusted input: the tar reader's protections (backupd.archive.tar: no links, no
absolute or `..` names), at most MAX_MEMBERS members of at most MAX_MEMBER_SIZE
bytes, names that backupd's own index would accept, and decompression stopped beyond
MAX_RATIO times the compressed bytes read (after the first MIN_BOMB_CHECK bytes) or
MAX_TOTAL bytes in all.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import orjson

from backupd.api.backup import Backup
from backupd.archive.format import MAX_ITEMS, MAX_MEMBER_SIZE, MIB, IndexEntry, InvalidEntry
from backupd.archive.index import DECOMPRESS_ERRORS, Index, bulk
from backupd.archive.reader import ArchiveReader, Keep, Opener, drain
from backupd.archive.tar import TarProblem, TarStream
from backupd.errors import ArchiveError, NotFoundError, StorageNotFound
from backupd.storage.location import Location
from backupd.storage.velero import VeleroKeys

FORMAT = "velero"
MAX_MEMBERS = 4 * MAX_ITEMS  # each item twice, and a few versions of some
MAX_TOTAL = 64 * 1024 * MIB
MAX_RATIO = 200  # JSON in tar.gz compresses ~10-30x; a gzip bomb ~1000x
MIN_BOMB_CHECK = 64 * MIB
MAX_VERSION_FILE = 64
PREFERRED = "-preferredversion"
_VERSION_DIR = re.compile(r"[a-z][a-z0-9]{0,62}")
_GROUP_RESOURCE = re.compile(r"[a-z0-9]([-a-z0-9]{0,251}[a-z0-9])?(\.[-a-z0-9.]{1,253})?")


@dataclass(frozen=True)
class ItemPath:
    """Where a member sits: its group-resource, version directory ('' for none)."""

    group_resource: str
    version_dir: str
    namespace: str | None
    name: str

    @property
    def resource(self) -> str:
        return self.group_resource.split(".", 1)[0]

    @property
    def group(self) -> str:
        parts = self.group_resource.split(".", 1)
        return parts[1] if len(parts) == 2 else ""

    @property
    def preferred(self) -> bool:
        return self.version_dir.endswith(PREFERRED)


def item_path(member: str) -> ItemPath | None:
    """The item a member name holds; None for a member that is not an item (metadata/).
    A name under resources/ that does not fit the layout raises TarProblem."""
    parts = member.split("/")
    if parts[0] != "resources":
        return None
    bad = TarProblem(f"member {member[:200]} is not where Velero puts an item")
    if len(parts) < 4 or not _GROUP_RESOURCE.fullmatch(parts[1]) or ".." in parts[1]:
        raise bad
    rest = parts[2:]
    version = ""
    if rest[0] not in ("namespaces", "cluster"):
        version = rest.pop(0)
        core = version[: -len(PREFERRED)] if version.endswith(PREFERRED) else version
        if not _VERSION_DIR.fullmatch(core):
            raise bad
    if rest[:1] == ["cluster"] and len(rest) == 2:
        namespace, filename = None, rest[1]
    elif rest[:1] == ["namespaces"] and len(rest) == 3:
        namespace, filename = rest[1], rest[2]
    else:
        raise bad
    if not filename.endswith(".json"):
        raise bad
    return ItemPath(parts[1], version, namespace, filename[: -len(".json")])


def _entry(where: ItemPath, data: bytes, member: str) -> IndexEntry:
    """The index entry of an item, from its JSON: the directory gives its group-resource,
    namespace and name; the object must agree, and gives its version and kind."""
    try:
        obj: Any = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise TarProblem(f"member {member[:200]} is not JSON") from None
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    api_version, kind = (obj.get("apiVersion"), obj.get("kind")) if meta else (None, None)
    if not isinstance(meta, dict) or not isinstance(api_version, str):
        raise TarProblem(f"member {member[:200]} is not a Kubernetes object")
    group, _, version = api_version.rpartition("/")
    if group != where.group or (meta.get("namespace") or None) != where.namespace:
        raise TarProblem(f"member {member[:200]} holds an object of {api_version[:80]} elsewhere")
    if meta.get("name") != where.name:
        raise TarProblem(f"member {member[:200]} holds an object of another name")
    try:
        return IndexEntry.from_dict(
            {
                "group": where.group,
                "version": version,
                "kind": kind,
                "resource": where.resource,
                "namespace": where.namespace,
                "name": where.name,
                "sha256": hashlib.sha256(data).hexdigest(),
                "size": len(data),
            }
        )
    except InvalidEntry as e:
        raise TarProblem(f"member {member[:200]}: {e}") from None


class _Bounded:
    """A decompressed stream that stops a gzip bomb: at most MAX_RATIO times the
    compressed bytes read once past MIN_BOMB_CHECK, and MAX_TOTAL in all."""

    def __init__(self, raw: BinaryIO) -> None:
        self.compressed = 0
        self.plain = 0
        self._raw = raw
        self._stream = gzip.GzipFile(fileobj=self, mode="rb")  # type: ignore[call-overload]

    def read(self, n: int = -1) -> bytes:  # the compressed side, for the decompressor
        data = self._raw.read(n)
        self.compressed += len(data)
        return data

    def read_plain(self, n: int) -> bytes:
        data: bytes = self._stream.read(n)
        self.plain += len(data)
        if self.plain > MIN_BOMB_CHECK and self.plain > MAX_RATIO * max(self.compressed, 1):
            raise TarProblem(f"it decompresses more than {MAX_RATIO} times its size")
        return data


Visit = Callable[[str, int, TarStream], None]


def _walk(raw: BinaryIO, visit: Visit) -> None:
    """Every regular member of the tarball in `raw` (bounded), to `visit`, which reads
    or skips its data."""
    tar = TarStream(_Bounded(raw).read_plain, MAX_TOTAL)
    members = 0
    while (member := tar.next()) is not None:
        if member.directory:
            continue
        members += 1
        if members > MAX_MEMBERS:
            raise TarProblem(f"it holds more than {MAX_MEMBERS} members")
        if member.size > MAX_MEMBER_SIZE:
            raise TarProblem(f"member {member.name[:200]} is over {MAX_MEMBER_SIZE} bytes")
        visit(member.name, member.size, tar)


def _skip(tar: TarStream, size: int) -> None:
    for _ in tar.chunks(size):
        pass


def _check_version(data: bytes) -> str:
    text = data.decode("ascii", "replace").strip()
    if not re.fullmatch(r"1(\.\d+){0,2}", text):
        raise TarProblem(f"its format version {text[:20]!r} is not one this backupd reads (1.x)")
    return text


@dataclass
class VeleroIndex:
    """The items of a Velero tarball, and which member holds each one."""

    index: Index
    members: dict[str, IndexEntry] = field(default_factory=dict)  # member name -> entry
    format_version: str = ""


def _choose(found: dict[Key, tuple[str, IndexEntry, bool]]) -> VeleroIndex:
    entries = sorted((e for _, e, _ in found.values()), key=lambda e: e.path)
    header = {"format": FORMAT, "items": len(entries)}
    result = VeleroIndex(Index.of(header, entries, "a Velero backup"))
    for member, entry, _ in found.values():
        result.members[member] = entry
    return result


Key = tuple[str, str | None, str]  # group-resource, namespace, name


class _Indexer:
    """The items of one pass. Velero writes an item's unversioned copy just before its
    preferred version's: that copy is held (one member at most) and parsed only if no
    preferred copy follows it (an older Velero), so each item is parsed once."""

    def __init__(self) -> None:
        self.found: dict[Key, tuple[str, IndexEntry, bool]] = {}  # member, entry, preferred
        self.seen: set[str] = set()
        self.version = ""
        self.pending: tuple[Key, ItemPath, str, bytes] | None = None

    def settle(self, unless: Key | None = None) -> None:
        held, self.pending = self.pending, None
        if held is not None and held[0] != unless and held[0] not in self.found:
            key, where, member, data = held
            self.found[key] = (member, _entry(where, data, member), False)

    def visit(self, name: str, size: int, tar: TarStream) -> None:
        if name in self.seen:
            raise TarProblem(f"member {name[:200]} appears twice")
        self.seen.add(name)
        where = item_path(name)
        key = (where.group_resource, where.namespace, where.name) if where else None
        self.settle(unless=key if where is not None and where.preferred else None)
        if name == "metadata/version":
            if size > MAX_VERSION_FILE:
                raise TarProblem(f"its metadata/version has {size} bytes")
            self.version = _check_version(tar.data(size))
            return
        held = self.found.get(key) if key is not None else None
        if where is None or key is None or (held is not None and held[2]):
            _skip(tar, size)  # not an item, or its preferred copy is indexed
        elif where.preferred:
            self.found[key] = (name, _entry(where, tar.data(size), name), True)
        elif where.version_dir == "" and held is None:
            self.pending = (key, where, name, tar.data(size))
        else:
            _skip(tar, size)  # another version (EnableAPIGroupVersions)


def index_tarball(raw: BinaryIO, source: str) -> VeleroIndex:
    """Read a Velero tarball once and index its items (see the module docstring)."""
    indexer = _Indexer()

    def walk() -> None:
        _walk(raw, indexer.visit)
        indexer.settle()

    _guarded(source, walk, raw)
    result = _choose(indexer.found)
    result.format_version = indexer.version
    return result


def _guarded(source: str, action: Callable[[], None], raw: BinaryIO) -> None:
    try:
        try:
            with bulk():
                action()
        except TarProblem as e:
            raise ArchiveError(f"the archive of {source} is refused: {e}") from None
        except DECOMPRESS_ERRORS as e:
            raise ArchiveError(
                f"the archive of {source} is refused: it is not a valid gzip stream ({e})"
            ) from None
    except ArchiveError:
        drain(raw)
        raise


class VeleroReader(ArchiveReader):
    """Later passes over the tarball: exactly the indexed items' bytes, found again."""

    def __init__(self, archive: Opener, velero: VeleroIndex, *, source: str) -> None:
        super().__init__(archive, velero.index, source=source)
        self.velero = velero

    def scan(self, keep: Keep, index: Index | None = None) -> None:
        members = self.velero.members
        missing = set(members)

        def visit(name: str, size: int, tar: TarStream) -> None:
            entry = members.get(name)
            if entry is None:
                _skip(tar, size)
                return
            if name not in missing:
                raise TarProblem(f"member {name[:200]} appears twice")
            missing.discard(name)
            data = tar.data(size)
            if size != entry.size or hashlib.sha256(data).hexdigest() != entry.sha256:
                raise TarProblem(f"member {name[:200]} changed since it was indexed")
            keep(entry, data)

        with self._open() as raw:
            _guarded(self.source, lambda: _walk(raw, visit), raw)
        if missing:
            raise self._refused(f"{len(missing)} item(s) are gone, e.g. {min(missing)[:200]}")


def velero_index(location: Location, backup: Backup) -> VeleroIndex:
    name = backup.metadata.name
    with _contents(location, name) as raw:
        return index_tarball(raw, f"Velero backup {name}")


@contextmanager
def _contents(location: Location, name: str) -> Iterator[BinaryIO]:
    key = VeleroKeys(name).contents
    try:
        with location.get(key) as raw:
            yield raw
    except StorageNotFound as e:
        raise NotFoundError(f"the archive of Velero backup {name} is missing: {e}") from e


def reader_of(location: Location, backup: Backup) -> VeleroReader:
    """The indexed tarball of a Velero backup (one pass now, one per read later)."""
    name = backup.metadata.name
    velero = velero_index(location, backup)
    return VeleroReader(lambda: _contents(location, name), velero, source=f"Velero backup {name}")
