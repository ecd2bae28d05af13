"""The hidden checks of exercise ``production``: they run only at grading.

They ship only in the instructor's install (``wslab_instructor``), never in a learner's: the
public checks and the exercise itself are :mod:`wslab.grading.checks.production`.
"""

from __future__ import annotations

import asyncio

from wslab.grading.checks.production import (
    ALLOWED,
    PONG_DELAY,
    TOKEN,
    _expect,
    _guarded,
    _slow_link,
    _state,
    describe_settings,
    ex,
    heartbeat_settings,
)
from wslab.grading.runner import Context


@ex.check(points=1, title="open_with_heartbeat keeps a quiet, healthy connection open, even when a pong takes 0.1 s",
          public=False, timeout=6,
          hint="A server that sends nothing is not dead, nor is one whose pong takes 0.1 s: only a missing pong is. "
               "Give ping_timeout room for a slow network, and do not close on silence.")
async def heartbeat_keeps_quiet_connection(ctx: Context) -> None:
    opener = ctx.get("open_with_heartbeat", "async")
    async with ctx.silent_server() as url, _slow_link(url) as slow_url:
        ws = await ctx.within(opener(slow_url), 2.0, "open_with_heartbeat(url)")
        settings = heartbeat_settings(ws)
        await asyncio.sleep(1.5)  # the quiet period under test, not synchronisation
        state = _state(ws)
        ws.transport.abort()
    if state == "OPEN":
        return
    why = ""
    if settings is not None and isinstance(settings[1], (int, float)) and settings[1] <= 2 * PONG_DELAY:
        why = f" ping_timeout={settings[1]:g} s is not longer than the 0.1 s this pong took."
    raise AssertionError(
        f"a healthy server that sent nothing for 1.5 s, and whose pongs took 0.1 s, saw the connection "
        f"{state}.{why}{describe_settings(settings)}"
    )


@ex.check(points=1, title="echo_all gives up with ConnectionError when the server never answers", public=False,
          timeout=6, hint="Count the connections tried for one text; after `attempts` raise ConnectionError.")
async def echo_all_gives_up(ctx: Context) -> None:
    echo_all = ctx.get("echo_all", "async")
    async with ctx.silent_server() as url:
        try:
            got = await ctx.within(echo_all(url, ["x"], reply_timeout=0.3, attempts=2), 4.0,
                                   "echo_all(silent_url, ['x'], reply_timeout=0.3, attempts=2)")
        except ConnectionError:
            return
        raise AssertionError(f"echo_all returned {got!r} from a server that never answers")


@ex.check(points=1, title="the guard also takes the token from a cookie", public=False, timeout=6,
          hint="A browser page on the same site can send a cookie with the handshake: `http.cookies.SimpleCookie`.")
async def guard_takes_cookie(ctx: Context) -> None:
    make_guard = ctx.get("make_guard")
    async with _guarded(ctx, make_guard) as served:
        await _expect(served, "", 101, origin=ALLOWED[0], additional_headers={"Cookie": f"token={TOKEN}"})
        await _expect(served, "", 401, origin=ALLOWED[0], additional_headers={"Cookie": "token=nope"})
