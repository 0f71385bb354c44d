"""Which claims of a backup get a snapshot, and how. Pure: cluster objects in, tasks out.

A claim is snapshotted when it is Bound and either its volume is an AWS EBS volume
(in-tree `awsElasticBlockStore` or the `ebs.csi.aws.com` driver: the native EBS path),
or its CSI driver has a VolumeSnapshotClass: the one `--snapshot-class` names when it
is for that driver, else the driver's default class. Every other claim gets a record
saying why it has no snapshot; the backup warns of it and ends PartiallyFailed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from backupd.api.snapshots import (
    EBS_CSI_DRIVER,
    EBS_IN_TREE,
    SnapshotState,
    VolumeSnapshotRecord,
    quantity_bytes,
)
from backupd.errors import UserInputError

JSON = dict[str, Any]
DEFAULT_CLASS_ANNOTATION = "snapshot.storage.kubernetes.io/is-default-class"
_ZONE_KEYS = (
    "topology.kubernetes.io/zone",
    "topology.ebs.csi.aws.com/zone",
    "failure-domain.beta.kubernetes.io/zone",
)


@dataclass(frozen=True)
class Task:
    """A snapshot to take: the record so far (state is filled in when it is taken)."""

    record: VolumeSnapshotRecord

    @property
    def method(self) -> str:
        return self.record.method


@dataclass(frozen=True)
class Plan:
    tasks: list[Task]
    skipped: list[VolumeSnapshotRecord]  # claims that get no snapshot, with why


def _default_classes(classes: Iterable[JSON]) -> dict[str, list[str]]:
    defaults: dict[str, list[str]] = {}
    for c in classes:
        annotations = (c.get("metadata") or {}).get("annotations") or {}
        if annotations.get(DEFAULT_CLASS_ANNOTATION) == "true":
            defaults.setdefault(str(c.get("driver", "")), []).append(c["metadata"]["name"])
    return defaults


def check_class(name: str | None, classes: list[JSON] | None) -> None:
    """A --snapshot-class that does not exist is bad input, refused before anything."""
    if name is None:
        return
    if not any((c.get("metadata") or {}).get("name") == name for c in classes or []):
        raise UserInputError(f"VolumeSnapshotClass {name!r} not found in the cluster")


def zone_of(pv: JSON) -> str | None:
    labels = (pv.get("metadata") or {}).get("labels") or {}
    for key in _ZONE_KEYS:
        if labels.get(key):
            return str(labels[key])
    required = ((pv.get("spec") or {}).get("nodeAffinity") or {}).get("required") or {}
    for term in required.get("nodeSelectorTerms") or []:
        for expr in term.get("matchExpressions") or []:
            if expr.get("key") in _ZONE_KEYS and expr.get("values"):
                return str(expr["values"][0])
    return None


def ebs_volume_id(pv: JSON) -> str | None:
    spec = pv.get("spec") or {}
    if "awsElasticBlockStore" in spec:
        # in-tree: "vol-123" or "aws://us-east-1a/vol-123"
        return str(spec["awsElasticBlockStore"].get("volumeID", "")).rsplit("/", 1)[-1] or None
    csi = spec.get("csi") or {}
    if csi.get("driver") == EBS_CSI_DRIVER:
        return str(csi.get("volumeHandle")) or None
    return None


def plan(
    claims: Iterable[JSON],
    volumes: Mapping[str, JSON],
    classes: list[JSON] | None,
    *,
    chosen_class: str | None,
    explicit: bool,
) -> Plan:
    """The snapshots to take of `claims` (bound to `volumes`, by name).

    `classes` are the cluster's VolumeSnapshotClasses (None: the API is not served).
    Unless `explicit`, a cluster with no snapshot class at all snapshots only EBS
    volumes and is silent about the rest (it has no volume snapshots to offer).
    """
    by_name = {c["metadata"]["name"]: c for c in classes or []}
    defaults = _default_classes(classes or [])
    silent = not explicit and not by_name
    tasks: list[Task] = []
    skipped: list[VolumeSnapshotRecord] = []
    for claim in claims:
        meta, spec = claim.get("metadata") or {}, claim.get("spec") or {}
        base = VolumeSnapshotRecord(
            namespace=meta.get("namespace", ""),
            claim=meta.get("name", ""),
            storage_class=spec.get("storageClassName"),
            size=quantity_bytes(((claim.get("status") or {}).get("capacity") or {}).get("storage")),
            state=SnapshotState.skipped,
        )
        pv = volumes.get(spec.get("volumeName") or "")
        if (claim.get("status") or {}).get("phase") != "Bound" or pv is None:
            if not silent:
                skipped.append(_skip(base, "the claim is not bound to a volume"))
            continue
        base = base.model_copy(update={"volume": pv["metadata"]["name"]})
        pv_spec = pv.get("spec") or {}
        volume_id = ebs_volume_id(pv)
        if volume_id is not None:
            driver = EBS_IN_TREE if "awsElasticBlockStore" in pv_spec else EBS_CSI_DRIVER
            fs_type = (pv_spec.get("awsElasticBlockStore") or pv_spec.get("csi") or {}).get(
                "fsType"
            )
            tasks.append(
                Task(
                    base.model_copy(
                        update={
                            "driver": driver,
                            "method": "ebs",
                            "snapshot_handle": None,
                            "availability_zone": zone_of(pv),
                            "fs_type": fs_type,
                            "source_volume_id": volume_id,
                        }
                    )
                )
            )
            continue
        csi_driver = (pv_spec.get("csi") or {}).get("driver")
        if not csi_driver:
            if not silent:
                skipped.append(_skip(base, "its volume is not a CSI volume; no snapshot"))
            continue
        driver = str(csi_driver)
        base = base.model_copy(update={"driver": driver})
        chosen = by_name.get(chosen_class or "")
        if chosen is not None and chosen.get("driver") == driver:
            class_name = str(chosen["metadata"]["name"])
        elif len(defaults.get(driver, [])) == 1:
            class_name = defaults[driver][0]
        else:
            if silent:
                continue
            found = defaults.get(driver, [])
            why = (
                f"driver {driver} has {len(found)} default VolumeSnapshotClasses "
                f"({', '.join(sorted(found))}); choose one with --snapshot-class"
                if found
                else f"no VolumeSnapshotClass for driver {driver}"
            )
            skipped.append(_skip(base, why))
            continue
        tasks.append(Task(base.model_copy(update={"snapshot_class": class_name})))
    return Plan(tasks, skipped)


def _skip(record: VolumeSnapshotRecord, why: str) -> VolumeSnapshotRecord:
    return record.model_copy(update={"method": "none", "message": why})
