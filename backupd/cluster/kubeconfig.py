"""Where the cluster is and who we are: a kubeconfig as kubectl reads it, or in-cluster.

- `KUBECONFIG=a:b` (and `--kubeconfig a:b`) is merged by the kubernetes package's
  KubeConfigMerger: the first file to define a cluster, user or context wins, and
  files that do not exist are skipped. `current-context` comes from the first file
  that sets it (the merger alone would take the last). `--context` is looked up
  in all the files.
- Without a kubeconfig (no flag, no KUBECONFIG, no ~/.kube/config) inside a Pod,
  the in-cluster service account is used; its token file is re-read when it rotates.
- The cluster's `proxy-url` is returned for the transport (see proxy.py).
- Credentials (see credentials.py) name the user and how it authenticates, so a
  refused credential is reported by name.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from backupd.cluster.credentials import Credentials, Header, TokenFile
from backupd.errors import UserInputError

if TYPE_CHECKING:
    # The kubernetes package takes ~0.15 s to import: only loading a kubeconfig needs it,
    # so `backupctl --help` and commands on storage alone never pay for it.
    from kubernetes import client as k8s_client

DEFAULT = "~/.kube/config"


def _load_errors() -> tuple[type[BaseException], ...]:
    from kubernetes import config as k8s_config

    return (k8s_config.ConfigException, OSError, TypeError, ValueError, KeyError, yaml.YAMLError)


@dataclass
class Loaded:
    configuration: k8s_client.Configuration
    credentials: Credentials
    proxy_url: str | None = None
    context: str | None = None
    compress: bool = True  # the cluster's disable-compression turns gzip off


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def header_of(cfg: k8s_client.Configuration) -> Header:
    value = cfg.get_api_key_with_prefix("authorization") or cfg.get_api_key_with_prefix(
        "BearerToken"
    )
    return str(value) if value else None


def _hook_check(cfg: k8s_client.Configuration) -> Callable[[], Header] | None:
    """The kubernetes package's refresh_api_key_hook (an expired exec or OIDC token is
    fetched again) as a check, or None when there is no hook."""
    hook = cfg.refresh_api_key_hook
    if hook is None:
        return None

    def check() -> Header:
        hook(cfg)
        return header_of(cfg)

    return check


def for_configuration(
    cfg: k8s_client.Configuration,
    describe: str = "",
    reload: Callable[[], Header] | None = None,
) -> Credentials:
    """Credentials of a ready-made Configuration: its token, refreshed by its hook."""
    if not describe:
        describe = (
            f"the client certificate {cfg.cert_file}"
            if cfg.cert_file and not header_of(cfg)
            else "the configured bearer token"
        )
    return Credentials(header_of(cfg), describe=describe, check=_hook_check(cfg), reload=reload)


def load(kubeconfig: str | Path | None = None, context: str | None = None) -> Loaded:
    """The kubeconfig given (':'-separated files), else $KUBECONFIG, else ~/.kube/config,
    else the in-cluster service account."""
    value = str(kubeconfig) if kubeconfig else os.environ.get("KUBECONFIG", "")
    if not value:
        if not Path(DEFAULT).expanduser().exists() and "KUBERNETES_SERVICE_HOST" in os.environ:
            return _in_cluster()
        value = DEFAULT
    paths = [os.path.expanduser(p) for p in value.split(os.pathsep) if p]
    existing = [p for p in paths if os.path.exists(p)]
    if not existing:
        raise UserInputError(
            f"cannot load kubeconfig {value}: no such file",
            hint="pass --kubeconfig or set KUBECONFIG",
        )
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    from kubernetes.config import kube_config

    try:
        merger = kube_config.KubeConfigMerger(os.pathsep.join(existing))  # type: ignore[no-untyped-call]
        if merger.config is None:
            raise k8s_config.ConfigException("no configuration found")
        name = context or _current_context(merger, existing)
        entry = _named(merger.config, "contexts", name, value)["context"]
        cluster = _named(merger.config, "clusters", entry["cluster"], value)["cluster"]
        user_name = entry.safe_get("user")
        user = _user(merger.config, user_name)
        _refuse_impersonation(user_name, user)
        loader = kube_config.KubeConfigLoader(  # type: ignore[no-untyped-call]
            config_dict=merger.config,
            active_context=name,
            config_base_path=None,
            # a refreshed OIDC token is written back, as kubectl does
            config_persister=merger.save_changes,
        )
        cfg = k8s_client.Configuration()
        loader.load_and_set(cfg)  # type: ignore[no-untyped-call]
    except UserInputError:
        raise
    except _load_errors() as e:
        raise UserInputError(f"cannot load kubeconfig {value}: {_first_line(e)}") from e
    proxy_url = cluster.safe_get("proxy-url") or None
    cfg.proxy = proxy_url  # only the kubeconfig's; the environment is read by proxy.choose
    compress = not cluster.safe_get("disable-compression")
    return Loaded(cfg, _credentials(cfg, loader, user_name, user), proxy_url, name, compress)


def _refuse_impersonation(user_name: str | None, user: Any) -> None:
    """Acting as someone else is not supported; running with more rights than the
    kubeconfig asked for would be worse than stopping."""
    keys = [k for k in ("as", "as-uid", "as-groups", "as-user-extra") if user and k in user]
    if keys:
        raise UserInputError(
            f'kubeconfig user "{user_name}" impersonates ({", ".join(keys)}), '
            "which backupctl does not support",
            hint="use a context whose user is the identity to act as",
        )


def _current_context(merger: Any, paths: list[str]) -> str:
    for path in paths:
        name = (merger.config_files.get(path) or {}).get("current-context")
        if name:
            return str(name)
    raise UserInputError(
        f"the kubeconfig {os.pathsep.join(paths)} sets no current-context",
        hint="pass --context",
    )


def _named(config: Any, kind: str, name: str, where: str) -> Any:
    for item in config.safe_get(kind) or []:
        if item["name"] == name:
            return item
    names = ", ".join(str(i["name"]) for i in config.safe_get(kind) or []) or "none"
    what = kind.removesuffix("s")
    raise UserInputError(f'{what} "{name}" is not in the kubeconfig {where} ({kind}: {names})')


def _user(config: Any, name: str | None) -> Any:
    if not name:
        return None
    for item in config.safe_get("users") or []:
        if item["name"] == name:
            return item["user"]
    return None


def _token_file(user: Any) -> Path | None:
    if user is None or "tokenFile" not in user or "auth-provider" in user:
        return None
    path = Path(os.path.expanduser(str(user["tokenFile"])))
    if not path.is_absolute() and user.path:
        path = Path(os.path.dirname(os.path.abspath(user.path))) / path
    return path


def _describe(user_name: str | None, user: Any) -> str:
    who = f'kubeconfig user "{user_name}"' if user_name else "the kubeconfig's anonymous user"
    if user is None:
        return who
    if "auth-provider" in user:
        return f"{who} (auth-provider {user['auth-provider'].safe_get('name')})"
    if "token" in user:
        return f"{who} (token)"
    if "exec" in user:
        return f"{who} (exec plugin {user['exec'].safe_get('command')})"
    if "client-certificate" in user or "client-certificate-data" in user:
        return f"{who} (client certificate)"
    if "username" in user:
        return f"{who} (basic auth)"
    return who


def _credentials(
    cfg: k8s_client.Configuration, loader: Any, user_name: str | None, user: Any
) -> Credentials:
    token_file = _token_file(user)
    if token_file is not None:
        return TokenFile(token_file).credentials(
            f'kubeconfig user "{user_name}" (token file {token_file})'
        )

    def reload() -> Header:
        loader.load_and_set(cfg)  # runs the exec plugin again, re-reads what it points to
        return header_of(cfg)

    return for_configuration(cfg, _describe(user_name, user), reload)


def _in_cluster() -> Loaded:
    from kubernetes import client as k8s_client
    from kubernetes.config import incluster_config

    cfg = k8s_client.Configuration()
    try:
        incluster_config.load_incluster_config(  # type: ignore[no-untyped-call]
            client_configuration=cfg, try_refresh_token=False
        )
        path = incluster_config.SERVICE_TOKEN_FILENAME
        creds = TokenFile(path).credentials(f"the service account token file {path}")
    except _load_errors() as e:
        raise UserInputError(f"cannot load the in-cluster configuration: {_first_line(e)}") from e
    return Loaded(cfg, creds, None, None)
