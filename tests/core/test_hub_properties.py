"""Properties of the hub, with hypothesis: whatever clients send, the hub stays sound.

* every action the hub returns encodes to UTF-8 and is valid JSON;
* every frame gets its effect, or exactly one ``error`` back, or (flooding) a Close;
* after any sequence, a newcomer to any room still gets a ``welcome`` that encodes;
* presence deltas converge: every member's list, built from its ``welcome`` and the
  ``presence`` frames by the documented rule, equals the room's list, in join order.

No sockets, a FakeClock; each test is kept to a few seconds.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wslab.core import protocol as p
from wslab.core.clock import FakeClock
from wslab.core.hub import Close, Deliver, Hub, HubAction

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _refuse(name: str) -> Any:
    raise ValueError(f"{name} in a server frame")


def decode(frame: str) -> dict[str, Any]:
    """A server frame as a dict, after checking that it is UTF-8-encodable, strictly valid JSON."""
    frame.encode("utf-8")
    message = json.loads(frame, parse_constant=_refuse)
    assert isinstance(message, dict) and isinstance(message.get("type"), str), frame
    return message


def check_encodable(actions: list[HubAction]) -> None:
    for action in actions:
        if isinstance(action, Deliver):
            decode(action.frame)
        else:
            assert isinstance(action, Close)
            action.reason.encode("utf-8")


# ---------------------------------------------------------------- strategies

# Text that often holds what breaks naive code: lone surrogates, newlines, quotes, markup.
chars = st.one_of(
    st.characters(),
    st.characters(categories=["Cs"]),
    st.sampled_from(list("aZé山 _-.'\n\"<>\\\x00")),
)
text = st.text(chars, max_size=40)
names = st.sampled_from(["ann", "Ann", "bob", "cy", "Zoë", "li.wei"])
rooms = st.sampled_from(["lobby", "b-2", "r"])
channels = st.sampled_from(["updates", "scores", "nope"])
huge = st.sampled_from(["x" * (p.MAX_CONTENT_CHARS + 1), "é" * 70_000, "\ud800" * 100])
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    text,
    huge,
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
                      max_leaves=6)
field_values = {
    "name": st.one_of(names, values),
    "room": st.one_of(rooms, values),
    "since": st.one_of(st.integers(min_value=-2, max_value=8), values),
    "epoch": st.one_of(st.just("e-test"), st.just("other"), values),
    "content": st.one_of(st.sampled_from(["hi", "  ", "ok <b>"]), values),
    "id": st.one_of(st.sampled_from(["c1", "c2", 7]), values),
    "typing": st.one_of(st.booleans(), values),
    "channel": st.one_of(channels, values),
    "sender": values,
    "extra": values,
}
objects = st.fixed_dictionaries(
    {"type": st.one_of(st.sampled_from(["join", "chat", "typing", "subscribe", "unsubscribe", "shout"]), values)},
    optional={key: strategy for key, strategy in field_values.items()},
)


tricky = st.sampled_from(["hi", "  ", "ok <b>", "bad \ud800", "\udfff\ud800", "Zoë \U0001f600", "\x00"])


@st.composite
def frames(draw: st.DrawFn) -> str | bytes:
    kind = draw(st.sampled_from(["join", "chat", "chat", "object", "object", "ascii", "raw", "bytes", "no-type"]))
    if kind == "bytes":
        return draw(st.binary(max_size=20))
    if kind == "raw":
        not_objects = st.sampled_from(["[1,2]", '"chat"', "{", "null", "NaN", '{"type":"chat","content":NaN}'])
        return draw(st.one_of(text, not_objects))
    if kind == "join":  # mostly valid, so that chats have a room to reach
        obj: dict[str, Any] = {"type": "join", "name": draw(st.one_of(names, st.just("x\ud800"))),
                               "room": draw(st.one_of(rooms, st.just("\udc00")))}
        if draw(st.booleans()):
            obj["since"] = draw(st.integers(0, 8))
            obj["epoch"] = draw(st.sampled_from(["e-test", "other", "\ud800"]))
    elif kind == "chat":
        obj = {"type": "chat", "content": draw(st.one_of(tricky, text, huge))}
        if draw(st.booleans()):
            obj["id"] = draw(st.one_of(st.sampled_from(["c1", "c2", 7, "\ud800", ""]), text))
    else:
        obj = draw(objects)
        if kind == "no-type":
            obj.pop("type")
    if kind == "ascii" or draw(st.booleans()):  # lone surrogates spelled \udXXX, as JSON.stringify does
        return json.dumps(obj)
    # ensure_ascii=False: a str frame that holds the characters themselves (an in-process peer)
    return json.dumps(obj, ensure_ascii=False)


@st.composite
def steps(draw: st.DrawFn) -> tuple[str, Any]:
    kind = draw(st.sampled_from(["frame"] * 8 + ["reconnect", "tick", "api"]))
    if kind == "frame":
        return kind, (draw(st.integers(0, 3)), draw(frames()))
    if kind == "reconnect":
        return kind, draw(st.integers(0, 3))
    if kind == "tick":
        return kind, draw(st.sampled_from([0.0, 0.05, 0.1, 1.0, 6.0]))
    call = draw(st.sampled_from(["publish", "open_channel", "mute", "kick"]))
    return kind, (call, draw(st.one_of(channels, rooms, text)), draw(st.one_of(names, text)), draw(values))


# ---------------------------------------------------------------- the frame contract


def expect_effect(conn: str, message: p.ClientMessage, actions: list[HubAction]) -> None:
    """A frame that got no error: check it had its effect."""
    mine = [decode(a.frame) for a in actions if isinstance(a, Deliver) and conn in a.to]
    if isinstance(message, p.Join):
        assert actions and isinstance(actions[0], Deliver) and actions[0].to == (conn,)
        assert decode(actions[0].frame)["type"] == "welcome"
    elif isinstance(message, p.Chat):
        kinds = [m["type"] for m in mine]
        assert "chat" in kinds or kinds == ["ack"], kinds
    elif isinstance(message, p.Subscribe):
        assert mine == [{"type": "subscribed", "channel": message.channel}]
    elif isinstance(message, p.Unsubscribe):
        assert mine == [{"type": "unsubscribed", "channel": message.channel}]
    else:
        assert all(m["type"] == "typing" for m in mine)


def state(hub: Hub) -> Any:
    """What a frame may change: rooms, members, typing, history, channels."""
    return (
        [(r, hub.snapshot(r), hub.history(r), hub.room_epoch(r)) for r in hub.rooms()],
        hub.channels(),
        hub.next_deadline(),
    )


def check_frame(hub: Hub, conn: str, frame: str | bytes, actions: list[HubAction], before: Any) -> bool:
    """Check the contract for one frame; return False when the hub closed ``conn`` for flooding."""
    check_encodable(actions)
    closes = [a for a in actions if isinstance(a, Close)]
    if closes:
        assert actions == [Close(conn, p.CLOSE_POLICY_VIOLATION, "flooding: too many frames")]
        return False
    errors = [decode(a.frame) for a in actions if isinstance(a, Deliver) and decode(a.frame)["type"] == "error"]
    try:
        message: p.ClientMessage | None = p.parse_client_frame(frame)
        expected_code = None
    except p.ProtocolError as exc:
        message, expected_code = None, exc.code
    if errors:
        assert len(actions) == 1 and isinstance(actions[0], Deliver) and actions[0].to == (conn,), actions
        (error,) = errors
        assert set(error) <= {"type", "code", "message", "field", "id", "channel"}
        assert isinstance(error["message"], str) and error["message"]
        if expected_code is not None and error["code"] != p.ErrorCode.RATE_LIMITED:
            assert error["code"] == expected_code
        assert state(hub) == before, "an error changed the state"
        return True
    assert message is not None, f"{frame!r} is invalid but got no error"
    expect_effect(conn, message, actions)
    return True


@SETTINGS
@given(
    limits=st.sampled_from([(1000.0, 1000, 20), (2.0, 3, 4)]),
    script=st.lists(steps(), min_size=1, max_size=30),
)
def test_whatever_clients_send_every_frame_gets_its_effect_or_one_error_and_all_output_encodes(
    limits: tuple[float, int, int], script: list[tuple[str, Any]]
) -> None:
    rate, burst, strikes = limits
    clock = FakeClock()
    hub = Hub(clock=clock, rate=rate, burst=burst, flood_strikes=strikes, history_size=5, epoch="e-test")
    hub.open_channel("updates")
    generation = [0, 0, 0, 0]
    closed: set[str] = set()

    def conn_of(i: int) -> str:
        return f"c{i}.{generation[i]}"

    for i in range(4):
        hub.connect(conn_of(i))
    for kind, arg in script:
        if kind == "frame":
            i, frame = arg
            conn = conn_of(i)
            before = state(hub)
            actions = hub.receive(conn, frame)
            if conn in closed:
                assert actions == []
            elif not check_frame(hub, conn, frame, actions, before):
                closed.add(conn)
        elif kind == "reconnect":
            check_encodable(hub.disconnect(conn_of(arg)))
            generation[arg] += 1
            hub.connect(conn_of(arg))
        elif kind == "tick":
            clock.advance(arg)
            check_encodable(hub.tick())
        else:
            call, where, name, data = arg
            try:
                if call == "publish":
                    result = hub.publish(where, data)
                elif call == "open_channel":
                    hub.open_channel(where)
                    result = []
                elif call == "mute":
                    result = hub.mute(where, name)
                else:
                    result = hub.kick(where, name)
            except ValueError:
                continue
            check_encodable(result)

    clock.advance(10.0)
    check_encodable(hub.tick())
    for room in dict.fromkeys([*hub.rooms(), "lobby"]):
        hub.connect(("fresh", room))
        actions = hub.receive(("fresh", room), json.dumps({"type": "join", "name": "fresh_joiner", "room": room}))
        check_encodable(actions)
        assert decode(actions[0].frame)["type"] == "welcome"  # type: ignore[union-attr]
        for message in decode(actions[0].frame)["history"]:  # type: ignore[union-attr]
            assert p.is_valid_unicode(message["content"])


# ---------------------------------------------------------------- presence converges


@st.composite
def presence_scripts(draw: st.DrawFn) -> list[tuple[str, Any]]:
    ops = []
    for _ in range(draw(st.integers(1, 40))):
        kind = draw(st.sampled_from(["join", "join", "leave", "leave", "wait"]))
        if kind == "join":
            ops.append((kind, (draw(st.sampled_from(["ann", "Ann", "bob", "cy", "dee", "eve"])),
                               draw(st.sampled_from(["lobby", "lobby", "other"])))))
        elif kind == "leave":
            ops.append((kind, draw(st.integers(0, 50))))
        else:
            ops.append((kind, draw(st.sampled_from([0.0, 0.02, 0.05, 0.1, 0.3]))))
    return ops


def apply_presence(view: list[str], message: dict[str, Any]) -> list[str]:
    """The receiver's rule from docs/protocol.md: remove every name in left, then append the joined it lacks."""
    view = [n for n in view if n not in message["left"]]
    for name in message["joined"]:
        if name not in view:
            view.append(name)
    return view


@settings(max_examples=400, deadline=None)
@given(script=presence_scripts())
def test_presence_deltas_converge_to_every_rooms_list_in_join_order(script: list[tuple[str, Any]]) -> None:
    clock = FakeClock()
    hub = Hub(clock=clock, epoch="e-test")
    views: dict[str, list[str]] = {}  # conn -> what its client believes is online
    rooms: dict[str, str] = {}  # conn -> its room
    last_presence: dict[str, float] = {}
    live: list[str] = []
    counter = 0

    def deliver(actions: list[HubAction]) -> None:
        told: set[str] = set()
        for action in actions:
            assert isinstance(action, Deliver)
            message = decode(action.frame)
            for conn in action.to:
                if message["type"] == "welcome":
                    views[conn] = list(message["online"])
                elif message["type"] == "presence":
                    assert conn in views, "a presence frame before the welcome"
                    assert message["room"] == rooms[conn]
                    assert conn not in told, "two presence frames in one tick"
                    told.add(conn)
                    now = clock.monotonic()
                    assert now - last_presence.get(conn, -1.0) >= p.PRESENCE_INTERVAL - 1e-9
                    last_presence[conn] = now
                    assert sorted(message) == ["joined", "left", "room", "type"]
                    views[conn] = apply_presence(views[conn], message)

    for kind, arg in script:
        if kind == "join":
            name, room = arg
            counter += 1
            conn = f"k{counter}"
            hub.connect(conn)
            rooms[conn] = room
            actions = hub.receive(conn, json.dumps({"type": "join", "name": name, "room": room}))
            first = decode(actions[0].frame)  # type: ignore[union-attr]
            if first["type"] == "welcome":
                live.append(conn)
                assert first["online"] == list(hub.snapshot(room).online)
            else:
                assert first["code"] == "name-taken"
                hub.disconnect(conn)
            deliver(actions)
        elif kind == "leave" and live:
            conn = live.pop(arg % len(live))
            deliver(hub.disconnect(conn))
            views.pop(conn, None)
        elif kind == "wait":
            clock.advance(arg)
            deliver(hub.tick())
    clock.advance(p.PRESENCE_INTERVAL)
    deliver(hub.tick())
    assert hub.next_deadline() is None
    for conn in live:
        assert views[conn] == list(hub.snapshot(rooms[conn]).online), (conn, views[conn])
