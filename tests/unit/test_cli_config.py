"""The backupctl config file and how a command finds its location."""

from __future__ import annotations

from pathlib import Path

import pytest

from backupd.errors import NotFoundError, UserInputError
from backupd.storage.location import DEFAULT_URL, AccessMode
from cli.config import (
    LocationEntry,
    Source,
    choose_location,
    editing,
    load_config,
    resolve_location,
)


@pytest.fixture(autouse=True)
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cfg" / "config.yaml"
    monkeypatch.setenv("BACKUPD_CONFIG", str(path))
    monkeypatch.delenv("BACKUPD_LOCATION", raising=False)
    return path


def test_no_config_no_env_means_the_default_directory() -> None:
    assert resolve_location(None).url == DEFAULT_URL


def test_env_is_used_when_the_config_has_no_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BACKUPD_LOCATION", (tmp_path / "env").as_uri())
    assert resolve_location(None).url == (tmp_path / "env").as_uri()


def test_env_overrides_the_config_default_as_kubeconfig_does(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with editing() as config:
        config.add(LocationEntry("a", (tmp_path / "a").as_uri()))
        config.add(LocationEntry("b", (tmp_path / "b").as_uri(), default=True))
    assert resolve_location(None).url == (tmp_path / "b").as_uri()
    monkeypatch.setenv("BACKUPD_LOCATION", (tmp_path / "env").as_uri())
    assert resolve_location(None).url == (tmp_path / "env").as_uri()
    monkeypatch.setenv("BACKUPD_LOCATION", "a")  # a name works too
    assert resolve_location(None).url == (tmp_path / "a").as_uri()
    assert resolve_location((tmp_path / "c").as_uri()).url == (tmp_path / "c").as_uri()


def test_a_read_only_location_stays_read_only(tmp_path: Path) -> None:
    with editing() as config:
        config.add(LocationEntry("ro", tmp_path.as_uri(), AccessMode.ReadOnly))
        config.add(LocationEntry("rw", tmp_path.as_uri()))
    assert resolve_location("ro", access_mode=AccessMode.ReadWrite).read_only
    assert resolve_location("rw", access_mode="ReadOnly").read_only
    assert not resolve_location("rw").read_only


def test_unknown_names_and_non_names() -> None:
    with pytest.raises(NotFoundError, match="location 'prod' not found"):
        resolve_location("prod")
    with pytest.raises(UserInputError, match="neither a location name nor a URL"):
        resolve_location("/var/backups")


def test_config_round_trips_and_keeps_unknown_keys(config_file: Path) -> None:
    config_file.parent.mkdir(parents=True)
    config_file.write_text(
        "contexts: {prod: {kubeconfig: /k}}\nlocations:\n- name: x\n  url: file:///x\n"
    )
    with editing() as config:
        config.add(LocationEntry("y", "file:///y", default=True))
    again = load_config()
    assert again.extra == {"contexts": {"prod": {"kubeconfig": "/k"}}}
    assert [(e.name, e.access_mode, e.default) for e in again.locations.values()] == [
        ("x", AccessMode.ReadWrite, False),
        ("y", AccessMode.ReadWrite, True),
    ]


def test_a_broken_config_file_is_one_clear_error(config_file: Path) -> None:
    config_file.parent.mkdir(parents=True)
    config_file.write_text("locations: [\n")
    with pytest.raises(UserInputError, match="is not valid YAML"):
        load_config()
    config_file.write_text("locations:\n- url: file:///x\n")
    with pytest.raises(UserInputError, match="needs a name"):
        load_config()


def test_an_error_while_editing_saves_nothing(config_file: Path) -> None:
    with pytest.raises(UserInputError), editing() as config:
        config.add(LocationEntry("ok", "file:///ok"))
        config.add(LocationEntry("Bad Name", "file:///x"))
    assert not config_file.exists()


def test_a_file_location_to_read_must_exist(tmp_path: Path) -> None:
    missing = (tmp_path / "typo").as_uri()
    with pytest.raises(NotFoundError, match="does not exist: no directory"):
        resolve_location(missing, access_mode="ReadOnly")
    assert resolve_location(missing).url == missing  # a new location to write is fine


def test_the_chosen_location_says_where_it_came_from(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with editing() as config:
        config.add(LocationEntry("home", (tmp_path / "home").as_uri(), default=True))
        config.add(LocationEntry("other", (tmp_path / "other").as_uri()))
    assert choose_location(None).source is Source.config_default
    assert choose_location("other").describe() == (
        f"location: other ({(tmp_path / 'other').as_uri()}), from --location"
    )
    monkeypatch.setenv("BACKUPD_LOCATION", "other")
    assert choose_location(None).source is Source.env
    with editing() as config:
        config.set_default("other")
    assert [e.name for e in load_config().locations.values() if e.default] == ["other"]
