"""Printing: tables for people, JSON and YAML for scripts. Secret values never pass here."""

from __future__ import annotations

import datetime
import json
import sys
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from backupd.errors import UserInputError

# Not a terminal (a pipe, a CI log): do not wrap tables at 80 columns. No emoji codes: a
# message or a name that holds ":name:" is printed as it is (and the emoji table, 4 ms of
# each start, is never loaded).
console = Console(width=None if sys.stdout.isatty() else 200, emoji=False)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 200, emoji=False)


class OutputFormat(StrEnum):
    table = "table"
    wide = "wide"
    json = "json"
    yaml = "yaml"
    name = "name"


OutputOption = typer.Option(
    OutputFormat.table,
    "-o",
    "--output",
    metavar="FORMAT",
    help="table, wide (more columns), json, yaml or name (one name a line); "
    "json and yaml of several objects are a kubectl List",
    show_default=False,
)


def as_list(items: list[Any]) -> dict[str, Any]:
    """Several objects as kubectl prints them: a v1 List."""
    return {"apiVersion": "v1", "kind": "List", "items": items}


def _name_of(item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    meta = item.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("name"), str):
        return str(meta["name"])
    name = item.get("name")
    return name if isinstance(name, str) else None


def names(data: Any) -> list[str]:
    """The object names in `data` (one object or a list of them), for -o name."""
    items = data if isinstance(data, list) else [data]
    found = [n for n in map(_name_of, items) if n is not None]
    if items and not found:
        raise UserInputError("-o name: this output has no object names; use -o json or -o yaml")
    return found


def emit(
    data: Any,
    fmt: OutputFormat,
    table: Callable[[], None],
    wide: Callable[[], None] | None = None,
) -> None:
    """Print `data` as JSON/YAML (a list of objects as a kubectl List), its object
    names (one per line), or call `table` (`wide` for -o wide, default `table`) to
    draw it for a person."""
    shown = as_list(data) if isinstance(data, list) else data
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps(shown, indent=2, sort_keys=False, default=str) + "\n")
    elif fmt is OutputFormat.yaml:
        import yaml  # only here: 13 ms of a start that prints no YAML

        sys.stdout.write(yaml.safe_dump(shown, sort_keys=False, default_flow_style=False))
    elif fmt is OutputFormat.name:
        for name in names(data):
            sys.stdout.write(name + "\n")
    elif fmt is OutputFormat.wide and wide is not None:
        wide()
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
