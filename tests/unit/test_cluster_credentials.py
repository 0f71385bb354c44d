"""Credential refresh shared by many threads: one at a time, bounded."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from backupd.cluster import credentials as credentials_module
from backupd.cluster.credentials import Credentials, TokenFile


class Plugin:
    """A stand-in exec plugin: counts its runs, slow enough for threads to pile up."""

    def __init__(self, *tokens: str) -> None:
        self.tokens = list(tokens)
        self.runs = 0

    def __call__(self) -> str:
        self.runs += 1
        time.sleep(0.05)
        return self.tokens.pop(0)


def test_many_threads_refused_at_once_cause_one_refresh() -> None:
    plugin = Plugin("Bearer good")
    creds = Credentials("Bearer bad", describe="exec plugin", reload=plugin)
    generation, _ = creds.current()
    answers: list[bool] = []
    threads = [
        threading.Thread(target=lambda: answers.append(creds.refresh(generation))) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [True] * 8
    assert plugin.runs == 1
    assert creds.current()[1] == "Bearer good"


def test_a_refresh_that_gives_the_same_token_is_not_repeated() -> None:
    plugin = Plugin("Bearer bad", "Bearer bad")
    creds = Credentials("Bearer bad", describe="exec plugin", reload=plugin)
    generation, _ = creds.current()
    assert creds.refresh(generation) is False
    assert creds.refresh(generation) is False
    assert plugin.runs == 1


def test_a_failing_refresh_keeps_the_old_token_and_says_why() -> None:
    def broken() -> str:
        raise OSError("exec: process returned 1\nsecond line")

    creds = Credentials("Bearer old", describe="exec plugin", reload=broken)
    assert creds.refresh(creds.current()[0]) is False
    assert creds.current()[1] == "Bearer old"
    assert creds.problem == "OSError: exec: process returned 1"


def test_the_expiry_check_runs_at_most_once_per_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    clock = [1000.0]  # a clock of our own: a busy machine cannot stretch the loops below
    monkeypatch.setattr(credentials_module, "time", SimpleNamespace(monotonic=lambda: clock[0]))

    def check() -> str:
        calls.append(1)
        return "Bearer same"

    creds = Credentials("Bearer same", describe="x", check=check, check_every=0.05)
    for _ in range(100):
        creds.current()
    assert calls == []
    clock[0] += 0.06
    for _ in range(100):
        creds.current()
    assert len(calls) == 1


def test_a_rotated_token_file_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("first\n")
    creds = TokenFile(path).credentials("token file", check_every=0)
    assert creds.current() == (0, "Bearer first")
    replacement = tmp_path / "token.new"
    replacement.write_text("second\n")
    os.replace(replacement, path)  # how kubelet rotates a projected token: a new file
    assert creds.current() == (1, "Bearer second")


def test_a_401_rereads_a_token_file_even_before_the_next_check(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("first")
    creds = TokenFile(path).credentials("token file")
    generation, _ = creds.current()
    path.write_text("second")
    assert creds.refresh(generation) is True
    assert creds.current()[1] == "Bearer second"


def test_a_refused_token_file_is_looked_at_again_when_it_rotates(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("expired")
    creds = TokenFile(path).credentials("token file")
    generation, _ = creds.current()
    assert creds.refresh(generation) is False  # re-read: still the same token
    assert creds.refresh(generation) is False
    replacement = tmp_path / "token.new"
    replacement.write_text("rotated")
    os.replace(replacement, path)
    assert creds.refresh(generation) is True
    assert creds.current()[1] == "Bearer rotated"
