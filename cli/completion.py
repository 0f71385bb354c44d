"""Shell completion of names: backups, restores, locations, namespaces, kube contexts.

Each completer reads what the command line gave so far (--location, --kubeconfig,
--context), answers within a second or two, and never raises: a completion that
cannot be computed offers nothing.

    eval "$(backupctl --show-completion bash)"   # or: backupctl --install-completion
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

CLUSTER_WAIT = 2.0  # seconds a completion may wait for the API server


def _quiet(compute: Callable[[], list[str]], incomplete: str) -> list[str]:
    """The names from `compute` starting with `incomplete`; [] on any failure."""
    try:
        return sorted(n for n in compute() if n.startswith(incomplete))
    except Exception:  # a completion must never print a traceback into the shell
        return []


def _within(seconds: float, compute: Callable[[], list[str]]) -> list[str]:
    """`compute()` if it answers within `seconds`, else nothing (it is left to finish)."""
    found: list[str] = []
    worker = threading.Thread(target=lambda: found.extend(compute()), daemon=True)
    worker.start()
    worker.join(seconds)
    return list(found) if not worker.is_alive() else []


def _param(ctx: Any, name: str) -> Any:
    value = (getattr(ctx, "params", None) or {}).get(name)
    return value if value else None


def _stored(ctx: Any, kind: str) -> list[str]:
    from backupd.storage.catalog import committed_names
    from cli.config import choose_location

    chosen = choose_location(_param(ctx, "location"), access_mode="ReadOnly")
    return committed_names(chosen.location, kind)


def backup_names(ctx: Any, incomplete: str) -> list[str]:
    """Backups committed in the location the command line names (else the default)."""
    return _quiet(lambda: _stored(ctx, "backups"), incomplete)


def restore_names(ctx: Any, incomplete: str) -> list[str]:
    return _quiet(lambda: _stored(ctx, "restores"), incomplete)


def location_names(ctx: Any, incomplete: str) -> list[str]:
    """The configured locations' names (a URL is typed, not completed)."""

    def names() -> list[str]:
        from cli.config import load_config

        return list(load_config().locations)

    return _quiet(names, incomplete)


def namespaces(ctx: Any, incomplete: str) -> list[str]:
    """The cluster's namespaces (the --kubeconfig/--context given, else the current one)."""

    def names() -> list[str]:
        from cli.common import kube_client

        def ask() -> list[str]:
            with kube_client(_param(ctx, "kubeconfig"), _param(ctx, "context")) as kube:
                items = kube.request("GET", "/api/v1/namespaces", timeout=CLUSTER_WAIT)
            return [str(i["metadata"]["name"]) for i in items.get("items") or []]

        return _within(CLUSTER_WAIT, ask)

    last = incomplete.rsplit(",", 1)  # a comma list completes its last element
    head = last[0] + "," if len(last) == 2 else ""
    return [head + n for n in _quiet(names, last[-1])]


def contexts(ctx: Any, incomplete: str) -> list[str]:
    """The contexts of the kubeconfig files given (else $KUBECONFIG, else ~/.kube/config)."""

    def names() -> list[str]:
        import yaml

        value = _param(ctx, "kubeconfig") or os.environ.get("KUBECONFIG") or "~/.kube/config"
        found: list[str] = []
        for path in value.split(os.pathsep):
            try:
                with open(os.path.expanduser(path)) as f:
                    config = yaml.safe_load(f) or {}
            except OSError:
                continue
            found += [str(c["name"]) for c in config.get("contexts") or [] if "name" in c]
        return list(dict.fromkeys(found))

    return _quiet(names, incomplete)
