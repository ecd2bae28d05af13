"""``wslab serve``: one chat server for a whole classroom, in the foreground.

It is the same :class:`~wslab.server.ChatServer` the notebooks run in the
kernel, with the safeguards a room full of people needs:

* bound to loopback by default; on any other address (``--host 0.0.0.0``) a
  token is required, generated and printed when ``--token`` is not given, and
  compared in constant time; a wrong or missing token closes the connection
  with 4001;
* browsers' ``Origin`` must be this server's own page or one of ``--origin``;
* per-connection rate and size limits, unique names, slow consumers closed
  with 4008 (all from :class:`~wslab.server.ServerConfig`);
* ``GET /`` serves the browser chat page (``wslab/static/chat.html``);
* ``/admin`` is the instructor's admin channel (:mod:`wslab.server.admin_route`),
  behind an admin token of its own (``--admin-token``, else generated and
  printed), never the learners' token;
* learners may type a short join code instead of the token; ``GET /join.svg``
  (the join link's QR code) and ``GET /join.json`` serve the projector's view to
  whoever has the token or the code, and the dashboard gets the same in its reports;
* with ``--data DIR`` the tokens and the join code are kept in DIR
  (:mod:`wslab.classroom.room_state`), so a restart keeps every link working;
* no secret is ever on a command line: the workers of ``--workers`` get the
  tokens, the join code and the engine's URL (with its password) in their
  environment (:data:`~wslab.classroom.options.SECRET_ENV`), which only this
  user and root can read, and the embedded Valkey requires a password;
* with ``--certfile``/``--keyfile`` it speaks TLS only: ``wss://`` and
  ``https://`` on the same port (:mod:`wslab.server.tls`);
* under a Jupyter server with jupyter-server-proxy (a JupyterLab terminal on
  JupyterHub, say), the browser link on this machine goes through the proxy
  (:mod:`wslab.kernel.jupyter_links`);
* Ctrl-C or SIGTERM closes every client with 1001 and exits with status 0.

This is a command-line program, so it prints: the URLs to join when it starts,
one line per notable server event, and a line when it stops.

With ``--redis URL``, ``--workers N`` or ``--data DIR`` the rooms live in
Redis or Valkey instead of this process (:mod:`wslab.cluster.workers`,
``docs/scaling.md``); the banner says which engine serves them and where
their data lives.

Exit status: 0 after Ctrl-C/SIGTERM, 1 if the port is taken, binding fails or
the rooms' engine cannot be reached, 2 for a bad option.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import threading
from collections.abc import Iterable, Sequence
from typing import TextIO

from wslab._moved import renamed_attribute
from wslab.classroom.banner import join_link, print_banner, print_event
from wslab.classroom.options import (
    DEFAULT_PORT,
    SECRET_ENV,
    ServeOptions,
    add_arguments,
    classroom_options,
    options_from_args,
)
from wslab.classroom.qr import qr_svg
from wslab.core import protocol as p
from wslab.core.admin_protocol import JoinInfo
from wslab.core.admission import format_join_code
from wslab.kernel.course_server import ServerHandle, start_server
from wslab.server.admin_route import install_admin
from wslab.server.backplane import Backplane, BackplaneError
from wslab.server.chat_server import ChatServer, PortInUseError

__all__ = [
    "DEFAULT_PORT",
    "STOP_TIMEOUT",
    "ServeOptions",
    "add_arguments",
    "classroom_options",
    "options_from_args",
    "install_join",
    "join_info",
    "main",
    "run",
    "serve",
    "serve_shared",
    "start_classroom",
    "WORKER_START_TIMEOUT",
]

STOP_TIMEOUT = 5.0
"""Seconds the shutdown may take: closing every client, then the listening socket."""

WORKER_START_TIMEOUT = 30.0
"""Seconds a worker may take to listen (Python start-up on a busy machine)."""


def start_classroom(
    host: str = "0.0.0.0",
    port: int = DEFAULT_PORT,
    *,
    token: str | None = None,
    room: str = p.DEFAULT_ROOM,
    origins: Iterable[str] = (),
    certfile: str | None = None,
    keyfile: str | None = None,
) -> ServerHandle:
    """The ``wslab serve`` server, but in the kernel (a daemon thread), so a dashboard can watch it.

    Same rules as the command: off loopback a token is required (generated
    when not given; read it from ``handle.config.token``), ``/`` serves the
    chat page. Returns the :class:`~wslab.kernel.course_server.ServerHandle`; pass it to
    :class:`~wslab.classroom.instructor_dashboard.InstructorDashboard`, and see
    :func:`join_urls` for the links to share.
    """
    config = classroom_options(
        host, port, token=token, room=room, origins=origins, certfile=certfile, keyfile=keyfile
    ).config
    return start_server(
        config.host,
        config.port,
        token=config.token,
        allowed_origins=config.allowed_origins,
        index_html=config.index_html,
        certfile=config.certfile,
        keyfile=config.keyfile,
    )


def join_info(options: ServeOptions, port: int) -> JoinInfo | None:
    """How learners join this server from a phone (the network link, its page, the code); None on loopback."""
    cfg = options.config
    link = join_link(cfg.host, port, cfg.token, options.room, tls=cfg.certfile is not None)
    if link is None:
        return None
    code = format_join_code(options.join_code) if options.join_code else None
    return JoinInfo(link, link.partition("?")[0], code)


def install_join(server: ChatServer, join: JoinInfo) -> None:
    """``/join.svg`` and ``/join.json``: the projector's view, for whoever has the token or the code."""
    server.pages["/join.svg"] = ("image/svg+xml", qr_svg(join.link))
    answer = {"link": join.link, "page": join.page, "code": join.code}
    server.pages["/join.json"] = ("application/json", json.dumps(answer))


async def serve(
    options: ServeOptions,
    *,
    out: TextIO = sys.stdout,
    stop: asyncio.Event | None = None,
    backplane: Backplane | None = None,
    rooms_note: str = "",
) -> int:
    """Run the server until ``stop`` is set (by default: until SIGINT or SIGTERM); return the exit status.

    Prints the join URLs once listening and a line per server event. On stop,
    every client is closed with 1001 within :data:`STOP_TIMEOUT` seconds.
    ``backplane``: where the rooms live (default: this process's memory).
    """
    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    server = ChatServer(options.config, backplane=backplane)
    channel = install_admin(server, options.admin_token)
    try:
        await server.start()
    except BackplaneError as exc:
        print(f"wslab serve: {exc}", file=sys.stderr, flush=True)
        return 1
    except PortInUseError as exc:
        print(f"wslab serve: {exc.strerror}", file=sys.stderr, flush=True)
        return 1
    except OSError as exc:
        where = f"{options.config.host}:{options.config.port}"
        print(f"wslab serve: cannot listen on {where}: {exc}", file=sys.stderr, flush=True)
        return 1
    join = join_info(options, server.port)
    if join is not None:
        install_join(server, join)
        channel.join = join
    server.listeners.append(lambda event: print_event(event, out))
    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
            installed.append(signum)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not on the main thread, or not supported here: rely on `stop`
    try:
        if options.banner:
            rooms = [f"Rooms: {server.backplane.engine}{rooms_note}", f"Data: {server.backplane.where}"]
            print_banner(options, server.port, out, rooms)
        else:
            print(f"wslab serve: worker {os.getpid()} listening on port {server.port}", file=out, flush=True)
        await stop.wait()
    finally:
        clients = server.hub.connection_count()
        print(f"wslab serve: stopping, closing {clients} chat client(s) with 1001 (going away)", file=out, flush=True)
        try:
            await asyncio.wait_for(server.stop(p.CLOSE_GOING_AWAY, "server shutting down"), STOP_TIMEOUT)
        except TimeoutError:
            print("wslab serve: some connections did not close in time", file=sys.stderr, flush=True)
        for signum in installed:
            loop.remove_signal_handler(signum)
    print("wslab serve: stopped", file=out, flush=True)
    return 0


def serve_shared(options: ServeOptions, out: TextIO = sys.stdout) -> int:
    """Serve with the rooms in Redis/Valkey as ``options`` say (``--redis``, ``--workers``, ``--data``).

    Without ``--redis``, an embedded Valkey (:class:`~wslab.cluster.engine.EmbeddedValkey`)
    on 127.0.0.1 holds them, started here and stopped on exit; with ``--data DIR`` its
    append-only file lives in DIR, so a restart keeps the rooms. With ``--workers N``,
    N processes share the port (:class:`~wslab.cluster.workers.WorkerPool`). Returns
    the exit status; an engine that cannot be started or reached is one line on
    stderr and status 1.
    """
    from wslab.cluster.engine import EmbeddedValkey
    from wslab.cluster.redis_backplane import RedisBackplane, describe
    from wslab.core.errors import EngineUnavailable

    engine: EmbeddedValkey | None = None
    url = options.redis
    note = ""
    if url is None:
        try:
            engine = EmbeddedValkey(options.data).start()
        except (EngineUnavailable, OSError) as exc:
            print(f"wslab serve: cannot start the embedded Valkey: {exc}", file=sys.stderr, flush=True)
            return 1
        url = engine.url
        note = " (embedded: started and stopped by wslab serve)"
        if options.data is not None:
            where = f"{engine.data_dir} (Valkey's append-only file, written every second)"
        else:
            where = "not kept: a temporary directory, removed when wslab serve stops (--data DIR keeps it)"
    else:
        where = f"in that engine ({describe(url)}), as it is configured to keep it"
    try:
        if options.workers == 1:
            backplane = RedisBackplane(url, where=where)
            try:
                return asyncio.run(serve(options, out=out, backplane=backplane, rooms_note=note))
            except KeyboardInterrupt:
                return 0
        return _serve_workers(options, url, where, note, out)
    finally:
        if engine is not None:
            engine.stop()


def _worker_argv(options: ServeOptions, port: int) -> list[str]:
    """A worker's command line: no secret in it (every local user's ps shows it); see :func:`_worker_env`."""
    cfg = options.config
    argv = [sys.executable, "-m", "wslab.cli", "serve", "--host", cfg.host, "--port", str(port)]
    argv += ["--room", options.room, "--reuse-port", "--no-banner"]
    for origin in cfg.allowed_origins:
        argv += ["--origin", origin]
    if cfg.certfile is not None:
        argv += ["--certfile", cfg.certfile] + (["--keyfile", cfg.keyfile] if cfg.keyfile else [])
    return argv


def _worker_env(options: ServeOptions, url: str) -> dict[str, str]:
    """A worker's environment: this one, with the room's secrets and the engine's URL (password included).

    One admin token and one join code for the room, whichever worker answers. A secret
    this server does not have is removed, so a stale variable cannot give a worker one.
    """
    env = dict(os.environ)
    values = {
        "token": options.config.token, "admin_token": options.admin_token,
        "redis": url, "join_code": options.join_code,
    }
    for key, value in values.items():
        if value is None:
            env.pop(SECRET_ENV[key], None)
        else:
            env[SECRET_ENV[key]] = value
    return env


def _serve_workers(options: ServeOptions, url: str, where: str, note: str, out: TextIO) -> int:
    from wslab.cluster.redis_backplane import engine_info
    from wslab.cluster.workers import WorkerPool, free_port

    try:
        engine = engine_info(url)
    except ConnectionError as exc:
        print(f"wslab serve: {exc}", file=sys.stderr, flush=True)
        return 1
    port = options.config.port or free_port(options.config.host)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    pool = WorkerPool(_worker_argv(options, port), options.workers, out, env=_worker_env(options, url))
    try:
        late = pool.wait_ready(WORKER_START_TIMEOUT, stop)
        if late is not None:
            print(f"wslab serve: worker {late} did not start (port {port} taken, or see above)",
                  file=sys.stderr, flush=True)
            return 1
        pids = ", ".join(str(pid) for pid in pool.pids)
        rooms = [
            f"Rooms: {engine}{note}",
            f"Data: {where}",
            f"Workers: {options.workers} processes on port {port} (pids {pids})",
        ]
        print_banner(options, port, out, rooms)
        pool.supervise(stop)
        print(f"wslab serve: stopping {options.workers} workers", file=out, flush=True)
        return 0
    finally:
        pool.stop(STOP_TIMEOUT + 1)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        print("wslab serve: stopped", file=out, flush=True)


def run(args: argparse.Namespace) -> int:
    """Entry point for ``wslab serve``: validate, then serve in the foreground with :func:`asyncio.run`."""
    try:
        options = options_from_args(args)
    except ValueError as exc:
        print(f"wslab serve: error: {exc}", file=sys.stderr, flush=True)
        return 2
    if options.redis is not None or options.workers > 1 or options.data is not None:
        return serve_shared(options)
    try:
        return asyncio.run(serve(options))
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m wslab.classroom.serve``: the same as ``wslab serve``."""
    parser = argparse.ArgumentParser(prog="wslab serve", description="run the chat server for a classroom")
    add_arguments(parser)
    return run(parser.parse_args(argv))



def __getattr__(name: str) -> object:
    """Names that moved to :mod:`~wslab.classroom.banner`, :mod:`wslab.server.pages` and
    :mod:`wslab.server.chat_server` in 0.2 (with a DeprecationWarning)."""
    return renamed_attribute(__name__, name)

if __name__ == "__main__":
    sys.exit(main())
