"""The instructor dashboard, tested without a browser: set widget values, call .click().

Learners are raw chat peers on a real server in its own thread; the dashboard
reads that server through its ServerHandle, exactly as in a notebook.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest
from websockets.exceptions import ConnectionClosed

from support import WAIT, Peer, closed_with, joined
from wslab.classroom.dashboard_source import LocalAdmin
from wslab.classroom.instructor_dashboard import InstructorDashboard, PersonRow
from wslab.client.admin_client import AdminClient
from wslab.core.admin_protocol import MemberInfo
from wslab.core.clock import FakeClock
from wslab.core.hub import RoomSnapshot
from wslab.kernel.course_server import ServerHandle
from wslab.server.admin_route import ANNOUNCER


async def _close(*peers: Peer) -> None:
    """Close politely, so the server's shutdown does not wait out its close timeout."""
    for peer in peers:
        await peer.close()


async def test_shows_who_is_online_how_busy_and_who_types(server_factory: Callable[..., ServerHandle]) -> None:
    server = server_factory(typing_timeout=30.0)
    ada, bob, cy = await joined(server.chat_url, "Ada", "Bob", "Cy")
    await ada.send({"type": "chat", "content": "one", "id": "1"})
    await ada.expect("ack")
    await bob.send({"type": "chat", "content": "two", "id": "2"})
    await bob.expect("ack")
    await bob.send({"type": "typing", "typing": True})
    await cy.send({"type": "typing", "typing": True})
    await ada.expect("typing", where=lambda m: m["typing"] == ["Bob", "Cy"])

    dash = InstructorDashboard(server, auto_refresh=None)
    try:
        assert list(dash.rows) == ["Ada", "Bob", "Cy"]
        assert [row.widget for row in dash.rows.values()] == list(dash.people.children)
        assert dash.online_label.value == "3 online"
        assert dash.rate_label.value == " · 2 messages in the last minute · 2 in total"
        assert dash.typing_label.value == "Bob and Cy are typing…"
        assert [row.state.value for row in dash.rows.values()] == ["", "typing…", "typing…"]
        assert repr(dash) == "InstructorDashboard(room='lobby')"
        bundle = dash._repr_mimebundle_()
        assert bundle is not None and bundle["text/plain"] == "InstructorDashboard(room='lobby')"
        assert "application/vnd.jupyter.widget-view+json" in bundle

        # Bob leaves: the next refresh drops his row.
        await bob.close()
        await ada.expect("presence", where=lambda m: "Bob" in m.get("left", []))
        dash.refresh_button.click()
        assert list(dash.rows) == ["Ada", "Cy"]
        assert dash.typing_label.value == "Cy is typing…"
    finally:
        dash.close()
        await _close(ada, cy)


async def test_mute_and_unmute_buttons(server: ServerHandle) -> None:
    ada, bob = await joined(server.chat_url, "Ada", "Bob")
    dash = InstructorDashboard(server, auto_refresh=None)
    try:
        dash.rows["Ada"].mute_button.click()
        notice = await ada.expect("notice")
        assert notice["muted"] is True
        assert dash.rows["Ada"].state.value == "muted"
        assert dash.rows["Ada"].mute_button.description == "Unmute Ada"
        await ada.send({"type": "chat", "content": "can anyone hear me?"})
        assert (await ada.expect("error"))["code"] == "muted"
        await bob.nothing_more()

        dash.rows["Ada"].mute_button.click()
        assert (await ada.expect("notice"))["muted"] is False
        assert dash.rows["Ada"].mute_button.description == "Mute Ada"
        await ada.send({"type": "chat", "content": "back"})
        assert (await bob.expect("chat"))["content"] == "back"
    finally:
        dash.close()
        await _close(ada, bob)


async def test_kick_asks_first_then_closes_with_4003(server: ServerHandle) -> None:
    ada, bob = await joined(server.chat_url, "Ada", "Bob")
    dash = InstructorDashboard(server, auto_refresh=None)
    try:
        row = dash.rows["Bob"]
        row.kick_button.click()  # one click only asks
        assert row.asking and "Remove Bob?" in row.confirm_label.value
        row.cancel_button.click()
        assert not row.asking
        await bob.nothing_more()  # nothing happened
        row.kick_button.click()
        row.confirm_button.click()
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await bob.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4003
        await ada.expect("presence", where=lambda m: "Bob" in m.get("left", []))
        dash.refresh()
        assert list(dash.rows) == ["Ada"]
    finally:
        dash.close()
        await _close(ada)


async def test_room_box_switches_rooms_and_rejects_bad_names(server: ServerHandle) -> None:
    (ada,) = await joined(server.chat_url, "Ada")
    other = await Peer.open(server.chat_url)
    await other.join("Zed", room="other")
    dash = InstructorDashboard(server, auto_refresh=None)
    try:
        dash.room_input.value = "other"
        assert list(dash.rows) == ["Zed"]
        assert repr(dash) == "InstructorDashboard(room='other')"
        dash.room_input.value = "empty-room"
        assert dash.rows == {} and dash.online_label.value == "0 online"
        assert "No one is in room 'empty-room'" in dash.status.value
        dash.room_input.value = "not a room!"
        assert "room must be" in dash.status.value
    finally:
        dash.close()
        await _close(ada, other)


def test_a_stopped_server_is_reported_not_raised(server_factory: Callable[..., ServerHandle]) -> None:
    server = server_factory()
    dash = InstructorDashboard(server, auto_refresh=None)
    server.stop()
    assert dash.refresh() is None
    assert "not running" in dash.status.value
    dash.close()


async def test_auto_refresh_follows_the_room(server: ServerHandle) -> None:
    dash = InstructorDashboard(server, auto_refresh=0.1)
    saw_ada = threading.Event()
    dash.on_refresh.append(lambda snap: saw_ada.set() if "Ada" in snap.online else None)
    try:
        assert dash.auto_refreshing
        peers = await joined(server.chat_url, "Ada")
        assert await asyncio.to_thread(saw_ada.wait, WAIT), "the timer never showed Ada"
        assert "Ada" in dash.rows
        await _close(*peers)
    finally:
        dash.close()
    assert not dash.auto_refreshing


class FakeSource:
    """A server that only answers snapshots, counting them."""

    def __init__(self) -> None:
        self.reads = 0
        self.read = threading.Event()

    def snapshot(self, room: str = "lobby") -> RoomSnapshot:
        self.reads += 1
        self.read.set()
        return RoomSnapshot(room, ("Ada",), (), (), 0, 0)

    def kick(self, room: str, name: str) -> None:
        raise AssertionError("not expected")

    def mute(self, room: str, name: str, muted: bool = True) -> None:
        raise AssertionError("not expected")


def test_auto_refresh_stops_by_itself_after_refresh_for() -> None:
    clock = FakeClock()
    source = FakeSource()
    dash = InstructorDashboard(source, auto_refresh=0.1, refresh_for=60.0, clock=clock)
    try:
        source.read.clear()
        assert source.read.wait(WAIT)  # it ticks
        clock.advance(61.0)
        ticker = dash._ticker
        assert ticker is not None
        ticker.join(WAIT)
        assert not ticker.is_alive() and not dash.auto_refreshing
        assert dash.status.value == "Auto-refresh stopped after 60 s; press Refresh."
    finally:
        dash.close()


def test_rejects_a_non_positive_bound() -> None:
    with pytest.raises(ValueError, match="refresh_for"):
        InstructorDashboard(FakeSource(), auto_refresh=1.0, refresh_for=0)


def test_an_unreachable_admin_url_is_reported_not_raised() -> None:
    dash = InstructorDashboard("ws://127.0.0.1:9/admin", admin_token="x", auto_refresh=None)
    assert "cannot reach the admin channel" in dash.status.value
    dash.close()
    with pytest.raises(ValueError, match="admin_token"):
        InstructorDashboard("ws://127.0.0.1:9/admin", auto_refresh=None)
    with pytest.raises(ValueError, match="must be ws://"):
        AdminClient("http://127.0.0.1:9/admin", "x")


async def test_in_kernel_dashboard_announces_and_logs_like_the_channel(server: ServerHandle) -> None:
    ada = await Peer.open(server.chat_url)
    await ada.join("Ada")
    dash = InstructorDashboard(server, auto_refresh=None)
    try:
        assert isinstance(dash.source, LocalAdmin)
        assert list(dash.rows) == ["Ada"] and "rooms: lobby" in dash.health_label.value
        assert dash.announce("Welcome, everyone")
        said = await ada.expect("chat", where=lambda m: m["sender"] == ANNOUNCER)
        assert said["content"] == "Welcome, everyone"
        # The announcer came and went within one presence interval: no one saw it join.
        await ada.send({"type": "typing", "typing": True})
        await ada.expect("typing")
        assert not [m for m in ada.seen if m["type"] == "presence" and ANNOUNCER in m["joined"]]
        dash.rows["Ada"].kick_button.click()
        dash.rows["Ada"].confirm_button.click()
        assert (await closed_with(ada))[0] == 4003
        texts = [e.text for e in server.events() if e.kind == "admin"]
        assert "dashboard in the kernel announces in lobby: 'Welcome, everyone'" in texts
        assert "dashboard in the kernel kicks Ada from lobby" in texts
    finally:
        dash.close()


def test_rows_show_flooding_and_slow_members() -> None:
    row = PersonRow("Bob", lambda _: None, lambda _: None)
    row.show(muted=False, typing=False, info=MemberInfo("Bob", False, False, 3, 300 * 1024, True))
    assert row.load.value == "flooding (3 dropped), slow (300 KiB queued)"
    row.show(muted=False, typing=False, info=MemberInfo("Bob", False, False, 0, 0, False))
    assert row.load.value == ""
    row.close()


async def test_kick_and_ban_keeps_the_name_out_until_unbanned(server: ServerHandle) -> None:
    ada, eve = await joined(server.chat_url, "Ada", "Eve")
    dash = InstructorDashboard(server, auto_refresh=None)
    try:
        dash.rows["Eve"].kick_button.click()
        dash.rows["Eve"].ban_button.click()
        assert await closed_with(eve) == (4004, "banned from this room by the instructor")
        again = await Peer.open(server.chat_url)
        await again.send({"type": "join", "name": "EVE"})
        assert (await again.expect("error"))["code"] == "banned"
        dash.refresh()
        label, unban = dash.banned_box.children
        assert label.value == "Banned:" and unban.description == "Unban eve"
        unban.click()
        assert dash.banned_box.children == ()
        assert (await again.join("Eve"))["type"] == "welcome"  # the same connection may try again
        texts = [e.text for e in server.events() if e.kind == "admin"]
        assert texts[-2:] == ["dashboard in the kernel bans Eve from lobby",
                              "dashboard in the kernel lifts the ban on eve in lobby"]
    finally:
        dash.close()
        await _close(ada, again)


async def test_rows_sort_and_filter_for_a_room_of_40(server: ServerHandle) -> None:
    names = [f"p{i:02d}" for i in range(40, 0, -1)]  # joined from p40 down to p01
    peers = await joined(server.chat_url, *names)
    await peers[5].send({"type": "typing", "typing": True})  # p35 types
    await peers[0].expect("typing")
    dash = InstructorDashboard(server, auto_refresh=None)
    try:
        assert dash.shown == names and dash.count_label.value == ""
        dash.rows["p10"].mute_button.click()
        dash.sort_input.value = "name"
        assert dash.shown == sorted(names)
        dash.sort_input.value = "state"
        assert dash.shown[:2] == ["p10", "p35"]  # muted, then typing, then the rest as they joined
        dash.show_input.value = "muted"
        assert dash.shown == ["p10"] and dash.count_label.value == "showing 1 of 40"
        dash.show_input.value = "everyone"
        dash.find_input.value = "P0"
        assert dash.shown == ["p09", "p08", "p07", "p06", "p05", "p04", "p03", "p02", "p01"]
        assert list(dash.people.children) == [dash.rows[n].widget for n in dash.shown]
        assert len(dash.rows) == 40  # filtered out is not gone
    finally:
        dash.close()
        await _close(*peers)


async def test_the_log_is_newest_first(server: ServerHandle) -> None:
    (ada,) = await joined(server.chat_url, "Ada")
    dash = InstructorDashboard(server, auto_refresh=None)
    try:
        dash.rows["Ada"].mute_button.click()
        dash.rows["Ada"].mute_button.click()
        lines = dash.log_lines
        assert lines[0] in dash.log_view.value and 'role="log"' in dash.log_view.value
        assert list(lines[:2]) == ["admin: dashboard in the kernel unmutes Ada in lobby",
                             "admin: dashboard in the kernel mutes Ada in lobby"]
        assert "newest first" in dash.health_label.value
    finally:
        dash.close()
        await _close(ada)


def test_the_join_qr_shows_large_for_a_projector_only_when_the_server_knows_the_link() -> None:
    from wslab.classroom.qr import qr_svg
    from wslab.core.admin_protocol import AdminReport, Health, JoinInfo

    join = JoinInfo("http://192.0.2.20:8765/?token=t0ken&room=lobby", "http://192.0.2.20:8765/", "K7Q-P3M")

    class Reporting(FakeSource):
        def __init__(self) -> None:
            super().__init__()
            self.join: JoinInfo | None = join

        def report(self, room: str = "lobby") -> AdminReport:
            health = Health(1.0, 1, (room,), False, 20, 1 << 20, ())
            return AdminReport(self.snapshot(room), (), health, self.join)

    source = Reporting()
    dash = InstructorDashboard(source, auto_refresh=None)
    try:
        assert dash.qr_button.layout.display is None and dash.qr_view.layout.display == "none"
        dash.qr_button.value = True
        assert dash.qr_view.layout.display is None
        assert qr_svg(join.link) in dash.qr_view.value and "K7Q-P3M" in dash.qr_view.value
        assert "http://192.0.2.20:8765/" in dash.qr_view.value and "height:70vh" in dash.qr_view.value
        source.join = None  # a server on loopback: phones could not reach it, no QR
        dash.refresh()
        assert dash.qr_button.layout.display == "none" and dash.qr_view.layout.display == "none"
    finally:
        dash.close()


def test_auto_refresh_rides_out_a_restart_and_stops_on_a_refused_token() -> None:
    class Flaky(FakeSource):
        def __init__(self) -> None:
            super().__init__()
            self.failure: str | None = None

        def snapshot(self, room: str = "lobby") -> RoomSnapshot:
            if self.failure is not None:
                self.reads += 1
                self.read.set()
                raise RuntimeError(self.failure)
            return super().snapshot(room)

    source = Flaky()
    dash = InstructorDashboard(source, auto_refresh=0.1)
    try:
        source.failure = "the admin channel closed (code 1001); the next call reconnects"
        for _ in range(3):  # it keeps trying while the server restarts
            source.read.clear()
            assert source.read.wait(WAIT)
        assert dash.auto_refreshing and "Trying again every 0.1 s." in dash.status.value
        source.failure = None
        source.read.clear()
        assert source.read.wait(WAIT)
        source.failure = "the server refused the admin token (wrong admin token)"
        ticker = dash._ticker
        assert ticker is not None
        ticker.join(WAIT)
        assert not dash.auto_refreshing and dash.status.value.endswith("Auto-refresh stopped; press Refresh.")
    finally:
        dash.close()


def test_asking_to_kick_hides_only_the_kick_button_and_shows_the_answers_beside_mute() -> None:
    """Each of a row's buttons is shown or hidden on its own: asking keeps *Mute* there (they once shared one
    Layout, so hiding *Kick…* hid every button of the row)."""
    row = PersonRow("Bob", lambda _: None, lambda _: None, lambda _: None)

    def shown(widget: object) -> bool:
        return widget.layout.display != "none"  # type: ignore[attr-defined]

    row.ask()
    assert not shown(row.kick_button)
    assert all(shown(w) for w in (row.mute_button, row.confirm_box, row.confirm_button, row.ban_button,
                                  row.cancel_button))
    row.cancel()
    assert shown(row.kick_button) and shown(row.mute_button) and not shown(row.confirm_box)
    row.close()
