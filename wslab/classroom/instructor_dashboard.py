"""The instructor's dashboard: one room of a running server, as ipywidgets.

It watches a server in this kernel (a :class:`~wslab.kernel.course_server.ServerHandle`)
or, by URL and admin token, a running ``wslab serve`` over its admin channel
(:mod:`wslab.classroom.dashboard_source`). It is a pure view: it holds no chat state of
its own. Each :meth:`InstructorDashboard.refresh` reads one report and shows it:

* who is connected, one row per person, with *Mute*/*Unmute* and *Kick*
  buttons, and who is flooding (over the rate limit) or slow (their queue on
  the server grows);
* messages in the last minute and in total;
* who is typing (the same sentence learners see);
* the server's health: uptime, connections, rooms, TLS, its latest notable
  log lines;
* a box to post an announcement to the room.

It refreshes when you press *Refresh*, after every button, and, if asked, on
a timer that is bounded twice: ``interval`` seconds apart (at least
:data:`MIN_INTERVAL`) and for ``refresh_for`` seconds at most, after which it
stops by itself (start it again with :meth:`~InstructorDashboard.start_auto_refresh`).
The timer thread never blocks the kernel, and each read of the server waits at
most :data:`wslab.kernel.course_server.CALL_TIMEOUT` seconds.

Names and log lines are shown in ``Label`` and ``Textarea`` widgets, which
render text, never HTML::

    server = wslab.start_server(host="0.0.0.0", token="...")
    from wslab.classroom.instructor_dashboard import InstructorDashboard
    InstructorDashboard(server, room="lobby")
    # or a wslab serve running elsewhere, with the admin token its banner printed:
    InstructorDashboard("ws://127.0.0.1:8765/admin", admin_token="...", room="workshop")
"""

from __future__ import annotations

import ssl as ssl_module
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

import ipywidgets as widgets

from wslab.classroom.dashboard_source import admin_source
from wslab.core import protocol as p
from wslab.core.admin_protocol import AdminReport, Health, MemberInfo
from wslab.core.clock import SYSTEM_CLOCK, Clock
from wslab.core.hub import RoomSnapshot
from wslab.core.typing_status import typing_text

__all__ = ["DashboardSource", "InstructorDashboard", "PersonRow", "MIN_INTERVAL"]

MIN_INTERVAL = 0.1
"""Shortest auto-refresh interval, in seconds."""


class DashboardSource(Protocol):
    """What the dashboard needs from a server; :class:`~wslab.kernel.course_server.ServerHandle` is one."""

    def snapshot(self, room: str = ...) -> RoomSnapshot: ...

    def kick(self, room: str, name: str) -> None: ...

    def mute(self, room: str, name: str, muted: bool = True) -> None: ...


class PersonRow:
    """One connected person: their name, what they are doing, and the two buttons."""

    def __init__(self, name: str, on_mute: Callable[[PersonRow], None], on_kick: Callable[[PersonRow], None]) -> None:
        self.name = name
        self.muted = False
        self.typing = False
        self.name_label = widgets.Label(value=name, layout=widgets.Layout(width="16em"))
        self.state = widgets.Label(value="", layout=widgets.Layout(width="8em"))
        self.load = widgets.Label(value="", layout=widgets.Layout(width="14em"))
        self.mute_button = widgets.Button(
            description="Mute", tooltip=f"Mute {name}", layout=widgets.Layout(width="7em")
        )
        self.kick_button = widgets.Button(
            description="Kick", button_style="danger", tooltip=f"Disconnect {name} (close code 4003)",
            layout=widgets.Layout(width="7em"),
        )
        self.mute_button.on_click(lambda _: on_mute(self))
        self.kick_button.on_click(lambda _: on_kick(self))
        self.widget = widgets.HBox([self.name_label, self.state, self.load, self.mute_button, self.kick_button])

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
        self.mute_button.description = "Unmute" if muted else "Mute"
        self.mute_button.tooltip = f"{'Unmute' if muted else 'Mute'} {self.name}"

    def close(self) -> None:
        for widget in (self.name_label, self.state, self.load, self.mute_button, self.kick_button, self.widget):
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
    view), :attr:`rows` (name to :class:`PersonRow`), :attr:`last` (the latest
    snapshot, or ``None``), :attr:`refresh_button`, :attr:`room_input`.
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
        self.last: RoomSnapshot | None = None
        self.last_report: AdminReport | None = None
        self.on_refresh: list[Callable[[RoomSnapshot], None]] = []
        self._lock = threading.RLock()
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()

        self.room_input = widgets.Text(
            value=room, description="Room", continuous_update=False, layout=widgets.Layout(width="18em")
        )
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh", layout=widgets.Layout(width="8em"))
        self.online_label = widgets.Label(value="")
        self.rate_label = widgets.Label(value="")
        self.typing_label = widgets.Label(value="")
        self.status = widgets.Label(value="")
        self.people = widgets.VBox([])
        self.health_label = widgets.Label(value="")
        self.log_view = widgets.Textarea(
            value="", disabled=True, rows=4, layout=widgets.Layout(width="100%"),
            placeholder="the server's notable events appear here",
        )
        self.announce_input = widgets.Text(
            placeholder="Announcement to the room…", layout=widgets.Layout(flex="1 1 auto", width="auto")
        )
        self.announce_button = widgets.Button(
            description="Announce", icon="bullhorn", layout=widgets.Layout(width="9em")
        )
        self.announce_button.on_click(lambda _: self.announce())
        self.refresh_button.on_click(lambda _: self.refresh())
        self.room_input.observe(lambda _: self.refresh(), names="value")
        extras: list[Any] = []
        if callable(getattr(self.source, "announce", None)):
            extras.append(widgets.HBox([self.announce_input, self.announce_button]))
        if callable(getattr(self.source, "report", None)):
            extras += [self.health_label, self.log_view]
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.room_input, self.refresh_button]),
                widgets.HBox([self.online_label, self.rate_label]),
                self.typing_label,
                self.people,
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
                row = self.rows[name] = PersonRow(name, self._toggle_mute, self._kick)
            row.show(muted=name.casefold() in muted, typing=name in typing, info=details.get(name))
        children = tuple(self.rows[name].widget for name in snapshot.online)
        if self.people.children != children:
            self.people.children = children
        if not snapshot.online:
            self.status.value = f"No one is in room {snapshot.room!r}. Updated {self._now()}."
        else:
            self.status.value = f"Updated {self._now()}." + (" Auto-refresh on." if self.auto_refreshing else "")

    def _show_health(self, health: Health) -> None:
        minutes, seconds = divmod(int(health.uptime), 60)
        rooms = ", ".join(health.rooms) or "none yet"
        self.health_label.value = (
            f"Server: up {minutes} min {seconds} s · {health.connections} connection"
            f"{'s' if health.connections != 1 else ''} · rooms: {rooms}" + (" · TLS" if health.tls else "")
        )
        self.log_view.value = "\n".join(health.recent)

    def _now(self) -> str:
        return datetime.fromtimestamp(self.clock.wall()).strftime("%H:%M:%S")

    # ------------------------------------------------------------ moderating

    def _toggle_mute(self, row: PersonRow) -> None:
        self._act(lambda: self.source.mute(self.room, row.name, not row.muted))

    def _kick(self, row: PersonRow) -> None:
        self._act(lambda: self.source.kick(self.room, row.name))

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

        Replaces a running timer. The timer also stops when the server cannot be read.
        """
        if refresh_for <= 0:
            raise ValueError("refresh_for must be > 0")
        self.stop_auto_refresh()
        interval = max(MIN_INTERVAL, float(interval))
        until = self.clock.monotonic() + refresh_for
        stop = self._stop = threading.Event()

        def tick() -> None:
            while not stop.wait(interval):
                if self.clock.monotonic() >= until:
                    self.status.value = f"Auto-refresh stopped after {refresh_for:g} s; press Refresh."
                    break
                if self.refresh() is None:
                    break
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
        for widget in (
            self.room_input, self.refresh_button, self.online_label, self.rate_label, self.typing_label,
            self.status, self.people, self.health_label, self.log_view, self.announce_input,
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
