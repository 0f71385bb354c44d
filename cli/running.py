"""Running a backup or restore in the foreground: Ctrl-C, SIGTERM and the progress bar.

The first SIGINT or SIGTERM sets an Interrupt (a Cancel with the reason "interrupted"):
the engine takes no new item (its workers look before each one), lets the one in flight
finish, and records the run as Failed or PartiallyFailed with what it did. The command
then prints one line and exits 130, as a shell expects of an interrupted program. A
second Ctrl-C while it winds down stops at once (KeyboardInterrupt).

The bar knows its total before it moves: while a backup is still listing, the total
grows with each page, so the bar shows a count and no total until the listing ends.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import NoReturn

from backupd.api.common import Phase
from backupd.api.progress import Callbacks, Interrupt, Step

INTERRUPTED = "interrupted"
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C
_COUNTING = (Step.validating, Step.discovering, Step.listing)


@contextmanager
def interruptible(what: str) -> Iterator[Interrupt]:
    """SIGINT/SIGTERM set the yielded Interrupt instead of raising; restored on exit.

    Outside the main thread (tests calling the command in a thread) signals cannot be
    caught, so the Interrupt is simply never set.
    """
    stop = Interrupt(INTERRUPTED)
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt  # the second one: stop now
        stop.set()
        name = signal.Signals(signum).name
        sys.stderr.write(
            f"\n{name}: stopping {what} after the items in flight (Ctrl-C again to abort now)\n"
        )
        sys.stderr.flush()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def exit_interrupted(message: str) -> NoReturn:
    """One line on stderr, exit 130."""
    sys.stderr.write(f"interrupted: {message}\n")
    sys.stderr.flush()
    raise SystemExit(EXIT_INTERRUPTED)


def bar_reporter(update: Callable[[int, int], None]) -> Callbacks:
    """A Reporter driving `update(done, total)`; total is -1 (unknown) while counting."""
    step = [Step.validating]

    def on_phase(_phase: Phase, now: Step) -> None:
        step[0] = now

    def on_progress(done: int, total: int) -> None:
        update(done, -1 if step[0] in _COUNTING else total)

    return Callbacks(on_phase=on_phase, on_progress=on_progress)
