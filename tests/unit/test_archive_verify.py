"""`backup verify` below the CLI: stored backups in a local location, good and hostile."""

from __future__ import annotations

from pathlib import Path

import pytest

from backupd.api.backup import Backup
from backupd.archive.stored import opened
from backupd.backup.verify import verify
from backupd.errors import ArchiveError, TrustError, UserInputError
from backupd.storage.location import Location, open_location
from tests.fixtures import hostile
from tests.fixtures.hostile import Case, configmap, member


@pytest.fixture()
def location(tmp_path: Path) -> Location:
    return open_location((tmp_path / "store").as_uri())


def good_case() -> Case:
    a, b = configmap("shop", "a"), configmap("shop", "b")
    return Case("", [a.entry, b.entry], hostile._plain(lambda: [a.member(), b.member()]))


def test_a_good_backup_verifies_with_and_without_reading_data(
    location: Location, tmp_path: Path
) -> None:
    hostile.store(location, "good", good_case(), tmp_path)
    [quick] = verify(location, ["good"])
    [full] = verify(location, ["good"], read_data=True)
    assert quick.ok and quick.items == 2 and quick.checked[-1] == "archive"
    assert full.ok and full.checked[-1] == "objects"


def test_a_hostile_backup_fails_with_one_problem_naming_it(
    location: Location, tmp_path: Path
) -> None:
    hostile.store(location, "good", good_case(), tmp_path)
    case = hostile.duplicate_and_missing("shop", tmp_path)
    hostile.store(location, "evil", case, tmp_path)
    verdicts = verify(location, [], every=True)
    assert [(v.name, v.ok) for v in verdicts] == [("evil", False), ("good", True)]
    [problem] = verdicts[0].problems
    assert "backup evil" in problem and case.refusal in problem


def test_an_object_that_is_not_its_entry_fails_only_when_data_is_read(
    location: Location, tmp_path: Path
) -> None:
    a = configmap("shop", "a")
    binding = hostile.item("ClusterRoleBinding", "configmaps", "shop", "a")
    entry = type(a.entry)(**{**a.entry.to_dict(), "sha256": binding.entry.sha256,
                             "size": binding.entry.size})  # fmt: skip
    case = Case("", [entry], hostile._plain(lambda: [member(a.path, binding.data)]))
    hostile.store(location, "swapped", case, tmp_path)
    assert verify(location, ["swapped"])[0].ok
    [full] = verify(location, ["swapped"], read_data=True)
    assert "not the object its index entry names" in full.problems[0]


def test_restore_and_show_read_the_same_items_the_stored_index_lists(
    location: Location, tmp_path: Path
) -> None:
    """The inner index may not add what `backup show` would not list."""
    backup = hostile.store(
        location, "extra", hostile.extra_inner_index_item("shop", tmp_path), tmp_path
    )
    with opened(location, backup) as stored:
        assert [e.name for e in stored.entries] == ["a"]
        with pytest.raises(ArchiveError, match="is not in the index"):
            stored.objects(stored.entries)


def test_missing_backups_and_damaged_records_fail(location: Location, tmp_path: Path) -> None:
    hostile.store(location, "good", good_case(), tmp_path)
    (tmp_path / "store" / "backups" / "broken").mkdir(parents=True)
    (tmp_path / "store" / "backups" / "broken" / "backup.json").write_text("{not json")
    named = verify(location, ["nope"])
    assert not named[0].ok and "nope" in named[0].problems[0]
    every = {v.name: v for v in verify(location, [], every=True)}
    assert every["good"].ok
    assert [v.ok for k, v in every.items() if "broken" in k] == [False]


def test_names_or_all_but_not_both() -> None:
    location = open_location("file:///nonexistent-backupd-test")
    with pytest.raises(UserInputError):
        verify(location, [])
    with pytest.raises(UserInputError):
        verify(location, ["a"], every=True)


def test_a_signature_hook_that_refuses_fails_the_backup(location: Location, tmp_path: Path) -> None:
    hostile.store(location, "good", good_case(), tmp_path)

    def refuse(_location: Location, backup: Backup) -> None:
        raise TrustError(f"backup {backup.metadata.name} is not signed by a trusted key")

    [verdict] = verify(location, ["good"], check_signature=refuse)
    assert verdict.problems == ["backup good is not signed by a trusted key"]
    assert "archive" not in verdict.checked
