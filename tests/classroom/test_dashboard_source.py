"""Where the dashboard reads a room: LocalAdmin on an in-kernel server, an AdminClient for a URL, or a stand-in."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from support import close_code, joined
from support.tls import cert_files, handshake
from wslab.classroom.dashboard_source import LocalAdmin, admin_source
from wslab.client.admin_client import AdminClient
from wslab.core.hub import RoomSnapshot
from wslab.kernel.course_server import ServerHandle
from wslab.server.admin_route import ANNOUNCER
from wslab.server.tls import server_context


def test_admin_source_accepts_what_it_can_and_says_what_it_cannot(server: ServerHandle) -> None:
    assert isinstance(admin_source(server), LocalAdmin)
    with pytest.raises(ValueError, match="not a server object"):
        admin_source(server, admin_token="x")
    with pytest.raises(ValueError, match="not int"):
        admin_source(42)


async def test_local_admin_moderates_on_the_servers_loop_and_the_log_says_who(server: ServerHandle) -> None:
    ada, bob = await joined(server.chat_url, "Ada", "Bob")
    admin = LocalAdmin(server, who="the test")
    report = admin.report()
    assert report.snapshot.online == ("Ada", "Bob") == admin.snapshot().online
    assert [m.name for m in report.members] == ["Ada", "Bob"] and report.health.rooms == ("lobby",)

    admin.mute("lobby", "Bob")
    assert (await bob.expect("notice"))["muted"] is True
    assert admin.snapshot().muted == ("bob",)
    admin.mute("lobby", "Bob", muted=False)
    assert (await bob.expect("notice"))["muted"] is False

    seq = admin.announce("lobby", "Break until 11:00")
    said = await ada.expect("chat", where=lambda m: m["sender"] == ANNOUNCER)
    assert (said["seq"], said["content"]) == (seq, "Break until 11:00")

    admin.kick("lobby", "Ada")
    assert await close_code(ada) == 4003
    texts = [e.text for e in server.events() if e.kind == "admin"]
    for line in ("the test mutes Bob in lobby", "the test unmutes Bob in lobby",
                 "the test announces in lobby: 'Break until 11:00'", "the test kicks Ada from lobby"):
        assert line in texts, texts
    await bob.close()


def test_an_admin_url_becomes_an_admin_client_that_verifies_wss(tmp_path: Path) -> None:
    plain = admin_source("ws://127.0.0.1:9/admin", admin_token="t")
    assert isinstance(plain, AdminClient) and plain.url == "ws://127.0.0.1:9/admin"
    files = cert_files(tmp_path)
    server = server_context(files.certfile, files.keyfile)
    secure = admin_source("wss://127.0.0.1:9/admin", admin_token="t")
    assert isinstance(secure, AdminClient) and isinstance(secure._ssl, ssl.SSLContext)
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(secure._ssl, server)  # verified: the workshop's own CA is not trusted unless given
    trusting = admin_source("wss://127.0.0.1:9/admin", admin_token="t", cafile=str(files.cafile))
    assert trusting._ssl is not None and handshake(trusting._ssl, server)
    given = ssl.create_default_context()
    assert admin_source("wss://127.0.0.1:9/admin", admin_token="t", ssl=given)._ssl is given
    with pytest.raises(ValueError, match="give admin_token="):
        admin_source("ws://127.0.0.1:9/admin")


def test_a_stand_in_with_the_three_operations_is_used_as_it_is() -> None:
    class StandIn:
        def snapshot(self, room: str = "lobby") -> RoomSnapshot:
            return RoomSnapshot(room, (), (), (), 0, 0)

        def kick(self, room: str, name: str) -> None: ...

        def mute(self, room: str, name: str, muted: bool = True) -> None: ...

    stand_in = StandIn()
    assert admin_source(stand_in) is stand_in
    with pytest.raises(ValueError, match="not a server object"):
        admin_source(stand_in, cafile="ca.pem")
