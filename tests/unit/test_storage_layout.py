from __future__ import annotations

import pytest

from backupd.errors import UserInputError
from backupd.storage.layout import (
    BackupKeys,
    DrillKeys,
    RestoreKeys,
    metadata_key,
    validate_key,
    validate_name,
)


def test_backup_keys_follow_the_documented_layout() -> None:
    keys = BackupKeys("nightly-2024.05.01")
    assert keys.prefix == "backups/nightly-2024.05.01/"
    assert keys.metadata == "backups/nightly-2024.05.01/backup.json"
    assert keys.archive("gzip") == "backups/nightly-2024.05.01/resources.tar.gz"
    assert keys.archive("zstd") == "backups/nightly-2024.05.01/resources.tar.zst"
    assert keys.index == "backups/nightly-2024.05.01/index.json.gz"
    assert keys.log == "backups/nightly-2024.05.01/backup.log.gz"
    assert keys.volumesnapshots == "backups/nightly-2024.05.01/volumesnapshots.json"


def test_restore_and_drill_keys_live_under_their_own_prefixes() -> None:
    restore = RestoreKeys("r1")
    assert (restore.prefix, restore.metadata, restore.log, restore.results) == (
        "restores/r1/",
        "restores/r1/restore.json",
        "restores/r1/restore.log.gz",
        "restores/r1/results.json",
    )
    drill = DrillKeys("d1")
    assert (drill.prefix, drill.metadata, drill.report) == (
        "drills/d1/",
        "drills/d1/drill.json",
        "drills/d1/report.json",
    )
    assert metadata_key("restores", "r1") == restore.metadata


def test_every_key_of_a_backup_is_under_its_prefix_and_valid() -> None:
    keys = BackupKeys("b")
    for key in (keys.metadata, keys.archive(), keys.index, keys.log, keys.volumesnapshots):
        assert key.startswith(keys.prefix)
        assert validate_key(key) == key


def test_unknown_compression_is_refused() -> None:
    with pytest.raises(UserInputError, match="compression"):
        BackupKeys("b").archive("bzip2")  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["a", "nightly", "a-b", "a.b", "0", "x" * 63, "web-1.prod"])
def test_kubernetes_style_names_are_accepted(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "empty"),
        ("x" * 64, "longer than 63"),
        ("a/b", "slash"),
        ("../etc", "slash"),
        ("a..b", "'..'"),
        ("..", "'..'"),
        ("Upper", "lower case"),
        ("-lead", "lower case"),
        ("trail-", "lower case"),
        (".dot", "lower case"),
        ("under_score", "lower case"),
        ("sp ace", "lower case"),
        ("a\\b", "slash"),
        ("nul\x00", "lower case"),
    ],
)
def test_bad_names_are_refused_before_any_key_is_built(name: str, reason: str) -> None:
    with pytest.raises(UserInputError, match=reason):
        validate_name(name)
    with pytest.raises(UserInputError):
        BackupKeys(name)


def test_the_error_names_what_was_being_named() -> None:
    with pytest.raises(UserInputError, match="invalid restore name"):
        RestoreKeys("Bad")
    with pytest.raises(UserInputError, match="invalid drill name"):
        DrillKeys("Bad")
    with pytest.raises(UserInputError, match="invalid location name"):
        validate_name("a/b", "location")


def test_a_very_long_name_is_shortened_in_the_message() -> None:
    with pytest.raises(UserInputError) as info:
        validate_name("y" * 5000)
    assert len(str(info.value)) < 200


@pytest.mark.parametrize(
    "key", ["", "/abs", "a//b", "a/../b", "../a", "a/.", "./a", "a\\b", "a\nb", "a/", "x" * 1025]
)
def test_unsafe_keys_are_refused(key: str) -> None:
    with pytest.raises(UserInputError):
        validate_key(key)


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(UserInputError, match="unknown kind"):
        metadata_key("schedules", "a")
