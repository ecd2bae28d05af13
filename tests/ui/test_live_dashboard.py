"""The live dashboard: a channel's updates and the connection's state, on a stand-in client and on a real server."""

from __future__ import annotations

from typing import Any

from support.fakes import XSS, FakeClient
from wslab.ui.live_dashboard import LiveDashboard
from wslab.ui.snapshots import snapshot


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


async def test_dashboard_on_a_real_server(server: Any) -> None:
    server.open_channel("scores")
    board = LiveDashboard(server.chat_url, channel="scores", value_key="points")
    await board.wait_subscribed(timeout=5)
    for points in (1, 2, 3):
        server.publish("scores", {"points": points})
    await board.wait_updates(3, timeout=5)
    assert board.model.values == [1.0, 2.0, 3.0] and "3 update(s), 0 missed" in board.footer.value
    board.stop()
    await board.client.wait_for("closed", timeout=5)  # closed politely: the server's stop need not wait


class _Client:
    def __init__(self) -> None:
        self.handlers: dict[str, list] = {}

    def on(self, event: str, fn: object) -> _Client:
        self.handlers.setdefault(event, []).append(fn)
        return self

    def subscribe(self, channel: str) -> bool:
        return True

    def emit(self, event: str, data: object = None) -> None:
        for fn in self.handlers.get(event, []):
            fn(data)


def test_the_dashboard_shows_its_connection_state() -> None:
    client = _Client()
    board = LiveDashboard(client=client, channel="scores")
    assert "● connecting" in board.headline.value
    client.emit("connect")
    assert "● connected" in board.headline.value
    client.emit("message", {"type": "subscribed", "channel": "scores"})
    assert "subscribed" in board.headline.value
    client.emit("disconnect")
    assert "● offline, reconnecting…" in board.headline.value and "subscribed" not in board.headline.value
    client.emit("closed")
    assert "● closed" in board.headline.value
    assert "● closed" in snapshot(board)._repr_html_()
