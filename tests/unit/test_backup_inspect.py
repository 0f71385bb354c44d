"""Diffs between backups: what changed, with Secret values masked."""

from __future__ import annotations

from backupd.api.masking import mask_secret
from backupd.archive.format import IndexEntry
from backupd.backup.inspect import diff_indexes, field_changes


def entry(name: str, sha: str, ns: str = "shop") -> IndexEntry:
    return IndexEntry("", "v1", "ConfigMap", "configmaps", ns, name, sha, 10)


def test_index_diff_added_removed_changed() -> None:
    d = diff_indexes(
        [entry("a", "1"), entry("b", "2"), entry("c", "3")],
        [entry("b", "2"), entry("c", "9"), entry("d", "4")],
    )
    assert [e.name for e in d.added] == ["d"]
    assert [e.name for e in d.removed] == ["a"]
    assert [(o.name, n.sha256) for o, n in d.maybe_changed] == [("c", "9")]


def cm(mode: str, rv: str) -> dict[str, object]:
    return {
        "kind": "ConfigMap",
        "metadata": {"name": "s", "resourceVersion": rv},
        "data": {"mode": mode},
        "status": {"x": rv},
    }


def test_field_changes_ignore_volatile_fields_and_status() -> None:
    assert field_changes(cm("a", "1"), cm("a", "2")) == []
    (change,) = field_changes(cm("a", "1"), cm("b", "2"))
    assert (change.path, change.old, change.new) == ("data.mode", "a", "b")


def secret(**data: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": data}


def test_secret_changes_say_that_a_value_changed_never_what() -> None:
    changes = field_changes(
        secret(pw="b2xk", keep="eA=="), secret(pw="bmV3", keep="eA==", added="eQ==")
    )
    shown = {(c.path, c.old, c.new) for c in changes}
    assert shown == {("data.pw", "***", "*** (changed)"), ("data.added", None, "***")}
    assert "b2xk" not in repr(changes) and "bmV3" not in repr(changes)


def test_mask_secret_masks_values_and_last_applied() -> None:
    s = secret(pw="c2VjcmV0")
    s["metadata"] = {
        "name": "s",
        "annotations": {
            "kubectl.kubernetes.io/last-applied-configuration": '{"data":{"pw":"c2VjcmV0"}}'
        },
    }
    masked = mask_secret(s)
    assert masked["data"] == {"pw": "***"}
    assert "c2VjcmV0" not in repr(masked)
    assert s["data"] == {"pw": "c2VjcmV0"}  # the original is untouched
    cm_obj = {"kind": "ConfigMap", "data": {"a": "b"}}
    assert mask_secret(cm_obj) is cm_obj
