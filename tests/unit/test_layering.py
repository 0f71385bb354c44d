"""The layers of DESIGN.md, checked by reading every import (ast), not hoped for:

    cli/, backupd/controller/           the two drivers; neither imports the other
      -> drill                          composes engines: restores a backup it verified
      -> engines: backup, restore, snapshots    (never one another)
      -> cluster, storage, archive, trust, sandbox
      -> api, kinds, errors             (the ground floor)

A module imports from its own package or from a lower layer. A new package under
backupd/ must be given a layer here.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DRIVERS = ("cli", "backupd.controller")
ENGINES = ("backupd.backup", "backupd.restore", "backupd.snapshots")
# A drill verifies a backup (backupd.backup.verify) and restores it (backupd.restore):
# it stands on the engines, below the drivers that run it.
COMPOSERS = ("backupd.drill",)
LAYERS: dict[str, float] = {
    **dict.fromkeys(DRIVERS, 3),
    **dict.fromkeys(COMPOSERS, 2.5),
    **dict.fromkeys(ENGINES, 2),
    **dict.fromkeys(
        (
            "backupd.cluster",
            "backupd.storage",
            "backupd.archive",
            "backupd.trust",
            "backupd.sandbox",
        ),
        1,
    ),
    **dict.fromkeys(("backupd", "backupd.api", "backupd.kinds", "backupd.errors"), 0),
}


def package_of(module: str) -> str:
    """`backupd.restore.actions.pvc` -> `backupd.restore`; `cli.backup` -> `cli`."""
    parts = module.split(".")
    if parts[0] == "cli":
        return "cli"
    return ".".join(parts[:2])


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(source: str, module: str, is_package: bool) -> set[str]:
    """Every module `source` imports (relative imports resolved), ours or not."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)  # `from pkg import mod`
    return {m for m in found if m.split(".")[0] in ("backupd", "cli")}


def violations(imports: dict[str, set[str]]) -> list[str]:
    """Each import that breaks the layering, as `importer -> imported: why`."""
    problems: list[str] = []
    for module, targets in sorted(imports.items()):
        mine = package_of(module)
        for target in sorted(targets):
            theirs = package_of(target)
            if theirs in (mine, "backupd") or theirs not in LAYERS or mine not in LAYERS:
                continue  # unknown packages are reported by test_every_package_has_a_layer
            if LAYERS[theirs] > LAYERS[mine]:
                problems.append(f"{module} -> {target}: a lower layer imports a higher one")
            elif LAYERS[theirs] == LAYERS[mine] == 3:
                problems.append(f"{module} -> {target}: one driver imports the other")
            elif LAYERS[theirs] == LAYERS[mine] == 2:
                problems.append(f"{module} -> {target}: engines meet only in lower layers")
            elif (
                LAYERS[theirs] == LAYERS[mine] == 0
                and theirs != "backupd.errors"
                and (mine != "backupd.api" or theirs != "backupd.kinds")
            ):
                problems.append(f"{module} -> {target}: the ground floor stands on errors alone")
    return problems


def project_imports() -> dict[str, set[str]]:
    result: dict[str, set[str]] = {}
    for top in ("backupd", "cli"):
        for path in sorted((ROOT / top).rglob("*.py")):
            name = module_name(path)
            result[name] = imported(path.read_text(), name, path.name == "__init__.py")
    return result


def test_lower_layers_never_import_higher_ones_and_engines_never_each_other() -> None:
    assert violations(project_imports()) == []


def test_every_package_has_a_layer() -> None:
    packages = {package_of(m) for m in project_imports()}
    assert sorted(packages - set(LAYERS)) == []


def test_the_check_catches_an_engine_importing_another() -> None:
    source = "from backupd.backup import stored\nfrom backupd.storage import records\n"
    found = imported(source, "backupd.restore.engine", False)
    assert violations({"backupd.restore.engine": found}) == [
        "backupd.restore.engine -> backupd.backup: engines meet only in lower layers",
        "backupd.restore.engine -> backupd.backup.stored: engines meet only in lower layers",
    ]


def test_the_check_catches_a_lower_layer_importing_a_higher_one() -> None:
    imports = {
        "backupd.api.restore": imported(
            "from backupd.archive.format import item_where", "backupd.api.restore", False
        ),
        "backupd.controller.backups": imported("import cli.output", "x", False),
        "backupd.storage.catalog": imported(
            "from ..restore import engine", "backupd.storage.catalog", False
        ),
    }
    assert violations(imports) == [
        "backupd.api.restore -> backupd.archive.format: a lower layer imports a higher one",
        "backupd.api.restore -> backupd.archive.format.item_where: a lower layer imports a higher one",
        "backupd.controller.backups -> cli.output: one driver imports the other",
        "backupd.storage.catalog -> backupd.restore: a lower layer imports a higher one",
        "backupd.storage.catalog -> backupd.restore.engine: a lower layer imports a higher one",
    ]


def test_kinds_and_errors_import_nothing_of_ours_but_errors() -> None:
    imports = {
        "backupd.kinds.needs": {"backupd.api.common"},
        "backupd.api.common": {"backupd.errors", "backupd.kinds.naming"},
    }
    assert violations(imports) == [
        "backupd.kinds.needs -> backupd.api.common: the ground floor stands on errors alone"
    ]


def test_a_drill_may_use_the_engines_but_no_engine_the_drill() -> None:
    imports = {
        "backupd.drill.run": {"backupd.restore.engine", "backupd.backup.verify"},
        "backupd.restore.engine": {"backupd.drill.run"},
        "cli.drill": {"backupd.drill.run"},
    }
    assert violations(imports) == [
        "backupd.restore.engine -> backupd.drill.run: a lower layer imports a higher one"
    ]
