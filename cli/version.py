"""`backupctl version`: the client's version, and the server's when the cluster runs
the backupd controller (read from its Deployment: the app.kubernetes.io/version label,
else its image's tag). "not installed" when there is no such Deployment, "unknown"
when the cluster cannot be asked.

    backupctl version
    backupctl version --client -o json
"""

from __future__ import annotations

import importlib.metadata
from typing import Any
from urllib.parse import quote

import typer

from backupd.errors import BackupdError, ClusterNotFound
from cli.common import ContextOption, KubeconfigOption, kube_client
from cli.output import OutputFormat, OutputOption, console, emit

DEPLOYMENT = "backupd"  # the name deploy/deployment.yaml gives it
VERSION_LABEL = "app.kubernetes.io/version"
TIMEOUT = 5.0  # seconds: `version` answers fast, even when the cluster does not


def client_version() -> str:
    try:
        return importlib.metadata.version("backupd")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree
        from backupd import __version__

        return __version__


def image_tag(image: str) -> str | None:
    """The tag of an image reference (`reg:5000/backupd:0.2.0@sha256:..` -> 0.2.0)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def from_deployment(obj: dict[str, Any]) -> dict[str, Any]:
    """The server's version as its Deployment says: label first, else the image tag."""
    meta = obj.get("metadata") or {}
    spec = (obj.get("spec") or {}).get("template", {}).get("spec", {})
    images = [str(c.get("image", "")) for c in spec.get("containers") or []]
    image = next((i for i in images if i), "")
    label = (meta.get("labels") or {}).get(VERSION_LABEL)
    status = obj.get("status") or {}
    return {
        "version": str(label or image_tag(image) or "unknown"),
        "image": image,
        "namespace": meta.get("namespace"),
        "ready": f"{status.get('readyReplicas', 0)}/{(obj.get('spec') or {}).get('replicas', 1)}",
    }


def server_version(kubeconfig: str | None, context: str | None, namespace: str) -> dict[str, Any]:
    """{"version": ..} of the controller in `namespace`, or {"installed": False, ..}."""
    path = f"/apis/apps/v1/namespaces/{quote(namespace, safe='')}/deployments/{DEPLOYMENT}"
    try:
        with kube_client(kubeconfig, context) as kube:
            found = kube.request("GET", path, timeout=TIMEOUT)
    except ClusterNotFound:
        why = f"no deployment {DEPLOYMENT} in namespace {namespace}"
        return {"installed": False, "state": "not installed", "reason": why}
    except BackupdError as e:
        return {"installed": False, "state": "unknown", "reason": f"cannot ask the cluster: {e}"}
    return {"installed": True, **from_deployment(found)}


def _print(data: dict[str, Any]) -> None:
    lines = [f"Client Version: {data['clientVersion']['version']}"]
    server = data.get("serverVersion")
    if server is not None and server.get("installed"):
        lines.append(
            f"Server Version: {server['version']} (image {server['image']}, "
            f"namespace {server['namespace']}, {server['ready']} ready)"
        )
    elif server is not None:
        lines.append(f"Server Version: {server['state']} ({server['reason']})")
    console.print("\n".join(lines), highlight=False, markup=False)


def version(
    client: bool = typer.Option(
        False, "--client", help="only the client's version; do not contact the cluster"
    ),
    controller_namespace: str = typer.Option(
        "backupd",
        "--controller-namespace",
        envvar="BACKUPD_NAMESPACE",
        metavar="NAMESPACE",
        help="the backupd controller's namespace",
    ),
    kubeconfig: str = KubeconfigOption,
    context: str = ContextOption,
    output: OutputFormat = OutputOption,
) -> None:
    """Print the client's version and the backupd controller's in the cluster."""
    data: dict[str, Any] = {"clientVersion": {"version": client_version()}}
    if not client:
        data["serverVersion"] = server_version(kubeconfig, context, controller_namespace)
    emit(data, output, lambda: _print(data))
