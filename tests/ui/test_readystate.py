"""The readyState light: a WebSocket's state, live, and its event log, on a stand-in and on a real socket."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wslab.core.clock import FakeClock
from wslab.ui.readystate import ReadyStateLight


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
