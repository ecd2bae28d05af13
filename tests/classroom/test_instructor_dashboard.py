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
        assert dash.rows["Ada"].mute_button.description == "Unmute"
        await ada.send({"type": "chat", "content": "can anyone hear me?"})
        assert (await ada.expect("error"))["code"] == "muted"
        await bob.nothing_more()

        dash.rows["Ada"].mute_button.click()
        assert (await ada.expect("notice"))["muted"] is False
        assert dash.rows["Ada"].mute_button.description == "Mute"
        await ada.send({"type": "chat", "content": "back"})
        assert (await bob.expect("chat"))["content"] == "back"
    finally:
        dash.close()
        await _close(ada, bob)


async def test_kick_button_closes_with_4003(server: ServerHandle) -> None:
    ada, bob = await joined(server.chat_url, "Ada", "Bob")
    dash = InstructorDashboard(server, auto_refresh=None)
    try:
        dash.rows["Bob"].kick_button.click()
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
