"""The admin channel's protocol, sans I/O: what an instructor's dashboard may ask a server.

The admin channel is a WebSocket route (``/admin``) on the chat server's own
port, authenticated by an *admin token* that is never the learners' token
(``docs/protocol.md``, section **Admin channel**). Every frame is one JSON
object with a string ``type``; every request may carry an ``id`` (an integer
or a string of at most :data:`~wslab.core.protocol.MAX_CLIENT_ID_CHARS`
characters), which the answer repeats.

Requests: ``report`` (``room``), ``kick`` (``room``, ``name``), ``ban``
(``room``, ``name``, ``banned``), ``mute`` (``room``, ``name``, ``muted``),
``announce`` (``room``, ``content``).
Answers: ``report`` (``report``: an :class:`AdminReport` as JSON), ``done``
(``action``, and ``seq`` for an announcement), or ``error`` (``code``,
``message``). A bad request gets one ``error`` and changes nothing.

This module parses requests (:func:`parse_request`) and turns reports into
JSON and back (:meth:`AdminReport.to_json`, :meth:`AdminReport.from_json`);
the asyncio shell is :mod:`wslab.server.admin_route`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from wslab.core import protocol as p
from wslab.core.errors import AdminRequestError, ProtocolError
from wslab.core.hub import RoomSnapshot

__all__ = [
    "ADMIN_PATH",
    "ADMIN_REQUESTS",
    "AdminRequest",
    "AdminRequestError",
    "AdminReport",
    "Health",
    "JoinInfo",
    "MemberInfo",
    "parse_request",
    "SLOW_FRACTION",
]

ADMIN_PATH = "/admin"
"""The admin channel's path on the server's port."""

ADMIN_REQUESTS = ("report", "kick", "ban", "mute", "announce")
"""The request types the admin channel understands."""

SLOW_FRACTION = 0.25
"""A member counts as *slow* once this fraction of the slow-consumer limit waits in its queue."""


@dataclass(frozen=True)
class AdminRequest:
    """One parsed admin request; fields that its ``type`` does not use are None."""

    type: str
    id: int | str | None
    room: str
    name: str | None = None
    muted: bool | None = None
    content: str | None = None
    banned: bool | None = None



def _field(obj: dict[str, Any], key: str, type_: str) -> Any:
    if key not in obj:
        raise ProtocolError(p.ErrorCode.BAD_FIELD, f"admin {type_!r} needs the field {key!r}", field=key)
    return obj[key]


def parse_request(frame: str | bytes) -> AdminRequest:
    """Parse one admin frame; raises :class:`~wslab.core.errors.ProtocolError` with a clear message.

    Names, rooms and content are checked with the chat protocol's own rules,
    so nothing an admin sends can put into a room what a learner could not.
    """
    if isinstance(frame, bytes):
        raise ProtocolError(p.ErrorCode.BINARY, "the admin channel takes JSON text frames, not binary")
    try:
        obj = json.loads(frame, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(p.ErrorCode.BAD_JSON, f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ProtocolError(p.ErrorCode.BAD_JSON, "an admin request is a JSON object")
    type_ = obj.get("type")
    id_ = obj.get("id")
    if type_ not in ADMIN_REQUESTS:
        error = ProtocolError(
            p.ErrorCode.BAD_TYPE,
            f"unknown admin request {str(type_)[:40]!r}; expected one of: {', '.join(ADMIN_REQUESTS)}",
            field="type",
        )
        readable = (isinstance(id_, int) and not isinstance(id_, bool)) or (
            isinstance(id_, str) and 0 < len(id_) <= p.MAX_CLIENT_ID_CHARS and p.is_valid_unicode(id_)
        )
        raise AdminRequestError(error, id_ if readable else None)
    if id_ is not None and not (
        (isinstance(id_, int) and not isinstance(id_, bool))
        or (isinstance(id_, str) and 0 < len(id_) <= p.MAX_CLIENT_ID_CHARS and p.is_valid_unicode(id_))
    ):
        raise ProtocolError(p.ErrorCode.BAD_FIELD, "'id' must be an integer or a short string", field="id")
    try:
        return _parse_fields(obj, type_, id_)
    except AdminRequestError:
        raise
    except ProtocolError as exc:
        raise AdminRequestError(exc, id_) from None


def _parse_fields(obj: dict[str, Any], type_: str, id_: int | str | None) -> AdminRequest:
    room = p.validate_room(obj.get("room", p.DEFAULT_ROOM))
    if type_ == "report":
        return AdminRequest("report", id_, room)
    if type_ == "announce":
        content = _field(obj, "content", type_)
        if not isinstance(content, str) or not p.is_valid_unicode(content) or not content.strip():
            raise ProtocolError(p.ErrorCode.BAD_FIELD, "'content' must be text that is not blank", field="content")
        if len(content) > p.MAX_CONTENT_CHARS:
            raise ProtocolError(
                p.ErrorCode.BAD_FIELD,
                f"'content' is {len(content)} characters; the limit is {p.MAX_CONTENT_CHARS}",
                field="content",
            )
        return AdminRequest("announce", id_, room, content=content)
    name = p.validate_name(_field(obj, "name", type_))
    if type_ == "kick":
        return AdminRequest("kick", id_, room, name=name)
    if type_ == "ban":
        banned = obj.get("banned", True)
        if not isinstance(banned, bool):
            raise ProtocolError(p.ErrorCode.BAD_FIELD, "'banned' must be true or false", field="banned")
        return AdminRequest("ban", id_, room, name=name, banned=banned)
    muted = obj.get("muted", True)
    if not isinstance(muted, bool):
        raise ProtocolError(p.ErrorCode.BAD_FIELD, "'muted' must be true or false", field="muted")
    return AdminRequest("mute", id_, room, name=name, muted=muted)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


@dataclass(frozen=True)
class MemberInfo:
    """One person in a room, as the admin sees them."""

    name: str
    muted: bool
    typing: bool
    strikes: int
    """Frames dropped for going over the rate limit (at ``flood_strikes`` the server closes with 1008)."""
    queued_bytes: int
    """Bytes waiting in the server's send queue for this person (0 for in-process bots)."""
    slow: bool
    """True once :data:`SLOW_FRACTION` of the slow-consumer limit waits for them."""

    @property
    def flooding(self) -> bool:
        """True if they went over the rate limit at least once."""
        return self.strikes > 0


@dataclass(frozen=True)
class Health:
    """How the server is doing."""

    uptime: float
    connections: int
    rooms: tuple[str, ...]
    tls: bool
    flood_strikes: int
    slow_consumer_bytes: int
    recent: tuple[str, ...]
    """The server's latest notable log lines (refusals, closes, slow clients, admin actions), oldest first."""


@dataclass(frozen=True)
class JoinInfo:
    """How learners join, for the dashboard's QR code: the link phones open (token included), the page
    where the join code is typed instead, and the code (``K7Q-P3M``, or None)."""

    link: str
    page: str
    code: str | None = None


@dataclass(frozen=True)
class AdminReport:
    """Everything the dashboard shows: one room, its members in detail, the server's health, and how to join."""

    snapshot: RoomSnapshot
    members: tuple[MemberInfo, ...]
    health: Health
    join: JoinInfo | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (the ``report`` field of the admin channel's answer)."""
        s, h = self.snapshot, self.health
        return {
            "room": s.room,
            "online": list(s.online),
            "typing": list(s.typing),
            "muted": list(s.muted),
            "banned": list(s.banned),
            "messages": s.messages,
            "messages_last_minute": s.messages_last_minute,
            "members": [
                {
                    "name": m.name, "muted": m.muted, "typing": m.typing, "strikes": m.strikes,
                    "queued_bytes": m.queued_bytes, "slow": m.slow,
                }
                for m in self.members
            ],
            "health": {
                "uptime": h.uptime, "connections": h.connections, "rooms": list(h.rooms), "tls": h.tls,
                "flood_strikes": h.flood_strikes, "slow_consumer_bytes": h.slow_consumer_bytes,
                "recent": list(h.recent),
            },
            "join": None if self.join is None else {
                "link": self.join.link, "page": self.join.page, "code": self.join.code,
            },
        }

    @classmethod
    def from_json(cls, obj: Any) -> AdminReport:
        """The inverse of :meth:`to_json`; raises :class:`ValueError` for anything else."""
        try:
            snapshot = RoomSnapshot(
                room=str(obj["room"]),
                online=tuple(str(n) for n in obj["online"]),
                typing=tuple(str(n) for n in obj["typing"]),
                muted=tuple(str(n) for n in obj["muted"]),
                messages=int(obj["messages"]),
                messages_last_minute=int(obj["messages_last_minute"]),
                banned=tuple(str(n) for n in obj.get("banned", ())),
            )
            members = tuple(
                MemberInfo(
                    name=str(m["name"]), muted=bool(m["muted"]), typing=bool(m["typing"]),
                    strikes=int(m["strikes"]), queued_bytes=int(m["queued_bytes"]), slow=bool(m["slow"]),
                )
                for m in obj["members"]
            )
            h = obj["health"]
            health = Health(
                uptime=float(h["uptime"]), connections=int(h["connections"]),
                rooms=tuple(str(r) for r in h["rooms"]), tls=bool(h["tls"]),
                flood_strikes=int(h["flood_strikes"]), slow_consumer_bytes=int(h["slow_consumer_bytes"]),
                recent=tuple(str(line) for line in h["recent"]),
            )
            j = obj.get("join")
            join = None if j is None else JoinInfo(
                str(j["link"]), str(j["page"]), None if j.get("code") is None else str(j["code"])
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not an admin report: {exc!r}") from None
        return cls(snapshot, members, health, join)
