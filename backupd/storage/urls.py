"""Parsing of bucket location URLs (s3://, gs://): pure, one-line UserInputErrors."""

from __future__ import annotations

import re
from collections.abc import Collection
from urllib.parse import parse_qsl, urlsplit

from backupd.errors import UserInputError
from backupd.storage.layout import validate_key

SECRET_PARAMS = ("sse_c_key",)
_SECRET_RE = re.compile(rf"(?<=[?&])({'|'.join(SECRET_PARAMS)})=[^&#]*")


def redact(url: str) -> str:
    """The URL with secret query values replaced, safe to print or log."""
    return _SECRET_RE.sub(r"\1=REDACTED", url)


class Query:
    """Validated access to a location URL's query parameters."""

    def __init__(self, url: str, params: dict[str, str]) -> None:
        self.shown = redact(url)
        self._params = params

    def _bad(self, name: str, why: str) -> UserInputError:
        return UserInputError(f"malformed location URL {self.shown!r}: {name} {why}")

    def text(self, name: str) -> str | None:
        value = self._params.get(name)
        return value if value else None

    def choice(self, name: str, choices: tuple[str, ...], default: str | None) -> str | None:
        value = self.text(name)
        if value is None:
            return default
        for c in choices:
            if value.lower() == c.lower():
                return c
        raise self._bad(name, f"must be one of {', '.join(choices)}")

    def integer(self, name: str, default: int | None, *, minimum: int = 0) -> int | None:
        value = self.text(name)
        if value is None:
            return default
        if not value.isdigit() or int(value) < minimum:
            raise self._bad(name, f"must be a whole number >= {minimum}")
        return int(value)

    def seconds(self, name: str, default: float) -> float:
        value = self.text(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if not number > 0:
            raise self._bad(name, "must be a positive number of seconds")
        return number

    def endpoint(self, name: str) -> str | None:
        value = self.text(name)
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
            raise self._bad(name, "must look like http(s)://host[:port]")
        try:
            parts.port  # noqa: B018 - validates the port
        except ValueError:
            raise self._bad(name, "has an invalid port") from None
        return value.rstrip("/")


def split_location_url(url: str, scheme: str, allowed: Collection[str]) -> tuple[str, str, Query]:
    """Split `scheme://bucket/prefix?params` into (bucket, prefix ending in '/', Query)."""
    shown = redact(url)
    try:
        parts = urlsplit(url)
    except ValueError:
        raise UserInputError(f"malformed location URL {shown!r}") from None
    if parts.scheme != scheme:
        raise UserInputError(f"malformed location URL {shown!r}: expected {scheme}://")
    if "@" in parts.netloc:
        raise UserInputError(
            f"malformed location URL {shown!r}: credentials do not belong in the URL"
        )
    if ":" in parts.netloc:
        raise UserInputError(
            f"malformed location URL {shown!r}: the bucket has no port; use ?endpoint="
        )
    bucket = parts.netloc
    if not bucket:
        raise UserInputError(
            f"malformed location URL {shown!r}: no bucket; use {scheme}://BUCKET/PREFIX"
        )
    if parts.fragment:
        raise UserInputError(f"malformed location URL {shown!r}: unexpected '#'")
    path = parts.path.strip("/")
    if path:
        try:
            validate_key(path)
        except UserInputError:
            raise UserInputError(f"malformed location URL {shown!r}: invalid prefix") from None
    prefix = path + "/" if path else ""
    try:
        pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise UserInputError(f"malformed location URL {shown!r}: bad query string") from None
    params: dict[str, str] = {}
    for name, value in pairs:
        if name not in allowed:
            raise UserInputError(
                f"malformed location URL {shown!r}: unknown parameter {name!r} "
                f"(known: {', '.join(sorted(allowed))})"
            )
        if name in params:
            raise UserInputError(f"malformed location URL {shown!r}: {name} given twice")
        params[name] = value
    return bucket, prefix, Query(url, params)
