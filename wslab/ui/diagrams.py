"""Pictures for lessons 1, 2 and 6 to 8, drawn as deterministic SVG from what the lesson did or says.

Each function returns a :class:`~wslab.ui.figures.Figure`: an image with an accessible name
(its summary, also its ``text/plain``), the same on every run for the same input, so a saved
notebook validates strictly. Nothing here opens a socket or reads a clock.

* :func:`sequence_diagram`: the rows of a :class:`~wslab.ui.frame_log.FrameLog` as a
  message sequence chart, client on the left, server on the right (lessons 1, 2, 7);
* :func:`broadcast_room`: who gets what when a room broadcasts (lesson 6);
* :func:`heartbeat_budget`: the longest time a heartbeat takes to notice a stalled peer,
  ``ping_interval + ping_timeout + close_timeout`` (lesson 7);
* :func:`slow_reader`: a reader that stopped reading, its server-side write buffer growing
  until a watchdog closes it, or for ever without one (lesson 7), simulated;
* :func:`stream_after_cut`: a room's Stream, two nodes and a pub/sub subscriber, and who
  gets what after one node's link to the engine was cut (lesson 8).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from wslab.ui._html import esc
from wslab.ui.figures import Figure
from wslab.ui.frame_log import FrameRow

__all__ = [
    "Canvas",
    "sequence_diagram",
    "broadcast_room",
    "heartbeat_budget",
    "slow_reader",
    "simulate_slow_reader",
    "stream_after_cut",
]

_INK, _MUTED, _SENT, _RECEIVED, _WARN, _BAD = "#333", "#888", "#1f6feb", "#1a7f37", "#f0ad4e", "#d9534f"


class Canvas:
    """A few SVG shapes, written in order: enough for the lessons' pictures."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" style="font-family:sans-serif;font-size:11px">',
            f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fff"/>',
            '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
            'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="context-stroke"/></marker></defs>',
        ]

    def text(self, x: float, y: float, text: str, *, colour: str = _INK, anchor: str = "start",
             bold: bool = False, size: int | None = None) -> None:
        weight = ' font-weight="bold"' if bold else ""
        font = f' font-size="{size}"' if size else ""
        self.parts.append(f'<text x="{x:.1f}" y="{y:.1f}" fill="{colour}" text-anchor="{anchor}"{weight}{font}>'
                          f"{esc(text)}</text>")

    def rect(self, x: float, y: float, w: float, h: float, *, fill: str, stroke: str = "none",
             title: str = "", dashed: bool = False, rx: float = 0) -> None:
        dash = ' stroke-dasharray="4 3"' if dashed else ""
        tip = f"<title>{esc(title)}</title>" if title else ""
        self.parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0.5):.1f}" height="{h:.1f}" rx="{rx}" '
                          f'fill="{fill}" stroke="{stroke}"{dash}>{tip}</rect>')

    def line(self, x1: float, y1: float, x2: float, y2: float, *, colour: str = _MUTED, arrow: bool = False,
             dashed: bool = False, width: float = 1.0) -> None:
        head = ' marker-end="url(#arrow)"' if arrow else ""
        dash = ' stroke-dasharray="4 3"' if dashed else ""
        self.parts.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{colour}" '
                          f'stroke-width="{width}"{dash}{head}/>')

    def polyline(self, points: Iterable[tuple[float, float]], *, colour: str, width: float = 2.0,
                 dashed: bool = False) -> None:
        dash = ' stroke-dasharray="5 3"' if dashed else ""
        shown = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        self.parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="{width}"{dash} points="{shown}"/>')

    def figure(self, summary: str) -> Figure:
        return Figure("".join(self.parts) + "</svg>", summary)


# ---------------------------------------------------------------- a connection's frames (lessons 1, 2, 7)

_READY_STATES = {"CONNECTING": 0, "OPEN": 1, "CLOSING": 2, "CLOSED": 3}


def _label(row: FrameRow) -> str:
    if row.kind == "CLOSE":
        return "CLOSE " + ("(no code: 1005)" if row.close_code is None else f"{row.close_code} {row.close_reason!r}")
    if row.kind in ("TEXT", "BINARY", "CONT"):
        return f"{row.kind} {row.preview}"
    if row.kind == "HTTP":
        return row.preview
    if row.kind == "TCP":
        return f"TCP {row.preview}"
    return row.kind


def sequence_diagram(rows: Sequence[FrameRow], *, title: str = "one connection", side: str = "client",
                     ready_state: bool = False, width: int = 640) -> Figure:
    """``rows`` (a :class:`~wslab.ui.frame_log.FrameLog`'s) as a message sequence chart.

    Time runs down, in the order of the rows (not to scale). The client is on the left, the
    server on the right; ``side`` says which end logged the rows. State changes are written
    on the logging end's lifeline (with the browser's ``readyState`` number when
    ``ready_state``); notes (a heartbeat that gave up) across the middle.
    """
    shown = [row for row in rows if row.is_frame or row.kind in ("HTTP", "TCP", "STATE", "NOTE")]
    left_x, right_x, top, step = 150, width - 110, 44, 24
    height = top + step * max(1, len(shown)) + 16
    canvas = Canvas(width, height)
    canvas.text(width / 2, 16, title, anchor="middle", bold=True)
    canvas.text(left_x, 34, "client", anchor="middle", bold=True)
    canvas.text(right_x, 34, "server", anchor="middle", bold=True)
    canvas.line(left_x, 38, left_x, height - 8)
    canvas.line(right_x, 38, right_x, height - 8)
    here, there = (left_x, right_x) if side == "client" else (right_x, left_x)
    described = []
    for i, row in enumerate(shown):
        y = top + i * step + 12
        if row.kind == "STATE":
            state = row.preview.removeprefix("connection is ")
            label = f"{state} ({_READY_STATES[state]})" if ready_state and state in _READY_STATES else state
            anchor, x = ("end", here - 8) if here == left_x else ("start", here + 8)
            canvas.text(x, y + 4, label, colour=_MUTED, anchor=anchor)
            canvas.rect(here - 3, y - 3, 6, 6, fill=_MUTED)
            described.append(f"state {label}")
            continue
        if row.kind == "NOTE":
            canvas.text((left_x + right_x) / 2, y + 4, row.preview, colour=_BAD, anchor="middle")
            described.append(row.preview)
            continue
        start, end = (here, there) if row.direction == "sent" else (there, here)
        colour = {"PING": _WARN, "PONG": _WARN, "CLOSE": _BAD}.get(row.kind, _SENT if start == left_x else _RECEIVED)
        if row.kind in ("HTTP", "TCP"):
            colour = _MUTED
        canvas.line(start, y, end, y, colour=colour, arrow=True, dashed=row.kind in ("HTTP", "TCP"), width=1.5)
        label = _label(row)
        if len(label) > 60:
            label = label[:59] + "…"
        canvas.text((left_x + right_x) / 2, y - 4, label, colour=colour, anchor="middle")
        who = "client" if start == left_x else "server"
        mask = "" if row.masked is None else (", masked" if row.masked else "")
        described.append(f"{who} sends {label}{mask}")
    summary = f"{title}, in order: " + "; ".join(described) if described else f"{title}: no frames"
    return canvas.figure(summary)


# ---------------------------------------------------------------- a broadcast room (lesson 6)


def broadcast_room(members: Sequence[str], sender: str, *, stalled: Sequence[str] = (),
                   closing: Sequence[str] = (), message: str = "hello", queued: int = 3,
                   width: int = 640) -> Figure:
    """Who gets what when ``sender``'s message is broadcast to ``members`` (websockets' ``broadcast``).

    An open member that reads gets its copy at once; an open member that stopped reading
    (``stalled``) gets its copy too, into its write buffer, behind ``queued`` earlier ones
    (no backpressure, no skipping); a member whose connection is ``closing`` is skipped.
    """
    row_h, top = 46, 40
    height = top + row_h * len(members) + 16
    canvas = Canvas(width, height)
    room_x, room_y, room_w, room_h = 200, top, 130, row_h * len(members) - 10
    canvas.text(10, 18, f"broadcast(members, {message!r}): one call, no await", bold=True)
    canvas.rect(room_x, room_y, room_w, room_h, fill="#f6f8fa", stroke=_MUTED, rx=6)
    canvas.text(room_x + room_w / 2, room_y + room_h / 2 - 4, "the room", anchor="middle", bold=True)
    canvas.text(room_x + room_w / 2, room_y + room_h / 2 + 10, "(server)", anchor="middle", colour=_MUTED)
    canvas.rect(10, room_y + room_h / 2 - 14, 90, 26, fill="#e7f0fe", stroke=_SENT, rx=4)
    canvas.text(55, room_y + room_h / 2 + 3, sender, anchor="middle")
    canvas.line(100, room_y + room_h / 2, room_x, room_y + room_h / 2, colour=_SENT, arrow=True, width=1.5)
    canvas.text(150, room_y + room_h / 2 - 6, repr(message), anchor="middle", colour=_SENT)
    member_x = width - 130
    said = []
    for i, name in enumerate(members):
        y = top + i * row_h + row_h / 2 - 8
        if name in closing:
            canvas.line(room_x + room_w, y, member_x, y, colour=_MUTED, dashed=True)
            canvas.text((room_x + room_w + member_x) / 2, y - 5, "skipped: not open (closing)", anchor="middle",
                        colour=_MUTED)
            canvas.rect(member_x, y - 13, 120, 26, fill="#f2f2f2", stroke=_MUTED, rx=4)
            canvas.text(member_x + 60, y + 4, f"{name} (closing)", anchor="middle", colour=_MUTED)
            said.append(f"{name}, whose connection is closing, is skipped")
            continue
        if name in stalled:
            buffer_x = member_x - 24 - 14 * (queued + 1)
            canvas.line(room_x + room_w, y, buffer_x, y, colour=_WARN, arrow=True, width=1.5)
            for q in range(queued + 1):
                fill = _WARN if q == queued else "#fbe3c0"
                canvas.rect(buffer_x + 2 + q * 14, y - 9, 12, 18, fill=fill, stroke=_WARN,
                            title="this message" if q == queued else "an earlier message")
            canvas.text(room_x + room_w + 8, y - 6, "into its write buffer", colour=_WARN)
            canvas.rect(member_x, y - 13, 120, 26, fill="#fff4e5", stroke=_WARN, rx=4)
            canvas.text(member_x + 60, y + 4, f"{name} (not reading)", anchor="middle")
            said.append(f"{name}, who stopped reading, gets it into its write buffer behind {queued} others "
                        "(not skipped, and nobody waits for it)")
            continue
        canvas.line(room_x + room_w, y, member_x, y, colour=_RECEIVED, arrow=True, width=1.5)
        note = "at once (the sender too)" if name == sender else "at once"
        canvas.text((room_x + room_w + member_x) / 2, y - 5, note, anchor="middle", colour=_RECEIVED)
        canvas.rect(member_x, y - 13, 120, 26, fill="#eaf6ec", stroke=_RECEIVED, rx=4)
        canvas.text(member_x + 60, y + 4, name, anchor="middle")
        said.append(f"{name} gets it at once" + (" (the sender too)" if name == sender else ""))
    return canvas.figure(f"broadcast of {message!r} from {sender}: " + "; ".join(said))


# ---------------------------------------------------------------- the heartbeat's budget (lesson 7)


def heartbeat_budget(settings: Mapping[str, tuple[float, float, float]], *, bound: float | None = 1.0,
                     bound_label: str = "1 s", width: int = 640) -> Figure:
    """The longest a heartbeat takes to notice a stalled peer, per setting, as stacked bars.

    ``settings`` maps a label to ``(ping_interval, ping_timeout, close_timeout)``. A peer
    stalls just after a pong: the next ping goes out up to ``ping_interval`` later, the pong
    is given up on ``ping_timeout`` after that, and the closing handshake, which a stalled
    peer never answers, is given up on after ``close_timeout``: only then is the connection
    closed (``recv()`` raises, ``wait_closed()`` returns).
    """
    left, right, top, row_h = 220, width - 20, 48, 30
    longest = max(sum(parts) for parts in settings.values())
    span = max(longest, bound or 0) * 1.05
    height = top + row_h * len(settings) + 44
    scale = (right - left) / span
    canvas = Canvas(width, height)
    canvas.text(10, 18, "worst case from the stall to a closed connection", bold=True)
    colours = (("ping_interval", "#9ecae1"), ("ping_timeout", _WARN), ("close_timeout", _BAD))
    said = []
    for r, (label, parts) in enumerate(settings.items()):
        y = top + r * row_h
        canvas.text(10, y + 15, label)
        x: float = left
        for (name, colour), value in zip(colours, parts, strict=True):
            canvas.rect(x, y + 4, value * scale, 16, fill=colour, title=f"{name} {value:g} s")
            x += value * scale
        total = sum(parts)
        if x + 44 > right:
            canvas.text(x - 4, y + 16, f"{total:g} s", colour="#fff", anchor="end", bold=True)
        else:
            canvas.text(x + 4, y + 16, f"{total:g} s", colour=_INK)
        said.append(f"{label}: {' + '.join(f'{v:g}' for v in parts)} = {total:g} s")
    axis = top + row_h * len(settings) + 4
    canvas.line(left, axis, right, axis)
    step = next(s for s in (0.25, 0.5, 1, 2, 5, 10, 20) if span / s <= 10)
    t = 0.0
    while t <= span:
        canvas.text(left + t * scale, axis + 13, f"{t:g}s", anchor="middle", colour="#555")
        t += step
    if bound is not None:
        bound_x = left + bound * scale
        canvas.line(bound_x, top - 12, bound_x, axis, colour=_INK, dashed=True)
        canvas.text(bound_x + 3, top - 4, bound_label, colour=_INK)
    for i, (name, colour) in enumerate(colours):
        canvas.rect(left + i * 130, axis + 22, 10, 10, fill=colour)
        canvas.text(left + i * 130 + 14, axis + 31, name)
    return canvas.figure("longest time to notice a stalled peer, ping_interval + ping_timeout + close_timeout: "
                         + "; ".join(said))


# ---------------------------------------------------------------- a slow reader (lesson 7)


def simulate_slow_reader(message_bytes: int, every: float, seconds: float, *, limit: int | None,
                         check_every: float = 0.5) -> tuple[list[tuple[float, int]], float | None]:
    """A server-side write buffer for a reader that stopped reading at t = 0, as ``(t, bytes)`` steps.

    A message of ``message_bytes`` is written every ``every`` s (what the kernel's socket
    buffers took is left out: this is the part in the server's memory). A watchdog that
    looks every ``check_every`` s closes the connection at its first look above ``limit``
    (None: no watchdog). Returns the steps and when it closed (None if it never did).
    """
    steps: list[tuple[float, int]] = [(0.0, 0)]
    size, t, writes = 0, 0.0, 0
    next_check = check_every
    while True:
        t = round((writes + 1) * every, 9)
        while limit is not None and next_check < t and next_check <= seconds:
            if size > limit:
                steps.append((next_check, size))
                return steps, next_check
            next_check = round(next_check + check_every, 9)
        if t > seconds:
            steps.append((seconds, size))
            return steps, None
        writes += 1
        size += message_bytes
        steps.append((t, size))


def slow_reader(message_bytes: int = 100_000, every: float = 0.1, seconds: float = 3.0, *,
                limit: int = 256 * 1024, check_every: float = 0.5, width: int = 640) -> Figure:
    """The write buffer of a reader that stopped reading: with a watchdog (closed with 4008) and without."""
    with_dog, closed_at = simulate_slow_reader(message_bytes, every, seconds, limit=limit, check_every=check_every)
    without, _ = simulate_slow_reader(message_bytes, every, seconds, limit=None)
    left, right, top, bottom = 60, width - 20, 30, 200
    peak = without[-1][1] or 1
    canvas = Canvas(width, bottom + 40)
    canvas.text(10, 18, f"a reader that stopped reading; {message_bytes / 1000:g} kB sent to it every {every:g} s",
                bold=True)

    def xy(t: float, size: int) -> tuple[float, float]:
        return left + t / seconds * (right - left), bottom - size / peak * (bottom - top)

    def steps(points: list[tuple[float, int]]) -> list[tuple[float, float]]:
        out: list[tuple[float, float]] = []
        for (t0, s0), (t1, _) in zip(points, points[1:], strict=False):
            out += [xy(t0, s0), xy(t1, s0)]
        out.append(xy(*points[-1]))
        return out

    canvas.line(left, bottom, right, bottom)
    canvas.line(left, top, left, bottom)
    canvas.polyline(steps(without), colour=_MUTED, dashed=True)
    canvas.polyline(steps(with_dog), colour=_WARN, width=2.5)
    _, y_limit = xy(0, limit)
    canvas.line(left, y_limit, right, y_limit, colour=_BAD, dashed=True)
    canvas.text(right, y_limit - 4, f"watchdog limit {limit // 1024} KiB", anchor="end", colour=_BAD)
    for k in range(1, int(seconds / check_every) + 1):
        x, _ = xy(k * check_every, 0)
        canvas.line(x, bottom, x, bottom + 4, colour=_INK)
    if closed_at is not None:
        x, _ = xy(closed_at, with_dog[-1][1])
        canvas.line(x, y_limit, x, bottom, colour=_BAD)
        canvas.text(x + 6, bottom - 8, f"closed with 4008 at {closed_at:g} s", colour=_BAD, bold=True)
    x, y = xy(*without[-1])
    canvas.text(x, y - 6, f"no watchdog: {without[-1][1] / 1e6:g} MB and growing", anchor="end", colour=_MUTED)
    for t in range(int(seconds) + 1):
        x, _ = xy(float(t), 0)
        canvas.text(x, bottom + 16, f"{t}s", anchor="middle", colour="#555")
    canvas.text(left - 4, top + 4, f"{peak / 1e6:g} MB", anchor="end", colour="#555")
    canvas.text(left - 4, bottom, "0", anchor="end", colour="#555")
    canvas.text(left, bottom + 32, f"ticks: the watchdog looks every {check_every:g} s", colour="#555")
    closed = f"the watchdog closes it with 4008 at {closed_at:g} s" if closed_at is not None else "never closed"
    summary = (f"the server-side write buffer of a reader that stopped reading, {message_bytes / 1000:g} kB every "
               f"{every:g} s: with a watchdog (limit {limit // 1024} KiB, a look every {check_every:g} s) {closed}; "
               f"without one it holds {without[-1][1] / 1e6:g} MB after {seconds:g} s and keeps growing")
    return canvas.figure(summary)


# ---------------------------------------------------------------- a room's Stream after a cut (lesson 8)


def stream_after_cut(entries: int = 8, cut: tuple[int, int] = (4, 6), *, steady: str = "node one",
                     cut_node: str = "node two", width: int = 640) -> Figure:
    """A room's Stream of ``entries`` messages; ``cut_node``'s link is cut while ``cut[0]..cut[1]`` are logged.

    ``steady`` reads everything as it comes. ``cut_node`` reads (``XREAD``) from the last id it
    delivered, so after the link is back it gets ``cut[0]..`` in order, each once. A pub/sub
    subscriber on the same cut link gets nothing published while it was away.
    """
    first, last = cut
    left, top, box, gap, row_h = 214, 40, 36, 10, 40
    canvas = Canvas(width, top + row_h * 4 + 46)
    canvas.text(10, 18, f"one room, two nodes, one engine: who gets what after {cut_node}'s link is cut", bold=True)

    def x_of(seq: int) -> float:
        return left + (seq - 1) * (box + gap)

    cut_left, cut_right = x_of(first) - gap / 2, x_of(last) + box + gap / 2
    canvas.rect(cut_left, top - 6, cut_right - cut_left, row_h * 4 + 4, fill="#fdecea",
                title=f"{cut_node}'s link is cut")
    canvas.text((cut_left + cut_right) / 2, top + row_h * 4 + 12, f"{cut_node}'s link cut", anchor="middle",
                colour=_BAD)
    rows = (
        ("the room's Stream (Valkey)", "log"),
        (f"{steady} (XREAD)", "one"),
        (f"{cut_node} (XREAD from its last id)", "two"),
        ("a pub/sub subscriber", "pubsub"),
    )
    for r, (label, kind) in enumerate(rows):
        y = top + r * row_h
        canvas.text(10, y + 18, label, colour=_INK)
        for seq in range(1, entries + 1):
            x = x_of(seq)
            during = first <= seq <= last
            if kind == "log":
                canvas.rect(x, y, box, 26, fill="#f6f8fa", stroke=_MUTED, title=f"entry {seq}-0")
                canvas.text(x + box / 2, y + 17, f"{seq}-0", anchor="middle")
            elif kind == "one" or (kind == "two" and not during):
                canvas.rect(x, y, box, 26, fill="#eaf6ec", stroke=_RECEIVED, title=f"delivered {seq}")
                canvas.text(x + box / 2, y + 17, str(seq), anchor="middle", colour=_RECEIVED)
            elif kind == "pubsub" and not during:
                canvas.rect(x, y, box, 26, fill="#eaf6ec", stroke=_RECEIVED, title=f"received {seq}")
                canvas.text(x + box / 2, y + 17, str(seq), anchor="middle", colour=_RECEIVED)
            elif kind == "pubsub":
                canvas.rect(x, y, box, 26, fill="#fff", stroke=_BAD, dashed=True, title=f"lost {seq}")
                canvas.text(x + box / 2, y + 17, "lost", anchor="middle", colour=_BAD)
        if kind == "two":
            for seq in range(first, last + 1):
                canvas.rect(x_of(seq), y, box, 26, fill="#d7efdb", stroke=_RECEIVED, title=f"caught up: {seq}")
                canvas.text(x_of(seq) + box / 2, y + 17, str(seq), anchor="middle", colour=_RECEIVED)
    canvas.text(10, top + row_h * 4 + 30, f"{cut_node}, once its link is back: XREAD from {first - 1}-0 gives "
                f"{first}..{entries}, in order, each once (darker: caught up after the cut)", colour=_RECEIVED)
    missed = ", ".join(str(s) for s in range(first, last + 1))
    return canvas.figure(
        f"a room's Stream of {entries} entries; {cut_node}'s link is cut while {missed} are logged: {steady} "
        f"delivers 1 to {entries}; {cut_node} reads on from its last id, {first - 1}-0, and delivers {missed} "
        f"after the cut, then the rest, in order, each once; a pub/sub subscriber on the same link loses {missed}"
    )
