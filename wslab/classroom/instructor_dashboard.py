"""The instructor's dashboard: one room of a running server, as ipywidgets, made for a room of 40.

It watches a server in this kernel (a :class:`~wslab.kernel.course_server.ServerHandle`)
or, by URL and admin token, a running ``wslab serve`` over its admin channel
(:mod:`wslab.classroom.dashboard_source`). It is a pure view: it holds no chat state of
its own. Each :meth:`InstructorDashboard.refresh` reads one report and shows it:

* who is connected, one row per person, with *Mute*/*Unmute* and *Kick…*
  buttons (a kick asks first: *Kick*, *Kick and ban* or *Cancel*; a kick is not
  a ban: the person may join again), and who is flooding (over the rate limit)
  or slow (their queue on the server grows);
* the rows sorted (joined, name, needs attention, flooding) and filtered
  (everyone, muted, typing, flooding, slow; a piece of a name), by
  :mod:`wslab.classroom.roster`'s rules, with "showing 5 of 40";
* who is banned, each with an *Unban* button;
* messages in the last minute and in total;
* who is typing (the same sentence learners see);
* the server's health: uptime, connections, rooms, TLS, its latest notable
  log lines, newest first;
* a box to post an announcement to the room;
* *Join QR*: the join link's QR code, the page to type the join code at and the
  code, large enough for a projector (from a ``wslab serve`` that knows its
  network address).

It refreshes when you press *Refresh*, after every button, and, if asked, on
a timer that is bounded twice: ``interval`` seconds apart (at least
:data:`MIN_INTERVAL`) and for ``refresh_for`` seconds at most, after which it
stops by itself (start it again with :meth:`~InstructorDashboard.start_auto_refresh`).
A server that cannot be read (restarting, say) is tried again at the same pace
for :data:`RETRY_FOR` seconds before the timer gives up; a refused admin token
stops it at once. The timer thread never blocks the kernel, and each read of the
server waits at most :data:`wslab.kernel.course_server.CALL_TIMEOUT` seconds.

For a keyboard and a screen reader (WCAG 2.1 AA, checked by axe-core in JupyterLab,
``tests/e2e/browser/test_lab.py``): each person's buttons sit next to their name and
are named for them (*Mute Ada*, *Kick Ada…*, then *Kick Ada*, *Kick and ban Ada*,
*Keep Ada*); every field has a visible label; the server's log is a read-only log,
reachable with Tab and scrolled by keys, not a disabled box.

Names are shown in ``Label`` widgets, which render text, never HTML; the log and the
QR view escape what they show::

    server = wslab.start_server(host="0.0.0.0", token="...")
    from wslab.classroom.instructor_dashboard import InstructorDashboard
    InstructorDashboard(server, room="lobby")
    # or a wslab serve running elsewhere, with the admin token its banner printed:
    InstructorDashboard("ws://127.0.0.1:8765/admin", admin_token="...", room="workshop")

Longer than 500 lines because one view holds the whole moderation desk (rows with
their confirmation, the sort and filter controls, the banned list, health and log,
announcements, the projector's QR code, and the bounded timer), each part a few
lines over the same report; the rules they show are :mod:`wslab.classroom.roster`'s
and the server's.
"""

from __future__ import annotations

import html
import ssl as ssl_module
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

import ipywidgets as widgets

from wslab.classroom.dashboard_source import admin_source
from wslab.classroom.qr import qr_svg
from wslab.classroom.roster import SHOWS, SORTS, arrange, people
from wslab.core import protocol as p
from wslab.core.admin_protocol import AdminReport, Health, JoinInfo, MemberInfo
from wslab.core.clock import SYSTEM_CLOCK, Clock
from wslab.core.hub import RoomSnapshot
from wslab.core.typing_status import typing_text
from wslab.ui._html import MUTED, TEXT

__all__ = ["DashboardSource", "InstructorDashboard", "PersonRow", "MIN_INTERVAL", "RETRY_FOR"]

MIN_INTERVAL = 0.1
"""Shortest auto-refresh interval, in seconds."""

RETRY_FOR = 60.0
"""Seconds the auto-refresh keeps trying a server that cannot be read (a restart) before it gives up."""

_HIDDEN = "none"


def _display(widget: Any, shown: bool) -> None:
    widget.layout.display = None if shown else _HIDDEN


def _log_html(lines: tuple[str, ...]) -> str:
    """The server's log lines as a read-only log: named, reachable with Tab, scrolled by keys, escaped."""
    text = "\n".join(html.escape(line) for line in lines) or "the server's notable events appear here, newest first"
    return (
        '<pre class="wslab-server-log" role="log" aria-label="Server log, newest first" tabindex="0" '
        'style="margin:0;padding:4px;max-height:9em;overflow:auto;white-space:pre-wrap;font-size:12px;'
        f'color:{TEXT};border:1px solid {MUTED}">{text}</pre>'
    )


class DashboardSource(Protocol):
    """What the dashboard needs from a server; :class:`~wslab.kernel.course_server.ServerHandle` is one."""

    def snapshot(self, room: str = ...) -> RoomSnapshot: ...

    def kick(self, room: str, name: str) -> None: ...

    def mute(self, room: str, name: str, muted: bool = True) -> None: ...


class PersonRow:
    """One connected person: their name, what they are doing, and the buttons.

    *Kick…* asks first: the row then shows *Kick*, *Kick and ban* (when the
    server can ban: ``on_ban``) and *Cancel*.
    """

    def __init__(
        self,
        name: str,
        on_mute: Callable[[PersonRow], None],
        on_kick: Callable[[PersonRow], None],
        on_ban: Callable[[PersonRow], None] | None = None,
    ) -> None:
        self.name = name
        self.muted = False
        self.typing = False
        # The name, then at once its buttons, each named for the person (a screen reader lists
        # buttons out of their row: "Mute" alone does not say whose); the state and load after.
        def fit() -> widgets.Layout:  # one Layout per button: showing or hiding one must not hide them all
            return widgets.Layout(width="auto", min_width="6em")

        self.name_label = widgets.Label(value=name, layout=widgets.Layout(width="auto", min_width="8em"))
        self.state = widgets.Label(value="", layout=widgets.Layout(width="6em"))
        self.load = widgets.Label(value="", layout=widgets.Layout(width="auto"))
        self.mute_button = widgets.Button(description=f"Mute {name}", tooltip=f"Mute {name}", layout=fit())
        self.kick_button = widgets.Button(
            description=f"Kick {name}…", tooltip=f"Remove {name} from the room (asks first)", layout=fit()
        )
        self.confirm_label = widgets.Label(value=f"Remove {name}? They may join again unless banned.")
        self.confirm_button = widgets.Button(
            description=f"Kick {name}", button_style="danger", tooltip=f"Yes: disconnect {name} (close code 4003)",
            layout=fit(),
        )
        self.ban_button = widgets.Button(
            description=f"Kick and ban {name}", button_style="danger",
            tooltip=f"Disconnect {name} and refuse the name {name} in this room (close code 4004)", layout=fit(),
        )
        self.cancel_button = widgets.Button(
            description=f"Keep {name}", tooltip=f"Cancel: keep {name} in the room", layout=fit()
        )
        self.mute_button.on_click(lambda _: on_mute(self))
        self.kick_button.on_click(lambda _: self.ask())
        self.cancel_button.on_click(lambda _: self.cancel())
        self.confirm_button.on_click(lambda _: self._then(on_kick))
        asking = [self.confirm_label, self.confirm_button]
        if on_ban is not None:
            self.ban_button.on_click(lambda _: self._then(on_ban))
            asking.append(self.ban_button)
        self.confirm_box = widgets.HBox([*asking, self.cancel_button])
        self.widget = widgets.HBox(
            [self.name_label, self.mute_button, self.kick_button, self.confirm_box, self.state, self.load]
        )
        self.cancel()

    @property
    def asking(self) -> bool:
        """True while the row asks whether to kick."""
        return bool(self.confirm_box.layout.display != _HIDDEN)

    def ask(self) -> None:
        """Show the kick's confirmation instead of the *Kick…* button."""
        _display(self.kick_button, False)
        _display(self.confirm_box, True)

    def cancel(self) -> None:
        """Back to the *Kick…* button, nothing done."""
        _display(self.confirm_box, False)
        _display(self.kick_button, True)

    def _then(self, action: Callable[[PersonRow], None]) -> None:
        self.cancel()
        action(self)

    def show(self, *, muted: bool, typing: bool, info: MemberInfo | None = None) -> None:
        """Show this person's state from the latest snapshot (and, when the source says, their load)."""
        self.muted, self.typing = muted, typing
        self.state.value = "muted" if muted else ("typing…" if typing else "")
        warnings = []
        if info is not None and info.flooding:
            warnings.append(f"flooding ({info.strikes} dropped)")
        if info is not None and info.slow:
            warnings.append(f"slow ({info.queued_bytes // 1024} KiB queued)")
        self.load.value = ", ".join(warnings)
        self.mute_button.description = self.mute_button.tooltip = f"{'Unmute' if muted else 'Mute'} {self.name}"

    def close(self) -> None:
        for widget in (
            self.name_label, self.state, self.load, self.mute_button, self.kick_button, self.confirm_label,
            self.confirm_button, self.ban_button, self.cancel_button, self.confirm_box, self.widget,
        ):
            widget.close()


class InstructorDashboard:
    """Watch and moderate one room of a running server.

    Args:
        source: the server: the :class:`~wslab.kernel.course_server.ServerHandle` from
            :func:`wslab.start_server` (or ``start_classroom``), or the admin
            URL of a running ``wslab serve`` (``ws://HOST:PORT/admin``).
        room: the room to show; change it later in the dashboard's text box.
        admin_token: with an admin URL: the admin token ``wslab serve``
            printed (the learners' token is refused).
        cafile: with a ``wss://`` admin URL: a PEM CA to trust besides the system's
            (the banner of ``wslab serve`` prints the one to give).
        ssl: with a ``wss://`` admin URL: the :class:`ssl.SSLContext` to use instead.
        auto_refresh: seconds between automatic refreshes, or ``None`` for
            the *Refresh* button only.
        refresh_for: the automatic refresh stops after this many seconds.
        clock: where time comes from (for "updated at" and the timer's bound).

    Attributes useful in tests and notebooks: :attr:`widget` (the whole
    view), :attr:`rows` (name to :class:`PersonRow`, everyone in the room),
    :attr:`shown` (the names listed now, in order, after sorting and
    filtering), :attr:`last` (the latest snapshot, or ``None``),
    :attr:`refresh_button`, :attr:`room_input`, :attr:`sort_input`,
    :attr:`show_input`, :attr:`find_input`, :attr:`qr_button`.
    Listeners in :attr:`on_refresh` are called with each new snapshot.
    """

    def __init__(
        self,
        source: DashboardSource,
        room: str = p.DEFAULT_ROOM,
        *,
        admin_token: str | None = None,
        cafile: str | None = None,
        ssl: ssl_module.SSLContext | None = None,
        auto_refresh: float | None = 2.0,
        refresh_for: float = 2 * 3600.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.source = admin_source(source, admin_token=admin_token, cafile=cafile, ssl=ssl)
        self.clock = clock
        self.rows: dict[str, PersonRow] = {}
        self.shown: list[str] = []
        self.last: RoomSnapshot | None = None
        self.last_report: AdminReport | None = None
        self.on_refresh: list[Callable[[RoomSnapshot], None]] = []
        self._lock = threading.RLock()
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()
        self._can_ban = callable(getattr(self.source, "ban", None))
        self._join: JoinInfo | None = None

        self.room_input = widgets.Text(
            value=room, description="Room", continuous_update=False, layout=widgets.Layout(width="18em")
        )
        # Buttons without icons: an icon's element puts a stray space in the accessible name (" Refresh").
        self.refresh_button = widgets.Button(description="Refresh", layout=widgets.Layout(width="8em"))
        self.qr_button = widgets.ToggleButton(
            description="Join QR", tooltip="Show the join link's QR code and the join code, large, "
            "for the projector", layout=widgets.Layout(width="8em"),
        )
        self.qr_view = widgets.HTML(value="")
        self.online_label = widgets.Label(value="")
        self.rate_label = widgets.Label(value="")
        self.typing_label = widgets.Label(value="")
        self.status = widgets.Label(value="")
        self.sort_input = widgets.Dropdown(
            options=[(label, key) for key, label in SORTS.items()], value="joined", description="Sort",
            layout=widgets.Layout(width="16em"),
        )
        self.show_input = widgets.Dropdown(
            options=[(label, key) for key, label in SHOWS.items()], value="everyone", description="Show",
            layout=widgets.Layout(width="14em"),
        )
        self.find_input = widgets.Text(
            placeholder="a piece of a name", description="Find", continuous_update=True,
            layout=widgets.Layout(width="16em"),
        )
        self.count_label = widgets.Label(value="")
        self.people = widgets.VBox([])
        self.banned_box = widgets.HBox([])
        self.health_label = widgets.Label(value="")
        self.log_lines: tuple[str, ...] = ()
        """The server's notable log lines, newest first, as :attr:`log_view` shows them."""
        self.log_view = widgets.HTML(value=_log_html(()), layout=widgets.Layout(width="100%"))
        self.announce_input = widgets.Text(
            description="Announcement", placeholder="to everyone in the room…", style={"description_width": "initial"},
            layout=widgets.Layout(flex="1 1 auto", width="auto"),
        )
        self.announce_button = widgets.Button(description="Announce", layout=widgets.Layout(width="9em"))
        self.announce_button.on_click(lambda _: self.announce())
        self.refresh_button.on_click(lambda _: self.refresh())
        self.room_input.observe(lambda _: self.refresh(), names="value")
        for control in (self.sort_input, self.show_input, self.find_input):
            control.observe(lambda _: self._rearrange(), names="value")
        self.qr_button.observe(lambda _: self._show_qr(), names="value")
        extras: list[Any] = []
        if callable(getattr(self.source, "announce", None)):
            extras.append(widgets.HBox([self.announce_input, self.announce_button]))
        if callable(getattr(self.source, "report", None)):
            extras += [self.health_label, self.log_view]
        _display(self.qr_button, False)
        _display(self.qr_view, False)
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.room_input, self.refresh_button, self.qr_button]),
                self.qr_view,
                widgets.HBox([self.online_label, self.rate_label]),
                self.typing_label,
                widgets.HBox([self.sort_input, self.show_input, self.find_input, self.count_label]),
                self.people,
                self.banned_box,
                *extras,
                self.status,
            ]
        )
        self.refresh()
        if auto_refresh is not None:
            self.start_auto_refresh(auto_refresh, refresh_for)

    # ------------------------------------------------------------ reading

    @property
    def room(self) -> str:
        return self.room_input.value.strip() or p.DEFAULT_ROOM

    def refresh(self) -> RoomSnapshot | None:
        """Read the room's snapshot and show it; returns it, or ``None`` if the server could not say.

        Never raises for a stopped or slow server: the reason is shown in :attr:`status`.
        """
        with self._lock:
            room = self.room
            try:
                p.validate_room(room)
            except p.ProtocolError as exc:
                self.status.value = exc.message
                return None
            report: AdminReport | None = None
            try:
                if callable(getattr(self.source, "report", None)):
                    report = self.source.report(room)
                    snapshot = report.snapshot
                else:
                    snapshot = self.source.snapshot(room)
            except (RuntimeError, TimeoutError, ValueError) as exc:
                self.status.value = f"cannot read the server: {exc}"
                return None
            self.last_report = report
            self._show(snapshot, report)
        for listener in list(self.on_refresh):
            listener(snapshot)
        return snapshot

    def _show(self, snapshot: RoomSnapshot, report: AdminReport | None = None) -> None:
        self.last = snapshot
        details = {m.name: m for m in report.members} if report is not None else {}
        if report is not None:
            self._show_health(report.health)
        self._show_join(report.join if report is not None else None)
        muted = set(snapshot.muted)  # casefolded names
        typing = set(snapshot.typing)
        count = len(snapshot.online)
        self.online_label.value = f"{count} online"
        self.rate_label.value = (
            f" · {snapshot.messages_last_minute} message{'s' if snapshot.messages_last_minute != 1 else ''} "
            f"in the last minute · {snapshot.messages} in total"
        )
        self.typing_label.value = typing_text(snapshot.typing)
        for name in [n for n in self.rows if n not in snapshot.online]:
            self.rows.pop(name).close()
        for name in snapshot.online:
            row = self.rows.get(name)
            if row is None:
                row = self.rows[name] = PersonRow(
                    name, self._toggle_mute, self._kick, self._ban if self._can_ban else None
                )
            row.show(muted=name.casefold() in muted, typing=name in typing, info=details.get(name))
        self._rearrange()
        self._show_banned(snapshot.banned)
        if not snapshot.online:
            self.status.value = f"No one is in room {snapshot.room!r}. Updated {self._now()}."
        else:
            self.status.value = f"Updated {self._now()}." + (" Auto-refresh on." if self.auto_refreshing else "")

    def _rearrange(self) -> None:
        """List the rows as the sort, the filter and the name to find say (no read of the server)."""
        with self._lock:
            if self.last is None:
                return
            report = self.last_report
            listed = arrange(
                people(self.last, report.members if report is not None else ()),
                sort=self.sort_input.value, show=self.show_input.value, find=self.find_input.value,
            )
            self.shown = [person.name for person in listed if person.name in self.rows]
            children = tuple(self.rows[name].widget for name in self.shown)
            if self.people.children != children:
                self.people.children = children
            total = len(self.rows)
            self.count_label.value = "" if len(self.shown) == total else f"showing {len(self.shown)} of {total}"

    def _show_banned(self, banned: tuple[str, ...]) -> None:
        current = [b.tooltip.removeprefix("Let ").removesuffix(" join again") for b in self.banned_box.children[1:]]
        if current == list(banned):
            return
        for child in self.banned_box.children:
            child.close()
        if not banned:
            self.banned_box.children = ()
            return
        buttons = []
        for name in banned:
            button = widgets.Button(description=f"Unban {name}", tooltip=f"Let {name} join again")
            button.on_click(lambda _, name=name: self._act(lambda: self.source.ban(self.room, name, False)))
            buttons.append(button)
        self.banned_box.children = (widgets.Label(value="Banned:"), *buttons)

    def _show_health(self, health: Health) -> None:
        minutes, seconds = divmod(int(health.uptime), 60)
        rooms = ", ".join(health.rooms) or "none yet"
        self.health_label.value = (
            f"Server: up {minutes} min {seconds} s · {health.connections} connection"
            f"{'s' if health.connections != 1 else ''} · rooms: {rooms}" + (" · TLS" if health.tls else "")
            + " · its notable events, newest first:"
        )
        self.log_lines = tuple(reversed(health.recent))
        view = _log_html(self.log_lines)
        if self.log_view.value != view:
            self.log_view.value = view

    def _show_join(self, join: JoinInfo | None) -> None:
        self._join = join
        _display(self.qr_button, join is not None)
        self._show_qr()

    def _show_qr(self) -> None:
        join = self._join
        shown = bool(self.qr_button.value) and join is not None
        _display(self.qr_view, shown)
        if not shown or join is None:
            return
        code = (
            f'<p style="margin:0.2em;font:bold 4em monospace;letter-spacing:0.1em">{html.escape(join.code)}</p>'
            if join.code else ""
        )
        view = (
            '<div style="text-align:center;font-family:sans-serif">'
            f'<div style="height:70vh;max-width:100%;aspect-ratio:1;margin:auto">{qr_svg(join.link)}</div>'
            f'<p style="margin:0.2em;font-size:1.6em">Scan it, or open <b>{html.escape(join.page)}</b>'
            f"{' and type the code' if join.code else ''}</p>{code}</div>"
        )
        if self.qr_view.value != view:
            self.qr_view.value = view

    def _now(self) -> str:
        return datetime.fromtimestamp(self.clock.wall()).strftime("%H:%M:%S")

    # ------------------------------------------------------------ moderating

    def _toggle_mute(self, row: PersonRow) -> None:
        self._act(lambda: self.source.mute(self.room, row.name, not row.muted))

    def _kick(self, row: PersonRow) -> None:
        self._act(lambda: self.source.kick(self.room, row.name))

    def _ban(self, row: PersonRow) -> None:
        self._act(lambda: self.source.ban(self.room, row.name, True))

    def _act(self, action: Callable[[], object]) -> bool:
        try:
            action()
        except (RuntimeError, TimeoutError, ValueError) as exc:
            self.status.value = f"the server did not do it: {exc}"
            return False
        self.refresh()
        return True

    def announce(self, content: str | None = None) -> bool:
        """Post ``content`` (by default: what is in the announcement box) to the room; True if it was posted.

        The box is emptied once the server took it; on a refusal it keeps the
        text and :attr:`status` says why.
        """
        text = self.announce_input.value if content is None else content
        if not text.strip():
            self.status.value = "Type the announcement first."
            return False
        send = getattr(self.source, "announce", None)
        if not callable(send):
            self.status.value = "This server cannot take announcements."
            return False
        if self._act(lambda: send(self.room, text)):
            if content is None:
                self.announce_input.value = ""
            return True
        return False

    # ------------------------------------------------------------ the timer

    @property
    def auto_refreshing(self) -> bool:
        """True while the automatic refresh runs."""
        return self._ticker is not None and self._ticker.is_alive() and not self._stop.is_set()

    def start_auto_refresh(self, interval: float = 2.0, refresh_for: float = 2 * 3600.0) -> None:
        """Refresh every ``interval`` s (at least :data:`MIN_INTERVAL`) for at most ``refresh_for`` s.

        Replaces a running timer. A server that cannot be read is tried again at the
        same pace for :data:`RETRY_FOR` s, then the timer stops; a refused admin token
        stops it at once.
        """
        if refresh_for <= 0:
            raise ValueError("refresh_for must be > 0")
        self.stop_auto_refresh()
        interval = max(MIN_INTERVAL, float(interval))
        until = self.clock.monotonic() + refresh_for
        stop = self._stop = threading.Event()

        def tick() -> None:
            failing_since: float | None = None
            while not stop.wait(interval):
                now = self.clock.monotonic()
                if now >= until:
                    self.status.value = f"Auto-refresh stopped after {refresh_for:g} s; press Refresh."
                    break
                if self.refresh() is not None:
                    failing_since = None
                    continue
                failing_since = now if failing_since is None else failing_since
                why = self.status.value
                if "refused the admin token" in why or now - failing_since >= RETRY_FOR:
                    self.status.value = f"{why} Auto-refresh stopped; press Refresh."
                    break
                self.status.value = f"{why} Trying again every {interval:g} s."
            stop.set()

        self._ticker = threading.Thread(target=tick, name="wslab-dashboard", daemon=True)
        self._ticker.start()

    def stop_auto_refresh(self, timeout: float = 5.0) -> None:
        """Stop the automatic refresh and wait (at most ``timeout`` s) for its thread."""
        self._stop.set()
        ticker, self._ticker = self._ticker, None
        if ticker is not None and ticker is not threading.current_thread():
            ticker.join(timeout)

    def close(self) -> None:
        """Stop the timer and close every widget."""
        self.stop_auto_refresh()
        closer = getattr(self.source, "close", None)
        if callable(closer):
            closer()
        for row in self.rows.values():
            row.close()
        self.rows.clear()
        for child in self.banned_box.children:
            child.close()
        for widget in (
            self.room_input, self.refresh_button, self.qr_button, self.qr_view, self.online_label, self.rate_label,
            self.typing_label, self.status, self.sort_input, self.show_input, self.find_input, self.count_label,
            self.people, self.banned_box, self.health_label, self.log_view, self.announce_input,
            self.announce_button, self.widget,
        ):
            widget.close()

    # ------------------------------------------------------------ display

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        bundle: dict[str, Any] | None = self.widget._repr_mimebundle_(**kwargs)
        if bundle is not None:
            bundle["text/plain"] = repr(self)  # stable for nbval, unlike the widget's own repr
        return bundle

    def __repr__(self) -> str:
        return f"InstructorDashboard(room={self.room!r})"
