"""Usage errors as one line: `error: ...`, with a "did you mean" where one is close.

click prints a usage error as a usage line, a "Try --help" line and the message;
backupctl prints the message on one line, like every other error, naming the help
to read.
"""

from __future__ import annotations

import difflib
import re

from typer._click import core
from typer._click import exceptions as clicked
from typer.core import TyperGroup

_NO_COMMAND = re.compile(r"No such command '(?P<name>[^']*)'\.?( Did you mean .*)?$")


def close(word: str, candidates: list[str]) -> list[str]:
    """Candidates close to `word`: the nearest spellings first (those nearly as near as
    the nearest), then those containing it."""
    scored = sorted(
        ((difflib.SequenceMatcher(None, word, c).ratio(), c) for c in candidates), reverse=True
    )
    best = scored[0][0] if scored else 0.0
    found = [c for score, c in scored if score >= max(0.6, best - 0.15)][:3]
    bare = word.lstrip("-")
    if len(bare) >= 3:
        found += [c for c in candidates if bare in c and c not in found]
    return found[:3]


# Words Velero and kubectl users type for what backupctl calls otherwise.
SYNONYMS = {
    "backup-location": "location",
    "backup-locations": "location",
    "bsl": "location",
    "locations": "location",
    "backups": "backup",
    "restores": "restore",
    "schedules": "schedule",
    "list": "get",
    "ls": "get",
    "rm": "delete",
    "remove": "delete",
    "info": "describe",
    "apply": "install",
}


def _options(command: core.Command) -> list[str]:
    return [opt for p in command.params for opt in (*p.opts, *p.secondary_opts)]


def _suggestion(e: clicked.UsageError) -> list[str]:
    ctx = e.ctx
    if ctx is None:
        return []
    if isinstance(e, clicked.NoSuchOption):
        known = [o for o in _options(ctx.command) if o.startswith("--")]
        return close(e.option_name, known)
    match = _NO_COMMAND.match(e.message)
    if match and isinstance(ctx.command, TyperGroup):
        commands = ctx.command.list_commands(ctx)
        synonym = SYNONYMS.get(match["name"].lower())
        return [synonym] if synonym in commands else close(match["name"], commands)
    return []


def one_line(e: clicked.UsageError) -> str:
    """The error as backupctl prints it (without the `error: ` prefix)."""
    text = e.message if isinstance(e, clicked.NoSuchOption) else e.format_message()
    text = text.replace("Value error, ", "")  # typer's wording of a bad choice
    unknown = _NO_COMMAND.match(text)
    if unknown:  # click's own suggestion goes; ours follows, worded as for options
        text = f"No such command '{unknown['name']}'"
    message = text.rstrip(".")
    suggestions = _suggestion(e)
    if suggestions:
        message += f"; did you mean {' or '.join(suggestions)}?"
    if e.ctx is not None:
        message += f" (see: {e.ctx.command_path} --help)"
    return " ".join(message.split())
