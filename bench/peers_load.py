"""The load client of ``bench/run.py``: one process that drives one server through every scenario.

Run by ``bench/run.py``, not by hand (though it can be)::

    python bench/peers_load.py --kind hub --port 8765 --server-pid 1234 --plan '{"fanout_n": [100], ...}'

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
import resource
import sys
import time
from typing import Any

from wsclient import WSConn, open_ws

HOST = "127.0.0.1"
WAIT = 60.0
"""Bound on any one wait for deliveries."""

FILLER = "hello from the wslab benchmark, padding to a chat-sized line"


def raise_nofile(want: int = 65536) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


# ---------------------------------------------------------------- the server's own /proc


def server_cpu_ns(pid: int) -> int:
    """CPU time of every thread of ``pid``, in ns (schedstat), or from ``stat`` ticks."""
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


def server_rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


# ---------------------------------------------------------------- dialects


def stamp() -> str:
    """Chat content carrying the send time; receivers find it with one ``find``."""
    return f"~T{time.monotonic_ns()}~ {FILLER}"


class Dialect:
    """How one server kind joins a room, sends a chat message and echoes."""

    echo_path = "/echo"

    def __init__(self, kind: str, port: int, deflate: bool) -> None:
        self.kind, self.port, self.deflate = kind, port, deflate
        self.seq = 0

    async def join(self, room: str, name: str) -> WSConn:
        if self.kind == "hub":
            conn = await open_ws(HOST, self.port, "/chat", deflate=self.deflate)
            await self._until(
                conn,
                lambda p: b'"type":"welcome"' in p,
                lambda: conn.send_text(json.dumps({"type": "join", "name": name, "room": room})),
            )
            return conn
        if self.kind == "sio":
            conn = await self.sio_open()
            await self._until(
                conn,
                lambda p: p.startswith(b"431"),
                lambda: conn.send_text('421["join",' + json.dumps({"room": room, "name": name}) + "]"),
            )
            return conn
        return await open_ws(HOST, self.port, f"/room/{room}?name={name}", deflate=self.deflate)

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


async def connect_room(
    d: Dialect, pid: int, room: str, n: int, concurrency: int
) -> tuple[list[WSConn], dict[str, Any]]:
    """Open ``n`` joined connections; measure setup rate, server CPU per setup and RSS per connection."""
    rss0 = server_rss_bytes(pid)
    cpu0 = server_cpu_ns(pid)
    t0 = time.perf_counter()
    conns = await gather_bounded([d.join(room, f"{room}n{i}") for i in range(n)], concurrency)
    elapsed = time.perf_counter() - t0
    cpu1 = server_cpu_ns(pid)
    sink = Sink(1 << 62, d.kind)  # swallow presence frames, answer Engine.IO pings
    for c in conns:
        c.set_handler(sink)
    # Let the join-time broadcasts (the hub's presence frames) drain before
    # reading memory and before any fan-out is measured.
    drained = await quiet(conns)
    cpu2 = server_cpu_ns(pid)
    rss1 = server_rss_bytes(pid)
    return conns, {
        "connections": n,
        "setup_per_s": n / elapsed,
        "setup_cpu_us": (cpu1 - cpu0) / 1000 / n,
        "setup_drain_s": drained,
        "setup_cpu_drained_us": (cpu2 - cpu0) / 1000 / n,
        "setup_rx_mib": sum(c.rx_bytes for c in conns) / 2**20,
        "rss_per_conn_kib": (rss1 - rss0) / 1024 / n,
    }


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
    except asyncio.TimeoutError:
        return {"error": f"only {sink.count} of {n * messages} deliveries arrived in time"}
    cpu1 = server_cpu_ns(pid)
    wall = (sink.last - t0) / 1e9
    return {
        "deliveries": sink.count,
        "deliveries_per_s": sink.count / wall,
        "cpu_us_per_delivery": (cpu1 - cpu0) / 1000 / sink.count,
        "lat_p50_ms": pct(sink.lat, 50) / 1e6,
        "lat_p99_ms": pct(sink.lat, 99) / 1e6,
    }


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
    except asyncio.TimeoutError:
        return {"error": "concurrent echo did not finish in time"}
    elapsed = time.perf_counter() - t0
    cpu1 = server_cpu_ns(pid)
    total = clients * each
    await asyncio.wait_for(asyncio.gather(*(c.close() for c in conns)), 10)
    return {"msgs_per_s": total / elapsed, "cpu_us_per_msg": (cpu1 - cpu0) / 1000 / total}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    plan = json.loads(args.plan)
    d = Dialect(args.kind, args.port, False)
    pid = args.server_pid
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
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--plan", required=True, help="JSON: fanout_n, burst_messages, paced_messages {n: m}, ... (see run.py)")
    parser.add_argument("--timeout", type=float, default=300.0, help="bound on the whole run, in seconds")
    args = parser.parse_args()
    raise_nofile()
    result = asyncio.run(asyncio.wait_for(main_async(args), args.timeout))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
