"""Entry point of backupctl: build the command tree and turn errors into one line."""

from __future__ import annotations

import os
import sys
import traceback

import typer

from backupd.errors import BackupdError
from cli.lazy import LazyGroup
from cli.output import err_console

# Commands are listed in cli.lazy.COMMANDS and imported only when they run (fast start).
app = typer.Typer(
    cls=LazyGroup,
    rich_markup_mode=None,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    help="Back up, restore and migrate Kubernetes namespaces.",
)


@app.callback()
def root() -> None:
    """Back up, restore and migrate Kubernetes namespaces."""


def main() -> None:
    try:
        app()
    except BackupdError as e:
        if os.environ.get("BACKUPD_DEBUG"):
            traceback.print_exc()  # where it came from; the one line follows
        err_console.print(f"error: {e}", highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except Exception as e:
        if os.environ.get("BACKUPD_DEBUG"):
            raise
        err_console.print(
            f"error: unexpected {type(e).__name__}: {e} (set BACKUPD_DEBUG=1 for a traceback)",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(1)
