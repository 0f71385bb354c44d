"""A strict, streaming reader of tar headers (ustar, PAX and GNU long names).

It reads what our writer writes and what common tar writers make of regular files,
and refuses everything else with a `TarProblem` before any of its data is read:
links, devices and FIFOs, absolute names, names climbing out with `..`, names that
are not UTF-8, malformed numbers, checksums and PAX records, and any byte beyond the
decompressed size the caller allows. Member data is read only when the caller asks,
after it has checked the declared size, so a header can never make it allocate.

Python's tarfile is not used: it costs ~50 us a member in Python code, and it accepts
much of what is refused here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import NamedTuple

from backupd.archive.format import BLOCK, MAX_HEADER_DATA, MIB, padded

_ZERO_BLOCK = bytes(BLOCK)
_OCTAL = re.compile(rb"[0-7]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_REGULAR = (b"0", b"\0", b"7")
_DIRECTORY = b"5"
_PAX, _GNU_LONG_NAME = b"x", b"L"
_REFUSED = {
    b"1": "a hard link",
    b"2": "a symbolic link",
    b"3": "a character device",
    b"4": "a block device",
    b"6": "a FIFO",
    b"K": "a link (GNU long link name)",
    b"g": "a global PAX header",
    b"S": "a sparse file",
}
# PAX keys that say nothing about where or how big a member is; anything else (size,
# linkpath, GNU.sparse.*, ...) would change how the stream is read, and is refused.
_PAX_IGNORED = frozenset(
    {"mtime", "atime", "ctime", "uid", "gid", "uname", "gname", "comment", "charset"}
)
_CHUNK = MIB


class TarProblem(Exception):
    """What is wrong with a tar stream; the archive reader names the backup."""


class Member(NamedTuple):
    name: str
    size: int
    directory: bool = False


def _shown(raw: bytes) -> str:
    return repr(raw[:120])[1:]


def _number(field: bytes, what: str) -> int:
    digits = field[:-1]
    if field[-1] in (0, 32) and digits.isdigit():  # the common case: zero-padded octal
        try:
            return int(digits, 8)
        except ValueError:
            raise TarProblem(f"a tar header's {what} {_shown(digits)} is not octal") from None
    if field[0] & 0x80:  # base-256, for values beyond the octal field
        if field[0] != 0x80:
            raise TarProblem(f"a tar header holds a negative {what}")
        return int.from_bytes(field[1:], "big")
    text = field.split(b"\0", 1)[0].strip(b" ")
    if not text:
        return 0
    if not _OCTAL.fullmatch(text):
        raise TarProblem(f"a tar header's {what} {_shown(text)} is not an octal number")
    return int(text, 8)


def _checksum_ok(block: bytes) -> bool:
    """The header's sum with its checksum field as spaces (some writers sum signed bytes)."""
    text = block[148:156].strip(b" \0")
    if not text.isdigit():
        return False
    try:
        stored = int(text, 8)
    except ValueError:
        return False
    # Zero bytes add nothing: summing the others is several times faster.
    unsigned = sum(block.translate(None, b"\0")) - sum(block[148:156]) + 8 * 32
    if stored == unsigned:
        return True
    high = sum(1 for b in block[:148] + block[156:] if b > 127)
    return stored == unsigned - 256 * high


def safe_name(raw: bytes) -> str:
    """A member name as text, refused if it is not UTF-8, absolute, or climbs with '..'."""
    try:
        name = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise TarProblem(f"a member name is not UTF-8: {_shown(raw)}") from None
    if not name:
        raise TarProblem("a member has an empty name")
    if _CONTROL.search(name):
        raise TarProblem(f"member name {name[:120]!r} holds a control character")
    if name.startswith("/"):
        raise TarProblem(f"member name {name[:120]!r} is an absolute path")
    if ".." in name and ".." in name.split("/"):
        raise TarProblem(f"member name {name[:120]!r} climbs out of the archive with '..'")
    return name


def pax_path(data: bytes) -> str | None:
    """The `path` of a PAX extended header's records, each `<length> <key>=<value>\\n`
    with the length counting the whole record. Every record is checked."""
    path: str | None = None
    pos, end = 0, len(data)
    while pos < end:
        space = data.find(b" ", pos, pos + 21)
        digits = data[pos:space] if space > pos else data[pos : pos + 20]
        if space < 0 or not digits.isdigit():
            raise TarProblem(f"a PAX record's length {_shown(digits)} is not a number")
        length = int(digits)
        if length < len(digits) + 4:  # "<n> k=\n" is the shortest record
            raise TarProblem(f"a PAX record's length {length} is too short")
        if pos + length > end:
            raise TarProblem(f"a PAX record's length {length} runs past its header")
        record = data[space + 1 : pos + length]
        if not record.endswith(b"\n"):
            raise TarProblem("a PAX record does not end where its length says")
        raw_key, eq, value = record[:-1].partition(b"=")
        try:
            key = raw_key.decode("utf-8")
        except UnicodeDecodeError:
            raise TarProblem(f"a PAX record's key is not UTF-8: {_shown(raw_key)}") from None
        if not eq or not key:
            raise TarProblem("a PAX record has no key")
        if key == "path":
            path = safe_name(value)
        elif key not in _PAX_IGNORED:
            raise TarProblem(f"PAX record {key[:40]!r} is not supported")
        pos += length
    return path


class TarStream:
    """Headers one by one from `read` (a decompressed stream); at most `limit` bytes."""

    def __init__(self, read: Callable[[int], bytes], limit: int) -> None:
        self._read = read
        self._buffer = b""
        self._pos = 0
        self.limit = limit
        self.consumed = 0

    def _take(self, n: int) -> bytes:
        if self.consumed + n > self.limit:
            raise TarProblem(
                f"it decompresses to more than the {self.limit} bytes its index allows"
            )
        self.consumed += n
        pos = self._pos
        end = pos + n
        if end <= len(self._buffer):  # the common case: a header or a small member
            self._pos = end
            return self._buffer[pos:end]
        parts = [self._buffer[pos:]]
        have = len(parts[0])
        while have < n:
            more = self._read(max(_CHUNK, n - have))
            if not more:
                raise TarProblem("the tar stream ends inside a member")
            parts.append(more)
            have += len(more)
        self._buffer = b"".join(parts)
        self._pos = n
        return self._buffer[:n]

    def _extension(self, size: int) -> bytes:
        if size > MAX_HEADER_DATA:
            raise TarProblem(f"an extended header of {size} bytes is over {MAX_HEADER_DATA}")
        return self._take(padded(size))[:size]

    def next(self) -> Member | None:
        """The next regular file or directory; None at the end of the archive."""
        long_name: str | None = None
        extended = False
        while True:
            block = self._take(BLOCK)
            if block == _ZERO_BLOCK:
                if extended:
                    raise TarProblem("the archive ends after an extended header")
                return None
            if not _checksum_ok(block):
                raise TarProblem("a tar header has a bad checksum")
            size = _number(block[124:136], "size")
            flag = block[156:157]
            if flag in (_PAX, _GNU_LONG_NAME):
                if extended:
                    raise TarProblem("two extended headers in a row")
                extended = True
                data = self._extension(size)
                gnu = flag == _GNU_LONG_NAME
                long_name = safe_name(data.split(b"\0", 1)[0]) if gnu else pax_path(data)
                continue
            if long_name is not None:
                name = long_name
            else:
                raw = block[:100].split(b"\0", 1)[0]
                if block[257:263] == b"ustar\0":  # POSIX: a prefix; GNU keeps other fields there
                    prefix = block[345:500].split(b"\0", 1)[0]
                    raw = prefix + b"/" + raw if prefix else raw
                name = safe_name(raw)
            if flag in _REGULAR:
                return Member(name, size)
            if flag == _DIRECTORY:
                if size:
                    raise TarProblem(f"directory {name[:120]!r} claims {size} bytes of data")
                return Member(name.rstrip("/") or name, 0, directory=True)
            what = _REFUSED.get(flag, f"of unsupported type {_shown(flag)}")
            raise TarProblem(f"member {name[:120]!r} is {what}")

    def data(self, size: int) -> bytes:
        """A member's data (the caller checked `size`), its padding skipped."""
        return self._take(padded(size))[:size]

    def chunks(self, size: int) -> Iterator[bytes]:
        """A member's data in pieces, for members too big to hold."""
        left = size
        while left > 0:
            n = min(left, _CHUNK)
            yield self._take(n)
            left -= n
        self._take(-size % BLOCK)
