"""What a caller sees when the API server refuses, through the scripted transport."""

from __future__ import annotations

import pytest
from kubernetes import client as k8s_client

from backupd.cluster.client import KubeClient
from backupd.cluster.credentials import Credentials
from backupd.cluster.fake import FakeTransport, Step, json_reply, status_reply
from backupd.cluster.http import ConnectionLost
from backupd.cluster.transport import ReplyLost
from backupd.errors import (
    ClusterConflict,
    ClusterError,
    ClusterForbidden,
    ClusterGone,
    ClusterInvalid,
    ClusterNotFound,
    ClusterServerError,
    ClusterTimeout,
    ClusterTooManyRequests,
    ClusterUnauthorized,
    ClusterUnreachable,
)

NOW = {"retry-after": "0"}  # the server's own "retry at once", so tests do not sleep


def client(
    *steps: Step, credentials: Credentials | None = None
) -> tuple[KubeClient, FakeTransport]:
    cfg = k8s_client.Configuration()
    cfg.host = "https://api.example:6443"
    fake = FakeTransport(*steps)
    return KubeClient(cfg, transport=fake, credentials=credentials), fake


@pytest.mark.parametrize(
    ("code", "reason", "cls"),
    [
        (403, "Forbidden", ClusterForbidden),
        (404, "NotFound", ClusterNotFound),
        (409, "AlreadyExists", ClusterConflict),
        (410, "Expired", ClusterGone),
        (400, "BadRequest", ClusterError),
        (405, "MethodNotAllowed", ClusterError),
    ],
)
def test_each_refusal_is_its_own_class_with_the_servers_status(
    code: int, reason: str, cls: type[ClusterError]
) -> None:
    details = {"name": "web", "kind": "deployments", "group": "apps"}
    kube, fake = client(status_reply(code, reason, f"refused: {reason}", details=details))
    with pytest.raises(cls) as caught:
        kube.get("/apis/apps/v1/namespaces/shop/deployments/web")
    err = caught.value
    assert type(err) is cls
    assert (err.status, err.reason, err.details) == (code, reason, details)
    assert (
        str(err) == f"GET /apis/apps/v1/namespaces/shop/deployments/web: {code} refused: {reason}"
    )
    assert len(fake.requests) == 1  # a refusal is not retried


def test_an_invalid_object_keeps_each_cause_with_its_field() -> None:
    details = {
        "kind": "Deployment",
        "name": "web",
        "causes": [
            {
                "reason": "FieldValueInvalid",
                "message": "Invalid value: -1",
                "field": "spec.replicas",
            },
            {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.selector"},
        ],
    }
    kube, _ = client(
        status_reply(422, "Invalid", 'Deployment.apps "web" is invalid', details=details)
    )
    with pytest.raises(ClusterInvalid) as caught:
        kube.post("/apis/apps/v1/namespaces/shop/deployments", {"kind": "Deployment"})
    assert caught.value.causes == [
        "spec.replicas: Invalid value: -1",
        "spec.selector: Required value",
    ]


def test_too_many_requests_waits_as_asked_then_succeeds() -> None:
    kube, fake = client(
        status_reply(429, "TooManyRequests", "slow down", details={"retryAfterSeconds": 0}),
        json_reply({"kind": "PodList", "items": []}),
    )
    assert kube.get("/api/v1/pods")["kind"] == "PodList"
    assert len(fake.requests) == 2


def test_too_many_requests_every_time_is_its_own_class_with_retry_after() -> None:
    busy = status_reply(429, "TooManyRequests", "slow down", details={"retryAfterSeconds": 0})
    kube, fake = client(*[busy] * 5)
    with pytest.raises(ClusterTooManyRequests) as caught:
        kube.get("/api/v1/pods")
    assert caught.value.retryable
    assert caught.value.retry_after == 0.0
    assert len(fake.requests) == 5


@pytest.mark.parametrize("code", [500, 502, 503, 504])
def test_a_server_error_on_a_read_is_retried_then_reported_as_such(code: int) -> None:
    failing = status_reply(code, "InternalError", "etcd is sad", headers=NOW)
    kube, fake = client(*[failing] * 5)
    with pytest.raises(ClusterServerError, match=f"{code} etcd is sad") as caught:
        kube.get("/api/v1/pods")
    assert caught.value.retryable and caught.value.status == code
    assert len(fake.requests) == 5


def test_an_internal_error_on_a_create_is_not_sent_again() -> None:
    kube, fake = client(status_reply(500, "InternalError", "etcd is sad", headers=NOW))
    with pytest.raises(ClusterServerError):
        kube.post("/api/v1/namespaces/shop/configmaps", {"kind": "ConfigMap"})
    assert len(fake.requests) == 1


def test_a_create_the_server_gave_up_on_is_an_unknown_outcome_not_a_retry() -> None:
    kube, fake = client(status_reply(504, "Timeout", "request did not complete", headers=NOW))
    with pytest.raises(ClusterTimeout, match="whether it took effect is unknown") as caught:
        kube.post("/api/v1/namespaces/shop/configmaps", {"kind": "ConfigMap"})
    assert caught.value.sent and caught.value.status == 504
    assert len(fake.requests) == 1


def test_a_create_that_got_no_reply_is_not_sent_again() -> None:
    lost = ReplyLost.after(TimeoutError("timed out"))
    kube, fake = client(lost, json_reply({"kind": "ConfigMap"}))
    with pytest.raises(ClusterTimeout, match=r"no reply from https://api\.example:6443") as caught:
        kube.post("/api/v1/namespaces/shop/configmaps", {"kind": "ConfigMap"})
    assert caught.value.sent
    assert len(fake.requests) == 1


def test_a_create_whose_connection_broke_after_sending_is_not_sent_again() -> None:
    kube, fake = client(ConnectionLost("the server closed the connection inside the body"))
    with pytest.raises(ClusterTimeout, match="lost before the reply"):
        kube.post("/api/v1/namespaces/shop/configmaps", {"kind": "ConfigMap"})
    assert len(fake.requests) == 1


def test_a_read_that_got_no_reply_is_tried_again() -> None:
    kube, fake = client(ReplyLost.after(TimeoutError()), json_reply({"kind": "PodList"}))
    assert kube.get("/api/v1/pods")["kind"] == "PodList"
    assert len(fake.requests) == 2


def test_a_create_that_could_not_connect_is_sent_once_it_can() -> None:
    kube, fake = client(ConnectionRefusedError(), json_reply({"kind": "ConfigMap"}, 201))
    assert kube.post("/api/v1/namespaces/shop/configmaps", {})["kind"] == "ConfigMap"
    assert len(fake.requests) == 2


def test_an_api_server_that_never_answers_is_unreachable_after_the_retries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("backupd.cluster.client._backoff", lambda *_: None)
    kube, fake = client(*[ConnectionRefusedError()] * 5)
    with pytest.raises(ClusterUnreachable, match=r"cannot reach .* at https://api\.example:6443"):
        kube.get("/api/v1/pods")
    assert len(fake.requests) == 5


def test_a_refused_static_credential_is_one_error_naming_it() -> None:
    creds = Credentials("Bearer old", describe='kubeconfig user "alice" (token)')
    kube, fake = client(status_reply(401, "Unauthorized", "Unauthorized"), credentials=creds)
    with pytest.raises(ClusterUnauthorized) as caught:
        kube.get("/api/v1/pods")
    assert str(caught.value) == (
        'GET /api/v1/pods: 401 the API server refused the credentials of kubeconfig user "alice" '
        "(token)"
    )
    assert "\n" not in str(caught.value)
    assert len(fake.requests) == 1


def test_a_401_refreshes_the_credential_once_and_retries_with_the_new_one() -> None:
    tokens = iter(["Bearer new"])
    creds = Credentials("Bearer old", describe="exec plugin", reload=lambda: next(tokens))
    kube, fake = client(
        status_reply(401, "Unauthorized", "Unauthorized"),
        json_reply({"kind": "PodList"}),
        credentials=creds,
    )
    assert kube.get("/api/v1/pods")["kind"] == "PodList"
    assert [r.headers["Authorization"] for r in fake.requests] == ["Bearer old", "Bearer new"]
    assert creds.refreshes == 1


def test_a_credential_still_refused_after_its_refresh_is_not_refreshed_again() -> None:
    fresh = iter(["Bearer second", "Bearer third"])
    creds = Credentials("Bearer first", describe="exec plugin", reload=lambda: next(fresh))
    denied = status_reply(401, "Unauthorized", "Unauthorized")
    kube, fake = client(denied, denied, denied, credentials=creds)
    with pytest.raises(ClusterUnauthorized):
        kube.get("/api/v1/pods")
    with pytest.raises(ClusterUnauthorized):
        kube.get("/api/v1/pods")  # the refused "second" is not reloaded once more
    assert creds.refreshes == 1
    assert [r.headers["Authorization"] for r in fake.requests] == [
        "Bearer first",
        "Bearer second",
        "Bearer second",
    ]


def test_reads_ask_for_gzip_and_writes_do_not() -> None:
    kube, fake = client(json_reply({}), json_reply({}, 201))
    kube.get("/api/v1/pods")
    kube.post("/api/v1/namespaces/a/pods", {})
    assert fake.requests[0].headers["Accept-Encoding"] == "gzip"
    assert "Accept-Encoding" not in fake.requests[1].headers
