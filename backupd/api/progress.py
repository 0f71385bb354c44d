"""How an engine tells its driver what is happening, and how a driver stops it.

Every engine (backup, restore, later drill) is called the same way:

    backupd.backup.engine.run(name, spec, *, kube, location, report, cancel, labels=...)
    backupd.restore.engine.run(name, spec, *, kube, location, report, cancel)

`report` is a Reporter: it hears each phase change (with the step the engine is at),
progress as (done, total) with `done` never going down, and every warning and error
as it happens. The CLI draws them with its progress bar; the controller patches them
into the resource's status. Calls may come from an engine's worker threads, one at a
time.

`cancel` is anything with `is_set()` (a `threading.Event` will do). The engine looks
at it before each item and stops cleanly: a backup ends Failed with the reason
CANCELLED (never Completed, whatever it had written), a restore stops applying and
reports the items it did not attempt.

Pure types, no I/O.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from backupd.api.common import Phase
from backupd.errors import BackupdError

CANCELLED = "cancelled"


class Step(StrEnum):
    """Where an engine is within its InProgress phase (and `done` once it is final)."""

    validating = "validating"
    discovering = "discovering"
    listing = "listing"
    uploading = "uploading"
    committing = "committing"
    reading = "reading"
    planning = "planning"
    applying = "applying"
    storing = "storing"
    waiting = "waiting"  # a restore waits for its workloads to be ready
    done = "done"


class Reporter(Protocol):
    def phase(self, phase: Phase, step: Step) -> None: ...

    def progress(self, done: int, total: int) -> None: ...

    def warning(self, message: str) -> None: ...

    def error(self, message: str) -> None: ...


class Cancel(Protocol):
    def is_set(self) -> bool: ...


class Cancelled(BackupdError):
    """The driver asked the run to stop (Cancel.is_set())."""

    def __init__(self, message: str = CANCELLED) -> None:
        super().__init__(message)


class Silent:
    """A Reporter that hears nothing."""

    def phase(self, phase: Phase, step: Step) -> None:
        pass

    def progress(self, done: int, total: int) -> None:
        pass

    def warning(self, message: str) -> None:
        pass

    def error(self, message: str) -> None:
        pass


class Never:
    """A Cancel that is never set."""

    def is_set(self) -> bool:
        return False


SILENT = Silent()
NEVER = Never()


@dataclass
class Callbacks:
    """A Reporter made of optional callables (a driver that cares about some events)."""

    on_phase: Callable[[Phase, Step], None] | None = None
    on_progress: Callable[[int, int], None] | None = None
    on_warning: Callable[[str], None] | None = None
    on_error: Callable[[str], None] | None = None

    def phase(self, phase: Phase, step: Step) -> None:
        if self.on_phase is not None:
            self.on_phase(phase, step)

    def progress(self, done: int, total: int) -> None:
        if self.on_progress is not None:
            self.on_progress(done, total)

    def warning(self, message: str) -> None:
        if self.on_warning is not None:
            self.on_warning(message)

    def error(self, message: str) -> None:
        if self.on_error is not None:
            self.on_error(message)


@dataclass
class Recorder:
    """A Reporter that keeps everything it hears, in order; safe across threads."""

    phases: list[tuple[Phase, Step]] = field(default_factory=list)
    progresses: list[tuple[int, int]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def phase(self, phase: Phase, step: Step) -> None:
        with self._lock:
            self.phases.append((phase, step))

    def progress(self, done: int, total: int) -> None:
        with self._lock:
            self.progresses.append((done, total))

    def warning(self, message: str) -> None:
        with self._lock:
            self.warnings.append(message)

    def error(self, message: str) -> None:
        with self._lock:
            self.errors.append(message)


class Interrupt(threading.Event):
    """A Cancel that says why: the CLI sets one on SIGINT/SIGTERM ("interrupted")."""

    def __init__(self, reason: str = CANCELLED) -> None:
        super().__init__()
        self.reason = reason


def reason_of(cancel: Cancel) -> str:
    """Why a run was stopped: the Cancel's own reason if it has one, else "cancelled"."""
    reason = getattr(cancel, "reason", None)
    return reason if isinstance(reason, str) and reason else CANCELLED


def check(cancel: Cancel) -> None:
    """Raise Cancelled when the driver asked to stop."""
    if cancel.is_set():
        raise Cancelled(reason_of(cancel))
