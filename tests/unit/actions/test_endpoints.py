from backupd.restore.actions import Skip, endpoints
from tests.unit.actions.builders import context, obj, owned_by, service


def test_endpoints_of_a_restored_service_with_selector_are_skipped() -> None:
    ep = obj("Endpoints", "web", "shop")
    result = endpoints.run(ep, context(selector_services=frozenset({("shop", "web")})))
    assert isinstance(result, Skip)


def test_endpoints_of_a_selectorless_service_are_restored() -> None:
    ep = obj("Endpoints", "external-db", "shop")
    assert endpoints.run(ep, context(selector_services=frozenset({("shop", "web")}))) is ep


def test_endpointslice_owned_by_a_service_is_skipped() -> None:
    eps = owned_by(obj("EndpointSlice", "web-x1", "shop"), service("web"))
    assert isinstance(endpoints.run(eps, context()), Skip)


def test_hand_made_endpointslice_is_restored() -> None:
    eps = obj(
        "EndpointSlice",
        "custom",
        "shop",
        metadata={"labels": {"endpointslice.kubernetes.io/managed-by": "me"}},
    )
    assert endpoints.run(eps, context()) is eps
