"""How parameters look in `--help`: words as metavars (NAME, DURATION, N), as kubectl
and Velero show them, never Python types (`<str>`, `<list[str]>`) or `{name}` braces.

`polish(command)` walks a command tree once it is loaded; a metavar given in the
option's declaration is kept, others are derived from the parameter's name and type.
"""

from __future__ import annotations

from enum import Enum

from typer import _click as click
from typer._coercion import TypeDescriptor
from typer.core import TyperArgument, TyperOption

from cli import examples

_POLISHED = "_backupd_polished"

# Parameter names (or their endings) and the word shown for their value.
_BY_NAME: tuple[tuple[str, str], ...] = (
    ("kubeconfig", "FILE[:FILE...]"),
    ("context", "CONTEXT"),
    ("url", "URL"),
    ("ttl", "DURATION"),
    ("timeout", "DURATION"),
    ("interval", "DURATION"),
    ("namespace", "NAMESPACE"),
    ("namespaces", "NAMESPACE[,NAMESPACE...]"),
    ("mappings", "SOURCE:TARGET[,...]"),
    ("resources", "RESOURCE[,RESOURCE...]"),
    ("items", "TYPE/NAME[,TYPE/NAME...]"),
    ("key", "KEY"),
    ("dir", "DIR"),
    ("directory", "DIR"),
    ("dest", "FILE"),
    ("selector", "SELECTOR"),
    ("schedule", "NAME"),
    ("backup", "NAME"),
    ("name", "NAME"),
    ("names", "NAME"),
)


def word_for(name: str, desc: TypeDescriptor) -> str:
    """The metavar for a parameter called `name` (snake_case) of type `desc`."""
    if desc.choices:
        return "|".join(str(c.value if isinstance(c, Enum) else c) for c in desc.choices)
    if desc.annotation in (int, float, list[int], list[float]):
        return "N"
    for suffix, word in _BY_NAME:
        if name.strip("_") == suffix or name.endswith("_" + suffix):
            return word
    if desc.is_path:
        return "PATH"
    return name.strip("_").upper().replace("_", "-")


class WordArgument(TyperArgument):
    """An argument shown as NAME (optional: [NAME], several: NAME...), without its type."""

    def display_type_rich(self, ctx: click.Context) -> str | None:
        return None

    def _usage_display_name(self) -> str:
        name = self.display_name_raw
        if self.nargs != 1:
            name += "..."
        return name if self.required else f"[{name}]"

    def _rich_display_name(self) -> str:
        return self._usage_display_name()


def _polish_param(param: click.Parameter) -> None:
    if isinstance(param, TyperArgument):
        if param.metavar is None and param.name:
            param.metavar = word_for(param.name, param.type_descriptor)
        param.__class__ = WordArgument
    elif isinstance(param, TyperOption) and not param.is_flag and param.metavar is None:
        param.metavar = word_for(param.name or "", param.type_descriptor)


def polish(command: click.Command, path: str = "") -> click.Command:
    """Give every parameter of `command` (at `path`, e.g. "backup create") and of its
    subcommands a word metavar, and its help its Examples (once)."""
    if getattr(command, _POLISHED, False):
        return command
    setattr(command, _POLISHED, True)
    for param in command.params:
        _polish_param(param)
    shown = examples.section(path)
    if shown is not None and "Examples:" not in (command.help or ""):
        command.help = f"{(command.help or '').rstrip()}\n\n{shown}"
    for name, sub in getattr(command, "commands", {}).items():
        polish(sub, f"{path} {name}".strip())
    return command
