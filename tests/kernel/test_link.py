"""A link that can be cut for real: bytes through it, a cut that resets every connection, a restore."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as redis

from wslab.cluster.engine import EmbeddedValkey
from wslab.kernel.link import CuttableLink, cuttable_link, stop_links

WAIT = 5.0


@pytest.fixture(autouse=True)
def no_links_left() -> Iterator[None]:
    yield
    stop_links()


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def echo_server() -> AsyncIterator[int]:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def round_trip(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), WAIT)
    try:
        writer.write(data)
        return await asyncio.wait_for(reader.readexactly(len(data)), WAIT)
    finally:
        writer.close()


async def test_bytes_go_both_ways_and_the_url_only_changes_its_port() -> None:
    async with echo_server() as port:
        link = cuttable_link(f"redis://127.0.0.1:{port}/0")
        assert link.url == f"redis://127.0.0.1:{link.port}/0" and link.port != port
        assert await round_trip(link.port, b"hello") == b"hello"
        assert repr(link).startswith("<wslab link up: 127.0.0.1:")


async def test_a_cut_resets_live_connections_and_refuses_new_ones_until_restored() -> None:
    async with echo_server() as port:
        link = cuttable_link(f"tcp://127.0.0.1:{port}")
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", link.port), WAIT)
        writer.write(b"x")
        assert await asyncio.wait_for(reader.readexactly(1), WAIT) == b"x"
        assert await asyncio.to_thread(link.cut) == 1 and link.is_cut and link.cuts == 1
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            writer.write(b"y")
            await asyncio.wait_for(reader.readexactly(1), WAIT)
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            await round_trip(link.port, b"z")
        await asyncio.to_thread(link.restore)
        assert await round_trip(link.port, b"back") == b"back"
        writer.close()


async def test_a_redis_client_through_a_cut_link_fails_then_works_again_after_restore(
    valkey: EmbeddedValkey,
) -> None:
    link = cuttable_link(valkey.url)
    r = redis.Redis.from_url(link.url, socket_timeout=1, socket_connect_timeout=1)
    try:
        await r.set("k", "v")
        await asyncio.to_thread(link.cut)
        with pytest.raises((redis.ConnectionError, redis.TimeoutError)):
            await r.get("k")
        await asyncio.to_thread(link.restore)
        assert await r.get("k") == b"v"  # redis-py opens a new connection
    finally:
        await r.aclose()


def test_stop_links_stops_them_all_and_a_link_goes_to_loopback_only() -> None:
    links = [cuttable_link("redis://127.0.0.1:1/0"), cuttable_link("redis://localhost:2/0")]
    stop_links()
    assert not any(link.running for link in links) and repr(links[0]).startswith("<wslab link stopped")
    with pytest.raises(ValueError, match="127.0.0.1"):
        CuttableLink("redis://example.com:6379/0")
    with CuttableLink("redis://127.0.0.1:3/0").start() as link:
        assert link.running
    assert not link.running
