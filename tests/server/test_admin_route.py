"""The admin channel's server side, in this process: who may use ``/admin``, and what each request does and logs.

A ChatServer runs on the test's own loop with the channel installed; learners are raw
chat peers, the instructor a raw peer on ``/admin``. The same against a real
``wslab serve`` subprocess: ``tests/e2e/test_serve_admin.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from support import Peer, closed_with, joined, until
from wslab.core.admin_protocol import AdminReport
from wslab.server.admin_route import ANNOUNCER, AdminChannel, build_report, install_admin
from wslab.server.chat_server import ChatServer
from wslab.server.config import ServerConfig

ADMIN = "teacher"


@asynccontextmanager
async def served(**config: object) -> AsyncIterator[ChatServer]:
    config.setdefault("update_interval", None)
    server = ChatServer(ServerConfig(**config))  # type: ignore[arg-type]
    install_admin(server, ADMIN)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def admin_url(server: ChatServer, query: str = f"?token={ADMIN}") -> str:
    return f"ws://127.0.0.1:{server.port}/admin{query}"


def _chat(server: ChatServer) -> str:
    return f"ws://127.0.0.1:{server.port}/chat"


def admin_lines(server: ChatServer) -> list[str]:
    return [e.text for e in server.events if e.kind == "admin"]


def test_the_admin_token_is_checked_when_installed() -> None:
    learners = ChatServer(ServerConfig(token="learners", update_interval=None))
    with pytest.raises(ValueError, match="must differ from the learners' token"):
        install_admin(learners, "learners")
    for bad in ("", "two words", "x" * 257):
        with pytest.raises(ValueError, match="1 to 256 characters with no spaces"):
            AdminChannel(learners, bad)
    channel = install_admin(learners, ADMIN)
    assert learners.routes["/admin"] == channel.handle


async def test_only_the_admin_token_opens_the_channel_and_each_refusal_is_logged() -> None:
    async with served(token="learners") as server:
        for query, why in [
            ("", "missing admin token"),
            ("?token=teacheR", "wrong admin token"),
            ("?token=learners", "the learners' token is not the admin token"),
        ]:
            code, reason = await closed_with(await Peer.open(admin_url(server, query)))
            assert code == 4001 and reason.startswith(why), (query, reason)
        refused = [e.text for e in server.events if e.kind == "refused"]
        assert len(refused) == 3 and all(text.startswith("admin channel: ") for text in refused)
        bearer = await Peer.open(admin_url(server, ""), additional_headers={"Authorization": f"Bearer {ADMIN}"})
        await bearer.send({"type": "report", "id": 1})
        assert (await bearer.expect("report"))["id"] == 1
        await bearer.close()


async def test_a_report_shows_the_room_its_members_and_the_servers_health() -> None:
    async with served(burst=2, flood_strikes=50, typing_timeout=30.0) as server:
        ada = await Peer.open(_chat(server))
        await ada.join("Ada")
        cy = await Peer.open(_chat(server))
        await cy.join("Cy")
        await ada.send({"type": "typing", "typing": True})
        for _ in range(4):  # over the burst of 2: some dropped, counted as strikes
            await cy.send({"type": "chat", "content": "spam"})
        await cy.expect("error", where=lambda m: m["code"] == "rate-limited")
        admin = await Peer.open(admin_url(server))
        await admin.send({"type": "report", "id": "r"})
        report = AdminReport.from_json((await admin.expect("report"))["report"])
        assert report.snapshot.online == ("Ada", "Cy") and report.snapshot.typing == ("Ada",)
        members = {m.name: m for m in report.members}
        assert set(members) == {"Ada", "Cy"} and members["Ada"].typing and not members["Cy"].typing
        assert members["Cy"].flooding and not members["Ada"].flooding
        health = report.health
        assert health.connections == 2 and health.rooms == ("lobby",) and health.tls is False
        assert health.flood_strikes == 50 and health.uptime >= 0
        assert any(line.startswith("admin: admin at 127.0.0.1:") for line in health.recent)
        for peer in (ada, admin):
            await peer.close()
        cy.ws.transport.abort()


async def test_kick_ban_mute_and_announce_do_it_answer_done_and_log_who_once_each() -> None:
    async with served() as server:
        ada, bob, eve = await joined(_chat(server), "Ada", "Bob", "Eve")
        admin = await Peer.open(admin_url(server))
        logged_before = len(server.events)

        await admin.send({"type": "mute", "id": 1, "name": "Bob"})
        assert await admin.expect("done") == {"type": "done", "id": 1, "action": "mute"}
        assert (await bob.expect("notice"))["muted"] is True

        await admin.send({"type": "announce", "id": 2, "content": "Break until 11:00"})
        done = await admin.expect("done")
        said = await ada.expect("chat", where=lambda m: m["sender"] == ANNOUNCER)
        assert (done["action"], done["seq"]) == ("announce", said["seq"]) and said["content"] == "Break until 11:00"

        await admin.send({"type": "kick", "id": 3, "name": "Ada"})
        assert (await admin.expect("done"))["action"] == "kick"
        assert await closed_with(ada) == (4003, "removed by the instructor; you may join again")

        await admin.send({"type": "ban", "id": 4, "name": "Eve"})
        assert (await admin.expect("done"))["action"] == "ban"
        assert await closed_with(eve) == (4004, "banned from this room by the instructor")
        again = await Peer.open(_chat(server))
        await again.send({"type": "join", "name": "eve"})
        assert (await again.expect("error"))["code"] == "banned"
        await again.close()
        await until(lambda: server.hub.snapshot("lobby").online == ("Bob",), what="Ada and Eve to be gone")

        lines = admin_lines(server)
        who = next(line.removesuffix(" connected") for line in lines if line.endswith(" connected"))
        assert who.startswith("admin at 127.0.0.1:")
        actions = ["mutes Bob in lobby", "announces in lobby: 'Break until 11:00'", "kicks Ada from lobby",
                   "bans Eve from lobby"]
        # One line per action, and nothing else: no second "kicked", no "closing ..." or "closed ..." echo.
        assert [(e.kind, e.text) for e in list(server.events)[logged_before:]] == [
            ("admin", f"{who} {action}") for action in actions
        ]
        assert not any(" object at 0x" in e.text for e in server.events)
        await admin.close()
        await bob.close()
    assert f"{who} left" in admin_lines(server)


async def test_a_bad_request_gets_one_error_with_its_id_and_changes_nothing() -> None:
    async with served() as server:
        ada = await Peer.open(_chat(server))
        await ada.join("Ada")
        admin = await Peer.open(admin_url(server))
        await admin.send({"type": "kick", "id": 7, "name": "<b>"})
        error = await admin.expect("error")
        assert (error["id"], error["code"], error["field"]) == (7, "name-invalid", "name")
        await admin.send({"type": "mute", "id": 8, "name": "Ada", "muted": "yes"})
        assert (await admin.expect("error"))["id"] == 8
        await admin.nothing_more()
        await ada.nothing_more()  # no one was kicked or muted
        assert [line for line in admin_lines(server) if "kicks" in line or "mutes" in line] == []
        await admin.close()
        await ada.close()


async def test_an_announcement_the_room_refuses_says_why_and_posts_nothing() -> None:
    async with served() as server:
        impostor = await Peer.open(_chat(server))
        await impostor.join(ANNOUNCER)
        admin = await Peer.open(admin_url(server))
        await admin.send({"type": "announce", "id": 1, "content": "hello"})
        error = await admin.expect("error")
        assert error["code"] == "name-taken" and error["message"].startswith("cannot announce in lobby")
        assert build_report(server, "lobby").snapshot.messages == 0
        await impostor.nothing_more()
        await admin.close()
        await impostor.close()
