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
* ``/admin`` is the instructor's admin channel (:mod:`wslab.net.admin`),
  behind an admin token of its own (``--admin-token``, else generated and
  printed), never the learners' token;
* with ``--certfile``/``--keyfile`` it speaks TLS only: ``wss://`` and
  ``https://`` on the same port (:mod:`wslab.net.tls`);
* under a Jupyter server with jupyter-server-proxy (a JupyterLab terminal on
  JupyterHub, say), the browser link on this machine goes through the proxy
  (:mod:`wslab.net.jupyter`);
* Ctrl-C or SIGTERM closes every client with 1001 and exits with status 0.

This is a command-line program, so it prints: the URLs to join when it starts,
one line per notable server event, and a line when it stops.

With ``--redis URL``, ``--workers N`` or ``--data DIR`` the rooms live in
Redis or Valkey instead of this process (:mod:`wslab.classroom.cluster`,
``docs/scaling.md``); the banner says which engine serves them and where
their data lives.

Exit status: 0 after Ctrl-C/SIGTERM, 1 if the port is taken, binding fails or
the rooms' engine cannot be reached, 2 for a bad option.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import ipaddress
import os
import signal
import socket
import struct
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TextIO
from urllib.parse import quote, urlsplit

from wslab.core import protocol as p
from wslab.core.admin import ADMIN_PATH
from wslab.net.admin import install_admin
from wslab.net.backplane import Backplane, BackplaneError
from wslab.net.jupyter import proxied_url
from wslab.net.runtime import ServerHandle, start_server
from wslab.net.server import (
    STATIC_DIR,
    ChatServer,
    PortInUseError,
    ServerConfig,
    ServerEvent,
    generate_token,
    is_loopback,
)
from wslab.net.tls import server_context

__all__ = [
    "DEFAULT_PORT",
    "STATIC_DIR",
    "STOP_TIMEOUT",
    "ServeOptions",
    "add_arguments",
    "chat_page",
    "classroom_options",
    "is_loopback",
    "join_urls",
    "main",
    "options_from_args",
    "run",
    "serve",
    "start_classroom",
]

DEFAULT_PORT = 8765
"""The port ``wslab serve`` listens on unless told otherwise."""

"""Where the browser chat page lives (package data)."""

STOP_TIMEOUT = 5.0
"""Seconds the shutdown may take: closing every client, then the listening socket."""


def chat_page(room: str = p.DEFAULT_ROOM) -> str:
    """The browser chat page (``wslab/static/chat.html``), opening ``room`` by default.

    Suitable for :attr:`ServerConfig.index_html`; the page loads
    ``/static/chat.js`` and ``/static/chat.css`` from the same server. Raises
    :class:`~wslab.protocol.ProtocolError` for an invalid room name.
    """
    room = p.validate_room(room)
    page = (STATIC_DIR / "chat.html").read_text(encoding="utf-8")
    return page.replace("<body ", f'<body data-room="{html.escape(room)}" ', 1)


@dataclass(frozen=True)
class ServeOptions:
    """What ``wslab serve`` was asked for, validated; ``token_generated`` says where the token came from."""

    config: ServerConfig
    room: str
    token_generated: bool
    admin_token: str = field(default_factory=generate_token)
    """The admin channel's token (``/admin``); never the learners' token."""
    admin_token_generated: bool = True
    redis: str | None = None
    """``--redis``: the Redis or Valkey that holds the rooms (None: none, or an embedded one)."""
    workers: int = 1
    """``--workers``: processes sharing the port."""
    data: str | None = None
    """``--data``: the directory of the embedded Valkey's append-only file."""
    banner: bool = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``wslab serve``'s options to ``parser``."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "examples:\n"
        "  wslab serve                           # this machine only, no token needed\n"
        "  wslab serve --host 0.0.0.0            # the whole room: a token is generated and printed\n"
        "  wslab serve --host 0.0.0.0 --token s3cret --room workshop\n"
        "  wslab serve --host 0.0.0.0 --certfile cert.pem --keyfile key.pem   # wss:// and https://\n"
        "\nPress Ctrl-C to stop: every client is closed with code 1001 (going away)."
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this machine only; "
        "0.0.0.0 for every learner on the network, which requires a token)",
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT,
        help=f"port to listen on (default: {DEFAULT_PORT}; 0 picks a free one)",
    )
    parser.add_argument(
        "--token",
        help="the secret learners need to join (?token=... in their URL); "
        "off loopback one is generated when not given",
    )
    parser.add_argument(
        "--room", default=p.DEFAULT_ROOM, help=f"the room the printed links open (default: {p.DEFAULT_ROOM})"
    )
    parser.add_argument(
        "--origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="also accept browsers from this origin, e.g. http://localhost:8888 for JupyterLab "
        "(repeatable; the chat page served here is always allowed)",
    )
    parser.add_argument(
        "--redis", metavar="URL",
        help="keep the rooms in this Redis 7+ or Valkey 8+ (redis://host:port/0), shared with every "
        "wslab serve pointed at it: how to run on several machines (docs/scaling.md)",
    )
    parser.add_argument(
        "--workers", type=int, default=1, metavar="N",
        help="run N processes on one port (SO_REUSEPORT) sharing the rooms; without --redis they "
        "share an embedded Valkey that wslab starts and stops",
    )
    parser.add_argument(
        "--data", metavar="DIR",
        help="keep the rooms' history in DIR through the embedded Valkey's append-only file, "
        "so a restart (even after kill -9) loses nothing sent more than a second before",
    )
    parser.add_argument(
        "--admin-token",
        help="the secret of the instructor's admin channel (/admin, for InstructorDashboard); "
        "generated and printed when not given; must differ from --token",
    )
    parser.add_argument(
        "--certfile", help="a PEM certificate (chain): serve wss:// and the page over https:// on the same port"
    )
    parser.add_argument("--keyfile", help="the certificate's private key (PEM), if it is not in --certfile")
    # Internal: how --workers starts each worker.
    parser.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-banner", action="store_true", help=argparse.SUPPRESS)


def options_from_args(args: argparse.Namespace) -> ServeOptions:
    """Validate parsed arguments into a :class:`ServeOptions`; raises :class:`ValueError` with a clear message."""
    options = classroom_options(
        args.host, args.port, token=args.token, room=args.room, origins=args.origin,
        admin_token=getattr(args, "admin_token", None), certfile=getattr(args, "certfile", None),
        keyfile=getattr(args, "keyfile", None),
    )
    workers, redis, data = getattr(args, "workers", 1), getattr(args, "redis", None), getattr(args, "data", None)
    if not 1 <= workers <= 64:
        raise ValueError(f"--workers must be 1 to 64, got {workers}")
    if redis is not None and not redis.startswith(("redis://", "rediss://", "unix://", "valkey://", "valkeys://")):
        raise ValueError(f"--redis {redis!r} is not a Redis URL: write redis://host:port/0")
    if redis is not None and data is not None:
        raise ValueError("--data keeps the embedded Valkey's file; with --redis the data lives in that engine")
    if data is not None and not data.strip():
        raise ValueError("--data must name a directory")
    config = options.config
    if getattr(args, "reuse_port", False):
        config = replace(config, reuse_port=True)
    return replace(
        options, config=config, redis=redis, workers=workers, data=data,
        banner=not getattr(args, "no_banner", False),
    )


def classroom_options(
    host: str,
    port: int = DEFAULT_PORT,
    *,
    token: str | None = None,
    room: str = p.DEFAULT_ROOM,
    origins: Iterable[str] = (),
    admin_token: str | None = None,
    certfile: str | None = None,
    keyfile: str | None = None,
) -> ServeOptions:
    """The rules of ``wslab serve``, as a :class:`ServeOptions`; raises :class:`ValueError` with a clear message.

    Off loopback there is always a token: ``token``, or a generated one
    (``token_generated`` is then true). ``/`` serves the chat page for ``room``.
    The admin token is ``admin_token`` or a generated one, and never equals
    the learners' token. ``certfile`` (and ``keyfile``) turn on TLS; they are
    loaded here once, so a bad file is reported before anything listens.
    """
    host = str(host).strip()
    if not host:
        raise ValueError("--host must not be empty")
    if not 0 <= port <= 65535:
        raise ValueError(f"--port must be 0 to 65535, got {port}")
    try:
        room = p.validate_room(room)
    except p.ProtocolError as exc:
        raise ValueError(f"--room: {exc.message}") from None
    allowed = tuple(_check_origin(origin) for origin in origins)
    generated = False
    if token is not None:
        if not token or len(token) > 256 or any(ch.isspace() for ch in token):
            raise ValueError("--token must be 1 to 256 characters with no spaces")
    elif not is_loopback(host):
        token, generated = generate_token(), True
    admin_generated = admin_token is None
    if admin_token is None:
        admin_token = generate_token()
    elif not admin_token or len(admin_token) > 256 or any(ch.isspace() for ch in admin_token):
        raise ValueError("--admin-token must be 1 to 256 characters with no spaces")
    if admin_token == token:
        raise ValueError("--admin-token must differ from --token: learners must not be able to moderate")
    if keyfile is not None and certfile is None:
        raise ValueError("--keyfile needs --certfile")
    if certfile is not None:
        try:
            server_context(certfile, keyfile)
        except ValueError as exc:
            raise ValueError(f"--certfile/--keyfile: {exc}") from None
    config = ServerConfig(
        host=host,
        port=port,
        token=token,
        allowed_origins=allowed,
        index_html=chat_page(room),
        certfile=certfile,
        keyfile=keyfile,
    )
    return ServeOptions(
        config=config, room=room, token_generated=generated,
        admin_token=admin_token, admin_token_generated=admin_generated,
    )


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
    chat page. Returns the :class:`~wslab.runtime.ServerHandle`; pass it to
    :class:`~wslab.dashboard.InstructorDashboard`, and see
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


def _check_origin(origin: str) -> str:
    if origin == "*":
        return origin
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/") or parts.query:
        raise ValueError(
            f"--origin {origin!r} is not an origin: write scheme://host[:port], e.g. http://localhost:8888"
        )
    return f"{parts.scheme}://{parts.netloc}"


def join_urls(
    host: str, port: int, token: str | None, room: str, *, tls: bool = False
) -> list[tuple[str, str, str]]:
    """Where learners join: ``(where, browser page URL, notebook chat URL)`` for each address.

    A wildcard host (``0.0.0.0``, ``::``) lists this machine's own network
    addresses, found without sending anything (or its hostname), then loopback.
    With ``tls`` the URLs are ``https://`` and ``wss://``. When this process
    runs under a Jupyter server with jupyter-server-proxy, the browser page
    on this machine is given through the proxy
    (:func:`wslab.net.jupyter.proxied_url`), as a browser elsewhere cannot
    reach this machine's loopback; the notebook URLs stay direct.
    """
    query = f"?token={quote(token, safe='')}" if token else ""
    page_query = f"{query}&room={room}" if query else f"?room={room}"
    hosts: list[tuple[str, str]] = []
    if host in ("0.0.0.0", "::", ""):
        found = _interface_addresses() or [socket.gethostname()]
        hosts += [("on the network", address) for address in found]
        hosts.append(("on this machine", "127.0.0.1"))
    else:
        hosts.append(("on this machine" if is_loopback(host) else "on the network", host))
    http, ws = ("https", "wss") if tls else ("http", "ws")
    urls = []
    for where, address in hosts:
        shown = f"[{address}]" if ":" in address else address
        page = f"{http}://{shown}:{port}/{page_query}"
        if is_loopback(address):
            page = proxied_url(port, page_query, direct=page)
        urls.append((where, page, f"{ws}://{shown}:{port}/chat{query}"))
    return urls


def _interface_addresses() -> list[str]:
    """This machine's non-loopback IPv4 addresses (Linux ioctl; empty elsewhere). Sends no packets."""
    addresses: list[str] = []
    try:
        import fcntl  # not on Windows: there the hostname is printed instead

        names = [name for _, name in socket.if_nameindex()]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            for name in names:
                try:
                    packed = fcntl.ioctl(probe.fileno(), 0x8915, struct.pack("256s", name.encode()[:15]))  # SIOCGIFADDR
                except OSError:
                    continue
                address = socket.inet_ntoa(packed[20:24])
                if not ipaddress.ip_address(address).is_loopback and address not in addresses:
                    addresses.append(address)
    except (ImportError, OSError, AttributeError):
        pass
    return addresses


def _print_banner(options: ServeOptions, port: int, out: TextIO, rooms: Sequence[str] = ()) -> None:
    cfg = options.config
    print(f"wslab serve: listening on {cfg.host}:{port}, room {options.room!r}", file=out)
    for line in rooms:  # which engine serves the rooms, and where their data lives
        print(f"  {line}", file=out)
    tls = cfg.certfile is not None
    urls = join_urls(cfg.host, port, cfg.token, options.room, tls=tls)
    for where, page_url, chat_url in urls:
        print(f"  {f'Browser ({where}):':<30} {page_url}", file=out)
        print(f"  {f'Notebook ({where}):':<30} {chat_url}  (room {options.room!r})", file=out)
    base = urls[0][2].partition("?")[0]
    token_arg = f", token={cfg.token!r}" if cfg.token else ""
    print(
        f"  In a notebook: from wslab.ui import ChatUI; "
        f"ChatUI({base!r}, 'YOUR NAME', room={options.room!r}{token_arg})",
        file=out,
    )
    if cfg.token is None:
        print("  No token: only this machine can connect.", file=out)
    elif options.token_generated:
        print(f"  Token (generated, share it with the room): {cfg.token}", file=out)
    else:
        print("  Token: the one given with --token.", file=out)
    if cfg.allowed_origins:
        print(f"  Browser origins allowed besides this page: {', '.join(cfg.allowed_origins)}", file=out)
    admin_url = f"{'wss' if tls else 'ws'}://127.0.0.1:{port}{ADMIN_PATH}"
    print(f"  {'Admin (instructor only):':<30} {admin_url}", file=out)
    made = "generated; keep it to yourself" if options.admin_token_generated else "the one given with --admin-token"
    print(f"  Admin token ({made}): {options.admin_token}", file=out)
    print(
        f"  Dashboard: from wslab.classroom.instructor import InstructorDashboard; "
        f"InstructorDashboard({admin_url!r}, admin_token={options.admin_token!r}, room={options.room!r}"
        f"{', cafile=...' if tls else ''})",
        file=out,
    )
    if tls:
        print(f"  TLS: wss:// and https:// only, certificate {cfg.certfile}", file=out)
    print("Press Ctrl-C to stop.", file=out, flush=True)


def _print_event(event: ServerEvent, out: TextIO) -> None:
    if event.kind in ("start", "stop"):  # the banner and the closing lines say it
        return
    stamp = datetime.fromtimestamp(event.wall).strftime("%H:%M:%S")
    print(f"[{stamp}] {event.kind}: {event.text}", file=out, flush=True)


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
    install_admin(server, options.admin_token)
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
    server.listeners.append(lambda event: _print_event(event, out))
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
            _print_banner(options, server.port, out, rooms)
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


def run(args: argparse.Namespace) -> int:
    """Entry point for ``wslab serve``: validate, then serve in the foreground with :func:`asyncio.run`."""
    try:
        options = options_from_args(args)
    except ValueError as exc:
        print(f"wslab serve: error: {exc}", file=sys.stderr, flush=True)
        return 2
    if options.redis is not None or options.workers > 1 or options.data is not None:
        from wslab.classroom import cluster

        return cluster.run(options)
    try:
        return asyncio.run(serve(options))
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m wslab.serve``: the same as ``wslab serve``."""
    parser = argparse.ArgumentParser(prog="wslab serve", description="run the chat server for a classroom")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
