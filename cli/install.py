"""`backupctl install`: render or apply deploy/ (the files its kustomization.yaml
lists, in order), without kustomize. The manifests ship inside the package
(backupd/deploy), so an installed backupctl has them."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
import yaml

import backupd
from backupd.cluster.applying import apply
from backupd.errors import BackupdError, UserInputError
from cli.common import ContextOption, KubeconfigOption, kube_client
from cli.output import OutputFormat, OutputOption, as_list, info, print_table

MANIFESTS = Path(backupd.__file__).resolve().parent / "deploy"


def manifest_files(root: Path) -> list[Path]:
    """The files kustomization.yaml lists under `resources`, each inside `root`."""
    kustomization = root / "kustomization.yaml"
    try:
        listed = (yaml.safe_load(kustomization.read_text()) or {}).get("resources") or []
    except (OSError, yaml.YAMLError) as e:
        raise BackupdError(f"cannot read the install manifests ({kustomization}): {e}") from e
    files: list[Path] = []
    for entry in listed:
        path = (root / str(entry)).resolve()
        if not path.is_relative_to(root.resolve()) or not path.is_file():
            raise BackupdError(f"{kustomization}: {entry!r} is not a file of {root}")
        files.append(path)
    return files


def load_objects(root: Path) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for path in manifest_files(root):
        try:
            docs = list(yaml.safe_load_all(path.read_text()))
        except (OSError, yaml.YAMLError) as e:
            raise BackupdError(f"cannot read {path}: {e}") from e
        for doc in docs:
            if doc is None:
                continue
            if not isinstance(doc, dict) or not doc.get("kind") or not doc.get("metadata"):
                raise BackupdError(f"{path}: a document is not a Kubernetes object")
            objects.append(doc)
    return objects


def render(objects: list[dict[str, Any]], fmt: OutputFormat) -> str:
    """The manifests as -o asks: json is a kubectl List, yaml a multi-document stream
    (what `kubectl apply -f` takes), name one kind/name a line."""
    if fmt is OutputFormat.json:
        return json.dumps(as_list(objects), indent=2) + "\n"
    if fmt is OutputFormat.name:
        return "".join(f"{o['kind'].lower()}/{o['metadata']['name']}\n" for o in objects)
    if fmt is OutputFormat.yaml:
        return yaml.safe_dump_all(objects, sort_keys=False, explicit_start=True)
    raise UserInputError(f"-o {fmt.value} prints no manifests; use -o yaml, json or name")


def install(
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help="the API server checks everything (dryRun=All); nothing is stored",
    ),
    output: OutputFormat = OutputOption,
    kubeconfig: str = KubeconfigOption,
    context: str = ContextOption,
) -> None:
    """Install backupd (CRDs, namespace, RBAC, Deployment, Service) by server-side apply.

    With -o yaml (or json, name) the manifests are printed and no cluster is contacted.
    The restore role is installed but not bound: see deploy/rbac/restorer.yaml.
    """
    objects = load_objects(MANIFESTS)
    if output not in (OutputFormat.table, OutputFormat.wide):
        sys.stdout.write(render(objects, output))
        return
    with kube_client(kubeconfig, context) as kube:
        done = apply(kube, objects, dry_run=dry_run)
    suffix = " (server dry run)" if dry_run else ""
    print_table(
        ["KIND", "NAME", "NAMESPACE", "ACTION"],
        [[a.kind, a.name, a.namespace or "", a.action + suffix] for a in done],
    )
    if not dry_run:
        info(f"installed: {len(done)} objects; see: kubectl -n backupd get pods")
