"""The client's half of the chat protocol, sans I/O: :class:`ClientSession`, the counterpart of the hub.

A session remembers everything a chat client must remember across connections
and decides everything a client decides; its caller (a *shell*) only does I/O::

    session = ClientSession(id_prefix="ada")
    session.join("Ada", "lobby", now)          # -> [] (not connected yet)
    session.connecting(now)
    actions = session.connected(now)           # -> [Send(join)]
    actions = session.on_frame(text, now)      # -> [Emit("welcome"), ..., Emit("connect")]
    actions = session.say("hello", now)        # -> [Send(chat with id)]
    actions = session.disconnected(1012, "restart", now)   # -> [Emit(...), Retry(delay)]

The shell performs the returned :class:`Send`, :class:`Emit`, :class:`Retry`
and :class:`Disconnect` actions (:data:`SessionAction`; ``Action``, its name
before, still works until wslab 0.3 with a :class:`DeprecationWarning`) in
order, and calls :meth:`ClientSession.tick`
at :meth:`ClientSession.next_deadline`. ``now`` is monotonic seconds, always
handed in: nothing here reads a clock, opens a socket or sleeps.
``docs/client-session.md`` is the human version of this module; the
JavaScript copy in ``wslab/static/chat.js`` is held to it by the transcripts in
``tests/data/transcripts/``.

Contracts:

* **Nothing is dropped silently.** A message sent while the connection is not
  ready waits in the outbox (at most ``queue_limit``; one more raises
  :class:`~wslab.core.errors.QueueFullError`, or with ``overflow="event"``
  emits ``overflow``). Chats wait until the room is joined.
* **Order on every connection:** channels are resubscribed, then the room is
  re-joined with ``since`` and ``epoch``; once the ``welcome`` (and every
  ``subscribed``) arrived, unacknowledged chats are resent, then the outbox
  goes out in call order, then ``connect`` is emitted.
* **Each chat is emitted once**, in ``seq`` order, from live frames and from a
  welcome's history alike. A new epoch (the room's history started over)
  emits ``epoch`` first and then the whole new history: nothing hidden,
  nothing twice.
* **Exactly-once chats:** every chat carries an id (:meth:`ClientSession.new_id`)
  and stays in :attr:`ClientSession.unacked` until acknowledged; it is resent
  with the same id after a reconnect, and the server drops the duplicate.
* **Stop codes:** no reconnect after :meth:`ClientSession.close`, nor after a
  close code for which ``should_reconnect(code)`` is False.
* A server frame whose ``type`` is a lifecycle event (``connect``, ...) is
  emitted as ``message`` only: a server cannot fire the client's own handlers.

Longer than 500 lines because it is the whole client state machine in one
place (join, outbox and resend, channels, presence, typing, gaps, backoff all
turn on the same connection state), mirrored part for part by chat.js and held
to it by the shared transcripts; split, each part would need the others' state.
"""

from __future__ import annotations

import json
import random
import secrets
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeGuard

from wslab.core import protocol as p
from wslab.core.backoff import Backoff, BackoffPolicy, ReconnectPredicate
from wslab.core.backoff import should_reconnect as default_should_reconnect
from wslab.core.deprecation import renamed_names
from wslab.core.errors import ClientClosedError, QueueFullError
from wslab.core.typing_status import TypingNotifier

__all__ = [
    "ClientSession",
    "Send",
    "Emit",
    "Retry",
    "Disconnect",
    "SessionAction",
    "SessionState",
    "LIFECYCLE_EVENTS",
    "QUEUE_LIMIT",
    "RESEND_AFTER",
    "RESTORE_TIMEOUT",
    "TYPING_IDLE",
    "TYPING_REFRESH",
    "RETRY_JOIN_CODE",
    "new_prefix",
]

LIFECYCLE_EVENTS: frozenset[str] = frozenset(
    {"connect", "disconnect", "reconnecting", "message", "error", "overflow", "closed", "epoch"}
)
"""Events the session emits itself; a server frame of one of these types is emitted as ``message`` only."""

QUEUE_LIMIT = 100
"""Default most messages waiting in the outbox."""

RESEND_AFTER = 1.0
"""Seconds after a ``rate-limited`` error before unacknowledged chats are sent again."""

RESTORE_TIMEOUT = 10.0
"""Seconds a new connection may take to be welcomed (and resubscribed) before it is dropped."""

TYPING_IDLE = 2.0
"""Seconds without a key press before ``typing: false``."""

TYPING_REFRESH = p.TYPING_TIMEOUT * 0.6
"""Seconds between ``typing: true`` refreshes while keys keep coming (before the server's timeout)."""

RETRY_JOIN_CODE = 4000
"""Close code the session uses to drop a connection it will retry (re-join refused or timed out)."""

SessionState = Literal["offline", "connecting", "restoring", "open", "closed"]

_ROUTED = frozenset({"join", "subscribe", "unsubscribe", "chat", "typing"})
_JOIN_ERRORS = frozenset(
    {p.ErrorCode.NAME_TAKEN, p.ErrorCode.NAME_INVALID, p.ErrorCode.ROOM_INVALID, p.ErrorCode.BANNED}
)


def new_prefix() -> str:
    """A fresh random id prefix: 8 hex digits (the same scheme as chat.js)."""
    return secrets.token_hex(4)


# ------------------------------------------------------------------ actions


@dataclass(frozen=True)
class Send:
    """Write ``frame`` (compact JSON text of ``message``) on the current connection."""

    frame: str
    message: dict[str, Any]


@dataclass(frozen=True)
class Emit:
    """Call the handlers of ``event`` with ``data``."""

    event: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Retry:
    """Wait ``delay`` seconds, then open a new connection."""

    delay: float


@dataclass(frozen=True)
class Disconnect:
    """Close the current connection with ``code`` and ``reason``; :meth:`ClientSession.disconnected` follows."""

    code: int
    reason: str


SessionAction = Send | Emit | Retry | Disconnect
"""What :class:`ClientSession` asks its shell to do (the hub's are :data:`wslab.core.hub.HubAction`)."""

__getattr__ = renamed_names(__name__, {"Action": "SessionAction"})


def _send(message: dict[str, Any]) -> Send:
    return Send(p.encode(message), message)


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _names(value: Any) -> list[str]:
    return [n for n in value if isinstance(n, str)] if isinstance(value, list) else []


class ClientSession:
    """The state of one chat client across connections; see the module docstring for the contracts.

    Args:
        id_prefix: the first part of every chat id (``"<prefix>-<n>"``); random by default.
        policy: reconnect delays (:class:`~wslab.core.backoff.BackoffPolicy`).
        rng: the randomness for the backoff's jitter (default ``random.Random(policy.seed)``).
        should_reconnect: ``predicate(code)``: may the client reconnect after this close code?
        queue_limit: most messages waiting in the outbox; >= 1.
        overflow: ``"raise"`` (:class:`QueueFullError`) or ``"event"`` (emit ``overflow``).
        typing_idle, typing_refresh: the typing notifier's timings (seconds).
        resend_after: seconds after ``rate-limited`` before unacked chats are resent.
        restore_timeout: seconds a connection may take to be welcomed before it is dropped.
    """

    def __init__(
        self,
        *,
        id_prefix: str | None = None,
        policy: BackoffPolicy | None = None,
        rng: random.Random | None = None,
        should_reconnect: ReconnectPredicate | None = None,
        queue_limit: int = QUEUE_LIMIT,
        overflow: Literal["raise", "event"] = "raise",
        typing_idle: float = TYPING_IDLE,
        typing_refresh: float = TYPING_REFRESH,
        resend_after: float = RESEND_AFTER,
        restore_timeout: float = RESTORE_TIMEOUT,
    ) -> None:
        if isinstance(queue_limit, bool) or not isinstance(queue_limit, int) or queue_limit < 1:
            raise ValueError(f"queue_limit must be an int >= 1, got {queue_limit!r}")
        if overflow not in ("raise", "event"):
            raise ValueError(f"overflow must be 'raise' or 'event', got {overflow!r}")
        if resend_after <= 0 or restore_timeout <= 0:
            raise ValueError("resend_after and restore_timeout must be > 0")
        self.id_prefix = id_prefix if id_prefix is not None else new_prefix()
        self.policy = policy if policy is not None else BackoffPolicy()
        self.backoff = Backoff(self.policy, rng)
        self.should_reconnect: ReconnectPredicate = should_reconnect or default_should_reconnect
        self.queue_limit = queue_limit
        self.overflow = overflow
        self.resend_after = resend_after
        self.restore_timeout = restore_timeout
        self.notifier = TypingNotifier(idle=typing_idle, refresh=typing_refresh)

        self.state: SessionState = "offline"
        """``offline`` (not started, or waiting to retry), ``connecting``, ``restoring``
        (connected, waiting for the welcome), ``open`` (ready) or ``closed`` (for good)."""
        self.name: str | None = None
        self.room: str | None = None
        self.epoch: str | None = None
        """The epoch of the room's history this session has seen (None before a welcome)."""
        self.last_seq = 0
        """The highest chat ``seq`` seen in :attr:`room` in :attr:`epoch` (sent as ``since``)."""
        self.online: list[str] = []
        self.typing: list[str] = []
        self.channels: dict[str, None] = {}
        self.unacked: OrderedDict[str, dict[str, Any]] = OrderedDict()
        """Chats sent and not yet acknowledged, by id, oldest first."""
        self.history_complete = True
        self.connections = 0
        """How many connections became ready (the first is not a reconnect)."""
        self._outbox: deque[dict[str, Any]] = deque()
        self._counter = 0
        self._joined = False  # welcomed on the current connection
        self._welcomed_room: tuple[str, str] | None = None  # (name, room) we were last welcomed as
        self._awaiting_welcome = False
        self._awaiting_channels: set[str] = set()
        self._restore_deadline: float | None = None
        self._resend_at: float | None = None
        self._opened_at: float | None = None
        self._closing: tuple[int, str] | None = None

    # ------------------------------------------------------------ state

    @property
    def queued(self) -> int:
        """How many messages wait in the outbox."""
        return len(self._outbox)

    @property
    def attempt(self) -> int:
        """Reconnect attempts since the backoff last reset."""
        return self.backoff.attempt

    @property
    def joined(self) -> bool:
        """True while the current connection is welcomed into :attr:`room`."""
        return self._joined

    @property
    def pending(self) -> list[tuple[str, str]]:
        """``(id, content)`` of every chat not yet acknowledged: sent ones first, then queued ones."""
        sent = [(id_, str(m.get("content", ""))) for id_, m in self.unacked.items()]
        queued = [(str(m["id"]), str(m.get("content", ""))) for m in self._outbox if m.get("type") == "chat"]
        return sent + queued

    def new_id(self) -> str:
        """The next chat id: ``"<id_prefix>-<n>"``, counting from 1."""
        self._counter += 1
        return f"{self.id_prefix}-{self._counter}"

    def next_deadline(self) -> float | None:
        """When :meth:`tick` has work (monotonic seconds), or None."""
        deadlines = [
            d
            for d in (
                self.notifier.next_deadline() if self._joined else None,
                self._resend_at,
                self._restore_deadline,
            )
            if d is not None
        ]
        return min(deadlines) if deadlines else None

    # ------------------------------------------------------------ intents

    def join(self, name: str, room: str = p.DEFAULT_ROOM, now: float = 0.0) -> list[SessionAction]:
        """Join ``room`` as ``name``, now if connected, and again on every connection.

        Raises :class:`~wslab.core.errors.ProtocolError` for an invalid name or room.
        Joining where this session already is does nothing; another room or
        name drops the connection and joins there on the next one.
        """
        p.validate_name(name)
        p.validate_room(room)
        self._check_open()
        if (self.name, self.room) == (name, room):
            return []
        was_joined = self._joined or self._awaiting_welcome
        self.name, self.room = name, room
        if self._welcomed_room != (name, room):
            # Another room's seq and epoch mean nothing here.
            self.online, self.typing, self.last_seq, self.epoch = [], [], 0, None
        if self.state in ("restoring", "open") and not was_joined:
            self._awaiting_welcome = True
            self._start_restore(now)
            return [_send(self._join_message())]
        if was_joined:
            # A connection joins one room once: come back on a new one.
            return [Disconnect(RETRY_JOIN_CODE, f"joining {room!r} as {name!r}")]
        return []

    def say(self, content: str, now: float = 0.0, *, id: str | None = None) -> list[SessionAction]:
        """Send a chat message; it gets an id and stays in :attr:`unacked` until acknowledged.

        Raises :class:`~wslab.core.errors.ProtocolError` for content the server
        would refuse (empty, too long, not valid Unicode), and
        :class:`~wslab.core.errors.QueueFullError` when it must wait and the outbox is full.
        """
        message: dict[str, Any] = {"type": "chat", "content": content, "id": id if id is not None else self.new_id()}
        p.parse_client_frame(json.dumps(message))  # the server's own words for what it would refuse
        self._check_open()
        actions: list[SessionAction] = [_send(f) for f in self.notifier.sent()] if self._joined else []
        self.notifier.reset()
        if self._joined and self.state == "open" and not self._outbox:
            self.unacked[message["id"]] = message
            return [*actions, _send(message)]
        queued = actions + self._enqueue(message)
        return queued + self._flush() if self._joined and self.state == "open" else queued  # keep call order

    def keystroke(self, text: str | None = None, now: float = 0.0) -> list[SessionAction]:
        """The message input changed to ``text``: maybe a ``typing`` frame (never queued while offline)."""
        if not self._joined:
            return []
        return [_send(f) for f in self.notifier.keystroke(text, now)]

    def subscribe(self, channel: str, now: float = 0.0) -> list[SessionAction]:
        """Subscribe to ``channel`` now (if connected) and on every connection."""
        p.validate_channel(channel)
        self._check_open()
        if channel in self.channels:
            return []
        self.channels[channel] = None
        if self.state in ("restoring", "open"):
            return [_send({"type": "subscribe", "channel": channel})]
        return []

    def unsubscribe(self, channel: str, now: float = 0.0) -> list[SessionAction]:
        """Unsubscribe from ``channel`` and stop resubscribing to it."""
        p.validate_channel(channel)
        self._check_open()
        if self.channels.pop(channel, 0) == 0:
            return []
        self._awaiting_channels.discard(channel)
        if self.state in ("restoring", "open"):
            return [_send({"type": "unsubscribe", "channel": channel})]
        return []

    def send(self, message: Mapping[str, Any], now: float = 0.0) -> list[SessionAction]:
        """Send any JSON object: now if the connection is ready, else from the outbox.

        ``join``, ``subscribe``, ``unsubscribe``, ``chat`` and ``typing`` go to
        :meth:`join`, :meth:`subscribe`, :meth:`unsubscribe`, :meth:`say` and
        the typing notifier's frame, so they are remembered and checked.
        """
        if not isinstance(message, Mapping):
            raise TypeError(f"send() takes a dict (sent as JSON), got {type(message).__name__}")
        kind = message.get("type")
        if kind == "join":
            return self.join(message.get("name"), message.get("room", p.DEFAULT_ROOM), now)  # type: ignore[arg-type]
        if kind == "subscribe":
            return self.subscribe(message.get("channel"), now)  # type: ignore[arg-type]
        if kind == "unsubscribe":
            return self.unsubscribe(message.get("channel"), now)  # type: ignore[arg-type]
        if kind == "chat":
            id_ = message.get("id")
            return self.say(message.get("content"), now, id=None if id_ is None else str(id_))  # type: ignore[arg-type]
        message = dict(message)
        if kind == "typing":
            p.parse_client_frame(json.dumps(message))
            self._check_open()
            return [_send(message)] if self._joined else []
        p.encode(message)  # raises ValueError for what cannot be sent as JSON
        self._check_open()
        if self.state == "open" and not self._outbox:
            return [_send(message)]
        queued = self._enqueue(message)
        return queued + self._flush() if self.state == "open" else queued

    def close(self, code: int = p.CLOSE_NORMAL, reason: str = "client closed", now: float = 0.0) -> list[SessionAction]:
        """Stop for good: close the connection if there is one, and never reconnect. Safe to call twice."""
        if self.state == "closed" or self._closing is not None:
            return []
        self._closing = (code, reason)
        if self.state in ("restoring", "open"):
            return [Disconnect(code, reason)]
        return self._finish(code, reason)

    # ------------------------------------------------------------ transport events

    def connecting(self, now: float) -> list[SessionAction]:
        """The shell starts opening a connection."""
        if self.state != "closed":
            self.state = "connecting"
        return []

    def connected(self, now: float) -> list[SessionAction]:
        """The opening handshake succeeded: resubscribe and re-join (see the contracts)."""
        if self.state == "closed":
            return []
        self.state = "restoring"
        self._opened_at = now
        self.backoff.on_open(now)
        self._joined = False
        actions: list[SessionAction] = []
        if self._closing is not None:
            return [Disconnect(*self._closing)]
        self._awaiting_channels = set(self.channels)
        actions += [_send({"type": "subscribe", "channel": c}) for c in self.channels]
        self._awaiting_welcome = self.name is not None
        if self._awaiting_welcome:
            actions.append(_send(self._join_message()))
        self._start_restore(now)
        return actions + self._maybe_ready(now)

    def connect_failed(self, error: str, now: float) -> list[SessionAction]:
        """The opening handshake failed (``error`` says how): retry after the backoff's delay."""
        if self.state == "closed":
            return []
        self.state = "offline"
        self.backoff.on_close(now)
        if self._closing is not None:
            return self._finish(*self._closing)
        return self._retry()

    def disconnected(
        self, code: int | None, reason: str = "", now: float = 0.0, unsent: Iterable[Send] = ()
    ) -> list[SessionAction]:
        """The connection closed (``code`` None without a close frame): reconnect, or stop for good.

        ``unsent`` are :class:`Send` actions the shell had not written: chats are
        resent anyway (they are unacked), join and subscribe are sent again on the
        next connection, typing is stale; anything else goes back to the outbox front.
        """
        if self.state == "closed":
            return []
        was_ready = self.state == "open"
        uptime = now - self._opened_at if self._opened_at is not None else 0.0
        self.backoff.on_close(now)
        self._opened_at = None
        self.state = "offline"
        self._joined = False
        self._awaiting_welcome = False
        self._awaiting_channels = set()
        self._restore_deadline = None
        self._resend_at = None
        self.notifier.reset()
        self.typing = []
        for action in reversed(list(unsent)):
            if action.message.get("type") not in _ROUTED:
                self._outbox.appendleft(action.message)
        actions: list[SessionAction] = []
        if was_ready:
            actions.append(
                Emit("disconnect", {"code": code if code is not None else 1006, "reason": reason, "uptime": uptime})
            )
        if self._closing is not None:
            return actions + self._finish(*self._closing)
        if not self.should_reconnect(code):
            why = f"not reconnecting after close code {code}" + (f": {reason}" if reason else "")
            self._closing = (code if code is not None else 1006, why)
            return actions + self._finish(*self._closing)
        return actions + self._retry()

    def tick(self, now: float) -> list[SessionAction]:
        """Time passed: typing idle, the rate-limited resend, the restore timeout."""
        actions: list[SessionAction] = []
        if self._restore_deadline is not None and now >= self._restore_deadline:
            self._restore_deadline = None
            if self._awaiting_welcome:
                return [Disconnect(RETRY_JOIN_CODE, f"no answer to join within {self.restore_timeout:g} s")]
            if self._awaiting_channels:
                missing = ", ".join(sorted(self._awaiting_channels))
                self._awaiting_channels = set()
                actions.append(
                    self._client_error("resubscribe-timeout", f"no 'subscribed' reply for {missing}; going on")
                )
                actions += self._maybe_ready(now)
        if self._resend_at is not None and now >= self._resend_at:
            self._resend_at = None
            if self._joined:
                actions += [_send(m) for m in self.unacked.values()]
        if self._joined:
            actions += [_send(f) for f in self.notifier.tick(now)]
        return actions

    def on_frame(self, frame: str | bytes, now: float) -> list[SessionAction]:
        """One frame from the server: book-keeping, then the events it means (nothing once closed)."""
        if self.state == "closed":
            return []
        if isinstance(frame, (bytes, bytearray, memoryview)):
            return [
                self._client_error(
                    "binary-frame",
                    "the server sent a binary frame; this client reads JSON text",
                    bytes(frame).hex()[:200],
                )
            ]
        try:
            message = json.loads(frame)
        except (ValueError, RecursionError) as exc:
            return [self._client_error("invalid-json", f"the server sent text that is not JSON: {exc}", frame[:200])]
        if not isinstance(message, dict):
            return [
                self._client_error(
                    "not-an-object",
                    f"the server sent JSON that is not an object: {type(message).__name__}",
                    frame[:200],
                )
            ]
        kind = message.get("type")
        actions: list[SessionAction] = [Emit("message", message)]
        handler: Callable[[dict[str, Any], float], list[SessionAction]] | None = (
            getattr(self, f"_on_{kind}", None) if isinstance(kind, str) and kind.isidentifier() else None
        )
        if handler is not None:
            actions += handler(message, now)
        elif isinstance(kind, str) and kind not in LIFECYCLE_EVENTS:
            actions.append(Emit(kind, message))
        return actions

    # ------------------------------------------------------------ frame handlers

    def _on_welcome(self, message: dict[str, Any], now: float) -> list[SessionAction]:
        actions: list[SessionAction] = []
        if self.name is None and isinstance(message.get("name"), str) and isinstance(message.get("room"), str):
            self.name, self.room = message["name"], message["room"]  # the welcome says who we are
        epoch = message.get("epoch")
        epoch = epoch if isinstance(epoch, str) else None
        same_room = self._welcomed_room == (self.name, self.room)  # welcomed here before: a re-join
        if epoch is not None and self.epoch is not None and epoch != self.epoch:
            actions.append(Emit("epoch", {"old": self.epoch, "new": epoch, "room": self.room}))
            self.last_seq = 0
        self.epoch = epoch
        self.online = _names(message.get("online"))
        self.typing = _names(message.get("typing"))
        since = self.last_seq
        self.history_complete = message.get("history_complete") is not False
        actions.append(Emit("welcome", message))
        history = [m for m in message.get("history", []) if isinstance(m, dict) and _is_int(m.get("seq"))]
        if same_room and not self.history_complete:
            oldest = min((m["seq"] for m in history), default=message.get("seq"))
            actions.append(
                self._client_error(
                    "history-gap",
                    f"messages {since + 1} to {oldest - 1 if _is_int(oldest) else '?'} of room {self.room!r} were "
                    "sent while offline and are no longer kept by the server",
                )
            )
        for item in sorted(history, key=lambda m: m["seq"]):
            actions += self._chat(item)
        seq = message.get("seq")
        if _is_int(seq) and seq > self.last_seq:
            self.last_seq = seq
        self._welcomed_room = (self.name, self.room) if self.name is not None and self.room is not None else None
        self._joined = True
        self._awaiting_welcome = False
        if not self._awaiting_channels:
            self._restore_deadline = None  # nothing more to wait for on this connection
        return actions + self._maybe_ready(now)

    def _on_chat(self, message: dict[str, Any], now: float) -> list[SessionAction]:
        if self.room is not None and message.get("room") not in (None, self.room):
            return [Emit("chat", message)]
        return self._chat(message)

    def _on_presence(self, message: dict[str, Any], now: float) -> list[SessionAction]:
        left = [n for n in _names(message.get("left")) if n in self.online]
        self.online = [n for n in self.online if n not in left]
        self.typing = [n for n in self.typing if n not in left]
        joined = [n for n in dict.fromkeys(_names(message.get("joined"))) if n not in self.online]
        self.online += joined
        return [Emit("presence", {**message, "joined": joined, "left": left, "online": list(self.online)})]

    def _on_typing(self, message: dict[str, Any], now: float) -> list[SessionAction]:
        self.typing = _names(message.get("typing"))
        return [Emit("typing", message)]

    def _on_ack(self, message: dict[str, Any], now: float) -> list[SessionAction]:
        self.unacked.pop(str(message.get("id")), None)
        return [Emit("ack", message)]

    def _on_subscribed(self, message: dict[str, Any], now: float) -> list[SessionAction]:
        self._awaiting_channels.discard(str(message.get("channel")))
        return [Emit("subscribed", message)] + self._maybe_ready(now)

    def _on_error(self, message: dict[str, Any], now: float) -> list[SessionAction]:
        code = message.get("code")
        actions: list[SessionAction] = [Emit("error", {**message, "source": "server"})]
        if code == p.ErrorCode.RATE_LIMITED:
            if self.unacked and self._resend_at is None:
                self._resend_at = now + self.resend_after
            return actions
        if isinstance(message.get("id"), str):
            self.unacked.pop(message["id"], None)
        if code == p.ErrorCode.UNKNOWN_CHANNEL:
            channel = message.get("channel")
            if not isinstance(channel, str):
                # The frame names no channel: subscribes are answered in order, so it is the oldest awaited.
                channel = next((c for c in self.channels if c in self._awaiting_channels), None)
            # A channel we no longer want (the answer to an unsubscribe, or to a subscribe since withdrawn)
            # has nothing left to forget.
            if channel in self.channels:
                del self.channels[channel]
                self._awaiting_channels.discard(channel)
            return actions + self._maybe_ready(now)
        if self._awaiting_welcome and code in _JOIN_ERRORS:
            self._awaiting_welcome = False
            if code == p.ErrorCode.NAME_TAKEN and self._welcomed_room == (self.name, self.room):
                # The server still holds our previous connection: come back later.
                return actions + [
                    Disconnect(RETRY_JOIN_CODE, "re-join refused: name still taken by the previous connection")
                ]
            self.name = self.room = None  # a first join refused: forgotten; chats wait for the next join()
            return actions + self._maybe_ready(now)
        return actions

    # ------------------------------------------------------------ internals

    def _chat(self, item: dict[str, Any]) -> list[SessionAction]:
        seq = item.get("seq")
        if not _is_int(seq) or seq <= self.last_seq:
            return []  # a chat already emitted
        self.last_seq = seq
        if item.get("sender") == self.name and isinstance(item.get("id"), str):
            self.unacked.pop(item["id"], None)  # the room has it: as good as an ack
        return [Emit("chat", item)]

    def _join_message(self) -> dict[str, Any]:
        assert self.name is not None and self.room is not None
        join: dict[str, Any] = {"type": "join", "name": self.name, "room": self.room}
        if self._welcomed_room == (self.name, self.room):
            join["since"] = self.last_seq
            if self.epoch is not None:
                join["epoch"] = self.epoch
        return join

    def _start_restore(self, now: float) -> None:
        self._restore_deadline = now + self.restore_timeout

    def _maybe_ready(self, now: float) -> list[SessionAction]:
        """Once the restore is complete: resend unacked chats, flush the outbox, emit ``connect``."""
        if self.state != "restoring" or self._awaiting_welcome or self._awaiting_channels:
            return self._flush() if self.state == "open" else []
        self.state = "open"
        self._restore_deadline = None
        actions: list[SessionAction] = []
        resent = 0
        if self._joined:
            actions += [_send(m) for m in self.unacked.values()]
            resent = len(actions)
        flushed = self._flush()
        actions += flushed
        self.connections += 1
        actions.append(
            Emit(
                "connect",
                {"reconnect": self.connections > 1, "resent": resent, "flushed": len(flushed), "attempt": self.attempt},
            )
        )
        return actions

    def _flush(self) -> list[SessionAction]:
        """Send what the outbox holds, in order; chats only while joined (they keep their place)."""
        actions: list[SessionAction] = []
        keep: deque[dict[str, Any]] = deque()
        while self._outbox:
            message = self._outbox.popleft()
            if message.get("type") == "chat":
                if not self._joined:
                    keep.append(message)
                    continue
                self.unacked[str(message["id"])] = message
            actions.append(_send(message))
        self._outbox = keep
        return actions

    def _enqueue(self, message: dict[str, Any]) -> list[SessionAction]:
        if len(self._outbox) >= self.queue_limit:
            if self.overflow == "raise":
                raise QueueFullError(
                    f"{len(self._outbox)} messages already wait to be sent (queue_limit={self.queue_limit}) "
                    f"while the client is {self.state}; this one was not queued"
                )
            return [Emit("overflow", {"message": message, "queued": len(self._outbox), "limit": self.queue_limit})]
        self._outbox.append(message)
        return []

    def _retry(self) -> list[SessionAction]:
        delay = self.backoff.next_delay()
        return [Emit("reconnecting", {"attempt": self.backoff.attempt, "delay": delay}), Retry(delay)]

    def _finish(self, code: int, reason: str) -> list[SessionAction]:
        self.state = "closed"
        self._restore_deadline = self._resend_at = None
        unsent = len(self._outbox) + len(self.unacked)
        return [Emit("closed", {"code": code, "reason": reason, "unsent": unsent})]

    def _client_error(self, code: str, text: str, raw: str = "") -> Emit:
        return Emit("error", {"type": "error", "code": code, "message": text, "raw": raw, "source": "client"})

    def _check_open(self) -> None:
        if self.state == "closed" or self._closing is not None:
            why = self._closing[1] if self._closing is not None else "closed"
            raise ClientClosedError(f"the client stopped ({why}); create a new one to connect again")

    def __repr__(self) -> str:
        where = f" {self.name}@{self.room}" if self.name else ""
        return (
            f"<ClientSession {self.state}{where} seq={self.last_seq} unacked={len(self.unacked)} "
            f"queued={len(self._outbox)} attempt={self.attempt}>"
        )
