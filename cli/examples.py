"""The Examples section of every command's help, in one table.

cli.helptext appends them to the help of the command they name; a unit test parses
each one against its command, so an example never shows a flag that does not exist.
"""

from __future__ import annotations

EXAMPLES: dict[str, tuple[str, ...]] = {
    "": (
        "backupctl backup create shop-now -n shop",
        "backupctl backup get",
        "backupctl restore create --from-backup shop-now --dry-run",
    ),
    "backup create": (
        "backupctl backup create shop-now -n shop",
        "backupctl backup create web-only -n shop -l app=web --ttl 72h",
        "backupctl backup create everything --location prod",
    ),
    "backup get": (
        "backupctl backup get",
        "backupctl backup get -n shop --latest -o name",
        "backupctl backup get --storage-location prod -o json",
    ),
    "backup describe": (
        "backupctl backup describe shop-now",
        "backupctl backup describe shop-now --details",
    ),
    "backup logs": ("backupctl backup logs shop-now",),
    "backup download": ("backupctl backup download shop-now -d /tmp",),
    "backup delete": (
        "backupctl backup delete shop-now",
        "backupctl backup delete shop-now --confirm",
    ),
    "backup show": (
        "backupctl backup show shop-now cm/settings -n shop",
        "backupctl backup show shop-now deploy/web -n shop -o json",
    ),
    "backup verify": (
        "backupctl backup verify shop-now",
        "backupctl backup verify --all --read-data",
    ),
    "backup diff": (
        "backupctl backup diff nightly-a nightly-b --hide-owned",
        "backupctl backup diff shop-now --live --namespace shop",
    ),
    "restore create": (
        "backupctl restore create --from-backup shop-now --dry-run",
        "backupctl restore create --from-backup shop-now -n shop",
        "backupctl restore create --from-schedule nightly --namespace-mappings shop:shop-copy",
    ),
    "restore get": ("backupctl restore get", "backupctl restore get -o json"),
    "restore describe": (
        "backupctl restore describe shop-now-20261126120000",
        "backupctl restore describe shop-now-20261126120000 --details",
    ),
    "restore delete": (
        "backupctl restore delete shop-now-20261126120000",
        "backupctl restore delete shop-now-20261126120000 --yes",
    ),
    "restore logs": ("backupctl restore logs shop-now-20261126120000",),
    "schedule create": (
        'backupctl schedule create nightly --schedule "0 2 * * *" -n shop --keep-last 7',
        'backupctl schedule create weekly --schedule "@weekly" --timezone Europe/Paris',
    ),
    "schedule get": ("backupctl schedule get", "backupctl schedule get nightly -o yaml"),
    "schedule describe": ("backupctl schedule describe nightly",),
    "schedule pause": ("backupctl schedule pause nightly",),
    "schedule unpause": ("backupctl schedule unpause nightly",),
    "schedule delete": ("backupctl schedule delete nightly",),
    "schedule trigger": ("backupctl schedule trigger nightly",),
    "drill run": (
        "backupctl drill run --from-schedule nightly --ephemeral",
        "backupctl drill run --from-backup shop-now --kubeconfig /tmp/scratch.kubeconfig",
    ),
    "drill get": ("backupctl drill get", "backupctl drill get -o json"),
    "drill describe": ("backupctl drill describe drill-shop-now-20261126120000",),
    "drill report": (
        "backupctl drill report drill-shop-now-20261126120000",
        "backupctl drill report drill-shop-now-20261126120000 -f html --output-file r.html",
    ),
    "location add": (
        "backupctl location add home --url file:///var/backups/k8s --default",
        'backupctl location add prod --url "s3://backups/prod?region=eu-west-1"',
        'backupctl location add minio --url "s3://b/k8s?endpoint=http://127.0.0.1:9000"',
        "backupctl location add gcs --url gs://my-bucket/clusters/prod",
    ),
    "location get": ("backupctl location get", "backupctl location get prod -o yaml"),
    "location set-default": ("backupctl location set-default prod",),
    "location delete": ("backupctl location delete old",),
    "location check": ("backupctl location check prod", "backupctl location check file:///tmp/b"),
    "location download": (
        "backupctl location download prod backups/shop-now/backup.json /tmp/backup.json",
    ),
    "location set": (
        "backupctl location set prod --signing-key secret:backupd/signing",
        "backupctl location set prod --untrust-key 1a2b3c4d",
    ),
    "location keygen": (
        "backupctl location keygen prod",
        "backupctl location keygen prod --encryption",
    ),
    "sandbox build": ("backupctl sandbox build", "backupctl sandbox build kubernetes etcd"),
    "sandbox up": ("backupctl sandbox up", "backupctl sandbox up --name b --csi"),
    "sandbox down": ("backupctl sandbox down", "backupctl sandbox down --name b"),
    "sandbox list": ("backupctl sandbox list", "backupctl sandbox list -o json"),
    "sandbox status": ("backupctl sandbox status --name b",),
    "install": ("backupctl install --dry-run", "backupctl install -o yaml"),
    "version": ("backupctl version", "backupctl version --client -o json"),
}


def section(path: str) -> str | None:
    """The Examples paragraph for the command at `path` ("backup create"), or None."""
    lines = EXAMPLES.get(path)
    if not lines:
        return None
    return "Examples:\n\n\b\n" + "\n".join(f"  {line}" for line in lines)
