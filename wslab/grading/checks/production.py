"""Checks for ``07-production``: a client that notices a stalled server, and a handshake guard.

The stall checks use real half-open connections: the checks' wslab server's
``stall()`` and a server of their own that stops reading each connection after its
first echo. The guard checks serve an echo behind the learner's ``process_request``
on loopback and open real handshakes with and without an Origin and a token.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed, InvalidStatus

from wslab.grading.registry import exercise
from wslab.grading.runner import Context, Served

ex = exercise("production", title="Keep it alive, keep it safe: heartbeats and a handshake guard",
              notebook="07-production", hidden=(3, 3))

DETECT_WITHIN = 1.5
"""Seconds within which a stalled server must be noticed (the exercise asks for 1 s)."""

_quiet = logging.getLogger("wslab.grading.production")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


# ---------------------------------------------------------------- heartbeat


def heartbeat_settings(ws: Any) -> tuple[Any, Any, Any] | None:
    """``(ping_interval, ping_timeout, close_timeout)`` of a websockets connection, or None for another object."""
    try:
        return ws.ping_interval, ws.ping_timeout, ws.close_timeout
    except AttributeError:
        return None


def describe_settings(settings: tuple[Any, Any, Any] | None) -> str:
    """What a heartbeat's settings make it wait, for a check's message (lesson 7, Step 1)."""
    if settings is None:
        return ""
    interval, timeout, close = settings
    if interval is None:
        return " The connection has no heartbeat: ping_interval is None."
    parts = f"ping_interval={interval:g}, ping_timeout={timeout}, close_timeout={close}"
    if timeout is None or close is None:
        return f" With {parts}, a stalled server is never given up on (a None timeout waits for ever)."
    return (f" With {parts}, the stall may take up to {interval + timeout + close:g} s "
            "(ping_interval + ping_timeout + close_timeout) to close the connection.")


def _state(ws: Any) -> str:
    state = getattr(ws, "state", None)
    return str(getattr(state, "name", state))


PONG_DELAY = 0.05
"""Seconds the slow link adds each way: a pong comes 0.1 s after its ping (the exercise allows for it)."""


@contextlib.asynccontextmanager
async def _slow_link(url: str, delay: float = PONG_DELAY) -> AsyncIterator[str]:
    """A proxy on loopback in front of ``url`` that delays every chunk by ``delay`` s each way; yields its URL."""
    target = urlsplit(url)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", target.port), 2
            )
        except (OSError, TimeoutError):
            writer.transport.abort()
            return

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    await asyncio.sleep(delay)
                    dst.write(data)
            except (OSError, ConnectionError):
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.wait_for(asyncio.start_server(handle, "127.0.0.1", 0), 2)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"ws://127.0.0.1:{port}{target.path}"
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 1)


@ex.check(points=2, title="open_with_heartbeat notices a stalled server within 1 s", timeout=6,
          hint="websockets' `connect` sends pings for you: from a stall to a closed connection takes up to "
               "ping_interval + ping_timeout + close_timeout (lesson 7, Step 1): keep the sum under a second.")
async def heartbeat_notices_stall(ctx: Context) -> None:
    opener = ctx.get("open_with_heartbeat", "async")
    server = ctx.server()
    ws = await ctx.within(opener(server.echo_url), 2.0, "open_with_heartbeat(url)")
    await asyncio.wait_for(ws.send("ping?"), 1)
    assert await asyncio.wait_for(ws.recv(), 1) == "ping?", "the connection did not echo before the stall"
    settings = heartbeat_settings(ws)
    await asyncio.to_thread(server.stall)
    start = time.monotonic()
    try:
        await asyncio.wait_for(ws.wait_closed(), DETECT_WITHIN + 1.0)
    except TimeoutError:
        state = _state(ws)
        ws.transport.abort()
        seen = ("the heartbeat had given up (the connection was CLOSING) but was still waiting for the "
                "close to finish: that wait is close_timeout" if state == "CLOSING"
                else f"the connection was still {state}")
        raise AssertionError(
            f"{DETECT_WITHIN + 1:g} s after the server stalled, {seen}.{describe_settings(settings)}"
        ) from None
    took = time.monotonic() - start
    assert took <= DETECT_WITHIN, (
        f"the stall closed the connection after {took:.1f} s; aim for under 1 s.{describe_settings(settings)}"
    )


@contextlib.asynccontextmanager
async def _stalls_after_one() -> AsyncIterator[tuple[str, list[int]]]:
    """An echo server that answers each connection's first message, then stalls it (half-open)."""
    connections: list[int] = []

    async def handler(ws: ServerConnection) -> None:
        connections.append(1)
        with contextlib.suppress(ConnectionClosed):
            message = await ws.recv()
            await ws.send(message)
            ws.transport.pause_reading()
            if ws.keepalive_task is not None:
                ws.keepalive_task.cancel()
            await asyncio.sleep(10)

    server = await asyncio.wait_for(
        serve(handler, "127.0.0.1", 0, logger=_quiet, ping_interval=None, close_timeout=0.2), 2
    )
    try:
        yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/", connections
    finally:
        for conn in list(server.connections):
            conn.transport.abort()
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 1)


@ex.check(points=3, title="echo_all reconnects after a stall and gets every echo", timeout=6,
          hint="Wrap one send-and-receive in try/except for ConnectionClosed and TimeoutError; on either, "
               "open a new connection and send the same text again.")
async def echo_all_survives_stalls(ctx: Context) -> None:
    echo_all = ctx.get("echo_all", "async")
    async with _stalls_after_one() as (url, connections):
        got = await ctx.within(echo_all(url, ["a", "b", "c"]), 4.5, 'echo_all(url, ["a", "b", "c"])')
        assert got == ["a", "b", "c"], (
            f"echo_all returned {got!r} from a server that stalls each connection after one echo"
        )
        assert len(connections) == 3, f"{len(connections)} connections were opened for 3 texts; expected 3"


# ---------------------------------------------------------------- handshake guard

ALLOWED = ("http://127.0.0.1:8000",)
TOKEN = "s3cret-t0ken"


def _guarded(ctx: Context, make_guard: Callable[..., Any]) -> Any:
    """An echo served behind the learner's guard (``make_guard(ALLOWED, TOKEN)``): ``ctx.serving``."""
    return ctx.serving(process_request=make_guard(ALLOWED, TOKEN))


async def _status(url: str, served: Served, **kwargs: Any) -> int:
    """101 if the handshake succeeded (and an echo came back), else the HTTP status of the refusal."""
    try:
        ws = await asyncio.wait_for(connect(url, open_timeout=1.5, close_timeout=0.5, **kwargs), 2)
    except InvalidStatus as exc:
        served.failure()  # the learner's stub raising NotImplementedError: TODO, not FAIL
        return exc.response.status_code
    try:
        await asyncio.wait_for(ws.send("hi"), 1)
        assert await asyncio.wait_for(ws.recv(), 1) == "hi"
    finally:
        await asyncio.wait_for(ws.close(), 1)
    return 101


def _describe(kwargs: dict[str, Any], url_suffix: str) -> str:
    parts = [f"Origin {kwargs['origin']!r}" if "origin" in kwargs else "no Origin"]
    parts.append(f"URL ...{url_suffix}" if url_suffix else "no token")
    if "additional_headers" in kwargs:
        parts.append(f"headers {kwargs['additional_headers']}")
    return ", ".join(parts)


async def _expect(served: Served, suffix: str, want: int, **kwargs: Any) -> None:
    got = await _status(served.url + suffix, served, **kwargs)
    assert got == want, f"a handshake with {_describe(kwargs, suffix)} got {got}; expected {want}"


@ex.check(points=2, title="the guard answers a foreign Origin with 403, even with the right token", timeout=6,
          hint="Browsers send `Origin` on every WebSocket handshake; compare it with the allowed ones and "
               "`return connection.respond(HTTPStatus.FORBIDDEN, ...)`.")
async def guard_refuses_foreign_origin(ctx: Context) -> None:
    make_guard = ctx.get("make_guard")
    async with _guarded(ctx, make_guard) as served:
        await _expect(served, f"?token={TOKEN}", 403, origin="https://evil.example")
        await _expect(served, f"?token={TOKEN}", 403, origin="http://127.0.0.1:8000.evil.example")
        await _expect(served, f"?token={TOKEN}", 101, origin=ALLOWED[0])


@ex.check(points=2, title="the guard answers a missing or wrong token with 401", timeout=6,
          hint="Read `token` from the query string of `request.path` (urllib.parse); compare with "
               "hmac.compare_digest; no Origin (a non-browser client) is allowed, a missing token is not.")
async def guard_refuses_missing_token(ctx: Context) -> None:
    make_guard = ctx.get("make_guard")
    async with _guarded(ctx, make_guard) as served:
        await _expect(served, "", 401, origin=ALLOWED[0])
        await _expect(served, "?token=wrong", 401, origin=ALLOWED[0])
        await _expect(served, "?token=", 401)
        await _expect(served, f"?token={TOKEN}", 101)
