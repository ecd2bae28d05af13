"""``wslab.serve_handler``: a learner's handler in the background, re-runnable, errors kept.

Real servers on loopback and real clients; no mocks.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

import wslab
from support import WAIT
from wslab.kernel.learner_server import serve_handler, stop_handlers


@pytest.fixture(autouse=True)
def clean() -> Iterator[None]:
    stop_handlers()
    yield
    stop_handlers()


async def echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


async def test_serves_the_handler_while_the_calling_thread_is_free() -> None:
    server = await asyncio.to_thread(serve_handler, echo)
    assert server.running and server.name == "echo" and server.url.startswith("ws://127.0.0.1:")
    async with connect(server.url, open_timeout=WAIT) as ws:
        await ws.send("hi")
        assert await asyncio.wait_for(ws.recv(), WAIT) == "hi"
    assert "1 connection(s), 0 handler error(s)" in server.report()


async def test_running_again_stops_the_old_server_within_the_bound_on_the_same_port() -> None:
    first = await asyncio.to_thread(serve_handler, echo)
    client = await connect(first.url, open_timeout=WAIT, close_timeout=0.5)

    async def echo_v2(ws: ServerConnection) -> None:  # the cell, edited and run again
        async for message in ws:
            await ws.send(f"v2: {message}")

    start = time.monotonic()
    second = await asyncio.to_thread(serve_handler, echo_v2, name="echo")
    assert time.monotonic() - start < 2.0 + 1.0
    assert not first.running and second.running
    assert second.port == first.port
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(client.recv(), WAIT)
    assert client.close_code == 1001  # going away: the old server said goodbye
    async with connect(second.url, open_timeout=WAIT) as ws:
        await ws.send("hi")
        assert await asyncio.wait_for(ws.recv(), WAIT) == "v2: hi"
    assert wslab.serve_handler is serve_handler


async def test_a_handler_error_closes_with_1011_and_is_kept_for_the_notebook() -> None:
    async def broken(ws: ServerConnection) -> None:
        message = await ws.recv()
        if message == "boom":
            raise ValueError("cannot handle 'boom'")
        await ws.send(message)

    server = await asyncio.to_thread(serve_handler, broken)
    async with connect(server.url, open_timeout=WAIT) as ok:  # others are served meanwhile
        async with connect(server.url, open_timeout=WAIT) as bad:
            await bad.send("boom")
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(bad.recv(), WAIT)
            assert bad.close_code == 1011 and "ValueError" in (bad.close_reason or "")
        await ok.send("fine")
        assert await asyncio.wait_for(ok.recv(), WAIT) == "fine"
    assert len(server.errors) == 1
    error = server.errors[0]
    assert error.text.startswith("ValueError: cannot handle 'boom' (in broken, line ")
    assert "/" not in error.text, "no file paths"
    assert "1 handler error(s)" in repr(server) and "ValueError" in server.report()
    with pytest.raises(RuntimeError, match="handler 'broken' raised ValueError") as raised:
        server.raise_errors()
    assert isinstance(raised.value.__cause__, ValueError)
    server.raise_errors()  # raised once only


def test_a_handler_that_ignores_close_still_stops_within_the_bound() -> None:
    async def stubborn(ws: ServerConnection) -> None:
        while True:
            try:
                await ws.recv()
            except ConnectionClosed:
                await asyncio.sleep(30)  # refuses to finish

    server = serve_handler(stubborn)

    async def client() -> None:
        ws = await connect(server.url, open_timeout=WAIT)
        await ws.send("x")

    asyncio.run(client())
    start = time.monotonic()
    server.stop(timeout=1.0)
    assert time.monotonic() - start < 1.5
    assert not server.running


def test_a_taken_port_is_a_clear_error() -> None:
    first = serve_handler(echo, name="a")
    with pytest.raises(OSError):
        serve_handler(echo, name="b", port=first.port)
    assert first.running
