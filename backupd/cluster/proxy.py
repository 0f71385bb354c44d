"""Which proxy a request to the API server goes through, by kubectl's rules. Pure.

- The kubeconfig cluster's `proxy-url` is used for every request to that cluster;
  the environment is not consulted then (client-go sets an explicit proxy).
- Otherwise HTTPS_PROXY (for an https:// server) or HTTP_PROXY (for http://), upper
  case first, then lower case, as Go's net/http reads them. An empty value is unset.
- NO_PROXY (or no_proxy) lists exceptions, comma-separated: `*` (no proxy at all),
  an IP (`10.0.0.1`), a CIDR (`10.0.0.0/8`), a domain (`example.com` matches it and
  its subdomains, `.example.com` and `*.example.com` only the subdomains), each
  optionally with `:port`. Domains match host names, IPs and CIDRs match IP addresses.
- As in Go, `localhost` and loopback addresses never go through a proxy taken from
  the environment (a corporate proxy cannot reach your machine's loopback).
- A proxy URL without a scheme is http://. Schemes: http, https, socks5, socks5h.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from urllib.parse import urlsplit

from backupd.errors import UserInputError

SCHEMES = ("http", "https", "socks5", "socks5h")


def _env(environ: Mapping[str, str], name: str) -> str:
    return (environ.get(name.upper()) or environ.get(name.lower()) or "").strip()


def proxy_url(value: str) -> str:
    """A proxy URL as written in a kubeconfig or the environment, checked."""
    url = value.strip()
    if "://" not in url:
        url = f"http://{url}"
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        raise UserInputError(f"the proxy URL {redact(value)} has a bad port") from None
    if parts.scheme.lower() not in SCHEMES or not parts.hostname:
        raise UserInputError(
            f"the proxy URL {redact(value)} is not usable (expected {', '.join(SCHEMES)}://host:port)"
        )
    return url


def redact(url: str) -> str:
    """The URL without a password, fit for a message."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.netloc.rpartition('@')[2]}"
    return parts._replace(netloc=netloc).geturl()


def _split_host_port(entry: str) -> tuple[str, str]:
    if entry.startswith("["):  # [v6]:port or [v6]
        host, _, rest = entry[1:].partition("]")
        return host, rest.removeprefix(":")
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        return host, port
    return entry, ""  # a bare name, IPv4 address, or IPv6 address


def bypassed(host: str, port: int, no_proxy: str) -> bool:
    """Does NO_PROXY exempt host:port from the environment's proxy?"""
    host = host.lower().strip("[]").rstrip(".")
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        if "/" in entry:
            try:
                if ip is not None and ip in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass
            continue
        name, entry_port = _split_host_port(entry)
        if entry_port and entry_port != str(port):
            continue
        try:
            entry_ip = ipaddress.ip_address(name)
        except ValueError:
            entry_ip = None
        if entry_ip is not None or ip is not None:  # IPs match IPs only, names names only
            if ip is not None and ip == entry_ip:
                return True
            continue
        if not name:
            continue
        name = name.removeprefix("*").rstrip(".")
        if name.startswith("."):
            if host.endswith(name):
                return True
        elif host == name or host.endswith(f".{name}"):
            return True
    return False


def _loopback(host: str) -> bool:
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def choose(server: str, *, explicit: str | None, environ: Mapping[str, str]) -> str | None:
    """The proxy URL for requests to `server`, or None for a direct connection."""
    if explicit:
        return proxy_url(explicit)
    parts = urlsplit(server)
    secure = parts.scheme == "https"
    value = _env(environ, "HTTPS_PROXY" if secure else "HTTP_PROXY")
    host = parts.hostname or ""
    if not value or not host or _loopback(host):
        return None
    port = parts.port or (443 if secure else 80)
    if bypassed(host, port, _env(environ, "NO_PROXY")):
        return None
    return proxy_url(value)
