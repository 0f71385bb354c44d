"""The root command group loads a command's module only when that command runs.

Importing every command module (engines, the kubernetes client, boto3, google-cloud)
took most of backupctl's ~0.9 s start; `backupctl --help`, a Tab completion of a
command name and `backupctl backup get` need none of it. Each entry of COMMANDS names
the module and the attribute holding its Typer app (a group) or function (a command),
with the one-line help the root help shows, so the root help imports nothing.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass
from typing import Any

import typer
import typer.main
from typer import _click as click  # typer vendors its own click; its classes are these
from typer._click.shell_completion import CompletionItem
from typer.core import TyperGroup


@dataclass(frozen=True)
class Lazy:
    module: str
    attribute: str  # a typer.Typer (a group) or a function (one command)
    help: str


# Modules a command module imports at its top but only some of its commands use: they are
# registered as lazy (importlib.util.LazyLoader) before any command module is imported, so
# `from backupd.backup import engine` binds a module that executes on first attribute use.
# Only whole modules can be lazy: `from M import name` reads M at once.
HEAVY = (
    "backupd.backup.engine",
    "backupd.backup.verify",
    "backupd.restore.engine",
    "backupd.snapshots.backup",
    "backupd.snapshots.csi",
    "backupd.snapshots.deletion",
    "backupd.snapshots.plan",
    "backupd.cluster.identity",
    "backupd.cluster.client",
)


def lazy_module(name: str) -> None:
    """Register `name` in sys.modules as a module that runs on first attribute access."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    parent, _, child = name.rpartition(".")
    setattr(importlib.import_module(parent), child, module)  # `from parent import child`


def defer_heavy_modules() -> None:
    for name in HEAVY:
        lazy_module(name)


# In the order the root help lists them: the daily work first, the plumbing last.
COMMANDS: dict[str, Lazy] = {
    "backup": Lazy("cli.backup", "app", "Create, list, inspect, download and delete backups."),
    "restore": Lazy(
        "cli.restore", "app", "Restore backups into a cluster; list and inspect restores."
    ),
    "schedule": Lazy("cli.schedule", "app", "Schedules of backups, run by the backupd controller."),
    "drill": Lazy("cli.drill", "app", "Restore drills: prove a backup comes back, with a report."),
    "location": Lazy("cli.location", "app", "Add, show, delete and check storage locations."),
    "sandbox": Lazy("cli.sandbox", "app", "Start, stop and inspect a local sandbox cluster."),
    "install": Lazy(
        "cli.install",
        "install",
        ("Install backupd (CRDs, namespace, RBAC, Deployment, Service) by server-side apply."),
    ),
    "version": Lazy(
        "cli.version",
        "version",
        "Print the client's version and the backupd controller's in the cluster.",
    ),
}


def _present(name: str) -> bool:
    """Whether the command's module exists (cheap: no import)."""
    return importlib.util.find_spec(COMMANDS[name].module) is not None


def load(name: str) -> click.Command:
    entry = COMMANDS[name]
    defer_heavy_modules()
    target: Any = getattr(importlib.import_module(entry.module), entry.attribute)
    if isinstance(target, typer.Typer):
        command = typer.main.get_command(target)
    else:
        single = typer.Typer()
        single.command(name)(target)
        command = typer.main.get_command(single)
    command.name = name
    command.params = [p for p in command.params if p.name not in _ROOT_ONLY]
    _plain(command)
    return command


# typer gives every app it turns into a command the completion options; only the root keeps them.
_ROOT_ONLY = ("install_completion", "show_completion")


def _plain(command: click.Command) -> None:
    """Plain click help and one-line errors for the whole tree (no rich boxes)."""
    if hasattr(command, "rich_markup_mode"):
        command.rich_markup_mode = None
    for sub in getattr(command, "commands", {}).values():
        _plain(sub)


class LazyGroup(TyperGroup):
    """A TyperGroup whose COMMANDS are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        lazy = [n for n in COMMANDS if _present(n)]
        return lazy + [n for n in super().list_commands(ctx) if n not in COMMANDS]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS and _present(cmd_name):
            self.commands[cmd_name] = load(cmd_name)
        return super().get_command(ctx, cmd_name)

    def _short_help(self, name: str, limit: int) -> str:
        loaded = self.commands.get(name)
        if loaded is not None:
            return loaded.get_short_help_str(limit)
        return COMMANDS[name].help

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows = [(n, self._short_help(n, limit)) for n in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[CompletionItem]:
        names = [n for n in self.list_commands(ctx) if n.startswith(incomplete)]
        items = [CompletionItem(n, help=self._short_help(n, 80)) for n in names]
        return items + click.Command.shell_complete(self, ctx, incomplete)
