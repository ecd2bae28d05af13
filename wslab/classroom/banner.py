"""What ``wslab serve`` prints: the banner with every link to share, and a line per server event.

The banner is the instructor's contract: the learners' links (browser page and
notebook URL, per network address), the token and the short join code, the
admin channel and its token, a dashboard line to paste into a notebook (with the
real CA file under TLS, so it works as printed), whether the secrets survive a
restart, and a QR code of the join link for phones. Tests read it as an
instructor would (``tests/support/serving.py``).
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TextIO
from urllib.parse import quote

from wslab.classroom.options import ServeOptions
from wslab.classroom.qr import qr_text
from wslab.core.admin_protocol import ADMIN_PATH
from wslab.core.admission import format_join_code
from wslab.kernel.jupyter_links import proxied_url
from wslab.server.chat_server import ServerEvent
from wslab.server.config import is_loopback

__all__ = ["join_link", "join_urls", "print_banner", "print_event"]


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


def join_link(host: str, port: int, token: str | None, room: str, *, tls: bool = False) -> str | None:
    """The link a phone scans: the first browser link on the network; None when only this machine listens."""
    where, page, _chat = join_urls(host, port, token, room, tls=tls)[0]
    return page if where == "on the network" else None


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
    """Print what the instructor shares and keeps (see the module's docstring), ending "Press Ctrl-C to stop."."""
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
    ca_arg = f", cafile={Path(options.cafile).name!r}" if options.cafile else ""
    print(
        f"  In a notebook: from wslab.ui import ChatUI; "
        f"ChatUI({base!r}, 'YOUR NAME', room={options.room!r}{token_arg}{ca_arg})",
        file=out,
    )
    if options.cafile:
        print(f"  Notebooks need the CA certificate {options.cafile} (no secret in it): share that file", file=out)
    kept = options.kept
    print(f"  {_secret_line('Token', 'token', cfg.token, options.token_generated, options)}", file=out)
    if options.join_code:
        short = urls[0][1].partition("?")[0]
        print(f"  Join code (type it on the page at {short} instead of the token): "
              f"{format_join_code(options.join_code)}", file=out)
    if cfg.allowed_origins:
        print(f"  Browser origins allowed besides this page: {', '.join(cfg.allowed_origins)}", file=out)
    admin_url = f"{'wss' if tls else 'ws'}://127.0.0.1:{port}{ADMIN_PATH}"
    print(f"  {'Admin (instructor only):':<30} {admin_url}", file=out)
    admin = _secret_line("Admin token", "admin_token", options.admin_token, options.admin_token_generated, options)
    print(f"  {admin}", file=out)
    dashboard_ca = f", cafile={options.cafile!r}" if options.cafile else ""
    print(
        f"  Dashboard: from wslab.classroom.instructor_dashboard import InstructorDashboard; "
        f"InstructorDashboard({admin_url!r}, admin_token={options.admin_token!r}, room={options.room!r}"
        f"{dashboard_ca})",
        file=out,
    )
    if tls:
        print(f"  TLS: wss:// and https:// only, certificate {cfg.certfile}", file=out)
        if options.tls_note:
            print(f"  TLS note: {options.tls_note}", file=out)
    fresh = [what for what, made in (
        ("the token", options.token_generated), ("the join code", bool(options.join_code)),
        ("the admin token", options.admin_token_generated),
    ) if made]
    if kept is None and fresh:
        print(
            f"  Restarts: {', '.join(fresh)} above {'is' if len(fresh) == 1 else 'are'} new at every start: "
            "after a restart the links and the dashboard stop working. --data DIR keeps them "
            "(or give --token and --admin-token)",
            file=out,
        )
    elif kept is not None:
        print(f"  Restarts: the tokens and the join code are kept in {kept.path} (mode 0600): "
              "links and the dashboard keep working", file=out)
    link = join_link(cfg.host, port, cfg.token, options.room, tls=tls)
    if link is not None:
        print("  Scan to join (the Browser link on the network):", file=out)
        out.write(qr_text(link, indent="  "))
    print("Press Ctrl-C to stop.", file=out, flush=True)


def _secret_line(label: str, key: str, value: str | None, generated: bool, options: ServeOptions) -> str:
    """``Token (...)`` or ``Admin token (...)``: where the secret came from and whether it lasts.

    The learners' token is shown unless it was given (the instructor has it); the admin token always.
    """
    if value is None:
        return "No token: only this machine can connect."
    kept = options.kept
    origin = kept.origins.get(key) if kept is not None else ("generated" if generated else "given")
    admin = key == "admin_token"
    if origin == "generated":
        how = "generated; keep it to yourself" if admin else "generated, share it with the room"
    elif origin == "kept":
        assert kept is not None
        how = f"kept in {kept.path} since an earlier run" + ("; keep it to yourself" if admin else "")
    else:
        how = f"the one given with --{key.replace('_', '-')}"
        if kept is not None and key in kept.replaced:
            how += f"; it replaced the one kept in {kept.path}: links with the old one no longer work"
        if not admin:
            return f"{label}: {how}."
    return f"{label} ({how}): {value}"


def print_event(event: ServerEvent, out: TextIO) -> None:
    if event.kind in ("start", "stop"):  # the banner and the closing lines say it
        return
    stamp = datetime.fromtimestamp(event.wall).strftime("%H:%M:%S")
    print(f"[{stamp}] {event.kind}: {event.text}", file=out, flush=True)
