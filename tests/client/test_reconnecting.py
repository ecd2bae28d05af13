"""ReconnectingClient against the real server with injected faults, on a fast time scale.

Every wait is for an event with a timeout; no sleep synchronises anything. The
one ``asyncio.sleep`` in the must-show test sets the *rate* at which messages
are produced, like a person typing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from support import Peer
from wslab.client.reconnecting import ClientClosedError, QueueFullError, ReconnectingClient
from wslab.core import protocol as p
from wslab.core.backoff import BackoffPolicy
from wslab.kernel.course_server import ServerHandle

WAIT = 5.0
FAST = BackoffPolicy(initial=0.05, factor=2.0, cap=0.4, jitter="none", stay_up=10.0)
"""The seed's shape on a 20x faster scale, without jitter so delays can be compared exactly."""


@contextlib.asynccontextmanager
async def local_server(handler: Callable[[ServerConnection], Awaitable[None]], **kwargs: Any) -> AsyncIterator[str]:
    server = await serve(handler, "127.0.0.1", 0, **kwargs)
    try:
        yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), WAIT)


def events(client: ReconnectingClient, name: str) -> list[dict[str, Any]]:
    return [details for _, event, details in client.history if event == name]


async def history_of(server: ServerHandle, room: str = "lobby") -> list[dict[str, Any]]:
    """The room's chat history as a fresh client sees it on join."""
    peer = await Peer.open(server.chat_url)
    welcome = await peer.join("auditor", room)
    await peer.close()
    return welcome["history"]


# ---------------------------------------------------------------- basics


async def test_on_is_chainable_and_dispatches_by_type(server: ServerHandle) -> None:
    server.open_channel("updates")  # as the default server does, which publishes on it
    updates: list[Any] = []
    messages: list[str] = []
    client = ReconnectingClient(server.chat_url, policy=FAST)
    assert client.on("update", updates.append).on("message", lambda m: messages.append(m["type"])) is client
    client.subscribe("updates")
    assert client.state == "offline" and client.channels == ("updates",)
    async with client:
        await client.wait_for("connect", WAIT)
        assert client.state == "open"
        server.publish("updates", {"price": 1})
        update = await client.wait_for("update", WAIT)
        assert update["data"] == {"price": 1} and updates == [update]
        client.off("update", updates.append)
        server.publish("updates", {"price": 2})
        await client.wait_for("update", WAIT)
        assert len(updates) == 1
    assert messages == ["subscribed", "update", "update"]
    assert client.state == "closed"


async def test_handlers_may_take_no_argument_or_be_async(server: ServerHandle) -> None:
    server.open_channel("updates")  # as the default server does, which publishes on it
    seen: list[str] = []
    done = asyncio.Event()

    async def on_subscribed(message: dict[str, Any]) -> None:
        seen.append("async " + message["channel"])
        done.set()

    connected = asyncio.Event()
    client = ReconnectingClient(server.chat_url, policy=FAST).on("connect", lambda: connected.set())
    client.on("subscribed", on_subscribed).subscribe("updates")
    async with client:
        await asyncio.wait_for(done.wait(), WAIT)
        await asyncio.wait_for(connected.wait(), WAIT)
    assert seen == ["async updates"]


async def test_a_failing_handler_is_reported_and_the_client_goes_on(server: ServerHandle) -> None:
    server.open_channel("updates")  # as the default server does, which publishes on it
    reported: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, context: reported.append(context))

    def broken(message: dict[str, Any]) -> None:
        raise KeyError("bug in my handler")

    client = ReconnectingClient(server.chat_url, policy=FAST).on("update", broken)
    client.subscribe("updates")
    async with client:
        await client.wait_for("connect", WAIT)
        server.publish("updates", 1)
        await client.wait_for("update", WAIT)
        server.publish("updates", 2)
        assert (await client.wait_for("update", WAIT))["data"] == 2
    assert len(reported) == 2 and isinstance(reported[0]["exception"], KeyError)
    assert "'update' handler" in reported[0]["message"]


async def test_wait_for_times_out_with_a_clear_message(server: ServerHandle) -> None:
    async with ReconnectingClient(server.chat_url, policy=FAST) as client:
        await client.wait_for("connect", WAIT)
        with pytest.raises(TimeoutError, match=r"no 'update' event within 0.1 s \(client is open"):
            await client.wait_for("update", timeout=0.1)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="ws://"):
        ReconnectingClient("http://127.0.0.1/chat")
    with pytest.raises(ValueError, match="queue_limit"):
        ReconnectingClient("ws://127.0.0.1/chat", queue_limit=0)
    with pytest.raises(ValueError, match="overflow"):
        ReconnectingClient("ws://127.0.0.1/chat", overflow="drop")  # type: ignore[arg-type]
    client = ReconnectingClient("ws://127.0.0.1/chat")
    with pytest.raises(RuntimeError, match="running event loop"):
        client.start()
    with pytest.raises(p.ProtocolError, match="must not be empty"):
        client.send({"type": "chat", "content": "  "})
    with pytest.raises(TypeError, match="dict"):
        client.send("text")  # type: ignore[arg-type]


# ---------------------------------------------------------------- outage and recovery


async def test_outage_and_recovery_with_the_expected_delays(server: ServerHandle) -> None:
    server.open_channel("updates")  # as the default server does, which publishes on it
    client = ReconnectingClient(server.chat_url, policy=FAST)
    client.subscribe("updates")
    async with client:
        await client.wait_for("connect", WAIT)
        server.outage(0.8)  # returns once the server is down
        gone = await client.wait_for("disconnect", WAIT)
        assert gone["code"] == p.CLOSE_SERVICE_RESTART
        back = await client.wait_for("connect", WAIT)
        assert back["reconnect"] is True
        server.publish("updates", "after the outage")
        assert (await client.wait_for("update", WAIT))["data"] == "after the outage"  # resubscribed by itself
    waits = events(client, "reconnecting")
    assert len(waits) >= 3  # refused at least at 0.05, 0.15 and 0.35 s into a 0.8 s outage
    assert [w["attempt"] for w in waits] == list(range(1, len(waits) + 1))
    assert [w["delay"] for w in waits] == [FAST.ceiling(n) for n in range(1, len(waits) + 1)]
    # Each attempt really waited its delay: "connecting" comes at least `delay` after "reconnecting".
    times = [(t, e, d) for t, e, d in client.history if e in ("reconnecting", "connecting")]
    for (t0, e0, d0), (t1, e1, _) in zip(times, times[1:], strict=False):
        if e0 == "reconnecting":
            assert e1 == "connecting" and t1 - t0 >= d0["delay"] - 0.005


async def test_full_jitter_delays_stay_in_bounds_during_an_outage(server: ServerHandle) -> None:
    policy = FAST(jitter="full")
    async with ReconnectingClient(server.chat_url, policy=policy, seed=11) as client:
        await client.wait_for("connect", WAIT)
        server.outage(0.6)
        await client.wait_for("disconnect", WAIT)
        await client.wait_for("connect", WAIT)
    waits = events(client, "reconnecting")
    assert waits and all(0 <= w["delay"] <= policy.ceiling(w["attempt"]) for w in waits)


async def test_queued_messages_arrive_exactly_once_across_a_restart(server: ServerHandle) -> None:
    client = ReconnectingClient(server.chat_url, policy=FAST)
    client.join("ada")
    async with client:
        await client.wait_for("connect", WAIT)
        client.send({"type": "chat", "content": "before"})
        await client.flush(WAIT)
        server.outage(0.5)
        await client.wait_for("disconnect", WAIT)
        assert client.state in ("offline", "connecting")
        for i in range(5):
            assert client.send({"type": "chat", "content": f"offline {i}"}) is True
        assert client.queued == 5
        back = await client.wait_for("connect", WAIT)
        assert back["flushed"] == 5
        await client.flush(WAIT)
        assert (client.queued, client.unacked) == (0, 0)
    contents = [m["content"] for m in await history_of(server)]
    assert contents == ["before"] + [f"offline {i}" for i in range(5)]


async def test_unacked_chats_are_resent_and_the_server_drops_the_copies(server: ServerHandle) -> None:
    acks: list[dict[str, Any]] = []
    client = ReconnectingClient(server.chat_url, policy=FAST).on("ack", acks.append)
    client.join("ada")
    async with client:
        await client.wait_for("connect", WAIT)
        client.send({"type": "chat", "content": "once", "id": "m-1"})
        await client.flush(WAIT)
        client.session.unacked["m-1"] = {"type": "chat", "content": "once", "id": "m-1"}  # as if the ack was lost
        server.drop_all()
        back = await client.wait_for("connect", WAIT)
        assert back["resent"] == 1
        await client.flush(WAIT)
    assert [a.get("duplicate", False) for a in acks] == [False, True]
    assert [m["content"] for m in await history_of(server)] == ["once"]


async def test_rejoin_asks_only_for_what_was_missed(server: ServerHandle) -> None:
    reader = ReconnectingClient(server.chat_url, policy=FAST(initial=0.3))
    welcomes: list[dict[str, Any]] = []
    reader.on("welcome", welcomes.append).join("reader")
    writer = await Peer.open(server.chat_url)
    await writer.join("writer")
    async with reader:
        await reader.wait_for("connect", WAIT)
        await writer.send({"type": "chat", "content": "seen live"})
        await reader.wait_for("chat", WAIT)
        reader._conn.transport.abort()  # type: ignore[union-attr]  # the reader's network drops
        await reader.wait_for("disconnect", WAIT)
        await writer.send({"type": "chat", "content": "missed"})
        await writer.expect("chat", where=lambda m: m["content"] == "missed")
        await reader.wait_for("connect", WAIT)
    await writer.close()
    assert [m["content"] for m in welcomes[0]["history"]] == []
    assert [m["content"] for m in welcomes[1]["history"]] == ["missed"]  # since=1: no duplicate of "seen live"
    assert reader.last_seq == 2


async def test_a_refused_rejoin_is_retried_with_backoff_and_nothing_is_lost(server: ServerHandle) -> None:
    client = ReconnectingClient(server.chat_url, policy=FAST)
    client.join("ada")
    async with client:
        await client.wait_for("connect", WAIT)
        client._conn.transport.abort()  # type: ignore[union-attr]  # ada's network drops...
        await client.wait_for("disconnect", WAIT)
        impostor = await Peer.open(server.chat_url)
        welcome = await impostor.join("ada")  # ...and someone takes the name meanwhile
        assert welcome["name"] == "ada"
        client.send({"type": "chat", "content": "kept"})
        refused = await client.wait_for("error", WAIT, where=lambda e: e["code"] == p.ErrorCode.NAME_TAKEN)
        assert refused["source"] == "server" and client.queued == 1
        await client.wait_for("reconnecting", WAIT)  # backs off and tries again
        await impostor.close()
        back = await client.wait_for("connect", WAIT)
        assert back["flushed"] == 1
        await client.flush(WAIT)
    failed = [d for _, e, d in client.history if e == "failed"]
    assert failed and "4000" in failed[0]["error"]
    assert [(m["sender"], m["content"]) for m in await history_of(server)] == [("ada", "kept")]


async def test_a_long_queue_is_paced_under_the_servers_rate_limit(server_factory: Any) -> None:
    server = server_factory(rate=50.0, burst=10, flood_strikes=5)
    errors: list[dict[str, Any]] = []
    client = ReconnectingClient(server.chat_url, policy=FAST, send_rate=45.0, send_burst=5, queue_limit=40)
    client.on("error", errors.append).join("ada")
    for i in range(40):
        client.send({"type": "chat", "content": f"queued {i}"})
    async with client:
        await client.wait_for("connect", WAIT)
        await client.flush(WAIT)
    assert errors == [] and client.history[-1][2]["code"] == p.CLOSE_NORMAL
    assert [m["content"] for m in await history_of(server)] == [f"queued {i}" for i in range(40)]


async def test_without_pacing_the_same_queue_is_taken_for_flooding(server_factory: Any) -> None:
    server = server_factory(rate=50.0, burst=10, flood_strikes=5)
    client = ReconnectingClient(server.chat_url, policy=FAST, send_rate=None, queue_limit=40)
    client.join("ada")
    for i in range(40):
        client.send({"type": "chat", "content": f"queued {i}"})
    async with client:
        closed = await client.wait_for("closed", WAIT)
    assert closed["code"] == p.CLOSE_POLICY_VIOLATION and closed["unsent"] > 0  # stopped, and says so


async def test_rate_limited_chats_are_sent_again_later(server_factory: Any) -> None:
    server = server_factory(rate=20.0, burst=5, flood_strikes=1000)
    client = ReconnectingClient(server.chat_url, policy=FAST, send_rate=None)
    limited: list[dict[str, Any]] = []
    client.on("error", limited.append).join("ada")
    async with client:
        await client.wait_for("connect", WAIT)
        for i in range(12):
            client.send({"type": "chat", "content": f"burst {i}"})
        await client.flush(10.0)
    assert limited and all(e["code"] == p.ErrorCode.RATE_LIMITED for e in limited)
    contents = [m["content"] for m in await history_of(server)]
    assert sorted(contents) == sorted(f"burst {i}" for i in range(12))  # each exactly once


# ---------------------------------------------------------------- bounded queue


async def test_overflow_raises_and_never_drops_silently() -> None:
    client = ReconnectingClient("ws://127.0.0.1:9/chat", queue_limit=3)
    for i in range(3):
        client.send({"type": "ping", "n": i})
    with pytest.raises(QueueFullError, match="queue_limit=3"):
        client.send({"type": "ping", "n": 3})
    assert client.queued == 3 and [e for _, e, _ in client.history] == ["overflow"]


async def test_overflow_can_be_an_event_instead() -> None:
    client = ReconnectingClient("ws://127.0.0.1:9/chat", queue_limit=1, overflow="event")
    overflows: list[dict[str, Any]] = []
    client.on("overflow", overflows.append)
    assert client.send({"type": "ping", "n": 0}) is True
    assert client.send({"type": "ping", "n": 1}) is False
    assert overflows == [{"message": {"type": "ping", "n": 1}, "queued": 1, "limit": 1}]


# ---------------------------------------------------------------- no tight loop, stop codes, close


async def test_accept_then_close_at_once_keeps_backing_off(server: ServerHandle) -> None:
    server.close_on_open(p.CLOSE_SERVICE_RESTART)
    policy = BackoffPolicy(initial=0.02, factor=2.0, cap=1.0, jitter="none", stay_up=1.0)
    async with ReconnectingClient(server.chat_url, policy=policy) as client:
        await client.wait_for("reconnecting", WAIT, where=lambda w: w["attempt"] == 5)
    waits = events(client, "reconnecting")
    assert [w["delay"] for w in waits] == [0.02, 0.04, 0.08, 0.16, 0.32]  # never reset to 0.02
    assert len(events(client, "connecting")) == 5  # one attempt per delay, no tight loop


@pytest.mark.parametrize("stop_code", [p.CLOSE_KICKED, p.CLOSE_POLICY_VIOLATION, p.CLOSE_NORMAL])
async def test_no_reconnect_after_a_stop_code(server: ServerHandle, stop_code: int) -> None:
    client = ReconnectingClient(server.chat_url, policy=FAST)
    closed: list[dict[str, Any]] = []
    client.on("closed", closed.append)
    async with client:
        await client.wait_for("connect", WAIT)
        server.drop_all(stop_code, "stop")
        await client.wait_for("closed", WAIT)
    assert client.state == "closed" and events(client, "reconnecting") == []
    assert closed[0]["code"] == stop_code and "not reconnecting" in closed[0]["reason"]


async def test_unauthorized_stops_and_a_custom_predicate_can_decide(server_factory: Any) -> None:
    server = server_factory(token="s3cret")
    async with ReconnectingClient(server.chat_url, policy=FAST) as client:
        done = await client.wait_for("closed", WAIT)
    assert done["code"] == p.CLOSE_UNAUTHORIZED
    stubborn = ReconnectingClient(server.chat_url, policy=FAST, should_reconnect=lambda code: True)
    async with stubborn:
        await stubborn.wait_for("reconnecting", WAIT, where=lambda w: w["attempt"] == 2)


async def test_close_stops_for_good(server: ServerHandle) -> None:
    client = ReconnectingClient(server.chat_url, policy=FAST).start()
    await client.wait_for("connect", WAIT)
    server.outage(0.5)
    await client.wait_for("reconnecting", WAIT)
    client.send({"type": "note", "text": "waits in the outbox"})
    closed: list[dict[str, Any]] = []
    client.on("closed", closed.append)
    await client.aclose(WAIT)
    assert closed[0]["unsent"] == 1  # reported, not silently dropped
    assert client.state == "closed"
    count = len(client.history)
    with pytest.raises(ClientClosedError):
        client.send({"type": "note", "text": "too late"})
    server.wait_up(WAIT)
    with pytest.raises(TimeoutError):
        await client.wait_for("connecting", 0.3)  # nothing happens any more
    assert len(client.history) == count


# ---------------------------------------------------------------- bad input from the server, dead connections


async def test_malformed_json_and_error_frames_become_error_events() -> None:
    async def handler(ws: ServerConnection) -> None:
        for frame in ('{"type": "update", "n": 1}', "not json{", "[1, 2]", b"\x00\x01", '{"type": "update", "n": 2}'):
            await ws.send(frame)
        await ws.send(p.encode(p.ProtocolError(p.ErrorCode.BAD_FIELD, "no").to_message()))
        await ws.wait_closed()

    async with local_server(handler) as url:
        errors: list[dict[str, Any]] = []
        updates: list[int] = []
        client = ReconnectingClient(url, policy=FAST).on("error", errors.append)
        client.on("update", lambda m: updates.append(m["n"]))
        async with client:
            await client.wait_for("error", WAIT, where=lambda e: e["source"] == "server")
    assert [(e["source"], e["code"]) for e in errors] == [
        ("client", "invalid-json"),
        ("client", "not-an-object"),
        ("client", "binary-frame"),
        ("server", "bad-field"),
    ]
    assert errors[0]["raw"] == "not json{" and errors[1]["raw"] == "[1, 2]"
    assert updates == [1, 2] and client.history[-1][1] == "closed"


async def test_a_dead_connection_is_noticed_within_the_stated_bound() -> None:
    interval, timeout = 0.1, 0.2

    async def handler(ws: ServerConnection) -> None:
        ws.transport.pause_reading()  # the peer goes silent: no pongs
        await ws.wait_closed()

    async with local_server(handler, close_timeout=0.2) as url:
        client = ReconnectingClient(url, policy=FAST, heartbeat_interval=interval, heartbeat_timeout=timeout)
        async with client:
            opened = await client.wait_for("connect", WAIT)
            loop = asyncio.get_running_loop()
            start = loop.time()
            gone = await client.wait_for("disconnect", WAIT)
            noticed = loop.time() - start
    assert opened and gone["code"] == 1006 and "no pong" in gone["reason"]
    assert noticed <= interval + timeout + 0.5  # the bound, plus scheduling slack on a busy machine
    assert any(e == "heartbeat-timeout" for _, e, _ in client.history)


# ---------------------------------------------------------------- must show


async def test_must_show_nothing_lost_nothing_duplicated_while_the_server_drops_connections(
    server_factory: Any,
) -> None:
    """A sender keeps sending numbered chats while the server drops every connection
    again and again. An observer (also reconnecting) sees each message exactly once,
    in order, and every reconnect delay stays within the policy's bounds."""
    server = server_factory(rate=1000.0, burst=1000)
    policy = BackoffPolicy(initial=0.02, factor=2.0, cap=0.25, stay_up=5.0, seed=5)
    total, drops = 120, 6
    sender = ReconnectingClient(
        server.chat_url, policy=policy, seed=1, queue_limit=total, send_rate=900.0, send_burst=500
    )
    observer = ReconnectingClient(server.chat_url, policy=policy, seed=2)
    seen: list[dict[str, Any]] = []
    all_in = asyncio.Event()

    def record(chats: list[dict[str, Any]]) -> None:
        seen.extend(chats)
        if len(seen) >= total:
            all_in.set()

    # Live chats and what a re-join's welcome says was missed while away: each a "chat" event, once.
    observer.on("chat", lambda m: record([m]))
    observer.join("observer")
    sender.join("sender")
    async with observer, sender:
        await observer.wait_open(WAIT)
        await sender.wait_open(WAIT)
        for i in range(total):
            sender.send({"type": "chat", "content": f"message {i}"})
            if i % (total // drops) == total // drops - 1:
                # Drop only once both are back, so every drop hits two live connections.
                await sender.wait_open(WAIT)
                await observer.wait_open(WAIT)
                assert server.drop_all(p.CLOSE_SERVICE_RESTART, "dropped on purpose") == 2
            await asyncio.sleep(0.005)  # the sending rate, not a synchronisation
        await sender.flush(10.0)
        await asyncio.wait_for(all_in.wait(), 10.0)
    contents = [m["content"] for m in seen]
    assert contents == [f"message {i}" for i in range(total)]  # nothing lost, nothing twice, in order
    seqs = [m["seq"] for m in seen]
    assert seqs == list(range(1, total + 1))
    assert server.snapshot("lobby").messages == total  # the server stored each once
    assert sum(d["flushed"] for _, e, d in sender.history if e == "connect") > 0  # the offline queue was used
    for client in (sender, observer):
        dropped = [d for d in events(client, "disconnect") if d["code"] == p.CLOSE_SERVICE_RESTART]
        assert len(dropped) == drops
        waits = events(client, "reconnecting")
        assert waits and all(0.0 <= w["delay"] <= policy.ceiling(w["attempt"]) <= policy.cap for w in waits)


def test_the_pacer_is_a_token_bucket() -> None:
    from wslab.core.ratelimit import TokenBucket as _Pacer

    pacer = _Pacer(rate=10.0, burst=3)
    assert [pacer.reserve(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]  # the burst goes at once
    assert pacer.reserve(0.0) == pytest.approx(0.1)  # then one frame per 1/rate seconds
    assert pacer.reserve(0.1) == 0.0
    assert pacer.reserve(0.15) == pytest.approx(0.05)
    assert [pacer.reserve(100.0) for _ in range(4)][-1] == pytest.approx(0.1)  # refills to burst, no more


async def test_close_during_a_hanging_handshake_stops_at_once() -> None:
    accepted = asyncio.Event()

    def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()  # accept the TCP connection, never answer the HTTP upgrade

    tcp = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = tcp.sockets[0].getsockname()[1]
    client = ReconnectingClient(f"ws://127.0.0.1:{port}/", open_timeout=30.0).start()
    await asyncio.wait_for(accepted.wait(), WAIT)
    assert client.state == "connecting"
    await client.aclose(timeout=1.0)  # does not wait out the 30 s open_timeout
    assert client.state == "closed" and events(client, "reconnecting") == []
    with pytest.raises(ClientClosedError, match="client closed"):
        client.send({"type": "typing", "typing": True})
    tcp.close()


async def test_join_and_subscribe_during_the_restore_are_not_lost(server: ServerHandle) -> None:
    for channel in ("a", "b"):
        server.open_channel(channel)
    client = ReconnectingClient(server.chat_url, policy=FAST)
    client.subscribe("a")

    def on_subscribed(message: dict[str, Any]) -> None:
        if message["channel"] == "a":
            client.subscribe("b")  # called while the client restores its state
            client.join("late")

    subscribed: list[str] = []
    client.on("subscribed", on_subscribed).on("subscribed", lambda m: subscribed.append(m["channel"]))
    async with client:
        welcome = await client.wait_for("welcome", WAIT)  # the join goes last, so this comes last
        assert welcome["name"] == "late" and subscribed == ["a", "b"] and client.channels == ("a", "b")
        server.publish("b", "flows")
        assert (await client.wait_for("update", WAIT))["channel"] == "b"


async def test_a_gap_longer_than_the_servers_history_is_reported(server_factory: Any) -> None:
    server = server_factory(history_size=2)
    reader = ReconnectingClient(server.chat_url, policy=FAST(initial=0.3))
    errors: list[dict[str, Any]] = []
    welcomes: list[dict[str, Any]] = []
    reader.on("error", errors.append).on("welcome", welcomes.append).join("reader")
    writer = await Peer.open(server.chat_url)
    await writer.join("writer")
    async with reader:
        await reader.wait_for("connect", WAIT)
        reader._conn.transport.abort()  # type: ignore[union-attr]
        await reader.wait_for("disconnect", WAIT)
        for i in range(5):
            await writer.send({"type": "chat", "content": f"while away {i}"})
        await writer.expect("chat", where=lambda m: m["seq"] == 5)
        if len(welcomes) < 2:
            await reader.wait_for("welcome", WAIT)
    await writer.close()
    welcome = welcomes[1]
    assert [m["seq"] for m in welcome["history"]] == [4, 5] and welcome["history_complete"] is False
    [gap] = errors
    assert gap["code"] == "history-gap" and "messages 1 to 3" in gap["message"]


async def test_send_raw_sends_exactly_what_it_is_given_and_needs_a_connection(server: ServerHandle) -> None:
    client = ReconnectingClient(server.echo_url, policy=BackoffPolicy(initial=0.05, seed=1))
    with pytest.raises(ConnectionError, match="open connection"):
        await client.send_raw("too early")
    client.start()
    await client.wait_for("connect", timeout=5)
    await client.send_raw("{oops")  # the echo server sends it back: not JSON
    error = await client.wait_for("error", timeout=5)
    assert error["raw"] == "{oops"
    assert client.queued == 0  # nothing was queued or kept for resending
    await client.aclose()


async def test_a_restarted_server_starts_a_new_epoch_and_the_client_hides_and_repeats_nothing(
    server_factory: Any,
) -> None:
    """A server restarted without its history numbers its messages from 1 again. The client
    notices the new epoch, says so, and shows the new server's first message (its seq is one
    the client has already seen, from the old server) instead of hiding it."""
    old = server_factory()
    port = old.port
    client = ReconnectingClient(old.chat_url, policy=FAST(initial=0.05, cap=0.2))
    chats: list[tuple[str, int, str]] = []
    epochs: list[dict[str, Any]] = []
    client.on("chat", lambda m: chats.append((client.session.epoch or "", m["seq"], m["content"])))
    client.on("epoch", epochs.append).join("reader")
    writer = await Peer.open(old.chat_url)
    await writer.join("writer")
    async with client:
        await client.wait_open(WAIT)
        for text in ("one", "two"):
            await writer.send({"type": "chat", "content": text})
        await client.wait_for("chat", WAIT, where=lambda m: m["content"] == "two")
        first_epoch = client.session.epoch
        await writer.close()
        old.stop()
        new = server_factory(port=port)  # the same address, a fresh history
        assert new.port == port
        await client.wait_for("connect", WAIT)
        writer = await Peer.open(new.chat_url)
        await writer.join("writer")
        await writer.send({"type": "chat", "content": "first on the new server"})
        await client.wait_for("chat", WAIT, where=lambda m: m["content"] == "first on the new server")
        await writer.close()
    assert [e["old"] for e in epochs] == [first_epoch] and epochs[0]["new"] == client.session.epoch != first_epoch
    assert [(seq, text) for _, seq, text in chats] == [(1, "one"), (2, "two"), (1, "first on the new server")]
    assert len({epoch for epoch, _, _ in chats}) == 2
