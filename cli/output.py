"""Printing: tables for people, JSON and YAML for scripts. Secret values never pass here."""

from __future__ import annotations

import datetime
import json
import sys
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Any

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

# Not a terminal (a pipe, a CI log): do not wrap tables at 80 columns.
console = Console(width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    yaml = "yaml"
    name = "name"


OutputOption = typer.Option(OutputFormat.table, "-o", "--output", help="table, json, yaml or name")


def _names(data: Any) -> list[str]:
    items = data if isinstance(data, list) else [data]
    return [str(i["metadata"]["name"]) for i in items if isinstance(i, dict) and "metadata" in i]


def emit(data: Any, fmt: OutputFormat, table: Callable[[], None]) -> None:
    """Print `data` as JSON/YAML, its object names (one per line), or call `table` to
    draw it for a person."""
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    elif fmt is OutputFormat.yaml:
        sys.stdout.write(yaml.safe_dump(data, sort_keys=False, default_flow_style=False))
    elif fmt is OutputFormat.name:
        for name in _names(data):
            sys.stdout.write(name + "\n")
    else:
        table()


def print_table(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str | None = None
) -> None:
    t = Table(title=title, box=None, header_style="bold", pad_edge=False)
    for c in columns:
        t.add_column(c)
    for r in rows:
        # data, never markup; a rich Text (a coloured STATUS) is already safe
        t.add_row(*(v if isinstance(v, Text) else "" if v is None else escape(str(v)) for v in r))
    console.print(t)


def info(message: str) -> None:
    err_console.print(message, highlight=False, soft_wrap=True)


def warn(message: str) -> None:
    """A warning on stderr, `warning: ...`; stdout stays clean for -o json/yaml/name."""
    err_console.print(f"warning: {message}", highlight=False, markup=False, soft_wrap=True)


def timestamp(value: datetime.datetime | str | None) -> str:
    """A time as every command prints it: `2026-11-26 18:26:06 UTC` (a naive time is
    UTC; a string is parsed as ISO 8601 first, and shown as it is if it is not one)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            return timestamp(datetime.datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
