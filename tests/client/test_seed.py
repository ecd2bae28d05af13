"""Each flaw of the seed's WebSocketClient, reproduced with a faithful port (wslab.SeedClient), then shown fixed.

Flaws (docs/reconnect.md): 1. sends dropped silently while offline; 2. bad JSON
(and bugs in your own handlers) swallowed by ``catch {}``; 3. backoff reset on
every open, so accept-then-close makes a fast endless loop; 4. no jitter, so
every client of a restarted server comes back at the same instants.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

from support import Peer
from wslab.client.reconnecting import ReconnectingClient
from wslab.client.seed import SeedClient
from wslab.core import protocol as p
from wslab.core.backoff import BackoffPolicy, seed_backoff
from wslab.kernel.course_server import ServerHandle

WAIT = 5.0
FAST = BackoffPolicy(initial=0.05, factor=2.0, cap=1.0, jitter="none", stay_up=5.0)


class Signal:
    """Count an event of a SeedClient and wait for the n-th one, with a timeout."""

    def __init__(self, client: SeedClient, event: str) -> None:
        self.count = 0
        self._changed = asyncio.Event()
        client.on(event, self._hit)

    def _hit(self, _data: Any = None) -> None:
        self.count += 1
        self._changed.set()

    async def reach(self, n: int, timeout: float = WAIT) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.count < n:
            self._changed.clear()
            await asyncio.wait_for(self._changed.wait(), max(0.0, deadline - loop.time()))


@contextlib.asynccontextmanager
async def local_server(handler: Callable[[ServerConnection], Awaitable[None]]) -> AsyncIterator[str]:
    server = await serve(handler, "127.0.0.1", 0, close_timeout=0.5)
    try:
        yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), WAIT)


async def room_contents(server: ServerHandle) -> list[str]:
    peer = await Peer.open(server.chat_url)
    welcome = await peer.join("auditor")
    await peer.close()
    return [m["content"] for m in welcome["history"]]


# ---------------------------------------------------------------- flaw 1: sends dropped while offline


async def test_flaw_1_seed_drops_sends_while_offline_silently(server: ServerHandle) -> None:
    seed = SeedClient(server.chat_url, delay=0.05)
    seed.on("connect", lambda _=None: seed.send({"type": "join", "name": "seed"}))
    connects, disconnects, welcomes = Signal(seed, "connect"), Signal(seed, "disconnect"), Signal(seed, "welcome")
    await welcomes.reach(1)
    server.drop_all()
    await disconnects.reach(1)
    result = seed.send({"type": "chat", "content": "sent while offline"})  # no error, no queue, nothing
    assert result is None and seed.ready_state == 3
    await connects.reach(2)
    await welcomes.reach(2)
    seed.send({"type": "chat", "content": "sent while online"})
    seed.stop()
    assert await room_contents(server) == ["sent while online"]  # the first one is gone


async def test_flaw_1_fixed_sends_while_offline_are_queued_and_delivered(server: ServerHandle) -> None:
    client = ReconnectingClient(server.chat_url, policy=FAST)
    client.join("fixed")
    async with client:
        await client.wait_for("connect", WAIT)
        server.drop_all()
        await client.wait_for("disconnect", WAIT)
        assert client.send({"type": "chat", "content": "sent while offline"}) is True
        assert client.queued == 1
        await client.wait_for("connect", WAIT)
        client.send({"type": "chat", "content": "sent while online"})
        await client.flush(WAIT)
    assert await room_contents(server) == ["sent while offline", "sent while online"]


# ---------------------------------------------------------------- flaw 2: catch {} swallows


JUNK = ['{"type": "update", "n": 1}', "not json{", '{"type": "update", "n": 2}']


async def junk_handler(ws: ServerConnection) -> None:
    for frame in JUNK:
        await ws.send(frame)
    await ws.wait_closed()


async def test_flaw_2_seed_swallows_bad_json_and_bugs_in_handlers() -> None:
    reported: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, context: reported.append(context))
    async with local_server(junk_handler) as url:
        seed = SeedClient(url, delay=0.05)
        updates: list[int] = []

        def buggy(message: dict[str, Any]) -> None:
            updates.append(message["n"])
            raise ZeroDivisionError("a bug in my own handler")

        seed.on("update", buggy)
        messages = Signal(seed, "message")
        errors = Signal(seed, "error")
        await messages.reach(2)
        seed.stop()
    assert updates == [1, 2]
    assert errors.count == 0 and reported == []  # "not json{" and both ZeroDivisionErrors vanished


async def test_flaw_2_fixed_bad_json_is_an_error_event_and_bugs_are_reported() -> None:
    reported: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, context: reported.append(context))
    async with local_server(junk_handler) as url:
        client = ReconnectingClient(url, policy=FAST)
        updates: list[int] = []

        def buggy(message: dict[str, Any]) -> None:
            updates.append(message["n"])
            raise ZeroDivisionError("a bug in my own handler")

        errors: list[dict[str, Any]] = []
        client.on("update", buggy).on("error", errors.append)
        async with client:
            await client.wait_for("update", WAIT, where=lambda m: m["n"] == 2)  # the last frame
    [error] = errors
    assert error["code"] == "invalid-json" and error["raw"] == "not json{" and error["source"] == "client"
    assert updates == [1, 2]
    assert [type(r["exception"]) for r in reported] == [ZeroDivisionError, ZeroDivisionError]


# ---------------------------------------------------------------- flaw 3: reset on every open


async def test_flaw_3_seed_resets_on_open_so_accept_then_close_loops_fast(server: ServerHandle) -> None:
    server.close_on_open(p.CLOSE_SERVICE_RESTART)
    seed = SeedClient(server.chat_url, delay=0.05)
    disconnects = Signal(seed, "disconnect")
    await disconnects.reach(6)
    seed.stop()
    assert seed.delays[:6] == [0.05] * 6  # forever 0.05 s: ~20 connections a second, for ever


async def test_flaw_3_same_flaw_with_seed_backoff_in_the_fixed_client(server: ServerHandle) -> None:
    server.close_on_open(p.CLOSE_SERVICE_RESTART)
    async with ReconnectingClient(server.chat_url, policy=seed_backoff(initial=0.05)) as client:
        await client.wait_for("reconnecting", WAIT, where=lambda w: w["attempt"] >= 1 and len(_delays(client)) >= 5)
    assert _delays(client)[:5] == [0.05] * 5


async def test_flaw_3_fixed_accept_then_close_keeps_backing_off(server: ServerHandle) -> None:
    server.close_on_open(p.CLOSE_SERVICE_RESTART)
    async with ReconnectingClient(server.chat_url, policy=FAST) as client:
        await client.wait_for("reconnecting", WAIT, where=lambda w: w["attempt"] == 5)
    assert _delays(client) == [0.05, 0.1, 0.2, 0.4, 0.8]  # it opened each time, yet no reset
    # Each of the 5 attempts opened (the handshake succeeded) and was then closed with 1012:
    # it shows as "connect" + "disconnect", or as "failed" if the close beat the restore step.
    opened = [e for _, e, d in client.history if e == "connect" or (e == "failed" and "1012" in d["error"])]
    assert len(opened) == 5


def _delays(client: ReconnectingClient) -> list[float]:
    return [d["delay"] for _, e, d in client.history if e == "reconnecting"]


# ---------------------------------------------------------------- flaw 4: no jitter


async def test_flaw_4_seed_clients_all_retry_at_the_same_instants(server: ServerHandle) -> None:
    herd = [SeedClient(server.chat_url, delay=0.05) for _ in range(5)]
    signals = [Signal(c, "connect") for c in herd]
    for signal in signals:
        await signal.reach(1)
    server.outage(0.5)
    for signal in signals:
        await signal.reach(2)
    for client in herd:
        client.stop()
    first = [c.delays[:3] for c in herd]
    assert first == [[0.05, 0.1, 0.2]] * 5  # five clients, one schedule: a thundering herd


async def test_flaw_4_fixed_full_jitter_spreads_the_herd(server: ServerHandle) -> None:
    policy = FAST(jitter="full")
    herd = [ReconnectingClient(server.chat_url, policy=policy, seed=s).start() for s in range(5)]
    for client in herd:
        await client.wait_open(WAIT)
    server.outage(0.5)
    for client in herd:
        if sum(1 for _, e, _ in client.history if e == "connect") < 2:
            await client.wait_for("connect", WAIT)
    for client in herd:
        await client.aclose(WAIT)
    firsts = [_delays(c)[0] for c in herd]
    assert len(set(firsts)) == 5 and all(0 <= d <= policy.ceiling(1) for d in firsts)


async def test_seed_client_exposes_its_socket_for_lessons(server: ServerHandle) -> None:
    seed = SeedClient(server.echo_url, delay=0.05)
    await seed.ws.wait_for("open", timeout=5)
    assert seed.ws.ready_state == seed.ws.OPEN
    seed.stop()
