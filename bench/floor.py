"""The floor: the least a Python asyncio server can do per delivery, and the send() syscall alone.

Two references for the fan-out rows of :mod:`bench.run`, measured in every repetition
beside the servers under test:

* :class:`FloorProtocol` (``python -m bench.servers floor``): a bare
  :class:`asyncio.Protocol` that answers the opening handshake (request line,
  ``Sec-WebSocket-Key``, the 101 with its accept, nothing checked beyond that),
  parses client frames minimally (unmasks them with websockets' C helper when it
  is built, else in Python; no fragmentation, no extensions, no UTF-8 check) and,
  for each text frame, builds one unmasked frame and ``transport.write``-s those
  bytes to each member of its room (rooms by path, as the raw relay; ``/echo``
  echoes). Pings are answered, a close is echoed and the transport closed. No
  limits, no validation, no keepalive: not a server to run, a floor to measure
  against.
* :func:`syscall_figures` (``python -m bench.floor syscall``): no event loop at
  all: ``socket.send`` of one pre-built chat frame to each of N loopback sockets
  (a drain process, pinned to the client's CPU, reads them), a burst of M
  messages and M paced at a chat's rate; the process's CPU time per send. The
  kernel's own cost of a delivery on this machine, in this run.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.frames import stamp, stamped_chat

__all__ = ["GUID", "FloorProtocol", "frame", "unmask", "serve_floor", "syscall_figures", "drain", "main"]

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
"""RFC 6455's key suffix for ``Sec-WebSocket-Accept``."""

_apply_mask: Callable[[bytes, bytes], bytes] | None
try:  # websockets' C unmasking, when built: what any serious server uses
    from websockets.speedups import apply_mask as _apply_mask
except ImportError:  # pragma: no cover
    _apply_mask = None


def unmask(payload: bytes, mask: bytes) -> bytes:
    """``payload`` XOR-ed with the 4-byte ``mask`` (RFC 6455, section 5.3)."""
    if _apply_mask is not None:
        return bytes(_apply_mask(payload, mask))
    n = len(payload)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big")


def frame(opcode: int, payload: bytes) -> bytes:
    """One unmasked, final frame: header and ``payload``."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 127)) + n.to_bytes(8, "big")
    return head + payload


class FloorProtocol(asyncio.Protocol):
    """One connection of the floor server: handshake, then frames; ``rooms`` maps a path to its transports."""

    def __init__(self, rooms: dict[bytes, set[asyncio.Transport]]) -> None:
        self.rooms = rooms
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.members: set[asyncio.Transport] | None = None
        self.upgraded = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if self.members is not None and self.transport is not None:
            self.members.discard(self.transport)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.upgraded:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end])
            del self.buf[: end + 4]
            self._upgrade(head)
        self._frames()

    def _upgrade(self, head: bytes) -> None:
        assert self.transport is not None
        lines = head.split(b"\r\n")
        path = lines[0].split(b" ")[1].partition(b"?")[0]
        key = b""
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"sec-websocket-key":
                key = value.strip()
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        self.transport.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                             b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        self.upgraded = True
        if path != b"/echo":
            self.members = self.rooms.setdefault(path, set())
            self.members.add(self.transport)

    def _frames(self) -> None:
        buf = self.buf
        i, n = 0, len(buf)
        while n - i >= 2:
            b0, b1 = buf[i], buf[i + 1]
            length, j = b1 & 0x7F, i + 2
            if length == 126:
                if n - j < 2:
                    break
                length, j = int.from_bytes(buf[j : j + 2], "big"), j + 2
            elif length == 127:
                if n - j < 8:
                    break
                length, j = int.from_bytes(buf[j : j + 8], "big"), j + 8
            mask = b""
            if b1 & 0x80:
                if n - j < 4:
                    break
                mask, j = bytes(buf[j : j + 4]), j + 4
            if n - j < length:
                break
            payload = bytes(buf[j : j + length])
            i = j + length
            self._frame(b0 & 0x0F, unmask(payload, mask) if mask else payload)
        del buf[:i]

    def _frame(self, opcode: int, payload: bytes) -> None:
        transport = self.transport
        assert transport is not None
        if opcode in (1, 2):
            out = frame(opcode, payload)  # built once
            if self.members is None:
                transport.write(out)
            else:
                for member in self.members:
                    member.write(out)
        elif opcode == 8:
            transport.write(frame(8, payload[:2]))
            transport.close()
        elif opcode == 9:
            transport.write(frame(10, payload))


async def serve_floor(ready: Callable[[int], None], until_stopped: Callable[[], object]) -> None:
    """Serve the floor on 127.0.0.1 (a free port), call ``ready(port)``, serve until ``until_stopped()`` returns."""
    loop = asyncio.get_running_loop()
    rooms: dict[bytes, set[asyncio.Transport]] = {}
    server = await asyncio.wait_for(loop.create_server(lambda: FloorProtocol(rooms), "127.0.0.1", 0), 10)
    ready(server.sockets[0].getsockname()[1])
    try:
        await until_stopped()  # type: ignore[misc]
    finally:
        server.close()
        for members in rooms.values():
            for transport in list(members):
                transport.abort()
        await asyncio.wait_for(server.wait_closed(), 10)


def drain(port: int, n: int, timeout: float) -> None:
    """Open ``n`` connections to ``port`` and read them until each is closed (at most ``timeout`` s)."""
    sel = selectors.DefaultSelector()
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        socks.append(s)
    open_ = n
    deadline = time.monotonic() + timeout
    while open_ and time.monotonic() < deadline:
        for key, _ in sel.select(1.0):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            try:
                data = sock.recv(1 << 16)
            except BlockingIOError:
                continue
            if not data:
                sel.unregister(sock)
                sock.close()
                open_ -= 1


def syscall_figures(
    sizes: Sequence[int], burst: int, paced: dict[str, int], rate: float, drain_cpus: set[int] | None,
    root: Path, timeout: float = 120.0,
) -> dict[str, dict[str, float]]:
    """``socket.send`` of one chat frame to each of N loopback sockets: CPU per send, burst and paced, per N.

    A drain process (on ``drain_cpus``) reads every socket. Returns ``{"burstN":
    {"cpu_us_per_delivery": ...}, "pacedN": {...}}``, the shape of the load
    client's figures.
    """
    n_max = max(sizes)
    listener = socket.create_server(("127.0.0.1", 0), backlog=n_max + 16)
    port = listener.getsockname()[1]
    drainer = subprocess.Popen(
        [sys.executable, "-m", "bench.floor", "drain", "--port", str(port), "--n", str(n_max),
         "--timeout", str(timeout)],
        cwd=root, stdin=subprocess.DEVNULL,
    )
    if drain_cpus:
        os.sched_setaffinity(drainer.pid, drain_cpus)
    socks: list[socket.socket] = []
    try:
        listener.settimeout(15)
        for _ in range(n_max):
            sock, _addr = listener.accept()
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            socks.append(sock)
        out: dict[str, dict[str, float]] = {}
        for n in sizes:
            members = socks[:n]
            data = frame(1, stamped_chat(f"r{n}", 1, "r{n}n0", stamp(), "m1").encode())
            for scenario, count, gap in ((f"burst{n}", burst, 0.0), (f"paced{n}", paced.get(str(n), 0), 1 / rate)):
                if not count:
                    continue
                cpu = 0
                next_at = time.monotonic()
                for _ in range(count):
                    if gap:
                        next_at += gap
                        time.sleep(max(0.0, next_at - time.monotonic()))
                    c0 = time.process_time_ns()
                    for sock in members:
                        sock.send(data)
                    cpu += time.process_time_ns() - c0
                out[scenario] = {"cpu_us_per_delivery": cpu / 1e3 / (count * n)}
                time.sleep(0.2)  # let the drain catch up before the next figure
        return out
    finally:
        for sock in socks:
            sock.close()
        listener.close()
        try:
            drainer.wait(timeout=15)
        except subprocess.TimeoutExpired:
            drainer.kill()
            drainer.wait(timeout=5)


def main(argv: list[str] | None = None) -> None:
    """``syscall``: print :func:`syscall_figures` as one JSON line; ``drain``: the reading side."""
    parser = argparse.ArgumentParser(description="The send() syscall's own cost per delivery.")
    parser.add_argument("what", choices=["syscall", "drain"])
    parser.add_argument("--port", type=int)
    parser.add_argument("--n", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--plan", help="syscall: the run's plan, JSON (fanout_n, burst_messages, paced_messages)")
    parser.add_argument("--drain-cpus", default="", help="syscall: CPUs for the drain process, e.g. 1")
    args = parser.parse_args(argv)
    if args.what == "drain":
        drain(args.port, args.n, args.timeout)
        return
    plan = json.loads(args.plan)
    cpus = {int(c) for c in args.drain_cpus.split(",") if c}
    figures = syscall_figures(plan["fanout_n"], plan["burst_messages"], plan.get("paced_messages", {}),
                              plan["paced_rate"], cpus or None, Path.cwd(), args.timeout)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
