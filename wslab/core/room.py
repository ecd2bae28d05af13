"""One chat room's state and its rules, sans I/O: :class:`Room`.

A room owns everything about itself: who is in it (this node's connections
and, for shared rooms, the names on other nodes), its ``seq``, history and the
client ids it has seen, who is typing and until when, who is muted, and the
joins and leaves not yet announced. The :class:`~wslab.core.hub.Hub` routes
connections and frames to rooms, checks and moderates; every rule about one
room's state lives here, once.

Time is handed in (``now``: monotonic seconds, as the hub's clock reads it);
nothing here reads a clock or knows about sockets. What a room has to say it
returns as encoded frames: :meth:`Room.join` the ``welcome``,
:meth:`Room.typing_frame` the ``typing`` list for every member here, and
:meth:`Room.flush_presence` ``(connections, frame)`` pairs. The hub turns them
into its actions.

Contracts:

* names are unique in a room ignoring case, across every node's members; a
  re-join with ``since`` may take over a name held on another node (the same
  client back after its node died), a new join may not;
* :meth:`Room.join` builds and encodes the ``welcome`` before it changes
  anything: a join it refuses, or whose welcome cannot be encoded, leaves no
  trace;
* ``seq`` only moves forward, one per delivered chat (:meth:`Room.record_chat`),
  or to the shared log's ``seq`` (:meth:`Room.restore`); history keeps the last
  ``history_size`` chats, and a chat id is remembered per sender (the last
  :data:`RECENT_IDS`) so that a resend is not delivered twice;
* a chat, a leave, a ``typing: false`` and the timeout end typing; only a
  change to the list is ever announced, never a refresh;
* presence is coalesced: joins and leaves (this node's and, for shared rooms,
  the other nodes') gather until :attr:`Room.presence_due`, then
  :meth:`Room.flush_presence` sends each member at most one ``presence`` frame
  (the rule is in its docstring).

Longer than 500 lines because a room's state changes together: a join or a leave
touches the members, the names, the roster a ``welcome`` lists (kept encoded),
typing and the presence not yet sent, and splitting them would put one rule in
two places.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from itertools import islice
from typing import Any

from wslab.core import protocol as p

__all__ = ["Conn", "Room", "RoomSettings", "RoomSnapshot", "RECENT_IDS"]

Conn = Hashable
"""A connection, as the shell names it: any hashable object."""

RECENT_IDS = 10_000
"""Client message ids remembered per room to drop resent duplicates."""

_MINUTE = 60.0  # the window of RoomSnapshot.messages_last_minute, in seconds
_SENT_TIMES = 10_000  # delivery times kept for it


@dataclass(frozen=True)
class RoomSettings:
    """How every room of a hub behaves; raises :class:`ValueError` for a nonsensical setting.

    Args:
        history_size: chat messages kept and replayed in each ``welcome`` (>= 0).
        typing_timeout: seconds without a refresh before typing ends (> 0).
        presence_interval: seconds over which joins and leaves gather into one
            ``presence`` frame (>= 0; 0 sends them at the next tick).
    """

    history_size: int = p.HISTORY_SIZE
    typing_timeout: float = p.TYPING_TIMEOUT
    presence_interval: float = p.PRESENCE_INTERVAL

    def __post_init__(self) -> None:
        if self.history_size < 0:
            raise ValueError("history_size must be >= 0")
        if self.typing_timeout <= 0:
            raise ValueError("typing_timeout must be > 0")
        if self.presence_interval < 0:
            raise ValueError("presence_interval must be >= 0")


@dataclass(frozen=True)
class RoomSnapshot:
    """What an instructor's dashboard shows of one room."""

    room: str
    online: tuple[str, ...]
    typing: tuple[str, ...]
    muted: tuple[str, ...]
    messages: int
    messages_last_minute: int
    banned: tuple[str, ...] = ()
    """Names (casefolded) an instructor banned from the room: they may not join it."""


@dataclass(frozen=True)
class _Remote:
    """A member on another node, as the room's roster names it."""

    name: str


def _json_extend(array: str, more: str) -> str:
    """Two JSON arrays, ``array`` then ``more``, as one (no spaces, as :func:`wslab.core.protocol.encode` writes)."""
    if array == "[]":
        return more
    return array if more == "[]" else f"{array[:-1]},{more[1:]}"


def _presence(room: str, joined: list[str], left: list[str]) -> dict[str, Any]:
    return {"type": "presence", "room": room, "joined": joined, "left": left}


class Room:
    """One room: its members, history, typing, mutes and pending presence.

    Args:
        name: the room's name (valid, see :func:`wslab.core.protocol.validate_room`).
        epoch: the id of this run of its history, sent in every ``welcome``.
        settings: history size, typing timeout and presence interval.
    """

    def __init__(self, name: str, epoch: str, settings: RoomSettings | None = None) -> None:
        self.name = name
        self.epoch = epoch
        """The epoch of this room's history (a shared room takes the log's, :meth:`restore`)."""
        self.settings = settings if settings is not None else RoomSettings()
        self._seq = 0
        self._members: dict[Conn, str] = {}  # this node's connections -> names, in join order
        # Everyone, this node's connections and (shared rooms) other nodes' _Remote keys, in arrival order.
        self._roster: dict[Conn, str] = {}
        self._by_name: dict[str, Conn] = {}  # casefolded name -> its roster key: names are unique
        # The roster's names as the JSON array a welcome lists, and how many names it holds: kept from
        # join to join (encoding the whole room again for each welcome was the largest part of a join).
        # Joins add to the roster's end, so a welcome appends only the names added since; a leave drops it.
        self._roster_json: tuple[str, int] | None = ("[]", 0)
        self._history: deque[dict[str, Any]] = deque()
        # (sender, id) -> seq, oldest first; an OrderedDict so evicting the oldest is O(1)
        self._recent_ids: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._sent_times: deque[float] = deque(maxlen=_SENT_TIMES)
        self._typing: dict[str, float] = {}  # name -> expiry (monotonic), in the order they started
        self._typing_elsewhere: dict[str, str] = {}  # name -> the node it types on
        self._muted: set[str] = set()  # casefolded names
        self._banned: set[str] = set()  # casefolded names
        # Joins (True) and leaves (False) since the last presence frame, in order.
        self._presence_events: list[tuple[bool, str, Conn]] = []
        self._presence_due: float | None = None

    # ------------------------------------------------------------ who is here

    @property
    def seq(self) -> int:
        """The ``seq`` of the last chat delivered in this room (0: none yet)."""
        return self._seq

    @property
    def has_members(self) -> bool:
        """Whether any connection of this node is in the room."""
        return bool(self._members)

    def conns(self) -> tuple[Conn, ...]:
        """This node's connections in the room, in join order."""
        return tuple(self._members)

    def members(self) -> list[tuple[Conn, str]]:
        """``(connection, name)`` for this node's members, in join order."""
        return list(self._members.items())

    def local_names(self) -> list[str]:
        """The names of this node's members, in join order."""
        return list(self._members.values())

    def online(self) -> list[str]:
        """Everyone in the room, on every node, in the order they arrived."""
        return list(self._roster.values())

    def conn_of(self, name: str) -> Conn | None:
        """This node's connection for ``name`` (ignoring case), or None if it is elsewhere or absent."""
        key = self._by_name.get(name.casefold())
        return None if key is None or isinstance(key, _Remote) else key

    # ------------------------------------------------------------ joins and leaves

    def join(self, conn: Conn, name: str, now: float, *, since: int | None = None, epoch: str | None = None) -> str:
        """Admit ``conn`` as ``name`` and return its encoded ``welcome``.

        With ``since`` (and ``epoch`` naming this room's, or None) the history
        replays only what came after it; ``since`` counted in another epoch's
        history replays all that is kept. ``history_complete`` is false when
        messages asked for are no longer kept. The others hear of the join in
        the next ``presence`` frame (an empty room has no one to tell).

        Raises :class:`~wslab.core.errors.ProtocolError` (``name-taken``) for a
        name already here, (``banned``) for a name an instructor banned,
        :class:`ValueError` if the welcome cannot be encoded, or if ``conn`` is
        already a member; either way nothing changed.
        """
        if conn in self._members:
            raise ValueError(f"connection {conn!r} is already in room {self.name!r}")
        if name.casefold() in self._banned:
            raise p.ProtocolError(
                p.ErrorCode.BANNED,
                f"an instructor banned the name {name!r} from room {self.name!r}; ask them if this is a mistake",
                field="name",
            )
        holder = self._by_name.get(name.casefold())
        takeover = isinstance(holder, _Remote) and since is not None
        if holder is not None and not takeover:
            raise p.ProtocolError(
                p.ErrorCode.NAME_TAKEN, f"{name!r} is already in room {self.name!r}; choose another name", field="name"
            )
        history, complete = self._history_since(since, epoch)
        # The list as it will be (a takeover leaves the holder out), encoded.
        if takeover:
            online = p.encode_names([*(n for k, n in self._roster.items() if k != holder), name])
        else:
            roster = self._roster_text()
            online = _json_extend(roster, p.encode_names([name]))
        welcome = p.encode_spliced(
            {
                "type": "welcome",
                "name": name,
                "room": self.name,
                "epoch": self.epoch,
                "online": None,
                "typing": list(self._typing),
                "seq": self._seq,
                "history": history,
                "history_complete": complete,
            },
            "online",
            online,
        )
        # Encoded: now change the state.
        if takeover:
            self._unenrol(holder)  # the name stays online: no leave, no join
        alone = not self._members
        self._members[conn] = name
        self._enrol(conn, name)
        if not alone:  # into an empty room, the welcome says it all
            self._record_presence(True, name, conn, now)
        return welcome

    def leave(self, conn: Conn, now: float) -> bool:
        """``conn`` left the room (nothing if it was not in it); its typing ends at once.

        Returns True when that changed the typing list (send :meth:`typing_frame`).
        Its leaving goes into the next ``presence`` frame; when no one is left
        here, what the interval gathered no longer matters and is dropped.
        """
        name = self._members.pop(conn, None)
        if name is None:
            return False
        self._unenrol(conn)
        was_typing = self.stop_typing(name)
        if self._members:
            self._record_presence(False, name, conn, now)
        else:
            self._presence_events.clear()
            self._presence_due = None
        return was_typing

    def set_remote_members(self, names: Iterable[str], now: float) -> None:
        """Shared rooms: the members on the other nodes are now ``names`` (in join order).

        Their joins and leaves go into the next ``presence`` frame, like this
        node's. A name that is also a member here stays this node's.
        """
        wanted = dict.fromkeys(names)
        current = {key.name: key for key in self._roster if isinstance(key, _Remote)}
        local = {name.casefold() for name in self._members.values()}
        for name, key in current.items():
            if name not in wanted:
                self._unenrol(key)
                if self._members:
                    self._record_presence(False, name, key, now)
        for name in wanted:
            if name not in current and name.casefold() not in local:
                key = _Remote(name)
                self._enrol(key, name)
                if self._members:
                    self._record_presence(True, name, key, now)

    # ------------------------------------------------------------ chats and history

    def seen(self, sender: str, id_: str) -> int | None:
        """The ``seq`` of the chat ``sender`` sent with client id ``id_``, if the room still remembers it."""
        return self._recent_ids.get((sender, id_))

    def is_muted(self, name: str) -> bool:
        """Whether ``name`` (ignoring case) may not chat here."""
        return name.casefold() in self._muted

    def set_muted(self, name: str, muted: bool) -> None:
        """Mute ``name`` (ignoring case) here, or allow it again; it need not be in the room."""
        (self._muted.add if muted else self._muted.discard)(name.casefold())

    def is_banned(self, name: str) -> bool:
        """Whether ``name`` (ignoring case) may not join here."""
        return name.casefold() in self._banned

    def set_banned(self, name: str, banned: bool) -> None:
        """Ban ``name`` (ignoring case) from joining here, or allow it again; it need not be in the room."""
        (self._banned.add if banned else self._banned.discard)(name.casefold())

    def record_chat(self, chat: dict[str, Any], now: float) -> bool:
        """Record a delivered ``chat`` (with its ``seq`` and ``sender``): seq, client id, history, rate.

        The sender's typing ends; returns True when that changed the typing
        list (send :meth:`typing_frame`).
        """
        sender: str = chat["sender"]
        was_typing = self.stop_typing(sender)
        self._seq = chat["seq"]
        id_ = chat.get("id")
        if id_ is not None:
            self._recent_ids[(sender, id_)] = self._seq
            if len(self._recent_ids) > RECENT_IDS:
                self._recent_ids.popitem(last=False)
        if self.settings.history_size:
            self._history.append(chat)
            while len(self._history) > self.settings.history_size:
                self._history.popleft()
        self._sent_times.append(now)
        return was_typing

    def history(self) -> list[dict[str, Any]]:
        """The chats the room keeps, oldest first (copies)."""
        return [dict(m) for m in self._history]

    def restore(self, epoch: str, seq: int, history: Iterable[dict[str, Any]]) -> None:
        """Shared rooms: the room as the log holds it: its ``epoch``, last ``seq`` and tail ``history``.

        Moves forward, never back: a ``seq`` at or below the room's changes
        nothing but the epoch. What the tail adds right after the kept history
        follows on from it; otherwise the tail replaces it. The ids in it are
        remembered for dedupe.
        """
        self.epoch = epoch
        if seq <= self._seq:
            return
        tail = list(history)
        kept = [m for m in tail if m.get("seq", 0) > self._seq]
        if kept and kept[0]["seq"] == self._seq + 1 and self._seq > 0:
            self._history.extend(kept)  # what we missed follows on from what we have
        else:
            self._history = deque(tail)
        while len(self._history) > self.settings.history_size:
            self._history.popleft()
        for message in self._history:
            if "id" in message:
                self._recent_ids[(message["sender"], message["id"])] = message["seq"]
        while len(self._recent_ids) > RECENT_IDS:
            self._recent_ids.popitem(last=False)
        self._seq = seq

    # ------------------------------------------------------------ typing

    def typing(self) -> list[str]:
        """Who is typing now, on every node, in the order they started."""
        return list(self._typing)

    def typing_frame(self) -> str:
        """The encoded ``typing`` frame with the full list, for every member here."""
        return p.encode({"type": "typing", "room": self.name, "typing": list(self._typing)})

    def local_typers(self) -> tuple[str, ...]:
        """Who is typing on this node (the names a shared room tells the other nodes)."""
        return tuple(n for n in self._typing if n not in self._typing_elsewhere)

    def types_here(self, name: str) -> bool:
        """Whether ``name`` is typing on this node."""
        return name in self._typing and name not in self._typing_elsewhere

    def start_typing(self, name: str, now: float) -> bool:
        """``name`` types: until ``now`` + the typing timeout. True if the list changed (False: a refresh)."""
        was_typing = name in self._typing
        self._typing[name] = now + self.settings.typing_timeout
        return not was_typing

    def stop_typing(self, name: str) -> bool:
        """``name`` stopped typing; True if it was typing (the list changed)."""
        self._typing_elsewhere.pop(name, None)
        return self._typing.pop(name, None) is not None

    def set_remote_typing(self, node: str, names: Iterable[str], now: float) -> bool:
        """Shared rooms: on ``node``, ``names`` are typing (refreshing their timeout). True if the list changed."""
        wanted = dict.fromkeys(names)
        changed = False
        for name in [n for n, where in self._typing_elsewhere.items() if where == node and n not in wanted]:
            del self._typing_elsewhere[name]
            self._typing.pop(name, None)
            changed = True
        for name in wanted:
            if name not in self._typing:
                changed = True
            self._typing[name] = now + self.settings.typing_timeout
            self._typing_elsewhere[name] = node
        return changed

    def expire_typing(self, now: float) -> tuple[list[str], list[str]]:
        """End the typing that timed out by ``now``: ``(names typing here, names typing elsewhere)``."""
        here: list[str] = []
        elsewhere: list[str] = []
        for name in [n for n, until in self._typing.items() if until <= now]:
            del self._typing[name]
            (elsewhere if self._typing_elsewhere.pop(name, None) is not None else here).append(name)
        return here, elsewhere

    # ------------------------------------------------------------ presence and time

    @property
    def presence_due(self) -> float | None:
        """When the gathered joins and leaves must go out (:meth:`flush_presence`); None: nothing gathered."""
        return self._presence_due

    def next_deadline(self) -> float | None:
        """The earliest of :attr:`presence_due` and the typing expiries; None when nothing is due."""
        deadlines = list(self._typing.values())
        if self._presence_due is not None:
            deadlines.append(self._presence_due)
        return min(deadlines) if deadlines else None

    def flush_presence(self) -> list[tuple[tuple[Conn, ...], str]]:
        """Send the joins and leaves gathered since the last ``presence`` frame, as ``(to, frame)`` pairs.

        The frame reads ``{"type": "presence", "room", "joined": [...], "left": [...]}``:

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
        events, self._presence_events = self._presence_events, []
        self._presence_due = None
        if not self._members or not events:
            return []
        join_at: dict[Conn, int] = {}
        left: dict[str, None] = {}  # names, in the order they first left
        for index, (is_join, name, conn) in enumerate(events):
            if is_join:
                join_at[conn] = index
            else:
                left.setdefault(name, None)
        # Members who joined during the interval, in join order (the roster is in join order).
        newcomers = [(conn, name) for conn, name in self._roster.items() if conn in join_at]
        # The earliest join of a name that also left: receivers who joined after it cannot use the
        # shared frame (removing and re-appending that name would put it after them).
        rejoin = min((join_at[conn] for conn, name in newcomers if name in left), default=len(events))
        last = len(events) - 1
        shared: list[Conn] = []
        own: list[Conn] = []
        for conn in self._members:
            at = join_at.get(conn)
            if at is None or (at < last and at <= rejoin):
                shared.append(conn)
            elif at < last:
                own.append(conn)
            # else: it joined last; its welcome already says it all
        frames: list[tuple[tuple[Conn, ...], str]] = []
        if shared:
            frames.append((tuple(shared), p.encode(_presence(self.name, [name for _, name in newcomers], list(left)))))
        for conn in own:
            since = join_at[conn]
            later_left = dict.fromkeys(name for is_join, name, _ in events[since + 1 :] if not is_join)
            later_joined = [name for other, name in newcomers if join_at[other] > since]
            frames.append(((conn,), p.encode(_presence(self.name, later_joined, list(later_left)))))
        return frames

    def snapshot(self, now: float) -> RoomSnapshot:
        """A read-only view of the room for dashboards and tests."""
        return RoomSnapshot(
            room=self.name,
            online=tuple(self._roster.values()),
            typing=tuple(self._typing),
            muted=tuple(sorted(self._muted)),
            messages=self._seq,
            messages_last_minute=sum(1 for t in self._sent_times if now - t <= _MINUTE),
            banned=tuple(sorted(self._banned)),
        )

    def __repr__(self) -> str:
        return f"<Room {self.name!r} epoch={self.epoch!r} seq={self._seq} online={len(self._roster)}>"

    # ------------------------------------------------------------ internals

    def _history_since(self, since: int | None, epoch: str | None) -> tuple[list[dict[str, Any]], bool]:
        """The history a ``welcome`` replays for ``since``/``epoch``, and whether it is complete."""
        if since is not None and (epoch is None or epoch == self.epoch):
            oldest = self._history[0]["seq"] if self._history else self._seq + 1
            return [m for m in self._history if m["seq"] > since], since >= oldest - 1 or since >= self._seq
        # No since, or since counts in another epoch's history: replay all that is kept.
        return list(self._history), self._seq <= len(self._history)

    def _enrol(self, key: Conn, name: str) -> None:
        if key in self._roster:  # named again in place, not added at the end
            self._roster_json = None
        self._roster[key] = name
        self._by_name[name.casefold()] = key

    def _unenrol(self, key: Conn) -> None:
        name = self._roster.pop(key, None)
        if name is not None:
            self._roster_json = None  # encoded again at the next welcome
            if self._by_name.get(name.casefold()) == key:
                del self._by_name[name.casefold()]

    def _roster_text(self) -> str:
        """The roster's names, in arrival order, as a JSON array (as :func:`wslab.core.protocol.encode` writes it).

        Raises :class:`ValueError` for a name that cannot be encoded; nothing changes then.
        """
        text, count = self._roster_json or ("[]", 0)
        if count < len(self._roster):
            added = list(islice(reversed(self._roster.values()), len(self._roster) - count))[::-1]  # usually one
            text = _json_extend(text, p.encode_names(added))
            self._roster_json = (text, len(self._roster))
        return text

    def _record_presence(self, joined: bool, name: str, key: Conn, now: float) -> None:
        if self._presence_due is None:
            self._presence_due = now + self.settings.presence_interval
        self._presence_events.append((joined, name, key))
