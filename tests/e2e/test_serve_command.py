"""``wslab serve``: the standalone classroom server, driven as a real subprocess.

Every network connection goes to 127.0.0.1, even when the server binds
0.0.0.0 (which is what makes it "off loopback" and requires a token).
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from websockets.exceptions import InvalidStatus

from support import ROOT, WAIT, Peer, close_code
from support.serving import Served, run_serve, serve_env

# ---------------------------------------------------------------- off loopback: tokens


async def test_off_loopback_generates_and_requires_a_token() -> None:
    served = await Served.start("--host", "0.0.0.0")
    try:
        banner = "\n".join(served.lines)
        assert served.token, banner
        assert f"Token (generated, share it with the room): {served.token}" in banner
        assert f"?token={served.token}&room=lobby" in banner  # the browser link
        assert "ChatUI(" in banner and f"room='lobby', token='{served.token}')" in banner  # the notebook line

        tokenless = await Peer.open(served.url())
        assert await close_code(tokenless) == 4001
        assert tokenless.ws.close_reason and "token" in tokenless.ws.close_reason

        wrong = await Peer.open(served.url("?token=not-the-token"))
        assert await close_code(wrong) == 4001

        learner = await Peer.open(served.url(f"?token={served.token}"))
        welcome = await learner.join("Ada")
        assert welcome["online"] == ["Ada"]

        bearer = await Peer.open(served.url(), additional_headers={"Authorization": f"Bearer {served.token}"})
        await bearer.join("Bob")
        await learner.expect("presence", where=lambda m: "Bob" in m.get("joined", []))
    finally:
        await served.kill()


async def test_given_token_is_used_not_generated() -> None:
    served = await Served.start("--host", "0.0.0.0", "--token", "s3cret-word", "--room", "workshop")
    try:
        assert served.token == "s3cret-word"
        assert "  Token: the one given with --token." in served.lines
        assert "room=workshop" in "\n".join(served.lines)
        assert await close_code(await Peer.open(served.url("?token=s3cret-wor"))) == 4001
        learner = await Peer.open(served.url("?token=s3cret-word"))
        assert (await learner.join("Ada", room="workshop"))["room"] == "workshop"
    finally:
        await served.kill()


async def test_loopback_needs_no_token() -> None:
    served = await Served.start()
    try:
        assert served.token is None
        assert "  No token: only this machine can connect." in served.lines
        learner = await Peer.open(served.url())
        await learner.join("Ada")
    finally:
        await served.kill()


async def test_the_printed_notebook_line_joins_with_the_token() -> None:
    from wslab.ui import ChatUI

    served = await Served.start("--host", "0.0.0.0", "--token", "s3cret")
    try:
        bob = await Peer.open(served.url("?token=s3cret"))
        await bob.join("Bob")
        # What the banner tells learners to run, pointed at loopback:
        ui = ChatUI(f"ws://127.0.0.1:{served.port}/chat", "Ada", room="lobby", token="s3cret")
        await bob.expect("presence", where=lambda m: "Ada" in m.get("joined", []))
        ui.send("hello from a notebook")
        message = await bob.expect("chat")
        assert (message["sender"], message["content"]) == ("Ada", "hello from a notebook")
        ui.leave()
        await bob.expect("presence", where=lambda m: "Ada" in m.get("left", []))
        await bob.close()
    finally:
        await served.kill()


# ---------------------------------------------------------------- origins


async def test_origin_allow_list() -> None:
    served = await Served.start("--origin", "http://allowed.example:8888")
    try:
        with pytest.raises(InvalidStatus) as refused:
            await Peer.open(served.url(), origin="http://evil.example")
        assert refused.value.response.status_code == 403

        allowed = await Peer.open(served.url(), origin="http://allowed.example:8888")
        await allowed.join("Ada")
        same_origin = await Peer.open(served.url(), origin=f"http://127.0.0.1:{served.port}")
        await same_origin.join("Bob")
    finally:
        await served.kill()


# ---------------------------------------------------------------- stopping


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
async def test_stop_closes_every_client_with_1001_and_exits_0(signum: int) -> None:
    served = await Served.start("--host", "0.0.0.0")
    try:
        peers = [await Peer.open(served.url(f"?token={served.token}")) for _ in range(3)]
        for i, peer in enumerate(peers):
            await peer.join(f"learner{i}")
        codes = asyncio.gather(*(close_code(peer) for peer in peers))
        status, out = await served.stop(signum)
        assert await asyncio.wait_for(codes, WAIT) == [1001, 1001, 1001]
        assert status == 0, out
        assert "closing 3 chat client(s) with 1001" in out
        assert out.rstrip().endswith("wslab serve: stopped")
    finally:
        await served.kill()


# ---------------------------------------------------------------- bad options and ports


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--room", "no spaces please"], "--room: room must be 1 to 32"),
        (["--origin", "allowed.example"], "is not an origin"),
        (["--port", "70000"], "--port must be 0 to 65535"),
        (["--token", ""], "--token must be 1 to 256"),
    ],
)
def test_bad_options_exit_2_with_a_clear_message(args: list[str], message: str) -> None:
    done = run_serve(*args)
    assert done.returncode == 2
    assert message in done.stderr


def test_port_in_use_exits_1() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = run_serve("--port", str(port))
    assert done.returncode == 1
    assert f"port {port} on 127.0.0.1 is already taken" in done.stderr


def test_help_lists_the_options() -> None:
    done = run_serve("--help")
    assert done.returncode == 0
    for flag in ("--host", "--port", "--token", "--room", "--origin", "Ctrl-C"):
        assert flag in done.stdout


# ---------------------------------------------------------------- the page and static files


async def test_page_and_static_files_are_served() -> None:
    served = await Served.start("--room", "workshop")
    try:
        base = f"http://127.0.0.1:{served.port}"

        def get(path: str) -> tuple[int, str, str]:
            try:
                with urllib.request.urlopen(base + path, timeout=WAIT) as response:
                    return response.status, response.headers["Content-Type"], response.read().decode()
            except urllib.error.HTTPError as exc:
                return exc.code, exc.headers["Content-Type"], exc.read().decode()

        status, kind, page = await asyncio.to_thread(get, "/")
        assert (status, kind) == (200, "text/html; charset=utf-8")
        # relative, so the page also works below a prefix (jupyter-server-proxy's {base_url}proxy/PORT/)
        assert 'data-room="workshop"' in page and '<script src="static/chat.js">' in page
        status, kind, script = await asyncio.to_thread(get, "/static/chat.js")
        assert (status, kind) == (200, "text/javascript; charset=utf-8")
        assert "class WebSocketClient" in script and "innerHTML" not in script.replace("never innerHTML", "")
        status, kind, _ = await asyncio.to_thread(get, "/static/chat.css")
        assert (status, kind) == (200, "text/css; charset=utf-8")
        for bad in (
            "/static/..%2Fserve.py", "/static/../serve.py", "/static/.hidden.js", "/static/serve.py", "/static/nope.js",
        ):
            assert (await asyncio.to_thread(get, bad))[0] == 404, bad
    finally:
        await served.kill()


# ---------------------------------------------------------------- load (short run of bench/load.py)


@pytest.mark.slow
def test_short_load_run_loses_nothing_and_drops_a_stalled_reader() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "load.py"), "--learners", "50", "--seconds", "5", "--json"],
        cwd=ROOT, env=serve_env(), capture_output=True, text=True, timeout=110,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    load = report["load"]
    assert load["learners"] == 50 and load["messages"] > 0
    assert load["deliveries"] == load["messages"] * 50
    assert load["lost"] == 0 and load["duplicates"] == 0 and load["out_of_order"] == 0
    assert 0 < load["latency_p50_ms"] <= load["latency_p99_ms"]
    stall = report["slow_consumer"]
    assert stall["close_code"] == 4008
    assert stall["witness_lost"] == 0 and stall["witness_duplicates"] == 0
