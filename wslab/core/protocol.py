"""The wslab chat protocol (version 2), sans I/O: parse what clients send, encode what the server sends.

Every frame on ``/chat`` is one JSON object in a text frame with a ``type``
field. :func:`parse_client_frame` turns a frame into one of the typed
messages below or raises :class:`ProtocolError` carrying the ``code``,
``message`` (and, when known, ``field`` and ``id``) that the server sends back
in an ``error`` frame. Nothing here touches a socket or a clock.
``docs/protocol.md`` is the human version of this module; keep them in step.

Contracts:

* **Input hygiene.** A message object (:class:`Join`, :class:`Chat`, ...)
  cannot exist with a bad value: its constructor checks every field, so what
  :func:`parse_client_frame` returns, and what a caller builds by hand, holds
  only strings that are valid Unicode (no lone surrogates: ``s.encode("utf-8")``
  works) and within the limits below. JSON's ``NaN`` and ``Infinity`` are not
  JSON and are refused too.
* **Encoding.** :func:`encode` returns compact JSON text that encodes to UTF-8,
  or raises :class:`ValueError`; it never returns a frame that would fail on
  the wire. :func:`encode_spliced` and :func:`encode_names` write the same text
  from a part already encoded (a ``welcome``'s ``online`` list, kept by its room).

Longer than 500 lines because it is the whole protocol in one place: every
message's fields and limits, the validators they share, and the one way frames
are encoded, which ``docs/protocol.md`` mirrors section by section.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from wslab.core.errors import ProtocolError

__all__ = [
    # limits
    "MAX_FRAME_BYTES",
    "MAX_CONTENT_CHARS",
    "MAX_NAME_CHARS",
    "MAX_ROOM_CHARS",
    "MAX_CLIENT_ID_CHARS",
    "MAX_EPOCH_CHARS",
    "HISTORY_SIZE",
    "TYPING_TIMEOUT",
    "PRESENCE_INTERVAL",
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
    "CLOSE_BANNED",
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
    "encode_spliced",
    "encode_names",
    "is_valid_unicode",
    "validate_name",
    "validate_room",
    "validate_channel",
    "validate_client_id",
    "validate_epoch",
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

MAX_EPOCH_CHARS = 64
"""Longest ``epoch`` (the id of a room's history), in characters."""

HISTORY_SIZE = 100
"""How many chat messages each room keeps and replays on join."""

TYPING_TIMEOUT = 5.0
"""Seconds after the last ``typing: true`` before the server clears it."""

PRESENCE_INTERVAL = 0.1
"""Seconds over which a room's joins and leaves are gathered into one ``presence`` frame.

A member gets at most one ``presence`` frame per room per interval, listing who
joined and who left (deltas); only the ``welcome`` carries the full ``online`` list.
"""

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
"""Removed by an instructor. Clients should not reconnect by themselves; the person may join again."""
CLOSE_BANNED = 4004
"""Removed and banned by an instructor: the name may not join the room again (until unbanned).
Clients should not reconnect."""
CLOSE_SLOW_CONSUMER = 4008
"""The client stopped reading and its outgoing queue passed :data:`SLOW_CONSUMER_BYTES`."""


class ErrorCode:
    """The ``code`` values of ``error`` frames."""

    BAD_JSON = "bad-json"
    """The frame is not valid JSON, or not a JSON object."""
    BAD_TYPE = "bad-type"
    """``type`` is missing, not a string, or not a type the server knows."""
    BAD_FIELD = "bad-field"
    """A field is missing, of the wrong kind, not valid Unicode, or out of bounds."""
    BINARY = "binary-frame"
    """A binary frame on ``/chat``, which speaks text frames only."""
    NOT_JOINED = "not-joined"
    """``chat`` or ``typing`` before ``join``."""
    ALREADY_JOINED = "already-joined"
    """A second ``join`` on the same connection."""
    NAME_INVALID = "name-invalid"
    NAME_TAKEN = "name-taken"
    ROOM_INVALID = "room-invalid"
    UNKNOWN_CHANNEL = "unknown-channel"
    """``subscribe`` to a channel the server has not opened; the message lists those it has."""
    RATE_LIMITED = "rate-limited"
    """Too many frames; this one was not processed. Send it again later."""
    MUTED = "muted"
    """An instructor muted you; the message was not delivered."""
    BANNED = "banned"
    """``join`` with a name an instructor banned from the room."""


# --------------------------------------------------------------------------
# Checking values.
# --------------------------------------------------------------------------

_NAME_RE = re.compile(r"[\w][\w .\-']*")
_SLUG_RE = re.compile(r"[\w][\w.\-]*")

_JSON_KINDS: dict[type, str] = {
    type(None): "null",
    bool: "true or false",
    int: "a number",
    float: "a number",
    str: "a string",
    list: "an array",
    dict: "an object",
}


def _kind(value: object) -> str:
    """What ``value`` is, in JSON's words (for error messages)."""
    return _JSON_KINDS.get(type(value), type(value).__name__)


def _show(value: str) -> str:
    """A short, safe quotation of a string a client sent (``repr`` escapes lone surrogates)."""
    return repr(value[:40]) + ("..." if len(value) > 40 else "")


def is_valid_unicode(text: str) -> bool:
    """True if ``text`` is valid Unicode, that is ``text.encode("utf-8")`` works (no lone surrogates).

    JSON may spell a lone surrogate (``"\\ud800"``) and Python decodes it into a
    ``str`` that cannot be encoded again; such a string must never reach room state.
    """
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text(value: object, *, what: str, field: str, code: str = ErrorCode.BAD_FIELD, id: str | None = None) -> str:
    """``value`` if it is a string of valid Unicode, else a :class:`ProtocolError` naming ``field``."""
    if not isinstance(value, str):
        raise ProtocolError(code, f"{what} must be a string, got {_kind(value)}", field=field, id=id)
    if not is_valid_unicode(value):
        raise ProtocolError(
            code,
            f"{what} is not valid Unicode: it holds a lone surrogate (such as \\ud800); send UTF-8 text",
            field=field,
            id=id,
        )
    return value


def validate_name(name: object) -> str:
    """Return ``name`` if it is a valid display name, else raise :class:`ProtocolError` (``name-invalid``).

    A name is 1 to :data:`MAX_NAME_CHARS` characters of letters, digits, space,
    ``_ . - '``, starting with a letter, digit or underscore, with no trailing space.
    """
    name = _text(name, what="name", field="name", code=ErrorCode.NAME_INVALID)
    if not 1 <= len(name) <= MAX_NAME_CHARS:
        raise ProtocolError(
            ErrorCode.NAME_INVALID, f"name must be 1 to {MAX_NAME_CHARS} characters long", field="name"
        )
    if not _NAME_RE.fullmatch(name) or name != name.strip():
        raise ProtocolError(
            ErrorCode.NAME_INVALID,
            "name may hold letters, digits, spaces and _ . - ' only, "
            "and must not start or end with a space",
            field="name",
        )
    return name


def _validate_slug(value: object, what: str, code: str) -> str:
    value = _text(value, what=what, field=what, code=code)
    if not 1 <= len(value) <= MAX_ROOM_CHARS or not _SLUG_RE.fullmatch(value):
        raise ProtocolError(
            code,
            f"{what} must be 1 to {MAX_ROOM_CHARS} letters, digits, _ . or -, got {_show(value)}",
            field=what,
        )
    return value


def validate_room(room: object) -> str:
    """Return ``room`` if valid (1 to 32 of letters, digits, ``_ . -``), else raise (``room-invalid``)."""
    return _validate_slug(room, "room", ErrorCode.ROOM_INVALID)


def validate_channel(channel: object) -> str:
    """Return ``channel`` if valid (same rule as rooms), else raise (``bad-field``, field ``channel``)."""
    return _validate_slug(channel, "channel", ErrorCode.BAD_FIELD)


def validate_client_id(id: object) -> str:
    """Return a chat ``id`` if it is a string of 1 to :data:`MAX_CLIENT_ID_CHARS` valid characters, else raise."""
    return _short_text(id, what="'chat' field 'id'", field="id", limit=MAX_CLIENT_ID_CHARS)


def validate_epoch(epoch: object) -> str:
    """Return ``epoch`` if it is a string of 1 to :data:`MAX_EPOCH_CHARS` valid characters, else raise."""
    return _short_text(epoch, what="epoch", field="epoch", limit=MAX_EPOCH_CHARS)


def _short_text(value: object, *, what: str, field: str, limit: int) -> str:
    """``value`` if it is valid text of 1 to ``limit`` characters, else a ``bad-field`` error naming ``field``."""
    text = _text(value, what=what, field=field)
    if not 1 <= len(text) <= limit:
        raise ProtocolError(ErrorCode.BAD_FIELD, f"{what} must be 1 to {limit} characters long", field=field)
    return text


def _is_int(value: object) -> bool:
    # bool is a subclass of int: refuse it where a number is wanted.
    return isinstance(value, int) and not isinstance(value, bool)


# --------------------------------------------------------------------------
# Client-to-server messages. Each checks its fields when it is built.
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Join:
    """``join``: enter ``room`` as ``name``.

    ``since``: replay only history after this ``seq``; honoured unless ``epoch``
    is given and differs from the room's (its history started over).
    """

    name: str
    room: str = DEFAULT_ROOM
    since: int | None = None
    epoch: str | None = None

    def __post_init__(self) -> None:
        validate_name(self.name)
        validate_room(self.room)
        if self.since is not None and (not _is_int(self.since) or self.since < 0):
            raise ProtocolError(
                ErrorCode.BAD_FIELD, "'join' field 'since' must be a sequence number >= 0", field="since"
            )
        if self.epoch is not None:
            validate_epoch(self.epoch)


@dataclass(frozen=True)
class Chat:
    """``chat``: say ``content`` (1 to :data:`MAX_CONTENT_CHARS` characters, not blank), optionally with an ``id``.

    A bad ``content`` is refused with an error that carries the ``id``, so the
    sender knows which message will never be delivered.
    """

    content: str
    id: str | None = None

    def __post_init__(self) -> None:
        if self.id is not None:
            validate_client_id(self.id)
        content = _text(self.content, what="'chat' field 'content'", field="content", id=self.id)
        if not content.strip():
            raise ProtocolError(ErrorCode.BAD_FIELD, "'chat' content must not be empty", field="content", id=self.id)
        if len(content) > MAX_CONTENT_CHARS:
            raise ProtocolError(
                ErrorCode.BAD_FIELD,
                f"'chat' content is {len(content)} characters; the limit is {MAX_CONTENT_CHARS}",
                field="content",
                id=self.id,
            )


@dataclass(frozen=True)
class Typing:
    """``typing``: ``True`` starts or refreshes your typing indicator, ``False`` ends it."""

    typing: bool

    def __post_init__(self) -> None:
        if not isinstance(self.typing, bool):
            raise ProtocolError(
                ErrorCode.BAD_FIELD,
                f"'typing' field 'typing' must be true or false, got {_kind(self.typing)}",
                field="typing",
            )


@dataclass(frozen=True)
class Subscribe:
    """``subscribe``: receive the ``update`` frames of ``channel``."""

    channel: str

    def __post_init__(self) -> None:
        validate_channel(self.channel)


@dataclass(frozen=True)
class Unsubscribe:
    """``unsubscribe``: stop receiving ``channel``."""

    channel: str

    def __post_init__(self) -> None:
        validate_channel(self.channel)


ClientMessage = Join | Chat | Typing | Subscribe | Unsubscribe


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


# Built once: json.loads and json.dumps build a new decoder or encoder per call when given options.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _readable_id(value: object) -> str | None:
    """The chat id in ``value`` if it is one the server would accept, else None."""
    if _is_int(value):
        value = str(value)
    try:
        return validate_client_id(value) if value is not None else None
    except ProtocolError:
        return None


def _needs(obj: dict[str, Any], type_: str, name: str, code: str = ErrorCode.BAD_FIELD, id: str | None = None) -> Any:
    if name not in obj:
        raise ProtocolError(code, f"{type_!r} needs a {name!r} field", field=name, id=id)
    return obj[name]


def parse_client_frame(frame: str | bytes) -> ClientMessage:
    """Parse one frame sent by a client.

    Returns a :class:`Join`, :class:`Chat`, :class:`Typing`, :class:`Subscribe`
    or :class:`Unsubscribe`. Raises :class:`ProtocolError` for a binary frame,
    invalid JSON, a non-object, an unknown ``type`` or a bad field (the error
    names it in ``field``). Unknown extra fields are ignored, so clients may add
    their own; they never reach the server's state.
    """
    if isinstance(frame, (bytes, bytearray, memoryview)):
        raise ProtocolError(
            ErrorCode.BINARY, "/chat speaks JSON in text frames; binary frames are not accepted"
        )
    try:
        obj = _DECODER.decode(frame)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(ErrorCode.BAD_JSON, f"frame is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ProtocolError(ErrorCode.BAD_JSON, f"frame must be a JSON object, got {_kind(obj)}")
    type_ = obj.get("type")
    if not isinstance(type_, str):
        raise ProtocolError(ErrorCode.BAD_TYPE, "frame needs a string 'type' field", field="type")

    if type_ == "join":
        return Join(
            name=_needs(obj, type_, "name", ErrorCode.NAME_INVALID),
            room=obj.get("room", DEFAULT_ROOM),
            since=obj.get("since"),
            epoch=obj.get("epoch"),
        )
    if type_ == "chat":
        id_ = obj.get("id")
        if _is_int(id_):
            id_ = str(id_)
        if "content" not in obj:
            raise ProtocolError(
                ErrorCode.BAD_FIELD, "'chat' needs a 'content' field", field="content", id=_readable_id(id_)
            )
        return Chat(content=obj["content"], id=id_)
    if type_ == "typing":
        return Typing(typing=_needs(obj, type_, "typing"))
    if type_ == "subscribe":
        return Subscribe(channel=_needs(obj, type_, "channel"))
    if type_ == "unsubscribe":
        return Unsubscribe(channel=_needs(obj, type_, "channel"))
    shown = _show(type_) if is_valid_unicode(type_) else "(not valid Unicode)"
    raise ProtocolError(
        ErrorCode.BAD_TYPE,
        f"unknown type {shown}; expected join, chat, typing, subscribe or unsubscribe",
        field="type",
    )


def encode(message: dict[str, Any]) -> str:
    """Encode one server message as compact JSON text (done once per message, not per receiver).

    Raises :class:`ValueError`, and returns nothing, for what cannot be sent as
    a JSON text frame: a value JSON has no form for (a set, bytes, an object),
    ``NaN`` or infinities, a circular or too deeply nested structure, or a
    string that is not valid Unicode (a lone surrogate).
    """
    try:
        text = _ENCODER.encode(message)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValueError(f"the message cannot be sent as JSON: {exc}") from None
    if not is_valid_unicode(text):
        raise ValueError("the message cannot be sent: a string in it is not valid Unicode (a lone surrogate)")
    return text


def encode_spliced(message: dict[str, Any], key: str, text: str) -> str:
    """:func:`encode` of ``message``, with ``message[key]`` given as ``text``, the JSON :func:`encode` made of it.

    The same text as ``encode(message)`` would be with that value in place, keys in
    ``message``'s order, without encoding the value again: for a large value that
    changes little from one message to the next (a ``welcome``'s ``online`` list,
    kept encoded by its room). ``text`` is trusted to be such JSON. Raises as
    :func:`encode` for the rest of ``message``, and :class:`KeyError` when
    ``message`` has no ``key``.
    """
    keys = list(message)
    at = keys.index(key) if key in message else -1
    if at < 0:
        raise KeyError(key)
    head = encode({k: message[k] for k in keys[:at]})[:-1]  # "{...", without its "}"
    tail = encode({k: message[k] for k in keys[at + 1 :]})[1:]  # "...}", without its "{"
    return f"{head}{',' if at else ''}{_ENCODER.encode(key)}:{text}{',' if at + 1 < len(keys) else ''}{tail}"


def encode_names(names: list[str]) -> str:
    """``names`` as a JSON array, written as :func:`encode` writes it (a ``welcome``'s ``online``).

    Raises :class:`ValueError` for a name that is not valid Unicode (a lone surrogate).
    """
    text = _ENCODER.encode(names)
    if not is_valid_unicode(text):
        raise ValueError("the names cannot be sent: one is not valid Unicode (a lone surrogate)")
    return text
