"""The runbook runner's reading of Markdown and its output check (pure), and that
every runbook is run by a test."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.runbooks import (
    RUNBOOKS,
    Step,
    line_pattern,
    missing,
    parse,
    run_runbook,
    select,
    shown,
)

TESTS = Path(__file__).resolve().parents[1]

PAGE = """# A page

## 1. List

```bash
backupctl backup get
```

You should see:

```text
NAME   STATUS
<NAME> Completed ...
```

## 2. Two commands, one shown

```bash
echo one
```

```bash
echo two
```

```text
two
```

```yaml
not: run
```
"""


def test_each_bash_block_is_a_step_with_the_text_block_after_it_as_what_to_see() -> None:
    assert parse(PAGE) == [
        Step("1. List", "backupctl backup get", ("NAME   STATUS", "<NAME> Completed ...")),
        Step("2. Two commands, one shown", "echo one"),
        Step("2. Two commands, one shown", "echo two", ("two",)),
    ]


def test_a_text_block_with_no_command_before_it_in_its_section_is_a_mistake() -> None:
    with pytest.raises(ValueError, match="must follow the ```bash block"):
        parse("## 1\n\n```bash\ntrue\n```\n\n## 2\n\n```text\nlost\n```\n")


def test_an_unclosed_block_is_a_mistake() -> None:
    with pytest.raises(ValueError, match="not closed"):
        parse("```bash\ntrue\n")


def test_column_spacing_does_not_matter_but_words_do() -> None:
    pattern = line_pattern("nightly-1  Completed  0")
    assert pattern.fullmatch("nightly-1   Completed     0")
    assert not pattern.fullmatch("nightly-1 Failed 0")
    assert not pattern.fullmatch("nightly-1 Completed 0 extra")


def test_placeholders_stand_for_any_text_and_dots_for_any_rest() -> None:
    pattern = line_pattern("restore <NAME> Completed from backup <BACKUP>: ...")
    assert pattern.fullmatch("restore shop-r1 Completed from backup nightly-1: 6 created")
    assert not pattern.fullmatch("restore shop-r1 Failed from backup nightly-1: 6 created")
    assert line_pattern("pod/<POD> 1/1 Running").fullmatch("pod/web-76f-62h6q   1/1   Running")
    assert not line_pattern("a <B> c").fullmatch("a  c")  # a placeholder is never empty
    assert line_pattern("~ <NAME> ...").fullmatch("~ cm/settings")  # "..." may be nothing
    assert line_pattern("a ... b").fullmatch("a b")


def test_special_characters_in_expected_lines_are_literal() -> None:
    assert line_pattern("data.mode: 'a' -> 'b' (1+1) [x]").fullmatch(
        "data.mode: 'a' -> 'b' (1+1) [x]"
    )
    assert not line_pattern("a.b").fullmatch("aXb")


def test_missing_lists_what_the_output_does_not_show_ignoring_colours() -> None:
    output = "NAME  STATUS\n\x1b[32mnightly-1  Completed\x1b[0m\n"
    assert missing(["NAME STATUS", "<NAME> Completed", "<NAME> Failed"], output) == [
        "<NAME> Failed"
    ]


def test_sections_select_steps_by_title_prefix() -> None:
    steps = parse(PAGE)
    assert [s.script for s in select(steps, ["2."])] == ["echo one", "echo two"]
    with pytest.raises(AssertionError, match="no section"):
        select(steps, ["9."])


RUNBOOK_FILES = sorted(p.name for p in RUNBOOKS.glob("*.md"))


@pytest.mark.parametrize("name", RUNBOOK_FILES)
def test_every_runbook_reads_as_steps(name: str) -> None:
    steps = parse((RUNBOOKS / name).read_text())
    if name != "README.md":
        assert steps, f"{name} has no commands"


@pytest.mark.parametrize("name", [n for n in RUNBOOK_FILES if n != "README.md"])
def test_every_runbook_is_run_by_a_test(name: str) -> None:
    users = [
        p
        for p in TESTS.rglob("test_*.py")
        if "run_runbook(" in (text := p.read_text()) and f'"{name}"' in text
    ]
    assert users, f'no test runs runbooks/{name} (run_runbook("{name}", ...))'


@pytest.mark.parametrize("name", [n for n in RUNBOOK_FILES if n != "README.md"])
def test_every_runbook_is_listed_in_the_runbooks_readme(name: str) -> None:
    assert f"]({name})" in (RUNBOOKS / "README.md").read_text()


def test_a_run_checks_each_step_against_its_own_output(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        '## 1\n\n```bash\nexport WHO=world\necho "hello $WHO"\n```\n\n```text\nhello <WHO>\n```\n'
        "\n## 2\n\n```bash\necho warned >&2\n```\n\n```text\nwarned\n```\n"
    )
    res = run_runbook(page, {})
    assert res.stdout.split() == ["hello", "world"] and res.stderr.split() == ["warned"]
    page.write_text(
        "## 1\n\n```bash\necho one\n```\n\n## 2\n\n```bash\ntrue\n```\n\n```text\none\n```\n"
    )
    with pytest.raises(AssertionError, match=r"'## 2' did not print:\n  one"):
        run_runbook(page, {})


def test_a_failing_command_names_its_step(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("## 1. Fine\n\n```bash\ntrue\n```\n\n## 2. Broken\n\n```bash\nfalse\n```\n")
    with pytest.raises(AssertionError, match=r"'## 2. Broken' failed \(exit 1\)"):
        run_runbook(page, {})


def test_parts_of_a_section_can_be_run_alone(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "## A failure\n\n```console\nerror: it broke\n```\n\n### Confirm\n\n```bash\necho seen\n```\n"
        "\n```text\nseen\n```\n\n### Fix\n\n```bash\necho fixed\n```\n"
    )
    assert [s.part for s in parse(page.read_text())] == ["Confirm", "Fix"]
    assert run_runbook(page, {}, sections=["A failure / Fix"]).stdout.split() == ["fixed"]
    assert run_runbook(page, {}, sections=["A failure"]).stdout.split() == ["seen", "fixed"]


def test_console_blocks_are_what_a_section_says_was_printed() -> None:
    lines = shown("troubleshooting.md", "Pods are not created: the namespace quota is full")
    assert any("exceeded quota" in line for line in lines)
