"""What a wslab server answers to a plain HTTP GET: pages, static files, and how they are sent.

The chat server (:mod:`wslab.server.chat_server`) and the learner's own server
(:mod:`wslab.kernel.learner_server`) answer browsers with these:

* :func:`chat_page`: the browser chat page (``wslab/static/chat.html``) for a room;
* :func:`static_response`: a file from :data:`STATIC_DIR` at ``/static/<name>``;
* :data:`INDEX_HTML` and :func:`not_found_page`: the short page naming the endpoints;
* :func:`html_document`: every other page the server writes itself, in the one shape
  that says its language (``<html lang="en">``, WCAG 3.1.1) and has a title;
* :func:`html_response`: any body as an HTTP response that is never cached and,
  unless told otherwise, runs no inline code (:data:`CSP`).
"""

from __future__ import annotations

import html
import re
from http import HTTPStatus
from pathlib import Path

from websockets.datastructures import Headers
from websockets.http11 import Response

from wslab.core import protocol as p

__all__ = [
    "CSP",
    "INDEX_HTML",
    "STATIC_DIR",
    "chat_page",
    "html_document",
    "html_response",
    "not_found_page",
    "static_response",
]

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
"""Files served at ``GET /static/<name>`` (the browser chat page's script and style)."""



def html_document(title: str, body: str) -> str:
    """A whole HTML page: ``<!doctype html>``, ``<html lang="en">``, UTF-8, ``title`` (escaped), then ``body``.

    The one place the server's own pages get their language and title: every
    page it writes (the endpoints page, not found, forbidden) is made here.
    ``body`` is HTML, used as given: escape what it quotes.
    """
    return (
        '<!doctype html>\n<html lang="en">\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<main>\n{body}</main>\n</html>\n"
    )


INDEX_HTML = html_document(
    "wslab server",
    """<h1>wslab server</h1>
<p>This port speaks WebSocket. Endpoints:</p>
<ul><li><code>/echo</code>: echoes every frame</li>
<li><code>/chat</code>: the chat protocol</li>
<li><code>/healthz</code>: health check</li></ul>
<p>Connect with <code>wslab.WebSocket("ws://HOST/echo")</code> from a notebook.</p>
""",
)
"""The page at ``/`` of a server that was given no page of its own."""

CSP = (
    "default-src 'self'; connect-src 'self' ws: wss:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'"
)
"""No inline script or style anywhere: the page's code and style are files under /static/."""

_STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
_STATIC_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$")


def chat_page(room: str = p.DEFAULT_ROOM, *, join: bool = False) -> str:
    """The browser chat page (``wslab/static/chat.html``), opening ``room`` by default.

    Suitable for :attr:`ServerConfig.index_html <wslab.server.config.ServerConfig>`;
    the page loads ``static/chat.js`` and ``static/chat.css`` relative to itself.
    ``join``: the server serves ``join.json`` and ``join.svg`` (``wslab serve`` off
    loopback), so the start screen may offer the join QR code. Raises
    :class:`~wslab.core.errors.ProtocolError` for an invalid room name.
    """
    room = p.validate_room(room)
    page = (STATIC_DIR / "chat.html").read_text(encoding="utf-8")
    extra = ' data-join="join.json"' if join else ""
    return page.replace("<body ", f'<body data-room="{html.escape(room)}"{extra} ', 1)


def not_found_page(path: str) -> str:
    """The endpoints page, headed "Not found: ``path``" (the path shown as text, cut at 200 characters)."""
    shown = html.escape(path[:200])
    return INDEX_HTML.replace("<title>wslab server</title>", f"<title>Not found: {shown}</title>", 1).replace(
        "<h1>wslab server</h1>", f"<h1>Not found: {shown}</h1>", 1
    )


def static_response(name: str) -> Response:
    """A file straight from :data:`STATIC_DIR` (no sub-folders, no dot-files), or 404."""
    content_type = _STATIC_TYPES.get(Path(name).suffix)
    file = STATIC_DIR / name
    if content_type is None or not _STATIC_NAME.match(name) or not file.is_file():
        return html_response(HTTPStatus.NOT_FOUND, html_document("Not found", "<h1>Not found</h1>\n"))
    return html_response(HTTPStatus.OK, file.read_text(encoding="utf-8"), content_type)


def html_response(
    status: HTTPStatus, body: str, content_type: str = "text/html; charset=utf-8", *, csp: str | None = CSP
) -> Response:
    """``body`` as a complete HTTP response: never cached, the connection closed after it.

    ``csp`` is its Content-Security-Policy; ``None`` sends none (a learner's own
    page, whose script may be inline), and then no ``nosniff`` either.
    """
    data = body.encode()
    headers = Headers(
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(data))),
            ("Connection", "close"),
            ("Cache-Control", "no-store"),
        ]
    )
    if csp is not None:
        headers["Content-Security-Policy"] = csp
        headers["X-Content-Type-Options"] = "nosniff"
    return Response(status.value, status.phrase, headers, data)
