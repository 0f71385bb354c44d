"""Pure pieces of the format: member paths and index entries."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from backupd.kinds.naming import item_where, resource_dir  # noqa: F401 (re-exported)

FORMAT_VERSION = 1
INDEX_MEMBER = "index.jsonl"


def member_path(resource: str, group: str, namespace: str | None, name: str) -> str:
    base = f"resources/{resource_dir(resource, group)}"
    if namespace:
        return f"{base}/namespaces/{namespace}/{name}.json"
    return f"{base}/cluster/{name}.json"


@dataclass(frozen=True)
class IndexEntry:
    """One object in a backup."""

    group: str
    version: str
    kind: str
    resource: str
    namespace: str | None
    name: str
    sha256: str
    size: int

    @property
    def path(self) -> str:
        return member_path(self.resource, self.group, self.namespace, self.name)

    @property
    def group_resource(self) -> str:
        return resource_dir(self.resource, self.group)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> tuple[str, str, str, str]:
        """Identity across backups: group, resource, namespace, name."""
        return (self.group, self.resource, self.namespace or "", self.name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> IndexEntry:
        return cls(
            group=d["group"],
            version=d["version"],
            kind=d["kind"],
            resource=d["resource"],
            namespace=d.get("namespace"),
            name=d["name"],
            sha256=d["sha256"],
            size=int(d["size"]),
        )
