from backupd.restore.actions import Skip, secret
from tests.unit.actions.builders import context
from tests.unit.actions.builders import secret as make_secret


def test_service_account_token_secrets_are_skipped() -> None:
    token = make_secret("default-token-x", type_="kubernetes.io/service-account-token")
    assert isinstance(secret.run(token, context()), Skip)


def test_opaque_secrets_are_restored_untouched() -> None:
    s = make_secret("db", password="c2VjcmV0")
    assert secret.run(s, context()) is s
    assert s["data"] == {"password": "c2VjcmV0"}
