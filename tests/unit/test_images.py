"""Which Debian mirror debootstrap uses: the one this machine's apt takes bookworm
from, in either sources format, never a host written into the code."""

from __future__ import annotations

from pathlib import Path

import pytest

from backupd.errors import SandboxError
from backupd.sandbox.images import debian_mirror


def apt_dir(tmp_path: Path, **files: str) -> Path:
    (tmp_path / "sources.list.d").mkdir()
    for name, text in files.items():
        path = tmp_path / name.replace("__", "/").replace("_", ".")
        path.write_text(text)
    return tmp_path


DEB822 = """Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main

Types: deb deb-src
# a comment line
URIs: http://mirror.example/debian/
Suites: bookworm bookworm-updates
Components: main
"""


def test_the_mirror_comes_from_a_deb822_sources_file(tmp_path: Path) -> None:
    apt = apt_dir(tmp_path, sources_list_d__debian_sources=DEB822)
    assert debian_mirror(apt) == "http://mirror.example/debian"


def test_the_mirror_comes_from_a_one_line_sources_list(tmp_path: Path) -> None:
    text = "# deb http://old.example/debian bookworm main\ndeb [arch=amd64] http://one.example/debian bookworm main\n"
    apt = apt_dir(tmp_path, sources_list=text)
    assert debian_mirror(apt) == "http://one.example/debian"


def test_a_disabled_source_and_other_suites_are_not_used(tmp_path: Path) -> None:
    disabled = DEB822.replace("Components: main\n", "Components: main\nEnabled: no\n")
    other = "deb http://other.example/debian trixie main\n"
    apt = apt_dir(tmp_path, sources_list_d__debian_sources=disabled, sources_list=other)
    with pytest.raises(SandboxError, match="no apt source for Debian bookworm"):
        debian_mirror(apt)
