import pytest

from backupd.api.common import ObjectMeta
from backupd.api.restore import Restore, RestoreSpec
from backupd.errors import UserInputError


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
