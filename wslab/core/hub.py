"""The server side of the chat protocol, sans I/O: :class:`Hub` routes connections to rooms and channels.

:class:`Hub` is the whole state of a chat server with no sockets in it. The
asyncio shell (:mod:`wslab.server.chat_server`) feeds it events::

    actions = hub.connect(conn)
    actions = hub.receive(conn, frame)     # one frame from a client
    actions = hub.disconnect(conn)
    actions = hub.tick()                   # when hub.next_deadline() is reached

and performs the :class:`Deliver` and :class:`Close` actions it returns, in
order. Connections are opaque hashable objects chosen by the shell. Time comes
only from the injected :class:`~wslab.core.clock.Clock`, so tests drive typing
expiry, presence and rate limits with a :class:`~wslab.core.clock.FakeClock`.

The hub holds what is per connection (its rate limit and flood strikes, the
room and name it joined), parses and dispatches frames, moderates (kick,
mute) and keeps one deadline across rooms. What happens inside a room
(names, history, dedupe, typing, presence, the ``welcome``) is
:class:`~wslab.core.room.Room`'s; channels are
:class:`~wslab.core.channels.Channels`'. Longer than 500 lines because this is
where every frame becomes actions: dispatch, the per-connection limits,
moderation and the shared-room seam (three more actions and the calls that
answer them), each short and each with its contract; no rule about a room's
own state is here.

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
  joins and leaves are sent by :meth:`Hub.tick` as at most one ``presence``
  frame per member per room per ``presence_interval``
  (:meth:`Room.flush_presence <wslab.core.room.Room.flush_presence>` has the rule);
* the server-side API (:meth:`Hub.publish`, :meth:`Hub.open_channel`,
  :meth:`Hub.kick`, :meth:`Hub.ban`, :meth:`Hub.mute`) raises :class:`ValueError` (a
  :class:`~wslab.core.errors.ProtocolError` for a bad name) and changes nothing
  when given a value the protocol does not accept.

**Shared rooms** (``Hub(shared=True)``, see ``docs/scaling.md``). Several hubs,
one per node, share each room through a *backplane* that the shell drives
(:mod:`wslab.server.backplane`). The hub still makes every decision (validation,
names, mutes, dedupe, welcome, presence deltas, typing); the backplane only
stores and carries what the hub hands it. Three more actions appear:

* :class:`NeedRoom`: a ``join`` for a room this node has not loaded. The shell
  loads it (:meth:`Hub.restore_room`) and hands the join back (:meth:`Hub.handle`);
* :class:`Commit`: a valid ``chat`` that must be appended to the room's shared
  log, which assigns its ``seq``. The shell answers with :meth:`Hub.committed`
  (or :meth:`Hub.commit_failed`), and every node, this one included, feeds the
  logged message back with :meth:`Hub.apply`, in log order. Delivery happens
  only there, so every member of every node sees one order, each message once;
* :class:`Share`: this node's members or typers in a room changed; the shell
  tells the other nodes, whose shells call :meth:`Hub.remote_members` and
  :meth:`Hub.remote_typing`.

The hub's actions are :data:`HubAction`; a client's are
:data:`wslab.core.session.SessionAction`. The names of the release before
(``Send``, ``Action``) still work until wslab 0.3, with a
:class:`DeprecationWarning`.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from wslab.core import protocol as p
from wslab.core.channels import Channels
from wslab.core.clock import SYSTEM_CLOCK, Clock, iso_utc
from wslab.core.deprecation import REMOVED_IN, renamed_names, warn_deprecated
from wslab.core.ratelimit import TokenBucket
from wslab.core.room import Conn, Room, RoomSettings, RoomSnapshot

__all__ = [
    "Deliver",
    "Close",
    "NeedRoom",
    "Commit",
    "Share",
    "HubAction",
    "Conn",
    "Hub",
    "KICK_REASON",
    "BAN_REASON",
    "RoomSnapshot",
    "recipients",
]


@dataclass(frozen=True)
class Deliver:
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
    text: str
    """``chat`` encoded (:func:`wslab.core.protocol.encode`), once: what the log stores."""


@dataclass(frozen=True)
class Share:
    """Shared rooms: this node's ``members`` (in join order) or ``typing`` names in ``room`` are now ``names``."""

    room: str
    kind: str
    names: tuple[str, ...]


HubAction = Deliver | Close | NeedRoom | Commit | Share
"""What :class:`Hub` asks its shell to do."""

KICK_REASON = "removed by the instructor; you may join again"
"""The close reason of a kick (4003), as the learner reads it."""

BAN_REASON = "banned from this room by the instructor"
"""The close reason of a ban (4004), as the learner reads it."""

_renamed = renamed_names(__name__, {"Send": "Deliver", "Action": "HubAction"})
_MOVED = {"RECENT_IDS": "wslab.core.room", "LISTED_CHANNELS": "wslab.core.channels"}


def __getattr__(name: str) -> Any:
    """The names of the release before, for one more release, each with a :class:`DeprecationWarning`."""
    home = _MOVED.get(name)
    if home is None:
        return _renamed(name)
    warn_deprecated(f"{__name__}.{name} is deprecated and goes in wslab {REMOVED_IN}: use {home}.{name}")
    return getattr(sys.modules[home], name)


@dataclass(slots=True)
class _Member:
    limiter: TokenBucket
    name: str | None = None
    room: str | None = None
    strikes: int = 0
    closed: bool = False


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
        self.settings = RoomSettings(history_size, typing_timeout, presence_interval)
        """How every room of this hub behaves."""
        self.clock = clock
        self.rate = rate
        self.burst = burst
        self.flood_strikes = flood_strikes
        self.epoch: str = secrets.token_hex(4) if epoch is None else p.validate_epoch(epoch)
        """The epoch new rooms are created with (each room keeps its own)."""
        self.shared = shared
        self._members: dict[Conn, _Member] = {}
        self._rooms: dict[str, Room] = {}
        self._channels = Channels()
        self._deadline: float | None = None
        self._deadline_stale = False
        self._loaded: set[str] = set()  # shared rooms: the rooms restore_room brought in
        self._pending_acks: dict[str, dict[int, tuple[Conn, str]]] = {}  # shared: room -> seq -> (conn, id)

    @property
    def history_size(self) -> int:
        return self.settings.history_size

    @property
    def typing_timeout(self) -> float:
        return self.settings.typing_timeout

    @property
    def presence_interval(self) -> float:
        return self.settings.presence_interval

    # ------------------------------------------------------------------ events

    def connect(self, conn: Conn) -> list[HubAction]:
        """A connection opened. Nothing is sent until it joins or subscribes."""
        if conn in self._members:
            raise ValueError(f"connection {conn!r} is already connected")
        self._members[conn] = _Member(TokenBucket(self.rate, self.burst, self.clock.monotonic()))
        return []

    def receive(self, conn: Conn, frame: str | bytes) -> list[HubAction]:
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

    def handle(self, conn: Conn, message: p.ClientMessage) -> list[HubAction]:
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
                return self._typing(member, message)
            if isinstance(message, p.Subscribe):
                return [Deliver((conn,), self._channels.subscribe(conn, message.channel))]
            if isinstance(message, p.Unsubscribe):
                return [Deliver((conn,), self._channels.unsubscribe(conn, message.channel))]
        except p.ProtocolError as exc:
            return [self._error(conn, exc)]
        except ValueError as exc:
            # A reply that cannot be encoded. Replies are encoded before any change, so nothing changed.
            return [self._error(conn, p.ProtocolError(p.ErrorCode.BAD_FIELD, f"the server cannot answer: {exc}"))]
        raise TypeError(f"not a client message: {message!r}")

    def disconnect(self, conn: Conn) -> list[HubAction]:
        """``conn`` is gone: leave its room and its channels.

        Its typing ends at once (a ``typing`` frame now); its leaving is announced
        in the room's next ``presence`` frame.
        """
        member = self._members.pop(conn, None)
        if member is None:
            return []
        self._channels.forget(conn)
        if member.room is None:
            return []
        room = self._rooms[member.room]
        self._deadline_stale = True
        actions = self._typing_changed(room, share=True) if room.leave(conn, self.clock.monotonic()) else []
        return actions + self._share_members(room)

    def tick(self) -> list[HubAction]:
        """Do what is due: expire typing indicators, send each room's ``presence`` frame.

        A room's ``presence`` frame is due ``presence_interval`` after the first
        join or leave since its last one; who gets which frame is
        :meth:`Room.flush_presence <wslab.core.room.Room.flush_presence>`'s rule.
        """
        now = self.clock.monotonic()
        actions: list[HubAction] = []
        for room in self._rooms.values():
            here, elsewhere = room.expire_typing(now)
            if here or elsewhere:
                actions.extend(self._typing_changed(room, share=bool(here)))
            due = room.presence_due
            if due is not None and due <= now:
                actions.extend(Deliver(to, frame) for to, frame in room.flush_presence())
        self._deadline_stale = True
        return actions

    def next_deadline(self) -> float | None:
        """The monotonic time at which :meth:`tick` has work, or None when it has none."""
        if self._deadline_stale:
            deadlines = [d for room in self._rooms.values() if (d := room.next_deadline()) is not None]
            self._deadline = min(deadlines) if deadlines else None
            self._deadline_stale = False
        return self._deadline

    # --------------------------------------------------------- server-side API

    def open_channel(self, channel: str) -> None:
        """Open ``channel`` so that clients may subscribe to it (opening it twice is harmless).

        Raises :class:`~wslab.core.errors.ProtocolError` (a :class:`ValueError`) for
        a name that is not a valid channel name.
        """
        self._channels.open(channel)

    def channels(self) -> list[str]:
        """The open channels, in the order they were opened."""
        return self._channels.names()

    def publish(self, channel: str, data: Any) -> list[HubAction]:
        """Send an ``update`` with ``data`` to the subscribers of ``channel``, opening it if needed.

        Raises :class:`ValueError` (and changes nothing: no channel opened, no
        ``seq`` used) for an invalid channel name or ``data`` that cannot be sent
        as JSON text (see :func:`wslab.core.protocol.encode`).
        """
        to, frame = self._channels.publish(channel, data, self.clock.wall())
        return [Deliver(to, frame)] if to else []

    def kick(self, room: str, name: str, reason: str = KICK_REASON) -> list[HubAction]:
        """Close the connection of ``name`` in ``room`` with 4003; no-op if absent.

        A kick is not a ban: the person may join again (their client does not
        reconnect by itself; the chat page offers to join again). See :meth:`ban`.
        Raises :class:`~wslab.core.errors.ProtocolError` for an invalid room or name.
        """
        p.validate_room(room)
        p.validate_name(name)
        return self._remove(room, name, p.CLOSE_KICKED, reason)

    def ban(self, room: str, name: str, banned: bool = True, reason: str = BAN_REASON) -> list[HubAction]:
        """Ban ``name`` from ``room`` (close their connection with 4004; their joins are refused with
        ``banned``), or lift the ban. ``name`` need not be in the room.

        Names are compared ignoring case. Raises :class:`~wslab.core.errors.ProtocolError`
        for an invalid room or name.
        """
        p.validate_room(room)
        p.validate_name(name)
        target = self._rooms.get(room)
        if target is None:
            target = self._rooms[room] = self._new_room(room)
        if not banned:
            target.set_banned(name, False)
            return []
        actions = self._remove(room, name, p.CLOSE_BANNED, reason)
        target.set_banned(name, True)
        return actions

    def _remove(self, room: str, name: str, code: int, reason: str) -> list[HubAction]:
        if not isinstance(reason, str) or not p.is_valid_unicode(reason) or len(reason.encode()) > 123:
            raise ValueError("a close reason must be valid Unicode text of at most 123 bytes in UTF-8")
        target = self._rooms.get(room)
        conn = target.conn_of(name) if target else None
        if conn is None:
            return []
        self._members[conn].closed = True
        return [Close(conn, code, reason)]

    def mute(self, room: str, name: str, muted: bool = True) -> list[HubAction]:
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
            target = self._rooms[room] = self._new_room(room)
        target.set_muted(name, muted)
        conn = target.conn_of(name)
        return [] if conn is None else [Deliver((conn,), frame)]

    # ------------------------------------------------------- shared rooms

    def restore_room(
        self,
        room: str,
        epoch: str,
        seq: int,
        history: Iterable[dict[str, Any]],
        remote: Iterable[str] = (),
    ) -> list[HubAction]:
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
            target = self._rooms[room] = Room(room, epoch, self.settings)
        target.restore(epoch, seq, history)
        self._loaded.add(room)
        return self.remote_members(room, remote)

    def committed(self, commit: Commit, seq: int, duplicate: bool = False) -> list[HubAction]:
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
            return [Deliver((commit.conn,), p.encode({"type": "ack", "id": ident, "seq": seq, "duplicate": True}))]
        if room.seq >= seq:
            return [Deliver((commit.conn,), p.encode({"type": "ack", "id": ident, "seq": seq}))]
        self._pending_acks.setdefault(room.name, {})[seq] = (commit.conn, ident)
        return []

    def commit_failed(self, commit: Commit) -> list[HubAction]:
        """Shared rooms: the log could not be reached. The sender gets no ``ack``: its connection is closed
        with 1013, so its client reconnects (perhaps to another node) and sends the message again."""
        member = self._members.get(commit.conn)
        if member is None or member.closed:
            return []
        member.closed = True
        return [Close(commit.conn, p.CLOSE_TRY_AGAIN_LATER, "the server could not store your message; send it again")]

    def apply(self, chat: dict[str, Any]) -> list[HubAction]:
        """Shared rooms: one ``chat`` from the room's log (any node's), in log order: deliver it here.

        A message whose ``seq`` this node has already delivered is dropped, so
        the backplane may hand the same entries over again (after a reconnect).
        """
        room = self._rooms.get(chat.get("room", ""))
        seq = chat.get("seq")
        if room is None or not isinstance(seq, int) or seq <= room.seq:
            return []
        frame = p.encode(chat)
        actions: list[HubAction] = []
        typed_here = room.types_here(chat["sender"])
        if room.record_chat(chat, self.clock.monotonic()):
            self._deadline_stale = True
            actions.extend(self._typing_changed(room, share=typed_here))
        if room.has_members:
            actions.append(Deliver(room.conns(), frame))
        pending = self._pending_acks.get(room.name, {})
        acked = pending.pop(seq, None)
        if acked is not None and acked[0] in self._members:
            actions.append(Deliver((acked[0],), p.encode({"type": "ack", "id": acked[1], "seq": seq})))
        for stale in [s for s in pending if s < seq]:  # trimmed from the log before we read it
            conn, ident = pending.pop(stale)
            if conn in self._members:
                actions.append(Deliver((conn,), p.encode({"type": "ack", "id": ident, "seq": stale})))
        return actions

    def remote_members(self, room: str, names: Iterable[str]) -> list[HubAction]:
        """Shared rooms: the members of ``room`` on the other nodes are now ``names`` (in join order).

        Joins and leaves go into the room's next ``presence`` frame, like local ones.
        """
        target = self._rooms.get(room)
        if target is not None:
            target.set_remote_members(names, self.clock.monotonic())
            self._deadline_stale = True
        return []

    def remote_typing(self, room: str, node: str, names: Iterable[str]) -> list[HubAction]:
        """Shared rooms: on node ``node``, ``names`` are typing in ``room`` (refreshes their timeout)."""
        target = self._rooms.get(room)
        if target is None:
            return []
        self._deadline_stale = True
        if target.set_remote_typing(node, names, self.clock.monotonic()):
            return self._typing_changed(target, share=False)
        return []

    # ------------------------------------------------------- reading

    def local_members(self, room: str) -> list[str]:
        """The names in ``room`` on this node, in join order."""
        target = self._rooms.get(room)
        return target.local_names() if target else []

    def rooms(self) -> list[str]:
        """Names of the rooms that have or had members."""
        return list(self._rooms)

    def room_epoch(self, room: str) -> str | None:
        """The epoch of ``room``'s history, or None if the room does not exist."""
        target = self._rooms.get(room)
        return target.epoch if target else None

    def snapshot(self, room: str) -> RoomSnapshot:
        """A read-only view of ``room`` for dashboards and tests."""
        target = self._rooms.get(room) or self._new_room(room)
        return target.snapshot(self.clock.monotonic())

    def members(self, room: str) -> list[tuple[Conn, str, int]]:
        """``(connection, name, rate-limit strikes)`` for everyone in ``room``, in join order.

        Strikes count the frames dropped for going over the rate limit; at
        ``flood_strikes`` the connection is closed with 1008. For dashboards.
        """
        target = self._rooms.get(room)
        if target is None:
            return []
        return [(conn, name, self._members[conn].strikes) for conn, name in target.members()]

    def history(self, room: str) -> list[dict[str, Any]]:
        """The chat messages ``room`` keeps, oldest first (copies)."""
        target = self._rooms.get(room)
        return target.history() if target else []

    def name_of(self, conn: Conn) -> str | None:
        """The name ``conn`` joined with, or None (not joined, or unknown); for log lines."""
        member = self._members.get(conn)
        return None if member is None else member.name

    def connection_count(self) -> int:
        return len(self._members)

    # ------------------------------------------------------------- internals

    def _new_room(self, name: str) -> Room:
        return Room(name, self.epoch, self.settings)

    def _error(self, conn: Conn, exc: p.ProtocolError) -> Deliver:
        try:
            return Deliver((conn,), p.encode(exc.to_message()))
        except ValueError:  # messages quote client values safely; this is a last resort
            return Deliver((conn,), p.encode({"type": "error", "code": exc.code, "message": "frame refused"}))

    def _typing_changed(self, room: Room, *, share: bool) -> list[HubAction]:
        """The room's typing list changed: tell its members here and, when ``share``, the other nodes."""
        actions: list[HubAction] = [Deliver(room.conns(), room.typing_frame())] if room.has_members else []
        if share and self.shared:
            actions.append(Share(room.name, "typing", room.local_typers()))
        return actions

    def _share_members(self, room: Room) -> list[HubAction]:
        return [Share(room.name, "members", tuple(room.local_names()))] if self.shared else []

    def _join(self, conn: Conn, member: _Member, message: p.Join) -> list[HubAction]:
        if member.room is not None:
            raise p.ProtocolError(
                p.ErrorCode.ALREADY_JOINED,
                f"already joined room {member.room!r} as {member.name!r}; "
                "open another connection to join again",
            )
        if self.shared and message.room not in self._loaded:
            return [NeedRoom(conn, message)]
        room = self._rooms.get(message.room) or self._new_room(message.room)
        welcome = room.join(conn, message.name, self.clock.monotonic(), since=message.since, epoch=message.epoch)
        # Joined: the room exists from now on.
        self._rooms.setdefault(room.name, room)
        member.name, member.room = message.name, room.name
        self._deadline_stale = True
        return [Deliver((conn,), welcome), *self._share_members(room)]

    def _joined_room(self, member: _Member, what: str) -> tuple[Room, str]:
        if member.room is None or member.name is None:
            raise p.ProtocolError(p.ErrorCode.NOT_JOINED, f"send 'join' with your name before '{what}'")
        return self._rooms[member.room], member.name

    def _chat(self, conn: Conn, member: _Member, message: p.Chat) -> list[HubAction]:
        room, name = self._joined_room(member, "chat")
        if room.is_muted(name):
            raise p.ProtocolError(
                p.ErrorCode.MUTED, "an instructor muted you; your message was not sent", id=message.id
            )
        if message.id is not None:
            seen = room.seen(name, message.id)
            if seen is not None:
                # A resend of a message we already have (the ack was lost with the
                # connection): acknowledge again, deliver nothing twice.
                return [Deliver((conn,), p.encode({"type": "ack", "id": message.id, "seq": seen, "duplicate": True}))]
        seq = room.seq + 1
        chat: dict[str, Any] = {
            "type": "chat",
            "room": room.name,
            "seq": seq,
            "sender": name,
            "content": message.content,
            "timestamp": iso_utc(self.clock.wall()),
        }
        if message.id is not None:
            chat["id"] = message.id
        if self.shared:
            # The log assigns the seq; delivery and the ack come back through apply() and committed().
            del chat["seq"]
            return [Commit(conn, room.name, chat, p.encode(chat))]  # encoded once: the check and the log's text
        frame = p.encode(chat)
        ack = p.encode({"type": "ack", "id": message.id, "seq": seq}) if message.id is not None else None
        # Encoded: now change the state.
        actions: list[HubAction] = []
        if room.record_chat(chat, self.clock.monotonic()):
            self._deadline_stale = True
            actions.extend(self._typing_changed(room, share=False))
        actions.append(Deliver(room.conns(), frame))
        if ack is not None:
            actions.append(Deliver((conn,), ack))
        return actions

    def _typing(self, member: _Member, message: p.Typing) -> list[HubAction]:
        room, name = self._joined_room(member, "typing")
        self._deadline_stale = True
        if message.typing:
            if room.start_typing(name, self.clock.monotonic()):
                return self._typing_changed(room, share=True)
            # A refresh: no one here needs telling, but other nodes time it out too: tell them it goes on.
            return [Share(room.name, "typing", room.local_typers())] if self.shared else []
        if room.stop_typing(name):
            return self._typing_changed(room, share=True)
        return []


def recipients(actions: Iterable[HubAction]) -> set[Conn]:
    """Every connection some :class:`Deliver` in ``actions`` goes to (a test helper)."""
    return {conn for action in actions if isinstance(action, Deliver) for conn in action.to}
