"""Entry point of the `backupd` daemon: parse flags, log JSON, run the controller.

backupd run [--kubeconfig F] [--namespace backupd] [--metrics-bind-address 127.0.0.1:8080]
            [--lease-duration 15] [--gc-interval 60] [--sync-interval 60] [--no-run-missed]
backupd --version
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import socket
import sys
import uuid

from backupd import __version__
from backupd.errors import BackupdError, UserInputError


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and exception)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="backupd", description="The backupd controller.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="run the controller")
    run.add_argument("--kubeconfig", default=None, help="kubeconfig (default: in-cluster)")
    run.add_argument("--context", default=None)
    run.add_argument(
        "--namespace",
        default=os.environ.get("POD_NAMESPACE", "backupd"),
        help="the namespace of the controller and its resources (default: backupd)",
    )
    run.add_argument("--metrics-bind-address", default="127.0.0.1:8080")
    run.add_argument("--lease-duration", type=float, default=15.0, help="seconds")
    run.add_argument("--gc-interval", type=float, default=60.0, help="seconds")
    run.add_argument("--sync-interval", type=float, default=60.0, help="seconds")
    run.add_argument("--progress-interval", type=float, default=2.0, help="seconds")
    run.add_argument("--max-concurrent", type=int, default=2, help="backups/restores at once")
    run.add_argument(
        "--no-run-missed",
        action="store_true",
        help="do not run, at start-up, a scheduled run missed while the controller was down",
    )
    run.add_argument("--identity", default=None, help="lease holder name (default: host-pid)")
    run.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return parser


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0].startswith("--") and argv[0] not in ("--version", "--help"):
        argv = ["run", *argv]  # `backupd --namespace x` is `backupd run --namespace x`
    args = _parser().parse_args(argv)
    if args.version:
        print(f"backupd {__version__}")
        return
    if args.command != "run":
        _parser().print_usage(sys.stderr)
        print("error: say `backupd run` to run the controller", file=sys.stderr)
        sys.exit(2)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=args.log_level.upper(), handlers=[handler], force=True)
    if args.log_level != "debug":  # a line per watch event or job run otherwise
        for noisy in ("kopf", "apscheduler"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    from backupd.cluster.client import KubeClient
    from backupd.controller.operator import Options, run

    identity = args.identity or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    try:
        if args.lease_duration < 1 or min(args.gc_interval, args.sync_interval) <= 0:
            raise UserInputError("--lease-duration is at least 1; intervals are positive")
        opts = Options(
            namespace=args.namespace,
            metrics_bind_address=args.metrics_bind_address,
            identity=identity,
            lease_duration=args.lease_duration,
            gc_interval=args.gc_interval,
            sync_interval=args.sync_interval,
            progress_interval=args.progress_interval,
            run_missed=not args.no_run_missed,
            max_concurrent=max(1, args.max_concurrent),
        )
        kube = KubeClient.from_kubeconfig(args.kubeconfig, context=args.context)
        sys.exit(run(kube, opts))
    except BackupdError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)


if __name__ == "__main__":
    main()
