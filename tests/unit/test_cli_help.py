"""Every command's help: options explained, words as metavars, Examples that parse."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator

import pytest
import typer.main
from typer import _click as click

from backupd.storage import gcs, s3
from cli.examples import EXAMPLES
from cli.main import app, helptext

PYTHON_TYPE = re.compile(r"<[^>]*>|\{[^}]*\}|list\[|\b(str|int|float|bool|Path)\b")


def _root() -> click.Command:
    return helptext.polish(typer.main.get_command(app))


def _commands() -> Iterator[tuple[str, click.Command]]:
    """(path, command) of every command backupctl has, groups included."""
    root = _root()
    ctx = click.Context(root, info_name="backupctl")

    def walk(path: str, command: click.Command) -> Iterator[tuple[str, click.Command]]:
        yield path, command
        if hasattr(command, "list_commands"):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None, f"{path} {name} does not load"
                yield from walk(f"{path} {name}".strip(), sub)

    yield from walk("", root)


COMMANDS = dict(_commands())
LEAVES = [p for p, c in COMMANDS.items() if not hasattr(c, "list_commands")]


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_every_option_has_help_and_a_word_for_its_value(path: str) -> None:
    command = COMMANDS[path]
    ctx = click.Context(command, info_name=path or "backupctl")
    for param in command.params:
        record = param.get_help_record(ctx)
        if record is None:
            continue  # hidden
        shown, text = record
        assert not PYTHON_TYPE.search(shown), f"{path}: {shown!r} shows a Python type"
        if isinstance(param, click.core.Parameter) and param.param_type_name == "option":
            assert text.strip() and not text.startswith("["), f"{path}: {shown} has no help"


@pytest.mark.parametrize("path", sorted(LEAVES))
def test_every_command_has_examples_that_parse(path: str) -> None:
    command = COMMANDS[path]
    ctx = click.Context(command, info_name=path)
    assert "Examples:" in command.get_help(ctx), f"{path} has no Examples in its help"
    for example in EXAMPLES[path]:
        words = shlex.split(example)
        assert words[: 1 + len(path.split())] == ["backupctl", *path.split()], example
        args = words[1 + len(path.split()) :]
        command.make_context(path, args)  # raises on an unknown flag or a missing argument


def test_a_usage_line_shows_arguments_as_words() -> None:
    ctx = click.Context(COMMANDS["backup show"], info_name="backupctl backup show")
    usage = COMMANDS["backup show"].get_usage(ctx)
    assert usage.endswith("[OPTIONS] BACKUP TYPE/NAME"), usage


def test_the_root_help_puts_daily_work_before_plumbing() -> None:
    root = COMMANDS[""]
    listed = root.list_commands(click.Context(root))  # type: ignore[attr-defined]
    first = [listed.index(n) for n in ("backup", "restore", "schedule", "drill")]
    last = [listed.index(n) for n in ("location", "sandbox", "install")]
    assert first == sorted(first) and max(first) < min(last)


def test_location_add_documents_every_s3_and_gcs_url_parameter() -> None:
    command = COMMANDS["location add"]
    text = command.get_help(click.Context(command, info_name="location add"))
    for name in sorted(s3._PARAMS | gcs._PARAMS):
        assert re.search(rf"\b{name}\b", text), f"{name} is not documented"


def test_backup_create_says_what_leaving_out_namespaces_backs_up() -> None:
    command = COMMANDS["backup create"]
    text = " ".join(command.get_help(click.Context(command, info_name="x")).split())
    assert "Leaving out --include-namespaces (-n) backs up the whole cluster" in text
    assert "Volume data is kept as snapshots" in text
