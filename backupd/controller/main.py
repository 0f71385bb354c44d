"""Entry point of the `backupd` daemon.

The scheduling controller is not built yet; until it is, `backupd` reports its
version and says so plainly instead of pretending to run.
"""

from __future__ import annotations

import sys

from backupd import __version__


def main() -> None:
    args = sys.argv[1:]
    if args in (["--version"], ["version"]):
        print(f"backupd {__version__}")
        return
    print(
        "error: the backupd controller (schedules, TTL, metrics) is not available in this "
        f"version ({__version__}); use backupctl for backups and restores",
        file=sys.stderr,
    )
    sys.exit(2)
