"""Chat rooms, presence, history, typing timers, channels and limits, sans I/O.

:class:`Hub` is the whole state of a chat server with no sockets in it. The
asyncio shell (:mod:`wslab.server.chat_server`) feeds it events::

    actions = hub.connect(conn)
    actions = hub.receive(conn, frame)     # one frame from a client
    actions = hub.disconnect(conn)
    actions = hub.tick()                   # when hub.next_deadline() is reached

and performs the :class:`Send` and :class:`Close` actions it returns, in order.
Connections are opaque hashable objects chosen by the shell. Time comes only
from the injected :class:`~wslab.core.clock.Clock`, so tests drive typing
expiry, presence and rate limits with a :class:`~wslab.core.clock.FakeClock`.

Contracts:

* every frame gets either its effect or exactly one ``error`` frame back
  (or, when flooding, a :class:`Close` with 1008); an ``error`` changes no state
  and reaches no one else;
* nothing a connection sends reaches another connection, or the room's state,
  unless it is valid: every string is valid Unicode and within its limits
  (:mod:`wslab.core.protocol` checks them);
* every outgoing message is built and encoded *before* the state changes, so a
  message that cannot be encoded is refused and leaves no trace: nothing in
  state or history can fail to encode later (in a ``welcome``, say);
* ``sender`` and ``timestamp`` are set here, never taken from the client;
* each outgoing message is encoded once, whatever the number of receivers;
* a ``chat`` resent with an ``id`` the room has already seen from the same
  sender is acknowledged again but not delivered twice;
* presence is coalesced: the full ``online`` list goes only in ``welcome``;
  joins and leaves are sent by :meth:`tick` as at most one ``presence`` frame
  per member per room per ``presence_interval`` (see :meth:`Hub.tick`);
* the server-side API (:meth:`publish`, :meth:`open_channel`, :meth:`kick`,
  :meth:`mute`) raises :class:`ValueError` (a
  :class:`~wslab.core.errors.ProtocolError` for a bad name) and changes nothing
  when given a value the protocol does not accept.

**Shared rooms** (``Hub(shared=True)``, see ``docs/scaling.md``). Several hubs,
one per node, share each room through a *backplane* that the shell drives
(:mod:`wslab.server.backplane`). The hub still makes every decision (validation,
names, mutes, dedupe, welcome, presence deltas, typing); the backplane only
stores and carries what the hub hands it. Three more actions appear:

* :class:`NeedRoom`: a ``join`` for a room this node has not loaded. The shell
  loads it (:meth:`restore_room`) and hands the join back (:meth:`handle`);
* :class:`Commit`: a valid ``chat`` that must be appended to the room's shared
  log, which assigns its ``seq``. The shell answers with :meth:`committed` (or
  :meth:`commit_failed`), and every node, this one included, feeds the logged
  message back with :meth:`apply`, in log order. Delivery happens only there,
  so every member of every node sees one order, each message once;
* :class:`Share`: this node's members or typers in a room changed; the shell
  tells the other nodes, whose shells call :meth:`remote_members` and
  :meth:`remote_typing`.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict, deque
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from wslab.core import protocol as p
from wslab.core.clock import SYSTEM_CLOCK, Clock, iso_utc
from wslab.core.ratelimit import TokenBucket

__all__ = [
    "Send",
    "Close",
    "NeedRoom",
    "Commit",
    "Share",
    "Action",
    "Conn",
    "Hub",
    "RoomSnapshot",
    "RECENT_IDS",
    "LISTED_CHANNELS",
    "recipients",
]

Conn = Hashable
"""A connection, as the shell names it: any hashable object."""

RECENT_IDS = 10_000
"""Client message ids remembered per room to drop resent duplicates."""

LISTED_CHANNELS = 20
"""How many channel names an ``unknown-channel`` error lists at most."""


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


@dataclass(frozen=True)
class NeedRoom:
    """Shared rooms: load ``message.room`` (:meth:`Hub.restore_room`), then pass ``message`` to :meth:`Hub.handle`."""

    conn: Conn
    message: p.Join


@dataclass(frozen=True)
class Commit:
    """Shared rooms: append ``chat`` (a ``chat`` message without ``seq``) to ``room``'s log.

    The log assigns the ``seq``, and refuses a second message with the same
    ``(sender, id)``. Answer with :meth:`Hub.committed` or :meth:`Hub.commit_failed`.
    """

    conn: Conn
    room: str
    chat: dict[str, Any]


@dataclass(frozen=True)
class Share:
    """Shared rooms: this node's ``members`` (in join order) or ``typing`` names in ``room`` are now ``names``."""

    room: str
    kind: str
    names: tuple[str, ...]


Action = Send | Close | NeedRoom | Commit | Share


@dataclass
class _Member:
    limiter: TokenBucket
    name: str | None = None
    room: str | None = None
    channels: set[str] = field(default_factory=set)
    strikes: int = 0
    closed: bool = False


@dataclass(frozen=True)
class _Remote:
    """A member on another node, as the room's roster names it."""

    name: str


@dataclass
class _Room:
    name: str
    epoch: str
    """The epoch the room was created with: it names this run of its history."""
    members: dict[Conn, str] = field(default_factory=dict)  # conn -> name, in join order
    seq: int = 0
    history: deque[dict[str, Any]] = field(default_factory=deque)
    typing: dict[str, float] = field(default_factory=dict)  # name -> expiry (monotonic)
    muted: set[str] = field(default_factory=set)
    # (sender, id) -> seq, oldest first; an OrderedDict so evicting the oldest is O(1)
    recent_ids: OrderedDict[tuple[str, str], int] = field(default_factory=OrderedDict)
    sent_times: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
    # Joins (True) and leaves (False) since the last presence frame, in order.
    presence_events: list[tuple[bool, str, Conn]] = field(default_factory=list)
    presence_due: float | None = None
    # Everyone in the room, this node's members and (shared rooms) other nodes', in arrival order.
    roster: dict[Conn, str] = field(default_factory=dict)
    by_name: dict[str, Conn] = field(default_factory=dict)  # casefolded name -> roster key: names are unique
    remote_typing: dict[str, str] = field(default_factory=dict)  # name -> the node it types on
    pending_acks: dict[int, tuple[Conn, str]] = field(default_factory=dict)  # seq -> (conn, id)

    def online(self) -> list[str]:
        return list(self.roster.values())

    def conn_of(self, name: str) -> Conn | None:
        """The roster entry (a local connection or a :class:`_Remote`) for ``name``, or None."""
        return self.by_name.get(name.casefold())

    def enrol(self, key: Conn, name: str) -> None:
        """Put ``key`` (a local connection or a :class:`_Remote`) on the roster as ``name``."""
        self.roster[key] = name
        self.by_name[name.casefold()] = key

    def unenrol(self, key: Conn) -> None:
        """Take ``key`` off the roster (no error if it is not there)."""
        name = self.roster.pop(key, None)
        if name is not None and self.by_name.get(name.casefold()) == key:
            del self.by_name[name.casefold()]

    def local_conn_of(self, name: str) -> Conn | None:
        conn = self.conn_of(name)
        return None if isinstance(conn, _Remote) else conn


@dataclass(frozen=True)
class RoomSnapshot:
    """What an instructor's dashboard shows of one room."""

    room: str
    online: tuple[str, ...]
    typing: tuple[str, ...]
    muted: tuple[str, ...]
    messages: int
    messages_last_minute: int


def _presence(room: str, joined: list[str], left: list[str]) -> dict[str, Any]:
    return {"type": "presence", "room": room, "joined": joined, "left": left}


class Hub:
    """The state of every room and channel on one server.

    Args:
        clock: where time comes from.
        history_size: chat messages kept per room and replayed on join.
        typing_timeout: seconds without a refresh before typing is cleared.
        presence_interval: seconds over which joins and leaves are gathered
            into one ``presence`` frame per room (0 sends them at the next tick).
        rate, burst: the per-connection token bucket (frames per second).
        flood_strikes: rate-limited frames tolerated before closing with 1008.
        epoch: the id of this hub's run of history, given to every room it
            creates and sent in each ``welcome``; None draws a fresh random one,
            so a new server's rooms never pass for an old server's. A hub that
            restores persisted rooms passes their epoch.
        shared: rooms are shared with other nodes through a backplane (see the
            module's docstring); False (the default) keeps everything here.

    Raises :class:`ValueError` for a nonsensical setting.
    """

    def __init__(
        self,
        *,
        clock: Clock = SYSTEM_CLOCK,
        history_size: int = p.HISTORY_SIZE,
        typing_timeout: float = p.TYPING_TIMEOUT,
        presence_interval: float = p.PRESENCE_INTERVAL,
        rate: float = p.RATE_PER_SECOND,
        burst: int = p.RATE_BURST,
        flood_strikes: int = p.FLOOD_STRIKES,
        epoch: str | None = None,
        shared: bool = False,
    ) -> None:
        if history_size < 0:
            raise ValueError("history_size must be >= 0")
        if typing_timeout <= 0:
            raise ValueError("typing_timeout must be > 0")
        if presence_interval < 0:
            raise ValueError("presence_interval must be >= 0")
        self.clock = clock
        self.history_size = history_size
        self.typing_timeout = typing_timeout
        self.presence_interval = presence_interval
        self.rate = rate
        self.burst = burst
        self.flood_strikes = flood_strikes
        self.epoch: str = secrets.token_hex(4) if epoch is None else p.validate_epoch(epoch)
        """The epoch new rooms are created with (each room keeps its own)."""
        self._members: dict[Conn, _Member] = {}
        self._rooms: dict[str, _Room] = {}
        self._channels: dict[str, dict[Conn, None]] = {}  # the open channels -> their subscribers
        self._channel_seq: dict[str, int] = {}
        self._deadline: float | None = None
        self._deadline_stale = False
        self.shared = shared
        self._loaded: set[str] = set()

    # ------------------------------------------------------------------ events

    def connect(self, conn: Conn) -> list[Action]:
        """A connection opened. Nothing is sent until it joins or subscribes."""
        if conn in self._members:
            raise ValueError(f"connection {conn!r} is already connected")
        self._members[conn] = _Member(TokenBucket(self.rate, self.burst, self.clock.monotonic()))
        return []

    def receive(self, conn: Conn, frame: str | bytes) -> list[Action]:
        """One frame arrived from ``conn``: rate-limit, parse, then handle it.

        Returns its effect, or exactly one ``error`` for ``conn``, or a
        :class:`Close` (1008) for a connection that keeps flooding; nothing for an
        unknown connection or one being closed.
        """
        member = self._members.get(conn)
        if member is None or member.closed:
            return []
        if not member.limiter.allow(self.clock.monotonic()):
            member.strikes += 1
            if member.strikes >= self.flood_strikes:
                member.closed = True
                return [Close(conn, p.CLOSE_POLICY_VIOLATION, "flooding: too many frames")]
            return [
                self._error(
                    conn,
                    p.ProtocolError(
                        p.ErrorCode.RATE_LIMITED,
                        f"more than {self.rate:g} frames per second; this one was dropped, send it again later",
                    ),
                )
            ]
        try:
            message = p.parse_client_frame(frame)
        except p.ProtocolError as exc:
            return [self._error(conn, exc)]
        return self.handle(conn, message)

    def handle(self, conn: Conn, message: p.ClientMessage) -> list[Action]:
        """Apply one parsed message from ``conn``: its effect, or exactly one ``error`` and no change."""
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
                return self._subscribe(conn, member, message.channel)
            if isinstance(message, p.Unsubscribe):
                reply = p.encode({"type": "unsubscribed", "channel": message.channel})
                self._channels.get(message.channel, {}).pop(conn, None)
                member.channels.discard(message.channel)
                return [Send((conn,), reply)]
        except p.ProtocolError as exc:
            return [self._error(conn, exc)]
        except ValueError as exc:
            # A reply that cannot be encoded. Replies are encoded before any change, so nothing changed.
            return [self._error(conn, p.ProtocolError(p.ErrorCode.BAD_FIELD, f"the server cannot answer: {exc}"))]
        raise TypeError(f"not a client message: {message!r}")

    def disconnect(self, conn: Conn) -> list[Action]:
        """``conn`` is gone: leave its room and its channels.

        Its typing ends at once (a ``typing`` frame now); its leaving is announced
        in the room's next ``presence`` frame.
        """
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
        room.unenrol(conn)
        actions: list[Action] = []
        if room.typing.pop(name, None) is not None:
            self._deadline_stale = True
            actions.extend(self._typing_changed(room, local=True))
        actions.extend(self._share_members(room))
        if room.members:
            self._record_presence(room, False, name, conn)
        else:
            # No one left to tell: what happened in this interval no longer matters.
            room.presence_events.clear()
            room.presence_due = None
            self._deadline_stale = True
        return actions

    def tick(self) -> list[Action]:
        """Do what is due: expire typing indicators, send each room's ``presence`` frame.

        A room's ``presence`` frame is due ``presence_interval`` after the first join
        or leave since its last one. It reads
        ``{"type": "presence", "room", "joined": [...], "left": [...]}``:

        * ``left``: every name that left the room during the interval, even if it
          came back, in the order they (first) left;
        * ``joined``: the names that joined during the interval and are members
          now, in join order.

        Receivers remove every name in ``left``, then append every name in
        ``joined`` they do not have; their list is then the room's, in join order.
        Members who were in the room when the interval began get that frame (one
        encoding for all). A member who joined during the interval already had the
        list in its ``welcome``: it gets the same frame when that leads to the right
        list, nothing when nothing happened after its ``welcome``, and otherwise (it
        joined after someone who left and came back in the same interval, whom the
        shared frame would move behind it) a frame of its own with only what
        happened after its ``welcome``.
        """
        now = self.clock.monotonic()
        actions: list[Action] = []
        for room in self._rooms.values():
            expired = [name for name, until in room.typing.items() if until <= now]
            if expired:
                local = False
                for name in expired:
                    del room.typing[name]
                    local = room.remote_typing.pop(name, None) is None or local
                self._deadline_stale = True
                actions.extend(self._typing_changed(room, local=local))
            if room.presence_due is not None and room.presence_due <= now:
                actions.extend(self._flush_presence(room))
        return actions

    def next_deadline(self) -> float | None:
        """The monotonic time at which :meth:`tick` has work, or None when it has none."""
        if self._deadline_stale:
            deadlines = [until for room in self._rooms.values() for until in room.typing.values()]
            deadlines += [room.presence_due for room in self._rooms.values() if room.presence_due is not None]
            self._deadline = min(deadlines) if deadlines else None
            self._deadline_stale = False
        return self._deadline

    # --------------------------------------------------------- server-side API

    def open_channel(self, channel: str) -> None:
        """Open ``channel`` so that clients may subscribe to it (opening it twice is harmless).

        Raises :class:`~wslab.core.errors.ProtocolError` (a :class:`ValueError`) for
        a name that is not a valid channel name.
        """
        channel = p.validate_channel(channel)
        self._channels.setdefault(channel, {})
        self._channel_seq.setdefault(channel, 0)

    def channels(self) -> list[str]:
        """The open channels, in the order they were opened."""
        return list(self._channels)

    def publish(self, channel: str, data: Any) -> list[Action]:
        """Send an ``update`` with ``data`` to the subscribers of ``channel``, opening it if needed.

        Raises :class:`ValueError` (and changes nothing: no channel opened, no
        ``seq`` used) for an invalid channel name or ``data`` that cannot be sent
        as JSON text (see :func:`wslab.core.protocol.encode`).
        """
        channel = p.validate_channel(channel)
        seq = self._channel_seq.get(channel, 0) + 1
        frame = p.encode(
            {
                "type": "update",
                "channel": channel,
                "seq": seq,
                "timestamp": iso_utc(self.clock.wall()),
                "data": data,
            }
        )
        self._channel_seq[channel] = seq
        subscribers = self._channels.setdefault(channel, {})
        if not subscribers:
            return []
        return [Send(tuple(subscribers), frame)]

    def kick(self, room: str, name: str, reason: str = "removed by the instructor") -> list[Action]:
        """Close the connection of ``name`` in ``room`` with 4003; no-op if absent.

        Raises :class:`~wslab.core.errors.ProtocolError` for an invalid room or name.
        """
        p.validate_room(room)
        p.validate_name(name)
        if not isinstance(reason, str) or not p.is_valid_unicode(reason) or len(reason.encode()) > 123:
            raise ValueError("a close reason must be valid Unicode text of at most 123 bytes in UTF-8")
        target = self._rooms.get(room)
        conn = target.local_conn_of(name) if target else None
        if conn is None:
            return []
        self._members[conn].closed = True
        return [Close(conn, p.CLOSE_KICKED, reason)]

    def mute(self, room: str, name: str, muted: bool = True) -> list[Action]:
        """Stop (or allow again) ``name``'s chat messages in ``room``; tells them.

        ``name`` need not be in the room yet: the mute applies when they join.
        Raises :class:`~wslab.core.errors.ProtocolError` for an invalid room or name.
        """
        p.validate_room(room)
        p.validate_name(name)
        note = "an instructor muted you" if muted else "an instructor unmuted you"
        frame = p.encode({"type": "notice", "message": note, "muted": muted})
        target = self._rooms.get(room)
        if target is None:
            target = self._rooms[room] = _Room(room, self.epoch)
        if muted:
            target.muted.add(name.casefold())
        else:
            target.muted.discard(name.casefold())
        conn = target.local_conn_of(name)
        if conn is None:
            return []
        return [Send((conn,), frame)]

    # ------------------------------------------------------- shared rooms

    def restore_room(
        self,
        room: str,
        epoch: str,
        seq: int,
        history: Iterable[dict[str, Any]],
        remote: Iterable[str] = (),
    ) -> list[Action]:
        """Shared rooms: ``room`` as the backplane holds it; joins to it are then handled here.

        ``history`` is the log's tail (oldest first, each with its ``seq``),
        ``remote`` the names on other nodes in join order. Calling it again (after
        the link to the backplane came back) moves the room forward, never back.
        Raises :class:`ValueError` for an invalid room, epoch or seq.
        """
        room = p.validate_room(room)
        epoch = p.validate_epoch(epoch)
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise ValueError(f"seq must be an integer >= 0, got {seq!r}")
        target = self._rooms.get(room)
        if target is None:
            target = self._rooms[room] = _Room(room, epoch)
        target.epoch = epoch
        if seq > target.seq:
            kept = [m for m in history if m.get("seq", 0) > target.seq]
            if kept and kept[0]["seq"] == target.seq + 1 and target.seq > 0:
                target.history.extend(kept)  # what we missed follows on from what we have
            else:
                target.history = deque(m for m in history)
            while len(target.history) > self.history_size:
                target.history.popleft()
            for message in target.history:
                if "id" in message:
                    target.recent_ids[(message["sender"], message["id"])] = message["seq"]
            while len(target.recent_ids) > RECENT_IDS:
                target.recent_ids.popitem(last=False)
            target.seq = seq
        self._loaded.add(room)
        return self.remote_members(room, remote)

    def committed(self, commit: Commit, seq: int, duplicate: bool = False) -> list[Action]:
        """Shared rooms: the log took ``commit`` as ``seq`` (or already had it, as ``seq``, when ``duplicate``).

        The ``ack`` goes to the sender once this node has delivered ``seq`` (at
        once for a duplicate, which is not delivered again).
        """
        member = self._members.get(commit.conn)
        room = self._rooms.get(commit.room)
        ident = commit.chat.get("id")
        if member is None or member.closed or room is None or ident is None:
            return []
        if duplicate:
            return [Send((commit.conn,), p.encode({"type": "ack", "id": ident, "seq": seq, "duplicate": True}))]
        if room.seq >= seq:
            return [Send((commit.conn,), p.encode({"type": "ack", "id": ident, "seq": seq}))]
        room.pending_acks[seq] = (commit.conn, ident)
        return []

    def commit_failed(self, commit: Commit) -> list[Action]:
        """Shared rooms: the log could not be reached. The sender gets no ``ack``: its connection is closed
        with 1013, so its client reconnects (perhaps to another node) and sends the message again."""
        member = self._members.get(commit.conn)
        if member is None or member.closed:
            return []
        member.closed = True
        return [Close(commit.conn, p.CLOSE_TRY_AGAIN_LATER, "the server could not store your message; send it again")]

    def apply(self, chat: dict[str, Any]) -> list[Action]:
        """Shared rooms: one ``chat`` from the room's log (any node's), in log order: deliver it here.

        A message whose ``seq`` this node has already delivered is dropped, so
        the backplane may hand the same entries over again (after a reconnect).
        """
        room = self._rooms.get(chat.get("room", ""))
        seq = chat.get("seq")
        if room is None or not isinstance(seq, int) or seq <= room.seq:
            return []
        frame = p.encode(chat)
        actions: list[Action] = []
        sender = chat["sender"]
        if room.typing.pop(sender, None) is not None:
            self._deadline_stale = True
            actions.extend(self._typing_changed(room, local=room.remote_typing.pop(sender, None) is None))
        self._store(room, chat, seq, sender, chat.get("id"))
        if room.members:
            actions.append(Send(tuple(room.members), frame))
        pending = room.pending_acks.pop(seq, None)
        if pending is not None and pending[0] in self._members:
            actions.append(Send((pending[0],), p.encode({"type": "ack", "id": pending[1], "seq": seq})))
        for stale in [s for s in room.pending_acks if s < seq]:  # trimmed from the log before we read it
            conn, ident = room.pending_acks.pop(stale)
            if conn in self._members:
                actions.append(Send((conn,), p.encode({"type": "ack", "id": ident, "seq": stale})))
        return actions

    def remote_members(self, room: str, names: Iterable[str]) -> list[Action]:
        """Shared rooms: the members of ``room`` on the other nodes are now ``names`` (in join order).

        Joins and leaves go into the room's next ``presence`` frame, like local ones.
        """
        target = self._rooms.get(room)
        if target is None:
            return []
        wanted = dict.fromkeys(names)
        current = {key.name: key for key in target.roster if isinstance(key, _Remote)}
        local = {name.casefold() for name in target.members.values()}
        for name, key in current.items():
            if name not in wanted:
                target.unenrol(key)
                if target.members:
                    self._record_presence(target, False, name, key)
        for name in wanted:
            if name not in current and name.casefold() not in local:
                key = _Remote(name)
                target.enrol(key, name)
                if target.members:
                    self._record_presence(target, True, name, key)
        return []

    def remote_typing(self, room: str, node: str, names: Iterable[str]) -> list[Action]:
        """Shared rooms: on node ``node``, ``names`` are typing in ``room`` (refreshes their timeout)."""
        target = self._rooms.get(room)
        if target is None:
            return []
        now = self.clock.monotonic()
        wanted = set(names)
        changed = False
        for name in [n for n, where in target.remote_typing.items() if where == node and n not in wanted]:
            del target.remote_typing[name]
            target.typing.pop(name, None)
            changed = True
        for name in wanted:
            if name not in target.typing:
                changed = True
            target.typing[name] = now + self.typing_timeout
            target.remote_typing[name] = node
        self._deadline_stale = True
        return [self._typing_update(target)] if changed and target.members else []

    def local_members(self, room: str) -> list[str]:
        """The names in ``room`` on this node, in join order."""
        target = self._rooms.get(room)
        return list(target.members.values()) if target else []

    def rooms(self) -> list[str]:
        """Names of the rooms that have or had members."""
        return list(self._rooms)

    def room_epoch(self, room: str) -> str | None:
        """The epoch of ``room``'s history, or None if the room does not exist."""
        target = self._rooms.get(room)
        return target.epoch if target else None

    def snapshot(self, room: str) -> RoomSnapshot:
        """A read-only view of ``room`` for dashboards and tests."""
        target = self._rooms.get(room) or _Room(room, self.epoch)
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

    def members(self, room: str) -> list[tuple[Conn, str, int]]:
        """``(connection, name, rate-limit strikes)`` for everyone in ``room``, in join order.

        Strikes count the frames dropped for going over the rate limit; at
        ``flood_strikes`` the connection is closed with 1008. For dashboards.
        """
        target = self._rooms.get(room)
        if target is None:
            return []
        return [(conn, name, self._members[conn].strikes) for conn, name in target.members.items()]

    def history(self, room: str) -> list[dict[str, Any]]:
        """The chat messages ``room`` keeps, oldest first (copies)."""
        target = self._rooms.get(room)
        return [dict(m) for m in target.history] if target else []

    def connection_count(self) -> int:
        return len(self._members)

    # ------------------------------------------------------------- internals

    def _error(self, conn: Conn, exc: p.ProtocolError) -> Send:
        try:
            return Send((conn,), p.encode(exc.to_message()))
        except ValueError:  # messages quote client values safely; this is a last resort
            return Send((conn,), p.encode({"type": "error", "code": exc.code, "message": "frame refused"}))

    def _store(self, room: _Room, chat: dict[str, Any], seq: int, sender: str, id_: str | None) -> None:
        """Record a delivered chat: the room's seq, its client id (for dedupe), history and rate."""
        room.seq = seq
        if id_ is not None:
            room.recent_ids[(sender, id_)] = seq
            if len(room.recent_ids) > RECENT_IDS:
                room.recent_ids.popitem(last=False)
        if self.history_size:
            room.history.append(chat)
            while len(room.history) > self.history_size:
                room.history.popleft()
        room.sent_times.append(self.clock.monotonic())

    def _typing_update(self, room: _Room) -> Send:
        frame = p.encode({"type": "typing", "room": room.name, "typing": list(room.typing)})
        return Send(tuple(room.members), frame)

    def _typing_changed(self, room: _Room, *, local: bool) -> list[Action]:
        actions: list[Action] = [self._typing_update(room)] if room.members else []
        if self.shared and local:
            names = tuple(n for n in room.typing if n not in room.remote_typing)
            actions.append(Share(room.name, "typing", names))
        return actions

    def _share_members(self, room: _Room) -> list[Action]:
        return [Share(room.name, "members", tuple(room.members.values()))] if self.shared else []

    def _record_presence(self, room: _Room, joined: bool, name: str, conn: Conn) -> None:
        if room.presence_due is None:
            room.presence_due = self.clock.monotonic() + self.presence_interval
            self._deadline_stale = True
        room.presence_events.append((joined, name, conn))

    def _flush_presence(self, room: _Room) -> list[Action]:
        events, room.presence_events = room.presence_events, []
        room.presence_due = None
        self._deadline_stale = True
        if not room.members or not events:
            return []
        join_at: dict[Conn, int] = {}
        left: dict[str, None] = {}  # names, in the order they first left
        for index, (is_join, name, conn) in enumerate(events):
            if is_join:
                join_at[conn] = index
            else:
                left.setdefault(name, None)
        # Members who joined during the interval, in join order (room.members is in join order).
        newcomers = [(conn, name) for conn, name in room.roster.items() if conn in join_at]
        # The earliest join of a name that also left: receivers who joined after it cannot use the
        # shared frame (removing and re-appending that name would put it after them).
        rejoin = min((join_at[conn] for conn, name in newcomers if name in left), default=len(events))
        last = len(events) - 1
        shared: list[Conn] = []
        own: list[Conn] = []
        for conn in room.members:
            at = join_at.get(conn)
            if at is None or (at < last and at <= rejoin):
                shared.append(conn)
            elif at < last:
                own.append(conn)
            # else: it joined last; its welcome already says it all
        actions: list[Action] = []
        if shared:
            frame = p.encode(_presence(room.name, [name for _, name in newcomers], list(left)))
            actions.append(Send(tuple(shared), frame))
        for conn in own:
            since = join_at[conn]
            later_left = dict.fromkeys(name for is_join, name, _ in events[since + 1 :] if not is_join)
            later_joined = [name for other, name in newcomers if join_at[other] > since]
            actions.append(Send((conn,), p.encode(_presence(room.name, later_joined, list(later_left)))))
        return actions

    def _subscribe(self, conn: Conn, member: _Member, channel: str) -> list[Action]:
        subscribers = self._channels.get(channel)
        if subscribers is None:
            names = list(self._channels)
            if not names:
                there = "the server has not opened any channel yet"
            else:
                listed = ", ".join(repr(n) for n in names[:LISTED_CHANNELS])
                more = f" and {len(names) - LISTED_CHANNELS} more" if len(names) > LISTED_CHANNELS else ""
                there = f"the channels are: {listed}{more}"
            raise p.ProtocolError(
                p.ErrorCode.UNKNOWN_CHANNEL,
                f"there is no channel {channel!r}; {there}",
                field="channel",
                channel=channel,
            )
        reply = p.encode({"type": "subscribed", "channel": channel})
        subscribers[conn] = None
        member.channels.add(channel)
        return [Send((conn,), reply)]

    def _join(self, conn: Conn, member: _Member, message: p.Join) -> list[Action]:
        if member.room is not None:
            raise p.ProtocolError(
                p.ErrorCode.ALREADY_JOINED,
                f"already joined room {member.room!r} as {member.name!r}; "
                "open another connection to join again",
            )
        if self.shared and message.room not in self._loaded:
            return [NeedRoom(conn, message)]
        room = self._rooms.get(message.room) or _Room(message.room, self.epoch)
        holder = room.conn_of(message.name)
        # A re-join (with since) may take over a name held on another node: it is the same client
        # coming back after its node died, before that node's presence expired. A new join may not.
        takeover = isinstance(holder, _Remote) and message.since is not None
        if holder is not None and not takeover:
            raise p.ProtocolError(
                p.ErrorCode.NAME_TAKEN,
                f"{message.name!r} is already in room {room.name!r}; choose another name",
                field="name",
            )
        resume = message.since is not None and (message.epoch is None or message.epoch == room.epoch)
        if message.since is not None and resume:
            history = [m for m in room.history if m["seq"] > message.since]
            oldest = room.history[0]["seq"] if room.history else room.seq + 1
            complete = message.since >= oldest - 1 or message.since >= room.seq
        else:
            # No since, or since counts in another epoch's history: replay all that is kept.
            history = list(room.history)
            complete = room.seq <= len(room.history)
        welcome = p.encode(
            {
                "type": "welcome",
                "name": message.name,
                "room": room.name,
                "epoch": room.epoch,
                "online": [*(n for k, n in room.roster.items() if k != holder or not takeover), message.name],
                "typing": list(room.typing),
                "seq": room.seq,
                "history": history,
                "history_complete": complete,
            }
        )
        # Encoded: now change the state.
        self._rooms.setdefault(room.name, room)
        if takeover:
            room.unenrol(holder)  # the name stays online: no leave, no join
        alone = not room.members
        room.members[conn] = message.name
        room.enrol(conn, message.name)
        member.name, member.room = message.name, room.name
        if not alone:  # into an empty room, the welcome says it all
            self._record_presence(room, True, message.name, conn)
        return [Send((conn,), welcome), *self._share_members(room)]

    def _joined_room(self, member: _Member, what: str) -> _Room:
        if member.room is None:
            raise p.ProtocolError(p.ErrorCode.NOT_JOINED, f"send 'join' with your name before '{what}'")
        return self._rooms[member.room]

    def _chat(self, conn: Conn, member: _Member, message: p.Chat) -> list[Action]:
        room = self._joined_room(member, "chat")
        assert member.name is not None
        if member.name.casefold() in room.muted:
            raise p.ProtocolError(
                p.ErrorCode.MUTED, "an instructor muted you; your message was not sent", id=message.id
            )
        if message.id is not None:
            seen = room.recent_ids.get((member.name, message.id))
            if seen is not None:
                # A resend of a message we already have (the ack was lost with the
                # connection): acknowledge again, deliver nothing twice.
                return [Send((conn,), p.encode({"type": "ack", "id": message.id, "seq": seen, "duplicate": True}))]
        seq = room.seq + 1
        chat: dict[str, Any] = {
            "type": "chat",
            "room": room.name,
            "seq": seq,
            "sender": member.name,
            "content": message.content,
            "timestamp": iso_utc(self.clock.wall()),
        }
        if message.id is not None:
            chat["id"] = message.id
        frame = p.encode(chat)
        if self.shared:
            # The log assigns the seq; delivery and the ack come back through apply() and committed().
            del chat["seq"]
            return [Commit(conn, room.name, chat)]
        ack = p.encode({"type": "ack", "id": message.id, "seq": seq}) if message.id is not None else None
        # Encoded: now change the state.
        actions: list[Action] = []
        if room.typing.pop(member.name, None) is not None:
            self._deadline_stale = True
            actions.append(self._typing_update(room))
        self._store(room, chat, seq, member.name, message.id)
        actions.append(Send(tuple(room.members), frame))
        if ack is not None:
            actions.append(Send((conn,), ack))
        return actions

    def _typing(self, conn: Conn, member: _Member, message: p.Typing) -> list[Action]:
        room = self._joined_room(member, "typing")
        assert member.name is not None
        self._deadline_stale = True
        if message.typing:
            was_typing = member.name in room.typing
            room.typing[member.name] = self.clock.monotonic() + self.typing_timeout
            if was_typing:  # other nodes time it out too: tell them it goes on
                return self._typing_changed(room, local=True)[1:] if self.shared else []
            return self._typing_changed(room, local=True)
        if room.typing.pop(member.name, None) is None:
            return []
        return self._typing_changed(room, local=True)


def recipients(actions: Iterable[Action]) -> set[Conn]:
    """Every connection some :class:`Send` in ``actions`` goes to (a test helper)."""
    return {conn for action in actions if isinstance(action, Send) for conn in action.to}
