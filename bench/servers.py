"""The Python servers under test, one per process: ``hub``, ``raw``, ``sio``, ``picows`` or ``floor``.

    python -m bench.servers hub [--compression deflate]    # from the repository root

Each binds 127.0.0.1 on a free port, prints ``READY <port>`` on stdout, then
serves until SIGTERM/SIGINT or until its standard input closes (so it dies
with the benchmark even if the benchmark is killed). ``bench/relay.js`` is the
Node peer and follows the same contract.

Bench-only control, ``hub`` and ``raw`` only: **SIGUSR1 drops every open
connection with 1012** (service restart), for the reconnect-storm scenario of
:mod:`bench.scenarios`, which knows the server's pid already. The hub calls
:meth:`ChatServer.drop_all` (the course's own fault injection, rooms and
history kept); the raw server closes each of its connections with 1012. The
count goes to stderr (the run's ``bench/results/*-servers.log``). ``sio`` and
Node install no handler: do not send them SIGUSR1 (it would end ``sio``).

* ``hub``: wslab's own :class:`~wslab.server.ChatServer` (``/chat``, ``/echo``),
  with the per-connection rate limit lifted (one load-client connection plays
  the sender of a whole room) and the demo publisher off. With ``--redis URL``
  its rooms live in that Redis/Valkey (``RedisBackplane``) and it binds
  ``--port`` with SO_REUSEPORT, so several such processes are the workers of
  one server (the scaling rows of :mod:`bench.run`).

Keepalive pings are off in every server (``ws`` sends none by default): all the
benchmark's connections open within seconds, so a 20 s ping round to 600 of them
lands as one clump of CPU work (about 0.1 s, profiled) in whichever scenario
happens to run then, which differs from server to server.
* ``raw``: ``websockets.asyncio.server.serve`` whose handler relays each frame
  unchanged to its room with ``broadcast`` (rooms by path ``/room/NAME``), and
  ``/echo``. The floor for our library choice.
* ``sio``: ``python-socketio``'s ``AsyncServer`` on uvicorn (its defaults: the
  asyncio loop, uvicorn's websockets-sansio protocol), doing the same chat: a
  ``join`` event enters a room, a ``chat`` event is stamped and emitted to the
  room, an ``echo`` event is emitted back to its sender.
* ``picows``: picows' server (Cython), relaying each text frame as received to
  its room (rooms by path, as ``raw``) with one ``WSTransport.send`` per member;
  ``/echo``. A fast WebSocket library, for reference.
* ``floor``: :class:`bench.floor.FloorProtocol`, a bare asyncio Protocol that
  builds each message's frame once and writes it to every member: the least a
  Python asyncio server can do per delivery.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from bench.procs import raise_nofile

__all__ = [
    "MAX_FRAME",
    "HEARTBEAT_OFF",
    "LIFETIME",
    "DROP_SIGNAL",
    "DROP_CODE",
    "ready",
    "until_stopped",
    "iso_now",
    "run_hub",
    "run_raw",
    "run_sio",
    "run_picows",
    "run_floor",
    "main",
]

MAX_FRAME = 64 * 1024
"""The largest message any server accepts, in bytes."""

HEARTBEAT_OFF = 3600
"""Engine.IO's heartbeat period here, in s: longer than any run, i.e. off."""


def ready(port: int) -> None:
    """Tell the benchmark the server listens: ``READY <port>`` on stdout (:func:`bench.procs.start_ready`)."""
    print(f"READY {port}", flush=True)


LIFETIME = 900.0
"""Seconds after which a server stops by itself, whatever happens to the benchmark."""


DROP_SIGNAL = signal.SIGUSR1
"""The bench-only control: drop every open connection with 1012 (``hub`` and ``raw``)."""

DROP_CODE = 1012
"""Service restart: what the dropped connections are closed with."""


async def until_stopped(on_drop: Callable[[], int] | None = None) -> None:
    """Return on SIGTERM/SIGINT, when stdin reaches EOF (the parent went away), or after LIFETIME.

    With ``on_drop``, :data:`DROP_SIGNAL` calls it (it returns how many connections it dropped).
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if on_drop is not None:

        def drop() -> None:
            count = on_drop()
            print(f"bench control: dropped {count} connection(s) with {DROP_CODE}", file=sys.stderr, flush=True)

        loop.add_signal_handler(DROP_SIGNAL, drop)
    loop.add_reader(sys.stdin.fileno(), lambda: stop.set() if not os.read(sys.stdin.fileno(), 4096) else None)
    try:
        await asyncio.wait_for(stop.wait(), LIFETIME)
    except TimeoutError:
        logging.getLogger("bench").warning("stopping after %g s", LIFETIME)


def iso_now() -> str:
    """Now in UTC, as the hub stamps its chat messages (ISO 8601, milliseconds, ``Z``)."""
    moment = datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


async def run_hub(compression: str | None, redis_url: str | None = None, port: int = 0) -> None:
    """wslab's :class:`~wslab.server.chat_server.ChatServer`, its rooms in memory or in the Redis at ``redis_url``."""
    from wslab.server.backplane import Backplane
    from wslab.server.chat_server import ChatServer
    from wslab.server.config import ServerConfig

    backplane: Backplane | None = None
    if redis_url is not None:  # rooms in Redis/Valkey (docs/scaling.md); workers share the port
        from wslab.cluster.redis_backplane import RedisBackplane

        backplane = RedisBackplane(redis_url)
    config = ServerConfig(
        port=port,
        reuse_port=redis_url is not None,
        update_interval=None,
        rate=1e9,
        burst=1_000_000_000,
        compression=compression,
        ping_interval=None,
    )
    server = ChatServer(config, backplane=backplane)
    await asyncio.wait_for(server.start(), 10)
    ready(server.port)
    try:
        await until_stopped(lambda: server.drop_all(DROP_CODE))
    finally:
        await asyncio.wait_for(server.stop(), 10)


async def run_raw(compression: str | None) -> None:
    """websockets' ``serve``: ``broadcast`` of each frame as received to its room (by path), and ``/echo``."""
    from websockets.asyncio.server import ServerConnection, broadcast, serve
    from websockets.exceptions import ConnectionClosed

    rooms: dict[str, set[ServerConnection]] = {}

    async def handler(ws: ServerConnection) -> None:
        path = ws.request.path.partition("?")[0] if ws.request else ""
        try:
            if path == "/echo":
                async for message in ws:
                    await ws.send(message)
                return
            members = rooms.setdefault(path, set())
            members.add(ws)
            try:
                async for message in ws:
                    broadcast(members, message)
            finally:
                members.discard(ws)
        except ConnectionClosed:
            pass

    server = await asyncio.wait_for(
        serve(handler, "127.0.0.1", 0, compression=compression, max_size=MAX_FRAME, ping_interval=None), 10
    )
    closing: set[asyncio.Task[None]] = set()

    def drop_all() -> int:
        conns = list(server.connections)
        for conn in conns:
            task = asyncio.create_task(conn.close(DROP_CODE, "dropped on purpose"))
            closing.add(task)
            task.add_done_callback(closing.discard)
        return len(conns)

    ready(server.sockets[0].getsockname()[1])
    try:
        await until_stopped(drop_all)
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), 10)


async def run_sio(compression: str | None) -> None:
    """python-socketio's ``AsyncServer`` on uvicorn, doing the same chat with ``join``, ``chat`` and ``echo`` events."""
    import socketio  # type: ignore[import-untyped]
    import uvicorn

    sio = socketio.AsyncServer(async_mode="asgi", max_http_buffer_size=MAX_FRAME, ping_interval=HEARTBEAT_OFF)
    app = socketio.ASGIApp(sio)
    seqs: dict[str, int] = {}

    @sio.event  # type: ignore[untyped-decorator]
    async def join(sid: str, data: dict[str, Any]) -> str:
        room = str(data["room"])
        await sio.save_session(sid, {"room": room, "name": str(data["name"])})
        await sio.enter_room(sid, room)
        return "ok"

    @sio.event  # type: ignore[untyped-decorator]
    async def chat(sid: str, data: dict[str, Any]) -> None:
        session = await sio.get_session(sid)
        room = session["room"]
        seq = seqs[room] = seqs.get(room, 0) + 1
        message = {
            "type": "chat",
            "room": room,
            "seq": seq,
            "sender": session["name"],
            "content": data["content"],
            "timestamp": iso_now(),
        }
        if "id" in data:
            message["id"] = data["id"]
        await sio.emit("chat", message, room=room)

    @sio.event  # type: ignore[untyped-decorator]
    async def echo(sid: str, data: Any) -> None:
        await sio.emit("echo", data, to=sid)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app,
        loop="asyncio",
        log_level="warning",
        lifespan="off",
        ws_max_size=MAX_FRAME,
        ws_per_message_deflate=compression == "deflate",
    )
    # uvicorn installs its own SIGINT/SIGTERM handlers as it starts serving;
    # until_stopped's, added once it has started, take their place.
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    deadline = time.monotonic() + 10
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start within 10 s")
        await asyncio.sleep(0.01)
    ready(sock.getsockname()[1])
    try:
        await until_stopped()
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(task, 10)


async def run_picows(compression: str | None) -> None:
    """picows' server: each text frame relayed as received to its room (by path), one ``send`` per member; ``/echo``."""
    if compression:
        raise SystemExit("picows has no permessage-deflate")
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, WSUpgradeRequest, ws_create_server

    rooms: dict[str, set[WSTransport]] = {}

    class Relay(WSListener):
        def __init__(self, path: str) -> None:
            self.members = None if path == "/echo" else rooms.setdefault(path, set())

        def on_ws_connected(self, transport: WSTransport) -> None:
            if self.members is not None:
                self.members.add(transport)

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type == WSMsgType.TEXT:
                payload = frame.get_payload_as_bytes()
                for member in (transport,) if self.members is None else self.members:
                    member.send(WSMsgType.TEXT, payload)
            elif frame.msg_type == WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code())
                transport.disconnect()

        def on_ws_disconnected(self, transport: WSTransport) -> None:
            if self.members is not None:
                self.members.discard(transport)

    def listener(request: WSUpgradeRequest) -> Relay:
        return Relay(request.path.partition(b"?")[0].decode())

    server = await asyncio.wait_for(
        ws_create_server(listener, "127.0.0.1", 0, max_frame_size=MAX_FRAME, enable_auto_ping=False), 10
    )
    ready(server.sockets[0].getsockname()[1])
    try:
        await until_stopped()
    finally:
        server.close()
        for members in rooms.values():
            for transport in list(members):
                transport.disconnect(graceful=False)
        await asyncio.wait_for(server.wait_closed(), 10)


async def run_floor(compression: str | None) -> None:
    """The floor (:mod:`bench.floor`): a bare asyncio Protocol, one pre-built frame written to each member."""
    if compression:
        raise SystemExit("the floor has no permessage-deflate")
    from bench.floor import serve_floor

    await serve_floor(ready, until_stopped)


def main(argv: list[str] | None = None) -> None:
    """Serve one kind until stopped (see the module's docstring for how)."""
    parser = argparse.ArgumentParser(description="Serve one benchmark peer on 127.0.0.1.")
    parser.add_argument("kind", choices=["hub", "raw", "sio", "picows", "floor"])
    parser.add_argument("--compression", choices=["deflate"], default=None)
    parser.add_argument("--profile", metavar="PSTATS", help="run under cProfile and write the stats here on exit")
    parser.add_argument("--redis", metavar="URL", help="hub only: keep the rooms in this Redis/Valkey")
    parser.add_argument("--port", type=int, default=0, help="hub only, with --redis: the port (shared, SO_REUSEPORT)")
    args = parser.parse_args(argv)
    raise_nofile()
    logging.basicConfig(level=logging.WARNING)
    runners: dict[str, Callable[[str | None], Coroutine[Any, Any, None]]] = {
        "hub": run_hub, "raw": run_raw, "sio": run_sio, "picows": run_picows, "floor": run_floor
    }
    runner = runners[args.kind]
    if args.redis:
        if args.kind != "hub":
            parser.error("--redis is for the hub only")
        asyncio.run(run_hub(args.compression, args.redis, args.port))
        return
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        try:
            profiler.runcall(asyncio.run, runner(args.compression))
        finally:
            profiler.dump_stats(args.profile)
    else:
        asyncio.run(runner(args.compression))


if __name__ == "__main__":
    main()
