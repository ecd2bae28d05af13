"""View models for the lessons' widgets, sans I/O.

Each model takes events (server frames, key presses, a client's history) and a
clock, and keeps the state a view shows. None of them touches a socket, an
event loop or a widget, so ``tests/ui/test_models.py`` drives them with a
:class:`~wslab.core.clock.FakeClock` alone. The widgets in :mod:`wslab.ui` are
thin views over them.

* :class:`ChatModel`: what a chat window shows, read from a client session.
* :class:`ReadyStateModel`: a WebSocket's ``readyState`` and the events it went through.
* :class:`ReconnectTimeline`: attempts, delays and outages, from a client's ``history``.
* :class:`DashboardModel`: the latest values of a channel of live ``update`` frames.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wslab.core import protocol as p
from wslab.core.clock import SYSTEM_CLOCK, Clock
from wslab.core.session import ClientSession, Emit
from wslab.core.typing_status import typing_text

__all__ = [
    "ChatMessage",
    "ChatModel",
    "CHAT_EVENTS",
    "READY_STATE_NAMES",
    "ReadyStateModel",
    "LogEntry",
    "Attempt",
    "Outage",
    "ReconnectTimeline",
    "DashboardModel",
    "Tick",
]

_Listener = Callable[[str], None]


class _Observable:
    """Call listeners with the kind of change after each change (views redraw then)."""

    def __init__(self) -> None:
        self._listeners: list[_Listener] = []

    def observe(self, fn: _Listener) -> _Listener:
        """Call ``fn(kind)`` after every change; returns ``fn``."""
        self._listeners.append(fn)
        return fn

    def _changed(self, kind: str) -> None:
        for fn in list(self._listeners):
            fn(kind)


def _as_message(frame: str | bytes | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(frame, Mapping):
        return dict(frame)
    try:
        message = json.loads(frame)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"not a JSON frame: {exc}") from None
    if not isinstance(message, dict):
        raise ValueError(f"a frame must be a JSON object, got {type(message).__name__}")
    return message


def _str(value: Any, default: str = "") -> str:
    return value if isinstance(value, str) else default


# --------------------------------------------------------------------------- chat


@dataclass(frozen=True)
class ChatMessage:
    """One line of a chat window. ``seq`` is the room's order within ``epoch``; ``timestamp`` is ISO-8601 UTC."""

    seq: int
    sender: str
    content: str
    timestamp: str
    id: str | None = None
    epoch: str | None = None

    @property
    def time(self) -> str:
        """``HH:MM:SS`` of :attr:`timestamp` (the whole string if it has no time part)."""
        _, sep, rest = self.timestamp.partition("T")
        return rest[:8] if sep else self.timestamp


CHAT_EVENTS = ("welcome", "chat", "presence", "typing", "ack", "error", "notice", "epoch")
"""The :class:`~wslab.core.session.ClientSession` events a :class:`ChatModel` shows."""


class ChatModel(_Observable):
    """What one chat window shows, read from a :class:`~wslab.core.session.ClientSession`.

    The session decides (which chats are new, who is online and typing, what
    is still unacknowledged); this model only keeps what a view draws:
    :attr:`messages` (each once, in the order the session emits them),
    :attr:`errors` (``(code, message)`` pairs) and :attr:`notices` (joins,
    leaves, a server that started over, notes from an instructor). Who is
    online or typing, the room and :attr:`pending` are read from the session.

    A shell (:class:`~wslab.client.reconnecting.ReconnectingClient`) hands each of
    the session's events to :meth:`handle`. Without a shell, :meth:`apply`
    feeds one server frame to the session and handles what it emits (the
    frames the session would send are not sent).
    """

    def __init__(self, me: str | None = None, *, session: ClientSession | None = None, max_messages: int = 500) -> None:
        super().__init__()
        self.session = session if session is not None else ClientSession()
        self._me = me
        self.messages: list[ChatMessage] = []
        self.errors: list[tuple[str, str]] = []
        self.notices: list[str] = []
        self.ignored = 0
        self.max_messages = max_messages

    # ------------------------------------------------------------ read from the session

    @property
    def me(self) -> str | None:
        """The name joined with (the session's), else the one given."""
        return self.session.name or self._me

    @property
    def room(self) -> str | None:
        return self.session.room

    @property
    def online(self) -> list[str]:
        return self.session.online

    @property
    def typing(self) -> list[str]:
        return self.session.typing

    @property
    def last_seq(self) -> int:
        """The highest ``seq`` seen (0 before any): sent as ``since`` when joining again."""
        return self.session.last_seq

    @property
    def history_complete(self) -> bool:
        return self.session.history_complete

    @property
    def pending(self) -> list[tuple[str, str]]:
        """``(id, content)`` of my chats not yet acknowledged by the server."""
        return self.session.pending

    def typing_text(self, me: str | None = None) -> str:
        """``"Ada is typing…"`` and so on, leaving out ``me`` (by default, the name joined with)."""
        return typing_text(self.typing, me=me if me is not None else self.me)

    # ------------------------------------------------------------ events in

    def apply(self, frame: str | bytes | Mapping[str, Any], now: float = 0.0) -> str:
        """Feed one server frame to the session and show what it means; returns its ``type``.

        ``"ignored"`` for a frame this window does not show. Raises
        :class:`ValueError` only for a frame that is not a JSON object.
        """
        text = p.encode(dict(frame)) if isinstance(frame, Mapping) else frame
        shown = "ignored"
        for action in self.session.on_frame(text, now):
            if isinstance(action, Emit):
                if action.event == "error" and action.data.get("source") == "client":
                    raise ValueError(f"not a JSON object frame: {action.data.get('message')}")
                if action.event == "message":
                    kind = action.data.get("type")
                    shown = kind if kind in CHAT_EVENTS else "ignored"
                    continue
                self.handle(action.event, action.data)
        if shown == "ignored":
            self.ignored += 1
        return shown

    def handle(self, event: str, data: Mapping[str, Any]) -> None:
        """Show one session event (see :data:`CHAT_EVENTS`); others are left alone."""
        if event == "chat":
            self._add(data)
        elif event == "presence":
            self.notices += [f"{name} joined" for name in data.get("joined", []) if name != self.me]
            self.notices += [f"{name} left" for name in data.get("left", [])]
        elif event == "epoch":
            self.notices.append("the server started over: its history begins again below")
        elif event == "error":
            self.errors.append((_str(data.get("code"), "error"), _str(data.get("message"))))
        elif event == "notice":
            self.notices.append(_str(data.get("message")))
        elif event not in CHAT_EVENTS:
            return
        self._changed(event)

    def _add(self, item: Mapping[str, Any]) -> None:
        seq = item.get("seq")
        self.messages.append(
            ChatMessage(
                seq=seq if isinstance(seq, int) else 0,
                sender=_str(item.get("sender"), "?"),
                content=_str(item.get("content")),
                timestamp=_str(item.get("timestamp")),
                id=item.get("id") if isinstance(item.get("id"), str) else None,
                epoch=self.session.epoch,
            )
        )
        del self.messages[: max(0, len(self.messages) - self.max_messages)]

    def __repr__(self) -> str:
        return (
            f"ChatModel(me={self.me!r}, room={self.room!r}, messages={len(self.messages)}, "
            f"online={self.online!r}, typing={self.typing!r})"
        )


# --------------------------------------------------------------------------- readyState

READY_STATE_NAMES = ("CONNECTING", "OPEN", "CLOSING", "CLOSED")
"""``readyState`` 0 to 3, by name, as in the browser's ``WebSocket``."""


@dataclass(frozen=True)
class LogEntry:
    """One event: ``at`` seconds after the model was made, its name, details and the state after it."""

    at: float
    event: str
    detail: str
    state: int

    def line(self, times: bool = False) -> str:
        head = f"+{self.at:6.3f}s " if times else ""
        detail = f" {self.detail}" if self.detail else ""
        return f"{head}{self.event:<7}{detail}  -> {READY_STATE_NAMES[self.state]}".rstrip()


class ReadyStateModel(_Observable):
    """A WebSocket's ``readyState`` and a log of what happened to it.

    A view calls :meth:`record` for each event (``open``, ``message``,
    ``close``, ``error``, or a call such as ``send``/``close()``) with the
    ``readyState`` read right after it.
    """

    def __init__(self, clock: Clock = SYSTEM_CLOCK, *, state: int = 0, max_entries: int = 200) -> None:
        super().__init__()
        self.clock = clock
        self._check(state)
        self.state = state
        self.started = clock.monotonic()
        self.log: deque[LogEntry] = deque(maxlen=max_entries)
        self.counts: dict[str, int] = {}

    @staticmethod
    def _check(state: int) -> None:
        if state not in (0, 1, 2, 3):
            raise ValueError(f"readyState is 0 to 3, got {state!r}")

    @property
    def name(self) -> str:
        return READY_STATE_NAMES[self.state]

    def record(self, event: str, detail: str = "", state: int | None = None) -> LogEntry:
        """Log ``event`` and move to ``state`` (unchanged if None)."""
        if state is not None:
            self._check(state)
            self.state = state
        entry = LogEntry(self.clock.monotonic() - self.started, event, detail, self.state)
        self.log.append(entry)
        self.counts[event] = self.counts.get(event, 0) + 1
        self._changed(event)
        return entry

    def lines(self, times: bool = False) -> list[str]:
        """The log as text, oldest first; without ``times`` it is the same on every run."""
        return [entry.line(times) for entry in self.log]

    def __repr__(self) -> str:
        return f"ReadyStateModel(state={self.state} {self.name}, events={len(self.log)})"


# --------------------------------------------------------------------------- reconnect timeline


@dataclass(frozen=True)
class Attempt:
    """A scheduled reconnect: ``at`` seconds after the first event, the ``attempt`` number and ``delay``."""

    at: float
    attempt: int
    delay: float


@dataclass(frozen=True)
class Outage:
    """From a disconnect (``start``) to the next connect (``end``; None while still down)."""

    start: float
    end: float | None
    code: int | None = None

    @property
    def duration(self) -> float | None:
        return None if self.end is None else self.end - self.start


def _detail(details: Any, key: str, index: int) -> Any:
    if isinstance(details, Mapping):
        return details.get(key)
    if isinstance(details, Sequence) and not isinstance(details, str):
        return details[index] if len(details) > index else None
    if index == 0 and not isinstance(details, (str, bytes)):
        return details
    return getattr(details, key, None)


class ReconnectTimeline:
    """Attempts, delays and outages, read from a reconnecting client's ``history``.

    ``history`` is a sequence of ``(wall time, event, details)``; the events
    used are ``connect``, ``disconnect`` (details may carry ``code``) and
    ``reconnecting`` (details carry ``attempt`` and ``delay``, as a mapping or
    the pair ``(attempt, delay)``). Others are kept in :attr:`other`. Times
    are seconds after the first event, so a timeline is comparable across runs.
    """

    def __init__(self) -> None:
        self.origin: float | None = None
        self.connects: list[float] = []
        self.disconnects: list[tuple[float, int | None]] = []
        self.attempts: list[Attempt] = []
        self.outages: list[Outage] = []
        self.other: list[tuple[float, str]] = []
        self.end = 0.0

    @classmethod
    def from_history(cls, history: Iterable[tuple[float, str, Any]]) -> ReconnectTimeline:
        timeline = cls()
        for wall, event, details in history:
            timeline.add(wall, event, details)
        return timeline

    def add(self, wall: float, event: str, details: Any = None) -> None:
        """Add one history entry (entries must come in time order)."""
        if self.origin is None:
            self.origin = wall
        at = wall - self.origin
        self.end = max(self.end, at)
        if event == "connect":
            self.connects.append(at)
            if self.outages and self.outages[-1].end is None:
                last = self.outages[-1]
                self.outages[-1] = Outage(last.start, at, last.code)
        elif event == "disconnect":
            code = _detail(details, "code", 0)
            code = code if isinstance(code, int) and not isinstance(code, bool) else None
            self.disconnects.append((at, code))
            if not self.outages or self.outages[-1].end is not None:
                self.outages.append(Outage(at, None, code))
        elif event == "reconnecting":
            attempt = _detail(details, "attempt", 0)
            delay = _detail(details, "delay", 1)
            if isinstance(attempt, int) and isinstance(delay, (int, float)):
                self.attempts.append(Attempt(at, attempt, float(delay)))
        else:
            self.other.append((at, event))

    @property
    def delays(self) -> list[float]:
        return [a.delay for a in self.attempts]

    @property
    def down(self) -> bool:
        """True if the last outage has not ended."""
        return bool(self.outages) and self.outages[-1].end is None

    def summary(self) -> str:
        """A run-independent description: counts, not times."""
        return (
            f"{len(self.connects)} connect(s), {len(self.disconnects)} disconnect(s), "
            f"{len(self.attempts)} reconnect attempt(s), {len(self.outages)} outage(s)"
            + (", still down" if self.down else "")
        )

    def __repr__(self) -> str:
        return f"ReconnectTimeline({self.summary()})"


# --------------------------------------------------------------------------- dashboard


@dataclass(frozen=True)
class Tick:
    """One ``update``: its channel ``seq``, server ``timestamp`` and ``data``."""

    seq: int
    timestamp: str
    data: Any


class DashboardModel(_Observable):
    """The latest ``update`` frames of one channel, for a live dashboard.

    Keeps the last ``window`` updates, counts them, and notices gaps in
    ``seq`` (updates published while this client was offline: the server does
    not replay them). ``value_key`` names the number to plot in each
    update's ``data`` (a plain number as ``data`` works too).
    """

    def __init__(self, channel: str = "updates", *, window: int = 60, value_key: str = "price") -> None:
        super().__init__()
        if window < 2:
            raise ValueError("window must be >= 2")
        self.channel = channel
        self.value_key = value_key
        self.ticks: deque[Tick] = deque(maxlen=window)
        self.received = 0
        self.missed = 0
        self.subscribed = False
        self._last_seq: int | None = None

    def apply(self, frame: str | bytes | Mapping[str, Any]) -> str:
        """Apply one frame; ``update`` frames of other channels are ``"ignored"``."""
        message = _as_message(frame)
        kind = message.get("type")
        if kind in ("subscribed", "unsubscribed") and message.get("channel") == self.channel:
            self.subscribed = kind == "subscribed"
        elif kind == "update" and message.get("channel") == self.channel:
            seq = message.get("seq")
            if not isinstance(seq, int) or isinstance(seq, bool):
                return "ignored"
            if self._last_seq is not None and seq <= self._last_seq:
                return "ignored"  # duplicate or out of date
            if self._last_seq is not None and seq > self._last_seq + 1:
                self.missed += seq - self._last_seq - 1
            self._last_seq = seq
            self.received += 1
            self.ticks.append(Tick(seq, _str(message.get("timestamp")), message.get("data")))
        else:
            return "ignored"
        self._changed(kind)
        return str(kind)

    def value(self, tick: Tick) -> float | None:
        data = tick.data
        if isinstance(data, Mapping):
            data = data.get(self.value_key)
        if isinstance(data, (int, float)) and not isinstance(data, bool):
            return float(data)
        return None

    @property
    def values(self) -> list[float]:
        return [v for v in (self.value(t) for t in self.ticks) if v is not None]

    @property
    def latest(self) -> Tick | None:
        return self.ticks[-1] if self.ticks else None

    def __repr__(self) -> str:
        return f"DashboardModel(channel={self.channel!r}, received={self.received}, missed={self.missed})"
