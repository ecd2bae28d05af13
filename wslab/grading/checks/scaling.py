"""Checks for ``08-scaling-out``: a room's Stream followed through a real cut, and presence keys that expire.

Everything runs against a real Valkey that the checks start on their own side (once per
process, :func:`engine`), on loopback. The learner's functions get its URL, or the URL of a
:class:`~wslab.kernel.link.CuttableLink` in front of it that a check cuts for real; the checks
write and read the engine themselves with their own client, and give the learner's code only
plain data (URLs, names, numbers, dicts) and a plain ``deliver`` function. Each check uses keys
of its own (a random room or stream name), so checks never see each other's data.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from wslab.cluster.engine import START_TIMEOUT, EmbeddedValkey, EngineUnavailable
from wslab.grading.registry import exercise
from wslab.grading.runner import Context

ex = exercise("scaling", title="Scaling out: a room's Stream through a cut, and presence that expires",
              notebook="08-scaling-out", hidden=(3, 3))

_lock = threading.Lock()
_engine: EmbeddedValkey | None = None


def engine() -> EmbeddedValkey:
    """The checks' own Valkey on 127.0.0.1, started on first use and kept for the process.

    It is started from a daemon thread that never ends: the engine dies with the thread that
    started it (Linux's parent-death signal follows a thread, not the process), and each check
    runs in a thread of its own that ends with the check.
    """
    global _engine
    with _lock:
        if _engine is None or _engine.process is None or _engine.process.poll() is not None:
            started: list[EmbeddedValkey | BaseException] = []
            ready = threading.Event()

            def keep() -> None:
                try:
                    started.append(EmbeddedValkey().start())
                except BaseException as exc:  # reported in the check's thread
                    started.append(exc)
                ready.set()
                threading.Event().wait()  # for as long as the process lives

            threading.Thread(target=keep, name="wslab-checks-valkey", daemon=True).start()
            if not ready.wait(START_TIMEOUT + 5):
                raise AssertionError(f"the checks' Valkey did not start within {START_TIMEOUT + 5:g} s")
            if isinstance(started[0], EngineUnavailable):
                raise AssertionError(
                    f"these checks need a Valkey, and none can run where they run: {started[0]}"
                ) from None
            if isinstance(started[0], BaseException):
                raise started[0]
            _engine = started[0]
        return _engine


@asynccontextmanager
async def client() -> AsyncIterator[Any]:
    """The checks' own redis-py client of :func:`engine` (text, every call bounded)."""
    import redis.asyncio as redis

    r = redis.Redis.from_url(engine().url, decode_responses=True, socket_timeout=2, socket_connect_timeout=2)
    try:
        yield r
    finally:
        await asyncio.wait_for(r.aclose(), 2)


def fresh(kind: str) -> str:
    """A key name no other check uses."""
    return f"check-{kind}-{secrets.token_hex(4)}"


def text(value: Any) -> Any:
    """``value`` as text if it is bytes (an answer without ``decode_responses``), else as it is."""
    return value.decode() if isinstance(value, bytes) else value


def delivered() -> tuple[list[str], Callable[..., None]]:
    """The ids delivered so far, and the plain function ``deliver(entry_id, fields)`` that keeps them."""
    ids: list[str] = []

    def deliver(entry_id: Any, fields: Any = None) -> None:
        ids.append(str(text(entry_id)))

    return ids, deliver


async def fill(r: Any, stream: str, numbers: range | list[int]) -> None:
    for n in numbers:
        await r.xadd(stream, {"chat": f"message {n}"}, id=f"{n}-0")


def compare(ids: list[str], want: list[str], cut: str = "") -> None:
    """Fail with what was observed: repeated entries, missing ones, or another order."""
    repeated = sorted({i for i in ids if ids.count(i) > 1}, key=ids.index)
    if repeated:
        raise AssertionError(
            f"follow delivered {', '.join(repeated)} more than once (delivered {ids}){cut and ': ' + cut}"
            f"; a read after a lost link starts after the last id delivered"
        )
    missing = [i for i in want if i not in ids]
    if missing:
        raise AssertionError(
            f"follow never delivered {', '.join(missing)} (delivered {ids})"
            + (f"; {cut}: read on from the last id delivered, not from '$' (only what comes next)" if cut else "")
        )
    assert ids == want, f"follow delivered {ids}; expected {want}, in that order"


async def until(condition: Callable[[], bool], seconds: float) -> bool:
    """Poll ``condition()`` (what the learner's code did, which sends no event) for at most ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


# ---------------------------------------------------------------- follow


@ex.check(points=2, title="follow delivers the entries after last_id, once each, in order", timeout=5,
          hint="XREAD {stream: last_id} returns only the entries after last_id; deliver each, then read on "
               "from the one you delivered last.")
async def follow_in_order(ctx: Context) -> None:
    follow = ctx.get("follow", "async")
    stream, (ids, deliver) = fresh("stream"), delivered()
    async with client() as r:
        await fill(r, stream, range(1, 6))
        last = await ctx.within(follow(engine().url, stream, deliver, 3, "2-0", 3.0), 4.0,
                                'follow(url, stream, deliver, 3, "2-0")')
        await r.delete(stream)
    compare(ids, ["3-0", "4-0", "5-0"])
    assert text(last) == "5-0", f'follow should return the last id it delivered, "5-0"; it returned {last!r}'


@ex.check(points=3, title="follow catches up after a real cut of its link: nothing lost, nothing twice", timeout=6,
          hint="When redis-py raises a RedisError (ConnectionError, TimeoutError), wait a moment and XREAD again "
               "from the last id you delivered.")
async def follow_after_cut(ctx: Context) -> None:
    from wslab.kernel.link import CuttableLink

    follow = ctx.get("follow", "async")
    stream, (ids, deliver) = fresh("stream"), delivered()
    link = await asyncio.to_thread(CuttableLink(engine().url).start)
    try:
        async with client() as r:
            task = asyncio.ensure_future(follow(link.url, stream, deliver, 6, "0-0", 5.0))
            await fill(r, stream, [1, 2])
            if not await until(lambda: len(ids) >= 2 or task.done(), 2.0) and not task.done():
                task.cancel()
                raise AssertionError(f"follow delivered {ids} within 2 s of entries 1-0 and 2-0 being logged")
            await asyncio.to_thread(link.cut)
            await fill(r, stream, [3, 4, 5])
            await asyncio.sleep(0.3)  # the cut under test lasts 0.3 s
            await asyncio.to_thread(link.restore)
            await fill(r, stream, [6])
            try:
                last = await ctx.within(task, 3.5, "follow(url, stream, deliver, 6), after its link came back,")
            except NotImplementedError:
                raise
            except AssertionError:  # still waiting: say for what, if something never came
                compare(ids, [f"{n}-0" for n in range(1, 7)], cut="3-0 to 5-0 were logged while its link was cut")
                raise
            except Exception as exc:
                raise AssertionError(
                    f"follow raised {type(exc).__name__}: {exc} after its link was cut (having delivered "
                    f"{ids}); catch the engine's errors (redis.RedisError) and read again"
                ) from None
            await r.delete(stream)
    finally:
        await asyncio.to_thread(link.stop)
    compare(ids, [f"{n}-0" for n in range(1, 7)], cut="3-0 to 5-0 were logged while its link was cut")
    assert text(last) == "6-0", f'follow should return the last id it delivered, "6-0"; it returned {last!r}'


# ---------------------------------------------------------------- presence


async def write_presence(r: Any, room: str, node: str, members: dict[str, float], ttl: float) -> None:
    """What ``announce`` does, on the checks' side: the checks of ``online`` do not depend on ``announce``."""
    key = f"presence:{room}:{node}"
    await r.hset(key, mapping={name: str(at) for name, at in members.items()})
    await r.pexpire(key, int(ttl * 1000))
    await r.sadd(f"presence:{room}:nodes", node)


async def forget(r: Any, room: str, *nodes: str) -> None:
    await r.delete(f"presence:{room}:nodes", *(f"presence:{room}:{node}" for node in nodes))


@ex.check(points=2, title="announce writes the node's members into its hash, with an expiry", timeout=5,
          hint='HSET presence:<room>:<node> with {name: joined_at}, PEXPIRE it ttl * 1000 ms, and SADD the node '
               "to presence:<room>:nodes.")
async def announce_expires(ctx: Context) -> None:
    announce = ctx.get("announce", "async")
    room = fresh("room")
    key = f"presence:{room}:n1"
    async with client() as r:
        await ctx.within(announce(engine().url, room, "n1", {"ann": 1.0, "bob": 2.5}, 2.0), 3.0,
                         "announce(url, room, 'n1', {'ann': 1.0, 'bob': 2.5}, ttl=2.0)")
        stored = await r.hgetall(key)
        left = await r.pttl(key)
        listed = await r.sismember(f"presence:{room}:nodes", "n1")
        await forget(r, room, "n1")
    assert stored, f"after announce(url, {room!r}, 'n1', ...) the hash {key!r} is missing or empty"
    try:
        seen = {name: float(at) for name, at in stored.items()}
    except ValueError:
        raise AssertionError(f"{key!r} holds {stored}: each member's value should be its join time") from None
    assert seen == {"ann": 1.0, "bob": 2.5}, f"{key!r} holds {stored}; expected ann -> 1.0 and bob -> 2.5"
    assert left != -1, f"{key!r} has no expiry: a node that dies would stay online for ever"
    assert 0 < left <= 2000, f"{key!r} expires in {left} ms; with ttl=2.0 it should be within 2000 ms"
    assert listed, f"the node 'n1' is not in the set presence:{room}:nodes, where online() looks for nodes"


@ex.check(points=2, title="online leaves out a node whose key expired", timeout=5,
          hint="A node whose hash has expired is still in the set of nodes: HGETALL gives {} for it; skip it.")
async def online_leaves_out_expired(ctx: Context) -> None:
    online = ctx.get("online", "async")
    room = fresh("room")
    async with client() as r:
        await write_presence(r, room, "n1", {"ann": 1.0}, ttl=5.0)
        await write_presence(r, room, "n2", {"bob": 2.0}, ttl=0.3)
        both = await ctx.within(online(engine().url, room), 2.0, "online(url, room)")
        assert sorted(both or []) == ["ann", "bob"], (
            f"with two live nodes (ann on n1, bob on n2), online returned {both!r}"
        )
        expired = await until_gone(r, f"presence:{room}:n2")
        assert expired, "the check's key did not expire within 2 s (the engine is too busy?)"
        after = await ctx.within(online(engine().url, room), 2.0, "online(url, room)")
        await forget(r, room, "n1", "n2")
    assert after == ["ann"], f"n2's key expired (bob's node stopped refreshing), but online returned {after!r}"


async def until_gone(r: Any, key: str, seconds: float = 2.0) -> bool:
    """Wait (bounded) until ``key`` has expired in the engine: its expiry, for real."""
    deadline = time.monotonic() + seconds
    while await r.exists(key):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


@ex.check(points=1, title="online lists the names in join order across nodes", timeout=5,
          hint="Gather every live member with its join time, whatever node it is on, and sort by (time, name).")
async def online_join_order(ctx: Context) -> None:
    online = ctx.get("online", "async")
    room = fresh("room")
    async with client() as r:
        await write_presence(r, room, "n1", {"ann": 1.0, "cy": 4.0}, ttl=5.0)
        await write_presence(r, room, "n2", {"dee": 3.0}, ttl=5.0)
        got = await ctx.within(online(engine().url, room), 2.0, "online(url, room)")
        await forget(r, room, "n1", "n2")
    assert got == ["ann", "dee", "cy"], (
        f"ann joined at 1 and cy at 4 on one node, dee at 3 on another; online returned {got!r}, "
        "expected ['ann', 'dee', 'cy']"
    )
