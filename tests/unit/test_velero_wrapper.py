"""The Go module that builds Velero for the benchmark carries Velero's own `replace` lines."""

from __future__ import annotations

from tests.benchmarks.velero_support import replace_lines, wrapper_go_mod

VELERO_GO_MOD = """module github.com/vmware-tanzu/velero

go 1.25.7

require (
\tgithub.com/kopia/kopia v0.16.0
)

replace github.com/kopia/kopia => github.com/project-velero/kopia v0.0.0-20251230033609-d946b1e75197 // fork

replace (
\tgithub.com/a/b => github.com/c/b v1.2.3
)
"""


def test_single_and_block_replace_lines_are_both_found() -> None:
    assert replace_lines(VELERO_GO_MOD) == [
        "replace github.com/kopia/kopia => "
        "github.com/project-velero/kopia v0.0.0-20251230033609-d946b1e75197",
        "replace github.com/a/b => github.com/c/b v1.2.3",
    ]


def test_the_wrapper_requires_velero_with_its_go_version_and_builds_the_cli() -> None:
    go_mod = wrapper_go_mod(VELERO_GO_MOD, "v1.18.0").splitlines()
    assert "go 1.25.7" in go_mod
    assert "require github.com/vmware-tanzu/velero v1.18.0" in go_mod
    assert "tool github.com/vmware-tanzu/velero/cmd/velero" in go_mod
    assert any(line.startswith("replace github.com/kopia/kopia => ") for line in go_mod)
