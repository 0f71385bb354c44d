import datetime
from pathlib import Path

import pytest

from backupd.errors import UserInputError
from backupd.storage.layout import validate_name
from backupd.storage.location import open_location
from cli.restore import _mappings, default_name, unused_name

AT = datetime.datetime(2026, 11, 25, 3, 4, 5, tzinfo=datetime.UTC)


def test_default_name_is_backup_and_time() -> None:
    assert default_name("nightly-2026-11-25", AT) == "nightly-2026-11-25-20261125030405"


def test_default_name_of_a_long_backup_is_still_a_valid_name() -> None:
    name = default_name("b" * 60 + "-x", AT)
    assert validate_name(name, "restore") == name
    assert name.endswith("-20261125030405")


def test_mappings_accept_commas_and_repeats() -> None:
    assert _mappings(["shop:shop-2,auth:auth-2", "db:db-2"], "namespace") == {
        "shop": "shop-2",
        "auth": "auth-2",
        "db": "db-2",
    }


@pytest.mark.parametrize("bad", ["shop", "shop:", ":x"])
def test_a_mapping_needs_source_and_target(bad: str) -> None:
    with pytest.raises(UserInputError, match="use SOURCE:TARGET"):
        _mappings([bad], "namespace")


def test_a_default_name_taken_in_the_same_second_gets_a_suffix(tmp_path: Path) -> None:
    loc = open_location(tmp_path.as_uri())
    assert unused_name(loc, "shop-20261125030405") == "shop-20261125030405"
    loc.put_bytes("restores/shop-20261125030405/restore.json", b"{}")
    loc.put_bytes("restores/shop-20261125030405-2/restore.json", b"{}")
    assert unused_name(loc, "shop-20261125030405") == "shop-20261125030405-3"
