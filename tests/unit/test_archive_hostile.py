"""Hostile archives against the reader alone: every one refused with an ArchiveError
that names the backup, before any object comes out, without a hang or a big read."""

from __future__ import annotations

import gzip
import io
import time
from pathlib import Path

import pytest

from backupd.archive.format import INDEX_MEMBER, MAX_MEMBER_SIZE
from backupd.archive.index import Index, read_index
from backupd.archive.reader import ArchiveReader
from backupd.errors import ArchiveError
from tests.fixtures import hostile
from tests.fixtures.hostile import CASES, Case, configmap, header, member, pax, pax_record

SOURCE = "backup evil"
CHEAP = [name for name in CASES if name not in ("gib-zero-member", "200k-tiny-members")]


def stored_index(entries: list[hostile.IndexEntry], name: str = "evil") -> Index:
    return read_index(io.BytesIO(gzip.compress(hostile.index_bytes(entries, name))), SOURCE)


def reader_for(tmp_path: Path, case: Case) -> ArchiveReader:
    path = tmp_path / "archive.tar.gz"
    hostile.write_gzip(path, case.stream(hostile.index_bytes(case.index, "evil").decode()))
    return ArchiveReader(path, stored_index(case.index), source=SOURCE)


def refused(reader: ArchiveReader) -> str:
    with pytest.raises(ArchiveError) as e:
        list(reader.objects())
    message = str(e.value)
    assert "backup evil" in message and "\n" not in message
    return message


@pytest.mark.parametrize("name", CHEAP)
def test_each_hostile_archive_is_refused_naming_the_backup(tmp_path: Path, name: str) -> None:
    case = CASES[name]("shop", tmp_path / "outside")
    assert case.refusal in refused(reader_for(tmp_path, case))


def test_a_gib_member_of_zeros_is_refused_at_its_header(tmp_path: Path) -> None:
    case = hostile.gib_zero_member("shop", tmp_path)
    reader = reader_for(tmp_path, case)
    started = time.monotonic()
    assert case.refusal in refused(reader)
    assert time.monotonic() - started < 5  # the zeros are never decompressed


def test_200k_tiny_members_are_all_read_in_seconds(tmp_path: Path) -> None:
    case = hostile.many_tiny_members("shop", tmp_path)
    reader = reader_for(tmp_path, case)
    started = time.monotonic()
    assert case.refusal in refused(reader)
    assert time.monotonic() - started < 30


def good(tmp_path: Path, pieces: list[bytes], items: list[hostile.Item]) -> ArchiveReader:
    path = tmp_path / "a.tar.gz"
    hostile.write_gzip(path, [*pieces, hostile.END])
    return ArchiveReader(path, stored_index([i.entry for i in items]), source=SOURCE)


def test_a_well_formed_archive_passes(tmp_path: Path) -> None:
    a, b = configmap("shop", "a"), configmap("shop", "b")
    long_name = pax(pax_record("path", b.path.encode()) + pax_record("mtime", b"1.5"))
    reader = good(tmp_path, [a.member(), long_name + member("ignored", b.data)], [a, b])
    assert [e.name for e, _ in reader.objects()] == ["a", "b"]


@pytest.mark.parametrize(
    ("records", "problem"),
    [
        (b"4 path=x\n", "too short"),
        (b" path=x\n", "is not a number"),
        (b"-12 path=abc\n", "is not a number"),
        (b"12 path=abc", "runs past its header"),
        (b"12 path=abcX", "does not end where its length says"),
        (b"10 =value\n", "has no key"),
        (b"12 path\xff=ab\n", "key is not UTF-8"),
        (b"11 path=\xff\xfe\n", "not UTF-8"),
        (b"12 size=999\n", "PAX record 'size' is not supported"),
        (b"17 linkpath=/etc\n", "'linkpath' is not supported"),
    ],
)
def test_every_malformed_pax_record_is_an_archive_error(
    tmp_path: Path, records: bytes, problem: str
) -> None:
    a = configmap("shop", "a")
    assert problem in refused(good(tmp_path, [pax(records), a.member()], [a]))


@pytest.mark.parametrize(
    ("size_field", "problem"),
    [
        (b"12x45670000\0", "is not an octal number"),
        (b"0o17\0\0\0\0\0\0\0\0", "is not an octal number"),
        (b"\xff" + bytes(11), "negative size"),
    ],
)
def test_a_malformed_size_field_is_an_archive_error(
    tmp_path: Path, size_field: bytes, problem: str
) -> None:
    a = configmap("shop", "a")
    bad = header(a.path.encode(), 0, size_field=size_field)
    assert problem in refused(good(tmp_path, [bad], [a]))


def test_a_base256_size_is_read_and_checked_against_the_index(tmp_path: Path) -> None:
    a = configmap("shop", "a")
    big = header(a.path.encode(), 0, size_field=b"\x80" + (1 << 40).to_bytes(11, "big"))
    assert f"has {1 << 40} bytes" in refused(good(tmp_path, [big], [a]))


def test_a_bad_header_checksum_is_refused(tmp_path: Path) -> None:
    a = configmap("shop", "a")
    raw = bytearray(a.member())
    raw[0] ^= 1
    assert "bad checksum" in refused(good(tmp_path, [bytes(raw)], [a]))


def test_a_gnu_long_name_is_read_and_checked_like_any_name(tmp_path: Path) -> None:
    a = configmap("shop", "a")
    long_name = header(b"././@LongLink", len(a.path) + 1, flag=b"L") + hostile.pad(
        a.path.encode() + b"\0"
    )
    assert [e.name for e, _ in good(tmp_path, [long_name, member("x", a.data)], [a]).objects()]
    evil = header(b"././@LongLink", 12, flag=b"L") + hostile.pad(b"/etc/passwd\0")
    assert "absolute path" in refused(good(tmp_path, [evil, member("x", a.data)], [a]))


def test_a_member_bigger_than_its_index_entry_is_refused_before_it_is_read(
    tmp_path: Path,
) -> None:
    a = configmap("shop", "a")
    lying = header(a.path.encode(), MAX_MEMBER_SIZE * 4) + bytes(2048)
    assert "the index says" in refused(good(tmp_path, [lying], [a]))


def test_an_inner_index_that_differs_from_the_stored_one_is_refused(tmp_path: Path) -> None:
    a, s = configmap("shop", "a"), hostile.secret("shop", "s")
    inner = hostile.index_bytes([a.entry, s.entry], "evil")
    reader = good(tmp_path, [a.member(), member(INDEX_MEMBER, inner)], [a])
    assert "inner index differs from the stored index" in refused(reader)


def test_the_writer_inner_index_equals_the_stored_one(tmp_path: Path) -> None:
    a = configmap("shop", "a")
    inner = hostile.index_bytes([a.entry], "evil")
    reader = good(tmp_path, [a.member(), member(INDEX_MEMBER, inner)], [a])
    assert [e.name for e, _ in reader.objects()] == ["a"]


def test_an_object_that_is_not_what_its_entry_names_is_refused(tmp_path: Path) -> None:
    a = configmap("shop", "a")
    binding = hostile.item("ClusterRoleBinding", "configmaps", "shop", "a")
    forged = hostile.Item(
        a.entry.__class__(**{**a.entry.to_dict(), **_digest(binding)}), binding.data
    )
    assert "not the object its index entry names" in refused(
        good(tmp_path, [member(a.path, binding.data)], [forged])
    )


def _digest(it: hostile.Item) -> dict[str, object]:
    return {"sha256": it.entry.sha256, "size": it.entry.size}


def test_trailing_members_beyond_what_the_index_allows_are_refused(tmp_path: Path) -> None:
    a = configmap("shop", "a")
    dirs = [header(f"d{i}/".encode(), 0, flag=b"5") for i in range(5000)]
    assert "decompresses to more than" in refused(good(tmp_path, [*dirs, a.member()], [a]))


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b'{"group":"","version":"v1","kind":"ConfigMap","resource":"configmaps",'
         b'"namespace":"shop","name":"../../x","sha256":"' + b"0" * 64 + b'","size":1}',
         "not a valid object name"),
        (b'{"group":"","version":"v1","kind":"ConfigMap","resource":"configmaps",'
         b'"namespace":"shop","name":"a","sha256":"' + b"0" * 64 + b'","size":1073741824}',
         "over the limit"),
        (b'{"group":"","version":"v1","kind":"ConfigMap","resource":"configmaps",'
         b'"namespace":"Shop/x","name":"a","sha256":"' + b"0" * 64 + b'","size":1}',
         "namespace"),
        (b'{"group":"","version":"v1","kind":"ConfigMap","resource":"configmaps",'
         b'"namespace":"shop","name":"a","sha256":"nope","size":1}', "sha256"),
        (b"x" * 10_000, "longer than"),
        (b"", "not JSON"),
    ],
)  # fmt: skip
def test_a_bad_index_line_is_refused_with_its_number(line: bytes, problem: str) -> None:
    data = b'{"formatVersion":1}\n' + line + b"\n"
    with pytest.raises(ArchiveError, match="line 2") as e:
        read_index(io.BytesIO(gzip.compress(data)), SOURCE)
    assert problem in str(e.value) and "index of backup evil" in str(e.value)


def test_an_index_listing_an_item_twice_is_refused() -> None:
    a = configmap("shop", "a")
    with pytest.raises(ArchiveError, match="a second time"):
        stored_index([a.entry, a.entry])


def test_an_index_bomb_stops_at_the_first_overlong_line() -> None:
    bomb = io.BytesIO()
    with gzip.GzipFile(fileobj=bomb, mode="wb", compresslevel=1) as f:
        for _ in range(16):
            f.write(bytes(4 << 20))  # 64 MiB of zeros, no newline
    bomb.seek(0)
    with pytest.raises(ArchiveError, match="longer than"):
        read_index(bomb, SOURCE)


def test_zstd_archives_get_the_same_checks(tmp_path: Path) -> None:
    import zstandard

    case = hostile.duplicate_and_missing("shop", tmp_path)
    path = tmp_path / "a.tar.zst"
    raw = b"".join(case.stream(hostile.index_bytes(case.index, "evil").decode()))
    path.write_bytes(zstandard.ZstdCompressor().compress(raw))
    reader = ArchiveReader(path, stored_index(case.index), source=SOURCE)
    assert case.refusal in refused(reader)
    path.write_bytes(zstandard.ZstdCompressor().compress(raw)[:-30])
    assert "backup evil" in refused(ArchiveReader(path, stored_index(case.index), source=SOURCE))


def test_an_archive_that_is_neither_gzip_nor_zstd_is_refused(tmp_path: Path) -> None:
    a = configmap("shop", "a")
    path = tmp_path / "plain.tar"
    path.write_bytes(a.member() + hostile.END)
    assert "not a gzip or zstd stream" in refused(
        ArchiveReader(path, stored_index([a.entry]), source=SOURCE)
    )
