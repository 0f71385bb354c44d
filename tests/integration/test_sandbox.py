"""The sandbox is a real cluster: controllers, scheduling, CRDs, RBAC, kubectl."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from backupd.cluster.client import KubeClient
from backupd.sandbox import binaries
from backupd.sandbox.cluster import SERVICE_CIDR, Sandbox
from backupd.sandbox.processes import pid_alive
from tests.fixtures.cli import backupctl, error_line
from tests.fixtures.clusters import api_client
from tests.fixtures.waiting import eventually
from tests.fixtures.workloads import role_binding, wait_until_allowed

pytestmark = pytest.mark.integration


def deployment(name: str, replicas: int = 2) -> dict[str, object]:
    labels = {"app": name}
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": "registry.invalid/app:1"}]},
            },
        },
    }


def running_pods(core: client.CoreV1Api, ns: str, app: str) -> list[client.V1Pod]:
    pods = core.list_namespaced_pod(ns, label_selector=f"app={app}").items
    return [p for p in pods if p.status.phase == "Running"]


def test_deployment_pods_become_running_on_a_kwok_node(
    kube: client.ApiClient, namespace: str
) -> None:
    client.AppsV1Api(kube).create_namespaced_deployment(namespace, deployment("web", replicas=3))
    core = client.CoreV1Api(kube)
    pods = eventually(
        lambda: (
            len(running_pods(core, namespace, "web")) == 3 and running_pods(core, namespace, "web")
        ),
        what="3 running pods",
    )
    for pod in pods:
        assert pod.spec.node_name.startswith("kwok-node-")
        assert pod.status.pod_ip.startswith("127.")


def test_deleting_a_namespace_completes(kube: client.ApiClient) -> None:
    core = client.CoreV1Api(kube)
    core.create_namespace({"metadata": {"name": "doomed"}})
    client.AppsV1Api(kube).create_namespaced_deployment("doomed", deployment("web"))
    core.create_namespaced_config_map("doomed", {"metadata": {"name": "cfg"}, "data": {"a": "b"}})
    eventually(lambda: len(running_pods(core, "doomed", "web")) == 2, what="pods running")
    core.delete_namespace("doomed")

    def gone() -> bool:
        try:
            core.read_namespace("doomed")
        except ApiException as e:
            return e.status == 404
        return False

    eventually(gone, timeout=90, what="namespace deletion to finish")


def test_a_crd_becomes_established_and_accepts_a_custom_resource(
    kube: client.ApiClient, namespace: str
) -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.sandbox.example.com"},
        "spec": {
            "group": "sandbox.example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {"size": {"type": "integer"}},
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    ext = client.ApiextensionsV1Api(kube)
    try:
        ext.create_custom_resource_definition(crd)
    except ApiException as e:
        assert e.status == 409

    def established() -> bool:
        conds = (
            ext.read_custom_resource_definition("widgets.sandbox.example.com").status.conditions
            or []
        )
        return any(c.type == "Established" and c.status == "True" for c in conds)

    eventually(established, what="CRD Established")
    custom = client.CustomObjectsApi(kube)
    body = {
        "apiVersion": "sandbox.example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w1"},
        "spec": {"size": 3},
    }
    eventually(
        lambda: custom.create_namespaced_custom_object(
            "sandbox.example.com", "v1", namespace, "widgets", body
        ),
        timeout=20,
        what="custom resource accepted",
    )
    got = custom.get_namespaced_custom_object(
        "sandbox.example.com", "v1", namespace, "widgets", "w1"
    )
    assert got["spec"] == {"size": 3}


def test_a_view_only_service_account_gets_403_creating_a_configmap(
    kube: client.ApiClient, namespace: str, cluster: Sandbox
) -> None:
    core = client.CoreV1Api(kube)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "viewer"}})
    client.RbacAuthorizationV1Api(kube).create_namespaced_role_binding(
        namespace,
        role_binding("viewer-view", "view", "viewer", namespace),
    )
    with KubeClient.from_kubeconfig(cluster.kubeconfig) as admin:
        wait_until_allowed(admin, "viewer", namespace, "list", "configmaps")
    token = core.create_namespaced_service_account_token(
        "viewer", namespace, {"spec": {"expirationSeconds": 600}}
    ).status.token
    cfg = client.Configuration()
    cfg.host = kube.configuration.host
    cfg.ssl_ca_cert = kube.configuration.ssl_ca_cert
    cfg.api_key = {"authorization": f"Bearer {token}"}
    with client.ApiClient(cfg) as as_viewer:
        viewer = client.CoreV1Api(as_viewer)
        assert viewer.list_namespaced_config_map(namespace).items is not None  # view may read
        with pytest.raises(ApiException) as denied:
            viewer.create_namespaced_config_map(namespace, {"metadata": {"name": "nope"}})
    assert denied.value.status == 403


def test_kubectl_works_with_the_written_kubeconfig(cluster: Sandbox) -> None:
    kubectl = binaries.binary("kubernetes", "kubectl")
    out = subprocess.run(
        [str(kubectl), "--kubeconfig", str(cluster.kubeconfig), "get", "nodes", "-o", "name"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert "node/kwok-node-0" in out.stdout
    svc = subprocess.run(
        [
            str(kubectl),
            "--kubeconfig",
            str(cluster.kubeconfig),
            "get",
            "svc",
            "kubernetes",
            "-o",
            "jsonpath={.spec.clusterIP}",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert svc.stdout.startswith("127."), f"service IP {svc.stdout} is outside {SERVICE_CIDR}"


def test_two_sandboxes_run_side_by_side(cluster: Sandbox, second_cluster: Sandbox) -> None:
    assert cluster.state is not None and second_cluster.state is not None
    assert cluster.state.api_port != second_cluster.state.api_port
    with api_client(cluster.kubeconfig) as a, api_client(second_cluster.kubeconfig) as b:
        client.CoreV1Api(b).create_namespace({"metadata": {"name": "only-on-b"}})
        names_a = {n.metadata.name for n in client.CoreV1Api(a).list_namespace().items}
        assert "only-on-b" not in names_a


def test_a_crashed_owner_leaves_no_orphan_processes(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import json, sys, time
        from pathlib import Path
        from backupd.sandbox.cluster import Sandbox
        box = Sandbox(Path({str(tmp_path / "box")!r}), name="orphan")
        state = box.start()
        print(json.dumps(state.pids), flush=True)
        time.sleep(600)
    """)
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert owner.stdout is not None
    import json

    pids = json.loads(owner.stdout.readline())
    assert pids and all(pid_alive(p) for p in pids.values())
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    eventually(
        lambda: not any(pid_alive(p) for p in pids.values()), timeout=15, what="children to die"
    )


def test_sandbox_up_status_down_from_the_cli(tmp_path: Path) -> None:
    env = {"BACKUPD_SANDBOXES": str(tmp_path)}
    up = backupctl("sandbox", "up", "--name", "clitest", env=env)
    try:
        assert up.returncode == 0, up.stderr
        assert up.stdout.startswith("export KUBECONFIG=")
        status = backupctl("sandbox", "status", "--name", "clitest", "-o", "json", env=env)
        assert status.returncode == 0, status.stderr
        assert '"running": true' in status.stdout
    finally:
        down = backupctl("sandbox", "down", "--name", "clitest", env=env)
    assert down.returncode == 0, down.stderr
    after = backupctl("sandbox", "status", "--name", "clitest", env=env)
    assert after.returncode == 1


def test_a_port_in_use_gets_a_one_line_error(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        res = backupctl(
            "sandbox",
            "up",
            "--name",
            "busy",
            "--port",
            str(port),
            env={"BACKUPD_SANDBOXES": str(tmp_path)},
        )
    line = error_line(res)
    assert f"port {port}" in line and "already in use" in line


def test_a_binary_that_fails_to_start_names_its_log(tmp_path: Path) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    real = binaries.binary_dir("kubernetes")
    for comp in ("kubernetes", "kwok"):
        for name in binaries.COMPONENTS[comp].binaries:
            (fake / name).symlink_to(binaries.binary(comp, name))
    (fake / "etcd").write_text("#!/bin/sh\necho 'etcd: cannot open data dir' >&2\nexit 3\n")
    (fake / "etcd").chmod(0o755)
    assert real.exists()
    res = backupctl(
        "sandbox",
        "up",
        "--name",
        "broken",
        env={"BACKUPD_SANDBOXES": str(tmp_path / "boxes"), "BACKUPD_BIN_DIR": str(fake)},
    )
    line = error_line(res)
    assert "etcd exited with code 3" in line and "cannot open data dir" in line
    assert "etcd.log" in line


def test_a_missing_go_toolchain_is_reported(tmp_path: Path) -> None:
    res = backupctl(
        "sandbox", "build", "etcd", env={"BACKUPD_CACHE": str(tmp_path), "PATH": "/nonexistent"}
    )
    assert "Go toolchain was not found" in error_line(res)
