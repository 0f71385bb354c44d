"""Types shared by every API object."""

from __future__ import annotations

import datetime
import re
from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from backupd.errors import UserInputError

# Validation context of a record read back from storage (see Model.from_stored).
_STORED = "backupd.stored"


def reading_stored(info: ValidationInfo) -> bool:
    """Whether a validator runs on a record read back from storage (not on user input)."""
    return bool(info.context and info.context.get(_STORED))


class Model(BaseModel):
    """camelCase on the wire, snake_case in Python.

    Unknown fields are refused in what we build or take from a user (a typo in a
    flag or a CR is an error), and ignored, at any depth, in a record read back from
    storage with `from_stored` (a newer backupd may have written fields we do not know).
    """

    model_config = ConfigDict(
        alias_generator=lambda s: re.sub(r"_([a-z])", lambda m: m.group(1).upper(), s),
        populate_by_name=True,
        extra="forbid",
        # Each model's validator is built on its first use, not at import: a command
        # that reads only Backups never pays for Restores, Drills, Schedules (fast start).
        # pydantic >= 2.14 builds under a lock, so a first use from threads is safe.
        defer_build=True,
    )

    @model_validator(mode="before")
    @classmethod
    def _drop_unknown_when_stored(cls, data: Any, info: ValidationInfo) -> Any:
        if not (isinstance(data, dict) and info.context and info.context.get(_STORED)):
            return data
        known = {n for name, f in cls.model_fields.items() for n in (name, f.alias or name)}
        return {k: v for k, v in data.items() if k in known}

    @classmethod
    def from_stored(cls, data: object) -> Self:
        """Validate a record read from storage, ignoring fields this version does not know.

        Raises pydantic.ValidationError (or a validator's UserInputError) like
        model_validate for anything else that is wrong.
        """
        return cls.model_validate(data, context={_STORED: True})

    def to_json_dict(self) -> dict[str, object]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Phase(StrEnum):
    new = "New"
    in_progress = "InProgress"
    completed = "Completed"
    partially_failed = "PartiallyFailed"
    failed = "Failed"

    @property
    def final(self) -> bool:
        return self in (Phase.completed, Phase.partially_failed, Phase.failed)


class ObjectMeta(Model):
    name: str
    creation_timestamp: datetime.datetime | None = None
    labels: dict[str, str] = Field(default_factory=dict)


class Issue(Model):
    """One warning or error, tied to an item where there is one."""

    message: str
    namespace: str | None = None
    resource: str | None = None
    name: str | None = None

    def where(self) -> str:
        parts = [p for p in (self.resource, self.namespace, self.name) if p]
        return "/".join(parts) if parts else "(cluster)"


class StoredObject(Model):
    """An object written to storage, with its digest."""

    key: str
    size: int
    sha256: str


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(text: str) -> datetime.timedelta:
    """'720h', '30d', '1h30m', '90s' -> timedelta. Raises UserInputError."""
    m = _DURATION.match(text.strip())
    if not text.strip() or m is None or not any(m.groups()):
        raise UserInputError(f"invalid duration {text!r}: use e.g. 720h, 30d, 1h30m")
    d, h, mi, s = (int(g) if g else 0 for g in m.groups())
    return datetime.timedelta(days=d, hours=h, minutes=mi, seconds=s)


def format_duration(td: datetime.timedelta) -> str:
    total = int(td.total_seconds())
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m}m{s}s" if (m or s) else f"{h}h"
