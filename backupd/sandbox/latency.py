"""A loopback TCP proxy that adds network latency in front of a sandbox's API server.

On loopback every request is free, which flatters serial clients: a real cluster is
a few milliseconds away. `latency_proxy(kubeconfig, delay_ms=2, directory=...)` starts
the proxy as its own process (so it costs the measured client no CPU), and gives a
kubeconfig whose server is the proxy; TLS passes through untouched (the proxy only
moves bytes, and the API server's certificate is for 127.0.0.1 too).

Every chunk read from one side is written to the other `delay` later, in order,
without limiting throughput (a delay line, not a queue that waits for each chunk),
so a request and its response each take `delay` more: one round trip costs
2 x delay. A new connection costs one round trip before it is connected, as the TCP
handshake does. The proxy counts the bytes in each direction and the connections;
`proxy.stats()` reads them from its control port.

    python -m backupd.sandbox.latency --upstream 127.0.0.1:6443 --delay-ms 2 --port 0
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from backupd.errors import SandboxError
from backupd.sandbox.processes import LOOPBACK, Process, free_port, start, wait_until

# Pause reading a side while the other side's unsent bytes exceed this.
HIGH_WATER = 4 * 1024 * 1024


class DelayLine:
    """Chunks in arrival order, each released `delay` seconds after it came (pure)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.pending: collections.deque[tuple[float, bytes | None]] = collections.deque()
        self.size = 0

    def push(self, now: float, data: bytes | None) -> None:
        """`None` marks the end of the stream (released in order, like data)."""
        self.pending.append((now + self.delay, data))
        self.size += len(data or b"")

    def due(self, now: float) -> list[bytes | None]:
        out = []
        while self.pending and self.pending[0][0] <= now:
            data = self.pending.popleft()[1]
            self.size -= len(data or b"")
            out.append(data)
        return out

    def next_due(self) -> float | None:
        return self.pending[0][0] if self.pending else None

    def queued_bytes(self) -> int:
        return self.size


@dataclass
class Counters:
    connections: int = 0
    bytes_up: int = 0  # client -> API server
    bytes_down: int = 0  # API server -> client


class _Side(asyncio.Protocol):
    """One socket of a proxied connection; what it reads goes to `peer` through a delay line."""

    def __init__(self, delay: float, up: bool, counters: Counters) -> None:
        self.loop = asyncio.get_running_loop()
        self.up, self.counters = up, counters
        self.line = DelayLine(delay)
        self.transport: asyncio.Transport | None = None
        self.peer: _Side | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.closed = self.eof_pushed = self.eof_delivered = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.up:
            self.counters.bytes_up += len(data)
        else:
            self.counters.bytes_down += len(data)
        self._push(data)

    def eof_received(self) -> bool:
        self._push_eof()
        return True  # our write side stays open until the peer's EOF comes back

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._push_eof()
        if self.peer is None:
            return
        if self.timer is None and self.line.next_due() is None:
            self.peer.close()

    def pause_writing(self) -> None:  # our socket is backed up: stop reading the peer's
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()  # after what is buffered is written

    def _push_eof(self) -> None:
        if not self.eof_pushed:
            self.eof_pushed = True
            self._push(None)

    def _push(self, data: bytes | None) -> None:
        self.line.push(self.loop.time(), data)
        if self.transport is not None and self.line.queued_bytes() > HIGH_WATER:
            self.transport.pause_reading()
        self._schedule()

    def _schedule(self) -> None:
        due = self.line.next_due()
        if self.timer is None and due is not None and self.peer is not None:
            self.timer = self.loop.call_at(due, self._release)

    def _release(self) -> None:
        self.timer = None
        peer = self.peer
        assert peer is not None and peer.transport is not None
        for chunk in self.line.due(self.loop.time()):
            if peer.transport.is_closing():
                continue
            if chunk is not None:
                peer.transport.write(chunk)
                continue
            self.eof_delivered = True
            if self.closed or peer.eof_delivered or not peer.transport.can_write_eof():
                peer.close()
                self.close()
            else:
                peer.transport.write_eof()
        transport = self.transport
        if transport and not transport.is_closing() and self.line.queued_bytes() <= HIGH_WATER // 2:
            transport.resume_reading()
        self._schedule()


class _ClientSide(_Side):
    """The accepted socket: connects upstream one round trip later, then relays."""

    def __init__(self, delay: float, counters: Counters, upstream: tuple[str, int]) -> None:
        super().__init__(delay, True, counters)
        self.upstream = upstream
        self.task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.counters.connections += 1
        self.task = self.loop.create_task(self._connect())

    async def _connect(self) -> None:
        assert self.transport is not None
        self.transport.pause_reading()
        await asyncio.sleep(2 * self.line.delay)  # the TCP handshake's round trip
        try:
            _, server = await self.loop.create_connection(
                lambda: _Side(self.line.delay, False, self.counters), *self.upstream
            )
        except OSError:
            self.transport.close()
            return
        self.peer, server.peer = server, self
        if self.closed:
            server.close()
            return
        self._schedule()
        self.transport.resume_reading()


async def serve(port: int, control_port: int, upstream: tuple[str, int], delay: float) -> None:
    """Relay 127.0.0.1:port to upstream with `delay` each way; counters on control_port."""
    loop = asyncio.get_running_loop()
    counters = Counters()

    async def control(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(json.dumps(counters.__dict__).encode() + b"\n")
        await w.drain()
        w.close()

    await loop.create_server(lambda: _ClientSide(delay, counters, upstream), LOOPBACK, port)
    ctl = await asyncio.start_server(control, LOOPBACK, control_port)
    async with ctl:
        await ctl.serve_forever()


@dataclass
class LatencyProxy:
    port: int
    control_port: int
    delay_ms: float
    kubeconfig: Path  # the proxied kubeconfig (an empty path when it fronts another server)
    process: Process

    def stats(self) -> Counters:
        with socket.create_connection((LOOPBACK, self.control_port), timeout=5) as s:
            data = s.makefile("rb").readline()
        return Counters(**json.loads(data))


def proxied_kubeconfig(kubeconfig: Path, port: int, target: Path) -> tuple[str, int]:
    """Write `target`: `kubeconfig` with its current cluster's server on the proxy's port.

    Returns the upstream (host, port) it pointed at."""
    config: dict[str, Any] = yaml.safe_load(kubeconfig.read_text())
    contexts = {c["name"]: c["context"] for c in config.get("contexts", [])}
    cluster_name = contexts[config["current-context"]]["cluster"]
    cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == cluster_name)
    url = urlsplit(cluster["server"])
    if url.hostname != LOOPBACK or url.port is None:
        raise SandboxError(f"the latency proxy only fronts {LOOPBACK} servers, not {url.netloc}")
    cluster["server"] = f"{url.scheme}://{LOOPBACK}:{port}"
    target.write_text(yaml.safe_dump(config))
    return url.hostname, url.port


@contextlib.contextmanager
def latency_proxy(kubeconfig: Path, delay_ms: float, directory: Path) -> Iterator[LatencyProxy]:
    """The proxy in its own process, in front of `kubeconfig`'s API server; stopped on exit."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    target = directory / f"latency-{delay_ms:g}ms.kubeconfig"
    upstream = proxied_kubeconfig(kubeconfig, port, target)
    with tcp_latency_proxy(upstream, delay_ms, directory, port=port) as proxy:
        proxy.kubeconfig = target
        yield proxy


@contextlib.contextmanager
def tcp_latency_proxy(
    upstream: tuple[str, int], delay_ms: float, directory: Path, *, port: int | None = None
) -> Iterator[LatencyProxy]:
    """The proxy in its own process, in front of any loopback TCP server (an object store:
    127.0.0.1:proxy.port instead of `upstream`); stopped on exit."""
    if upstream[0] != LOOPBACK:
        raise SandboxError(f"the latency proxy only fronts {LOOPBACK} servers, not {upstream[0]}")
    directory.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    control_port = free_port()
    argv = [
        sys.executable,
        "-m",
        "backupd.sandbox.latency",
        f"--upstream={upstream[0]}:{upstream[1]}",
        f"--delay-ms={delay_ms}",
        f"--port={port}",
        f"--control-port={control_port}",
    ]
    process = start(f"latency-proxy-{port}", argv, directory / f"latency-proxy-{port}.log")
    proxy = LatencyProxy(port, control_port, delay_ms, Path(), process)

    def up() -> bool:
        proxy.stats()
        return True

    try:
        wait_until("the latency proxy", up, timeout=30, processes=[process])
        yield proxy
    finally:
        process.stop()


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - the proxy process
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="host:port of the API server")
    parser.add_argument("--delay-ms", type=float, required=True, help="added per direction")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--control-port", type=int, required=True)
    args = parser.parse_args(argv)
    host, _, port = args.upstream.rpartition(":")
    started = time.monotonic()
    try:
        asyncio.run(serve(args.port, args.control_port, (host, int(port)), args.delay_ms / 1e3))
    except KeyboardInterrupt:
        print(f"stopped after {time.monotonic() - started:.0f}s", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    main()
