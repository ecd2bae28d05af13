"""The hidden checks of exercise ``scaling``: they run only at grading.

They ship only in the instructor's install (``wslab_instructor``), never in a learner's: the
public checks and the exercise itself are :mod:`wslab.grading.checks.scaling`.
"""

from __future__ import annotations

from wslab.grading.checks.scaling import (
    client,
    delivered,
    engine,
    ex,
    fill,
    forget,
    fresh,
    write_presence,
)
from wslab.grading.runner import Context


@ex.check(points=1, title="follow raises TimeoutError when fewer than count entries come in time", public=False,
          timeout=5, hint="Bound the whole of follow with `timeout` (asyncio.timeout); it raises TimeoutError.")
async def follow_times_out(ctx: Context) -> None:
    follow = ctx.get("follow", "async")
    stream, (_, deliver) = fresh("stream"), delivered()
    async with client() as r:
        await fill(r, stream, [1])
        await ctx.gives_up(follow(engine().url, stream, deliver, 3, "0-0", 0.5), 2.5,
                           "follow(url, stream, deliver, 3, timeout=0.5)",
                           "follow returned {result!r} when only one of the 3 entries it waited for came")
        await r.delete(stream)


@ex.check(points=1, title="online lists a name once, at its earliest join", public=False, timeout=5,
          hint="A client that came back through another node is listed on two live nodes: keep its earliest join.")
async def online_each_once(ctx: Context) -> None:
    online = ctx.get("online", "async")
    room = fresh("room")
    async with client() as r:
        await write_presence(r, room, "n1", {"ann": 5.0}, ttl=5.0)
        await write_presence(r, room, "n2", {"ann": 2.0, "bo": 3.0}, ttl=5.0)
        got = await ctx.within(online(engine().url, room), 2.0, "online(url, room)")
        await forget(r, room, "n1", "n2")
    assert got == ["ann", "bo"], (
        f"ann is on two live nodes (joined at 5 and at 2), bo joined at 3; online returned {got!r}, "
        "expected ['ann', 'bo']"
    )


@ex.check(points=1, title="announce again replaces the members and pushes the expiry forward", public=False,
          timeout=5, hint="A refresh writes the hash anew (DEL, then HSET) and sets its expiry again.")
async def announce_refreshes(ctx: Context) -> None:
    announce = ctx.get("announce", "async")
    room = fresh("room")
    key = f"presence:{room}:n1"
    async with client() as r:
        await ctx.within(announce(engine().url, room, "n1", {"ann": 1.0}, 0.5), 2.0,
                         "announce(url, room, 'n1', {'ann': 1.0}, ttl=0.5)")
        await ctx.within(announce(engine().url, room, "n1", {"bob": 2.0}, 5.0), 2.0,
                         "announce(url, room, 'n1', {'bob': 2.0}, ttl=5.0)")
        stored = await r.hgetall(key)
        left = await r.pttl(key)
        await forget(r, room, "n1")
    assert sorted(stored) == ["bob"], f"after a refresh with only bob, {key!r} holds {stored}"
    assert 500 < left <= 5000, f"after a refresh with ttl=5.0, {key!r} expires in {left} ms"
