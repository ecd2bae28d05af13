"""Chat rooms, presence, history, typing timers, channels and limits, sans I/O.

:class:`Hub` is the whole state of a chat server with no sockets in it. The
asyncio shell (:mod:`wslab.server`) feeds it events::

    actions = hub.connect(conn)
    actions = hub.receive(conn, frame)     # one frame from a client
    actions = hub.disconnect(conn)
    actions = hub.tick()                   # when hub.next_deadline() is reached

and performs the :class:`Send` and :class:`Close` actions it returns, in order.
Connections are opaque hashable objects chosen by the shell. Time comes only
from the injected :class:`~wslab.clock.Clock`, so tests drive typing expiry and
rate limits with a :class:`~wslab.clock.FakeClock`.

Contracts:

* every frame gets either its effect or exactly one ``error`` frame back
  (or, when flooding, a :class:`Close` with 1008);
* nothing a connection sends reaches another connection unless it is valid;
* ``sender`` and ``timestamp`` are set here, never taken from the client;
* each outgoing message is encoded once, whatever the number of receivers;
* a ``chat`` resent with an ``id`` the room has already seen from the same
  sender is acknowledged again but not delivered twice.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from wslab.core import protocol as p
from wslab.core.clock import SYSTEM_CLOCK, Clock, iso_utc
from wslab.core.ratelimit import TokenBucket

__all__ = ["Send", "Close", "Action", "Hub", "RoomSnapshot"]

Conn = Hashable

RECENT_IDS = 10_000
"""Client message ids remembered per room to drop resent duplicates."""


@dataclass(frozen=True)
class Send:
    """Send ``frame`` (encoded JSON text) to every connection in ``to``."""

    to: tuple[Conn, ...]
    frame: str


@dataclass(frozen=True)
class Close:
    """Close ``conn`` with ``code`` and ``reason``."""

    conn: Conn
    code: int
    reason: str


Action = Send | Close


@dataclass
class _Member:
    limiter: TokenBucket
    name: str | None = None
    room: str | None = None
    channels: set[str] = field(default_factory=set)
    strikes: int = 0
    closed: bool = False


@dataclass
class _Room:
    name: str
    members: dict[Conn, str] = field(default_factory=dict)  # conn -> name, in join order
    seq: int = 0
    history: deque[dict[str, Any]] = field(default_factory=deque)
    typing: dict[str, float] = field(default_factory=dict)  # name -> expiry (monotonic)
    muted: set[str] = field(default_factory=set)
    # (sender, id) -> seq, oldest first; an OrderedDict so evicting the oldest is O(1)
    recent_ids: OrderedDict[tuple[str, str], int] = field(default_factory=OrderedDict)
    sent_times: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))

    def online(self) -> list[str]:
        return list(self.members.values())

    def conn_of(self, name: str) -> Conn | None:
        folded = name.casefold()
        for conn, member in self.members.items():
            if member.casefold() == folded:
                return conn
        return None


@dataclass(frozen=True)
class RoomSnapshot:
    """What an instructor's dashboard shows of one room."""

    room: str
    online: tuple[str, ...]
    typing: tuple[str, ...]
    muted: tuple[str, ...]
    messages: int
    messages_last_minute: int


class Hub:
    """The state of every room and channel on one server.

    Args:
        clock: where time comes from.
        history_size: chat messages kept per room and replayed on join.
        typing_timeout: seconds without a refresh before typing is cleared.
        rate, burst: the per-connection token bucket (frames per second).
        flood_strikes: rate-limited frames tolerated before closing with 1008.
    """

    def __init__(
        self,
        *,
        clock: Clock = SYSTEM_CLOCK,
        history_size: int = p.HISTORY_SIZE,
        typing_timeout: float = p.TYPING_TIMEOUT,
        rate: float = p.RATE_PER_SECOND,
        burst: int = p.RATE_BURST,
        flood_strikes: int = p.FLOOD_STRIKES,
    ) -> None:
        if history_size < 0:
            raise ValueError("history_size must be >= 0")
        if typing_timeout <= 0:
            raise ValueError("typing_timeout must be > 0")
        self.clock = clock
        self.history_size = history_size
        self.typing_timeout = typing_timeout
        self.rate = rate
        self.burst = burst
        self.flood_strikes = flood_strikes
        self._members: dict[Conn, _Member] = {}
        self._rooms: dict[str, _Room] = {}
        self._channels: dict[str, dict[Conn, None]] = {}
        self._channel_seq: dict[str, int] = {}

    # ------------------------------------------------------------------ events

    def connect(self, conn: Conn) -> list[Action]:
        """A connection opened. Nothing is sent until it joins or subscribes."""
        if conn in self._members:
            raise ValueError(f"connection {conn!r} is already connected")
        self._members[conn] = _Member(TokenBucket(self.rate, self.burst, self.clock.monotonic()))
        return []

    def receive(self, conn: Conn, frame: str | bytes) -> list[Action]:
        """One frame arrived from ``conn``: rate-limit, parse, then handle it."""
        member = self._members.get(conn)
        if member is None or member.closed:
            return []
        if not member.limiter.allow(self.clock.monotonic()):
            member.strikes += 1
            if member.strikes >= self.flood_strikes:
                member.closed = True
                return [Close(conn, p.CLOSE_POLICY_VIOLATION, "flooding: too many frames")]
            return [
                Send(
                    (conn,),
                    p.encode(
                        p.ProtocolError(
                            p.ErrorCode.RATE_LIMITED,
                            f"more than {self.rate:g} frames per second; "
                            "this one was dropped, send it again later",
                        ).to_message()
                    ),
                )
            ]
        try:
            message = p.parse_client_frame(frame)
        except p.ProtocolError as exc:
            return [Send((conn,), p.encode(exc.to_message()))]
        return self.handle(conn, message)

    def handle(self, conn: Conn, message: p.ClientMessage) -> list[Action]:
        """Apply one parsed message from ``conn``."""
        member = self._members.get(conn)
        if member is None or member.closed:
            return []
        try:
            if isinstance(message, p.Join):
                return self._join(conn, member, message)
            if isinstance(message, p.Chat):
                return self._chat(conn, member, message)
            if isinstance(message, p.Typing):
                return self._typing(conn, member, message)
            if isinstance(message, p.Subscribe):
                self._channels.setdefault(message.channel, {})[conn] = None
                member.channels.add(message.channel)
                return [self._one(conn, {"type": "subscribed", "channel": message.channel})]
            if isinstance(message, p.Unsubscribe):
                self._channels.get(message.channel, {}).pop(conn, None)
                member.channels.discard(message.channel)
                return [self._one(conn, {"type": "unsubscribed", "channel": message.channel})]
        except p.ProtocolError as exc:
            return [Send((conn,), p.encode(exc.to_message()))]
        raise TypeError(f"not a client message: {message!r}")

    def disconnect(self, conn: Conn) -> list[Action]:
        """``conn`` is gone: leave its room (clearing its typing) and its channels."""
        member = self._members.pop(conn, None)
        if member is None:
            return []
        for channel in member.channels:
            subscribers = self._channels.get(channel)
            if subscribers is not None:
                subscribers.pop(conn, None)
        if member.room is None:
            return []
        room = self._rooms[member.room]
        name = room.members.pop(conn)
        actions: list[Action] = []
        if room.typing.pop(name, None) is not None:
            actions.append(self._typing_update(room))
        if room.members:
            actions.append(
                self._to_room(
                    room, {"type": "presence", "room": room.name, "left": name, "online": room.online()}
                )
            )
        return actions

    def tick(self) -> list[Action]:
        """Expire typing indicators whose time has come."""
        now = self.clock.monotonic()
        actions: list[Action] = []
        for room in self._rooms.values():
            expired = [name for name, until in room.typing.items() if until <= now]
            if expired:
                for name in expired:
                    del room.typing[name]
                actions.append(self._typing_update(room))
        return actions

    def next_deadline(self) -> float | None:
        """The monotonic time at which :meth:`tick` has work, or None."""
        deadlines = [until for room in self._rooms.values() for until in room.typing.values()]
        return min(deadlines) if deadlines else None

    # --------------------------------------------------------- server-side API

    def publish(self, channel: str, data: Any) -> list[Action]:
        """Send an ``update`` with ``data`` to the subscribers of ``channel``."""
        p.validate_channel(channel)
        seq = self._channel_seq.get(channel, 0) + 1
        self._channel_seq[channel] = seq
        subscribers = self._channels.get(channel)
        if not subscribers:
            return []
        frame = p.encode(
            {
                "type": "update",
                "channel": channel,
                "seq": seq,
                "timestamp": iso_utc(self.clock.wall()),
                "data": data,
            }
        )
        return [Send(tuple(subscribers), frame)]

    def kick(self, room: str, name: str, reason: str = "removed by the instructor") -> list[Action]:
        """Close the connection of ``name`` in ``room`` with 4003; no-op if absent."""
        target = self._rooms.get(room)
        conn = target.conn_of(name) if target else None
        if conn is None:
            return []
        self._members[conn].closed = True
        return [Close(conn, p.CLOSE_KICKED, reason)]

    def mute(self, room: str, name: str, muted: bool = True) -> list[Action]:
        """Stop (or allow again) ``name``'s chat messages in ``room``; tells them."""
        target = self._rooms.setdefault(room, _Room(room))
        if muted:
            target.muted.add(name.casefold())
        else:
            target.muted.discard(name.casefold())
        conn = target.conn_of(name)
        if conn is None:
            return []
        note = "an instructor muted you" if muted else "an instructor unmuted you"
        return [self._one(conn, {"type": "notice", "message": note, "muted": muted})]

    def rooms(self) -> list[str]:
        """Names of the rooms that have or had members."""
        return list(self._rooms)

    def snapshot(self, room: str) -> RoomSnapshot:
        """A read-only view of ``room`` for dashboards and tests."""
        target = self._rooms.get(room) or _Room(room)
        now = self.clock.monotonic()
        recent = sum(1 for t in target.sent_times if now - t <= 60.0)
        return RoomSnapshot(
            room=room,
            online=tuple(target.online()),
            typing=tuple(target.typing),
            muted=tuple(sorted(target.muted)),
            messages=target.seq,
            messages_last_minute=recent,
        )

    def history(self, room: str) -> list[dict[str, Any]]:
        """The chat messages ``room`` keeps, oldest first."""
        target = self._rooms.get(room)
        return list(target.history) if target else []

    def connection_count(self) -> int:
        return len(self._members)

    # ------------------------------------------------------------- internals

    def _one(self, conn: Conn, message: dict[str, Any]) -> Send:
        return Send((conn,), p.encode(message))

    def _to_room(self, room: _Room, message: dict[str, Any]) -> Send:
        return Send(tuple(room.members), p.encode(message))

    def _typing_update(self, room: _Room) -> Send:
        return self._to_room(room, {"type": "typing", "room": room.name, "typing": list(room.typing)})

    def _join(self, conn: Conn, member: _Member, message: p.Join) -> list[Action]:
        if member.room is not None:
            raise p.ProtocolError(
                p.ErrorCode.ALREADY_JOINED,
                f"already joined room {member.room!r} as {member.name!r}; "
                "open another connection to join again",
            )
        room = self._rooms.get(message.room)
        if room is None:
            room = self._rooms[message.room] = _Room(message.room)
        if room.conn_of(message.name) is not None:
            raise p.ProtocolError(
                p.ErrorCode.NAME_TAKEN,
                f"{message.name!r} is already in room {room.name!r}; choose another name",
            )
        room.members[conn] = message.name
        member.name, member.room = message.name, room.name
        if message.since is None:
            history = list(room.history)
            complete = room.seq <= len(room.history)
        else:
            history = [m for m in room.history if m["seq"] > message.since]
            oldest = room.history[0]["seq"] if room.history else room.seq + 1
            complete = message.since >= oldest - 1 or message.since >= room.seq
        welcome = {
            "type": "welcome",
            "name": message.name,
            "room": room.name,
            "online": room.online(),
            "typing": list(room.typing),
            "seq": room.seq,
            "history": history,
            "history_complete": complete,
        }
        actions: list[Action] = [self._one(conn, welcome)]
        others = tuple(c for c in room.members if c != conn)
        if others:
            actions.append(
                Send(
                    others,
                    p.encode(
                        {"type": "presence", "room": room.name, "joined": message.name, "online": room.online()}
                    ),
                )
            )
        return actions

    def _joined_room(self, member: _Member, what: str) -> _Room:
        if member.room is None:
            raise p.ProtocolError(
                p.ErrorCode.NOT_JOINED, f"send 'join' with your name before '{what}'"
            )
        return self._rooms[member.room]

    def _chat(self, conn: Conn, member: _Member, message: p.Chat) -> list[Action]:
        room = self._joined_room(member, "chat")
        assert member.name is not None
        if member.name.casefold() in room.muted:
            raise p.ProtocolError(p.ErrorCode.MUTED, "an instructor muted you; your message was not sent")
        if message.id is not None:
            seen = room.recent_ids.get((member.name, message.id))
            if seen is not None:
                # A resend of a message we already have (the ack was lost with the
                # connection): acknowledge again, deliver nothing twice.
                return [self._one(conn, {"type": "ack", "id": message.id, "seq": seen, "duplicate": True})]
        actions: list[Action] = []
        if room.typing.pop(member.name, None) is not None:
            actions.append(self._typing_update(room))
        room.seq += 1
        chat: dict[str, Any] = {
            "type": "chat",
            "room": room.name,
            "seq": room.seq,
            "sender": member.name,
            "content": message.content,
            "timestamp": iso_utc(self.clock.wall()),
        }
        if message.id is not None:
            chat["id"] = message.id
            room.recent_ids[(member.name, message.id)] = room.seq
            if len(room.recent_ids) > RECENT_IDS:
                room.recent_ids.popitem(last=False)
        if self.history_size:
            room.history.append(chat)
            while len(room.history) > self.history_size:
                room.history.popleft()
        room.sent_times.append(self.clock.monotonic())
        actions.append(self._to_room(room, chat))
        if message.id is not None:
            actions.append(self._one(conn, {"type": "ack", "id": message.id, "seq": room.seq}))
        return actions

    def _typing(self, conn: Conn, member: _Member, message: p.Typing) -> list[Action]:
        room = self._joined_room(member, "typing")
        assert member.name is not None
        if message.typing:
            was_typing = member.name in room.typing
            room.typing[member.name] = self.clock.monotonic() + self.typing_timeout
            return [] if was_typing else [self._typing_update(room)]
        if room.typing.pop(member.name, None) is None:
            return []
        return [self._typing_update(room)]


def recipients(actions: Iterable[Action]) -> set[Conn]:
    """Every connection some :class:`Send` in ``actions`` goes to (a test helper)."""
    return {conn for action in actions if isinstance(action, Send) for conn in action.to}
