from backupd.restore.actions import Changed, service
from tests.unit.actions.builders import context
from tests.unit.actions.builders import service as make_service


def test_cluster_ip_and_node_ports_are_cleared() -> None:
    result = service.run(make_service("web", node_port=30080), context())
    assert isinstance(result, Changed)
    spec = result.obj["spec"]
    assert "clusterIP" not in spec and "clusterIPs" not in spec
    assert "nodePort" not in spec["ports"][0]
    assert result.notes == ("cluster IP cleared", "node ports cleared")


def test_node_ports_kept_with_preserve_nodeports() -> None:
    result = service.run(make_service("web", node_port=30080), context(preserve_nodeports=True))
    assert isinstance(result, Changed)
    assert result.obj["spec"]["ports"][0]["nodePort"] == 30080


def test_headless_service_stays_headless() -> None:
    headless = make_service("db", cluster_ip="None")
    result = service.run(headless, context())
    assert result is headless
    assert headless["spec"]["clusterIP"] == "None"
