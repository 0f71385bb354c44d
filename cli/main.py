"""Entry point of backupctl: build the command tree and turn errors into one line."""

from __future__ import annotations

import os
import sys
import traceback

import typer
from typer import _click as click  # typer vendors its own click; its classes are these
from typer._click import exceptions as clicked

from backupd.errors import BackupdError
from cli import helptext, usage
from cli.lazy import LazyGroup
from cli.output import err_console

PROG = "backupctl"


class Root(LazyGroup):
    """The root group: commands load when they run (LazyGroup), and show words, not
    Python types, as their metavars (cli.helptext)."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        return helptext.polish(command, cmd_name) if command is not None else None


# Commands are listed in cli.lazy.COMMANDS and imported only when they run (fast start).
app = typer.Typer(
    cls=Root,
    rich_markup_mode=None,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
)


def _print_version(value: bool) -> None:
    if value:
        from cli.version import client_version

        typer.echo(f"{PROG} {client_version()}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False,
        "--version",
        is_eager=True,
        callback=_print_version,
        help="print backupctl's version and exit (the server's too: backupctl version)",
    ),
) -> None:
    """Back up, restore and migrate Kubernetes namespaces.

    Flags mean what they mean to kubectl and Velero: -n NAMESPACE a namespace of your
    workloads (--include-namespaces), -l SELECTOR a label selector (--selector),
    -o table|wide|json|yaml|name the output; the storage location is --location
    (or --storage-location, $BACKUPD_LOCATION, the config's default).
    """


def _fail(message: str, code: int) -> None:
    err_console.print(f"error: {message}", highlight=False, markup=False, soft_wrap=True)
    sys.exit(code)


def _run(args: list[str] | None) -> int:
    """Run the command line; returns its exit code. Usage errors become one line."""
    command = typer.main.get_command(app)
    helptext.polish(command)
    try:
        result = command.main(args=args, prog_name=PROG, standalone_mode=False)
    except clicked.NoArgsIsHelpError as e:
        # a group without a command prints its help, as kubectl and velero do
        typer.echo(e.format_message())
        return 0
    except clicked.UsageError as e:
        _fail(usage.one_line(e), e.exit_code)
    except typer.Abort:
        _fail("aborted", 1)
    except click.ClickException as e:
        _fail(" ".join(e.format_message().split()), e.exit_code)
    return result if isinstance(result, int) else 0


def main(args: list[str] | None = None) -> None:
    try:
        sys.exit(_run(args))
    except BackupdError as e:
        if os.environ.get("BACKUPD_DEBUG"):
            traceback.print_exc()  # where it came from; the one line follows
        _fail(str(e), e.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except Exception as e:
        if os.environ.get("BACKUPD_DEBUG"):
            raise
        _fail(f"unexpected {type(e).__name__}: {e} (set BACKUPD_DEBUG=1 for a traceback)", 1)
