"""The widgets, without a browser: set .value, call .click(), read what the view shows."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from wslab.core.clock import FakeClock
from wslab.core.session import ClientSession, Emit, Send
from wslab.ui import ChatUI, LiveDashboard, ReadyStateLight, TimelinePlot, timeline_svg, with_token
from wslab.ui.models import ReconnectTimeline

XSS = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>"]


class FakeClient:
    """A shell for tests: a real ClientSession, its Send actions recorded, its events dispatched.

    The test plays the server by calling message(frame); connected() opens the "connection".
    """

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.clock = clock or FakeClock()
        self.session = ClientSession(id_prefix="t")
        self.handlers: dict[str, list[Callable[..., Any]]] = {}
        self.sent: list[dict[str, Any]] = []
        self.subscribed: list[str] = []
        self.started = self.closed = False
        self.history: list[tuple[float, str, Any]] = []

    @property
    def state(self) -> str:
        return self.session.state

    @property
    def joined(self) -> tuple[str, str] | None:
        return (self.session.name, self.session.room) if self.session.name else None

    def on(self, event: str, fn: Callable[..., Any]) -> FakeClient:
        self.handlers.setdefault(event, []).append(fn)
        return self

    def emit(self, event: str, *args: Any) -> None:
        for fn in self.handlers.get(event, []):
            fn(*args)

    def do(self, actions: list[Any]) -> None:
        for action in actions:
            if isinstance(action, Send):
                self.sent.append(action.message)
            elif isinstance(action, Emit):
                self.emit(action.event, action.data)

    def connected(self) -> None:
        self.do(self.session.connected(self.clock.monotonic()))
        self.sent.clear()  # the join: not what these tests look at

    def message(self, frame: dict[str, Any]) -> None:
        self.do(self.session.on_frame(json.dumps(frame), self.clock.monotonic()))

    def tick(self) -> None:
        self.do(self.session.tick(self.clock.monotonic()))

    def send(self, frame: dict[str, Any]) -> None:
        self.do(self.session.send(frame, self.clock.monotonic()))

    def say(self, content: str) -> str:
        id_ = self.session.new_id()
        self.do(self.session.say(content, self.clock.monotonic(), id=id_))
        return id_

    def keystroke(self, text: str | None = None) -> None:
        self.do(self.session.keystroke(text, self.clock.monotonic()))

    def join(self, name: str, room: str) -> None:
        self.do(self.session.join(name, room, self.clock.monotonic()))

    def subscribe(self, channel: str) -> None:
        self.subscribed.append(channel)

    def start(self) -> None:
        self.started = True

    def close(self) -> None:
        self.closed = True


def welcome(name: str = "Bob", online: list[str] | None = None, history: list | None = None) -> dict:
    return {"type": "welcome", "name": name, "room": "lobby", "online": online or ["Ada", name],
            "typing": [], "seq": len(history or []), "history": history or [], "history_complete": True}


def chat(seq: int, sender: str, content: str, **extra: Any) -> dict:
    return {"type": "chat", "room": "lobby", "seq": seq, "sender": sender, "content": content,
            "timestamp": "2026-11-27T10:11:12.345Z", **extra}


def make_ui(**options: Any) -> tuple[ChatUI, FakeClient, FakeClock]:
    clock = FakeClock()
    client = FakeClient(clock)
    ui = ChatUI(None, "Bob", client=client, clock=clock, **options)
    client.connected()
    return ui, client, clock


# ------------------------------------------------------------------ ChatUI


def test_chat_ui_joins_and_shows_sender_content_and_time() -> None:
    ui, client, _ = make_ui()
    assert client.joined == ("Bob", "lobby") and client.started
    assert repr(ui) == "ChatUI(name='Bob', room='lobby')"
    assert "No messages yet" in ui.messages.value
    client.message(welcome(history=[chat(1, "Ada", "hi Bob")]))
    assert "connected" in ui.status.value and "Ada, Bob" in ui.status.value
    assert "10:11:12" in ui.messages.value and "<b" in ui.messages.value and "hi Bob" in ui.messages.value
    assert ui.transcript() == ["Ada: hi Bob"]
    assert ui.transcript(times=True) == ["[10:11:12] Ada: hi Bob"]


def test_typing_then_click_sends_typing_and_chat_with_an_id() -> None:
    ui, client, clock = make_ui()
    client.message(welcome())
    ui.input.value = "h"
    ui.input.value = "he"
    ui.input.value = "hello"
    assert client.sent == [{"type": "typing", "typing": True}]
    ui.button.click()
    assert client.sent[1] == {"type": "typing", "typing": False}
    sent_chat = client.sent[2]
    assert sent_chat["type"] == "chat" and sent_chat["content"] == "hello" and sent_chat["id"]
    assert ui.input.value == "" and len(client.sent) == 3
    assert "(sending…)" in ui.messages.value
    client.message(chat(1, "Bob", "hello", id=sent_chat["id"]))
    assert "(sending…)" not in ui.messages.value and ui.transcript() == ["Bob: hello"]
    ui.button.click()  # empty input: nothing sent
    assert len(client.sent) == 3


def test_typing_is_not_queued_while_offline_but_the_message_is() -> None:
    ui, client, _ = make_ui()
    client.message(welcome())
    client.do(client.session.disconnected(1012, "restart", 0.0))
    ui.input.value = "hi"
    ui.button.click()
    assert client.sent == [] and ui.pending == {"t-1": "hi"} and "(sending…)" in ui.messages.value
    client.connected()
    client.message(welcome())
    assert [f["type"] for f in client.sent] == ["chat"]


def test_typing_false_after_idle() -> None:
    ui, client, clock = make_ui()
    client.message(welcome())
    ui.input.value = "a"
    clock.advance(2.0)
    client.tick()
    assert client.sent == [{"type": "typing", "typing": True}, {"type": "typing", "typing": False}]


def test_typing_indicator_line() -> None:
    ui, client, _ = make_ui()
    client.message(welcome(online=["Ada", "Bob", "Cy", "Di"]))
    client.message({"type": "typing", "typing": ["Ada"]})
    assert "Ada is typing…" in ui.typing_line.value
    client.message({"type": "typing", "typing": ["Ada", "Bob", "Cy"]})
    assert "Ada and Cy are typing…" in ui.typing_line.value
    client.message({"type": "typing", "typing": ["Ada", "Cy", "Di"]})
    assert "Several people are typing…" in ui.typing_line.value
    client.message({"type": "typing", "typing": []})
    assert "typing" not in ui.typing_line.value


@pytest.mark.parametrize("evil", XSS)
def test_user_strings_render_literally(evil: str) -> None:
    ui, client, _ = make_ui()
    client.message(welcome())
    client.message(chat(1, "Ada", evil))
    client.message({"type": "error", "code": "bad-field", "message": evil})
    ui.input.value = evil
    ui.send()
    for html in (ui.messages.value, ui.status.value):
        assert evil not in html
        assert "&lt;" in html
    assert ui.transcript() == [f"Ada: {evil}"]


def test_token_goes_into_the_url_and_bad_names_are_refused() -> None:
    assert with_token("ws://h:1/chat", "s3cret") == "ws://h:1/chat?token=s3cret"
    assert with_token("ws://h:1/chat?token=old&x=1", "new") == "ws://h:1/chat?x=1&token=new"
    assert with_token("ws://h:1/chat", None) == "ws://h:1/chat"
    with pytest.raises(Exception, match="name"):
        ChatUI(None, "<script>", client=FakeClient())
    with pytest.raises(ValueError, match="URL"):
        ChatUI(None, "Bob")


def test_too_long_message_is_refused_with_a_note() -> None:
    ui, client, _ = make_ui()
    ui.input.value = "x" * 2001
    ui.button.click()
    assert [f for f in client.sent if f["type"] == "chat"] == []
    assert "bad-field" in ui.status.value and "2000" in ui.status.value


# ------------------------------------------------------------------ ReadyStateLight


class FakeWebSocket:
    def __init__(self) -> None:
        self.ready_state = 0
        self.listeners: dict[str, list[Callable[..., Any]]] = {}
        self.sent: list[Any] = []

    def add_event_listener(self, event: str, fn: Callable[..., Any]) -> None:
        self.listeners.setdefault(event, []).append(fn)

    def fire(self, event: str, payload: Any = None) -> None:
        for fn in self.listeners.get(event, []):
            fn(payload)

    def send(self, data: Any) -> None:
        if self.ready_state == 0:
            raise RuntimeError("Still in CONNECTING state")
        if self.ready_state == 1:
            self.sent.append(data)

    def close(self, code: int = 1000, reason: str = "") -> None:
        self.ready_state = 2


class Msg:
    def __init__(self, data: str) -> None:
        self.data = data


class Close:
    code, reason, was_clean = 1000, "done", True


def test_ready_state_light_follows_the_socket() -> None:
    ws = FakeWebSocket()
    light = ReadyStateLight(ws, clock=FakeClock())
    assert repr(light) == "ReadyStateLight(state=0 CONNECTING)"
    assert "CONNECTING" in light.light.value
    assert light.send("too early") == "raised RuntimeError"
    ws.ready_state = 1
    ws.fire("open")
    assert "OPEN" in light.light.value and light.state == "OPEN"
    assert light.send("hi") == "sent" and ws.sent == ["hi"]
    ws.fire("message", Msg("<script>x</script>"))
    assert "<script>" not in light.log_view.value and "&lt;script&gt;" in light.log_view.value
    light.close(1000, "done")
    assert light.state == "CLOSING"
    assert light.send("late") == "ignored: nothing was sent"
    ws.ready_state = 3
    ws.fire("close", Close())
    assert light.state == "CLOSED"
    assert light.lines() == [
        "new     WebSocket(url)  -> CONNECTING",
        "send()  'too early' in CONNECTING: raised RuntimeError  -> CONNECTING",
        "open     -> OPEN",
        "send()  'hi' in OPEN: sent  -> OPEN",
        "message '<script>x</script>'  -> OPEN",
        "close() 1000 'done'  -> CLOSING",
        "send()  'late' in CLOSING: ignored: nothing was sent  -> CLOSING",
        "close   code=1000 reason='done' was_clean=True  -> CLOSED",
    ]


async def test_ready_state_light_on_a_real_socket(server: Any) -> None:
    from wslab.client.websocket import WebSocket

    ws = WebSocket(server.echo_url)
    light = ReadyStateLight(ws)
    await ws.wait_for("open", timeout=5)
    assert light.state == "OPEN"
    assert light.send("ping") == "sent"
    assert await ws.next_message(timeout=5) == "ping"
    light.close(1000, "bye")
    await ws.wait_for("close", timeout=5)
    assert light.state == "CLOSED"
    assert light.lines()[-1] == "close   code=1000 reason='bye' was_clean=True  -> CLOSED"


# ------------------------------------------------------------------ TimelinePlot


def test_timeline_plot_draws_outages_attempts_and_connects() -> None:
    client = FakeClient()
    client.history = [(10.0, "connect", None)]
    plot = TimelinePlot(client)
    assert plot.timeline.summary().startswith("1 connect(s)")
    client.history += [(11.0, "disconnect", {"code": 1012}), (11.0, "reconnecting", (1, 0.25)),
                       (11.3, "reconnecting", {"attempt": 2, "delay": 0.5}), (11.9, "connect", None)]
    client.emit("connect")
    svg = plot.plot.value
    assert svg.startswith("<svg") and "outage (close 1012)" in svg
    assert "#1 0.25s" in svg and "#2 0.50s" in svg and svg.count("<circle") == 3
    assert "Delays: 0.25s, 0.50s" in plot.caption.value
    assert repr(plot) == "TimelinePlot(reconnects of a client)"
    assert "still down" not in plot.caption.value


def test_timeline_svg_of_nothing_is_an_empty_axis() -> None:
    svg = timeline_svg(ReconnectTimeline())
    assert svg.startswith("<svg") and "<circle" not in svg


# ------------------------------------------------------------------ LiveDashboard


def test_dashboard_subscribes_and_shows_updates() -> None:
    client = FakeClient()
    board = LiveDashboard(client=client)
    assert client.subscribed == ["updates"] and repr(board) == "LiveDashboard(channel='updates')"
    assert "waiting for the first update" in board.headline.value
    client.message({"type": "subscribed", "channel": "updates"})
    for seq, price, change in [(1, 100.5, 0.5), (2, 99.75, -0.75), (4, 101.0, 1.25)]:
        client.message({"type": "update", "channel": "updates", "seq": seq, "timestamp": "2026-11-27T10:00:00.000Z",
                        "data": {"symbol": "WSLB", "price": price, "change": change}})
    assert "101.0" in board.headline.value and "▲" in board.headline.value
    assert "subscribed" in board.headline.value
    assert "3 update(s), 1 missed" in board.footer.value
    assert "<polyline" in board.chart.value
    client.message({"type": "update", "channel": "updates", "seq": 5, "timestamp": "t",
                    "data": {"symbol": XSS[1], "price": 1, "change": -1}})
    assert XSS[1] not in board.headline.value and "▼" in board.headline.value


# ------------------------------------------------------------------ with a real server and client


async def test_chat_ui_on_a_real_server_sees_the_bot_type_and_answer(server: Any) -> None:
    from wslab.server.bots import add_bot

    add_bot(server, "Ada", think=0.05, typing_for=0.3)
    ui = ChatUI(server.chat_url, "Bob")
    await ui.wait_joined(timeout=5)
    assert "online: Ada, Bob" in ui.status.value
    ui.input.value = "hello <b>Ada</b>"
    ui.button.click()
    await ui.client.wait_for("typing", timeout=5, where=lambda m: m["typing"] == ["Ada"])
    assert "Ada is typing…" in ui.typing_line.value
    await ui.client.wait_for("chat", timeout=5, where=lambda m: m["sender"] == "Ada")
    assert ui.transcript() == ["Bob: hello <b>Ada</b>", "Ada: Hello Bob! I'm Ada, a bot living inside the server."]
    assert ui.pending == {} and "<b>Ada</b>" not in ui.messages.value
    assert "typing" not in ui.typing_line.value
    ui.leave()
    await ui.client.wait_for("closed", timeout=5)
    assert "closed" in ui.status.value


async def test_chat_ui_joins_a_server_that_wants_a_token(server_factory: Any) -> None:
    guarded = server_factory(token="s3cret")
    ui = ChatUI(guarded.chat_url, "Bob", token="s3cret")
    await ui.wait_joined(timeout=5)
    assert ui.model.online == ["Bob"]
    ui.leave()
    refused = ChatUI(guarded.chat_url, "Eve")
    await refused.client.wait_for("closed", timeout=5)
    assert "4001" in refused.status.value and refused.model.online == []


async def test_dashboard_on_a_real_server(server: Any) -> None:
    server.open_channel("scores")
    board = LiveDashboard(server.chat_url, channel="scores", value_key="points")
    await board.wait_subscribed(timeout=5)
    for points in (1, 2, 3):
        server.publish("scores", {"points": points})
    await board.wait_updates(3, timeout=5)
    assert board.model.values == [1.0, 2.0, 3.0] and "3 update(s), 0 missed" in board.footer.value
    board.stop()


async def test_running_the_cell_again_replaces_the_window_instead_of_clashing(server: Any) -> None:
    first = ChatUI(server.chat_url, "Bob")
    await first.wait_joined(timeout=5)
    second = ChatUI(server.chat_url, "Bob")  # the same cell, run again
    await second.wait_joined(timeout=5)
    assert first.client.state == "closed" and "closed" in first.status.value
    assert second.model.online == ["Bob"] and second.model.errors == []
    second.leave()


def test_chat_ui_after_a_server_restart_keeps_the_old_messages_and_shows_the_new_ones() -> None:
    ui, client, _ = make_ui()
    client.message({**welcome(history=[chat(1, "Ada", "before")]), "epoch": "e1"})
    client.do(client.session.disconnected(1012, "restart", 1.0))
    assert "offline" in ui.status.value
    client.connected()
    client.message({**welcome(history=[chat(1, "Cy", "after")]), "epoch": "e2"})
    assert ui.transcript() == ["Ada: before", "Cy: after"]  # seq 1 again, shown: a new epoch
    assert ui.model.notices[-1] == "the server started over: its history begins again below"
    before, after = ui.messages.value.index("before"), ui.messages.value.index("after")
    assert before < ui.messages.value.index("the server started over") < after
    client.message(chat(1, "Cy", "after"))  # the same message again: not shown twice
    assert ui.transcript() == ["Ada: before", "Cy: after"]
