"""Helpers for the restore integration tests: a realistic namespace, a backup of it, kubectl."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

from backupd.api.backup import Backup, BackupSpec
from backupd.backup import engine as backup_engine
from backupd.cluster.client import KubeClient
from backupd.storage.location import open_location
from tests.fixtures.cli import backupctl, kubectl
from tests.fixtures.waiting import eventually

# A ClusterIP and a NodePort Service for the pods labelled app=web (their addresses are
# what a restore must keep or give back).
WEB_SERVICES = """---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: web-nodeport}
spec: {type: NodePort, selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}
"""

# A small shop: configuration, identity and RBAC, three kinds of Service, a Deployment,
# a StatefulSet, a CronJob, a Job, a claim, and policy objects.
SHOP = (
    """
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, labels: {app: web}}
data: {mode: production, "config.json": '{"a": 1}'}
---
apiVersion: v1
kind: Secret
metadata: {name: db}
type: Opaque
data: {password: c2VjcmV0, blob: AAECAwQF/w==}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: web}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: reader}
rules: [{apiGroups: [""], resources: [configmaps], verbs: [get, list]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: web-reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
subjects: [{kind: ServiceAccount, name: web, namespace: NAMESPACE}]
"""
    + WEB_SERVICES
    + """---
apiVersion: v1
kind: Service
metadata: {name: db-headless}
spec: {clusterIP: None, selector: {app: db}, ports: [{port: 5432}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      serviceAccountName: web
      containers:
      - {name: app, image: registry.invalid/web:1, envFrom: [{configMapRef: {name: settings}}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 1
  serviceName: db-headless
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: registry.invalid/db:1}]}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: report}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec: {restartPolicy: Never, containers: [{name: r, image: registry.invalid/r:1}]}
---
apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
spec:
  template:
    spec: {restartPolicy: Never, containers: [{name: m, image: registry.invalid/m:1}]}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: uploads}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: manual
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: LimitRange
metadata: {name: limits}
spec: {limits: [{type: Container, default: {cpu: 500m}}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny}
spec: {podSelector: {}, policyTypes: [Ingress]}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web}
spec: {minAvailable: 1, selector: {matchLabels: {app: web}}}
"""
)
VOLUME = """
apiVersion: v1
kind: PersistentVolume
metadata: {name: PV}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  storageClassName: CLASS
  persistentVolumeReclaimPolicy: Retain
  hostPath: {path: /tmp/backupd-PV}
  claimRef: {namespace: NAMESPACE, name: data}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: NAMESPACE}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: CLASS
  resources: {requests: {storage: 1Gi}}
  volumeName: PV
"""


def retained_volume(pv: str, namespace: str, storage_class: str) -> str:
    """A Retain PersistentVolume bound to claim `data` in `namespace`."""
    return VOLUME.replace("PV", pv).replace("NAMESPACE", namespace).replace("CLASS", storage_class)


def apply(kubeconfig: Path, manifests: str, namespace: str | None = None) -> None:
    ns = ["-n", namespace] if namespace else []
    kubectl(kubeconfig, "apply", *ns, "-f", "-", stdin=textwrap.dedent(manifests))


def create_shop(kubeconfig: Path, namespace: str) -> None:
    apply(kubeconfig, SHOP.replace("NAMESPACE", namespace), namespace)


def running_pods(api: client.ApiClient, namespace: str, app: str) -> int:
    pods = client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector=f"app={app}").items
    return sum(1 for p in pods if p.status.phase == "Running" and not p.metadata.deletion_timestamp)


def wait_shop_running(api: client.ApiClient, namespace: str, web: int = 2) -> None:
    eventually(lambda: running_pods(api, namespace, "web") == web, what=f"{web} web pods")
    eventually(lambda: running_pods(api, namespace, "db") == 1, what="the db pod")


def backup(
    kubeconfig: Path, url: str, name: str, *namespaces: str, labels: dict[str, str] | None = None
) -> Backup:
    with KubeClient.from_kubeconfig(kubeconfig) as kube:
        result = backup_engine.run(
            name,
            BackupSpec(included_namespaces=list(namespaces)),
            kube=kube,
            location=open_location(url),
            labels=labels,
        )
    assert result.status.phase.value == "Completed", result.status.errors
    return result


def delete_namespace(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    core.delete_namespace(namespace)

    def gone() -> bool:
        try:
            core.read_namespace(namespace)
        except ApiException as e:
            return e.status == 404
        return False

    eventually(gone, timeout=120, what=f"namespace {namespace} to be deleted")

    def released() -> bool:  # the volume controller marks its claims' volumes in its time
        return not [
            pv.metadata.name
            for pv in core.list_persistent_volume().items
            if pv.spec.claim_ref is not None
            and pv.spec.claim_ref.namespace == namespace
            and (pv.status.phase if pv.status else None) == "Bound"
        ]

    eventually(released, timeout=60, what=f"the volumes of {namespace}'s claims released")


def restore(
    kubeconfig: Path, url: str, *args: str, env: dict[str, str] | None = None
) -> tuple[int, dict[str, Any], str]:
    """`backupctl restore create ... -o json`: (exit code, parsed output, stderr)."""
    res = backupctl(
        "restore", "create", *args, "--location", url, "--kubeconfig", str(kubeconfig), "-o", "json",
        env=env,
    )  # fmt: skip
    assert "Traceback" not in res.stderr, res.stderr
    return res.returncode, json.loads(res.stdout) if res.stdout.strip() else {}, res.stderr


def counts(output: dict[str, Any]) -> dict[str, int]:
    status = output.get("restore", output)["status"]
    return {k: v for k, v in status["counts"].items() if v}
