"""Loading a kubeconfig as kubectl does: merged files, contexts, proxy-url, users."""

from __future__ import annotations

from pathlib import Path

import pytest

from backupd.cluster import kubeconfig
from backupd.errors import UserInputError
from tests.fixtures.kubeconfigs import kubeconfig as build
from tests.fixtures.kubeconfigs import write


def two_files(tmp_path: Path) -> tuple[Path, Path]:
    a = write(
        tmp_path / "a.yaml",
        build(
            clusters={
                "shared": {"server": "http://a.example:1"},
                "only-a": {"server": "http://a:2"},
            },
            users={"alice": {"token": "from-a"}},
            contexts={"ctx-a": ("shared", "alice")},
            current="ctx-a",
        ),
    )
    b = write(
        tmp_path / "b.yaml",
        build(
            clusters={
                "shared": {"server": "http://b.example:1"},
                "only-b": {"server": "http://b:3"},
            },
            users={"alice": {"token": "from-b"}, "bob": {"token": "bob-b"}},
            contexts={"ctx-a": ("only-b", "bob"), "ctx-b": ("only-b", "bob")},
            current="ctx-b",
        ),
    )
    return a, b


def test_the_first_file_to_define_a_name_wins(tmp_path: Path) -> None:
    a, b = two_files(tmp_path)
    loaded = kubeconfig.load(f"{a}:{b}")
    assert loaded.context == "ctx-a"  # current-context: the first file that sets it
    assert loaded.configuration.host == "http://a.example:1"
    assert loaded.credentials.current()[1] == "Bearer from-a"


def test_the_order_of_the_files_decides(tmp_path: Path) -> None:
    a, b = two_files(tmp_path)
    loaded = kubeconfig.load(f"{b}:{a}")
    assert loaded.context == "ctx-b"
    assert loaded.configuration.host == "http://b:3"


def test_a_context_of_the_second_file_is_found(tmp_path: Path) -> None:
    a, b = two_files(tmp_path)
    loaded = kubeconfig.load(f"{a}:{b}", context="ctx-b")
    assert loaded.configuration.host == "http://b:3"
    assert loaded.credentials.current()[1] == "Bearer bob-b"


def test_kubeconfig_env_is_merged_like_the_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = two_files(tmp_path)
    monkeypatch.setenv("KUBECONFIG", f"{a}:{b}")
    assert kubeconfig.load(None, context="ctx-b").configuration.host == "http://b:3"


def test_files_that_do_not_exist_are_skipped(tmp_path: Path) -> None:
    a, _ = two_files(tmp_path)
    assert kubeconfig.load(f"{tmp_path}/missing.yaml:{a}").context == "ctx-a"


def test_no_file_at_all_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="no such file"):
        kubeconfig.load(f"{tmp_path}/x.yaml:{tmp_path}/y.yaml")


def test_an_unknown_context_names_the_ones_there_are(tmp_path: Path) -> None:
    a, b = two_files(tmp_path)
    with pytest.raises(UserInputError, match=r'context "nope" is not in .*contexts: ctx-a, ctx-b'):
        kubeconfig.load(f"{a}:{b}", context="nope")


def test_no_current_context_asks_for_one(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.yaml",
        build(clusters={"c": {"server": "http://c:1"}}, contexts={"x": ("c", "u")}),
    )
    with pytest.raises(UserInputError, match="sets no current-context"):
        kubeconfig.load(path)
    assert kubeconfig.load(path, context="x").configuration.host == "http://c:1"


def test_a_file_that_is_not_yaml_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("clusters: [unclosed\n")
    with pytest.raises(UserInputError, match="cannot load kubeconfig") as caught:
        kubeconfig.load(path)
    assert "\n" not in str(caught.value)


def test_the_clusters_proxy_url_and_compression_setting_are_kept(tmp_path: Path) -> None:
    path = write(
        tmp_path / "p.yaml",
        build(
            clusters={
                "c": {
                    "server": "http://c:1",
                    "proxy-url": "http://proxy:3128",
                    "disable-compression": True,
                }
            },
            users={"u": {"token": "t"}},
            contexts={"x": ("c", "u")},
            current="x",
        ),
    )
    loaded = kubeconfig.load(path)
    assert loaded.proxy_url == "http://proxy:3128"
    assert loaded.compress is False


def test_a_relative_token_file_is_read_from_next_to_its_kubeconfig(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "token").write_text("from-file\n")
    path = write(
        tmp_path / "sub" / "k.yaml",
        build(
            clusters={"c": {"server": "http://c:1"}},
            users={"u": {"tokenFile": "token"}},
            contexts={"x": ("c", "u")},
            current="x",
        ),
    )
    loaded = kubeconfig.load(path)
    assert loaded.credentials.current()[1] == "Bearer from-file"
    assert loaded.credentials.describe == f'kubeconfig user "u" (token file {tmp_path}/sub/token)'


def test_an_exec_user_is_named_by_its_command(tmp_path: Path) -> None:
    plugin = tmp_path / "plugin.sh"
    plugin.write_text(
        '#!/bin/sh\necho \'{"apiVersion":"client.authentication.k8s.io/v1",'
        '"kind":"ExecCredential","status":{"token":"t1"}}\'\n'
    )
    plugin.chmod(0o755)
    exec_user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": str(plugin)}}
    path = write(
        tmp_path / "k.yaml",
        build(
            clusters={"c": {"server": "http://c:1"}},
            users={"ops": exec_user},
            contexts={"x": ("c", "ops")},
            current="x",
        ),
    )
    loaded = kubeconfig.load(path)
    assert loaded.credentials.current()[1] == "Bearer t1"
    assert loaded.credentials.describe == f'kubeconfig user "ops" (exec plugin {plugin})'


def test_a_user_that_impersonates_is_refused_rather_than_ignored(tmp_path: Path) -> None:
    path = write(
        tmp_path / "k.yaml",
        build(
            clusters={"c": {"server": "http://c:1"}},
            users={"u": {"token": "t", "as": "readonly"}},
            contexts={"x": ("c", "u")},
            current="x",
        ),
    )
    with pytest.raises(UserInputError, match=r'user "u" impersonates \(as\)'):
        kubeconfig.load(path)


def test_in_a_pod_without_a_kubeconfig_the_service_account_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.kube/config
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    token, ca = tmp_path / "token", tmp_path / "ca.crt"
    token.write_text("sa-token")
    ca.write_text("not checked at load")
    monkeypatch.setattr("kubernetes.config.incluster_config.SERVICE_TOKEN_FILENAME", str(token))
    monkeypatch.setattr("kubernetes.config.incluster_config.SERVICE_CERT_FILENAME", str(ca))
    loaded = kubeconfig.load()
    assert loaded.configuration.host == "https://10.96.0.1:443"
    assert loaded.credentials.current()[1] == "Bearer sa-token"
    assert loaded.credentials.describe == f"the service account token file {token}"
