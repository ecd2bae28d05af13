"""The hidden checks of exercise ``server``: they run only at grading.

They ship only in the instructor's install (``wslab_instructor``), never in a learner's: the
public checks and the exercise itself are :mod:`wslab.grading.checks.server`.
"""

from __future__ import annotations

import asyncio
import json

from wslab.grading.checks.server import (
    WAIT,
    _is_error,
    _join,
    _open,
    _recv,
    _tiny,
    _until_finished,
    _until_members,
    ex,
)
from wslab.grading.runner import Context


@ex.check(points=1, title="echo returns quietly when the client closes", public=False, timeout=5,
          hint="`async for message in ws` ends when the client closes; `while True: await ws.recv()` raises instead.")
async def echo_client_close(ctx: Context) -> None:
    echo = ctx.get("echo", "async")
    async with ctx.serving(echo) as served:
        ws = await _open(served.url)
        await ws.send("x")
        await _recv(ws, served, '"x"')
        await asyncio.wait_for(ws.close(1000, "done"), WAIT)
        await _until_finished(served, 1)
        assert served.finished == 1, f"the handler was still running {WAIT:g} s after the client closed"
        assert not served.errors, (
            f"when the client closed normally, the handler raised {type(served.errors[0]).__name__}"
        )


@ex.check(points=1, title="Room: a member who leaves is removed; the others carry on", public=False, timeout=6,
          hint="Remove the connection in a `finally:` so it goes even when the handler ends with an error.")
async def room_leaver_removed(ctx: Context) -> None:
    room = ctx.get("Room", "class")()
    async with ctx.serving(room.handler) as served:
        a, b, c = [await _open(served.url) for _ in range(3)]
        await _until_members(room, 3)
        c.transport.abort()  # gone without a goodbye
        await _until_finished(served, 1)
        members = getattr(room, "members", None)
        assert members is not None and len(members) == 2, (
            f"after one of three members left, room.members holds {len(members) if members is not None else None}"
        )
        await a.send("still here?")
        for name, ws in (("a", a), ("b", b)):
            got = await _recv(ws, served, '"still here?"')
            assert got == "still here?", f"after a member left, {name} got {got!r}"


@ex.check(points=1, title="TinyChat: a chat before join, and a binary frame, are errors too", public=False, timeout=6,
          hint="Only members who joined may chat; frames are JSON text, so bytes are a bad frame, even bytes that "
               "hold JSON.")
async def tiny_not_joined_and_bytes(ctx: Context) -> None:
    chat = await _tiny(ctx)
    async with ctx.serving(chat.handler) as served:
        ws = await _open(served.url)
        await ws.send(json.dumps({"type": "chat", "content": "who am I?"}))
        got = await _recv(ws, served, "a chat before join")
        assert _is_error(got), f"a chat before join was answered with {got!r}, not an error"
        for frame in (b"\x00\x01", json.dumps({"type": "join", "name": "Bo"}).encode()):
            await ws.send(frame)
            got = await _recv(ws, served, f"the binary frame {frame!r}")
            assert _is_error(got), (
                f"the binary frame {frame!r} was answered with {got!r}, not an error: this protocol's frames "
                "are text (json.loads accepts bytes too, so check the frame's type first)"
            )
        await _join(ws, served, "Cy")
