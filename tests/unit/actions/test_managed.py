from backupd.restore.actions import Skip, managed
from tests.unit.actions.builders import configmap, context


def test_root_ca_configmap_is_left_to_the_cluster() -> None:
    assert isinstance(managed.run(configmap("kube-root-ca.crt"), context()), Skip)


def test_other_configmaps_are_restored() -> None:
    cm = configmap("settings")
    assert managed.run(cm, context()) is cm
