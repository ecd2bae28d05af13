"""Every frame of one WebSocket connection, as websockets itself logs it: the frame inspector's model.

websockets logs each frame a connection sends (``"> %s"``) and receives
(``"< %s"``) at DEBUG on the connection's logger, with the frame object
itself as the argument; it also logs the opening handshake's request and
status lines, every change of state (``"= connection is %s"``), the end of
the TCP stream (``"< EOF"``, ``"x half-closing TCP connection"``) and a heartbeat that got no pong.
A :class:`FrameLog` is a :class:`logging.Handler` for that logger: hand
:attr:`FrameLog.logger` to ``connect(url, logger=...)``, ``serve(...,
logger=...)`` or ``wslab.WebSocket(url, logger=...)``, and each record becomes
a :class:`FrameRow`. Nothing is parsed twice: the opcode, payload and FIN bit
come from websockets' own frame object; only a close frame's payload is read
for its code and reason (RFC 6455, section 5.5.1: two bytes, then UTF-8).

No widget and no event loop here (the view is :class:`wslab.ui.inspector.FrameInspector`):
the model takes log records and a clock and keeps rows, so tests feed it records by hand.

Contracts:

* one row per frame, in the order websockets handled them; times in seconds
  since the log was made (its clock's ``monotonic``);
* ``masked`` follows RFC 6455, section 5.3: a client masks every frame it
  sends, a server none, so on the client's side the frames sent are masked
  and those received are not (the other way round on the server's side);
* a warning or an error websockets logs for the connection (a failed
  keepalive, for instance) is passed on to ``websockets.client`` (or
  ``websockets.server``), so it is not lost by being inspected;
* at most ``limit`` rows are kept (the oldest go first); :attr:`FrameLog.counts`
  counts every frame ever seen.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from wslab.core.clock import SYSTEM_CLOCK, Clock
from wslab.ui._html import ACCENT, MUTED, TEXT, esc

__all__ = ["FrameRow", "FrameLog", "Side", "FRAME_KINDS", "describe_frame"]

Side = Literal["client", "server"]

FRAME_KINDS = ("TEXT", "BINARY", "CONT", "PING", "PONG", "CLOSE")
"""The six opcodes of RFC 6455 (``CONT``: a continuation of a fragmented message)."""

_NOTES = {
    "- timed out waiting for keepalive pong": "no pong in time: the heartbeat gives up",
}

_TCP = {
    "x half-closing TCP connection": "FIN: this side closed its half",
    "x closing TCP connection": "the TCP connection closed",
}
"""What websockets logs when it ends the TCP connection itself. (Its ``"> EOF"`` is not shown: it
is logged even when the socket was aborted after ``close_timeout``, when nothing is sent.)"""


@dataclass(frozen=True)
class FrameRow:
    """One line of the inspector.

    ``kind`` is an opcode from :data:`FRAME_KINDS` for a frame, ``"HTTP"`` for a
    line of the opening handshake, ``"TCP"`` for the end of the TCP connection (a FIN
    sent or received),
    ``"STATE"`` for a change of the connection's state and ``"NOTE"`` for what
    the heartbeat logs. ``direction`` is ``"sent"``, ``"received"`` or ``""``.
    ``length`` and ``masked`` are set for frames only; ``close_code`` and
    ``close_reason`` for close frames (None when the frame carries no code: 1005).
    """

    t: float
    direction: str
    kind: str
    preview: str = ""
    length: int | None = None
    masked: bool | None = None
    fin: bool = True
    close_code: int | None = None
    close_reason: str | None = None

    @property
    def is_frame(self) -> bool:
        return self.kind in FRAME_KINDS

    @property
    def is_control(self) -> bool:
        return self.kind in ("PING", "PONG", "CLOSE")

    def line(self) -> str:
        """The row as text, without its time and without ping/pong payloads (random ids)."""
        arrow = {"sent": "sent    ", "received": "received", "": "        "}[self.direction]
        if not self.is_frame:
            return f"{arrow} {self.kind:<6} {self.preview}".rstrip()
        mask = "masked" if self.masked else "unmasked"
        size = f"{self.length} B"
        more = "" if self.fin else " (more fragments follow)"
        if self.kind == "CLOSE":
            detail = "no code (1005)" if self.close_code is None else f"{self.close_code} {self.close_reason!r}"
        elif self.kind in ("PING", "PONG"):
            detail = ""
        else:
            detail = self.preview
        return f"{arrow} {self.kind:<6} {size:>8}  {mask:<8}  {detail}{more}".rstrip()


def describe_frame(frame: Any, limit: int = 40) -> tuple[str, int | None, str | None]:
    """A frame's payload for people: ``(preview, close_code, close_reason)``.

    ``frame`` is websockets' frame object (``opcode``, ``data``). Text is shown as
    text (cut at ``limit`` characters), binary and control payloads as hex bytes
    (the first 16), a close frame as its code and reason.
    """
    kind = frame.opcode.name
    data = bytes(frame.data)
    if kind == "CLOSE":
        if len(data) < 2:
            return "no code (1005)", None, None
        code = int.from_bytes(data[:2], "big")
        reason = data[2:].decode("utf-8", "replace")
        return f"{code} {reason!r}", code, reason
    if kind == "TEXT" or (kind == "CONT" and _is_utf8(data)):
        text = data.decode("utf-8", "replace")
        return (repr(text[:limit] + "…") if len(text) > limit else repr(text)), None, None
    shown = " ".join(f"{b:02x}" for b in data[:16])
    return (shown + (" …" if len(data) > 16 else "")) or "(empty)", None, None


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class FrameLog(logging.Handler):
    """The frames of one connection, from websockets' log of it (see the module's docstring).

    Args:
        side: ``"client"`` when the logger goes to ``connect`` (or a
            ``wslab.WebSocket``), ``"server"`` when it goes to ``serve``; it
            decides which frames are masked.
        clock: times are ``clock.monotonic()`` minus the time the log was made.
        limit: rows kept (the oldest go first).
        preview: characters of text shown per frame.
        handshake: keep the opening handshake's request and status lines as rows.
    """

    def __init__(
        self,
        side: Side = "client",
        *,
        clock: Clock = SYSTEM_CLOCK,
        limit: int = 500,
        preview: int = 40,
        handshake: bool = True,
    ) -> None:
        if side not in ("client", "server"):
            raise ValueError(f"side must be 'client' or 'server', got {side!r}")
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit!r}")
        super().__init__(logging.DEBUG)
        self.side: Side = side
        self.clock = clock
        self.limit = limit
        self.preview = preview
        self.handshake = handshake
        self.start = clock.monotonic()
        self.rows: list[FrameRow] = []
        self.counts: Counter[tuple[str, str]] = Counter()
        """``(direction, kind) -> how many``, for every frame ever seen (``("sent", "PING")``)."""
        self._listeners: list[Callable[[FrameRow], None]] = []
        self._rows_lock = threading.Lock()
        self.logger = logging.Logger(f"wslab-frames-{side}", logging.DEBUG)
        """The logger to hand to websockets (``connect(url, logger=log.logger)``)."""
        self.logger.addHandler(self)
        self.logger.propagate = False

    # ------------------------------------------------------------ input

    def emit(self, record: logging.LogRecord) -> None:
        """Take one of websockets' log records (called by :mod:`logging`)."""
        if record.levelno >= logging.WARNING:
            logging.getLogger(f"websockets.{self.side}").handle(record)
            return
        row = self.to_row(record)
        if row is not None:
            self.add(row)

    def to_row(self, record: logging.LogRecord) -> FrameRow | None:
        """The row for one record, or None for what the inspector does not show (headers, pings' notes)."""
        t = round(self.clock.monotonic() - self.start, 6)
        msg, args = record.msg, record.args if isinstance(record.args, tuple) else ()
        if msg in ("> %s", "< %s") and args and hasattr(args[0], "opcode"):
            frame: Any = args[0]
            sent = msg[0] == ">"
            preview, code, reason = describe_frame(frame, self.preview)
            return FrameRow(
                t,
                "sent" if sent else "received",
                frame.opcode.name,
                preview,
                length=len(frame.data),
                masked=sent if self.side == "client" else not sent,
                fin=bool(frame.fin),
                close_code=code,
                close_reason=reason,
            )
        if msg == "< EOF":
            return FrameRow(t, "received", "TCP", "end of stream: the other side closed its half")
        if msg in _TCP:
            return FrameRow(t, "sent", "TCP", _TCP[msg])
        if msg == "= connection is %s" and args:
            return FrameRow(t, "", "STATE", f"connection is {args[0]}")
        if self.handshake and msg == "> GET %s HTTP/1.1" and args:
            return FrameRow(t, "sent", "HTTP", f"GET {args[0]} HTTP/1.1 (Upgrade: websocket)")
        if self.handshake and msg == "< HTTP/1.1 %d %s" and len(args) == 2:
            return FrameRow(t, "received", "HTTP", f"HTTP/1.1 {args[0]} {args[1]}")
        if isinstance(msg, str) and msg in _NOTES:
            return FrameRow(t, "", "NOTE", _NOTES[msg])
        return None

    def add(self, row: FrameRow) -> None:
        """Keep ``row`` and tell the listeners."""
        with self._rows_lock:
            self.rows.append(row)
            if len(self.rows) > self.limit:
                del self.rows[: len(self.rows) - self.limit]
            if row.is_frame:
                self.counts[(row.direction, row.kind)] += 1
            listeners = list(self._listeners)
        for listener in listeners:
            listener(row)

    def observe(self, fn: Callable[[FrameRow], None]) -> None:
        """Call ``fn(row)`` for every row from now on (in the thread that logged it)."""
        self._listeners.append(fn)

    def clear(self) -> None:
        """Forget the rows and counts, and count time from now."""
        with self._rows_lock:
            self.rows.clear()
            self.counts.clear()
            self.start = self.clock.monotonic()

    # ------------------------------------------------------------ output

    def frames(self) -> list[FrameRow]:
        """The rows that are frames (no handshake, state or notes)."""
        with self._rows_lock:
            return [row for row in self.rows if row.is_frame]

    def lines(self, frames_only: bool = False) -> list[str]:
        """The rows as text, without times or ping payloads: the same on every run of a lesson."""
        with self._rows_lock:
            rows = list(self.rows)
        return [row.line() for row in rows if row.is_frame or not frames_only]

    def html(self, title: str = "") -> str:
        """The rows as an HTML table, like the Messages panel of a browser's developer tools."""
        with self._rows_lock:
            rows = list(self.rows)
        head = (
            "<tr><th>time</th><th>direction</th><th>opcode</th><th>length</th><th>masked</th>"
            "<th style='text-align:left'>payload</th></tr>"
        )
        body = "".join(_row_html(row) for row in rows) or (
            f"<tr><td colspan='6' style='color:{MUTED}'>no frames yet</td></tr>"
        )
        caption = f"<caption style='text-align:left;font-weight:bold'>{esc(title)}</caption>" if title else ""
        return (
            "<table class='wslab-frames' style='border-collapse:collapse;font:12px monospace'>"
            f"{caption}<thead>{head}</thead><tbody>{body}</tbody></table>"
        )


# The arrow and the word say the direction; the colour (AA in light and dark) only helps the eye.
_COLOURS = {"sent": ACCENT, "received": TEXT, "": MUTED}
_ARROWS = {"sent": "&#x2191; sent", "received": "&#x2193; received", "": ""}


def _row_html(row: FrameRow) -> str:
    colour = _COLOURS[row.direction]
    cell = "style='padding:1px 8px;text-align:left'"
    if not row.is_frame:
        return (
            f"<tr style='color:{MUTED}'><td {cell}>+ {row.t:.3f}s</td><td {cell}>{_ARROWS[row.direction]}</td>"
            f"<td {cell}>{esc(row.kind)}</td><td {cell}></td><td {cell}></td><td {cell}>{esc(row.preview)}</td></tr>"
        )
    if row.kind in ("PING", "PONG"):
        # A heartbeat's payload is a random id: marked, so that nbval's sanitize file can find it.
        payload = f"<code class='wslab-ping-id'>{esc(row.preview)}</code>"
    else:
        payload = esc(row.preview) + ("" if row.fin else " <i>(more fragments follow)</i>")
    weight = "font-weight:bold;" if row.is_control else ""
    return (
        f"<tr style='color:{colour}'><td {cell}>+ {row.t:.3f}s</td><td {cell}>{_ARROWS[row.direction]}</td>"
        f"<td style='padding:1px 8px;text-align:left;{weight}'>{esc(row.kind)}</td>"
        f"<td {cell}>{row.length}</td><td {cell}>{'yes' if row.masked else 'no'}</td><td {cell}>{payload}</td></tr>"
    )
