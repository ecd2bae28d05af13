"""The admin client: a blocking client of a server's ``/admin`` channel, for the dashboard and scripts.

``AdminClient("ws://host:8765/admin", admin_token)`` speaks the requests and
answers of :mod:`wslab.core.admin_protocol` to the route that
:mod:`wslab.server.admin_route` installs on a server. Every call waits at most
``timeout`` seconds and raises :class:`~wslab.core.errors.AdminError` (the
server refused the request), :class:`RuntimeError` or :class:`TimeoutError`
with a sentence saying what went wrong.
"""

from __future__ import annotations

import itertools
import json
import ssl
import threading
from typing import Any
from urllib.parse import urlsplit

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as sync_connect

from wslab.client.tls import describe_failure
from wslab.core import protocol as p
from wslab.core.admin_protocol import ADMIN_PATH, AdminReport
from wslab.core.errors import AdminError
from wslab.core.hub import RoomSnapshot

__all__ = ["AdminClient", "ADMIN_TIMEOUT"]

ADMIN_TIMEOUT = 10.0
"""Seconds an :class:`AdminClient` call may take, connecting included."""


class AdminClient:
    """A blocking client of a server's admin channel, for the dashboard and scripts.

    ``AdminClient("ws://host:8765/admin", "ADMIN-TOKEN")``; for ``wss://``
    give ``ssl=`` a context that trusts the server's certificate. It connects
    on first use and again after the connection dropped; calls are
    serialised, each bounded by ``timeout``. Implements the dashboard's source:
    :meth:`report`, :meth:`snapshot`, :meth:`kick`, :meth:`ban`, :meth:`mute`, :meth:`announce`.
    """

    def __init__(
        self, url: str, token: str, *, ssl: ssl.SSLContext | None = None, timeout: float = ADMIN_TIMEOUT
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.netloc:
            raise ValueError(f"admin URL {url!r} must be ws://HOST:PORT/admin or wss://HOST:PORT/admin")
        if parts.path in ("", "/"):
            parts = parts._replace(path=ADMIN_PATH)
        self.url = parts._replace(query="").geturl()
        self._token = token
        self._ssl = ssl
        self.timeout = timeout
        self._ws: ClientConnection | None = None
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def _connection(self) -> ClientConnection:
        if self._ws is None:
            try:
                self._ws = sync_connect(
                    self.url,
                    additional_headers={"Authorization": f"Bearer {self._token}"},
                    open_timeout=self.timeout,
                    close_timeout=2.0,
                    ssl=self._ssl,
                    proxy=None,
                    legacy=True,  # a connection kept open across calls, closed by close()
                )
            except InvalidStatus as exc:
                raise RuntimeError(
                    f"the server at {self.url} refused the admin channel (HTTP {exc.response.status_code}); "
                    "is it a wslab serve new enough to have one?"
                ) from None
            except (OSError, InvalidHandshake) as exc:
                why = describe_failure(exc) or str(exc)
                raise RuntimeError(f"cannot reach the admin channel at {self.url}: {why}") from None
            except TimeoutError:
                raise TimeoutError(
                    f"the admin channel at {self.url} did not answer within {self.timeout:g} s"
                ) from None
        return self._ws

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send one request and return its answer; :class:`AdminError` if the server refused it.

        A connection that closed while idle (the server restarted, say) is opened
        again and the request sent on the new one: it had not left, so it goes once.
        """
        with self._lock:
            ws = self._connection()
            id_ = next(self._ids)
            frame = json.dumps({**message, "id": id_})
            try:
                try:
                    ws.send(frame)
                except ConnectionClosed as idle:
                    if idle.rcvd is not None and idle.rcvd.code == p.CLOSE_UNAUTHORIZED:
                        raise
                    self._ws = None  # closed while idle (a restart): nothing was sent; once more, on a new one
                    ws = self._connection()
                    ws.send(frame)
                while True:
                    answer = json.loads(ws.recv(timeout=self.timeout))
                    if answer.get("id") == id_:
                        break
            except ConnectionClosed as exc:
                self._ws = None
                code = exc.rcvd.code if exc.rcvd is not None else None
                if code == p.CLOSE_UNAUTHORIZED:
                    reason = exc.rcvd.reason if exc.rcvd is not None else ""
                    raise RuntimeError(f"the server refused the admin token ({reason})") from None
                raise RuntimeError(f"the admin channel closed (code {code}); the next call reconnects") from None
            except TimeoutError:
                self._close_quietly()
                raise TimeoutError(f"the admin channel did not answer within {self.timeout:g} s") from None
        if answer.get("type") == "error":
            raise AdminError(str(answer.get("code")), str(answer.get("message")))
        return dict(answer)

    def report(self, room: str = p.DEFAULT_ROOM) -> AdminReport:
        """The room in detail and the server's health."""
        return AdminReport.from_json(self.request({"type": "report", "room": room})["report"])

    def snapshot(self, room: str = p.DEFAULT_ROOM) -> RoomSnapshot:
        return self.report(room).snapshot

    def kick(self, room: str, name: str) -> None:
        self.request({"type": "kick", "room": room, "name": name})

    def mute(self, room: str, name: str, muted: bool = True) -> None:
        self.request({"type": "mute", "room": room, "name": name, "muted": muted})

    def ban(self, room: str, name: str, banned: bool = True) -> None:
        """Ban ``name`` from ``room`` (closed with 4004, their joins refused), or lift the ban."""
        self.request({"type": "ban", "room": room, "name": name, "banned": banned})

    def announce(self, room: str, content: str) -> int:
        """Post ``content`` to ``room`` as the instructor; returns its ``seq``."""
        return int(self.request({"type": "announce", "room": room, "content": content})["seq"])

    def _close_quietly(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            try:
                ws.close()
            except Exception:
                pass

    def close(self) -> None:
        """Close the connection (the next call opens a new one)."""
        with self._lock:
            self._close_quietly()

    def __repr__(self) -> str:
        return f"AdminClient({self.url!r})"
