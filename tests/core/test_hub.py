"""The sans-I/O hub: rooms, presence, history, typing timers, channels and limits.

No sockets here: connections are plain strings and time is a FakeClock.
"""

from __future__ import annotations

import importlib
import json
import warnings
from typing import Any

import pytest

from wslab.core import protocol as p
from wslab.core.clock import FakeClock
from wslab.core.hub import Close, Deliver, Hub, HubAction, recipients


def frames_for(actions: list[HubAction], conn: str) -> list[dict[str, Any]]:
    return [json.loads(a.frame) for a in actions if isinstance(a, Deliver) and conn in a.to]


def types_for(actions: list[HubAction], conn: str) -> list[str]:
    return [m["type"] for m in frames_for(actions, conn)]


def send(hub: Hub, conn: str, **message: Any) -> list[HubAction]:
    return hub.receive(conn, json.dumps(message))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(wall=1_700_000_000.0)


@pytest.fixture
def hub(clock: FakeClock) -> Hub:
    return Hub(clock=clock, typing_timeout=3.0, history_size=5, epoch="e-test")


def joined(hub: Hub, *names: str, room: str = "lobby") -> None:
    for name in names:
        hub.connect(name)
        (welcome,) = frames_for(send(hub, name, type="join", name=name, room=room), name)
        assert welcome["type"] == "welcome", welcome


def settle(hub: Hub, clock: FakeClock) -> list[HubAction]:
    """Let the pending presence frames go out (advance past the presence interval and tick)."""
    clock.advance(p.PRESENCE_INTERVAL)
    return hub.tick()


def test_join_welcomes_you_and_tells_the_others_at_the_next_presence_tick(hub: Hub, clock: FakeClock) -> None:
    joined(hub, "ann")
    hub.connect("bob")
    actions = send(hub, "bob", type="join", name="bob")
    assert recipients(actions) == {"bob"}  # the others hear of it at the tick
    (welcome,) = frames_for(actions, "bob")
    assert welcome == {
        "type": "welcome",
        "name": "bob",
        "room": "lobby",
        "epoch": "e-test",
        "online": ["ann", "bob"],
        "typing": [],
        "seq": 0,
        "history": [],
        "history_complete": True,
    }
    assert hub.next_deadline() == pytest.approx(p.PRESENCE_INTERVAL)
    assert hub.tick() == []  # not yet
    clock.advance(p.PRESENCE_INTERVAL)
    tick = hub.tick()
    assert recipients(tick) == {"ann"}  # bob's welcome already said it all
    assert frames_for(tick, "ann") == [{"type": "presence", "room": "lobby", "joined": ["bob"], "left": []}]
    assert hub.next_deadline() is None and hub.tick() == []


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
    chats = [a for a in actions if isinstance(a, Deliver) and '"chat"' in a.frame]
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
    settle(hub, clock)
    t0 = clock.monotonic()
    start = send(hub, "ann", type="typing", typing=True)
    assert frames_for(start, "bob") == [{"type": "typing", "room": "lobby", "typing": ["ann"]}]
    clock.advance(2.0)
    assert send(hub, "ann", type="typing", typing=True) == []  # refresh: no broadcast
    clock.advance(2.0)
    assert hub.tick() == []  # refreshed at t0+2, expires at t0+5
    assert hub.next_deadline() == pytest.approx(t0 + 5.0)
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


def test_disconnect_ends_typing_at_once_and_announces_leaving_at_the_tick(hub: Hub, clock: FakeClock) -> None:
    joined(hub, "ann", "bob")
    settle(hub, clock)
    send(hub, "ann", type="typing", typing=True)
    actions = hub.disconnect("ann")
    assert frames_for(actions, "bob") == [{"type": "typing", "room": "lobby", "typing": []}]
    assert hub.disconnect("ann") == []  # twice is harmless
    left = {"type": "presence", "room": "lobby", "joined": [], "left": ["ann"]}
    assert frames_for(settle(hub, clock), "bob") == [left]


def test_welcome_tells_who_is_typing_now(hub: Hub) -> None:
    joined(hub, "ann")
    send(hub, "ann", type="typing", typing=True)
    hub.connect("bob")
    assert frames_for(send(hub, "bob", type="join", name="bob"), "bob")[0]["typing"] == ["ann"]


def test_subscribe_needs_no_join_and_publish_reaches_subscribers(hub: Hub, clock: FakeClock) -> None:
    hub.open_channel("updates")
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
    assert frames_for(send(hub, "dash", type="unsubscribe", channel="updates"), "dash") == [
        {"type": "unsubscribed", "channel": "updates"}
    ]
    assert hub.publish("updates", {"price": 2}) == []
    hub.disconnect("dash")


def test_disconnect_unsubscribes(hub: Hub) -> None:
    hub.open_channel("updates")
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
    assert hub.kick("lobby", "Bob") == [Close("bob", p.CLOSE_KICKED, "removed by the instructor; you may join again")]
    assert hub.receive("bob", '{"type":"chat","content":"x"}') == []  # closing: ignored
    assert hub.kick("lobby", "nobody") == []
    hub.disconnect("bob")
    joined(hub, "bob")  # a kick is not a ban: Bob comes back


def test_a_ban_closes_with_4004_keeps_the_name_out_whatever_its_case_until_lifted(hub: Hub) -> None:
    joined(hub, "ann", "eve")
    assert hub.ban("lobby", "Eve") == [Close("eve", p.CLOSE_BANNED, "banned from this room by the instructor")]
    assert hub.receive("eve", '{"type":"chat","content":"x"}') == []
    hub.disconnect("eve")
    hub.connect("eve2")
    (refused,) = frames_for(send(hub, "eve2", type="join", name="EVE", room="lobby"), "eve2")
    assert refused["code"] == p.ErrorCode.BANNED and "banned the name 'EVE'" in refused["message"]
    assert hub.snapshot("lobby").banned == ("eve",) and hub.snapshot("lobby").online == ("ann",)
    (other,) = frames_for(send(hub, "eve2", type="join", name="Eve", room="other"), "eve2")
    assert other["type"] == "welcome"  # a ban is per room
    assert hub.ban("lobby", "Eve", banned=False) == []
    joined(hub, "eve")
    assert hub.ban("lobby", "Zed") == [] and hub.snapshot("lobby").banned == ("zed",)  # absent: banned ahead
    with pytest.raises(p.ProtocolError):
        hub.ban("lobby", "<b>")


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


# ---------------------------------------------------------------- input hygiene

SURROGATE = "\\ud800"  # as JSON spells it: valid JSON, not valid Unicode


def test_a_surrogate_chat_is_refused_and_never_poisons_the_room(hub: Hub, clock: FakeClock) -> None:
    joined(hub, "ann", "bob")
    settle(hub, clock)
    actions = hub.receive("ann", f'{{"type":"chat","content":"bad {SURROGATE}","id":"c1"}}')
    assert recipients(actions) == {"ann"}
    (error,) = frames_for(actions, "ann")
    assert (error["code"], error["field"], error["id"]) == ("bad-field", "content", "c1")
    assert hub.history("lobby") == [] and hub.snapshot("lobby").messages == 0
    # the room goes on: chats flow, seq has no gap, a later joiner gets a welcome that encodes
    assert frames_for(send(hub, "bob", type="chat", content="fine"), "ann")[0]["seq"] == 1
    hub.connect("cy")
    (welcome,) = [a for a in send(hub, "cy", type="join", name="cy") if isinstance(a, Deliver)]
    welcome.frame.encode("utf-8")
    assert [m["content"] for m in json.loads(welcome.frame)["history"]] == ["fine"]


@pytest.mark.parametrize(
    ("frame", "code", "field"),
    [
        (f'{{"type":"join","name":"x{SURROGATE}"}}', "name-invalid", "name"),
        (f'{{"type":"join","name":"x","room":"{SURROGATE}"}}', "room-invalid", "room"),
        (f'{{"type":"join","name":"x","since":0,"epoch":"{SURROGATE}"}}', "bad-field", "epoch"),
        (f'{{"type":"subscribe","channel":"{SURROGATE}"}}', "bad-field", "channel"),
        (f'{{"type":"chat","content":"hi","id":"{SURROGATE}"}}', "bad-field", "id"),
    ],
)
def test_every_bad_string_is_refused_naming_its_field_and_changes_nothing(
    hub: Hub, clock: FakeClock, frame: str, code: str, field: str
) -> None:
    joined(hub, "ann")
    hub.connect("x")
    if '"chat"' in frame:
        send(hub, "x", type="join", name="x")
    settle(hub, clock)
    rooms, online = hub.rooms(), hub.snapshot("lobby").online
    actions = hub.receive("x", frame)
    assert recipients(actions) == {"x"}
    (error,) = frames_for(actions, "x")
    assert (error["type"], error["code"], error["field"]) == ("error", code, field)
    assert "id" not in error
    assert hub.rooms() == rooms and hub.snapshot("lobby").online == online and hub.history("lobby") == []
    assert settle(hub, clock) == []  # no presence for a join that never happened


def test_a_muted_chat_error_names_its_id(hub: Hub) -> None:
    joined(hub, "ann")
    hub.mute("lobby", "ann")
    (error,) = frames_for(send(hub, "ann", type="chat", content="hi", id="m-1"), "ann")
    assert (error["code"], error["id"]) == ("muted", "m-1") and "field" not in error
    (error,) = frames_for(send(hub, "ann", type="chat", content="hi"), "ann")
    assert "id" not in error


def test_name_taken_names_the_field(hub: Hub) -> None:
    joined(hub, "ann")
    hub.connect("x")
    (error,) = frames_for(send(hub, "x", type="join", name="Ann"), "x")
    assert (error["code"], error["field"]) == ("name-taken", "name")


def test_a_frame_from_an_in_process_peer_with_a_raw_surrogate_is_refused(hub: Hub) -> None:
    joined(hub, "ann")
    (error,) = frames_for(hub.receive("ann", '{"type":"chat","content":"\ud800"}'), "ann")
    assert error["field"] == "content" and hub.history("lobby") == []


def test_the_server_side_api_refuses_bad_input_and_changes_nothing(hub: Hub) -> None:
    joined(hub, "ann")
    with pytest.raises(ValueError, match="channel"):
        hub.publish("a b", 1)
    with pytest.raises(ValueError, match="Unicode"):
        hub.publish("updates", {"text": "\ud800"})
    with pytest.raises(ValueError):
        hub.publish("updates", {1, 2})
    with pytest.raises(ValueError):
        hub.publish("updates", float("nan"))
    assert hub.channels() == []  # nothing opened by the failed publishes
    hub.open_channel("updates")
    hub.connect("dash")
    send(hub, "dash", type="subscribe", channel="updates")
    with pytest.raises(ValueError):
        hub.publish("updates", "\udc00")
    assert frames_for(hub.publish("updates", "ok"), "dash")[0]["seq"] == 1  # no seq used by a failure
    with pytest.raises(ValueError):
        hub.open_channel("\ud800")
    for bad_name in ["\ud800", "", "a" * 40, "<b>"]:
        with pytest.raises(p.ProtocolError) as info:
            hub.mute("lobby", bad_name)
        assert info.value.field == "name"
        with pytest.raises(p.ProtocolError):
            hub.kick("lobby", bad_name)
    with pytest.raises(p.ProtocolError) as info:
        hub.mute("\ud800", "ann")
    assert info.value.field == "room"
    with pytest.raises(ValueError):
        hub.kick("lobby", "ann", reason="\ud800")
    assert hub.rooms() == ["lobby"] and hub.snapshot("lobby").muted == ()
    assert hub.snapshot("lobby").online == ("ann",)


# ---------------------------------------------------------------- channels


def test_subscribing_to_an_unknown_channel_lists_the_channels_there_are(hub: Hub) -> None:
    hub.connect("dash")
    (error,) = frames_for(send(hub, "dash", type="subscribe", channel="scores"), "dash")
    assert error["code"] == "unknown-channel" and error["field"] == "channel" and error["channel"] == "scores"
    assert "no channel 'scores'" in error["message"] and "not opened any channel" in error["message"]
    hub.open_channel("updates")
    hub.publish("quiz", {"q": 1})  # publishing opens a channel too
    (error,) = frames_for(send(hub, "dash", type="subscribe", channel="scores"), "dash")
    assert "'updates', 'quiz'" in error["message"]
    assert hub.channels() == ["updates", "quiz"]
    hub.open_channel("scores")
    hub.open_channel("scores")  # twice is harmless
    assert types_for(send(hub, "dash", type="subscribe", channel="scores"), "dash") == ["subscribed"]


def test_unsubscribing_from_an_unknown_channel_is_refused_as_subscribing_is(hub: Hub) -> None:
    hub.open_channel("updates")
    hub.connect("dash")
    hub.connect("other")
    send(hub, "other", type="subscribe", channel="updates")
    subscribe = send(hub, "dash", type="subscribe", channel="nowhere")
    unsubscribe = send(hub, "dash", type="unsubscribe", channel="nowhere")
    assert recipients(unsubscribe) == {"dash"}
    assert frames_for(unsubscribe, "dash") == frames_for(subscribe, "dash") == [
        {
            "type": "error",
            "code": "unknown-channel",
            "message": "there is no channel 'nowhere'; the channels are: 'updates'",
            "field": "channel",
            "channel": "nowhere",
        }
    ]
    assert hub.channels() == ["updates"]  # refused: nothing opened
    # An open channel you are not subscribed to is still a plain "unsubscribed", and touches no one else's.
    assert frames_for(send(hub, "dash", type="unsubscribe", channel="updates"), "dash") == [
        {"type": "unsubscribed", "channel": "updates"}
    ]
    assert recipients(hub.publish("updates", 1)) == {"other"}


def test_an_unknown_channel_error_lists_a_bounded_number_of_channels(hub: Hub) -> None:
    for i in range(50):
        hub.open_channel(f"c{i}")
    hub.connect("dash")
    (error,) = frames_for(send(hub, "dash", type="subscribe", channel="nope"), "dash")
    assert "'c19'" in error["message"] and "'c20'" not in error["message"] and "and 30 more" in error["message"]


# ---------------------------------------------------------------- presence v2


def test_presence_is_coalesced_into_one_frame_per_interval(hub: Hub, clock: FakeClock) -> None:
    joined(hub, "ann")
    for name in ["bob", "cy", "dee"]:
        hub.connect(name)
        assert recipients(send(hub, name, type="join", name=name)) == {name}
        clock.advance(p.PRESENCE_INTERVAL / 10)
    hub.disconnect("cy")
    assert hub.next_deadline() == pytest.approx(p.PRESENCE_INTERVAL)  # from the first join
    clock.advance(p.PRESENCE_INTERVAL)
    tick = hub.tick()
    presence = {"type": "presence", "room": "lobby", "joined": ["bob", "dee"], "left": ["cy"]}
    (shared,) = tick  # one frame, one encoding, for everyone it fits
    assert isinstance(shared, Deliver) and json.loads(shared.frame) == presence
    # cy left after everyone's welcome: all of them need it
    assert set(shared.to) == {"ann", "bob", "dee"}
    assert hub.tick() == [] and hub.next_deadline() is None
    # a member who joined last is told nothing: her welcome said it all
    hub.connect("eve")
    send(hub, "eve", type="join", name="eve")
    assert recipients(settle(hub, clock)) == {"ann", "bob", "dee"}


def test_a_name_that_left_and_came_back_is_in_both_lists(hub: Hub, clock: FakeClock) -> None:
    joined(hub, "ann", "bob", "cy")
    settle(hub, clock)
    hub.disconnect("bob")
    hub.connect("bob2")
    send(hub, "bob2", type="join", name="bob")
    tick = settle(hub, clock)
    assert frames_for(tick, "ann") == [{"type": "presence", "room": "lobby", "joined": ["bob"], "left": ["bob"]}]
    assert frames_for(tick, "bob2") == []  # joined last
    assert hub.snapshot("lobby").online == ("ann", "cy", "bob")  # ann: remove bob, append bob


def test_who_joined_after_a_rejoin_gets_a_frame_of_its_own(hub: Hub, clock: FakeClock) -> None:
    # The shared frame would move bob behind dee in dee's list; dee gets what happened after her welcome.
    joined(hub, "ann", "bob")
    settle(hub, clock)
    hub.disconnect("bob")
    hub.connect("bob2")
    send(hub, "bob2", type="join", name="bob")
    hub.connect("dee")
    assert frames_for(send(hub, "dee", type="join", name="dee"), "dee")[0]["online"] == ["ann", "bob", "dee"]
    hub.connect("eve")
    send(hub, "eve", type="join", name="eve")
    tick = settle(hub, clock)
    assert frames_for(tick, "ann") == [
        {"type": "presence", "room": "lobby", "joined": ["bob", "dee", "eve"], "left": ["bob"]}
    ]
    assert frames_for(tick, "dee") == [{"type": "presence", "room": "lobby", "joined": ["eve"], "left": []}]
    assert frames_for(tick, "eve") == []
    assert hub.snapshot("lobby").online == ("ann", "bob", "dee", "eve")


def test_a_frame_goes_out_at_most_once_per_interval_and_rooms_are_separate(hub: Hub, clock: FakeClock) -> None:
    joined(hub, "ann")
    joined(hub, "zed", room="other")
    sent: list[float] = []
    for i in range(30):
        hub.connect(f"p{i}")
        send(hub, f"p{i}", type="join", name=f"p{i}")
        clock.advance(p.PRESENCE_INTERVAL / 4)
        for action in hub.tick():
            assert isinstance(action, Deliver) and "zed" not in action.to
            if "ann" in action.to:
                sent.append(clock.monotonic())
    assert sent and all(b - a >= p.PRESENCE_INTERVAL - 1e-9 for a, b in zip(sent, sent[1:], strict=False))
    assert len(sent) <= 30 / 4 + 1


def test_an_empty_room_sends_no_presence(hub: Hub, clock: FakeClock) -> None:
    joined(hub, "ann")
    assert hub.next_deadline() is None  # alone: nothing to tell anyone
    joined(hub, "bob")
    hub.disconnect("ann")
    hub.disconnect("bob")
    assert settle(hub, clock) == [] and hub.next_deadline() is None


def test_presence_interval_is_a_setting(clock: FakeClock) -> None:
    hub = Hub(clock=clock, presence_interval=0.0)
    joined(hub, "ann", "bob")
    assert hub.next_deadline() == clock.monotonic()
    assert frames_for(hub.tick(), "ann")[0]["joined"] == ["bob"]
    with pytest.raises(ValueError):
        Hub(presence_interval=-1)


# ---------------------------------------------------------------- epoch


def test_each_hub_has_a_fresh_epoch_and_each_room_keeps_its_own() -> None:
    a, b = Hub(), Hub()
    assert a.epoch != b.epoch and len(a.epoch) == 8
    assert Hub(epoch="run-7").epoch == "run-7"
    with pytest.raises(ValueError):
        Hub(epoch="")
    with pytest.raises(ValueError):
        Hub(epoch="\ud800")
    with pytest.raises(ValueError):
        Hub(epoch="e" * 65)
    joined(a, "ann", room="r1")
    assert a.room_epoch("r1") == a.epoch and a.room_epoch("nowhere") is None


def test_since_counts_only_in_the_rooms_epoch(hub: Hub) -> None:
    joined(hub, "ann")
    for i in range(3):
        send(hub, "ann", type="chat", content=f"m{i}")
    # same epoch: resume after seq 2
    hub.connect("b1")
    same = frames_for(send(hub, "b1", type="join", name="b1", since=2, epoch="e-test"), "b1")[0]
    assert [m["seq"] for m in same["history"]] == [3] and same["epoch"] == "e-test"
    # no epoch given (a v1 client): since is honoured
    hub.connect("b2")
    v1 = frames_for(send(hub, "b2", type="join", name="b2", since=2), "b2")[0]
    assert [m["seq"] for m in v1["history"]] == [3]
    # another epoch: since counted in a history that is gone; replay everything kept
    hub.connect("b3")
    other = frames_for(send(hub, "b3", type="join", name="b3", since=2, epoch="old-server"), "b3")[0]
    assert [m["seq"] for m in other["history"]] == [1, 2, 3] and other["history_complete"] is True
    assert other["epoch"] == "e-test"
    # another epoch, with more history than is kept: incomplete, as for a join without since
    for i in range(5):
        send(hub, "ann", type="chat", content=f"n{i}")
    hub.connect("b4")
    gone = frames_for(send(hub, "b4", type="join", name="b4", since=8, epoch="old-server"), "b4")[0]
    assert [m["seq"] for m in gone["history"]] == [4, 5, 6, 7, 8] and gone["history_complete"] is False


# ---------------------------------------------------------------- old names


def test_the_old_names_still_work_for_one_release_with_a_warning_at_the_callers_line() -> None:
    from wslab.core import channels, hub, room

    for old, new, home in [
        ("Send", Deliver, "hub.Deliver"),
        ("Action", HubAction, "hub.HubAction"),
        ("RECENT_IDS", room.RECENT_IDS, "room.RECENT_IDS"),
        ("LISTED_CHANNELS", channels.LISTED_CHANNELS, "channels.LISTED_CHANNELS"),
    ]:
        pattern = rf"wslab\.core\.hub\.{old} is deprecated and goes in wslab 0\.3: use wslab\.core\.{home}$"
        with pytest.warns(DeprecationWarning, match=pattern) as caught:
            assert getattr(hub, old) is new
        assert [w.filename for w in caught] == [__file__]
    with pytest.warns(DeprecationWarning, match="use wslab.core.hub.Deliver"):
        from wslab.core.hub import Send
    assert Send is Deliver
    with pytest.raises(AttributeError, match="no attribute 'Sned'"):
        hub.Sned  # noqa: B018
    # 0.1's flat module: the old path warns, and so does the old name, naming the new one.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        flat = importlib.import_module("wslab.hub")
    with pytest.warns(DeprecationWarning, match=r"wslab\.hub\.Send is deprecated .*use wslab\.core\.hub\.Deliver"):
        assert flat.Send is Deliver
    with pytest.warns(DeprecationWarning, match=r"use wslab\.core\.hub\.HubAction"):
        assert flat.Action is HubAction
    assert flat.RoomSnapshot is hub.RoomSnapshot is room.RoomSnapshot  # still the hub's, through the room
