"""The sans-I/O hub: rooms, presence, history, typing timers, channels and limits.

No sockets here: connections are plain strings and time is a FakeClock.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from wslab.core import protocol as p
from wslab.core.clock import FakeClock
from wslab.core.hub import Action, Close, Hub, Send, recipients


def frames_for(actions: list[Action], conn: str) -> list[dict[str, Any]]:
    return [json.loads(a.frame) for a in actions if isinstance(a, Send) and conn in a.to]


def types_for(actions: list[Action], conn: str) -> list[str]:
    return [m["type"] for m in frames_for(actions, conn)]


def send(hub: Hub, conn: str, **message: Any) -> list[Action]:
    return hub.receive(conn, json.dumps(message))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(wall=1_700_000_000.0)


@pytest.fixture
def hub(clock: FakeClock) -> Hub:
    return Hub(clock=clock, typing_timeout=3.0, history_size=5)


def joined(hub: Hub, *names: str, room: str = "lobby") -> None:
    for name in names:
        hub.connect(name)
        send(hub, name, type="join", name=name, room=room)


def test_join_welcomes_you_and_tells_the_others(hub: Hub) -> None:
    joined(hub, "ann")
    hub.connect("bob")
    actions = send(hub, "bob", type="join", name="bob")
    (welcome,) = frames_for(actions, "bob")
    assert welcome["type"] == "welcome"
    assert welcome["name"] == "bob" and welcome["room"] == "lobby"
    assert welcome["online"] == ["ann", "bob"]
    assert welcome["history"] == [] and welcome["history_complete"] is True
    (presence,) = frames_for(actions, "ann")
    assert presence == {"type": "presence", "room": "lobby", "joined": "bob", "online": ["ann", "bob"]}


def test_the_server_sets_sender_timestamp_and_seq(hub: Hub, clock: FakeClock) -> None:
    joined(hub, "ann", "bob")
    clock.advance(0.5)
    actions = hub.receive(
        "ann", json.dumps({"type": "chat", "content": "hi", "sender": "mallory", "timestamp": "x", "id": "m1"})
    )
    (chat,) = frames_for(actions, "bob")
    assert chat == {
        "type": "chat",
        "room": "lobby",
        "seq": 1,
        "sender": "ann",
        "content": "hi",
        "timestamp": "2023-11-14T22:13:20.500Z",
        "id": "m1",
    }
    assert types_for(actions, "ann") == ["chat", "ack"]
    assert frames_for(actions, "ann")[1] == {"type": "ack", "id": "m1", "seq": 1}


def test_each_message_is_encoded_once_for_all_receivers(hub: Hub) -> None:
    joined(hub, "ann", "bob", "cy")
    actions = send(hub, "ann", type="chat", content="hi")
    chats = [a for a in actions if isinstance(a, Send) and '"chat"' in a.frame]
    assert len(chats) == 1 and set(chats[0].to) == {"ann", "bob", "cy"}


def test_rooms_are_separate(hub: Hub) -> None:
    joined(hub, "ann", "bob", room="a")
    joined(hub, "cy", room="b")
    actions = send(hub, "ann", type="chat", content="hi")
    assert recipients(actions) == {"ann", "bob"}


def test_names_are_unique_per_room_ignoring_case(hub: Hub) -> None:
    joined(hub, "ann")
    hub.connect("x")
    (error,) = frames_for(send(hub, "x", type="join", name="ANN"), "x")
    assert error["type"] == "error" and error["code"] == "name-taken"
    # the same name is fine in another room, and the connection may try again
    assert types_for(send(hub, "x", type="join", name="ann", room="other"), "x") == ["welcome"]


def test_join_twice_is_an_error(hub: Hub) -> None:
    joined(hub, "ann")
    (error,) = frames_for(send(hub, "ann", type="join", name="ann2"), "ann")
    assert error["code"] == "already-joined"


def test_chat_and_typing_before_join_are_errors(hub: Hub) -> None:
    hub.connect("x")
    assert frames_for(send(hub, "x", type="chat", content="hi"), "x")[0]["code"] == "not-joined"
    assert frames_for(send(hub, "x", type="typing", typing=True), "x")[0]["code"] == "not-joined"


def test_bad_frames_reach_no_one_else(hub: Hub) -> None:
    joined(hub, "ann", "bob")
    for frame in ["nope", b"\x00", "{}", '{"type":"chat"}', '{"type":"x"}', '{"type":"typing","typing":1}']:
        actions = hub.receive("ann", frame)
        assert recipients(actions) == {"ann"}
        assert types_for(actions, "ann") == ["error"]


def test_history_is_replayed_on_join_and_bounded(hub: Hub) -> None:
    joined(hub, "ann")
    for i in range(7):
        send(hub, "ann", type="chat", content=f"m{i}")
    hub.connect("bob")
    welcome = frames_for(send(hub, "bob", type="join", name="bob"), "bob")[0]
    assert [m["content"] for m in welcome["history"]] == ["m2", "m3", "m4", "m5", "m6"]
    assert [m["seq"] for m in welcome["history"]] == [3, 4, 5, 6, 7]
    assert welcome["seq"] == 7 and welcome["history_complete"] is False


def test_resume_since_replays_only_what_you_missed(hub: Hub) -> None:
    joined(hub, "ann", "bob")
    for i in range(3):
        send(hub, "ann", type="chat", content=f"m{i}")
    hub.disconnect("bob")
    send(hub, "ann", type="chat", content="while you were away")
    hub.connect("bob2")
    welcome = frames_for(send(hub, "bob2", type="join", name="bob", since=3), "bob2")[0]
    assert [m["content"] for m in welcome["history"]] == ["while you were away"]
    assert welcome["history_complete"] is True
    hub.connect("bob3")
    up_to_date = frames_for(send(hub, "bob3", type="join", name="bob3", since=4), "bob3")[0]
    assert up_to_date["history"] == [] and up_to_date["history_complete"] is True


def test_resume_from_before_the_ring_says_history_is_incomplete(hub: Hub) -> None:
    joined(hub, "ann")
    for i in range(8):
        send(hub, "ann", type="chat", content=f"m{i}")
    hub.connect("bob")
    welcome = frames_for(send(hub, "bob", type="join", name="bob", since=1), "bob")[0]
    assert [m["seq"] for m in welcome["history"]] == [4, 5, 6, 7, 8]
    assert welcome["history_complete"] is False


def test_a_resent_chat_id_is_acked_again_but_not_delivered_twice(hub: Hub) -> None:
    joined(hub, "ann", "bob")
    send(hub, "ann", type="chat", content="once", id="a1")
    again = send(hub, "ann", type="chat", content="once", id="a1")
    assert recipients(again) == {"ann"}
    assert frames_for(again, "ann") == [{"type": "ack", "id": "a1", "seq": 1, "duplicate": True}]
    assert [m["content"] for m in hub.history("lobby")] == ["once"]
    # the same id from someone else is a different message
    assert "chat" in types_for(send(hub, "bob", type="chat", content="mine", id="a1"), "ann")


def test_typing_starts_once_refreshes_silently_and_expires(hub: Hub, clock: FakeClock) -> None:
    joined(hub, "ann", "bob")
    start = send(hub, "ann", type="typing", typing=True)
    assert frames_for(start, "bob") == [{"type": "typing", "room": "lobby", "typing": ["ann"]}]
    clock.advance(2.0)
    assert send(hub, "ann", type="typing", typing=True) == []  # refresh: no broadcast
    clock.advance(2.0)
    assert hub.tick() == []  # refreshed at t=2, expires at t=5
    assert hub.next_deadline() == pytest.approx(5.0)
    clock.advance(1.0)
    expired = hub.tick()
    assert frames_for(expired, "bob") == [{"type": "typing", "room": "lobby", "typing": []}]
    assert hub.next_deadline() is None


def test_typing_lists_everyone_in_order_and_stop_clears(hub: Hub) -> None:
    joined(hub, "ann", "bob", "cy")
    send(hub, "ann", type="typing", typing=True)
    both = send(hub, "bob", type="typing", typing=True)
    assert frames_for(both, "cy")[0]["typing"] == ["ann", "bob"]
    stop = send(hub, "ann", type="typing", typing=False)
    assert frames_for(stop, "cy")[0]["typing"] == ["bob"]
    assert send(hub, "ann", type="typing", typing=False) == []  # not typing: nothing to say


def test_sending_a_message_ends_typing(hub: Hub) -> None:
    joined(hub, "ann", "bob")
    send(hub, "ann", type="typing", typing=True)
    actions = send(hub, "ann", type="chat", content="done")
    assert types_for(actions, "bob") == ["typing", "chat"]
    assert frames_for(actions, "bob")[0]["typing"] == []


def test_disconnect_ends_typing_and_announces_leaving(hub: Hub) -> None:
    joined(hub, "ann", "bob")
    send(hub, "ann", type="typing", typing=True)
    actions = hub.disconnect("ann")
    assert frames_for(actions, "bob") == [
        {"type": "typing", "room": "lobby", "typing": []},
        {"type": "presence", "room": "lobby", "left": "ann", "online": ["bob"]},
    ]
    assert hub.disconnect("ann") == []  # twice is harmless


def test_welcome_tells_who_is_typing_now(hub: Hub) -> None:
    joined(hub, "ann")
    send(hub, "ann", type="typing", typing=True)
    hub.connect("bob")
    assert frames_for(send(hub, "bob", type="join", name="bob"), "bob")[0]["typing"] == ["ann"]


def test_subscribe_needs_no_join_and_publish_reaches_subscribers(hub: Hub, clock: FakeClock) -> None:
    hub.connect("dash")
    hub.connect("other")
    assert frames_for(send(hub, "dash", type="subscribe", channel="updates"), "dash") == [
        {"type": "subscribed", "channel": "updates"}
    ]
    actions = hub.publish("updates", {"price": 1})
    assert recipients(actions) == {"dash"}
    assert frames_for(actions, "dash")[0] == {
        "type": "update",
        "channel": "updates",
        "seq": 1,
        "timestamp": "2023-11-14T22:13:20.000Z",
        "data": {"price": 1},
    }
    send(hub, "dash", type="unsubscribe", channel="updates")
    assert hub.publish("updates", {"price": 2}) == []
    hub.disconnect("dash")


def test_disconnect_unsubscribes(hub: Hub) -> None:
    hub.connect("dash")
    send(hub, "dash", type="subscribe", channel="updates")
    hub.disconnect("dash")
    assert hub.publish("updates", 1) == []


def test_rate_limit_errors_then_closes_a_flood(clock: FakeClock) -> None:
    hub = Hub(clock=clock, rate=2.0, burst=3, flood_strikes=3)
    joined(hub, "ann", "bob")  # the join used one token
    results = [send(hub, "ann", type="chat", content=str(i)) for i in range(6)]
    delivered = [r for r in results if "chat" in types_for(r, "bob")]
    assert len(delivered) == 2
    limited = [frames_for(r, "ann")[0] for r in results[2:4]]
    assert all(m["code"] == "rate-limited" for m in limited)
    assert results[4:6] == [[Close("ann", 1008, "flooding: too many frames")], []]
    # bob is unaffected
    assert types_for(send(hub, "bob", type="chat", content="still here"), "bob") == ["chat"]


def test_rate_limit_refills_with_time(clock: FakeClock) -> None:
    hub = Hub(clock=clock, rate=2.0, burst=2, flood_strikes=100)
    joined(hub, "ann")
    send(hub, "ann", type="chat", content="a")
    assert frames_for(send(hub, "ann", type="chat", content="b"), "ann")[0]["code"] == "rate-limited"
    clock.advance(0.5)
    assert types_for(send(hub, "ann", type="chat", content="c"), "ann") == ["chat"]


def test_kick_and_mute(hub: Hub) -> None:
    joined(hub, "ann", "bob")
    notice = hub.mute("lobby", "bob")
    assert frames_for(notice, "bob")[0]["type"] == "notice"
    muted = send(hub, "bob", type="chat", content="spam")
    assert recipients(muted) == {"bob"} and frames_for(muted, "bob")[0]["code"] == "muted"
    hub.mute("lobby", "bob", muted=False)
    assert "chat" in types_for(send(hub, "bob", type="chat", content="sorry"), "ann")
    assert hub.kick("lobby", "Bob") == [Close("bob", p.CLOSE_KICKED, "removed by the instructor")]
    assert hub.receive("bob", '{"type":"chat","content":"x"}') == []  # closing: ignored
    assert hub.kick("lobby", "nobody") == []


def test_snapshot_for_dashboards(hub: Hub, clock: FakeClock) -> None:
    joined(hub, "ann", "bob")
    send(hub, "ann", type="chat", content="1")
    clock.advance(61)
    send(hub, "bob", type="chat", content="2")
    send(hub, "bob", type="typing", typing=True)
    snap = hub.snapshot("lobby")
    assert snap.online == ("ann", "bob") and snap.typing == ("bob",)
    assert snap.messages == 2 and snap.messages_last_minute == 1
    assert hub.snapshot("empty").online == ()


def test_unknown_connections_are_ignored_and_double_connect_refused(hub: Hub) -> None:
    assert hub.receive("ghost", "{}") == []
    hub.connect("ann")
    with pytest.raises(ValueError):
        hub.connect("ann")


def test_constructor_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        Hub(typing_timeout=0)
    with pytest.raises(ValueError):
        Hub(history_size=-1)
