"""wslab.WebSocket against the browser's API (WHATWG WebSockets): one test per row of docs/browser-api.md."""

from __future__ import annotations

import asyncio
import contextlib
import re
import subprocess
import sys
import textwrap
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from websockets.asyncio.server import Server, ServerConnection, serve

import wslab
from support import ROOT
from support.notebooks import notebook
from wslab.client.websocket import (
    CLOSED,
    CLOSING,
    CONNECTING,
    OPEN,
    CloseEvent,
    DOMException,
    DOMSyntaxError,
    ErrorEvent,
    Event,
    InvalidAccessError,
    InvalidStateError,
    MessageEvent,
    WebSocket,
)
from wslab.kernel.course_server import ServerHandle

WAIT = 5.0


@contextlib.asynccontextmanager
async def local_server(handler: Callable[[ServerConnection], Awaitable[None]], **kwargs: Any) -> AsyncIterator[str]:
    """A websockets server on this test's loop, for behaviours the wslab server does not have."""
    server: Server = await serve(handler, "127.0.0.1", 0, **kwargs)
    try:
        yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), WAIT)


async def opened(url: str, *args: Any, **kwargs: Any) -> WebSocket:
    ws = WebSocket(url, *args, **kwargs)
    await ws.wait_for("open", WAIT)
    return ws


# ---------------------------------------------------------------- constants and readyState


def test_ready_state_constants() -> None:
    assert (WebSocket.CONNECTING, WebSocket.OPEN, WebSocket.CLOSING, WebSocket.CLOSED) == (0, 1, 2, 3)
    assert (CONNECTING, OPEN, CLOSING, CLOSED) == (0, 1, 2, 3)
    assert wslab.WebSocket is WebSocket


async def test_ready_state_goes_connecting_open_closing_closed(server: ServerHandle) -> None:
    ws = WebSocket(server.echo_url)
    seen = [("constructed", ws.ready_state)]
    ws.onopen = lambda event: seen.append(("open", ws.ready_state))
    ws.onclose = lambda event: seen.append(("close", ws.ready_state))
    await ws.wait_for("open", WAIT)
    ws.close()
    seen.append(("after close()", ws.ready_state))
    await ws.wait_for("close", WAIT)
    assert seen == [("constructed", 0), ("open", 1), ("after close()", 2), ("close", 3)]


def test_constructing_outside_an_event_loop_says_what_to_do() -> None:
    with pytest.raises(RuntimeError, match="running event loop"):
        WebSocket("ws://127.0.0.1:9/echo")


# ---------------------------------------------------------------- URL and protocols


@pytest.mark.parametrize(
    "url, match",
    [
        ("ftp://127.0.0.1/x", "scheme"),
        ("127.0.0.1:8000/echo", "scheme"),
        ("ws://127.0.0.1:8000/echo#top", "fragment"),
        ("ws:///echo", "host"),
        ("ws://127.0.0.1:99999/echo", "invalid"),
    ],
)
async def test_bad_url_raises_syntax_error_at_construction(url: str, match: str) -> None:
    with pytest.raises(DOMSyntaxError, match=match) as info:
        WebSocket(url)
    assert info.value.name == "SyntaxError" and isinstance(info.value, DOMException)


async def test_url_is_serialised_like_the_browser() -> None:
    ws = WebSocket("http://127.0.0.1:9")
    assert ws.url == "ws://127.0.0.1:9/"
    assert WebSocket("wss://example.invalid:443/a?b=1").url == "wss://example.invalid/a?b=1"
    ws.close()


@pytest.mark.parametrize("protocols", [["chat", "chat"], ["bad protocol"], [""], "a,b"])
async def test_bad_protocols_raise_syntax_error(protocols: Any) -> None:
    with pytest.raises(DOMSyntaxError):
        WebSocket("ws://127.0.0.1:9/", protocols)


async def test_protocol_and_extensions_are_what_the_server_chose() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.wait_closed()

    async with local_server(handler, subprotocols=["chat.v2", "chat.v1"]) as url:
        ws = WebSocket(url, ["chat.v1", "other"])
        assert (ws.protocol, ws.extensions) == ("", "")  # nothing before open
        await ws.wait_for("open", WAIT)
        assert ws.protocol == "chat.v1"
        assert ws.extensions.startswith("permessage-deflate")
        ws.close()
        await ws.wait_for("close", WAIT)


# ---------------------------------------------------------------- events and listeners


async def test_event_objects_and_listener_order(server: ServerHandle) -> None:
    ws = WebSocket(server.echo_url)
    calls: list[tuple[str, Any]] = []
    first = lambda e: calls.append(("listener 1", e.data))  # noqa: E731
    ws.add_event_listener("message", first)
    ws.add_event_listener("message", first)  # the same listener twice: ignored
    ws.onmessage = lambda e: calls.append(("onmessage", e.data))
    ws.add_event_listener("message", lambda e: calls.append(("listener 2", e.data)))
    ws.onmessage = lambda e: calls.append(("onmessage v2", e.data))  # keeps its place
    ws.add_event_listener("message", lambda e: calls.append(("once", e.data)), once=True)
    await ws.wait_for("open", WAIT)
    ws.send("one")
    event = await ws.wait_for("message", WAIT)
    assert isinstance(event, MessageEvent) and event.type == "message" and event.target is ws
    ws.remove_event_listener("message", first)
    ws.onmessage = None
    ws.send("two")
    await ws.wait_for("message", WAIT)
    assert calls == [
        ("listener 1", "one"),
        ("onmessage v2", "one"),
        ("listener 2", "one"),
        ("once", "one"),
        ("listener 2", "two"),
    ]
    ws.close(1000, "done")
    close = await ws.wait_for("close", WAIT)
    assert isinstance(close, CloseEvent) and (close.code, close.reason, close.was_clean) == (1000, "done", True)


async def test_text_and_binary_messages(server: ServerHandle) -> None:
    ws = await opened(server.echo_url)
    ws.send("ünïcode ✓")
    ws.send(b"\x00\xffbytes")
    ws.send(bytearray(b"ba"))
    assert await ws.next_message(WAIT) == "ünïcode ✓"
    assert await ws.next_message(WAIT) == b"\x00\xffbytes"
    assert await ws.next_message(WAIT) == b"ba"
    assert ws.binary_type == "bytes"
    with pytest.raises(TypeError, match="json.dumps"):
        ws.send({"type": "chat"})  # type: ignore[arg-type]
    ws.close()


async def test_callbacks_run_on_the_callers_loop_and_thread(server: ServerHandle) -> None:
    loop = asyncio.get_running_loop()
    where: list[tuple[bool, bool]] = []

    def record(event: Event) -> None:
        where.append((asyncio.get_running_loop() is loop, threading.current_thread() is threading.main_thread()))

    ws = WebSocket(server.echo_url)
    for type_ in ("open", "message", "close"):
        ws.add_event_listener(type_, record)
    await ws.wait_for("open", WAIT)
    ws.send("x")
    await ws.wait_for("message", WAIT)
    ws.close()
    await ws.wait_for("close", WAIT)
    assert where == [(True, True)] * 3


async def test_events_are_never_dispatched_inside_send_or_close(server: ServerHandle) -> None:
    ws = await opened(server.echo_url)
    fired: list[str] = []
    ws.onclose = lambda e: fired.append("close")
    ws.close()
    assert fired == []  # the browser queues a task; so do we
    await ws.wait_for("close", WAIT)
    assert fired == ["close"]


async def test_a_failing_listener_is_reported_and_the_others_still_run(server: ServerHandle) -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    ws = WebSocket(server.echo_url)
    ran: list[str] = []

    def broken(event: Event) -> None:
        raise ValueError("bug in my handler")

    async def later(event: Event) -> None:
        ran.append("async")

    ws.add_event_listener("open", broken)
    ws.add_event_listener("open", lambda e: ran.append("second"))
    ws.add_event_listener("open", later)
    await ws.wait_for("open", WAIT)
    ws.send("still works")
    assert await ws.next_message(WAIT) == "still works"
    assert ran == ["second", "async"]
    assert len(reported) == 1 and isinstance(reported[0]["exception"], ValueError)
    assert "'open' listener" in reported[0]["message"]
    ws.close()


# ---------------------------------------------------------------- send and bufferedAmount


async def test_send_while_connecting_raises_invalid_state_error(server: ServerHandle) -> None:
    ws = WebSocket(server.echo_url)
    with pytest.raises(InvalidStateError, match="CONNECTING") as info:
        ws.send("too early")
    assert info.value.name == "InvalidStateError" and ws.buffered_amount == 0
    await ws.wait_for("open", WAIT)
    ws.close()


async def test_buffered_amount_counts_bytes_until_sent(server: ServerHandle) -> None:
    ws = await opened(server.echo_url)
    ws.send("é" * 10)  # 20 bytes in UTF-8
    ws.send(b"12345")
    assert ws.buffered_amount == 25  # send() only queues; nothing left yet
    await ws.next_message(WAIT)
    await ws.next_message(WAIT)
    assert ws.buffered_amount == 0


async def test_send_after_close_is_discarded_but_counted(server: ServerHandle) -> None:
    ws = await opened(server.echo_url)
    ws.close()
    ws.send("lost")  # no exception, as in browsers
    assert ws.buffered_amount == 4
    await ws.wait_for("close", WAIT)
    ws.send(b"ab")
    assert ws.buffered_amount == 6
    with pytest.raises(ConnectionError):
        await ws.next_message(0.5)  # nothing was echoed


# ---------------------------------------------------------------- close


@pytest.mark.parametrize("code", [999, 1001, 1005, 2999, 5000])
async def test_close_code_rules(server: ServerHandle, code: int) -> None:
    ws = await opened(server.echo_url)
    with pytest.raises(InvalidAccessError, match="1000, or between 3000 and 4999") as info:
        ws.close(code)
    assert info.value.name == "InvalidAccessError" and ws.ready_state == OPEN
    ws.close(4999, "ok")
    close = await ws.wait_for("close", WAIT)
    assert (close.code, close.reason) == (4999, "ok")


async def test_close_reason_is_at_most_123_utf8_bytes(server: ServerHandle) -> None:
    ws = await opened(server.echo_url)
    with pytest.raises(DOMSyntaxError, match="123"):
        ws.close(3000, "é" * 62)  # 124 bytes
    assert ws.ready_state == OPEN
    ws.close(3000, "é" * 61 + "x")  # 123 bytes
    close = await ws.wait_for("close", WAIT)
    assert close.reason == "é" * 61 + "x" and close.was_clean


async def test_close_twice_is_a_no_op(server: ServerHandle) -> None:
    ws = await opened(server.echo_url)
    ws.close(3001)
    ws.close(3002)
    close = await ws.wait_for("close", WAIT)
    assert close.code == 3001
    ws.close()
    assert ws.ready_state == CLOSED


async def test_close_without_code_sends_no_status(server: ServerHandle) -> None:
    ws = await opened(server.echo_url)
    ws.close(None)
    close = await ws.wait_for("close", WAIT)
    assert close.code == 1005 and close.was_clean


async def test_close_while_connecting_fails_the_connection(server: ServerHandle) -> None:
    ws = WebSocket(server.echo_url)
    order: list[str] = []
    ws.onerror = lambda e: order.append("error")
    ws.onclose = lambda e: order.append(f"close {e.code} {e.was_clean}")
    ws.onopen = lambda e: order.append("open")
    ws.close()
    assert ws.ready_state == CLOSING
    await ws.wait_for("close", WAIT)
    assert order == ["error", "close 1006 False"] and ws.ready_state == CLOSED


async def test_server_close_gives_its_code_and_reason(server: ServerHandle) -> None:
    ws = await opened(server.echo_url)
    server.drop_all(1012, "restarting")
    close = await ws.wait_for("close", WAIT)
    assert (close.code, close.reason, close.was_clean) == (1012, "restarting", True)
    assert "error" not in ws._fired


async def test_abnormal_closure_fires_error_then_close_1006() -> None:
    async def handler(ws: ServerConnection) -> None:
        ws.transport.abort()  # the network vanished: no close frame

    async with local_server(handler) as url:
        ws = WebSocket(url)
        order: list[Any] = []
        ws.onerror = lambda e: order.append(e)
        ws.onclose = lambda e: order.append(e)
        close = await ws.wait_for("close", WAIT)
    assert isinstance(order[0], ErrorEvent) and order[1] is close
    assert (close.code, close.was_clean) == (1006, False)


async def test_connection_refused_fires_error_then_close_and_says_why() -> None:
    ws = WebSocket("ws://127.0.0.1:9/echo")  # the discard port: nothing listens
    error = await ws.wait_for("error", WAIT)
    assert isinstance(error, ErrorEvent) and "refused" in error.message
    close = await ws.wait_for("close", WAIT)
    assert (close.code, close.was_clean, ws.ready_state) == (1006, False, CLOSED)
    with pytest.raises(ConnectionError, match="refused"):
        await ws.wait_for("open", WAIT)


# ---------------------------------------------------------------- Python conveniences


async def test_wait_for_times_out_with_a_clear_message(server: ServerHandle) -> None:
    ws = await opened(server.echo_url)
    with pytest.raises(TimeoutError, match=r"no 'message' event within 0.1 s \(ready_state is OPEN"):
        await ws.wait_for("message", timeout=0.1)
    with pytest.raises(TimeoutError, match="no message within 0.1 s"):
        await ws.next_message(timeout=0.1)
    assert await ws.wait_for("open", 0.1) is await ws.wait_for("open", 0.1)  # already happened: returned at once
    ws.close()


async def test_next_message_after_close_raises_once_read(server: ServerHandle) -> None:
    ws = await opened(server.echo_url)
    ws.send("last")
    await ws.wait_for("message", WAIT)
    ws.close()
    await ws.wait_for("close", WAIT)
    assert await ws.next_message(WAIT) == "last"  # still readable
    with pytest.raises(ConnectionError, match="code 1000"):
        await ws.next_message(WAIT)


async def test_async_with_opens_and_closes(server: ServerHandle) -> None:
    async with WebSocket(server.echo_url) as ws:
        assert ws.ready_state == OPEN
        ws.send("hi")
        assert await ws.next_message(WAIT) == "hi"
    assert ws.ready_state == CLOSED


async def test_send_from_another_thread_is_handed_to_the_loop(server: ServerHandle) -> None:
    ws = await opened(server.echo_url)
    thread = threading.Thread(target=ws.send, args=("from a thread",))
    thread.start()
    assert await ws.next_message(WAIT) == "from a thread"
    thread.join(WAIT)
    ws.close()


# ---------------------------------------------------------------- where it runs: a script, a notebook


def test_works_in_a_plain_script_with_asyncio_run(server: ServerHandle) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio, json
        from wslab import WebSocket

        async def main():
            ws = WebSocket({server.echo_url!r})
            ws.onmessage = lambda event: print("got", event.data)
            await ws.wait_for("open", timeout=5)
            ws.send(json.dumps({{"type": "auth", "token": "abc"}}))
            await ws.wait_for("message", timeout=5)
            ws.close(1000, "Normal closure")
            event = await ws.wait_for("close", timeout=5)
            print("closed", event.code, event.reason, event.was_clean)

        asyncio.run(main())
        """
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ['got {"type": "auth", "token": "abc"}', "closed 1000 Normal closure True"]


@pytest.mark.slow
def test_works_in_a_notebook_cell_with_top_level_await(server: ServerHandle) -> None:
    nbclient = pytest.importorskip("nbclient")
    cells = [
        "import asyncio, threading\nfrom wslab import WebSocket\n"
        f"ws = WebSocket({server.echo_url!r})\n"
        "where = []\n"
        "ws.onmessage = lambda e: where.append((e.data, threading.current_thread() is threading.main_thread(),"
        " asyncio.get_running_loop() is kernel_loop))\n"
        "kernel_loop = asyncio.get_running_loop()",
        "event = await ws.wait_for('open', timeout=5)  # opened meanwhile: returned at once\n"
        "ws.send('hello')\nprint(await ws.next_message(timeout=5), ws.ready_state)",
        "ws.close()\nclose = await ws.wait_for('close', timeout=5)\nprint(close.code, close.was_clean, where)",
    ]
    nb = notebook(*cells)
    client = nbclient.NotebookClient(nb, timeout=30, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}})
    client.execute()
    out = ["".join(o.get("text", "") for o in cell.outputs) for cell in nb.cells]
    assert out[1] == "hello 1\n"
    assert out[2] == "1000 True [('hello', True, True)]\n"


def test_every_row_of_the_browser_api_table_names_a_test_that_exists() -> None:
    doc = (ROOT / "docs" / "browser-api.md").read_text(encoding="utf-8")
    rows = [
        line
        for line in doc.splitlines()
        if line.startswith("| ") and not line.startswith(("| Browser", "| Addition")) and "---" not in line
    ]
    assert len(rows) >= 30
    here = globals()
    for row in rows:
        named = re.findall(r"`(test_\w+)`", row.rsplit("|", 2)[-2])
        assert named, f"row without a test: {row}"
        for name in named:
            assert callable(here.get(name)), f"{name} (named in docs/browser-api.md) is not in this file"


async def test_a_logger_gets_websockets_own_frame_log(server: ServerHandle) -> None:
    import logging

    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.Logger("test-frames", logging.DEBUG)
    logger.addHandler(Keep())
    ws = WebSocket(server.echo_url, logger=logger)
    await ws.wait_for("open", timeout=WAIT)
    ws.send("hi")
    assert await ws.next_message(timeout=WAIT) == "hi"
    ws.close(1000, "bye")
    await ws.wait_for("close", timeout=WAIT)
    frames = [(r.msg[0], r.args[0].opcode.name) for r in records if r.msg in ("> %s", "< %s")]  # type: ignore[index]
    assert frames == [(">", "TEXT"), ("<", "TEXT"), (">", "CLOSE"), ("<", "CLOSE")]
