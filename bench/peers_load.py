"""The load client of ``bench/run.py``: one process that drives one server through every scenario.

Run by ``bench/run.py``, not by hand (though it can be), from the repository root::

    python -m bench.peers_load --kind hub --port 8765 --server-pid 1234 --plan '{"fanout_n": [100], ...}'

It prints one JSON object on stdout with the figures of each scenario. Server
CPU time and memory are read from ``/proc/<server-pid>`` right before and
right after each measured phase, so setup work (connecting, joining) is not
charged to deliveries. Every wait is bounded; a scenario that cannot finish
reports an ``error`` instead of hanging.

The same client speaks four dialects, one per server kind, for the same chat:

* ``hub``: wslab's ``/chat`` protocol (join, then ``chat`` frames with ids);
  echo on wslab's ``/echo``;
* ``raw``: websockets' ``broadcast`` of the frame as received, so the client
  sends the very bytes the hub would deliver; rooms by path;
* ``sio``: Engine.IO 4 / Socket.IO 5 over a WebSocket (``42["chat",{...}]``);
* ``node``: ``ws`` relaying a hub-shaped chat frame; rooms by path.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import glob
import json
import os
import random
import re
import resource
import signal
import sys
import time
from typing import Any

from bench.wsclient import HandshakeError, WSConn, open_ws

HOST = "127.0.0.1"

ENGINE_PID = 0
"""With ``--engine-pid``: the Valkey among the server pids, whose CPU is also reported on its own."""
WAIT = 60.0
"""Bound on any one wait for deliveries."""

FILLER = "hello from the wslab benchmark, padding to a chat-sized line"


def raise_nofile(want: int = 65536) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


# ---------------------------------------------------------------- the server's own /proc


def server_cpu_ns(pid: int | tuple[int, ...]) -> int:
    """CPU time of every thread of ``pid`` (of each pid of a tuple: the workers and their Valkey), in ns."""
    if isinstance(pid, tuple):
        return sum(server_cpu_ns(one) for one in pid)
    total = 0
    found = False
    for path in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try:
            with open(path) as f:
                total += int(f.read().split()[0])
                found = True
        except (OSError, ValueError, IndexError):
            pass
    if found:
        return total
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks * 1_000_000_000 // 100


def listen_overflows() -> int:
    """The kernel's count of connections dropped because a listen queue was full (all sockets), or -1."""
    try:
        with open("/proc/net/netstat") as f:
            lines = f.read().splitlines()
    except OSError:
        return -1
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            fields = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            return int(fields.get("ListenOverflows", -1))
    return -1


def server_rss_bytes(pid: int | tuple[int, ...]) -> int:
    if isinstance(pid, tuple):
        return sum(server_rss_bytes(one) for one in pid)
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


# ---------------------------------------------------------------- dialects


def stamp() -> str:
    """Chat content carrying the send time; receivers find it with one ``find``."""
    return f"~T{time.monotonic_ns()}~ {FILLER}"


SEQ = re.compile(rb'"seq":(\d+)')


class Member:
    """One ``/chat`` client's view of its room, kept up to date by every frame it receives.

    * who is online: the ``welcome``'s list, then each ``presence``: with presence v1
      (``online``: the whole list in every frame) only the latest frame counts, so it is
      kept as bytes and parsed when asked (:meth:`count`); with v2 (``joined``/``left``
      lists, coalesced per room and tick) each delta is applied as it comes, ``left``
      before ``joined``;
    * ``seq``: the highest chat sequence number seen in order (welcome history, live
      chats); ``gaps`` and ``dups`` count chats that arrived out of that order;
    * ``epoch``: the room's epoch from the ``welcome`` (presence v2), sent back with
      ``since`` when re-joining;
    * ``generation``: how many ``welcome`` frames it has had (1 after the first join).
    """

    __slots__ = ("name", "online", "full", "seq", "epoch", "gaps", "dups", "generation", "reply",
                 "target", "progress", "caught", "presence_frames")

    def __init__(self, name: str) -> None:
        self.name = name
        self.online: set[str] = set()
        self.full: bytes | None = None
        self.seq = 0
        self.epoch: str | None = None
        self.gaps = 0
        self.dups = 0
        self.generation = 0
        self.reply: asyncio.Future[dict[str, Any]] | None = None
        self.target: int | None = None
        self.progress: Progress | None = None
        self.caught = False
        self.presence_frames = 0

    def __call__(self, conn: WSConn, payload: bytes) -> None:
        head = payload[:24]
        if b'"chat"' in head:
            m = SEQ.search(payload)
            if m:
                self._chat(int(m.group(1)))
        elif b'"presence"' in head:
            self.presence_frames += 1
            if b'"online":' in payload:
                self.full = payload
            else:
                msg = json.loads(payload)
                self._delta(msg.get("left"), False)
                self._delta(msg.get("joined"), True)
        elif b'"welcome"' in head:
            msg = json.loads(payload)
            self.online = set(msg["online"])
            self.full = None
            self.epoch = msg.get("epoch", self.epoch)
            for chat in msg.get("history", ()):
                self._chat(chat["seq"])
            if msg.get("history_complete", True):
                self.seq = max(self.seq, msg["seq"])
            self.generation += 1
            self._answer(msg)
        elif b'"error"' in head:
            self._answer(json.loads(payload))

    def _answer(self, msg: dict[str, Any]) -> None:
        if self.reply is not None and not self.reply.done():
            self.reply.set_result(msg)
        self._check()

    def _chat(self, seq: int) -> None:
        if seq <= self.seq:
            self.dups += 1
            return
        if seq != self.seq + 1:
            self.gaps += 1
        self.seq = seq
        self._check()

    def _check(self) -> None:
        if (not self.caught and self.target is not None and self.generation >= 2
                and self.seq >= self.target and self.progress is not None):
            self.caught = True
            self.progress.one_caught_up()

    def _delta(self, names: Any, joined: bool) -> None:
        if names is None:
            return
        if isinstance(names, str):
            names = [names]
        if joined:
            self.online.update(names)
        else:
            self.online.difference_update(names)

    def count(self) -> int:
        """How many members this client believes are online now."""
        if self.full is not None:
            self.online = set(json.loads(self.full)["online"])
            self.full = None
        return len(self.online)

    def join_frame(self, room: str) -> str:
        """The ``join`` to send: with ``since`` and ``epoch`` once this member was welcomed before."""
        join: dict[str, Any] = {"type": "join", "name": self.name, "room": room}
        if self.generation:
            join["since"] = self.seq
            if self.epoch is not None:
                join["epoch"] = self.epoch
        return json.dumps(join)


class Progress:
    """Counts members that re-joined and caught up; resolves ``done`` when all ``n`` have."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.caught = 0
        self.done = asyncio.get_running_loop().create_future()
        self.at = 0.0

    def one_caught_up(self) -> None:
        self.caught += 1
        if self.caught >= self.n and not self.done.done():
            self.at = time.monotonic()
            self.done.set_result(None)


STORM_IN_FLIGHT = 100
"""Opening handshakes of the storm under way at once, at most: asyncio's listen
backlog (100, what both servers use), so the kernel never drops a SYN for a full accept queue,
which would add its fixed 1 s retransmit to the time, the same for any server."""

JOIN_TRIES = 50
"""Joins a reconnecting member retries when the hub still holds its old connection (``name-taken``)."""


class Dialect:
    """How one server kind joins a room, sends a chat message and echoes."""

    echo_path = "/echo"

    def __init__(self, kind: str, port: int, deflate: bool) -> None:
        self.kind, self.port, self.deflate = kind, port, deflate
        self.seq = 0
        self.join_retries = 0

    async def join(self, room: str, name: str, member: Member | None = None) -> WSConn:
        """Open a connection and join ``room`` (for the hub: as ``member``, re-joining with ``since``)."""
        if self.kind == "hub":
            return await self.hub_join(room, member or Member(name))
        if self.kind == "sio":
            conn = await self.sio_open()
            await self._until(
                conn,
                lambda p: p.startswith(b"431"),
                lambda: conn.send_text('421["join",' + json.dumps({"room": room, "name": name}) + "]"),
            )
            return conn
        return await open_ws(HOST, self.port, f"/room/{room}?name={name}", deflate=self.deflate)

    async def hub_join(self, room: str, member: Member) -> WSConn:
        """Join ``/chat`` as ``member``, whose handler then stays on the connection (``conn.state``).

        ``name-taken`` (the hub has not yet seen the member's old connection go) is retried
        every 20 ms, at most :data:`JOIN_TRIES` times; the retries are counted in ``join_retries``.
        """
        return await self.hub_join_on(await open_ws(HOST, self.port, "/chat", deflate=self.deflate), room, member)

    async def hub_join_on(self, conn: WSConn, room: str, member: Member) -> WSConn:
        """:meth:`hub_join` on a connection already open."""
        conn.state = member
        conn.set_handler(member)
        loop = asyncio.get_running_loop()
        for _ in range(JOIN_TRIES):
            member.reply = loop.create_future()
            conn.send_text(member.join_frame(room))
            msg = await asyncio.wait_for(member.reply, 15)
            if msg.get("type") == "welcome":
                return conn
            if msg.get("code") != "name-taken":
                raise RuntimeError(f"join refused: {msg}")
            self.join_retries += 1
            await asyncio.sleep(0.02)
        raise RuntimeError(f"{member.name}: still name-taken after {JOIN_TRIES} tries")

    async def sio_open(self) -> WSConn:
        conn = await open_ws(HOST, self.port, "/socket.io/?EIO=4&transport=websocket", deflate=self.deflate)
        await self._until(conn, lambda p: p.startswith(b"0{"), None)
        await self._until(conn, lambda p: p.startswith(b"40"), lambda: conn.send_text("40"))
        return conn

    async def _until(self, conn: WSConn, pred: Any, action: Any, timeout: float = 15.0) -> None:
        fut = asyncio.get_running_loop().create_future()

        def on_text(c: WSConn, payload: bytes) -> None:
            if payload == b"2" and self.kind == "sio":
                c.send_text("3")
            elif pred(payload) and not fut.done():
                fut.set_result(None)

        conn.set_handler(on_text)
        if action is not None:
            action()
        await asyncio.wait_for(fut, timeout)

    def chat_frame(self, room: str, sender: str) -> str:
        self.seq += 1
        content = stamp()
        mid = f"m{self.seq}"
        if self.kind == "raw":
            # The bytes the hub would deliver, built by the client; the server only relays them.
            return json.dumps(
                {"type": "chat", "room": room, "seq": self.seq, "sender": sender, "content": content,
                 "timestamp": "2026-11-27T10:00:00.000Z", "id": mid},
                ensure_ascii=False, separators=(",", ":"),
            )
        if self.kind == "sio":
            return '42["chat",' + json.dumps({"content": content, "id": mid}, separators=(",", ":")) + "]"
        return json.dumps({"type": "chat", "content": content, "id": mid}, separators=(",", ":"))

    async def echo_conn(self) -> WSConn:
        if self.kind == "sio":
            return await self.sio_open()
        return await open_ws(HOST, self.port, self.echo_path, deflate=self.deflate)

    def echo_frame(self, body: str) -> str:
        return '42["echo",' + json.dumps(body) + "]" if self.kind == "sio" else body


# ---------------------------------------------------------------- helpers


def pct(values: Any, q: float) -> float:
    if not len(values):
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return float(ordered[index])


class Sink:
    """Counts chat deliveries and records their latency (ns) from the stamp in the content."""

    def __init__(self, expected: int, kind: str) -> None:
        self.expected = expected
        self.count = 0
        self.lat = array.array("q")
        self.last = 0
        self.done = asyncio.get_running_loop().create_future()
        self.sio = kind == "sio"

    def __call__(self, conn: WSConn, payload: bytes) -> None:
        i = payload.find(b"~T")
        if i < 0:
            if self.sio and payload == b"2":
                conn.send_text("3")
            return
        now = time.monotonic_ns()
        j = payload.find(b"~", i + 2)
        self.lat.append(now - int(payload[i + 2 : j]))
        self.count += 1
        self.last = now
        if self.count >= self.expected and not self.done.done():
            self.done.set_result(None)


async def gather_bounded(coros: list[Any], concurrency: int) -> list[Any]:
    sem = asyncio.Semaphore(concurrency)

    async def one(coro: Any) -> Any:
        async with sem:
            return await coro

    return await asyncio.gather(*(one(c) for c in coros))


async def quiet(conns: list[WSConn], silence: float = 0.5, limit: float = 120.0) -> float:
    """Wait until no connection has received anything for ``silence`` s (at most ``limit`` s)."""
    t0 = time.monotonic()
    while True:
        now = time.monotonic()
        last = max((c.rx_last for c in conns), default=0.0)
        if now - last >= silence or now - t0 > limit:
            return now - t0
        await asyncio.sleep(min(silence, max(0.05, silence - (now - last))))


# ---------------------------------------------------------------- scenarios


async def converged(conns: list[WSConn], n: int, limit: float = 60.0) -> int:
    """Wait until every hub member believes ``n`` are online (at most ``limit`` s); return how many do not."""
    pending = [c.state for c in conns if isinstance(c.state, Member)]
    deadline = time.monotonic() + limit
    while True:
        pending = [m for m in pending if m.count() != n]
        if not pending or time.monotonic() > deadline:
            return len(pending)
        await asyncio.sleep(0.02)


async def server_idle(pid: int, window: float = 0.2, busy: float = 0.05, limit: float = 30.0) -> float:
    """Wait until the server spends under ``busy`` of a CPU over two ``window``s in a row (at most ``limit`` s)."""
    t0 = time.monotonic()
    calm = 0
    while calm < 2 and time.monotonic() - t0 < limit:
        c0 = server_cpu_ns(pid)
        await asyncio.sleep(window)
        calm = calm + 1 if (server_cpu_ns(pid) - c0) / 1e9 < busy * window else 0
    return time.monotonic() - t0


async def connect_room(
    d: Dialect, pid: int, room: str, n: int, concurrency: int
) -> tuple[list[WSConn], dict[str, Any]]:
    """Open ``n`` joined connections; measure setup rate, server CPU and bytes per setup, RSS per connection.

    For the hub, a setup is done when every member has seen all ``n`` online (its
    ``welcome``, then ``presence``): with coalesced presence (v2) the last deltas come
    after the last ``welcome``, and would otherwise be missed. The bytes are counted
    once, in addition, no frame has arrived for 0.5 s.
    """
    rss0 = server_rss_bytes(pid)
    cpu0 = server_cpu_ns(pid)
    t0 = time.perf_counter()
    conns = await gather_bounded([d.join(room, f"{room}n{i}") for i in range(n)], concurrency)
    elapsed = time.perf_counter() - t0
    cpu1 = server_cpu_ns(pid)
    missing = await converged(conns, n)
    converged_s = time.perf_counter() - t0
    cpu_c = server_cpu_ns(pid)
    rx_c = sum(c.rx_bytes for c in conns)
    # Let anything still on its way (v1's presence backlog) drain before reading the
    # bytes and memory, and before any fan-out is measured.
    drained = await quiet(conns)
    cpu2 = server_cpu_ns(pid)
    rss1 = server_rss_bytes(pid)
    out: dict[str, Any] = {
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
    sink = Sink(1 << 62, d.kind)  # from here on: swallow presence frames, answer Engine.IO pings
    for c in conns:
        c.set_handler(sink)
    return conns, out


async def fanout(
    d: Dialect, pid: int, conns: list[WSConn], room: str, messages: int, rate: float | None
) -> dict[str, Any]:
    """One sender (``conns[0]``, itself a member) sends ``messages`` chats; every member receives each."""
    n = len(conns)
    sink = Sink(n * messages, d.kind)
    for c in conns:
        c.set_handler(sink)
    sender = conns[0]
    name = f"{room}n0"
    await asyncio.sleep(0.2)  # quiet before measuring
    cpu0 = server_cpu_ns(pid)
    engine0 = server_cpu_ns(ENGINE_PID) if ENGINE_PID else 0
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
    cpu1 = server_cpu_ns(pid)
    engine1 = server_cpu_ns(ENGINE_PID) if ENGINE_PID else 0
    wall = (sink.last - t0) / 1e9
    return {
        "messages": messages,
        "cpu_us_per_msg": (cpu1 - cpu0) / 1000 / messages,
        **({"engine_cpu_us_per_msg": (engine1 - engine0) / 1000 / messages} if ENGINE_PID else {}),
        "deliveries": sink.count,
        "deliveries_per_s": sink.count / wall,
        "cpu_us_per_delivery": (cpu1 - cpu0) / 1000 / sink.count,
        "lat_p50_ms": pct(sink.lat, 50) / 1e6,
        "lat_p99_ms": pct(sink.lat, 99) / 1e6,
    }


async def storm(d: Dialect, pid: int, plan: dict[str, Any]) -> dict[str, Any]:
    """Reconnect storm: ``n`` joined clients, the server drops them all with 1012, they all come back.

    Before the drop (hub): one member sends ``storm_chats_before`` chats and every member
    sees them. The drop is the bench-only control of ``bench/servers.py`` (SIGUSR1:
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
    await server_idle(pid)
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

    overflows0 = listen_overflows()
    cpu0 = server_cpu_ns(pid)
    t0 = time.monotonic()
    os.kill(pid, signal.SIGUSR1)
    try:
        await asyncio.wait_for(asyncio.gather(*(comeback(i) for i in range(n))), WAIT)
        if hub:
            await asyncio.wait_for(asyncio.shield(progress.done), WAIT)
    except TimeoutError:
        back = sum(c is not None for c in new)
        return {"error": f"storm: {back} of {n} back, {progress.caught} caught up within {WAIT:g} s"}
    t_back = (progress.at if hub else max(joined_at)) - t0
    back = [c for c in new if c is not None]
    missing = await converged(back, n)
    t_converged = time.monotonic() - t0
    cpu1 = server_cpu_ns(pid)
    rx = sum(c.rx_bytes for c in conns) - rx_old + sum(c.rx_bytes for c in back)
    out: dict[str, Any] = {
        "clients": n,
        "storm_back_ms": t_back * 1000,
        "storm_closed_p50_ms": (pct(closed_at, 50) - t0) * 1000,
        "storm_closed_last_ms": (max(closed_at) - t0) * 1000,
        "storm_rejoined_p50_ms": (pct(joined_at, 50) - t0) * 1000,
        "storm_rejoined_last_ms": (max(joined_at) - t0) * 1000,
        "storm_reconnect_p50_ms": pct([j - b for j, b in zip(joined_at, started_at, strict=True)], 50) * 1000,
        "storm_reconnect_p99_ms": pct([j - b for j, b in zip(joined_at, started_at, strict=True)], 99) * 1000,
        "storm_reconnect_max_ms": max(j - b for j, b in zip(joined_at, started_at, strict=True)) * 1000,
        "storm_converged_ms": t_converged * 1000,
        "storm_cpu_us": (cpu1 - cpu0) / 1000 / n,
        "storm_rx_mib": rx / 2**20,
        "storm_close_codes": sorted({str(c) for c in codes}),
        "storm_connect_retries": retries[0],
        "storm_join_retries": d.join_retries,
        "storm_listen_overflows": listen_overflows() - overflows0,
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
    for c in back:
        if c.transport is not None:
            c.transport.abort()
    return out


def _echo_body() -> str:
    return FILLER + " " + "x" * (100 - len(FILLER) - 1)


async def echo_sequential(d: Dialect, pid: int, count: int) -> dict[str, Any]:
    conn = await d.echo_conn()
    loop = asyncio.get_running_loop()
    box: dict[str, asyncio.Future[None]] = {}

    def on_text(c: WSConn, payload: bytes) -> None:
        if d.kind == "sio" and payload == b"2":
            c.send_text("3")
            return
        fut = box.get("f")
        if fut is not None and not fut.done():
            fut.set_result(None)

    conn.set_handler(on_text)
    frame = d.echo_frame(_echo_body())
    times = array.array("q")
    for i in range(20 + count):  # 20 warm-up round trips, not recorded
        box["f"] = loop.create_future()
        t = time.perf_counter_ns()
        conn.send_text(frame)
        await asyncio.wait_for(box["f"], 10)
        if i >= 20:
            times.append(time.perf_counter_ns() - t)
    await conn.close()
    return {"rtt_p50_us": pct(times, 50) / 1e3, "rtt_p99_us": pct(times, 99) / 1e3}


async def echo_concurrent(d: Dialect, pid: int, clients: int, each: int) -> dict[str, Any]:
    conns = await gather_bounded([d.echo_conn() for _ in range(clients)], 25)
    frame = d.echo_frame(_echo_body())
    done = asyncio.get_running_loop().create_future()
    left = [clients]

    def make(remaining: list[int]) -> Any:
        def on_text(c: WSConn, payload: bytes) -> None:
            if d.kind == "sio" and payload == b"2":
                c.send_text("3")
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
    cpu0 = server_cpu_ns(pid)
    t0 = time.perf_counter()
    for c in conns:
        c.send_text(frame)
    try:
        await asyncio.wait_for(done, WAIT)
    except TimeoutError:
        return {"error": "concurrent echo did not finish in time"}
    elapsed = time.perf_counter() - t0
    cpu1 = server_cpu_ns(pid)
    total = clients * each
    await asyncio.wait_for(asyncio.gather(*(c.close() for c in conns)), 10)
    return {"msgs_per_s": total / elapsed, "cpu_us_per_msg": (cpu1 - cpu0) / 1000 / total}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    plan = json.loads(args.plan)
    d = Dialect(args.kind, args.port, False)
    global ENGINE_PID
    ENGINE_PID = args.engine_pid or 0
    pids = tuple(int(one) for one in str(args.server_pid).split(","))
    pid: Any = pids[0] if len(pids) == 1 else pids
    out: dict[str, Any] = {}
    rooms: list[list[WSConn]] = []

    def run_step(name: str, result: dict[str, Any]) -> None:
        out[name] = result
        print(f"  {args.kind}: {name} {json.dumps(result)}", file=sys.stderr, flush=True)

    for n in plan.get("fanout_n", []):
        room = f"r{n}"
        conns, setup = await connect_room(d, pid, room, n, plan.get("setup_concurrency", 20))
        rooms.append(conns)
        if n == max(plan["fanout_n"]):
            run_step("setup", setup)
        run_step(f"burst{n}", await fanout(d, pid, conns, room, plan["burst_messages"], None))
        paced = plan.get("paced_messages", {}).get(str(n))
        if paced:
            run_step(f"paced{n}", await fanout(d, pid, conns, room, paced, plan["paced_rate"]))
    if plan.get("echo_count"):
        run_step("echo1", await echo_sequential(d, pid, plan["echo_count"]))
    if plan.get("echo_clients") and not plan.get("deflate_n"):
        run_step("echo50", await echo_concurrent(d, pid, plan["echo_clients"], plan["echo_each"]))
    # The storm drops every connection the server has, so it runs last, alone: the
    # fan-out rooms go first (their clients disconnect) and the server is let go idle.
    if plan.get("storm_n") and d.kind in ("hub", "raw"):
        for conns in rooms:
            for c in conns:
                if c.transport is not None:
                    c.transport.abort()
        rooms.clear()
        await server_idle(pid)
        run_step("storm", await storm(d, pid, plan))
    # Compression: the same server (started with deflate enabled) serves a room of
    # clients that do not offer permessage-deflate and a room of clients that do.
    n = plan.get("deflate_n")
    if n:
        for label, deflate in (("plain", False), ("deflate", True)):
            d.deflate = deflate
            room = f"{label}{n}"
            conns, _ = await connect_room(d, pid, room, n, plan.get("setup_concurrency", 20))
            rooms.append(conns)
            negotiated = sum(c.inflater is not None for c in conns)
            if negotiated != (n if deflate else 0):
                raise RuntimeError(f"permessage-deflate negotiated on {negotiated} of {n} {label} connections")
            run_step(f"burst_{label}", await fanout(d, pid, conns, room, plan["burst_messages"], None))
        # The first echo run in a process pays for warming up (measured: up to twice
        # the CPU per message), which would flatter whichever variant runs second.
        d.deflate = False
        await echo_concurrent(d, pid, plan["echo_clients"], max(10, plan["echo_each"] // 2))
        for label, deflate in (("plain", False), ("deflate", True)):
            d.deflate = deflate
            run_step(f"echo50_{label}", await echo_concurrent(d, pid, plan["echo_clients"], plan["echo_each"]))
    for conns in rooms:
        for c in conns:
            if c.transport is not None:
                c.transport.abort()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", required=True, choices=["hub", "raw", "sio", "node"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--server-pid", required=True, help="the server's pid, or pids joined by commas (all counted)")
    parser.add_argument("--engine-pid", type=int, help="which of those is the Valkey (its CPU also on its own)")
    parser.add_argument(
        "--plan", required=True, help="JSON: fanout_n, burst_messages, paced_messages {n: m}, ... (see run.py)"
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="bound on the whole run, in seconds")
    args = parser.parse_args()
    raise_nofile()
    result = asyncio.run(asyncio.wait_for(main_async(args), args.timeout))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
