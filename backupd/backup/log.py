"""The backup (or restore) log: timestamped lines in a local file, stored gzip'd beside the data."""

from __future__ import annotations

import datetime
import gzip
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
            dst.write(src.read())
        return out
