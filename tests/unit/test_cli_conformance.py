"""The reflexes of a Velero and kubectl user, each a real `backupctl` process: the exit
code and the shape of what it prints. Locations are file:// directories in tmp_path;
no cluster is needed (the kubeconfig points nowhere, or at contexts that do not exist).
"""

from __future__ import annotations

import datetime
import gzip
import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from backupd.api.backup import SCHEDULE_LABEL, Backup, BackupSpec
from backupd.api.common import ObjectMeta, Phase
from backupd.api.restore import ItemResult, Outcome, Restore, RestoreSpec
from backupd.sandbox.cluster import SandboxState
from backupd.storage.layout import BackupKeys, RestoreKeys
from backupd.storage.location import open_location
from cli.version import client_version
from tests.fixtures.cli import backupctl, error_line
from tests.fixtures.kubeconfigs import kubeconfig, write

Result = subprocess.CompletedProcess[str]


@dataclass
class World:
    """A config with two file:// locations (home, the default, holds the records),
    a kubeconfig with contexts dev and prod, and one stopped sandbox."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def home(self) -> str:
        return (self.root / "home").as_uri()

    @property
    def other(self) -> str:
        return (self.root / "other").as_uri()

    @property
    def missing(self) -> str:
        return (self.root / "no-such-dir").as_uri()

    def run(self, *args: str, **env: str) -> Result:
        return backupctl(*args, env={**self.env, **env}, timeout=60)


def _backup(name: str, day: int, schedule: str | None = None) -> Backup:
    labels = {SCHEDULE_LABEL: schedule} if schedule else {}
    created = datetime.datetime(2026, 11, day, 3, tzinfo=datetime.UTC)
    b = Backup(
        metadata=ObjectMeta(name=name, creation_timestamp=created, labels=labels),
        spec=BackupSpec(included_namespaces=["shop"]),
    )
    b.status.phase = Phase.completed
    b.status.namespace_counts = {"shop": 3}
    return b


def _restore(name: str) -> tuple[Restore, list[ItemResult]]:
    r = Restore(metadata=ObjectMeta(name=name), spec=RestoreSpec(backup_name="nightly"))
    r.status.phase = Phase.completed
    r.status.backup_name = "nightly"
    items = [
        ItemResult(
            group="",
            version="v1",
            kind="ConfigMap",
            resource="configmaps",
            namespace="shop",
            name="settings",
            outcome=Outcome.created,
        )
    ]
    return r, items


@pytest.fixture()
def world(tmp_path: Path) -> World:
    w = World(tmp_path)
    home = open_location(w.home)
    open_location(w.other).put_bytes("keep", b"")  # exists, holds no backup
    for b in (_backup("nightly", 2, schedule="nightly"), _backup("weekly", 1)):
        home.put_bytes(BackupKeys(b.metadata.name).metadata, json.dumps(b.to_json_dict()).encode())
    r, items = _restore("nightly-restore")
    keys = RestoreKeys("nightly-restore")
    home.put_bytes(keys.metadata, json.dumps(r.to_json_dict()).encode())
    results = {"items": [i.to_json_dict() for i in items]}
    home.put_bytes(keys.results, json.dumps(results).encode())
    home.put_bytes(keys.log, gzip.compress(b"restored configmaps/shop/settings\n"))
    config = tmp_path / "config.yaml"
    entries = [
        {"name": "home", "url": w.home, "access_mode": "ReadWrite", "default": True},
        {"name": "other", "url": w.other, "access_mode": "ReadWrite", "default": False},
    ]
    config.write_text(yaml.safe_dump({"locations": entries}))
    cluster = {"server": "https://127.0.0.1:1"}
    kc = kubeconfig(
        clusters={"c": cluster},
        users={"u": {"token": "t"}},
        contexts={"dev": ("c", "u"), "prod": ("c", "u")},
        current="dev",
    )
    write(tmp_path / "kubeconfig", kc)
    boxes = tmp_path / "sandboxes"
    (boxes / "demo").mkdir(parents=True)
    SandboxState("demo", str(boxes / "demo"), 41001, 41002, "/k", {"etcd": 2**22 + 7}).save()
    w.env = {
        "BACKUPD_CONFIG": str(config),
        "BACKUPD_LOCATION": "",
        "BACKUPD_SANDBOXES": str(boxes),
        "KUBECONFIG": str(tmp_path / "kubeconfig"),
        "HOME": str(tmp_path),
    }
    return w


# -- shapes ----------------------------------------------------------------------------


def listed(res: Result, fmt: str = "json") -> list[Any]:
    """The items of a kubectl List printed as JSON or YAML."""
    data = json.loads(res.stdout) if fmt == "json" else yaml.safe_load(res.stdout)
    assert data["apiVersion"] == "v1" and data["kind"] == "List", data
    items: list[Any] = data["items"]
    return items


def names(items: list[Any]) -> list[str]:
    return [i["metadata"]["name"] if "metadata" in i else i["name"] for i in items]


def one_error(res: Result, *words: str) -> None:
    """One `error:` line holding `words`, nothing on stdout, no traceback."""
    line = error_line(res)
    assert res.stdout == ""
    for w in words:
        assert w in line, line


def completions(world: World, line: str) -> list[str]:
    words = line.split(" ")
    res = world.run(
        _BACKUPCTL_COMPLETE="complete_bash",
        COMP_WORDS=line,
        COMP_CWORD=str(len(words) - 1),
    )
    assert res.returncode == 0, res.stderr
    return res.stdout.split()


@dataclass(frozen=True)
class Reflex:
    """An invocation, its exit code and a check of its output (given the world)."""

    args: tuple[str, ...]
    code: int
    check: Callable[[Result, World], None]
    env: tuple[tuple[str, str], ...] = ()


def _ok_list(expected: list[str], fmt: str = "json") -> Callable[[Result, World], None]:
    return lambda res, w: _equal(sorted(names(listed(res, fmt))), sorted(expected))


def _equal(a: object, b: object) -> None:
    assert a == b


def _restore_deleted(res: Result, w: World) -> None:
    assert "the objects it restored are untouched" in res.stderr
    assert listed(w.run("restore", "get", "-o", "json")) == []


def _restore_kept(res: Result, w: World) -> None:
    one_error(res, "pass --yes")
    assert names(listed(w.run("restore", "get", "-o", "json"))) == ["nightly-restore"]


def _default_moved(res: Result, w: World) -> None:
    entries = listed(w.run("location", "get", "-o", "json"))
    assert [e["name"] for e in entries if e["default"]] == ["other"]
    assert listed(w.run("backup", "get", "-o", "json")) == []  # other is used now


def _backup_deleted(res: Result, w: World) -> None:
    assert w.run("backup", "get", "-o", "name").stdout == "weekly\n"


VERSION = client_version()

REFLEXES: dict[str, Reflex] = {
    "backupctl alone prints its help, daily work first": Reflex(
        (),
        0,
        lambda res, w: _equal(
            [ln.split()[0] for ln in res.stdout.split("Commands:")[1].splitlines() if ln][:4],
            ["backup", "restore", "schedule", "drill"],
        ),
    ),
    # -o json|yaml of several objects is a kubectl List
    "backup get -o json is a List": Reflex(
        ("backup", "get", "-o", "json"), 0, _ok_list(["nightly", "weekly"])
    ),
    "backup get -o yaml is a List": Reflex(
        ("backup", "get", "-o", "yaml"), 0, _ok_list(["nightly", "weekly"], "yaml")
    ),
    "restore get -o json is a List": Reflex(
        ("restore", "get", "-o", "json"), 0, _ok_list(["nightly-restore"])
    ),
    "location get -o json is a List": Reflex(
        ("location", "get", "-o", "json"), 0, _ok_list(["home", "other"])
    ),
    "sandbox list -o json is a List": Reflex(
        ("sandbox", "list", "-o", "json"),
        0,
        lambda res, w: _equal(
            [(i["name"], i["state"]) for i in listed(res)], [("demo", "stopped")]
        ),
    ),
    # -o name and -o wide wherever get works
    "backup get -o name": Reflex(
        ("backup", "get", "-o", "name"), 0, lambda res, w: _equal(res.stdout, "nightly\nweekly\n")
    ),
    "restore get -o name": Reflex(
        ("restore", "get", "-o", "name"), 0, lambda res, w: _equal(res.stdout, "nightly-restore\n")
    ),
    "location get -o name": Reflex(
        ("location", "get", "-o", "name"), 0, lambda res, w: _equal(res.stdout, "home\nother\n")
    ),
    "backup get -o wide": Reflex(
        ("backup", "get", "-o", "wide"), 0, lambda res, w: _equal("nightly" in res.stdout, True)
    ),
    "restore get -o wide has more columns": Reflex(
        ("restore", "get", "-o", "wide"),
        0,
        lambda res, w: _equal(
            ("nightly-restore" in res.stdout, "TARGET" in res.stdout), (True, True)
        ),
    ),
    "location get -o wide has more columns": Reflex(
        ("location", "get", "-o", "wide"),
        0,
        lambda res, w: _equal("SIGNING KEY" in res.stdout, True),
    ),
    # an unsupported -o is an error, never silently YAML
    "backup get -o foo is a usage error": Reflex(
        ("backup", "get", "-o", "foo"), 2, lambda res, w: one_error(res, "'foo' is not one of")
    ),
    "backup show -o wide is an error, not YAML": Reflex(
        ("backup", "show", "nightly", "cm/settings", "-o", "wide"),
        2,
        lambda res, w: one_error(res, "-o wide", "yaml, json or name"),
    ),
    "location get -o foo is a usage error": Reflex(
        ("location", "get", "-o", "foo"), 2, lambda res, w: one_error(res, "'foo' is not one of")
    ),
    "install -o name prints the manifests' names, contacting no cluster": Reflex(
        ("install", "-o", "name"),
        0,
        lambda res, w: _equal("deployment/backupd" in res.stdout.splitlines(), True),
    ),
    # -l is the label selector; the location is --location / --storage-location
    "backup get -l selects by label": Reflex(
        ("backup", "get", "-l", f"{SCHEDULE_LABEL}=nightly", "-o", "name"),
        0,
        lambda res, w: _equal(res.stdout, "nightly\n"),
    ),
    "backup create -l is a selector, not a location": Reflex(
        ("backup", "create", "x", "-l", "app=web", "--context", "nope"),
        2,
        lambda res, w: one_error(res, 'context "nope"'),
    ),
    "backup get --storage-location (Velero's flag)": Reflex(
        ("backup", "get", "--storage-location", "other", "-o", "json"),
        0,
        lambda res, w: _equal(listed(res), []),
    ),
    # -n is a namespace of your workloads
    "backup get -n filters by namespace": Reflex(
        ("backup", "get", "-n", "web", "-o", "json"), 0, lambda res, w: _equal(listed(res), [])
    ),
    # the location chosen is visible; $BACKUPD_LOCATION overrides the config's default
    "the config's default location is used silently": Reflex(
        ("backup", "get", "-o", "name"),
        0,
        lambda res, w: _equal("location:" in res.stderr, False),
    ),
    "--location is named on stderr": Reflex(
        ("backup", "get", "--location", "other"),
        0,
        lambda res, w: _equal(f"location: other ({w.other}), from --location" in res.stderr, True),
    ),
    "BACKUPD_LOCATION overrides the default and says so": Reflex(
        ("backup", "get", "-o", "json"),
        0,
        lambda res, w: _equal(
            (listed(res), f"location: other ({w.other}), from $BACKUPD_LOCATION" in res.stderr),
            ([], True),
        ),
        env=(("BACKUPD_LOCATION", "other"),),
    ),
    "a missing file:// location is an error, not an empty table": Reflex(
        ("backup", "get", "--location", "file:///no/such/backups"),
        3,
        lambda res, w: one_error(res, "does not exist", "no directory /no/such/backups"),
    ),
    "a missing file:// location in BACKUPD_LOCATION names its source": Reflex(
        ("restore", "get"),
        3,
        lambda res, w: one_error(res, "does not exist", "$BACKUPD_LOCATION"),
        env=(("BACKUPD_LOCATION", "file:///no/such/backups"),),
    ),
    # errors are one line, with a did-you-mean
    "an unknown command suggests the close one": Reflex(
        ("bakup", "get"), 2, lambda res, w: one_error(res, "did you mean backup?")
    ),
    "an unknown subcommand suggests the close one": Reflex(
        ("backup", "gte"), 2, lambda res, w: one_error(res, "did you mean get?")
    ),
    "Velero's backup-location points to location": Reflex(
        ("backup-location", "get"), 2, lambda res, w: one_error(res, "did you mean location?")
    ),
    "kubectl's list points to get": Reflex(
        ("backup", "list"), 2, lambda res, w: one_error(res, "did you mean get?")
    ),
    "an unknown option suggests the close one": Reflex(
        ("backup", "get", "--locaton", "x"),
        2,
        lambda res, w: one_error(res, "did you mean --location"),
    ),
    "kubectl's --namespace on create points to --include-namespaces": Reflex(
        ("backup", "create", "x", "--namespace", "shop"),
        2,
        lambda res, w: one_error(res, "--include-namespaces"),
    ),
    "a missing argument is one line": Reflex(
        ("backup", "describe"), 2, lambda res, w: one_error(res, "Missing argument 'NAME'")
    ),
    "a context that does not exist lists those that do": Reflex(
        ("backup", "create", "x", "-n", "shop", "--context", "staging"),
        2,
        lambda res, w: one_error(res, 'context "staging"', "contexts: dev, prod"),
    ),
    # version
    "version --client": Reflex(
        ("version", "--client"),
        0,
        lambda res, w: _equal(res.stdout, f"Client Version: {VERSION}\n"),
    ),
    "--version": Reflex(
        ("--version",), 0, lambda res, w: _equal(res.stdout, f"backupctl {VERSION}\n")
    ),
    "version without a cluster says the server is unknown": Reflex(
        ("version", "-o", "json"),
        0,
        lambda res, w: _equal(
            (
                json.loads(res.stdout)["clientVersion"],
                json.loads(res.stdout)["serverVersion"]["state"],
            ),
            ({"version": VERSION}, "unknown"),
        ),
        env=(("KUBECONFIG", "/no/such/kubeconfig"),),
    ),
    # restore delete, restore describe --details, location set-default, backup delete --confirm
    "restore describe --details lists every item": Reflex(
        ("restore", "describe", "nightly-restore", "--details"),
        0,
        lambda res, w: _equal("configmaps  shop       settings" in res.stdout, True),
    ),
    "restore delete asks first (no terminal: refuses)": Reflex(
        ("restore", "delete", "nightly-restore"), 2, _restore_kept
    ),
    "restore delete --confirm deletes the record only": Reflex(
        ("restore", "delete", "nightly-restore", "--confirm"), 0, _restore_deleted
    ),
    "restore delete of an unknown restore": Reflex(
        ("restore", "delete", "nope", "--yes"), 3, lambda res, w: one_error(res, "not found")
    ),
    "location set-default": Reflex(("location", "set-default", "other"), 0, _default_moved),
    "backup delete --confirm (Velero's flag)": Reflex(
        ("backup", "delete", "nightly", "--confirm"), 0, _backup_deleted
    ),
}


@pytest.mark.parametrize("name", list(REFLEXES))
def test_a_velero_or_kubectl_reflex_works(world: World, name: str) -> None:
    reflex = REFLEXES[name]
    res = world.run(*reflex.args, **dict(reflex.env))
    assert res.returncode == reflex.code, f"{name}: exit {res.returncode}\n{res.stderr}"
    assert "Traceback" not in res.stderr
    reflex.check(res, world)


def test_tab_completes_backup_restore_and_location_names_and_contexts(world: World) -> None:
    assert completions(world, "backupctl backup describe ni") == ["nightly"]
    assert completions(world, "backupctl backup describe --location other ") == []
    assert completions(world, "backupctl restore describe ") == ["nightly-restore"]
    assert completions(world, "backupctl location set-default ") == ["home", "other"]
    assert completions(world, "backupctl backup get --location o") == ["other"]
    assert completions(world, "backupctl backup create x --context p") == ["prod"]


def test_tab_completion_of_namespaces_gives_up_quietly_without_a_cluster(world: World) -> None:
    assert completions(world, "backupctl backup create x -n ") == []
