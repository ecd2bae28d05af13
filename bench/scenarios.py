"""The scenarios of the load client: what each one does to the server under test, and what it measures.

* :func:`connect_room`: ``n`` clients open and join one room, ``concurrency`` at a
  time; setup rate, server CPU and bytes per setup, server memory per connection;
* :func:`fanout`: one member sends chats (in a burst, or paced) that every member
  receives; deliveries per second, server CPU per delivery, delivery latency;
* :func:`storm`: the server drops every connection with 1012 and all come back;
  time until all are back (and, for the hub, caught up), CPU per reconnect, bytes;
* :func:`echo_sequential`: one client's round trips, p50 and p99;
* :func:`echo_concurrent`: many clients echoing at once; messages per second and
  server CPU per message.

Server CPU time and memory are read from ``/proc`` (:class:`Measured`) right
before and right after each measured phase, so setup work (connecting, joining)
is not charged to deliveries. Every wait is bounded; a scenario that cannot
finish returns an ``error`` instead of hanging. The order in which a plan runs
them is :func:`bench.peers_load.run_plan`'s.
"""

from __future__ import annotations

import array
import asyncio
import json
import os
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from bench import procs
from bench.dialects import HOST, Dialect, Member, Progress
from bench.frames import echo_body
from bench.servers import DROP_SIGNAL
from bench.stats import percentile
from bench.wsclient import HandshakeError, WSConn, open_ws

__all__ = [
    "WAIT",
    "STORM_IN_FLIGHT",
    "Figures",
    "Measured",
    "Sink",
    "gather_bounded",
    "abort",
    "quiet",
    "converged",
    "server_idle",
    "connect_room",
    "fanout",
    "storm",
    "echo_sequential",
    "echo_concurrent",
]

_T = TypeVar("_T")

Figures = dict[str, Any]
"""What one scenario reports: metric -> value (``error`` -> why, when it could not finish)."""

WAIT = 60.0
"""Bound on any one wait for deliveries."""

STORM_IN_FLIGHT = 100
"""Opening handshakes of the storm under way at once, at most: asyncio's listen
backlog (100, what both servers use), so the kernel never drops a SYN for a full accept queue,
which would add its fixed 1 s retransmit to the time, the same for any server."""


@dataclass(frozen=True)
class Measured:
    """The server under test as the scenarios see it: the processes whose CPU and memory count.

    ``pids`` are all counted (a server's workers and their Valkey); ``engine``, when
    given, is the Valkey among them, whose CPU is also reported on its own.
    """

    pids: tuple[int, ...]
    engine: int | None = None

    def cpu_ns(self) -> int:
        """CPU time of every thread of every process, in ns."""
        return procs.cpu_ns(self.pids)

    def engine_cpu_ns(self) -> int:
        """CPU time of the Valkey alone, in ns (0 without one)."""
        return procs.cpu_ns(self.engine) if self.engine else 0

    def rss_bytes(self) -> int:
        """Resident memory of every process, in bytes."""
        return procs.rss_bytes(self.pids)

    def drop_all(self) -> None:
        """The bench-only control of :mod:`bench.servers`: drop every connection with 1012 (``hub``, ``raw``)."""
        os.kill(self.pids[0], DROP_SIGNAL)


class Sink:
    """Counts chat deliveries and records their latency (ns) from the stamp in the content.

    Frames without a stamp (presence, acks) are swallowed; an Engine.IO ping is answered.
    ``done`` resolves once ``expected`` deliveries have arrived.
    """

    def __init__(self, expected: int, dialect: Dialect) -> None:
        self.expected = expected
        self.count = 0
        self.lat = array.array("q")
        self.last = 0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.dialect = dialect

    def __call__(self, conn: WSConn, payload: bytes) -> None:
        i = payload.find(b"~T")
        if i < 0:
            self.dialect.pong(conn, payload)
            return
        now = time.monotonic_ns()
        j = payload.find(b"~", i + 2)
        self.lat.append(now - int(payload[i + 2 : j]))
        self.count += 1
        self.last = now
        if self.count >= self.expected and not self.done.done():
            self.done.set_result(None)


async def gather_bounded(coros: Iterable[Awaitable[_T]], concurrency: int) -> list[_T]:
    """Await every one of ``coros``, at most ``concurrency`` at a time; their results in order."""
    sem = asyncio.Semaphore(concurrency)

    async def one(coro: Awaitable[_T]) -> _T:
        async with sem:
            return await coro

    return list(await asyncio.gather(*(one(c) for c in coros)))


def abort(conns: Iterable[WSConn]) -> None:
    """Drop these connections at once, with no closing handshake (the scenario is over with them)."""
    for c in conns:
        if c.transport is not None:
            c.transport.abort()


async def quiet(conns: list[WSConn], silence: float = 0.5, limit: float = 120.0) -> float:
    """Wait until no connection has received anything for ``silence`` s (at most ``limit`` s)."""
    t0 = time.monotonic()
    while True:
        now = time.monotonic()
        last = max((c.rx_last for c in conns), default=0.0)
        if now - last >= silence or now - t0 > limit:
            return now - t0
        await asyncio.sleep(min(silence, max(0.05, silence - (now - last))))


async def converged(conns: list[WSConn], n: int, limit: float = 60.0) -> int:
    """Wait until every hub member believes ``n`` are online (at most ``limit`` s); return how many do not."""
    pending = [c.state for c in conns if isinstance(c.state, Member)]
    deadline = time.monotonic() + limit
    while True:
        pending = [m for m in pending if m.count() != n]
        if not pending or time.monotonic() > deadline:
            return len(pending)
        await asyncio.sleep(0.02)


async def server_idle(server: Measured, window: float = 0.2, busy: float = 0.05, limit: float = 30.0) -> float:
    """Wait until the server spends under ``busy`` of a CPU over two ``window``s in a row (at most ``limit`` s)."""
    t0 = time.monotonic()
    calm = 0
    while calm < 2 and time.monotonic() - t0 < limit:
        c0 = server.cpu_ns()
        await asyncio.sleep(window)
        calm = calm + 1 if (server.cpu_ns() - c0) / 1e9 < busy * window else 0
    return time.monotonic() - t0


# ---------------------------------------------------------------- scenarios


async def connect_room(
    d: Dialect, server: Measured, room: str, n: int, concurrency: int
) -> tuple[list[WSConn], Figures]:
    """Open ``n`` joined connections; measure setup rate, server CPU and bytes per setup, RSS per connection.

    For the hub, a setup is done when every member has seen all ``n`` online (its
    ``welcome``, then ``presence``): with coalesced presence (v2) the last deltas come
    after the last ``welcome``, and would otherwise be missed. The bytes are counted
    once, in addition, no frame has arrived for 0.5 s.
    """
    rss0 = server.rss_bytes()
    cpu0 = server.cpu_ns()
    t0 = time.perf_counter()
    conns = await gather_bounded([d.join(room, f"{room}n{i}") for i in range(n)], concurrency)
    elapsed = time.perf_counter() - t0
    cpu1 = server.cpu_ns()
    missing = await converged(conns, n)
    converged_s = time.perf_counter() - t0
    cpu_c = server.cpu_ns()
    rx_c = sum(c.rx_bytes for c in conns)
    # Let anything still on its way (v1's presence backlog) drain before reading the
    # bytes and memory, and before any fan-out is measured.
    drained = await quiet(conns)
    cpu2 = server.cpu_ns()
    rss1 = server.rss_bytes()
    out: Figures = {
        "connections": n,
        "setup_per_s": n / elapsed,
        "setup_cpu_us": (cpu_c - cpu0) / 1000 / n,
        "setup_cpu_joined_us": (cpu1 - cpu0) / 1000 / n,
        "setup_converged_s": converged_s,
        "setup_drain_s": drained,
        "setup_cpu_drained_us": (cpu2 - cpu0) / 1000 / n,
        "setup_rx_mib": sum(c.rx_bytes for c in conns) / 2**20,
        "setup_rx_converged_mib": rx_c / 2**20,
        "rss_per_conn_kib": (rss1 - rss0) / 1024 / n,
    }
    members = [c.state for c in conns if isinstance(c.state, Member)]
    if members:
        out["setup_presence_frames_per_member"] = sum(m.presence_frames for m in members) / len(members)
    if missing:
        out["error"] = f"{missing} of {n} members had not seen all {n} online after 60 s"
    sink = Sink(1 << 62, d)  # from here on: swallow presence frames, answer Engine.IO pings
    for c in conns:
        c.set_handler(sink)
    return conns, out


async def fanout(
    d: Dialect, server: Measured, conns: list[WSConn], room: str, messages: int, rate: float | None
) -> Figures:
    """One sender (``conns[0]``, itself a member) sends ``messages`` chats; every member receives each."""
    n = len(conns)
    sink = Sink(n * messages, d)
    for c in conns:
        c.set_handler(sink)
    sender = conns[0]
    name = f"{room}n0"
    await asyncio.sleep(0.2)  # quiet before measuring
    cpu0 = server.cpu_ns()
    engine0 = server.engine_cpu_ns()
    t0 = time.monotonic_ns()
    if rate is None:
        for _ in range(messages):
            sender.send_text(d.chat_frame(room, name))
    else:
        period = 1.0 / rate
        start = time.monotonic()
        for i in range(messages):
            delay = start + i * period - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            sender.send_text(d.chat_frame(room, name))
    try:
        await asyncio.wait_for(asyncio.shield(sink.done), WAIT)
    except TimeoutError:
        return {"error": f"only {sink.count} of {n * messages} deliveries arrived in time"}
    cpu1 = server.cpu_ns()
    engine1 = server.engine_cpu_ns()
    wall = (sink.last - t0) / 1e9
    return {
        "messages": messages,
        "cpu_us_per_msg": (cpu1 - cpu0) / 1000 / messages,
        **({"engine_cpu_us_per_msg": (engine1 - engine0) / 1000 / messages} if server.engine else {}),
        "deliveries": sink.count,
        "deliveries_per_s": sink.count / wall,
        "cpu_us_per_delivery": (cpu1 - cpu0) / 1000 / sink.count,
        "lat_p50_ms": percentile(sink.lat, 50) / 1e6,
        "lat_p99_ms": percentile(sink.lat, 99) / 1e6,
    }


async def storm(d: Dialect, server: Measured, plan: dict[str, Any]) -> Figures:
    """Reconnect storm: ``n`` joined clients, the server drops them all with 1012, they all come back.

    Before the drop (hub): one member sends ``storm_chats_before`` chats and every member
    sees them. The drop is the bench-only control of :mod:`bench.servers` (SIGUSR1:
    ``ChatServer.drop_all(1012)`` for the hub; every connection closed with 1012 for raw).
    Each client waits for its close, then a fixed random delay (uniform in
    ``[0, storm_delay_ms]``, seeded, the same for every server; member 0 waits none),
    then reconnects: for the hub it re-joins with ``since`` = its last seq and the
    room's ``epoch`` (when the welcome gave one), and member 0, once back, sends
    ``storm_chats_during`` chats, which the others get live or in their welcome's
    history. Raw websockets' clients only redo the handshake (the reference).

    Figures: time from the drop to every client re-joined (hub: welcomed again and at
    the final seq; raw: handshake done), server CPU per reconnect from the drop until,
    for the hub, every member has also seen all ``n`` online again, and the bytes the
    clients received meanwhile.
    """
    n = plan["storm_n"]
    room = "storm"
    hub = d.kind == "hub"
    if d.kind not in ("hub", "raw"):
        return {"error": f"no drop control for {d.kind}"}
    before = plan.get("storm_chats_before", 0) if hub else 0
    during = plan.get("storm_chats_during", 0) if hub else 0
    conns = await gather_bounded([d.join(room, f"s{i}") for i in range(n)], plan.get("setup_concurrency", 20))
    if hub:
        if await converged(conns, n):
            return {"error": "storm room: members did not all see each other before the drop"}
        for i in range(before):
            conns[0].send_text(json.dumps({"type": "chat", "content": f"before the drop {i}", "id": f"b{i}"}))
        t_end = time.monotonic() + 30
        while any(c.state.seq < before for c in conns) and time.monotonic() < t_end:
            await asyncio.sleep(0.02)
        if any(c.state.seq < before for c in conns):
            return {"error": "storm room: the chats before the drop did not all arrive"}
    await server_idle(server)
    rng = random.Random(1012)
    delays = [0.0] + [rng.uniform(0, plan.get("storm_delay_ms", 100) / 1000) for _ in range(n - 1)]
    target = before + during
    progress = Progress(n)
    for c in conns:
        if hub:
            c.state.target, c.state.progress = target, progress
    rx_old = sum(c.rx_bytes for c in conns)
    new: list[WSConn | None] = [None] * n
    codes: list[int | None] = [None] * n
    retries = [0]
    joined_at = [0.0] * n
    closed_at = [0.0] * n
    started_at = [0.0] * n
    d.join_retries = 0

    in_flight = asyncio.Semaphore(plan.get("storm_in_flight", STORM_IN_FLIGHT))

    async def comeback(i: int) -> None:
        old = conns[i]
        await asyncio.wait_for(asyncio.shield(old.closed), 15)
        codes[i] = old.close_code
        closed_at[i] = time.monotonic()
        await asyncio.sleep(delays[i])
        started_at[i] = time.monotonic()
        for attempt in range(5):
            try:
                async with in_flight:
                    conn = await open_ws(HOST, d.port, "/chat" if hub else f"/room/{room}?name=s{i}")
                if hub:
                    conn = await d.hub_join_on(conn, room, old.state)
                break
            except (TimeoutError, HandshakeError, OSError):
                if attempt == 4:
                    raise
                retries[0] += 1
                await asyncio.sleep(0.05)
        new[i] = conn
        joined_at[i] = time.monotonic()
        if hub and i == 0:
            for k in range(during):
                conn.send_text(json.dumps({"type": "chat", "content": f"during the storm {k}", "id": f"d{k}"}))

    overflows0 = procs.listen_overflows()
    cpu0 = server.cpu_ns()
    t0 = time.monotonic()
    server.drop_all()
    try:
        await asyncio.wait_for(asyncio.gather(*(comeback(i) for i in range(n))), WAIT)
        if hub:
            await asyncio.wait_for(asyncio.shield(progress.done), WAIT)
    except TimeoutError:
        returned = sum(c is not None for c in new)
        return {"error": f"storm: {returned} of {n} back, {progress.caught} caught up within {WAIT:g} s"}
    t_back = (progress.at if hub else max(joined_at)) - t0
    back = [c for c in new if c is not None]
    missing = await converged(back, n)
    t_converged = time.monotonic() - t0
    cpu1 = server.cpu_ns()
    rx = sum(c.rx_bytes for c in conns) - rx_old + sum(c.rx_bytes for c in back)
    out: Figures = {
        "clients": n,
        "storm_back_ms": t_back * 1000,
        "storm_closed_p50_ms": (percentile(closed_at, 50) - t0) * 1000,
        "storm_closed_last_ms": (max(closed_at) - t0) * 1000,
        "storm_rejoined_p50_ms": (percentile(joined_at, 50) - t0) * 1000,
        "storm_rejoined_last_ms": (max(joined_at) - t0) * 1000,
        "storm_reconnect_p50_ms": percentile([j - b for j, b in zip(joined_at, started_at, strict=True)], 50) * 1000,
        "storm_reconnect_p99_ms": percentile([j - b for j, b in zip(joined_at, started_at, strict=True)], 99) * 1000,
        "storm_reconnect_max_ms": max(j - b for j, b in zip(joined_at, started_at, strict=True)) * 1000,
        "storm_converged_ms": t_converged * 1000,
        "storm_cpu_us": (cpu1 - cpu0) / 1000 / n,
        "storm_rx_mib": rx / 2**20,
        "storm_close_codes": sorted({str(c) for c in codes}),
        "storm_connect_retries": retries[0],
        "storm_join_retries": d.join_retries,
        "storm_listen_overflows": procs.listen_overflows() - overflows0,
    }
    if hub:
        members = [c.state for c in back]
        out["storm_gaps"] = sum(m.gaps for m in members)
        out["storm_dups"] = sum(m.dups for m in members)
        out["storm_final_seq"] = min(m.seq for m in members)
        out["storm_epoch"] = members[0].epoch is not None
        if out["storm_gaps"] or out["storm_dups"]:
            out["error"] = f"storm: {out['storm_gaps']} gaps, {out['storm_dups']} duplicates in what members saw"
    if missing:
        out["error"] = f"storm: {missing} of {n} members had not seen all {n} online after 60 s"
    if codes.count(1012) != n:
        out["error"] = f"storm: close codes {out['storm_close_codes']}, expected 1012 for all"
    abort(back)
    return out


async def echo_sequential(d: Dialect, server: Measured, count: int) -> Figures:
    """One client, ``count`` echo round trips one after the other (after 20 not recorded); p50 and p99."""
    conn = await d.echo_conn()
    loop = asyncio.get_running_loop()
    box: dict[str, asyncio.Future[None]] = {}

    def on_text(c: WSConn, payload: bytes) -> None:
        if d.pong(c, payload):
            return
        fut = box.get("f")
        if fut is not None and not fut.done():
            fut.set_result(None)

    conn.set_handler(on_text)
    frame = d.echo_frame(echo_body())
    times = array.array("q")
    for i in range(20 + count):  # 20 warm-up round trips, not recorded
        box["f"] = loop.create_future()
        t = time.perf_counter_ns()
        conn.send_text(frame)
        await asyncio.wait_for(box["f"], 10)
        if i >= 20:
            times.append(time.perf_counter_ns() - t)
    await conn.close()
    return {"rtt_p50_us": percentile(times, 50) / 1e3, "rtt_p99_us": percentile(times, 99) / 1e3}


async def echo_concurrent(d: Dialect, server: Measured, clients: int, each: int) -> Figures:
    """``clients`` clients each echo ``each`` messages, all at once; messages per second, server CPU per message."""
    conns = await gather_bounded([d.echo_conn() for _ in range(clients)], 25)
    frame = d.echo_frame(echo_body())
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    left = [clients]

    def make(remaining: list[int]) -> Callable[[WSConn, bytes], None]:
        def on_text(c: WSConn, payload: bytes) -> None:
            if d.pong(c, payload):
                return
            remaining[0] -= 1
            if remaining[0] > 0:
                c.send_text(frame)
            else:
                left[0] -= 1
                if left[0] == 0 and not done.done():
                    done.set_result(None)

        return on_text

    for c in conns:
        c.set_handler(make([each]))
    await asyncio.sleep(0.2)
    cpu0 = server.cpu_ns()
    t0 = time.perf_counter()
    for c in conns:
        c.send_text(frame)
    try:
        await asyncio.wait_for(done, WAIT)
    except TimeoutError:
        return {"error": "concurrent echo did not finish in time"}
    elapsed = time.perf_counter() - t0
    cpu1 = server.cpu_ns()
    total = clients * each
    await asyncio.wait_for(asyncio.gather(*(c.close() for c in conns)), 10)
    return {"msgs_per_s": total / elapsed, "cpu_us_per_msg": (cpu1 - cpu0) / 1000 / total}
