"""The small pure rules behind backupctl's words: suggestions, versions, metavars."""

from __future__ import annotations

from typing import Any

import pytest

from cli.usage import close
from cli.version import from_deployment, image_tag

OPTIONS = ["--location", "--storage-location", "--selector", "--include-namespaces"]


@pytest.mark.parametrize(
    ("typed", "suggested"),
    [
        ("--locaton", ["--location"]),  # a typo: only the nearest spelling
        ("--selecter", ["--selector"]),
        ("--namespaces", ["--include-namespaces"]),  # kubectl's word, inside ours
        ("--zzz", []),
    ],
)
def test_a_typo_suggests_only_the_nearest_options(typed: str, suggested: list[str]) -> None:
    assert close(typed, OPTIONS) == suggested


def test_a_misspelt_command_suggests_the_command() -> None:
    assert close("bakup", ["backup", "restore", "schedule", "drill", "location"]) == ["backup"]
    assert close("gte", ["create", "get", "describe", "delete"]) == ["get"]


@pytest.mark.parametrize(
    ("image", "tag"),
    [
        ("backupd:0.1.0", "0.1.0"),
        ("registry.example:5000/team/backupd:1.2.3", "1.2.3"),
        ("backupd:1.2.3@sha256:" + "a" * 64, "1.2.3"),
        ("registry.example:5000/backupd", None),  # a port is not a tag
        ("backupd@sha256:" + "b" * 64, None),
    ],
)
def test_the_server_version_is_the_images_tag(image: str, tag: str | None) -> None:
    assert image_tag(image) == tag


def _deployment(image: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": "backupd", "namespace": "backupd", "labels": labels or {}},
        "spec": {"replicas": 2, "template": {"spec": {"containers": [{"image": image}]}}},
        "status": {"readyReplicas": 1},
    }


def test_the_version_label_wins_over_the_image_tag() -> None:
    labelled = _deployment("backupd:latest", {"app.kubernetes.io/version": "0.3.0"})
    assert from_deployment(labelled)["version"] == "0.3.0"
    plain = from_deployment(_deployment("backupd:0.2.0"))
    assert plain == {
        "version": "0.2.0",
        "image": "backupd:0.2.0",
        "namespace": "backupd",
        "ready": "1/2",
    }
    assert from_deployment(_deployment("backupd"))["version"] == "unknown"
