"""CustomResourceDefinitions generated from the pydantic models (the one source of truth).

    python -m backupd.api.crds deploy/crds     # writes backupd.io_<plural>.yaml

The OpenAPI v3 schemas are structural: every `$ref` inlined, `anyOf [X, null]` becomes
X with `nullable: true`, titles and pydantic's `additionalProperties: false` dropped
(the API server prunes unknown fields instead). Defaults stay in the models: the
controller applies them when it reads an object, so a CR holds only what was written.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from backupd.api import GROUP, VERSION
from backupd.api.backup import Backup
from backupd.api.drillschedule import DrillSchedule
from backupd.api.location import StorageLocation
from backupd.api.restore import Restore
from backupd.api.schedule import Schedule

_DROP = frozenset({"title", "default", "additionalProperties", "$defs", "examples"})


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    json_path: str
    priority: int = 0

    def to_dict(self) -> dict[str, Any]:
        column: dict[str, Any] = {"name": self.name, "type": self.type, "jsonPath": self.json_path}
        if self.priority:
            column["priority"] = self.priority
        return column


@dataclass(frozen=True)
class Kind:
    model: type[BaseModel]
    plural: str
    short_names: tuple[str, ...]
    columns: tuple[Column, ...]

    @property
    def kind(self) -> str:
        return self.model.__name__


_AGE = Column("Age", "date", ".metadata.creationTimestamp")
_PHASE = Column("Phase", "string", ".status.phase")
KINDS = (
    Kind(
        Backup,
        "backups",
        ("bk",),
        (
            _PHASE,
            Column("Items", "integer", ".status.progress.itemsBackedUp"),
            Column("Errors", "string", ".status.errors[*].message"),
            Column("Warnings", "string", ".status.warnings[*].message", priority=1),
            Column(
                "Expires", "string", ".status.expiration"
            ),  # a date column shows a future time as <invalid>
            Column("Schedule", "string", ".metadata.labels.backupd\\.io/schedule", priority=1),
            _AGE,
        ),
    ),
    Kind(
        Restore,
        "restores",
        ("rs",),
        (
            Column("Backup", "string", ".status.backupName"),
            _PHASE,
            Column("Items", "integer", ".status.progress.itemsDone"),
            Column("Errors", "integer", ".status.counts.failed"),
            _AGE,
        ),
    ),
    Kind(
        Schedule,
        "schedules",
        ("sch",),
        (
            _PHASE,
            Column("Schedule", "string", ".spec.schedule"),
            Column("Paused", "boolean", ".spec.paused"),
            Column("Last Backup", "date", ".status.lastBackupTime"),
            _AGE,
        ),
    ),
    Kind(
        DrillSchedule,
        "drillschedules",
        ("drs",),
        (
            _PHASE,
            Column("Schedule", "string", ".spec.schedule"),
            Column("Verdict", "string", ".status.lastVerdict"),
            Column("RTO", "number", ".status.lastRtoSeconds"),
            Column("Last Drill", "date", ".status.lastDrillTime"),
            Column("Backup", "string", ".status.lastBackup", priority=1),
            _AGE,
        ),
    ),
    Kind(
        StorageLocation,
        "storagelocations",
        ("bsl",),
        (
            Column("URL", "string", ".spec.url"),
            _PHASE,
            Column("Default", "boolean", ".spec.default"),
            Column("Access", "string", ".spec.accessMode", priority=1),
            Column("Format", "string", ".spec.format", priority=1),
            _AGE,
        ),
    ),
)


def _structural(node: Any, defs: dict[str, Any]) -> Any:
    """Inline refs, turn Optional into nullable, drop what a CRD schema does not take."""
    if isinstance(node, list):
        return [_structural(n, defs) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _structural(defs[node["$ref"].rsplit("/", 1)[1]], defs)
    any_of = node.get("anyOf")
    if any_of is not None:
        kept = [s for s in any_of if s != {"type": "null"}]
        if len(kept) != 1:
            raise ValueError(f"cannot express anyOf {any_of} structurally")
        inner = dict(_structural(kept[0], defs))
        if len(kept) < len(any_of):
            inner["nullable"] = True
        if "description" in node:
            inner.setdefault("description", node["description"])
        return inner
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP and not (key == "additionalProperties" and isinstance(value, dict)):
            continue
        if key == "const":  # Literal["Backup"]: a fixed kind, a plain string in the CRD
            continue
        if key == "properties":
            out[key] = {k: _structural(v, defs) for k, v in value.items()}
        else:
            out[key] = _structural(value, defs)
    if out.get("additionalProperties") is not None:
        out["additionalProperties"] = _structural(node["additionalProperties"], defs)
    return out


def schema(model: type[BaseModel]) -> dict[str, Any]:
    """The structural OpenAPI v3 schema of one resource (apiVersion, kind, metadata as
    the API server defines them; spec and status from the model)."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.get("$defs", {})
    props = raw["properties"]
    top: dict[str, Any] = {
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": _structural(props["spec"], defs),
            "status": _structural(props["status"], defs),
        },
    }
    if model.__doc__:
        top["description"] = model.__doc__.strip().splitlines()[0]
    if "spec" in raw.get("required", []):
        top["required"] = ["spec"]
    return top


def crd(kind: Kind) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{kind.plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.kind.lower(),
                "shortNames": list(kind.short_names),
                "categories": ["backupd"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [c.to_dict() for c in kind.columns],
                    "schema": {"openAPIV3Schema": schema(kind.model)},
                }
            ],
        },
    }


def file_name(kind: Kind) -> str:
    return f"{GROUP}_{kind.plural}.yaml"


def render() -> dict[str, str]:
    """File name -> YAML text of every CRD."""
    header = "# Generated from backupd/api by `python -m backupd.api.crds deploy/crds`.\n"
    return {
        file_name(k): header + yaml.safe_dump(crd(k), sort_keys=False, width=100) for k in KINDS
    }


def write(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render().items():
        path = directory / name
        path.write_text(text)
        written.append(path)
    return written


if __name__ == "__main__":
    for p in write(Path(sys.argv[1] if len(sys.argv) > 1 else "deploy/crds")):
        print(p)
