"""``wslab serve``'s admin channel, end to end: the instructor's dashboard on a real ``wslab serve`` subprocess.

The dashboard attaches by URL and admin token, shows the room (members, rate,
flooding, health), mutes, kicks and announces, and the server logs each
action. Refusals: the learners' token, a wrong admin token and no token are
all refused on ``/admin``, and the admin token is refused on ``/chat``.
The same operations in-process: ``tests/server/test_admin_route.py``.
"""

from __future__ import annotations

import asyncio

import pytest

from support import WAIT, Peer, closed_with
from support.serving import Served
from wslab.classroom.instructor_dashboard import InstructorDashboard
from wslab.client.admin_client import AdminClient
from wslab.core.admin_protocol import AdminReport
from wslab.core.errors import AdminError
from wslab.server.admin_route import ANNOUNCER


async def test_banner_gives_an_admin_url_and_a_token_of_its_own() -> None:
    served = await Served.start("--host", "0.0.0.0", "--room", "workshop")
    try:
        assert served.token and served.admin_token and served.admin_token != served.token
        assert served.admin_url == f"ws://127.0.0.1:{served.port}/admin"
        assert f"InstructorDashboard('{served.admin_url}', admin_token='{served.admin_token}', room='workshop')" in (
            served.banner
        )
    finally:
        await served.kill()


async def test_dashboard_watches_and_moderates_a_running_wslab_serve() -> None:
    served = await Served.start("--host", "0.0.0.0", "--token", "learners-secret", "--admin-token", "admin-secret")
    try:
        ada = await Peer.open(served.url("?token=learners-secret"))
        await ada.join("Ada")
        bob = await Peer.open(served.url("?token=learners-secret"))
        await bob.join("Bob")
        cy = await Peer.open(served.url("?token=learners-secret"))
        await cy.join("Cy")
        await ada.send({"type": "chat", "content": "hello", "id": "a1"})
        await ada.expect("ack")
        for i in range(40):  # over the burst of 30: some are dropped with rate-limited, not yet 20 strikes
            await cy.send({"type": "typing", "typing": i % 2 == 0})
        await cy.expect("error", where=lambda m: m["code"] == "rate-limited")

        dash = await asyncio.to_thread(
            InstructorDashboard, served.admin_url, room="lobby", admin_token="admin-secret", auto_refresh=None
        )
        try:
            assert isinstance(dash.source, AdminClient)
            assert list(dash.rows) == ["Ada", "Bob", "Cy"]
            assert dash.online_label.value == "3 online"
            assert dash.rate_label.value == " · 1 message in the last minute · 1 in total"
            assert dash.rows["Cy"].load.value.startswith("flooding (")
            assert dash.rows["Ada"].load.value == dash.rows["Bob"].load.value == ""
            assert "3 connections" in dash.health_label.value and "rooms: lobby" in dash.health_label.value
            assert "admin: admin at 127.0.0.1" in dash.log_view.value  # the dashboard's own connection

            # Mute Bob: he is told, and his messages are refused.
            await asyncio.to_thread(dash.rows["Bob"].mute_button.click)
            notice = await bob.expect("notice")
            assert notice["muted"] is True
            assert dash.rows["Bob"].state.value == "muted"
            await bob.send({"type": "chat", "content": "let me talk", "id": "b1"})
            await bob.expect("error", where=lambda m: m["code"] == "muted")

            # An announcement reaches the room as the instructor.
            dash.announce_input.value = "Break until 11:00"
            await asyncio.to_thread(dash.announce_button.click)
            said = await ada.expect("chat", where=lambda m: m["sender"] == ANNOUNCER)
            assert said["content"] == "Break until 11:00"
            assert dash.announce_input.value == ""

            # Kick Ada: closed with 4003, gone from the dashboard.
            await asyncio.to_thread(dash.rows["Ada"].kick_button.click)  # asks first
            await asyncio.to_thread(dash.rows["Ada"].confirm_button.click)
            assert (await closed_with(ada))[0] == 4003
            # The server forgets Ada once her handler ends, a moment after her close frame: ask
            # again until it has (bounded), as an instructor pressing Refresh would.
            deadline = asyncio.get_running_loop().time() + WAIT
            while True:
                await asyncio.to_thread(dash.refresh)
                if list(dash.rows) != ["Ada", "Bob", "Cy"] or asyncio.get_running_loop().time() > deadline:
                    break
                await asyncio.sleep(0.05)  # polling a subprocess's state, which sends no event
            assert list(dash.rows) == ["Bob", "Cy"]
        finally:
            await asyncio.to_thread(dash.close)
        await bob.close()
        cy.ws.transport.abort()  # Cy never read the frames of their flood: no polite close possible
        status, out = await served.stop()
        assert status == 0
        # Every admin action is in the server's log, with who did it.
        admin_lines = [line for line in out.splitlines() if "] admin: " in line]
        assert any("mutes Bob in lobby" in line for line in admin_lines), out
        assert any("announces in lobby: 'Break until 11:00'" in line for line in admin_lines), out
        assert any("kicks Ada from lobby" in line for line in admin_lines), out
        assert all("admin at 127.0.0.1:" in line for line in admin_lines if "kicks" in line or "mutes" in line)
    finally:
        await served.kill()


async def test_the_learners_token_a_wrong_admin_token_and_none_are_refused() -> None:
    served = await Served.start("--host", "0.0.0.0", "--token", "learners-secret", "--admin-token", "admin-secret")
    admin = f"ws://127.0.0.1:{served.port}/admin"
    try:
        learner_token = await Peer.open(f"{admin}?token=learners-secret")
        code, reason = await closed_with(learner_token)
        assert code == 4001 and "learners' token is not the admin token" in reason
        wrong = await Peer.open(f"{admin}?token=admin-secreT")
        code, reason = await closed_with(wrong)
        assert code == 4001 and "wrong admin token" in reason
        assert (await closed_with(await Peer.open(admin)))[0] == 4001
        bearer = await Peer.open(admin, additional_headers={"Authorization": "Bearer learners-secret"})
        assert (await closed_with(bearer))[0] == 4001

        # The admin token is never accepted for an ordinary join.
        assert (await closed_with(await Peer.open(served.url("?token=admin-secret"))))[0] == 4001

        # The dashboard says so, and shows no one.
        dash = await asyncio.to_thread(
            InstructorDashboard, admin, admin_token="learners-secret", auto_refresh=None
        )
        assert dash.rows == {} and dash.last is None
        assert "refused the admin token" in dash.status.value
        await asyncio.to_thread(dash.close)

        # Nothing changed: a learner still joins, alone.
        learner = await Peer.open(served.url("?token=learners-secret"))
        assert (await learner.join("Ada"))["online"] == ["Ada"]
        await learner.close()
        status, out = await served.stop()
        assert status == 0
        refusals = [line for line in out.splitlines() if "refused: admin channel" in line]
        assert len(refusals) == 5, out
        assert sum("learners' token" in line for line in refusals) == 3  # two probes and the dashboard
    finally:
        await served.kill()


async def test_bad_admin_requests_get_one_error_and_the_channel_stays_open() -> None:
    served = await Served.start("--admin-token", "admin-secret")
    try:
        admin = await Peer.open(f"{served.admin_url}?token=admin-secret")
        for frame, code in [
            ("not json", "bad-json"),
            ({"type": "explode", "id": 1}, "bad-type"),
            ({"type": "kick", "id": 2, "name": "<b>"}, "name-invalid"),
            ({"type": "kick", "id": 3, "room": "no such room!"}, "room-invalid"),
            ({"type": "mute", "id": 4, "name": "Ada", "muted": "yes"}, "bad-field"),
            ({"type": "announce", "id": 5, "content": "   "}, "bad-field"),
            (b"\x00", "binary-frame"),
        ]:
            await admin.send(frame)
            answer = await admin.recv()
            assert answer["type"] == "error" and answer["code"] == code, (frame, answer)
            if isinstance(frame, dict):
                assert answer["id"] == frame["id"]
        await admin.send({"type": "report", "id": "r1"})
        answer = await admin.recv()
        assert answer["type"] == "report" and answer["id"] == "r1"
        report = AdminReport.from_json(answer["report"])
        assert report.snapshot.online == () and report.health.tls is False
        await admin.close()
    finally:
        await served.kill()


async def test_an_announcement_refused_by_the_room_says_why() -> None:
    served = await Served.start("--admin-token", "admin-secret")
    try:
        teacher = await Peer.open(served.url())
        await teacher.join(ANNOUNCER)  # someone took the announcer's name
        client = AdminClient(served.admin_url, "admin-secret", timeout=WAIT)
        with pytest.raises(AdminError, match="cannot announce in lobby") as caught:
            await asyncio.to_thread(client.announce, "lobby", "hello")
        assert caught.value.code == "name-taken"
        assert (await asyncio.to_thread(client.snapshot, "lobby")).online == (ANNOUNCER,)
        await asyncio.to_thread(client.close)
        await teacher.close()
    finally:
        await served.kill()
