"""Checks for ``06-your-server``: an echo that closes cleanly, a broadcast room, a tiny protocol.

Each check serves the learner's handler with :func:`websockets.asyncio.server.serve` on
loopback, in the check's own event loop, and talks to it with real clients. Every
receive has a timeout; a handler that raises is recorded, so "the handler crashed" is told
apart from "the reply was wrong".
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from wslab.grading.registry import exercise
from wslab.grading.runner import Context, Served

ex = exercise("server", title="Write your own server: echo, a room, a tiny protocol", notebook="06-your-server",
              hidden=(3, 3))

WAIT = 1.0
"""Seconds a reply may take; everything is on loopback."""

async def _open(url: str) -> ClientConnection:
    return await asyncio.wait_for(connect(url, open_timeout=WAIT, close_timeout=0.5), WAIT + 0.5)


async def _recv(ws: ClientConnection, served: Served, what: str) -> Any:
    try:
        return await asyncio.wait_for(ws.recv(), WAIT)
    except TimeoutError:
        raise AssertionError(f"no reply to {what} within {WAIT:g} s{served.failure()}") from None
    except ConnectionClosed as exc:
        raise AssertionError(
            f"the connection closed ({exc.rcvd.code if exc.rcvd else 1006}) instead of answering {what}"
            f"{served.failure()}"
        ) from None


async def _nothing_more(ws: ClientConnection, within: float = 0.2) -> Any:
    try:
        return await asyncio.wait_for(ws.recv(), within)
    except (TimeoutError, ConnectionClosed):
        return None


async def _until_finished(served: Served, count: int) -> None:
    for _ in range(int(WAIT / 0.02)):
        if served.finished >= count:
            return
        await asyncio.sleep(0.02)


async def _until_members(room: Any, count: int) -> None:
    """Wait (at most WAIT s) until ``room.members`` holds ``count`` connections; no error if it never does."""
    for _ in range(int(WAIT / 0.01)):
        members = getattr(room, "members", None)
        try:
            if members is not None and len(members) >= count:
                return
        except TypeError:
            return  # not a collection: the check itself will say what is wrong
        await asyncio.sleep(0.01)


# ---------------------------------------------------------------- echo


@ex.check(points=2, title="echo sends every message back, text and bytes, in order", timeout=5,
          hint="`async for message in ws:` then `await ws.send(message)`: send back what came, unchanged.")
async def echo_round_trip(ctx: Context) -> None:
    echo = ctx.get("echo", "async")
    async with ctx.serving(echo) as served:
        ws = await _open(served.url)
        sent: list[str | bytes] = ["hello", "héllo 👋", b"\x00\x01\xff", "{\"type\": \"x\"}"]
        for message in sent:
            await ws.send(message)
        got = [await _recv(ws, served, repr(m)) for m in sent]
        assert got == sent, f"sent {sent!r}, got back {got!r}"
        await asyncio.wait_for(ws.close(), WAIT)


@ex.check(points=2, title='echo closes cleanly with 1000 "bye" when asked to ("/bye")', timeout=5,
          hint='On the text "/bye", `await ws.close(1000, "bye")` and return: that sends a close frame.')
async def echo_bye(ctx: Context) -> None:
    echo = ctx.get("echo", "async")
    async with ctx.serving(echo) as served:
        ws = await _open(served.url)
        await ws.send("first")
        assert await _recv(ws, served, '"first"') == "first", "the message before /bye was not echoed"
        await ws.send("/bye")
        try:
            extra = await asyncio.wait_for(ws.recv(), WAIT)
        except ConnectionClosed:
            extra = None
        except TimeoutError:
            raise AssertionError(f'after "/bye" the connection stayed open for {WAIT:g} s') from None
        assert extra is None, f'after "/bye" the server sent {extra!r} instead of closing'
        assert ws.close_code == 1000 and ws.close_reason == "bye", (
            f'after "/bye" the connection closed with {ws.close_code} {ws.close_reason!r}, not 1000 "bye"'
            f"{served.failure()}"
        )


# ---------------------------------------------------------------- room


@ex.check(points=3, title="Room: every member gets every message once, the sender included", timeout=6,
          hint="Keep the connections in `self.members`; `broadcast(self.members, message)` sends to all of them.")
async def room_everyone_once(ctx: Context) -> None:
    room = ctx.get("Room", "class")()
    async with ctx.serving(room.handler) as served:
        members = [await _open(served.url) for _ in range(3)]
        await _until_members(room, 3)  # every handler has run up to its first await before anyone speaks
        for i, ws in enumerate(members):
            await ws.send(f"message {i}")
            # each member hears message i before the next one is sent: the order is known
            for j, other in enumerate(members):
                got = await _recv(other, served, f"message {i} (member {j})")
                assert got == f"message {i}", f"member {j} got {got!r} where {f'message {i}'!r} was expected"
        for j, ws in enumerate(members):
            extra = await _nothing_more(ws)
            assert extra is None, f"member {j} got {extra!r} after all three messages: a message arrived twice"
        for ws in members:
            await asyncio.wait_for(ws.close(), WAIT)


# ---------------------------------------------------------------- tiny protocol


async def _tiny(ctx: Context) -> Any:
    return ctx.get("TinyChat", "class")()


async def _join(ws: ClientConnection, served: Served, name: str) -> dict[str, Any]:
    await ws.send(json.dumps({"type": "join", "name": name}))
    reply = json.loads(await _recv(ws, served, f"{name}'s join"))
    assert isinstance(reply, dict) and reply.get("type") == "welcome", f"{name}'s join was answered with {reply!r}"
    return reply


@ex.check(points=2, title="TinyChat: join is welcomed, a chat reaches everyone who joined", timeout=6,
          hint='Dispatch on `message["type"]`: "join" remembers the name and answers a welcome; "chat" broadcasts.')
async def tiny_join_chat(ctx: Context) -> None:
    chat = await _tiny(ctx)
    async with ctx.serving(chat.handler) as served:
        ada, bob = await _open(served.url), await _open(served.url)
        welcome = await _join(ada, served, "Ada")
        assert welcome.get("name") == "Ada" and welcome.get("online") == ["Ada"], f"Ada's welcome was {welcome!r}"
        welcome = await _join(bob, served, "Bob")
        assert sorted(welcome.get("online") or []) == ["Ada", "Bob"], f"Bob's welcome was {welcome!r}"
        await ada.send(json.dumps({"type": "chat", "content": "hi Bob"}))
        for name, ws in (("Ada", ada), ("Bob", bob)):
            got = json.loads(await _recv(ws, served, "Ada's chat"))
            want = {"type": "chat", "sender": "Ada", "content": "hi Bob"}
            assert got == want, f"{name} got {got!r} for Ada's chat; expected {want!r}"


def _is_error(frame: Any) -> bool:
    try:
        msg = json.loads(frame)
    except (TypeError, ValueError):
        return False
    return (
        isinstance(msg, dict) and msg.get("type") == "error"
        and isinstance(msg.get("code"), str) and isinstance(msg.get("message"), str)
    )


BAD_FRAMES = [
    "this is not JSON",
    "[1, 2, 3]",
    '{"no": "type"}',
    '{"type": "dance"}',
    '{"type": "chat"}',
    '{"type": "chat", "content": 42}',
]


@ex.check(points=3, title="TinyChat: each bad frame gets an error frame, and everyone carries on", timeout=6,
          hint='Catch bad JSON, a frame that is not an object, an unknown type, a missing field: answer '
               '{"type": "error", "code": ..., "message": ...} to the sender only, and keep the loop going.')
async def tiny_bad_frames(ctx: Context) -> None:
    chat = await _tiny(ctx)
    async with ctx.serving(chat.handler) as served:
        ada, bob = await _open(served.url), await _open(served.url)
        await _join(ada, served, "Ada")
        await _join(bob, served, "Bob")
        for frame in BAD_FRAMES:
            await ada.send(frame)
            got = await _recv(ada, served, repr(frame))
            assert _is_error(got), (
                f'{frame!r} was answered with {got!r}; expected {{"type": "error", "code": ..., "message": ...}}'
            )
        extra = await _nothing_more(bob)
        assert extra is None, f"Bob got {extra!r}: errors go to the sender only"
        await bob.send(json.dumps({"type": "chat", "content": "still working?"}))
        for name, ws in (("Ada", ada), ("Bob", bob)):
            got = json.loads(await _recv(ws, served, "Bob's chat after Ada's bad frames"))
            assert got.get("content") == "still working?", f"after the bad frames {name} got {got!r}"
        assert not served.errors, f"the handler raised{served.failure()}"
