"""The server over real loopback sockets: routes, chat between several clients, bad input, limits."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from support import WAIT, Peer, joined
from wslab.core import protocol as p
from wslab.kernel.course_server import ServerHandle


def http_get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=WAIT) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


# ---------------------------------------------------------------- routes


async def test_echo_returns_text_and_binary_frames(server: ServerHandle) -> None:
    async with connect(server.echo_url, open_timeout=WAIT) as ws:
        await ws.send("hello")
        assert await asyncio.wait_for(ws.recv(), WAIT) == "hello"
        await ws.send(b"\x00\xffbytes")
        assert await asyncio.wait_for(ws.recv(), WAIT) == b"\x00\xffbytes"
        await ws.send("ünïcode ✓")
        assert await asyncio.wait_for(ws.recv(), WAIT) == "ünïcode ✓"


def test_healthz_and_help_pages(server: ServerHandle) -> None:
    assert http_get(server.healthz_url)[:1] == (200,)
    assert http_get(server.healthz_url)[2] == "ok\n"
    status, kind, body = http_get(server.http_url)
    assert status == 200 and kind.startswith("text/html") and "/chat" in body and "/echo" in body
    status, kind, body = http_get(server.http_url + "nowhere/<b>x</b>")
    assert status == 404 and "/echo" in body
    assert "<b>x</b>" not in body  # the path is escaped, never reflected as HTML


async def test_unknown_websocket_path_is_rejected_cleanly(server: ServerHandle) -> None:
    with pytest.raises(InvalidStatus) as info:
        await connect(server.url + "/nope", open_timeout=WAIT)
    assert info.value.response.status_code == 404
    assert b"/echo or /chat" in info.value.response.body
    # and the server still serves
    async with connect(server.echo_url, open_timeout=WAIT) as ws:
        await ws.send("still up")
        assert await asyncio.wait_for(ws.recv(), WAIT) == "still up"


# ---------------------------------------------------------------- chat


async def test_three_clients_chat_with_presence_and_acks(server: ServerHandle) -> None:
    ann, bob, cy = [await Peer.open(server.chat_url) for _ in range(3)]
    await ann.join("ann")
    await bob.join("bob")
    assert await ann.expect("presence") == {"type": "presence", "room": "lobby", "joined": ["bob"], "left": []}
    welcome = await cy.join("cy")
    assert welcome["online"] == ["ann", "bob", "cy"]
    assert welcome["epoch"] == server.server.hub.epoch
    await ann.send({"type": "chat", "content": "hi all", "id": "a-1"})
    for peer in (ann, bob, cy):
        message = await peer.expect("chat")
        assert (message["sender"], message["content"], message["seq"]) == ("ann", "hi all", 1)
        assert message["timestamp"].endswith("Z") and len(message["timestamp"]) == 24
    assert (await ann.expect("ack")) == {"type": "ack", "id": "a-1", "seq": 1}
    await cy.close()
    left = await ann.expect("presence", where=lambda m: m["left"])
    assert (left["joined"], left["left"]) == ([], ["cy"])
    await ann.close()
    await bob.close()


async def test_typing_expires_on_the_server_on_a_fast_clock(server: ServerHandle) -> None:
    # the fixture's server clears typing 0.3 s after the last refresh
    ann, bob = await joined(server.chat_url, "ann", "bob")
    await ann.send({"type": "typing", "typing": True})
    assert (await bob.expect("typing"))["typing"] == ["ann"]
    cleared = await bob.expect("typing", timeout=2.0)
    assert cleared["typing"] == []
    await ann.close()
    await bob.close()


async def test_typing_ends_on_disconnect(server: ServerHandle) -> None:
    ann, bob = await joined(server.chat_url, "ann", "bob")
    await ann.send({"type": "typing", "typing": True})
    await bob.expect("typing", where=lambda m: m["typing"] == ["ann"])
    await ann.close()
    assert (await bob.expect("typing"))["typing"] == []
    assert (await bob.expect("presence", where=lambda m: m["left"]))["left"] == ["ann"]
    await bob.close()


async def test_history_resume_after_reconnect_has_no_duplicates(server: ServerHandle) -> None:
    ann, bob = await joined(server.chat_url, "ann", "bob")
    for i in range(3):
        await ann.send({"type": "chat", "content": f"m{i}"})
    last = await bob.expect("chat", where=lambda m: m["content"] == "m2")
    await bob.close()
    for i in range(3, 5):
        await ann.send({"type": "chat", "content": f"m{i}"})
    await ann.expect("chat", where=lambda m: m["content"] == "m4")
    bob = await Peer.open(server.chat_url)
    welcome = await bob.join("bob", since=last["seq"])
    assert [m["content"] for m in welcome["history"]] == ["m3", "m4"]
    assert welcome["history_complete"] is True
    await ann.close()
    await bob.close()


async def test_subscribe_without_join_receives_published_updates(server: ServerHandle) -> None:
    server.open_channel("updates")  # this test server has no demo publisher, so no "updates" of its own
    dash = await Peer.open(server.chat_url)
    await dash.send('{"type":"subscribe","channel":"updates"}')  # the seed's own frame
    await dash.expect("subscribed")
    server.publish("updates", {"price": 101.5})
    update = await dash.expect("update")
    assert update["channel"] == "updates" and update["data"] == {"price": 101.5}
    await dash.close()


async def test_an_unknown_channel_is_an_error_listing_the_open_ones(server: ServerHandle) -> None:
    dash = await Peer.open(server.chat_url)
    await dash.send({"type": "subscribe", "channel": "scores"})
    error = await dash.expect("error")
    assert (error["code"], error["field"], error["channel"]) == ("unknown-channel", "channel", "scores")
    server.open_channel("scores")
    server.publish("quiz", 1)
    await dash.send({"type": "subscribe", "channel": "nope"})
    assert "'scores', 'quiz'" in (await dash.expect("error"))["message"]
    await dash.send({"type": "subscribe", "channel": "scores"})
    await dash.expect("subscribed")
    server.publish("scores", {"points": 3})
    assert (await dash.expect("update"))["data"] == {"points": 3}
    with pytest.raises(ValueError):
        server.open_channel("no spaces")
    with pytest.raises(ValueError):
        server.publish("scores", {"bad": "\ud800"})
    await dash.close()


async def test_the_demo_publisher_ticks_on_updates(server_factory) -> None:  # type: ignore[no-untyped-def]
    handle = server_factory(update_interval=0.05)
    dash = await Peer.open(handle.chat_url)
    await dash.send({"type": "subscribe", "channel": "updates"})  # open from the start: no publish needed
    first = await dash.expect("update")
    second = await dash.expect("update")
    assert second["seq"] > first["seq"]
    assert set(first["data"]) == {"symbol", "price", "change"}
    await dash.close()


# ---------------------------------------------------------------- bad input never hurts anyone else


async def test_bad_input_of_every_kind_leaves_the_others_chatting(server_factory) -> None:  # type: ignore[no-untyped-def]
    handle = server_factory(rate=50.0, burst=60, flood_strikes=5, max_frame_bytes=4096)
    ann, bob = await joined(handle.chat_url, "ann", "bob")
    await ann.expect("presence")

    async def chat_round(n: int) -> None:
        await ann.send({"type": "chat", "content": f"ann {n}"})
        await bob.send({"type": "chat", "content": f"bob {n}"})

    bad = await Peer.open(handle.chat_url)
    cases: list[tuple[str | bytes, str]] = [
        ("this is not json", "bad-json"),
        ("[1,2,3]", "bad-json"),
        ('{"type":"launch-missiles"}', "bad-type"),
        ('{"content":"no type"}', "bad-type"),
        (b"\x01\x02binary", "binary-frame"),
        ('{"type":"chat","content":"before join"}', "not-joined"),
        ('{"type":"typing","typing":true}', "not-joined"),
        ('{"type":"join","name":"<script>alert(1)</script>"}', "name-invalid"),
        ('{"type":"join","name":"ann"}', "name-taken"),
        ('{"type":"join","name":"mallory","since":"x"}', "bad-field"),
    ]
    for n, (frame, code) in enumerate(cases):
        await bad.send(frame)
        error = await bad.expect("error")
        assert error["code"] == code, (frame, error)
        await chat_round(n)
    await bad.join("mallory")
    for frame, code in [
        ('{"type":"chat"}', "bad-field"),
        ('{"type":"chat","content":5}', "bad-field"),
        (json.dumps({"type": "chat", "content": "x" * (p.MAX_CONTENT_CHARS + 1)}), "bad-field"),
        ('{"type":"join","name":"again"}', "already-joined"),
    ]:
        await bad.send(frame)
        assert (await bad.expect("error"))["code"] == code

    # An oversized frame closes that connection with 1009; no one else notices.
    big = await Peer.open(handle.chat_url)
    await big.send("x" * 5000)
    with pytest.raises(ConnectionClosed):
        await big.recv()
    assert big.ws.close_code == p.CLOSE_TOO_BIG

    # A flood is rate limited, then closed with 1008.
    flood = await Peer.open(handle.chat_url)
    await flood.join("flood")
    for i in range(200):
        try:
            await flood.ws.send(json.dumps({"type": "chat", "content": f"spam {i}"}))
        except ConnectionClosed:
            break
    with pytest.raises(ConnectionClosed):
        while True:
            await flood.recv()
    assert flood.ws.close_code == p.CLOSE_POLICY_VIOLATION

    await chat_round(99)
    # What ann and bob saw: their own chat, mallory's and flood's presence, nothing from the bad frames.
    for peer in (ann, bob):
        await peer.expect("chat", where=lambda m: m["content"] == "bob 99")
        chats = [m for m in peer.seen if m["type"] == "chat"]
        assert {m["sender"] for m in chats} <= {"ann", "bob", "flood"}
        assert not any(m["type"] == "error" for m in peer.seen)
        own = [m["content"] for m in chats if m["sender"] in ("ann", "bob")]
        expected = [f"{who} {n}" for n in [*range(len(cases)), 99] for who in ("ann", "bob")]
        assert own == expected  # all delivered, once, in order
        seqs = [m["seq"] for m in chats]
        assert seqs == sorted(set(seqs))
        others = {m["type"] for m in peer.seen} - {"chat", "welcome", "presence"}
        assert others <= {"typing"}, others
    await ann.close()
    await bob.close()


async def test_wrong_or_missing_token_closes_with_4001(server_factory) -> None:  # type: ignore[no-untyped-def]
    handle = server_factory(token="s3cret", join_code="K7QP3M")
    reasons = []
    for url in (handle.chat_url, handle.chat_url + "?token=wrong", handle.echo_url):
        async with connect(url, open_timeout=WAIT) as ws:
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), WAIT)
            assert ws.close_code == p.CLOSE_UNAUTHORIZED
            reasons.append(ws.close_reason)
    # A missing token and a wrong one are told apart, to the learner and in the log.
    assert reasons[0] == reasons[2] and reasons[0].startswith("token required")
    assert reasons[1].startswith("wrong token or join code")
    refused = [e.text for e in handle.events() if e.kind == "refused"]
    assert [text.split(" from ")[0] for text in refused] == ["no token", "a wrong token or join code", "no token"]
    # The join code, as a person types it, lets in too.
    by_code = await Peer.open(handle.chat_url + "?token=k7q-p3m")
    assert (await by_code.join("cy"))["type"] == "welcome"
    await by_code.close()
    ok = await Peer.open(handle.chat_url + "?token=s3cret")
    assert (await ok.join("ann"))["type"] == "welcome"
    await ok.close()
    ok = await Peer.open(handle.chat_url, additional_headers={"Authorization": "Bearer s3cret"})
    assert (await ok.join("bob"))["type"] == "welcome"
    await ok.close()


async def test_guessing_the_join_code_is_throttled_and_logged_once(server_factory) -> None:  # type: ignore[no-untyped-def]
    from wslab.core.admission import GUESS_BURST

    handle = server_factory(token="s3cret", join_code="K7QP3M")
    reasons = []
    for guess in ["AAAAAA"] * GUESS_BURST + ["K7QP3M", "BBBBBB"]:  # the right code too, once throttled
        async with connect(f"{handle.chat_url}?token={guess}", open_timeout=WAIT) as ws:
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), WAIT)
            reasons.append((ws.close_code, ws.close_reason.split(":")[0]))
    assert reasons == [(4001, "wrong token or join code")] * GUESS_BURST + [
        (4001, "too many wrong join codes from your address")
    ] * 2
    refused = [e.text for e in handle.events() if e.kind == "refused"]
    assert len(refused) == GUESS_BURST + 1 and refused[-1].startswith("too many wrong join codes; refusing")
    ok = await Peer.open(handle.chat_url + "?token=s3cret")  # the token is never throttled
    assert (await ok.join("ann"))["type"] == "welcome"
    await ok.close()


def test_extra_pages_need_the_token_or_the_join_code(server_factory) -> None:  # type: ignore[no-untyped-def]
    handle = server_factory(token="s3cret", join_code="K7QP3M")
    handle.server.pages["/join.svg"] = ("image/svg+xml", "<svg/>")
    assert http_get(handle.http_url + "join.svg")[0] == 403
    assert http_get(handle.http_url + "join.svg?token=nope")[0] == 403
    assert http_get(handle.http_url + "join.svg?token=s3cret") == (200, "image/svg+xml", "<svg/>")
    assert http_get(handle.http_url + "join.svg?token=K7Q-P3M")[0] == 200


async def test_foreign_origins_are_refused(server_factory) -> None:  # type: ignore[no-untyped-def]
    handle = server_factory(allowed_origins=("http://teacher.example",))
    with pytest.raises(InvalidStatus) as info:
        await connect(handle.chat_url, origin="http://evil.example", open_timeout=WAIT)
    assert info.value.response.status_code == 403
    same = f"http://127.0.0.1:{handle.port}"
    for origin in (same, "http://teacher.example"):
        async with connect(handle.chat_url, origin=origin, open_timeout=WAIT):
            pass


async def test_a_client_that_stops_reading_is_closed_and_the_others_get_everything(server_factory) -> None:  # type: ignore[no-untyped-def]
    import threading

    handle = server_factory(slow_consumer_bytes=64 * 1024)
    slow_seen = threading.Event()
    handle.server.listeners.append(lambda event: slow_seen.set() if event.kind == "slow" else None)
    handle.open_channel("updates")
    good = await Peer.open(handle.chat_url)
    await good.send({"type": "subscribe", "channel": "updates"})
    await good.expect("subscribed")
    # max_queue=1: the library stops reading the socket once one frame waits; we never call recv.
    stalled = await Peer.open(handle.chat_url, max_queue=1)
    await stalled.send({"type": "subscribe", "channel": "updates"})
    payload = "x" * 8000

    async def publish_many() -> None:
        for i in range(1500):
            handle.server.publish("updates", {"n": i, "pad": payload})
            await asyncio.sleep(0)  # let the server loop write

    # Publish from another thread so that this loop keeps reading for the good client.
    publishing = asyncio.ensure_future(asyncio.to_thread(handle.call, publish_many(), 30))
    received = []
    while len(received) < 1500:
        received.append((await good.expect("update"))["data"]["n"])
    await asyncio.wait_for(publishing, WAIT)
    assert await asyncio.to_thread(slow_seen.wait, 10), "the stalled client was not noticed"
    assert received == list(range(1500))
    assert any("closing with 4008" in e.text for e in handle.events())
    await good.close()


# ---------------------------------------------------------------- protocol v2: hygiene, presence timer, epoch

SURROGATE = "\\ud800"  # as JSON spells it: valid JSON, not valid Unicode


async def test_a_surrogate_chat_is_refused_and_no_one_is_hurt(server: ServerHandle) -> None:
    ann, bob, mallory = [await Peer.open(server.chat_url) for _ in range(3)]
    await ann.join("ann")
    await bob.join("bob")
    await mallory.join("mallory")
    await mallory.send(f'{{"type":"chat","content":"x {SURROGATE}","id":"m-1"}}')
    error = await mallory.expect("error")
    assert (error["code"], error["field"], error["id"]) == ("bad-field", "content", "m-1")
    # The same hole in every other field: refused, naming the field.
    for frame, field in [
        (f'{{"type":"chat","content":"x","id":"{SURROGATE}"}}', "id"),
        (f'{{"type":"subscribe","channel":"{SURROGATE}"}}', "channel"),
        (f'{{"type":"join","name":"{SURROGATE}"}}', "name"),  # a bad frame is refused before its meaning
    ]:
        await mallory.send(frame)
        refused = await mallory.expect("error")
        assert refused.get("field") == field, refused
    # The sender stays connected and is heard; the others keep chatting.
    await mallory.send({"type": "chat", "content": "sorry"})
    await ann.send({"type": "chat", "content": "hi bob"})
    await bob.send({"type": "chat", "content": "hi ann"})
    for peer in (ann, bob, mallory):
        await peer.expect("chat", where=lambda m: m["content"] == "hi ann")
        chats = [m["content"] for m in peer.seen if m["type"] == "chat"]
        assert chats == ["sorry", "hi bob", "hi ann"]
        assert peer.ws.close_code is None
    # A later joiner gets a welcome that is valid UTF-8 JSON, without the refused message.
    dee = await Peer.open(server.chat_url)
    await dee.send({"type": "join", "name": "dee"})
    raw = await asyncio.wait_for(dee.ws.recv(), WAIT)
    assert isinstance(raw, str)
    welcome = json.loads(raw.encode("utf-8"))
    assert welcome["type"] == "welcome"
    assert [m["seq"] for m in welcome["history"]] == [1, 2, 3]
    assert [m["content"] for m in welcome["history"]] == ["sorry", "hi bob", "hi ann"]
    for peer in (ann, bob, mallory, dee):
        await peer.close()


async def test_a_failed_delivery_to_one_connection_closes_no_one_else(
    server: ServerHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wslab.server import chat_server as server_module

    ann, bob, victim = [await Peer.open(server.chat_url) for _ in range(3)]
    for peer, name in [(ann, "ann"), (bob, "bob"), (victim, "victim")]:
        await peer.join(name)
    await ann.expect("presence", where=lambda m: "victim" in m["joined"])
    victim_port = victim.ws.local_address[1]
    real = server_module.fanout
    failures: list[str] = []

    def fanout_failing_for_victim(connections: Any, message: str) -> int:
        connections = list(connections)
        others = [c for c in connections if c.remote_address[1] != victim_port]
        written = real(others, message)
        if len(others) != len(connections):
            failures.append(message)
            raise OSError("cannot write to this connection (injected)")
        return written

    monkeypatch.setattr(server_module, "fanout", fanout_failing_for_victim)
    # ann's chat goes to all three: the write to victim fails, ann's own frames still go out.
    await ann.send({"type": "chat", "content": "one", "id": "a-1"})
    assert (await ann.expect("chat"))["content"] == "one"
    assert await ann.expect("ack") == {"type": "ack", "id": "a-1", "seq": 1}
    await bob.send({"type": "chat", "content": "two"})
    for peer in (ann, bob):
        assert (await peer.expect("chat", where=lambda m: m["content"] == "two"))["seq"] == 2
    assert failures and all(ws.close_code is None for ws in (ann.ws, bob.ws, victim.ws))
    assert server.snapshot().online == ("ann", "bob", "victim")  # nothing changed in the room
    monkeypatch.setattr(server_module, "fanout", real)
    # victim missed two messages but was never closed: a join with since would bring them back.
    await victim.send({"type": "chat", "content": "three"})
    assert (await victim.expect("chat"))["seq"] == 3
    assert [m["content"] for m in server.server.hub.history("lobby")] == ["one", "two", "three"]
    for peer in (ann, bob, victim):
        await peer.close()


async def server_timer(handle: ServerHandle) -> float | None:
    async def read() -> float | None:
        return handle.server.timer_deadline

    return await asyncio.to_thread(handle.call, read())


async def test_presence_and_typing_run_on_one_timer_that_is_gone_when_idle(server: ServerHandle) -> None:
    ann, bob = await Peer.open(server.chat_url), await Peer.open(server.chat_url)
    await ann.join("ann")
    assert await server_timer(server) is None  # alone in the room: nothing to tell, no timer
    await bob.join("bob")
    assert (await ann.expect("presence"))["joined"] == ["bob"]
    assert await server_timer(server) is None  # sent: nothing due, no timer
    await ann.send({"type": "typing", "typing": True})
    await bob.expect("typing", where=lambda m: m["typing"] == ["ann"])
    assert await server_timer(server) is not None  # the fixture's typing timeout is 0.3 s
    await bob.expect("typing", where=lambda m: m["typing"] == [])
    assert await server_timer(server) is None
    await ann.close()
    assert (await bob.expect("presence"))["left"] == ["ann"]
    assert await server_timer(server) is None
    await bob.close()


async def test_presence_is_coalesced_on_the_wire(server: ServerHandle) -> None:
    ann = await Peer.open(server.chat_url)
    await ann.join("ann")
    others = [await Peer.open(server.chat_url) for _ in range(5)]
    await asyncio.gather(*(peer.join(f"p{i}") for i, peer in enumerate(others)))
    seen: list[str] = []
    while len(seen) < 5:
        presence = await ann.expect("presence")
        assert presence["left"] == []
        seen += presence["joined"]
    assert sorted(seen) == [f"p{i}" for i in range(5)]
    assert len([m for m in ann.seen if m["type"] == "presence"]) <= 5
    for peer in [ann, *others]:
        await peer.close()


async def test_welcome_carries_the_epoch_and_since_counts_only_in_it(server_factory) -> None:  # type: ignore[no-untyped-def]
    handle = server_factory(epoch="run-1")
    ann = await Peer.open(handle.chat_url)
    assert (await ann.join("ann"))["epoch"] == "run-1"
    for text in ["a", "b"]:
        await ann.send({"type": "chat", "content": text})
        await ann.expect("chat", where=lambda m, text=text: m["content"] == text)
    bob = await Peer.open(handle.chat_url)
    same = await bob.join("bob", since=1, epoch="run-1")
    assert [m["content"] for m in same["history"]] == ["b"]
    cy = await Peer.open(handle.chat_url)
    other = await cy.join("cy", since=1, epoch="an-older-server")
    assert [m["content"] for m in other["history"]] == ["a", "b"] and other["history_complete"] is True
    for peer in (ann, bob, cy):
        await peer.close()


async def test_failed_tls_handshakes_are_logged_once_per_address_and_trusting_clients_chat(
    server_factory, tmp_path  # type: ignore[no-untyped-def]
) -> None:
    import ssl

    from support import until
    from support.tls import cert_files

    files = cert_files(tmp_path / "tls")
    handle = server_factory(certfile=str(files.certfile), keyfile=str(files.keyfile))
    for _ in range(3):  # a client that does not trust the CA, retrying as phones do
        with pytest.raises(ssl.SSLCertVerificationError):
            await Peer.open(handle.chat_url, ssl=ssl.create_default_context())
    await until(lambda: any(e.kind == "tls" for e in handle.events()), what="the failed handshake's line")
    trusting = ssl.create_default_context(cafile=str(files.cafile))
    ada = await Peer.open(handle.chat_url, ssl=trusting)
    await ada.join("Ada")
    await ada.send({"type": "chat", "content": "over TLS", "id": "a1"})
    assert (await ada.expect("chat"))["content"] == "over TLS"
    await ada.close()
    lines = [e.text for e in handle.events() if e.kind == "tls"]
    assert lines == [
        "TLS handshake from 127.0.0.1 failed: the client left during the handshake (as one that does not trust "
        "this certificate does) (further failures from 127.0.0.1 are not logged)"
    ]


async def test_an_idle_member_keeps_one_coroutine_and_nothing_of_its_last_frame() -> None:
    """Memory per idle connection: a member waiting for its next frame holds no welcome, no frame, no actions."""
    from wslab.server.chat_server import ChatServer
    from wslab.server.config import ServerConfig

    server = ChatServer(ServerConfig(update_interval=None))
    await server.start()
    try:
        ann = await Peer.open(f"ws://127.0.0.1:{server.port}/chat")
        bob = await Peer.open(f"ws://127.0.0.1:{server.port}/chat")
        await ann.join("ann")
        welcome = await bob.join("bob")
        assert welcome["online"] == ["ann", "bob"]
        assert server._server is not None
        handlers = [task.get_coro() for task in server._server.handler_tasks]
        # websockets awaits the route's coroutine itself: one coroutine per connection, not one awaiting another.
        routes = [getattr(coro, "cr_await", None) for coro in handlers]
        assert sorted(getattr(coro, "__qualname__", "") for coro in routes) == ["ChatServer._chat"] * 2
        for coro in routes:
            held = coro.cr_frame.f_locals  # type: ignore[union-attr]
            assert set(held) <= {"self", "ws"}, f"an idle member's handler holds {sorted(held)}"
        await ann.send({"type": "chat", "content": "still here", "id": "a-1"})
        assert (await bob.expect("chat"))["content"] == "still here"
        await ann.close()
        await bob.close()
    finally:
        await asyncio.wait_for(server.stop(), WAIT)
