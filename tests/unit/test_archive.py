"""The archive format round-trips through our writer and Python's tarfile."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from backupd.archive.format import INDEX_MEMBER
from backupd.archive.reader import ArchiveReader
from backupd.archive.tar import TarStream
from backupd.archive.writer import ArchiveWriter
from backupd.errors import ArchiveError
from tests.fixtures.archives import add_object


def write(tmp_path: Path, compression: str, names: list[tuple[str | None, str]]) -> Path:
    path = tmp_path / f"a.{compression}"
    with ArchiveWriter(
        path, tmp_path / "index.jsonl", compression=compression, header={"backup": "t"}
    ) as w:  # type: ignore[arg-type]
        for ns, name in names:
            obj = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": ns},
            }
            add_object(w, obj, "configmaps")
    return path


LONG = "n" * 253  # the longest Kubernetes object name
CASES = [("shop", "web"), ("shop", LONG), ("a" * 63, LONG), (None, "cluster-thing")]


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_round_trip_with_long_names(tmp_path: Path, compression: str) -> None:
    path = write(tmp_path, compression, CASES)
    header, entries = ArchiveReader(path).index()
    assert header["backup"] == "t" and len(entries) == 4
    got = {(e.namespace, e.name): obj for e, obj in ArchiveReader(path).objects()}
    assert set(got) == set(CASES)
    assert got[("a" * 63, LONG)]["metadata"]["name"] == LONG


def test_python_tarfile_reads_our_members(tmp_path: Path) -> None:
    path = write(tmp_path, "gzip", CASES)
    with tarfile.open(path, "r:gz") as tar:
        names = tar.getnames()
    assert names[-1] == INDEX_MEMBER
    assert f"resources/configmaps/namespaces/{'a' * 63}/{LONG}.json" in names
    assert "resources/configmaps/cluster/cluster-thing.json" in names


def test_a_tampered_member_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "zstd", [("shop", "web")])
    _, entries = ArchiveReader(path).index()
    forged = [type(e)(**{**e.to_dict(), "sha256": "0" * 64}) for e in entries]
    with pytest.raises(ArchiveError, match="does not match its sha256"):
        list(ArchiveReader(path).objects(forged))


def test_a_truncated_archive_is_corrupt(tmp_path: Path) -> None:
    path = write(tmp_path, "gzip", CASES)
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(ArchiveError):
        list(ArchiveReader(path).objects())


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT])
def test_our_reader_reads_what_python_tarfile_writes(tmp_path: Path, fmt: int) -> None:
    """Long names as GNU 'L' members, pax path records or the ustar prefix field."""
    members = {
        f"resources/configmaps/namespaces/{'a' * 63}/{'n' * 80}.json": b'{"a":1}',
        "resources/configmaps/cluster/x.json": b"",
        "short.json": b"x" * 1500,
    }
    if fmt != tarfile.USTAR_FORMAT:
        members[f"resources/things/{'z' * 240}.json"] = b'{"long":true}'
    path = tmp_path / "python.tar.gz"
    with tarfile.open(path, "w:gz", format=fmt) as tar:
        dir_info = tarfile.TarInfo("resources")
        dir_info.type = tarfile.DIRTYPE
        tar.addfile(dir_info)
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    got = {}
    with gzip.open(path, "rb") as stream:
        tar = TarStream(stream.read, 1 << 30)
        while (m := tar.next()) is not None:
            got[m.name] = b"" if m.directory else tar.data(m.size)
    assert got == {"resources": b"", **members}


def test_a_header_with_a_bad_checksum_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "bad.tar.gz"
    raw = bytearray(gzip.decompress(write(tmp_path, "gzip", CASES).read_bytes()))
    raw[0] ^= 0x01  # the first member's name, under its header checksum
    path.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(ArchiveError, match="bad checksum") as e:
        ArchiveReader(path).index()
    assert "archive bad.tar.gz" in str(e.value)
