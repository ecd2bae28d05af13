"""The admin channel's server side: an instructor watches and moderates a running server.

Two pieces, over the same operations (the client is :mod:`wslab.client.admin_client`):

* :func:`build_report`, :func:`kick`, :func:`ban`, :func:`mute`, :func:`announce`:
  what an admin may do to a :class:`~wslab.server.chat_server.ChatServer`, called
  on the server's loop. Every action is one line of the server's log (kind
  ``"admin"``), saying who did it.
* :class:`AdminChannel`: the ``/admin`` WebSocket route on the server's own
  port (:func:`install_admin`). It needs the *admin token* (``?token=`` or
  ``Authorization: Bearer``), which must differ from the learners' token; any
  other token, the learners' included, is refused: closed with 4001, logged.
  Requests and answers are :mod:`wslab.core.admin_protocol`'s.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from wslab.core import protocol as p
from wslab.core.admin_protocol import (
    ADMIN_PATH,
    SLOW_FRACTION,
    AdminReport,
    AdminRequest,
    AdminRequestError,
    Health,
    JoinInfo,
    MemberInfo,
    parse_request,
)
from wslab.core.errors import AdminError, ProtocolError
from wslab.server.chat_server import ChatServer, LocalPeer, given_token, peer_label

__all__ = [
    "ANNOUNCER",
    "AdminChannel",
    "RECENT_KINDS",
    "announce",
    "ban",
    "build_report",
    "install_admin",
    "kick",
    "mute",
]

ANNOUNCER = "Instructor"
"""The sender name announcements appear under."""

RECENT_KINDS = ("refused", "closed", "close", "slow", "admin", "fault", "tls")
"""The kinds of server log lines a report's health lists."""


# ------------------------------------------------------------------ the operations (on the server's loop)


def build_report(server: ChatServer, room: str, recent: int = 12, join: JoinInfo | None = None) -> AdminReport:
    """One room in detail, the server's health (its ``recent`` latest notable log lines), and ``join``.

    Call on the server's loop.
    """
    hub = server.hub
    snapshot = hub.snapshot(room)
    muted, typing = set(snapshot.muted), set(snapshot.typing)
    limit = server.config.slow_consumer_bytes
    members = []
    for conn, name, strikes in hub.members(room):
        queued = 0
        if isinstance(conn, ServerConnection) and conn.transport is not None:
            queued = conn.transport.get_write_buffer_size()
        members.append(
            MemberInfo(
                name=name, muted=name.casefold() in muted, typing=name in typing, strikes=strikes,
                queued_bytes=queued, slow=queued >= limit * SLOW_FRACTION,
            )
        )
    started = server.started_at
    lines = [e for e in server.events if e.kind in RECENT_KINDS][-recent:]
    health = Health(
        uptime=0.0 if started is None else max(0.0, server.clock.monotonic() - started),
        connections=hub.connection_count(),
        rooms=tuple(hub.rooms()),
        tls=server.config.certfile is not None,
        flood_strikes=server.config.flood_strikes,
        slow_consumer_bytes=limit,
        recent=tuple(f"{e.kind}: {e.text}" for e in lines),
    )
    return AdminReport(snapshot, tuple(members), health, join)


def kick(server: ChatServer, room: str, name: str, by: str) -> None:
    """Close ``name``'s connection in ``room`` with 4003 (they may join again); one log line naming ``by``.

    Call on the server's loop.
    """
    server.kick(room, name, by=by)


def ban(server: ChatServer, room: str, name: str, banned: bool, by: str) -> None:
    """Ban ``name`` from ``room`` (4004, joins refused) or lift the ban; one log line naming ``by``.

    Call on the server's loop.
    """
    server.ban(room, name, banned, by=by)


def mute(server: ChatServer, room: str, name: str, muted: bool, by: str) -> None:
    """Mute or unmute ``name`` in ``room``; one log line naming ``by``. Call on the server's loop."""
    server.mute(room, name, muted, by=by)


def announce(server: ChatServer, room: str, content: str, by: str) -> int:
    """Post ``content`` to ``room`` as :data:`ANNOUNCER`; returns its ``seq``. Call on the server's loop.

    The announcer joins, says it and leaves within one presence interval, so
    learners see the message and no one joining. Raises :class:`AdminError`
    when the room refuses it (someone in the room is called ``Instructor``, or
    the content breaks the chat's rules), and nothing is posted then.
    """
    frames: list[dict[str, Any]] = []
    peer: LocalPeer = server.attach_local(lambda frame: frames.append(json.loads(frame)), label="announcer")
    try:
        peer.send(p.encode({"type": "join", "name": ANNOUNCER, "room": room}))
        error = next((f for f in frames if f.get("type") == "error"), None)
        if error is not None:
            raise AdminError(str(error.get("code")), f"cannot announce in {room}: {error.get('message')}")
        frames.clear()
        peer.send(p.encode({"type": "chat", "content": content, "id": "announcement"}))
        for frame in frames:
            if frame.get("type") == "error":
                raise AdminError(str(frame.get("code")), f"cannot announce in {room}: {frame.get('message')}")
            if frame.get("type") == "ack":
                server.record("admin", f"{by} announces in {room}: {content[:80]!r}")
                return int(frame["seq"])
        raise AdminError("no-ack", f"the room {room} did not take the announcement")
    finally:
        peer.close()


# ------------------------------------------------------------------ the /admin route


class AdminChannel:
    """The ``/admin`` route of one server; see :func:`install_admin`."""

    def __init__(self, server: ChatServer, token: str, join: JoinInfo | None = None) -> None:
        if not token or any(ch.isspace() for ch in token) or len(token) > 256:
            raise ValueError("the admin token must be 1 to 256 characters with no spaces")
        if server.config.token is not None and hmac.compare_digest(token.encode(), server.config.token.encode()):
            raise ValueError("the admin token must differ from the learners' token")
        self.server = server
        self.token = token
        self.join = join
        """How learners join, sent with every report (for the dashboard's QR code); set it once it is known."""

    async def handle(self, ws: ServerConnection) -> None:
        """Serve one admin connection: refuse a wrong token (4001), then answer requests until it closes."""
        who = f"admin at {peer_label(ws)}"
        given = given_token(ws.request)
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            learners = self.server.config.token
            if not given:
                why = "missing admin token"
            elif learners is not None and hmac.compare_digest(given.encode(), learners.encode()):
                why = "the learners' token is not the admin token"
            else:
                why = "wrong admin token"
            self.server.record("refused", f"admin channel: {why}, from {peer_label(ws)}")
            await ws.close(p.CLOSE_UNAUTHORIZED, f"{why}: use the admin token wslab serve printed")
            return
        self.server.record("admin", f"{who} connected")
        try:
            async for frame in ws:
                await ws.send(p.encode(self.answer(frame, who)))
        except ConnectionClosed:
            pass
        finally:
            self.server.record("admin", f"{who} left")

    def answer(self, frame: str | bytes, who: str) -> dict[str, Any]:
        """The answer to one admin frame (an ``error`` for a bad one; nothing changes then)."""
        id_: Any = None
        try:
            request = parse_request(frame)
            id_ = request.id
            return {"id": id_, **self._perform(request, who)}
        except ProtocolError as exc:
            id_ = exc.request_id if isinstance(exc, AdminRequestError) else id_
            answer = {"type": "error", "id": id_, "code": exc.code, "message": exc.message}
            return answer if exc.field is None else {**answer, "field": exc.field}
        except AdminError as exc:
            return {"type": "error", "id": id_, "code": exc.code, "message": str(exc)}

    def _perform(self, request: AdminRequest, who: str) -> dict[str, Any]:
        server = self.server
        if request.type == "report":
            return {"type": "report", "report": build_report(server, request.room, join=self.join).to_json()}
        if request.type == "announce":
            assert request.content is not None
            seq = announce(server, request.room, request.content, who)
            return {"type": "done", "action": "announce", "seq": seq}
        assert request.name is not None
        if request.type == "kick":
            kick(server, request.room, request.name, who)
        elif request.type == "ban":
            ban(server, request.room, request.name, bool(request.banned), who)
        else:
            mute(server, request.room, request.name, bool(request.muted), who)
        return {"type": "done", "action": request.type}


def install_admin(server: ChatServer, token: str, join: JoinInfo | None = None) -> AdminChannel:
    """Open the admin channel on ``server`` (at :data:`~wslab.core.admin_protocol.ADMIN_PATH`) with ``token``.

    ``join`` (or :attr:`AdminChannel.join` later) says how learners join. Raises
    :class:`ValueError` for an empty token or one equal to the learners'.
    """
    channel = AdminChannel(server, token, join)
    server.routes[ADMIN_PATH] = channel.handle
    return channel
