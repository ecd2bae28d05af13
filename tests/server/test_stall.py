"""``server.stall()``: half-open connections that only a heartbeat notices.

A stalled connection keeps its TCP connection open; the server stops reading it (so it
answers neither frames nor pings) and sends it nothing. A client with keepalive pings
notices within ``ping_interval + ping_timeout``; a client without them notices nothing at
all within the same bound. Connections opened after the stall are served.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from support import WAIT, Peer
from wslab.kernel.course_server import ServerHandle

PING_INTERVAL = 0.2
PING_TIMEOUT = 0.3
BOUND = 1.5
"""Seconds within which a heartbeat (0.2 s + 0.3 s, then a 0.3 s close timeout) notices; without one nothing does."""


async def test_a_heartbeat_notices_a_stalled_server_within_its_bound(server: ServerHandle) -> None:
    ws = await connect(
        server.echo_url, ping_interval=PING_INTERVAL, ping_timeout=PING_TIMEOUT, close_timeout=0.3, open_timeout=WAIT
    )
    await ws.send("before")
    assert await asyncio.wait_for(ws.recv(), WAIT) == "before"
    assert server.stall() == 1
    start = time.monotonic()
    await ws.send("into the void")
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(ws.recv(), BOUND)  # the echo never comes; the ping times out
    detected = time.monotonic() - start
    assert ws.protocol.close_sent is not None and ws.protocol.close_sent.code == 1011  # "keepalive ping timeout"
    assert ws.close_code == 1006  # abnormal closure: no close frame came back
    assert ws.protocol.close_rcvd is None, "a stalled server sends no close frame"
    assert detected < BOUND


async def test_without_keepalive_nothing_notices_a_stalled_server(server: ServerHandle) -> None:
    ws = await connect(server.echo_url, ping_interval=None, open_timeout=WAIT)
    assert server.stall() == 1
    await ws.send("hello?")  # TCP accepts the bytes: no error
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ws.recv(), BOUND)
    assert ws.state is State.OPEN, "without a heartbeat the client still believes the connection is open"
    ws.transport.abort()


async def test_a_stalled_chat_connection_hears_nothing_and_others_are_served(server: ServerHandle) -> None:
    ada = await Peer.open(server.chat_url, ping_interval=None)
    await ada.join("Ada")
    assert server.stall() == 1
    assert server.server.stalled == 1
    bob = await Peer.open(server.chat_url)
    welcome = await bob.join("Bob")
    assert welcome["online"] == ["Ada", "Bob"]  # Ada is still in the room: the server cannot tell
    await bob.send({"type": "chat", "content": "anyone there?"})
    await bob.expect("chat", where=lambda m: m["content"] == "anyone there?")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ada.ws.recv(), 0.5)  # a stalled connection is sent nothing
    assert server.stall() == 1, "stalling again stalls only the connections not stalled yet (Bob's)"
    ada.ws.transport.abort()
    bob.ws.transport.abort()  # stalled too: a close handshake would wait for an answer that never comes


def test_stall_on_a_stopped_server_says_so(server: ServerHandle) -> None:
    server.stop()
    with pytest.raises(RuntimeError, match="not running"):
        server.stall()


async def test_a_stalled_server_still_stops_within_its_bound(server: ServerHandle) -> None:
    ws = await connect(server.echo_url, ping_interval=None, open_timeout=WAIT)
    server.stall()
    start = time.monotonic()
    await asyncio.to_thread(server.stop, WAIT)
    assert time.monotonic() - start < server.config.close_timeout + 2.0
    assert not server.running
    ws.transport.abort()
