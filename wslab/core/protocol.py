"""The wslab chat protocol, sans I/O: parse what clients send, encode what the server sends.

Every frame on ``/chat`` is one JSON object in a text frame with a ``type``
field. :func:`parse_client_frame` turns a frame into one of the typed
messages below or raises :class:`ProtocolError` carrying the ``code`` and
``message`` that the server sends back in an ``error`` frame. Nothing here
touches a socket or a clock. ``docs/protocol.md`` is the human version of
this module; keep them in step.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Union

from wslab.core.errors import ProtocolError

__all__ = [
    # limits
    "MAX_FRAME_BYTES",
    "MAX_CONTENT_CHARS",
    "MAX_NAME_CHARS",
    "MAX_ROOM_CHARS",
    "MAX_CLIENT_ID_CHARS",
    "HISTORY_SIZE",
    "TYPING_TIMEOUT",
    "RATE_PER_SECOND",
    "RATE_BURST",
    "FLOOD_STRIKES",
    "SLOW_CONSUMER_BYTES",
    "DEFAULT_ROOM",
    # close codes
    "CLOSE_NORMAL",
    "CLOSE_GOING_AWAY",
    "CLOSE_POLICY_VIOLATION",
    "CLOSE_TOO_BIG",
    "CLOSE_SERVICE_RESTART",
    "CLOSE_TRY_AGAIN_LATER",
    "CLOSE_UNAUTHORIZED",
    "CLOSE_KICKED",
    "CLOSE_SLOW_CONSUMER",
    # error codes
    "ErrorCode",
    # messages
    "Join",
    "Chat",
    "Typing",
    "Subscribe",
    "Unsubscribe",
    "ClientMessage",
    "ProtocolError",
    "parse_client_frame",
    "encode",
    "validate_name",
    "validate_room",
    "validate_channel",
]

# --------------------------------------------------------------------------
# Limits. Named once here; the server, the docs and the tests read them.
# --------------------------------------------------------------------------

MAX_FRAME_BYTES = 64 * 1024
"""Largest frame the server accepts; a larger one closes the connection with 1009."""

MAX_CONTENT_CHARS = 2000
"""Longest chat ``content``, in characters."""

MAX_NAME_CHARS = 32
"""Longest display name, in characters."""

MAX_ROOM_CHARS = 32
"""Longest room or channel name, in characters."""

MAX_CLIENT_ID_CHARS = 64
"""Longest client message ``id``, in characters."""

HISTORY_SIZE = 100
"""How many chat messages each room keeps and replays on join."""

TYPING_TIMEOUT = 5.0
"""Seconds after the last ``typing: true`` before the server clears it."""

RATE_PER_SECOND = 10.0
"""Sustained frames per second one connection may send to ``/chat``."""

RATE_BURST = 30
"""Frames one connection may send at once before the rate limit applies."""

FLOOD_STRIKES = 20
"""Rate-limited frames a connection may send before it is closed with 1008."""

SLOW_CONSUMER_BYTES = 1024 * 1024
"""Bytes queued to one client that stopped reading before it is closed with 4008."""

DEFAULT_ROOM = "lobby"
"""The room a ``join`` without ``room`` enters."""

# --------------------------------------------------------------------------
# Close codes.
# --------------------------------------------------------------------------

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
"""Server shutting down (Ctrl-C on ``wslab serve``, kernel exit)."""
CLOSE_POLICY_VIOLATION = 1008
"""Flooding after repeated ``rate-limited`` errors. Clients should not reconnect."""
CLOSE_TOO_BIG = 1009
"""A frame larger than :data:`MAX_FRAME_BYTES`."""
CLOSE_SERVICE_RESTART = 1012
"""The server is restarting; reconnecting is expected to work soon."""
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_UNAUTHORIZED = 4001
"""Missing or wrong token. Clients should not reconnect."""
CLOSE_KICKED = 4003
"""Removed by an instructor. Clients should not reconnect."""
CLOSE_SLOW_CONSUMER = 4008
"""The client stopped reading and its outgoing queue passed :data:`SLOW_CONSUMER_BYTES`."""


class ErrorCode:
    """The ``code`` values of ``error`` frames."""

    BAD_JSON = "bad-json"
    """The frame is not valid JSON, or not a JSON object."""
    BAD_TYPE = "bad-type"
    """``type`` is missing, not a string, or not a type the server knows."""
    BAD_FIELD = "bad-field"
    """A field is missing, of the wrong kind, or out of bounds."""
    BINARY = "binary-frame"
    """A binary frame on ``/chat``, which speaks text frames only."""
    NOT_JOINED = "not-joined"
    """``chat`` or ``typing`` before ``join``."""
    ALREADY_JOINED = "already-joined"
    """A second ``join`` on the same connection."""
    NAME_INVALID = "name-invalid"
    NAME_TAKEN = "name-taken"
    ROOM_INVALID = "room-invalid"
    RATE_LIMITED = "rate-limited"
    """Too many frames; this one was not processed. Send it again later."""
    MUTED = "muted"
    """An instructor muted you; the message was not delivered."""


# --------------------------------------------------------------------------
# Client-to-server messages.
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Join:
    name: str
    room: str = DEFAULT_ROOM
    since: int | None = None


@dataclass(frozen=True)
class Chat:
    content: str
    id: str | None = None


@dataclass(frozen=True)
class Typing:
    typing: bool


@dataclass(frozen=True)
class Subscribe:
    channel: str


@dataclass(frozen=True)
class Unsubscribe:
    channel: str


ClientMessage = Union[Join, Chat, Typing, Subscribe, Unsubscribe]


_NAME_RE = re.compile(r"^[\w][\w .\-']*$")
_ROOM_RE = re.compile(r"^[\w][\w.\-]*$")


def validate_name(name: object) -> str:
    """Return ``name`` if it is a valid display name, else raise :class:`ProtocolError`.

    A name is 1 to :data:`MAX_NAME_CHARS` characters of letters, digits, space,
    ``_ . - '``, starting with a letter, digit or underscore, with no trailing space.
    """
    if not isinstance(name, str):
        raise ProtocolError(ErrorCode.NAME_INVALID, "name must be a string")
    if not 1 <= len(name) <= MAX_NAME_CHARS:
        raise ProtocolError(
            ErrorCode.NAME_INVALID, f"name must be 1 to {MAX_NAME_CHARS} characters long"
        )
    if not _NAME_RE.match(name) or name != name.strip():
        raise ProtocolError(
            ErrorCode.NAME_INVALID,
            "name may hold letters, digits, spaces and _ . - ' only, "
            "and must not start or end with a space",
        )
    return name


def _validate_slug(value: object, what: str, code: str) -> str:
    if not isinstance(value, str):
        raise ProtocolError(code, f"{what} must be a string")
    if not 1 <= len(value) <= MAX_ROOM_CHARS or not _ROOM_RE.match(value):
        raise ProtocolError(
            code,
            f"{what} must be 1 to {MAX_ROOM_CHARS} letters, digits, _ . or -, "
            f"got {value[:40]!r}",
        )
    return value


def validate_room(room: object) -> str:
    """Return ``room`` if valid (1 to 32 of letters, digits, ``_ . -``), else raise."""
    return _validate_slug(room, "room", ErrorCode.ROOM_INVALID)


def validate_channel(channel: object) -> str:
    """Return ``channel`` if valid (same rule as rooms), else raise."""
    return _validate_slug(channel, "channel", ErrorCode.BAD_FIELD)


def _field(obj: dict[str, Any], name: str, kind: type, type_: str) -> Any:
    if name not in obj:
        raise ProtocolError(ErrorCode.BAD_FIELD, f"{type_!r} needs a {name!r} field")
    value = obj[name]
    # bool is a subclass of int: refuse it where a number is wanted.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProtocolError(
            ErrorCode.BAD_FIELD,
            f"{type_!r} field {name!r} must be {kind.__name__}, got {type(value).__name__}",
        )
    return value


def parse_client_frame(frame: str | bytes) -> ClientMessage:
    """Parse one frame sent by a client.

    Returns a :class:`Join`, :class:`Chat`, :class:`Typing`, :class:`Subscribe`
    or :class:`Unsubscribe`. Raises :class:`ProtocolError` for a binary frame,
    invalid JSON, a non-object, an unknown ``type`` or a bad field. Unknown
    extra fields are ignored, so clients may add their own.
    """
    if isinstance(frame, (bytes, bytearray, memoryview)):
        raise ProtocolError(
            ErrorCode.BINARY, "/chat speaks JSON in text frames; binary frames are not accepted"
        )
    try:
        obj = json.loads(frame)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(ErrorCode.BAD_JSON, f"frame is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ProtocolError(
            ErrorCode.BAD_JSON, f"frame must be a JSON object, got {type(obj).__name__}"
        )
    type_ = obj.get("type")
    if not isinstance(type_, str):
        raise ProtocolError(ErrorCode.BAD_TYPE, "frame needs a string 'type' field")

    if type_ == "join":
        name = validate_name(obj.get("name"))
        room = validate_room(obj["room"]) if "room" in obj else DEFAULT_ROOM
        since = obj.get("since")
        if since is not None and (
            not isinstance(since, int) or isinstance(since, bool) or since < 0
        ):
            raise ProtocolError(
                ErrorCode.BAD_FIELD, "'join' field 'since' must be a sequence number >= 0"
            )
        return Join(name=name, room=room, since=since)
    if type_ == "chat":
        content = _field(obj, "content", str, type_)
        if not content.strip():
            raise ProtocolError(ErrorCode.BAD_FIELD, "'chat' content must not be empty")
        if len(content) > MAX_CONTENT_CHARS:
            raise ProtocolError(
                ErrorCode.BAD_FIELD,
                f"'chat' content is {len(content)} characters; the limit is {MAX_CONTENT_CHARS}",
            )
        id_ = obj.get("id")
        if id_ is not None:
            if not isinstance(id_, (str, int)) or isinstance(id_, bool):
                raise ProtocolError(ErrorCode.BAD_FIELD, "'chat' field 'id' must be a string")
            id_ = str(id_)
            if len(id_) > MAX_CLIENT_ID_CHARS:
                raise ProtocolError(
                    ErrorCode.BAD_FIELD, f"'chat' id is longer than {MAX_CLIENT_ID_CHARS}"
                )
        return Chat(content=content, id=id_)
    if type_ == "typing":
        return Typing(typing=_field(obj, "typing", bool, type_))
    if type_ == "subscribe":
        return Subscribe(channel=validate_channel(obj.get("channel")))
    if type_ == "unsubscribe":
        return Unsubscribe(channel=validate_channel(obj.get("channel")))
    raise ProtocolError(
        ErrorCode.BAD_TYPE,
        f"unknown type {type_[:40]!r}; expected join, chat, typing, subscribe or unsubscribe",
    )


def encode(message: dict[str, Any]) -> str:
    """Encode one server message as compact JSON text (done once per message, not per receiver)."""
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))
