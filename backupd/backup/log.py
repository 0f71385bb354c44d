"""The backup (or restore) log: timestamped lines in a local file, stored gzip'd beside the data."""

from __future__ import annotations

import datetime
import gzip
import shutil
from collections.abc import Callable
from pathlib import Path


class OperationLog:
    def __init__(self, path: Path, *, echo: Callable[[str], None] | None = None) -> None:
        self.path = path
        self._file = path.open("w", encoding="utf-8")
        self._echo = echo

    def _write(self, level: str, message: str) -> None:
        ts = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        line = f"{ts} {level:<7} {message}"
        self._file.write(line + "\n")
        if self._echo is not None:
            self._echo(line)

    def info(self, message: str) -> None:
        self._write("info", message)

    def warning(self, message: str) -> None:
        self._write("warning", message)

    def error(self, message: str) -> None:
        self._write("error", message)

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def gzipped(self) -> Path:
        """Close the log and write a gzip copy next to it; returns its path."""
        self.close()
        out = self.path.with_suffix(self.path.suffix + ".gz")
        with self.path.open("rb") as src, gzip.open(out, "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst)
        return out


def listed_line(
    api_version: str, resource: str, namespace: str | None, listed: int, taken: int
) -> str:
    """What one LIST found, for the log: `listed apps/v1 deployments in shop: 3 items`
    (`in all namespaces` for a cluster-wide LIST of a namespaced type, `cluster-scoped`
    for the others), and how many the backup took when that is fewer."""
    where = f" in {namespace}" if namespace else ""
    text = f"listed {api_version} {resource}{where}: {listed} item{'' if listed == 1 else 's'}"
    return text if taken == listed else f"{text}, {taken} taken"


class Listings:
    """Items listed and taken per LIST (resource and namespace) during a backup, in
    the order the LISTs were planned; `lines()` says what each found."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str, str], list[int]] = {}

    def plan(self, api_version: str, resource: str, namespace: str) -> None:
        self._counts.setdefault((api_version, resource, namespace), [0, 0])

    def count(
        self, api_version: str, resource: str, namespace: str, listed: int, taken: int
    ) -> None:
        counts = self._counts.setdefault((api_version, resource, namespace), [0, 0])
        counts[0] += listed
        counts[1] += taken

    def lines(self) -> list[str]:
        """A line per LIST counted since the last call (each LIST is said once)."""
        out = [
            listed_line(api, res, ns or None, listed, taken)
            for (api, res, ns), (listed, taken) in self._counts.items()
        ]
        self._counts.clear()
        return out
