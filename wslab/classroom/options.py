"""What ``wslab serve`` is asked for: its command-line options, validated into :class:`ServeOptions`.

The rules of a classroom server live here, once, for the command and for
:func:`~wslab.classroom.serve.start_classroom` in a kernel alike:

* bound to loopback by default; on any other address (``--host 0.0.0.0``) a
  token is required, generated when ``--token`` is not given;
* browsers' ``Origin`` must be the server's own page or one of ``--origin``;
* the admin channel's token is ``--admin-token`` or a generated one, and never
  the learners' token;
* ``--certfile``/``--keyfile`` are loaded once here, so a bad file is reported
  before anything listens;
* ``--redis``, ``--workers`` and ``--data`` put the rooms in Redis or Valkey
  (``docs/scaling.md``).

Every function here raises :class:`ValueError` with a message naming the option.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from wslab.core import protocol as p
from wslab.server.config import ServerConfig, generate_token, is_loopback
from wslab.server.pages import chat_page
from wslab.server.tls import server_context

__all__ = [
    "DEFAULT_PORT",
    "ServeOptions",
    "add_arguments",
    "classroom_options",
    "options_from_args",
]

DEFAULT_PORT = 8765
"""The port ``wslab serve`` listens on unless told otherwise."""


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


def _check_origin(origin: str) -> str:
    if origin == "*":
        return origin
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/") or parts.query:
        raise ValueError(
            f"--origin {origin!r} is not an origin: write scheme://host[:port], e.g. http://localhost:8888"
        )
    return f"{parts.scheme}://{parts.netloc}"
