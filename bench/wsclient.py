"""A lean RFC 6455 client for the load generator: one asyncio Protocol per connection.

Why not ``websockets.asyncio.client``: on a 2-core machine the load client
shares the CPU with the server under test, so every microsecond the client
spends per received frame is taken from the server and shows up as latency.
This client does the least a correct client must do (handshake with accept
check, masked sends, pong on ping, close handshake, optional
permessage-deflate on receive) and hands each complete text frame's payload,
as bytes, to a callback. The same client drives every server, so whatever it
costs is the same for all of them.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import struct
import time
import zlib
from collections.abc import Callable
from typing import Any

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets built without its C extension
    from websockets.utils import apply_mask

__all__ = [
    "WSConn",
    "open_ws",
    "HandshakeError",
    "GUID",
    "OP_CONT",
    "OP_TEXT",
    "OP_BIN",
    "OP_CLOSE",
    "OP_PING",
    "OP_PONG",
]

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BIN, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class HandshakeError(Exception):
    """The server did not answer the opening handshake with a valid 101."""


def _frame(opcode: int, payload: bytes) -> bytes:
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return head + mask + apply_mask(payload, mask)


class WSConn(asyncio.Protocol):
    """One client connection. ``on_text(conn, payload_bytes)`` gets each text message."""

    def __init__(self, host: str, port: int, path: str, deflate: bool = False) -> None:
        self.host, self.port, self.path = host, port, path
        self.offer_deflate = deflate
        self.inflater: zlib._Decompress | None = None
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.handshaking = True
        self.key = base64.b64encode(os.urandom(16))
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.pending: list[bytes] = []
        self.on_text: Callable[[WSConn, bytes], None] = lambda conn, payload: self.pending.append(payload)
        self.frag_op = 0
        self.frag: list[bytes] = []
        self.frag_rsv1 = False
        self.close_code: int | None = None
        self.rx_bytes = 0
        self.rx_last = 0.0
        self.state: Any = None
        """The load client's own per-connection state (e.g. what a chat member has seen)."""

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        ext = (
            b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
            if self.offer_deflate
            else b""
        )
        transport.write(  # type: ignore[attr-defined]
            b"GET " + self.path.encode() + b" HTTP/1.1\r\n"
            b"Host: " + f"{self.host}:{self.port}".encode() + b"\r\n"
            b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: " + self.key + b"\r\n"
            b"Sec-WebSocket-Version: 13\r\n" + ext + b"\r\n"
        )

    def data_received(self, data: bytes) -> None:
        self.rx_bytes += len(data)
        self.rx_last = time.monotonic()
        self.buf += data
        if self.handshaking:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end]).decode("latin-1")
            del self.buf[: end + 4]
            self.handshaking = False
            try:
                self._check_handshake(head)
            except HandshakeError as exc:
                if not self.opened.done():
                    self.opened.set_exception(exc)
                self.transport.close()  # type: ignore[union-attr]
                return
            self.opened.set_result(None)
        self._parse()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(HandshakeError(f"connection lost during handshake: {exc}"))
        if not self.closed.done():
            self.closed.set_result(None)

    # -- protocol

    def _check_handshake(self, head: str) -> None:
        lines = head.split("\r\n")
        if not lines[0].startswith("HTTP/1.1 101"):
            raise HandshakeError(f"{self.path}: expected 101, got {lines[0]!r}")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        accept = base64.b64encode(hashlib.sha1(self.key + GUID).digest()).decode()
        if headers.get("sec-websocket-accept") != accept:
            raise HandshakeError(f"{self.path}: bad Sec-WebSocket-Accept")
        if "permessage-deflate" in headers.get("sec-websocket-extensions", ""):
            self.inflater = zlib.decompressobj(-15)

    def _parse(self) -> None:
        buf = self.buf
        n = len(buf)
        pos = 0
        while n - pos >= 2:
            b0 = buf[pos]
            length = buf[pos + 1] & 0x7F
            hdr = 2
            if length == 126:
                if n - pos < 4:
                    break
                length = (buf[pos + 2] << 8) | buf[pos + 3]
                hdr = 4
            elif length == 127:
                if n - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                hdr = 10
            end = pos + hdr + length
            if end > n:
                break
            payload = bytes(buf[pos + hdr : end])
            pos = end
            opcode = b0 & 0x0F
            if opcode == OP_TEXT and b0 & 0x80:
                if b0 & 0x40:
                    payload = self._inflate(payload)
                self.on_text(self, payload)
            elif opcode in (OP_TEXT, OP_BIN):
                self.frag_op, self.frag, self.frag_rsv1 = opcode, [payload], bool(b0 & 0x40)
            elif opcode == OP_CONT:
                self.frag.append(payload)
                if b0 & 0x80:
                    whole = b"".join(self.frag)
                    if self.frag_rsv1:
                        whole = self._inflate(whole)
                    if self.frag_op == OP_TEXT:
                        self.on_text(self, whole)
                    self.frag = []
            elif opcode == OP_BIN:
                pass
            elif opcode == OP_PING:
                self._write(OP_PONG, payload)
            elif opcode == OP_CLOSE:
                if len(payload) >= 2:
                    self.close_code = (payload[0] << 8) | payload[1]
                self._write(OP_CLOSE, payload[:2])
                self.transport.close()  # type: ignore[union-attr]
                break
        if pos:
            del buf[:pos]

    def _inflate(self, payload: bytes) -> bytes:
        assert self.inflater is not None, "compressed frame without permessage-deflate"
        return self.inflater.decompress(payload + b"\x00\x00\xff\xff")

    def _write(self, opcode: int, payload: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(_frame(opcode, payload))

    # -- API

    def set_handler(self, handler: Callable[[WSConn, bytes], None]) -> None:
        """Route text messages to ``handler``, first replaying those that arrived before any handler."""
        self.on_text = handler
        pending, self.pending = self.pending, []
        for payload in pending:
            handler(self, payload)

    def send_text(self, text: str) -> None:
        self._write(OP_TEXT, text.encode())

    async def close(self, timeout: float = 2.0) -> None:
        """Send a close frame and wait (bounded) for the server to close the TCP connection."""
        if self.transport is None or self.transport.is_closing():
            return
        self._write(OP_CLOSE, struct.pack("!H", 1000))
        try:
            await asyncio.wait_for(asyncio.shield(self.closed), timeout)
        except TimeoutError:
            self.transport.abort()


async def open_ws(host: str, port: int, path: str, *, deflate: bool = False, timeout: float = 10.0) -> WSConn:
    """Open one connection and finish the opening handshake, within ``timeout`` seconds."""
    loop = asyncio.get_running_loop()

    async def run() -> WSConn:
        _, conn = await loop.create_connection(lambda: WSConn(host, port, path, deflate), host, port)
        await conn.opened
        return conn

    return await asyncio.wait_for(run(), timeout)
