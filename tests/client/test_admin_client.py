"""AdminClient: a blocking client of ``/admin``; every call bounded, every failure a sentence.

The server is a real one in its own thread (the ``server`` fixture) with the admin
channel installed; the client's blocking calls run in a worker thread, as the
dashboard's do.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from support import WAIT, close_code, joined
from wslab.client.admin_client import AdminClient
from wslab.core.errors import AdminError
from wslab.kernel.course_server import ServerHandle
from wslab.server.admin_route import ANNOUNCER, install_admin

TOKEN = "teacher"


@pytest.fixture
def admin(server: ServerHandle) -> Any:
    install_admin(server.server, TOKEN)
    client = AdminClient(f"ws://127.0.0.1:{server.port}/admin", TOKEN, timeout=WAIT)
    yield client
    client.close()


def test_the_url_must_be_a_websocket_one_and_the_path_defaults_to_admin() -> None:
    assert AdminClient("ws://127.0.0.1:9", "t").url == "ws://127.0.0.1:9/admin"
    assert AdminClient("wss://host:9/?token=leaked", "t").url == "wss://host:9/admin"  # the token goes in a header
    assert repr(AdminClient("ws://127.0.0.1:9/admin", "secret")) == "AdminClient('ws://127.0.0.1:9/admin')"
    for bad in ("http://127.0.0.1:9/admin", "127.0.0.1:9", "ws:///admin"):
        with pytest.raises(ValueError, match="must be ws://HOST:PORT/admin"):
            AdminClient(bad, "t")


async def test_report_mute_announce_and_kick_reach_the_room(server: ServerHandle, admin: AdminClient) -> None:
    ada, bob = await joined(server.chat_url, "Ada", "Bob")
    report = await asyncio.to_thread(admin.report)
    assert report.snapshot.online == ("Ada", "Bob") and report.health.connections == 2
    assert (await asyncio.to_thread(admin.snapshot, "lobby")).online == ("Ada", "Bob")

    await asyncio.to_thread(admin.mute, "lobby", "Bob")
    assert (await bob.expect("notice"))["muted"] is True
    seq = await asyncio.to_thread(admin.announce, "lobby", "Break until 11:00")
    said = await ada.expect("chat", where=lambda m: m["sender"] == ANNOUNCER)
    assert said["seq"] == seq and said["content"] == "Break until 11:00"
    await asyncio.to_thread(admin.kick, "lobby", "Ada")
    assert await close_code(ada) == 4003
    await bob.close()


async def test_a_refused_request_is_an_admin_error_with_the_servers_code(admin: AdminClient) -> None:
    with pytest.raises(AdminError, match="name") as caught:
        await asyncio.to_thread(admin.kick, "lobby", "<b>")
    assert caught.value.code == "name-invalid"
    assert (await asyncio.to_thread(admin.snapshot)).online == ()  # the channel is still open


async def test_a_wrong_token_is_refused_in_a_sentence_and_close_lets_the_next_call_reconnect(
    server: ServerHandle, admin: AdminClient
) -> None:
    wrong = AdminClient(admin.url, "not-the-token", timeout=WAIT)
    with pytest.raises(RuntimeError, match=r"the server refused the admin token \(wrong admin token"):
        await asyncio.to_thread(wrong.report)
    wrong.close()
    assert (await asyncio.to_thread(admin.report)).snapshot.room == "lobby"
    admin.close()
    assert (await asyncio.to_thread(admin.report)).snapshot.room == "lobby"  # a new connection


async def test_no_server_or_no_admin_channel_is_a_runtime_error_saying_which(server: ServerHandle) -> None:
    nobody = AdminClient("ws://127.0.0.1:9/admin", TOKEN, timeout=WAIT)
    with pytest.raises(RuntimeError, match="cannot reach the admin channel at ws://127.0.0.1:9/admin"):
        await asyncio.to_thread(nobody.report)
    no_channel = AdminClient(f"ws://127.0.0.1:{server.port}/admin", TOKEN, timeout=WAIT)  # none installed
    with pytest.raises(RuntimeError, match=r"refused the admin channel \(HTTP 404\)"):
        await asyncio.to_thread(no_channel.report)


async def test_a_server_that_never_answers_costs_one_timeout() -> None:
    async def silent(ws: ServerConnection) -> None:
        await ws.wait_closed()

    async with serve(silent, "127.0.0.1", 0) as quiet:
        port = quiet.sockets[0].getsockname()[1]
        client = AdminClient(f"ws://127.0.0.1:{port}/admin", TOKEN, timeout=0.3)
        started = time.monotonic()
        with pytest.raises(TimeoutError, match="did not answer within 0.3 s"):
            await asyncio.to_thread(client.report)
        assert time.monotonic() - started < 0.3 + WAIT
        client.close()
