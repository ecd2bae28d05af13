"""The widgets' view models, sans I/O: frames and a FakeClock in, state out."""

from __future__ import annotations

import json

import pytest

from wslab.core.clock import FakeClock
from wslab.core.hub import Deliver, Hub
from wslab.core.protocol import TYPING_TIMEOUT
from wslab.ui.models import (
    ChatModel,
    DashboardModel,
    ReadyStateModel,
    ReconnectTimeline,
)


def chat(seq: int, sender: str = "Ada", content: str = "hi", **extra: object) -> dict:
    return {"type": "chat", "room": "lobby", "seq": seq, "sender": sender, "content": content,
            "timestamp": "2026-11-27T10:00:00.000Z", **extra}


# ------------------------------------------------------------------ ChatModel


def test_welcome_sets_room_online_typing_and_history() -> None:
    model = ChatModel()
    kind = model.apply(json.dumps({
        "type": "welcome", "name": "Bob", "room": "lobby", "online": ["Ada", "Bob"],
        "typing": ["Ada"], "seq": 2, "history": [chat(1), chat(2, "Bob", "yo")],
        "history_complete": True,
    }))
    assert kind == "welcome"
    assert (model.me, model.room, model.online, model.typing) == ("Bob", "lobby", ["Ada", "Bob"], ["Ada"])
    assert [(m.seq, m.sender, m.content) for m in model.messages] == [(1, "Ada", "hi"), (2, "Bob", "yo")]
    assert model.messages[0].time == "10:00:00"
    assert model.typing_text() == "Ada is typing…"
    assert model.last_seq == 2


def test_messages_are_shown_once_each_whatever_repeats_them() -> None:
    model = ChatModel(me="Bob")
    model.apply(chat(1, content="first"))
    model.apply(chat(3))
    model.apply(chat(3, content="again"))
    model.apply({"type": "welcome", "name": "Bob", "room": "lobby", "online": [], "typing": [],
                 "history": [chat(1), chat(2), chat(3)]})
    assert [m.seq for m in model.messages] == [1, 3]  # the session drops what it already showed
    assert model.messages[0].content == "first" and model.messages[1].content == "hi"


def test_a_new_epoch_keeps_the_old_messages_and_shows_the_new_history_once() -> None:
    model = ChatModel(me="Bob")
    model.apply({"type": "welcome", "name": "Bob", "room": "lobby", "epoch": "e1", "online": ["Bob"],
                 "typing": [], "seq": 2, "history": [chat(1), chat(2)]})
    model.apply({"type": "welcome", "name": "Bob", "room": "lobby", "epoch": "e2", "online": ["Bob"],
                 "typing": [], "seq": 1, "history": [chat(1, "Cy", "fresh")]})
    shown = [(m.epoch, m.seq, m.content) for m in model.messages]
    assert shown == [("e1", 1, "hi"), ("e1", 2, "hi"), ("e2", 1, "fresh")]
    assert model.notices == ["the server started over: its history begins again below"]
    model.apply(chat(2, "Cy", "next"))
    assert [m.content for m in model.messages][-1] == "next" and model.last_seq == 2


def test_typing_presence_pending_error_and_unknown_frames() -> None:
    model = ChatModel(me="Bob")
    model.apply({"type": "welcome", "name": "Bob", "room": "lobby", "online": ["Ada", "Bob", "Cy"],
                 "typing": [], "seq": 0, "history": []})
    model.apply({"type": "typing", "typing": ["Ada", "Bob", "Cy"]})
    assert model.typing_text() == "Ada and Cy are typing…"
    assert model.typing_text(me="nobody") == "Several people are typing…"
    model.apply({"type": "presence", "room": "lobby", "joined": ["Di"], "left": ["Cy"]})
    assert model.online == ["Ada", "Bob", "Di"] and "Cy" not in model.typing
    assert model.notices == ["Di joined", "Cy left"]
    model.session.unacked["m1"] = {"type": "chat", "content": "hello", "id": "m1"}
    assert model.pending == [("m1", "hello")]
    model.apply({"type": "ack", "id": "m1", "seq": 7})
    assert model.pending == []
    model.apply({"type": "error", "code": "bad-field", "message": "nope"})
    assert model.errors == [("bad-field", "nope")]
    assert model.apply({"type": "from-the-future"}) == "ignored"
    assert model.ignored == 1
    with pytest.raises(ValueError, match="JSON"):
        model.apply("{not json")


def test_chat_model_follows_a_real_hub() -> None:
    clock = FakeClock()
    hub = Hub(clock=clock, typing_timeout=TYPING_TIMEOUT)
    models = {"ada": ChatModel(), "bob": ChatModel()}

    def run(actions: list) -> None:
        for action in actions:
            if isinstance(action, Deliver):
                for conn in action.to:
                    models[conn].apply(action.frame)

    for conn in models:
        run(hub.connect(conn))
    run(hub.receive("ada", json.dumps({"type": "join", "name": "Ada"})))
    run(hub.receive("bob", json.dumps({"type": "join", "name": "Bob"})))
    clock.advance(1.0)
    run(hub.tick())  # presence is coalesced: it goes out on the hub's tick
    assert models["ada"].online == ["Ada", "Bob"] and models["ada"].notices == ["Bob joined"]
    run(hub.receive("ada", json.dumps({"type": "typing", "typing": True})))
    assert models["bob"].typing_text() == "Ada is typing…"
    assert models["ada"].typing_text() == ""
    run(hub.receive("ada", json.dumps({"type": "chat", "content": "<script>x</script>", "id": "a1"})))
    assert models["bob"].typing == []
    assert [(m.sender, m.content) for m in models["bob"].messages] == [("Ada", "<script>x</script>")]
    assert [(m.sender, m.id) for m in models["ada"].messages] == [("Ada", "a1")]
    assert models["bob"].online == ["Ada", "Bob"]


def test_model_observers_hear_each_change() -> None:
    model = ChatModel()
    seen: list[str] = []
    model.observe(seen.append)
    model.apply(chat(1))
    model.apply({"type": "nope"})
    model.apply({"type": "typing", "typing": []})
    assert seen == ["chat", "typing"]


# ------------------------------------------------------------------ TypingNotifier


# ------------------------------------------------------------------ ReadyStateModel


def test_ready_state_log() -> None:
    clock = FakeClock()
    model = ReadyStateModel(clock)
    assert model.name == "CONNECTING"
    clock.advance(0.05)
    model.record("open", state=1)
    model.record("message", "'hi'")
    model.record("close()", "1000 'bye'", state=2)
    clock.advance(0.01)
    model.record("close", "code=1000 clean", state=3)
    assert model.name == "CLOSED"
    assert model.lines() == [
        "open     -> OPEN",
        "message 'hi'  -> OPEN",
        "close() 1000 'bye'  -> CLOSING",
        "close   code=1000 clean  -> CLOSED",
    ]
    assert model.lines(times=True)[0].startswith("+ 0.050s")
    assert model.counts == {"open": 1, "message": 1, "close()": 1, "close": 1}
    with pytest.raises(ValueError, match="0 to 3"):
        model.record("oops", state=4)


# ------------------------------------------------------------------ ReconnectTimeline


def test_timeline_from_history_tuples_and_dicts() -> None:
    history = [
        (100.0, "connect", None),
        (101.0, "message", {"type": "welcome"}),
        (102.0, "disconnect", {"code": 1012, "reason": "server restarting"}),
        (102.0, "reconnecting", (1, 0.5)),
        (102.5, "reconnecting", {"attempt": 2, "delay": 1.0}),
        (103.5, "connect", None),
        (104.0, "disconnect", (1006,)),
    ]
    timeline = ReconnectTimeline.from_history(history)
    assert timeline.connects == [0.0, 3.5]
    assert timeline.delays == [0.5, 1.0]
    assert [a.attempt for a in timeline.attempts] == [1, 2]
    assert timeline.outages[0].duration == pytest.approx(1.5)
    assert timeline.outages[0].code == 1012
    assert timeline.down and timeline.outages[1].code == 1006
    assert timeline.summary() == (
        "2 connect(s), 2 disconnect(s), 2 reconnect attempt(s), 2 outage(s), still down"
    )
    assert timeline.other == [(1.0, "message")]


# ------------------------------------------------------------------ DashboardModel


def update(seq: int, price: float, channel: str = "updates") -> dict:
    return {"type": "update", "channel": channel, "seq": seq, "timestamp": "2026-11-27T10:00:00.000Z",
            "data": {"symbol": "WSLB", "price": price, "change": 0.5}}


def test_dashboard_keeps_a_window_and_counts_gaps() -> None:
    model = DashboardModel(window=3)
    assert model.apply({"type": "subscribed", "channel": "updates"}) == "subscribed"
    assert model.subscribed
    for seq, price in [(1, 100.0), (2, 101.0), (5, 99.0), (5, 99.0), (3, 1.0), (6, 98.5)]:
        model.apply(update(seq, price))
    assert model.apply(update(7, 1.0, channel="other")) == "ignored"
    assert model.received == 4 and model.missed == 2
    assert model.values == [101.0, 99.0, 98.5]
    assert model.latest is not None and model.latest.seq == 6
    assert repr(model) == "DashboardModel(channel='updates', received=4, missed=2)"
