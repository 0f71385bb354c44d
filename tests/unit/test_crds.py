"""The CRDs in deploy/crds are exactly what the models generate, and structural."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from backupd.api import crds

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "crds"


def test_deploy_crds_match_the_models() -> None:
    rendered = crds.render()
    on_disk = {p.name: p.read_text() for p in DEPLOY.glob("backupd.io_*.yaml")}
    assert set(on_disk) == set(rendered), "run: python -m backupd.api.crds deploy/crds"
    for name, text in rendered.items():
        assert on_disk[name] == text, f"{name} is stale: run python -m backupd.api.crds deploy/crds"


def _walk(node: Any, path: str = "") -> list[str]:
    """Places where a schema is not structural (no type, a ref, an anyOf/oneOf)."""
    problems: list[str] = []
    if not isinstance(node, dict):
        return problems
    for bad in ("$ref", "anyOf", "oneOf", "allOf", "const"):
        if bad in node:
            problems.append(f"{path}: {bad}")
    if "type" not in node and not node.get("x-kubernetes-preserve-unknown-fields"):
        problems.append(f"{path}: no type")
    for name, child in (node.get("properties") or {}).items():
        problems += _walk(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        problems += _walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        problems += _walk(node["additionalProperties"], f"{path}{{}}")
    return problems


def test_every_schema_is_structural() -> None:
    for kind in crds.KINDS:
        assert _walk(crds.schema(kind.model)) == [], kind.kind


def test_schedule_schema_carries_the_backup_template_and_retention() -> None:
    spec = crds.schema(crds.KINDS[2].model)["properties"]["spec"]
    assert spec["required"] == ["schedule"]
    assert "includedNamespaces" in spec["properties"]["template"]["properties"]
    keep_last = spec["properties"]["retention"]["properties"]["keepLast"]
    assert keep_last["minimum"] == 1 and keep_last["nullable"] is True


def test_backup_crd_has_status_subresource_and_velero_like_columns() -> None:
    doc = yaml.safe_load(crds.render()["backupd.io_backups.yaml"])
    version = doc["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    names = [c["name"] for c in version["additionalPrinterColumns"]]
    assert names[:5] == ["Phase", "Items", "Errors", "Warnings", "Expires"] and "Age" in names
