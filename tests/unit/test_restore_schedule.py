"""--from-schedule: the latest Completed backup of a schedule, read from the location."""

from __future__ import annotations

import datetime
from pathlib import Path

import orjson
import pytest

from backupd.api.backup import Backup
from backupd.api.common import ObjectMeta, Phase
from backupd.errors import NotFoundError, UserInputError
from backupd.restore.engine import SCHEDULE_LABEL, latest_of_schedule, resolve_backup
from backupd.storage.layout import BackupKeys
from backupd.storage.location import Location, open_location
from tests.unit.actions.builders import spec


def store(location: Location, name: str, day: int, phase: Phase, schedule: str | None) -> None:
    labels = {SCHEDULE_LABEL: schedule} if schedule else {}
    created = datetime.datetime(2026, 11, day, 3, tzinfo=datetime.UTC)
    b = Backup(metadata=ObjectMeta(name=name, creation_timestamp=created, labels=labels))
    b.status.phase = phase
    location.put_bytes(BackupKeys(name).metadata, orjson.dumps(b.to_json_dict()))


@pytest.fixture()
def location(tmp_path: Path) -> Location:
    loc = open_location(tmp_path.as_uri())
    store(loc, "nightly-b", 24, Phase.completed, "nightly")
    store(loc, "nightly-a", 25, Phase.completed, "nightly")  # newest by time, not by name
    store(loc, "nightly-c", 26, Phase.partially_failed, "nightly")
    store(loc, "weekly-1", 27, Phase.completed, "weekly")
    store(loc, "adhoc", 28, Phase.completed, None)
    store(loc, "broken", 28, Phase.failed, None)
    return loc


def test_latest_completed_by_creation_time(location: Location) -> None:
    assert latest_of_schedule(location, "nightly").metadata.name == "nightly-a"


def test_unknown_schedule(location: Location) -> None:
    with pytest.raises(NotFoundError, match="no Completed backup of schedule monthly"):
        latest_of_schedule(location, "monthly")


def test_by_name_refuses_a_failed_backup(location: Location) -> None:
    with pytest.raises(UserInputError, match="broken is Failed"):
        resolve_backup(location, spec(backup_name="broken"))
    assert resolve_backup(location, spec(backup_name="nightly-c")).metadata.name == "nightly-c"
