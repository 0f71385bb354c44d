"""The keep-alive HTTP pool against a scripted local TCP server (no cluster)."""

from __future__ import annotations

import gzip
import socket
import socketserver
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from backupd.cluster.http import ConnectionLost, HttpPool
from backupd.cluster.transport import BodyTooLarge, ReplyLost

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@dataclass
class Script:
    """Replies in order; each is (bytes to send, close the connection afterwards)."""

    replies: list[tuple[bytes, bool]] = field(default_factory=list)
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def read_request(f: socketserver.StreamRequestHandler) -> bytes | None:
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        line = f.rfile.readline()
        if not line:
            return None
        head += line
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return head + f.rfile.read(length)


@pytest.fixture
def scripted() -> Iterator[tuple[Script, str]]:
    script = Script()

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            with script.lock:
                script.connections += 1
            while True:
                request = read_request(self)
                if request is None:
                    return
                with script.lock:
                    script.requests.append(request)
                    reply, close = script.replies.pop(0)
                self.wfile.write(reply)
                self.wfile.flush()
                if close:
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield script, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def get(pool: HttpPool, path: str = "/x") -> bytes:
    return pool.request("GET", path, headers={"Accept": "application/json"}).data


def test_a_chunked_body_is_joined_and_the_connection_kept(scripted: tuple[Script, str]) -> None:
    script, url = scripted
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
    )
    script.replies = [(chunked, False), (OK, False)]
    pool = HttpPool(url)
    assert get(pool) == b"hello world"
    assert get(pool) == b"ok"
    assert script.connections == 1


def test_a_closed_keep_alive_connection_is_replaced_transparently(
    scripted: tuple[Script, str],
) -> None:
    script, url = scripted
    # the server answers, then closes the connection the pool keeps for the next request
    script.replies = [(OK, True), (OK, False)]
    pool = HttpPool(url)
    assert get(pool) == b"ok"
    assert get(pool) == b"ok"
    assert script.connections == 2
    assert len(script.requests) == 2


def test_connection_close_and_a_body_that_ends_with_the_connection(
    scripted: tuple[Script, str],
) -> None:
    script, url = scripted
    script.replies = [
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\na", True),
        (b"HTTP/1.1 404 Not Found\r\n\r\nno length, read to the end", True),
    ]
    pool = HttpPool(url)
    assert get(pool) == b"a"
    resp = pool.request("GET", "/missing", headers={})
    assert (resp.status, resp.data) == (404, b"no length, read to the end")
    assert script.connections == 2


def test_a_short_body_is_an_error_not_a_truncated_object(scripted: tuple[Script, str]) -> None:
    script, url = scripted
    script.replies = [(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", True)]
    with pytest.raises(ConnectionLost):
        get(HttpPool(url))


def test_the_request_carries_path_prefix_host_and_body(scripted: tuple[Script, str]) -> None:
    script, url = scripted
    script.replies = [(OK, False)]
    pool = HttpPool(f"{url}/proxy/c-1/")
    pool.request("POST", "/api/v1/x?a=b%20c", headers={"Accept": "*/*"}, body=b'{"k":1}')
    head, _, body = script.requests[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /proxy/c-1/api/v1/x?a=b%20c HTTP/1.1"
    assert f"Host: {url.removeprefix('http://')}".encode() in lines
    assert b"Content-Length: 7" in lines
    assert body == b'{"k":1}'


def test_a_reply_that_is_not_http_is_a_connection_error(scripted: tuple[Script, str]) -> None:
    script, url = scripted
    script.replies = [(b"SSH-2.0-OpenSSH_9.6\r\n\r\n", True)]
    with pytest.raises(ConnectionLost, match=r"not HTTP/1\.1"):
        get(HttpPool(url))


def test_each_warning_header_is_kept_whole(scripted: tuple[Script, str]) -> None:
    script, url = scripted
    script.replies = [
        (
            b'HTTP/1.1 201 Created\r\nWarning: 299 - "unknown field \\"spec.a\\", dropped"\r\n'
            b'Warning: 299 - "unknown field \\"spec.b\\""\r\nContent-Length: 2\r\n\r\n{}',
            False,
        )
    ]
    resp = HttpPool(url).request("POST", "/x", headers={}, body=b"{}")
    assert resp.warnings == (
        '299 - "unknown field \\"spec.a\\", dropped"',
        '299 - "unknown field \\"spec.b\\""',
    )


def test_a_gzip_reply_comes_back_inflated(scripted: tuple[Script, str]) -> None:
    script, url = scripted
    packed = gzip.compress(b'{"items":[]}' * 100)
    head = f"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {len(packed)}\r\n\r\n"
    script.replies = [(head.encode() + packed, False), (OK, False)]
    pool = HttpPool(url)
    resp = pool.request("GET", "/x", headers={"Accept-Encoding": "gzip"})
    assert resp.data == b'{"items":[]}' * 100
    assert resp.headers["content-encoding"] == "gzip"
    assert get(pool) == b"ok"  # the connection stays usable
    assert script.connections == 1


def test_a_reply_announcing_a_huge_body_is_refused_before_reading_it(
    scripted: tuple[Script, str],
) -> None:
    script, url = scripted
    script.replies = [(b"HTTP/1.1 200 OK\r\nContent-Length: 5000000000000\r\n\r\nabc", False)]
    with pytest.raises(BodyTooLarge):
        get(HttpPool(url))


def test_no_reply_after_the_request_was_sent_is_reply_lost(scripted: tuple[Script, str]) -> None:
    script, url = scripted
    script.replies = [(b"HTTP/1.1 200 OK\r\n", False)]  # the head never ends
    with pytest.raises(ReplyLost) as caught:
        HttpPool(url).request("POST", "/x", headers={}, body=b"{}", timeout=0.3)
    assert caught.value.timed_out
    assert len(script.requests) == 1


def test_a_server_that_is_not_listening_is_not_reply_lost() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        with pytest.raises(ConnectionRefusedError):
            HttpPool(f"http://127.0.0.1:{port}").request("POST", "/x", headers={}, body=b"{}")
