"""Fan-out that frames once (wslab/server/fanout.py): over real loopback connections.

Each guarantee of :func:`fanout`: one frame built for every plain member, the same
bytes on the wire as websockets' own ``broadcast``; members not OPEN or in the
middle of a fragmented send skipped; a permessage-deflate member framed on its own
with its compression context in step; one member's failure not the others'; and
the slow-consumer watchdog still closing a member that stopped reading a room.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.frames import Frame
from websockets.protocol import OPEN

from support import WAIT, Peer, joined
from wslab.server.chat_server import ChatServer
from wslab.server.config import ServerConfig
from wslab.server.fanout import fanout, text_frame


class Room:
    """A websockets server on loopback whose connections are kept, and clients connected to it."""

    def __init__(self) -> None:
        self.server: Server | None = None
        self.members: list[ServerConnection] = []
        self.clients: list[ClientConnection] = []
        self._arrived: asyncio.Queue[ServerConnection] = asyncio.Queue()

    async def handler(self, ws: ServerConnection) -> None:
        self.members.append(ws)
        self._arrived.put_nowait(ws)
        await ws.wait_closed()

    async def join(self, **kwargs: Any) -> tuple[ClientConnection, ServerConnection]:
        """Connect one client; return it and the server's side of it."""
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        client = await asyncio.wait_for(connect(f"ws://127.0.0.1:{port}/", open_timeout=WAIT, **kwargs), WAIT)
        self.clients.append(client)
        return client, await asyncio.wait_for(self._arrived.get(), WAIT)


@contextlib.asynccontextmanager
async def room(**kwargs: Any) -> AsyncIterator[Room]:
    r = Room()
    kwargs.setdefault("compression", None)  # websockets' default is deflate; ChatServer's is none
    r.server = await asyncio.wait_for(serve(r.handler, "127.0.0.1", 0, ping_interval=None, **kwargs), WAIT)
    try:
        yield r
    finally:
        for client in r.clients:
            await asyncio.wait_for(client.close(), WAIT)
        r.server.close()
        await asyncio.wait_for(r.server.wait_closed(), WAIT)


@contextlib.contextmanager
def serializations(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Count the frames websockets serialises while the block runs (``Frame.serialize`` calls)."""
    calls: list[int] = []
    original: Callable[..., bytes] = Frame.serialize

    def counting(self: Frame, **kwargs: Any) -> bytes:
        calls.append(1)
        return original(self, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(Frame, "serialize", counting)
        yield calls


async def recv(client: ClientConnection) -> str | bytes:
    return await asyncio.wait_for(client.recv(), WAIT)


async def test_every_open_member_gets_the_text_from_one_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    async with room() as r:
        pairs = [await r.join() for _ in range(5)]
        text = json.dumps({"type": "chat", "content": "hé ✓", "seq": 1})
        with serializations(monkeypatch) as calls:
            assert fanout(r.members, text) == 5
        assert len(calls) == 1  # encoded and framed once for five members
        for client, _ in pairs:
            assert await recv(client) == text


def test_the_frame_is_what_websockets_would_send() -> None:
    assert text_frame("hi") == b"\x81\x02hi"
    long = "x" * 70_000
    assert text_frame(long) == b"\x81\x7f" + (70_000).to_bytes(8, "big") + long.encode()


async def test_same_bytes_on_the_wire_as_broadcast() -> None:
    async with room() as r:
        (a, _), (b, _) = await r.join(), await r.join()
        for text in ("short", "ü" * 200, "y" * 66_000):
            fanout(r.members[:1], text)
            broadcast(r.members[1:], text)
            assert await recv(a) == await recv(b) == text


async def test_members_not_open_are_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    async with room() as r:
        (a, _), (b, closing), (c, _) = await r.join(), await r.join(), await r.join()
        closing_task = asyncio.ensure_future(closing.close(1001, "bye"))
        await asyncio.sleep(0)  # let close() send its frame: the protocol is CLOSING now
        assert closing.protocol.state is not OPEN
        assert fanout(r.members, "after") == 2
        assert await recv(a) == await recv(c) == "after"
        await asyncio.wait_for(closing_task, WAIT)
        assert b.close_code == 1001  # it got the close, never "after"


async def test_a_member_in_a_fragmented_send_is_skipped_and_its_message_stays_whole(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with room() as r:
        (a, _), (b, busy) = await r.join(), await r.join()
        release = asyncio.Event()

        async def fragments() -> AsyncIterator[str]:
            yield "frag-1 "
            await asyncio.wait_for(release.wait(), WAIT)
            yield "frag-2"

        sending = asyncio.ensure_future(busy.send(fragments()))
        while busy.send_in_progress is None:  # the first fragment is out
            await asyncio.wait_for(asyncio.sleep(0), WAIT)
        with caplog.at_level(logging.WARNING):
            assert fanout(r.members, "live") == 1
        assert "skipped broadcast: sending a fragmented message" in caplog.text
        release.set()
        await asyncio.wait_for(sending, WAIT)
        assert await recv(a) == "live"
        assert await recv(b) == "frag-1 frag-2"  # whole, nothing in between
        assert fanout(r.members, "next") == 2  # once the send is done it gets the next ones
        assert await recv(b) == "next"


async def test_a_deflate_member_gets_its_own_frame_with_its_context_in_step(monkeypatch: pytest.MonkeyPatch) -> None:
    async with room(compression="deflate") as r:
        (plain, plain_conn), (zipped, zipped_conn) = await r.join(compression=None), await r.join()
        assert not plain_conn.protocol.extensions and zipped_conn.protocol.extensions
        texts = [json.dumps({"type": "chat", "n": i, "content": "the same words again " * 20}) for i in range(4)]
        for text in texts:
            with serializations(monkeypatch) as calls:
                assert fanout(r.members, text) == 2
            assert len(calls) == 2  # the shared frame, and the deflate member's own
        for text in texts:  # each decompresses with the context of the one before it
            assert await recv(plain) == text
            assert await recv(zipped) == text


async def test_one_members_write_failure_is_logged_and_the_others_still_get_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with room() as r:
        (a, _), (_, broken), (c, _) = await r.join(), await r.join(), await r.join()

        class Refusing:
            def write(self, data: bytes) -> None:
                raise RuntimeError("write refused")

        real, broken.transport = broken.transport, Refusing()  # type: ignore[assignment]
        try:
            with caplog.at_level(logging.WARNING):
                assert fanout(r.members, "still") == 2
        finally:
            broken.transport = real
        assert "failed to write message: RuntimeError: write refused" in caplog.text
        assert await recv(a) == await recv(c) == "still"


@pytest.mark.parametrize("limit", [32 * 1024, 8 * 1024], ids=["at websockets' high-water mark", "below it"])
async def test_the_watchdog_still_closes_a_member_that_stopped_reading_the_room(limit: int) -> None:
    server = ChatServer(ServerConfig(update_interval=None, slow_consumer_bytes=limit, rate=1e9, burst=10**9))
    await asyncio.wait_for(server.start(), WAIT)
    slow_seen = asyncio.Event()
    server.listeners.append(lambda event: slow_seen.set() if event.kind == "slow" else None)
    url = f"ws://127.0.0.1:{server.port}/chat"
    try:
        sender = await Peer.open(url)
        await sender.join("ann")
        # max_queue=1 and a small receive buffer: the client soon stops reading the socket.
        stalled = await Peer.open(url, max_queue=1)
        await stalled.join("bob")
        sock = stalled.ws.transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        assert server._server is not None
        for conn in server._server.connections:
            conn.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        await sender.expect("presence")

        async def drain() -> None:  # the sender reads everything, as a chat client does
            while True:
                await asyncio.wait_for(sender.ws.recv(), WAIT)

        draining = asyncio.ensure_future(drain())
        payload = "x" * 1900
        for i in range(1000):  # up to about 1.9 MB to the room
            await sender.send({"type": "chat", "content": f"{i} {payload}"})
            if slow_seen.is_set():
                break
            await asyncio.sleep(0)
        await asyncio.wait_for(slow_seen.wait(), WAIT)
        host, port = stalled.ws.transport.get_extra_info("sockname")[:2]
        assert any(e.kind == "slow" and f"{host}:{port} stopped reading; closing with 4008" in e.text
                   for e in server.events)
        assert not draining.done()  # the reading member was not closed
        draining.cancel()
        await sender.close()
    finally:
        await asyncio.wait_for(server.stop(), WAIT)


async def test_the_watchdog_looks_at_no_one_while_everyone_reads() -> None:
    """Its standing cost: a room that reads what it is sent puts no connection in the watchdog's list."""
    server = ChatServer(ServerConfig(update_interval=None, rate=1e9, burst=10**9))
    await asyncio.wait_for(server.start(), WAIT)
    try:
        peers = await joined(f"ws://127.0.0.1:{server.port}/chat", "ann", "bob", "cy")
        for i in range(20):
            await peers[0].send({"type": "chat", "content": f"{i} " + "y" * 500})
        for peer in peers:
            await peer.expect("chat", where=lambda m: m["seq"] == 20)
        assert not list(server._backed_up)
        for peer in peers:
            await peer.close()
    finally:
        await asyncio.wait_for(server.stop(), WAIT)
