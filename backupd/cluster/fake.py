"""A scripted Transport for unit tests: replies in order, every request recorded.

    fake = FakeTransport(status_reply(404, "NotFound", "not here"), json_reply({"kind": "X"}))
    kube = KubeClient(configuration, transport=fake)

A script entry is a Response, an exception to raise, or a function of the request.
Running out of script is an AssertionError: a test sees every request it caused.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from backupd.cluster.transport import Response


@dataclass(frozen=True)
class Sent:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes | None
    timeout: float


Step = Response | BaseException | Callable[[Sent], Response]


def json_reply(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status, {"content-type": "application/json", **(headers or {})}, orjson.dumps(obj)
    )


def status_reply(
    code: int,
    reason: str,
    message: str,
    *,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """A Status reply as the API server sends it for a refusal."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details is not None:
        body["details"] = details
    return json_reply(body, code, headers)


@dataclass
class FakeTransport:
    """A Transport whose replies are scripted; thread-safe."""

    script: list[Step] = field(default_factory=list)
    requests: list[Sent] = field(default_factory=list)
    closed: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __init__(self, *steps: Step) -> None:
        self.script = list(steps)
        self.requests = []
        self.closed = False
        self._lock = threading.Lock()

    def add(self, *steps: Step) -> None:
        with self._lock:
            self.script.extend(steps)

    def request(
        self,
        method: str,
        target: str,
        *,
        headers: dict[str, str],
        body: bytes | None = None,
        timeout: float = 60.0,
    ) -> Response:
        sent = Sent(method, target, dict(headers), body, timeout)
        with self._lock:
            self.requests.append(sent)
            if not self.script:
                raise AssertionError(f"unscripted request: {method} {target}")
            step = self.script.pop(0)
        if isinstance(step, BaseException):
            raise step
        if isinstance(step, Response):
            return step
        return step(sent)

    def close(self) -> None:
        self.closed = True
