"""What ``wslab serve`` is asked for: its command-line options, validated into :class:`ServeOptions`.

The rules of a classroom server live here, once, for the command and for
:func:`~wslab.classroom.serve.start_classroom` in a kernel alike:

* bound to loopback by default; on any other address (``--host 0.0.0.0``) a
  token is required, generated when ``--token`` is not given;
* browsers' ``Origin`` must be the server's own page or one of ``--origin``;
* the admin channel's token is ``--admin-token`` or a generated one, and never
  the learners' token;
* ``--certfile``/``--keyfile`` are loaded once here, so a bad file is reported
  before anything listens; whether a notebook on this machine would trust the
  certificate is checked too (in memory), so the banner's notebook lines can
  name the CA file to give (``--cafile``, or the certificate itself when it is
  self-signed);
* ``--redis``, ``--workers`` and ``--data`` put the rooms in Redis or Valkey
  (``docs/scaling.md``); with ``--data`` the tokens and the join code are kept
  there too (:mod:`wslab.classroom.room_state`), so a restart keeps every link;
* secrets may come from the environment instead of the command line, where
  every local user's ``ps`` would show them: :data:`SECRET_ENV` (the workers of
  ``--workers`` get theirs that way).

Every function here raises :class:`ValueError` with a message naming the option.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from wslab.classroom.room_state import KeptSecrets, keep_secrets
from wslab.core import protocol as p
from wslab.core.admission import new_join_code, validate_join_code
from wslab.server.config import ServerConfig, generate_token, is_loopback
from wslab.server.pages import chat_page
from wslab.server.tls import server_context, trust_problem

__all__ = [
    "DEFAULT_PORT",
    "SECRET_ENV",
    "ServeOptions",
    "add_arguments",
    "classroom_options",
    "options_from_args",
]

SECRET_ENV = {
    "token": "WSLAB_TOKEN",
    "admin_token": "WSLAB_ADMIN_TOKEN",
    "redis": "WSLAB_REDIS",
    "join_code": "WSLAB_JOIN_CODE",
}
"""Where ``wslab serve`` reads a secret that was not given on the command line: option -> environment
variable. A process's environment is readable by its own user and root only; its command line, by
every local user (``ps``). ``WSLAB_JOIN_CODE`` is how the workers of ``--workers`` share the join code."""

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
    """``--data``: the directory of the embedded Valkey's append-only file (and of the kept secrets)."""
    banner: bool = True
    join_code: str | None = None
    """The short code learners may type instead of the token (None without a token)."""
    kept: KeptSecrets | None = None
    """With ``--data``: the secrets kept there, and where each came from (None: nothing is kept)."""
    cafile: str | None = None
    """With TLS: the CA file (absolute path) a notebook on this machine must be given to trust the
    certificate; None when the system trusts it already, or no such file is known (see ``tls_note``)."""
    tls_note: str | None = None
    """With TLS: why a notebook on this machine cannot trust the certificate as the banner prints it, if so."""


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
        "off loopback one is generated when not given (and kept with --data). "
        "On a shared machine prefer the environment variable WSLAB_TOKEN: every local user's ps shows "
        "a command line",
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
        help="keep the rooms in this Redis 7+ or Valkey 8+ (redis://[:PASSWORD@]host:port/0), shared with every "
        "wslab serve pointed at it: how to run on several machines (docs/scaling.md). "
        "Or the environment variable WSLAB_REDIS, which keeps a password out of ps",
    )
    parser.add_argument(
        "--workers", type=int, default=1, metavar="N",
        help="run N processes on one port (SO_REUSEPORT) sharing the rooms; without --redis they "
        "share an embedded Valkey that wslab starts and stops",
    )
    parser.add_argument(
        "--data", metavar="DIR",
        help="keep the rooms' history in DIR through the embedded Valkey's append-only file, "
        "so a restart (even after kill -9) loses nothing sent more than a second before; the tokens and "
        "the join code are kept there too (wslab-room.json, mode 0600), so links and the dashboard keep working",
    )
    parser.add_argument(
        "--admin-token",
        help="the secret of the instructor's admin channel (/admin, for InstructorDashboard); "
        "generated and printed when not given (and kept with --data); must differ from --token. "
        "Or the environment variable WSLAB_ADMIN_TOKEN",
    )
    parser.add_argument(
        "--certfile", help="a PEM certificate (chain): serve wss:// and the page over https:// on the same port"
    )
    parser.add_argument("--keyfile", help="the certificate's private key (PEM), if it is not in --certfile")
    parser.add_argument(
        "--cafile",
        help="the certificate (PEM) of the CA that issued --certfile, when this machine does not trust it "
        "already: the banner's notebook lines name it, so they work when pasted",
    )
    # Internal: how --workers starts each worker.
    parser.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-banner", action="store_true", help=argparse.SUPPRESS)


def options_from_args(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> ServeOptions:
    """Validate parsed arguments into a :class:`ServeOptions`; raises :class:`ValueError` with a clear message.

    A secret not given as an option is read from ``env`` (default: this process's
    environment), see :data:`SECRET_ENV`.
    """
    env = os.environ if env is None else env

    def secret(option: str) -> str | None:
        given = getattr(args, option, None)
        return given if given is not None else (env.get(SECRET_ENV[option]) or None)

    token, admin_token, join_code = secret("token"), secret("admin_token"), secret("join_code")
    options = classroom_options(
        args.host, args.port, token=token, room=args.room, origins=args.origin,
        admin_token=admin_token, certfile=getattr(args, "certfile", None),
        keyfile=getattr(args, "keyfile", None), cafile=getattr(args, "cafile", None), join_code=join_code,
    )
    workers, redis, data = getattr(args, "workers", 1), secret("redis"), getattr(args, "data", None)
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
    options = replace(
        options, config=config, redis=redis, workers=workers, data=data,
        banner=not getattr(args, "no_banner", False),
    )
    return options if data is None else _kept(options, data, token, admin_token)


def _kept(options: ServeOptions, data: str, token: str | None, admin_token: str | None) -> ServeOptions:
    """``options`` with the secrets kept in ``data`` (read, or made and written there)."""
    kept = keep_secrets(data, token=token, admin_token=admin_token, needs_token=not is_loopback(options.config.host))
    if kept.token is not None and kept.token == kept.admin_token:
        raise ValueError("--admin-token must differ from --token: learners must not be able to moderate")
    config = replace(options.config, token=kept.token, join_code=kept.join_code)
    return replace(
        options, config=config, kept=kept, join_code=kept.join_code, admin_token=kept.admin_token,
        token_generated=kept.origins.get("token") == "generated",
        admin_token_generated=kept.origins.get("admin_token") == "generated",
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
    cafile: str | None = None,
    join_code: str | None = None,
) -> ServeOptions:
    """The rules of ``wslab serve``, as a :class:`ServeOptions`; raises :class:`ValueError` with a clear message.

    Off loopback there is always a token: ``token``, or a generated one
    (``token_generated`` is then true); with a token comes a join code
    (``join_code``, or a generated one). ``/`` serves the chat page for ``room``.
    The admin token is ``admin_token`` or a generated one, and never equals
    the learners' token. ``certfile`` (and ``keyfile``) turn on TLS; they are
    loaded here once, so a bad file is reported before anything listens, and
    whether this machine trusts the certificate (with ``cafile``, the CA that
    issued it) decides the CA file the banner's notebook lines give.
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
    if cafile is not None and certfile is None:
        raise ValueError("--cafile goes with --certfile: it names the CA that issued the server's certificate")
    notebook_cafile, tls_note = _notebook_trust(certfile, keyfile, cafile) if certfile is not None else (None, None)
    if token is not None:
        try:
            join_code = new_join_code() if join_code is None else validate_join_code(join_code)
        except ValueError as exc:
            raise ValueError(f"{SECRET_ENV['join_code']}: {exc}") from None
    else:
        join_code = None
    config = ServerConfig(
        host=host,
        port=port,
        token=token,
        allowed_origins=allowed,
        index_html=chat_page(room, join=token is not None and not is_loopback(host)),
        certfile=certfile,
        keyfile=keyfile,
        join_code=join_code,
    )
    return ServeOptions(
        config=config, room=room, token_generated=generated,
        admin_token=admin_token, admin_token_generated=admin_generated,
        join_code=join_code, cafile=notebook_cafile, tls_note=tls_note,
    )


def _notebook_trust(certfile: str, keyfile: str | None, cafile: str | None) -> tuple[str | None, str | None]:
    """(the CA file a notebook here needs, or None; why it still cannot connect to 127.0.0.1, or None)."""
    try:
        context = server_context(certfile, keyfile)
    except ValueError as exc:
        raise ValueError(f"--certfile/--keyfile: {exc}") from None
    if cafile is not None:
        if not Path(cafile).is_file():
            raise ValueError(f"--cafile {cafile!r} does not exist")
        problem = trust_problem(context, cafile, hostname=None)
        if problem is not None:
            raise ValueError(f"--cafile {cafile!r} does not vouch for --certfile {certfile!r}: {problem}")
        needed: str | None = str(Path(cafile).resolve())
    elif trust_problem(context, None, hostname=None) is None:
        needed = None  # a certificate this machine trusts already (a public CA's, or one installed)
    elif trust_problem(context, certfile, hostname=None) is None:
        needed = str(Path(certfile).resolve())  # self-signed: the certificate is its own CA
    else:
        why = trust_problem(context, None, hostname=None)
        return None, (
            f"this machine does not trust the certificate ({why}) and no --cafile was given: notebooks "
            "need the CA that issued it (restart with --cafile CA.pem to have it named in the lines above)"
        )
    mismatch = trust_problem(context, needed, hostname="127.0.0.1")
    if mismatch is not None:
        return needed, (
            f"the certificate is not for 127.0.0.1 ({mismatch}): in the admin and notebook lines, "
            "use a name it was issued for instead"
        )
    return needed, None


def _check_origin(origin: str) -> str:
    if origin == "*":
        return origin
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/") or parts.query:
        raise ValueError(
            f"--origin {origin!r} is not an origin: write scheme://host[:port], e.g. http://localhost:8888"
        )
    return f"{parts.scheme}://{parts.netloc}"
