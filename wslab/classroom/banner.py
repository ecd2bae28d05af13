"""What ``wslab serve`` prints: the banner with every link to share, and a line per server event.

The banner is the instructor's contract: the learners' links (browser page and
notebook URL, per network address), the token, the admin channel and its token,
and a dashboard line to paste into a notebook. Tests read it as an instructor
would (``tests/support/serving.py``).
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Sequence
from datetime import datetime
from typing import TextIO
from urllib.parse import quote

from wslab.classroom.options import ServeOptions
from wslab.core.admin_protocol import ADMIN_PATH
from wslab.kernel.jupyter_links import proxied_url
from wslab.server.chat_server import ServerEvent
from wslab.server.config import is_loopback

__all__ = ["join_urls", "print_banner", "print_event"]


def join_urls(
    host: str, port: int, token: str | None, room: str, *, tls: bool = False
) -> list[tuple[str, str, str]]:
    """Where learners join: ``(where, browser page URL, notebook chat URL)`` for each address.

    A wildcard host (``0.0.0.0``, ``::``) lists this machine's own network
    addresses, found without sending anything (or its hostname), then loopback.
    With ``tls`` the URLs are ``https://`` and ``wss://``. When this process
    runs under a Jupyter server with jupyter-server-proxy, the browser page
    on this machine is given through the proxy
    (:func:`wslab.kernel.jupyter_links.proxied_url`), as a browser elsewhere cannot
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


def print_banner(options: ServeOptions, port: int, out: TextIO, rooms: Sequence[str] = ()) -> None:
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
        f"  Dashboard: from wslab.classroom.instructor_dashboard import InstructorDashboard; "
        f"InstructorDashboard({admin_url!r}, admin_token={options.admin_token!r}, room={options.room!r}"
        f"{', cafile=...' if tls else ''})",
        file=out,
    )
    if tls:
        print(f"  TLS: wss:// and https:// only, certificate {cfg.certfile}", file=out)
    print("Press Ctrl-C to stop.", file=out, flush=True)


def print_event(event: ServerEvent, out: TextIO) -> None:
    if event.kind in ("start", "stop"):  # the banner and the closing lines say it
        return
    stamp = datetime.fromtimestamp(event.wall).strftime("%H:%M:%S")
    print(f"[{stamp}] {event.kind}: {event.text}", file=out, flush=True)
