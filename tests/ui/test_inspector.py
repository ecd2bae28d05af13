"""The frame inspector on real connections: a heartbeat's pings and pongs, a close handshake, its snapshot."""

from __future__ import annotations

import asyncio
import re

import pytest
from websockets.asyncio.client import connect

from wslab.client.websocket import WebSocket
from wslab.kernel.course_server import ServerHandle
from wslab.ui.inspector import FrameInspector
from wslab.ui.snapshots import snapshot

WAIT = 5.0


async def test_a_heartbeat_shows_ping_pong_then_the_stall_where_pongs_stop(server: ServerHandle) -> None:
    inspector = FrameInspector(title="heartbeat")
    ws = await connect(server.echo_url, logger=inspector.logger, ping_interval=0.1, ping_timeout=0.1,
                       close_timeout=0.1, open_timeout=WAIT)
    await inspector.wait_for("PONG", count=2, timeout=WAIT)
    assert await inspector.wait_for("PONG", count=1, timeout=0.01) is not None  # already seen: at once
    await asyncio.to_thread(server.stall)
    await asyncio.wait_for(ws.wait_closed(), WAIT)
    frames = inspector.model.frames()
    pings = [r for r in frames if r.kind == "PING"]
    pongs = [r for r in frames if r.kind == "PONG"]
    assert all(r.direction == "sent" and r.masked and r.length == 4 for r in pings)
    assert all(r.direction == "received" and not r.masked for r in pongs)
    assert len(pings) == len(pongs) + 1  # the last ping got no pong
    assert [p.preview for p in pings[: len(pongs)]] == [p.preview for p in pongs]  # a pong echoes its ping
    close = frames[-1]
    assert (close.kind, close.direction, close.close_code, close.close_reason) == (
        "CLOSE", "sent", 1011, "keepalive ping timeout")
    assert "         NOTE   no pong in time: the heartbeat gives up" in inspector.lines()


async def test_the_close_handshake_of_a_browser_style_socket(server: ServerHandle) -> None:
    inspector = FrameInspector(title="echo")
    ws = WebSocket(server.echo_url, logger=inspector.logger)
    await ws.wait_for("open", timeout=WAIT)
    ws.send("hello")
    await ws.next_message(timeout=WAIT)
    ws.close(1000, "Normal closure")
    await ws.wait_for("close", timeout=WAIT)
    assert inspector.lines(frames_only=True) == [
        "sent     TEXT        5 B  masked    'hello'",
        "received TEXT        5 B  unmasked  'hello'",
        "sent     CLOSE      16 B  masked    1000 'Normal closure'",
        "received CLOSE      16 B  unmasked  1000 'Normal closure'",
    ]
    states = [r.preview for r in inspector.rows if r.kind == "STATE"]
    assert states == ["connection is CONNECTING", "connection is OPEN", "connection is CLOSING",
                      "connection is CLOSED"]
    assert inspector.count("CLOSE") == 2 and inspector.count("CLOSE", "sent") == 1


async def test_its_snapshot_is_the_same_on_every_run_once_times_and_ping_ids_are_sanitized(
    server: ServerHandle,
) -> None:
    def sanitized() -> str:
        return re.sub(r"\+ \d+\.\d{3}s", "+ T", re.sub(r"(wslab-ping-id'>)[^<]*", r"\1ID", html))

    shown = []
    for _ in range(2):
        inspector = FrameInspector(title="twice")
        async with connect(server.echo_url, logger=inspector.logger, ping_interval=0.05, ping_timeout=1) as ws:
            await inspector.wait_for("PONG", timeout=WAIT)
            await ws.send("x")
            await ws.recv()
        html = snapshot(inspector)._repr_html_()
        shown.append(sanitized())
        assert repr(snapshot(inspector)) == "snapshot of FrameInspector(title='twice', side='client')"
    assert shown[0] == shown[1] and "PONG" in shown[0] and "1000" in shown[0]


async def test_frames_logged_in_another_thread_reach_the_table_in_the_notebooks_loop(
    server: ServerHandle,
) -> None:
    inspector = FrameInspector(title="server side", side="server")

    async def in_another_thread() -> None:
        inspector.model.logger.debug("= connection is %s", "OPEN")

    await asyncio.to_thread(asyncio.run, in_another_thread())
    # The row was scheduled on this loop (call_soon_threadsafe) before to_thread's own result was.
    assert "connection is OPEN" in inspector.table.value


async def test_waiting_for_frames_that_never_come_is_bounded() -> None:
    inspector = FrameInspector()
    with pytest.raises(TimeoutError, match="0 PONG frame"):
        await inspector.wait_for("PONG", timeout=0.05)
    with pytest.raises(ValueError, match="kind"):
        inspector.count("pong")


async def test_its_diagram_is_the_close_handshake_it_saw(server: ServerHandle) -> None:
    inspector = FrameInspector(title="close", handshake=False)
    ws = WebSocket(server.echo_url, logger=inspector.logger)
    await ws.wait_for("open", timeout=WAIT)
    ws.close(1000, "bye")
    await ws.wait_for("close", timeout=WAIT)
    assert repr(inspector.diagram(ready_state=True)) == (
        "close, in order: state CONNECTING (0); state OPEN (1); client sends CLOSE 1000 'bye', masked; "
        "state CLOSING (2); server sends CLOSE 1000 'bye'; state CLOSED (3); "
        "client sends TCP FIN: this side closed its half"
    )
