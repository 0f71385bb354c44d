import pytest

from backupd.api.common import ObjectMeta
from backupd.api.restore import Restore, RestoreSpec
from backupd.errors import UserInputError
from cli.restore import _mappings
from tests.fixtures.cli import backupctl, error_line


def test_a_restore_names_exactly_one_source() -> None:
    with pytest.raises(UserInputError, match="exactly one"):
        RestoreSpec()
    with pytest.raises(UserInputError, match="exactly one"):
        RestoreSpec(backup_name="a", schedule_name="b")


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"shop": "Shop_Restored"}, "invalid namespace mapping target 'Shop_Restored'"),
        ({"shop": "x" * 64}, "invalid namespace mapping target"),
        ({"a": "c", "b": "c"}, "two namespaces to one"),
    ],
)
def test_bad_namespace_mappings(mapping: dict[str, str], message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        RestoreSpec(backup_name="b", namespace_mappings=mapping)


def test_bad_storage_class_mapping() -> None:
    with pytest.raises(UserInputError, match="storage class mapping target"):
        RestoreSpec(backup_name="b", storage_class_mappings={"gp2": "Not Valid"})


def test_round_trip_through_json_with_camel_case() -> None:
    spec = RestoreSpec(backup_name="b", namespace_mappings={"shop": "shop-2"}, dry_run=True)
    restore = Restore(metadata=ObjectMeta(name="r"), spec=spec)
    data = restore.to_json_dict()
    assert data["spec"]["namespaceMappings"] == {"shop": "shop-2"}
    assert Restore.model_validate(data) == restore


@pytest.mark.parametrize("target", ["kube-system", "kube-public", "kube-node-lease"])
def test_mapping_into_a_system_namespace_is_refused(target: str) -> None:
    with pytest.raises(UserInputError, match=f"shop:{target} restores into the system namespace"):
        RestoreSpec(backup_name="b", namespace_mappings={"shop": target})


def test_mapping_into_a_system_namespace_when_explicitly_allowed() -> None:
    spec = RestoreSpec(
        backup_name="b", namespace_mappings={"shop": "kube-system"}, allow_system_namespaces=True
    )
    assert spec.map_namespace("shop") == "kube-system"


def test_restoring_a_system_namespace_in_place_is_no_mapping() -> None:
    assert (
        RestoreSpec(backup_name="b", included_namespaces=["kube-system"]).namespace_mappings == {}
    )


def test_the_cli_refuses_a_source_mapped_twice_before_the_dict_loses_it() -> None:
    with pytest.raises(UserInputError, match="namespace mapping names a twice \\(a:b and a:c\\)"):
        _mappings(["a:b,a:c"], "namespace")
    with pytest.raises(UserInputError, match="names a twice"):
        _mappings(["a:b", "a:c"], "namespace")
    assert _mappings(["a:b,a:b"], "namespace") == {"a": "b"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--namespace-mappings", "a:b,a:c"], "error: namespace mapping names a twice"),
        (["--namespace-mappings", "shop:kube-system"], "error: namespace mapping shop:kube-system"),
    ],
)
def test_backupctl_restore_create_refuses_bad_mappings_in_one_line(
    args: list[str], message: str
) -> None:
    res = backupctl("restore", "create", "--from-backup", "b", *args)
    assert res.returncode == 2
    assert error_line(res).startswith(message)


def test_a_stored_restore_into_a_system_namespace_stays_readable() -> None:
    record = {"backupName": "nightly", "namespaceMappings": {"shop": "kube-system"}}
    with pytest.raises(UserInputError):
        RestoreSpec.model_validate(record)  # as a request: refused
    assert RestoreSpec.from_stored(record).namespace_mappings == {"shop": "kube-system"}
