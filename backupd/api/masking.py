"""Secret values never leave backupd in output: the one masking rule. Pure.

Every output goes through here: `backup show` (mask_secret), `backup diff` and the
restore's diffs (mask_pair), and text that may echo an object, such as the API
server's refusal of a Secret (mask_text). The rule, for a Secret:

- every value of `data` and `stringData` is `***`;
- the `kubectl.kubernetes.io/last-applied-configuration` annotation (it holds the
  applied manifest, values included) is `***`, and so is any other annotation whose
  value embeds one of the Secret's values (plain, base64 or JSON-escaped);
- in text, each of those values, and whatever follows the API server's
  `Invalid value:`, is `***`.

A pair of versions (a diff) is compared on the real values and shown masked: the
second side says `*** (changed)` (or another word) where a value differs, so a diff
tells *that* a value changed, never what it was or became.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
from collections.abc import Collection, Iterator
from typing import Any

MASK = "***"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
VALUE_FIELDS = ("data", "stringData")
MIN_LENGTH = 4  # shorter values would mask ordinary words; `Invalid value:` still is
# The API server's field errors echo the bad value: a quoted string, Go bytes, or a word.
_INVALID_VALUE = re.compile(r'(Invalid value: )("(?:[^"\\]|\\.)*"?|\[\]byte\{[^}]*\}?|[^\s:;,()]+)')

JSON = dict[str, Any]


def is_secret(obj: Any) -> bool:
    return (
        isinstance(obj, dict)
        and obj.get("kind") == "Secret"
        and obj.get("apiVersion", "v1") == "v1"
    )


def _dict(value: Any) -> JSON:
    return value if isinstance(value, dict) else {}


def _annotations(obj: JSON) -> JSON:
    return _dict(_dict(obj.get("metadata")).get("annotations"))


def _forms(value: str, *, encoded: bool) -> Iterator[str]:
    """The ways `value` can appear in output: as is, decoded, base64, JSON-escaped."""
    plain = value
    if encoded:
        try:
            plain = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            plain = ""
    else:
        yield base64.b64encode(value.encode()).decode()
    for text in (value, plain):
        if text:
            yield text
            yield json.dumps(text)[1:-1]


def _applied(obj: JSON) -> JSON:
    """The manifest in the last-applied annotation (it may hold older values)."""
    try:
        applied = json.loads(str(_annotations(obj).get(LAST_APPLIED, "")))
    except ValueError:
        return {}
    return _dict(applied)


def secret_values(obj: Any) -> frozenset[str]:
    """Every value of a Secret (data, stringData, and the last-applied manifest's), in
    each form it can be printed in; empty for other kinds."""
    if not is_secret(obj):
        return frozenset()
    found: set[str] = set()
    for source in (obj, _applied(obj)):
        for field in VALUE_FIELDS:
            for value in _dict(source.get(field)).values():
                if isinstance(value, str):
                    found.update(_forms(value, encoded=field == "data"))
    return frozenset(v for v in found if len(v) >= MIN_LENGTH)


def _embeds(text: Any, values: Collection[str]) -> bool:
    return isinstance(text, str) and any(v in text for v in values)


def _mask_in_place(obj: JSON, values: Collection[str]) -> None:
    for field in VALUE_FIELDS:
        if isinstance(obj.get(field), dict):
            obj[field] = dict.fromkeys(obj[field], MASK)
    annotations = _annotations(obj)
    for key, value in annotations.items():
        if key == LAST_APPLIED or _embeds(value, values):
            annotations[key] = MASK


def mask_secret(obj: JSON) -> JSON:
    """A copy of `obj` with every Secret value replaced by ***; other kinds unchanged
    (the same object)."""
    if not is_secret(obj):
        return obj
    masked = copy.deepcopy(obj)
    _mask_in_place(masked, secret_values(obj))
    return masked


def _mark_changed(old: JSON, new: JSON, shown: JSON, word: str) -> None:
    """Mark on `shown` (masked `new`) the values that differ from `old`'s."""
    changed = f"{MASK} {word}"
    for field in VALUE_FIELDS:
        before, after = _dict(old.get(field)), _dict(new.get(field))
        if isinstance(shown.get(field), dict):
            for key, value in after.items():
                if key in before and before[key] != value:
                    shown[field][key] = changed
    before, after, masked = _annotations(old), _annotations(new), _annotations(shown)
    for key, value in after.items():
        if masked.get(key) == MASK and key in before and before[key] != value:
            masked[key] = changed


def mask_pair(old: JSON, new: JSON, *, changed: str = "(changed)") -> tuple[JSON, JSON]:
    """Two versions of one object, masked alike (if either is a Secret); where a value
    of `new` differs from `old`'s, `new` shows `*** <changed>`. Other kinds: unchanged."""
    if not (is_secret(old) or is_secret(new)):
        return old, new
    values = secret_values({**old, "kind": "Secret"}) | secret_values({**new, "kind": "Secret"})
    shown_old, shown_new = copy.deepcopy(old), copy.deepcopy(new)
    _mask_in_place(shown_old, values)
    _mask_in_place(shown_new, values)
    _mark_changed(old, new, shown_new, changed)
    return shown_old, shown_new


def mask_text(text: str, values: Collection[str]) -> str:
    """`text` with each of `values` (see secret_values) and every value the API server
    echoes after `Invalid value:` replaced by ***."""
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, MASK)
    return _INVALID_VALUE.sub(lambda m: m.group(1) + MASK, text)
