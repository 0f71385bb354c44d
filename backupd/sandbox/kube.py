"""The few API calls the sandbox makes while it starts: nodes and readiness."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.rest import ApiException


def api_client(kubeconfig: Path) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(kubeconfig))


def apply_manifest(kubeconfig: Path, node: dict[str, Any]) -> None:
    with api_client(kubeconfig) as api:
        core = client.CoreV1Api(api)
        try:
            core.create_node(body=node)
        except ApiException as e:
            if e.status != 409:
                raise


def ready_nodes(kubeconfig: Path) -> int:
    with api_client(kubeconfig) as api:
        nodes = client.CoreV1Api(api).list_node(_request_timeout=5)
    count = 0
    for n in nodes.items:
        for cond in n.status.conditions or []:
            if cond.type == "Ready" and cond.status == "True":
                count += 1
    return count


def service_account_exists(kubeconfig: Path, namespace: str, name: str) -> bool:
    with api_client(kubeconfig) as api:
        try:
            client.CoreV1Api(api).read_namespaced_service_account(name, namespace, _request_timeout=5)
        except ApiException as e:
            if e.status == 404:
                return False
            raise
    return True
