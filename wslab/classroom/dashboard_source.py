"""Where the instructor's dashboard reads and moderates a room: an in-kernel server or a running ``wslab serve``.

:func:`admin_source` turns what the dashboard is given into an
:class:`AdminSource`:

* a :class:`~wslab.kernel.course_server.ServerHandle` (``start_server()``,
  ``start_classroom()``): :class:`LocalAdmin`, which runs the admin
  operations on the server's own loop, each bounded by
  :data:`~wslab.kernel.course_server.CALL_TIMEOUT`;
* a URL (``ws://host:8765/admin``, as ``wslab serve`` prints) and the admin
  token: an :class:`~wslab.client.admin_client.AdminClient` over the admin channel;
* anything else with ``snapshot``/``kick``/``mute`` (a test double) as it is.

Either way the same operations run (:mod:`wslab.server.admin_route`), so every action
is logged by the server, saying who did it.
"""

from __future__ import annotations

import ssl
from typing import Any, Protocol

from wslab.client.admin_client import AdminClient
from wslab.client.tls import client_context
from wslab.core import protocol as p
from wslab.core.admin_protocol import AdminReport
from wslab.core.hub import RoomSnapshot
from wslab.kernel.course_server import ServerHandle
from wslab.server import admin_route as ops

__all__ = ["AdminSource", "LocalAdmin", "admin_source"]


class AdminSource(Protocol):
    """What the dashboard needs: a room's snapshot, and the two moderation buttons.

    Sources may also have ``report(room) -> AdminReport`` (members in detail
    and the server's health), ``announce(room, content) -> int`` and
    ``ban(room, name, banned)``; the dashboard shows those parts only for
    sources that have them.
    """

    def snapshot(self, room: str = ...) -> RoomSnapshot: ...

    def kick(self, room: str, name: str) -> None: ...

    def mute(self, room: str, name: str, muted: bool = True) -> None: ...


class LocalAdmin:
    """The admin operations on a server running in this kernel."""

    def __init__(self, handle: ServerHandle, who: str = "dashboard in the kernel") -> None:
        self.handle = handle
        self.who = who

    def _run(self, fn: Any, *args: Any) -> Any:
        async def run() -> Any:
            return fn(self.handle.server, *args)

        return self.handle.call(run())

    def report(self, room: str = p.DEFAULT_ROOM) -> AdminReport:
        result: AdminReport = self._run(ops.build_report, room)
        return result

    def snapshot(self, room: str = p.DEFAULT_ROOM) -> RoomSnapshot:
        return self.report(room).snapshot

    def kick(self, room: str, name: str) -> None:
        self._run(ops.kick, room, name, self.who)

    def mute(self, room: str, name: str, muted: bool = True) -> None:
        self._run(ops.mute, room, name, muted, self.who)

    def ban(self, room: str, name: str, banned: bool = True) -> None:
        self._run(ops.ban, room, name, banned, self.who)

    def announce(self, room: str, content: str) -> int:
        seq: int = self._run(ops.announce, room, content, self.who)
        return seq

    def __repr__(self) -> str:
        return f"LocalAdmin({self.handle!r})"


def admin_source(
    source: Any, *, admin_token: str | None = None, cafile: str | None = None, ssl: ssl.SSLContext | None = None
) -> Any:
    """The :class:`AdminSource` for ``source`` (see the module's docstring); :class:`ValueError` if it cannot be one."""
    if isinstance(source, str):
        if (cafile is not None or ssl is not None) and not source.startswith("wss:"):
            raise ValueError(f"cafile= and ssl= are for a wss:// admin URL, got {source!r}")
        if cafile is not None and ssl is not None:
            raise ValueError("give cafile= or ssl=, not both")
        if not admin_token:
            raise ValueError(
                "give admin_token= with an admin URL: the admin token wslab serve printed (not the learners' token)"
            )
        if ssl is None and (cafile is not None or source.startswith("wss:")):
            ssl = client_context(cafile)
        return AdminClient(source, admin_token, ssl=ssl)
    if admin_token is not None or cafile is not None or ssl is not None:
        raise ValueError(
            "admin_token=, cafile= and ssl= are for an admin URL (ws://HOST:PORT/admin), not a server object"
        )
    if isinstance(source, ServerHandle):
        return LocalAdmin(source)
    if all(callable(getattr(source, name, None)) for name in ("snapshot", "kick", "mute")):
        return source
    raise ValueError(
        f"the dashboard needs a server (wslab.start_server()) or an admin URL and token, not {type(source).__name__}"
    )
