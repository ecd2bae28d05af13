"""The in-kernel server: one call starts it, a second returns it, faults on purpose, scripts and kernels."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.protocol import State

import wslab
from support import ROOT, WAIT, Peer
from wslab.core import protocol as p
from wslab.kernel.course_server import ServerHandle
from wslab.server.chat_server import ChatServer
from wslab.server.config import ServerConfig


@pytest.fixture
def fresh() -> object:
    wslab.stop_all()
    yield
    wslab.stop_all()


def test_start_twice_returns_the_running_server(fresh: object) -> None:
    threads_before = threading.active_count()
    first = wslab.start_server()
    second = wslab.start_server()
    assert second is first
    assert wslab.start_server(port=first.port) is first
    assert threading.active_count() == threads_before + 1  # one thread, not two
    assert first.host == "127.0.0.1"
    assert first.echo_url == f"ws://127.0.0.1:{first.port}/echo"
    assert first.chat_url == f"ws://127.0.0.1:{first.port}/chat"
    assert wslab.running_servers() == [first]
    assert repr(first) == f"<wslab server running at ws://127.0.0.1:{first.port}>"
    first.stop()
    assert not first.running and wslab.running_servers() == []
    first.stop()  # twice is harmless
    assert threading.active_count() == threads_before


def test_other_options_while_running_is_a_clear_error(fresh: object) -> None:
    first = wslab.start_server(typing_timeout=2.0)
    with pytest.raises(ValueError, match="typing_timeout"):
        wslab.start_server(typing_timeout=3.0)
    replaced = wslab.start_server(typing_timeout=3.0, replace_running=True)
    assert replaced is not first and not first.running and replaced.running


def test_a_taken_fixed_port_is_a_clear_error(fresh: object) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(wslab.PortInUseError, match=f"port {port} on 127.0.0.1 is already taken"):
            wslab.start_server(port=port)
    assert wslab.running_servers() == []


def test_a_fixed_free_port_and_the_context_manager(fresh: object) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with wslab.start_server(port=port) as handle:
        assert handle.port == port and handle.running
    assert not handle.running


def test_start_is_fast_and_serves_while_the_calling_thread_blocks(fresh: object) -> None:
    handle = wslab.start_server()
    # The caller's thread is busy (as a cell doing time.sleep would be); another thread connects.
    result: list[str] = []

    def client() -> None:
        async def talk() -> str:
            async with connect(handle.echo_url, open_timeout=WAIT) as ws:
                await ws.send("served")
                return await asyncio.wait_for(ws.recv(), WAIT)  # type: ignore[return-value]

        result.append(asyncio.run(talk()))

    worker = threading.Thread(target=client)
    worker.start()
    worker.join(WAIT * 2)
    assert result == ["served"]


async def test_drop_all_closes_with_the_chosen_code(server: ServerHandle) -> None:
    peers = [await Peer.open(server.chat_url) for _ in range(3)]
    assert server.drop_all(code=4000, reason="lesson") == 3
    for peer in peers:
        with pytest.raises(ConnectionClosed):
            await peer.recv()
        assert (peer.ws.close_code, peer.ws.close_reason) == (4000, "lesson")


async def test_outage_goes_down_and_comes_back_on_the_same_port(server: ServerHandle) -> None:
    peer = await Peer.open(server.echo_url)
    port = server.port
    server.outage(0.3)
    with pytest.raises(ConnectionClosed):
        await peer.recv()
    assert peer.ws.close_code == p.CLOSE_SERVICE_RESTART
    with pytest.raises(OSError):
        await connect(server.echo_url, open_timeout=WAIT)  # refused while down
    await asyncio.to_thread(server.wait_up, WAIT)
    assert server.port == port
    async with connect(server.echo_url, open_timeout=WAIT) as ws:
        await ws.send("back")
        assert await asyncio.wait_for(ws.recv(), WAIT) == "back"


async def test_history_and_its_epoch_survive_an_outage_but_not_a_new_server(
    server: ServerHandle, server_factory: Any
) -> None:
    ann = await Peer.open(server.chat_url)
    epoch = (await ann.join("ann"))["epoch"]
    await ann.send({"type": "chat", "content": "before"})
    await ann.expect("chat")
    await asyncio.to_thread(server.outage, 0.1, wait=True)
    bob = await Peer.open(server.chat_url)
    welcome = await bob.join("bob")
    assert [m["content"] for m in welcome["history"]] == ["before"]
    assert welcome["epoch"] == epoch  # the same history goes on
    await bob.close()
    other = server_factory()
    cy = await Peer.open(other.chat_url)
    fresh = await cy.join("cy", since=1, epoch=epoch)
    assert fresh["epoch"] != epoch and fresh["history"] == []  # a new history: since is ignored
    await cy.close()


async def test_open_channel_and_the_api_from_another_thread_refuse_bad_input(server: ServerHandle) -> None:
    dash = await Peer.open(server.chat_url)
    server.open_channel("scores")
    await dash.send({"type": "subscribe", "channel": "scores"})
    await dash.expect("subscribed")
    for call in (
        lambda: server.open_channel("two words"),
        lambda: server.publish("scores", {"bad": "\ud800"}),
        lambda: server.publish("scores", {1, 2}),
        lambda: server.kick("lobby", "\ud800"),
        lambda: server.mute("lobby", ""),
    ):
        with pytest.raises(ValueError):
            await asyncio.to_thread(call)
    server.publish("scores", 1)  # nothing was published by the failures: seq 1
    assert (await dash.expect("update"))["seq"] == 1
    await dash.close()


def test_the_demo_channel_is_open_from_the_start(fresh: object) -> None:
    handle = wslab.start_server(update_interval=5.0)
    assert handle.server.hub.channels() == ["updates"]
    handle.stop()
    assert ChatServer(ServerConfig(update_interval=None)).hub.channels() == []


async def test_refuse_new_and_close_on_open(server: ServerHandle) -> None:
    server.refuse_new()
    with pytest.raises(InvalidStatus) as info:
        await connect(server.echo_url, open_timeout=WAIT)
    assert info.value.response.status_code == 503
    server.refuse_new(False)
    server.close_on_open(4321)
    async with connect(server.echo_url, open_timeout=WAIT) as ws:
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), WAIT)
        assert ws.close_code == 4321
    server.close_on_open(None)
    async with connect(server.echo_url, open_timeout=WAIT) as ws:
        await ws.send("ok")
        assert await asyncio.wait_for(ws.recv(), WAIT) == "ok"


def test_calls_into_a_stopped_server_say_so(fresh: object) -> None:
    handle = wslab.start_server()
    handle.stop()
    with pytest.raises(RuntimeError, match="not running"):
        handle.drop_all()


def run_script(code: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT,
    )


def test_works_from_a_plain_script_and_exits_promptly() -> None:
    done = run_script(
        """
        import asyncio, wslab
        from websockets.asyncio.client import connect
        server = wslab.start_server()
        async def main():
            async with connect(server.echo_url) as ws:
                await ws.send("from a script")
                print(await asyncio.wait_for(ws.recv(), 5))
        wslab.aio.run(main()) if hasattr(wslab, "aio") else asyncio.run(main())
        # no stop(): the daemon thread must not keep the interpreter alive
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "from a script"
    assert done.stderr == ""


CLIENT = """
import asyncio, json, sys
from websockets.asyncio.client import connect
async def main(url):
    async with connect(url) as ws:
        await ws.send(json.dumps({"type": "join", "name": "outside"}))
        welcome = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert welcome["type"] == "welcome", welcome
        await ws.send(json.dumps({"type": "chat", "content": "hello from another process"}))
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if message["type"] == "chat" and message["sender"] == "kernel":
                print("got:", message["content"])
                return
asyncio.run(main(sys.argv[1]))
"""


@pytest.mark.slow
def test_a_second_process_chats_with_a_server_started_in_a_notebook_kernel(tmp_path: Path) -> None:
    jupyter_client = pytest.importorskip("jupyter_client")
    manager = jupyter_client.KernelManager(kernel_name="python3")
    manager.start_kernel(cwd=str(ROOT), env={**os.environ, "PYTHONPATH": str(ROOT)})
    kc = manager.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)

        def execute(code: str, timeout: float = 20) -> str:
            out: list[str] = []

            def output(msg: dict) -> None:  # type: ignore[type-arg]
                if msg["msg_type"] == "stream":
                    out.append(msg["content"]["text"])
                elif msg["msg_type"] == "error":
                    out.append("ERROR " + msg["content"]["ename"] + ": " + msg["content"]["evalue"])

            reply = kc.execute_interactive(code, timeout=timeout, output_hook=output)
            assert reply["content"]["status"] == "ok", "".join(out)
            return "".join(out)

        url = execute("import wslab\nserver = wslab.start_server()\nprint(server.chat_url)").strip()
        assert url.startswith("ws://127.0.0.1:")
        assert execute("print(wslab.start_server() is server)").strip() == "True"
        # In the kernel, with top-level await: join, wait for the outsider, answer it.
        execute(
            textwrap.dedent(
                """
                import asyncio, json
                from websockets.asyncio.client import connect
                ws = await connect(server.chat_url)
                await ws.send(json.dumps({"type": "join", "name": "kernel"}))
                await asyncio.wait_for(ws.recv(), 5)
                """
            )
        )
        script = tmp_path / "client.py"
        script.write_text(CLIENT)
        outsider = subprocess.Popen(
            [sys.executable, str(script), url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            heard = execute(
                textwrap.dedent(
                    """
                    while True:
                        m = json.loads(await asyncio.wait_for(ws.recv(), 15))
                        if m["type"] == "chat":
                            print(m["sender"], "said:", m["content"])
                            break
                    await ws.send(json.dumps({"type": "chat", "content": "hello from the kernel"}))
                    """
                ),
                timeout=30,
            )
            assert heard.strip() == "outside said: hello from another process"
            stdout, stderr = outsider.communicate(timeout=20)
        finally:
            outsider.kill()
        assert outsider.returncode == 0, stderr
        assert stdout.strip() == "got: hello from the kernel"
    finally:
        kc.stop_channels()
        process = manager.provisioner.process  # type: ignore[union-attr]
        manager.shutdown_kernel(now=False)
    # Kernel shutdown was not held up by the server thread: the kernel exited by itself (0)
    # instead of being killed (-9) when jupyter_client's grace period ran out.
    assert not manager.is_alive()
    assert process.returncode == 0


def test_a_server_off_loopback_needs_a_token(fresh: object) -> None:
    with pytest.raises(ValueError, match="needs a token"):
        wslab.start_server(host="0.0.0.0")
    with pytest.raises(ValueError, match="must not be empty"):
        wslab.ServerConfig(token="")
    assert wslab.running_servers() == []

# ---------------------------------------------------------------- server.stall(): half-open connections
# A stalled connection keeps its TCP connection open; the server stops reading it (so it
# answers neither frames nor pings) and sends it nothing. A client with keepalive pings
# notices within ``ping_interval + ping_timeout``; a client without them notices nothing at
# all within the same bound. Connections opened after the stall are served.

PING_INTERVAL = 0.2
PING_TIMEOUT = 0.3
BOUND = 1.5
"""Seconds within which a heartbeat (0.2 s + 0.3 s, then a 0.3 s close timeout) notices; without one nothing does."""


async def test_a_heartbeat_notices_a_stalled_server_within_its_bound(server: ServerHandle) -> None:
    ws = await connect(
        server.echo_url, ping_interval=PING_INTERVAL, ping_timeout=PING_TIMEOUT, close_timeout=0.3, open_timeout=WAIT
    )
    await ws.send("before")
    assert await asyncio.wait_for(ws.recv(), WAIT) == "before"
    assert server.stall() == 1
    start = time.monotonic()
    await ws.send("into the void")
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(ws.recv(), BOUND)  # the echo never comes; the ping times out
    detected = time.monotonic() - start
    assert ws.protocol.close_sent is not None and ws.protocol.close_sent.code == 1011  # "keepalive ping timeout"
    assert ws.close_code == 1006  # abnormal closure: no close frame came back
    assert ws.protocol.close_rcvd is None, "a stalled server sends no close frame"
    assert detected < BOUND


async def test_without_keepalive_nothing_notices_a_stalled_server(server: ServerHandle) -> None:
    ws = await connect(server.echo_url, ping_interval=None, open_timeout=WAIT)
    assert server.stall() == 1
    await ws.send("hello?")  # TCP accepts the bytes: no error
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ws.recv(), BOUND)
    assert ws.state is State.OPEN, "without a heartbeat the client still believes the connection is open"
    ws.transport.abort()


async def test_a_stalled_chat_connection_hears_nothing_and_others_are_served(server: ServerHandle) -> None:
    ada = await Peer.open(server.chat_url, ping_interval=None)
    await ada.join("Ada")
    assert server.stall() == 1
    assert server.server.stalled == 1
    bob = await Peer.open(server.chat_url)
    welcome = await bob.join("Bob")
    assert welcome["online"] == ["Ada", "Bob"]  # Ada is still in the room: the server cannot tell
    await bob.send({"type": "chat", "content": "anyone there?"})
    await bob.expect("chat", where=lambda m: m["content"] == "anyone there?")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ada.ws.recv(), 0.5)  # a stalled connection is sent nothing
    assert server.stall() == 1, "stalling again stalls only the connections not stalled yet (Bob's)"
    ada.ws.transport.abort()
    bob.ws.transport.abort()  # stalled too: a close handshake would wait for an answer that never comes


def test_stall_on_a_stopped_server_says_so(server: ServerHandle) -> None:
    server.stop()
    with pytest.raises(RuntimeError, match="not running"):
        server.stall()


async def test_a_stalled_server_still_stops_within_its_bound(server: ServerHandle) -> None:
    ws = await connect(server.echo_url, ping_interval=None, open_timeout=WAIT)
    server.stall()
    start = time.monotonic()
    await asyncio.to_thread(server.stop, WAIT)
    assert time.monotonic() - start < server.config.close_timeout + 2.0
    assert not server.running
    ws.transport.abort()
