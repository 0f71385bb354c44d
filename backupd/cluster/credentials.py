"""The Authorization header requests carry, and its refresh: one at a time.

Many worker threads share one KubeClient, so one Credentials. Each header value
has a generation number. Two ways it changes, both under one lock:

- `current()` runs the cheap check (the kubernetes package's refresh_api_key_hook,
  which re-runs an exec plugin or refreshes an OIDC token once it has expired, or
  a stat of a token file that rotates) at most once every `check_every` seconds;
- `refresh(generation)` after a 401: reload (re-run the exec plugin, re-read the
  token file). If another thread already replaced that generation, nothing is
  reloaded and the caller retries with the newer one. A generation that was
  refused after a refresh is never reloaded again (only checked), so a credential
  that stays bad runs its plugin a bounded number of times, however many threads
  hit it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

Header = str | None
_CHECK_EVERY = 1.0


class Credentials:
    """A header, a description for messages, an optional check and reload."""

    def __init__(
        self,
        header: Header,
        *,
        describe: str,
        check: Callable[[], Header] | None = None,
        reload: Callable[[], Header] | None = None,
        check_every: float = _CHECK_EVERY,
    ) -> None:
        self.describe = describe
        self._state: tuple[int, Header] = (0, header)
        self._check = check
        self._reload = reload
        self._every = check_every
        self._next_check = time.monotonic() + check_every
        self._refused = -1
        self._lock = threading.Lock()
        self.refreshes = 0  # forced reloads done (for tests and logs)
        self.problem: str | None = None  # why the last reload failed

    def current(self) -> tuple[int, Header]:
        """(generation, Authorization header value or None)."""
        if self._check is not None and time.monotonic() >= self._next_check:
            with self._lock:
                if time.monotonic() >= self._next_check:
                    self._update(self._guard(self._check))
                    self._next_check = time.monotonic() + self._every
        return self._state

    def refresh(self, generation: int) -> bool:
        """After a 401 with `generation`: is there a different credential to try now?"""
        with self._lock:
            if self._state[0] != generation:
                return True  # another thread refreshed meanwhile
            if generation == self._refused or self._reload is None:
                # no reload (again); the cheap check still sees a file rotated since
                if self._check is None:
                    return False
                self._next_check = time.monotonic() + self._every
                return self._update(self._guard(self._check))
            self.refreshes += 1
            changed = self._update(self._guard(self._reload))
            if not changed:
                self._refused = generation
            return changed

    def refused(self, generation: int) -> None:
        """The server refused `generation` even right after a refresh."""
        with self._lock:
            if self._state[0] == generation:
                self._refused = generation

    def _guard(self, fetch: Callable[[], Header]) -> Header:
        try:
            header = fetch()
        except Exception as e:  # an exec plugin or a token file can fail in many ways
            first = str(e).strip().splitlines()
            self.problem = f"{type(e).__name__}: {first[0]}" if first else type(e).__name__
            return self._state[1]
        self.problem = None
        return header

    def _update(self, header: Header) -> bool:
        generation, old = self._state
        if header == old:
            return False
        self._state = (generation + 1, header)
        return True


class TokenFile:
    """A bearer token kept in a file that is rotated (a projected service-account
    token, a kubeconfig user's tokenFile): re-read when the file changes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._seen: tuple[int, int, int] | None = None
        self._header: Header = None

    @staticmethod
    def _identity(st: os.stat_result) -> tuple[int, int, int]:
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def read(self) -> Header:
        """The header from the file as it is now."""
        seen = self._identity(os.stat(self.path))
        token = self.path.read_text().strip()
        self._seen, self._header = seen, (f"Bearer {token}" if token else None)
        return self._header

    def check(self) -> Header:
        """The header, re-read only when the file's identity, size or time changed."""
        if self._identity(os.stat(self.path)) != self._seen:
            return self.read()
        return self._header

    def credentials(self, describe: str, *, check_every: float = _CHECK_EVERY) -> Credentials:
        return Credentials(
            self.read(),
            describe=describe,
            check=self.check,
            reload=self.read,
            check_every=check_every,
        )
