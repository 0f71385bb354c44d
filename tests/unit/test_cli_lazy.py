"""The root help's one-liners are written in cli.lazy (so --help imports no command);
they must say what each command's own help says."""

from __future__ import annotations

import pytest

from cli.lazy import COMMANDS, load


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_root_help_line_is_the_commands_own(name: str) -> None:
    assert COMMANDS[name].help == load(name).get_short_help_str(limit=1000)
