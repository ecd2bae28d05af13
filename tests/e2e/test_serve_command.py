"""``wslab serve``: the standalone classroom server, driven as a real subprocess.

Every network connection goes to 127.0.0.1, even when the server binds
0.0.0.0 (which is what makes it "off loopback" and requires a token).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from argparse import Namespace

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from support import ROOT, WAIT, Peer
from wslab.classroom import serve as serve_mod
from wslab.classroom.banner import join_urls
from wslab.classroom.options import options_from_args
from wslab.server.config import is_loopback
from wslab.server.pages import chat_page

START_WAIT = 20.0
"""Bound on a subprocess starting (Python start-up on a busy 2-core machine)."""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


class ServeProcess:
    """``python -m wslab.cli serve ...`` in a subprocess, with its banner parsed."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self.port = 0
        self.token: str | None = None

    @classmethod
    async def start(cls, *args: str) -> ServeProcess:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "wslab.cli", "serve", "--port", "0", *args,
            cwd=ROOT, env=_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        self = cls(proc)
        try:
            await asyncio.wait_for(self._read_banner(), START_WAIT)
        except BaseException:
            await self.kill()
            raise
        return self

    async def _read_banner(self) -> None:
        assert self.proc.stdout is not None
        while True:
            raw = await self.proc.stdout.readline()
            if not raw:
                err = await self.proc.stderr.read() if self.proc.stderr else b""
                raise AssertionError(f"wslab serve ended early: {self.lines} {err.decode()}")
            line = raw.decode().rstrip("\n")
            self.lines.append(line)
            match = re.match(r"\s+Notebook .*?ws://127\.0\.0\.1:(\d+)/chat(?:\?token=(\S+))?", line)
            if match:
                self.port = int(match.group(1))
                self.token = match.group(2)
            if line.startswith("Press Ctrl-C"):
                assert self.port, f"no loopback chat URL printed: {self.lines}"
                return

    def url(self, query: str = "") -> str:
        return f"ws://127.0.0.1:{self.port}/chat{query}"

    async def stop(self, signum: int = signal.SIGINT) -> tuple[int, str]:
        """Send ``signum``; return the exit status and the rest of stdout."""
        self.proc.send_signal(signum)
        out, _ = await asyncio.wait_for(self.proc.communicate(), START_WAIT)
        return self.proc.returncode or 0, out.decode()

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await asyncio.wait_for(self.proc.wait(), START_WAIT)


async def _closed_with(peer: Peer) -> int | None:
    """Read until the server closes ``peer``; return the close code."""
    try:
        while True:
            await peer.recv()
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else None


# ---------------------------------------------------------------- off loopback: tokens


async def test_off_loopback_generates_and_requires_a_token() -> None:
    served = await ServeProcess.start("--host", "0.0.0.0")
    try:
        banner = "\n".join(served.lines)
        assert served.token, banner
        assert f"Token (generated, share it with the room): {served.token}" in banner
        assert f"?token={served.token}&room=lobby" in banner  # the browser link
        assert "ChatUI(" in banner and f"room='lobby', token='{served.token}')" in banner  # the notebook line

        tokenless = await Peer.open(served.url())
        assert await _closed_with(tokenless) == 4001
        assert tokenless.ws.close_reason and "token" in tokenless.ws.close_reason

        wrong = await Peer.open(served.url("?token=not-the-token"))
        assert await _closed_with(wrong) == 4001

        learner = await Peer.open(served.url(f"?token={served.token}"))
        welcome = await learner.join("Ada")
        assert welcome["online"] == ["Ada"]

        bearer = await Peer.open(served.url(), additional_headers={"Authorization": f"Bearer {served.token}"})
        await bearer.join("Bob")
        await learner.expect("presence", where=lambda m: "Bob" in m.get("joined", []))
    finally:
        await served.kill()


async def test_given_token_is_used_not_generated() -> None:
    served = await ServeProcess.start("--host", "0.0.0.0", "--token", "s3cret-word", "--room", "workshop")
    try:
        assert served.token == "s3cret-word"
        assert "  Token: the one given with --token." in served.lines
        assert "room=workshop" in "\n".join(served.lines)
        assert await _closed_with(await Peer.open(served.url("?token=s3cret-wor"))) == 4001
        learner = await Peer.open(served.url("?token=s3cret-word"))
        assert (await learner.join("Ada", room="workshop"))["room"] == "workshop"
    finally:
        await served.kill()


async def test_loopback_needs_no_token() -> None:
    served = await ServeProcess.start()
    try:
        assert served.token is None
        assert "  No token: only this machine can connect." in served.lines
        learner = await Peer.open(served.url())
        await learner.join("Ada")
    finally:
        await served.kill()


async def test_the_printed_notebook_line_joins_with_the_token() -> None:
    from wslab.ui import ChatUI

    served = await ServeProcess.start("--host", "0.0.0.0", "--token", "s3cret")
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
    served = await ServeProcess.start("--origin", "http://allowed.example:8888")
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
    served = await ServeProcess.start("--host", "0.0.0.0")
    try:
        peers = [await Peer.open(served.url(f"?token={served.token}")) for _ in range(3)]
        for i, peer in enumerate(peers):
            await peer.join(f"learner{i}")
        codes = asyncio.gather(*(_closed_with(peer) for peer in peers))
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
    done = subprocess.run(
        [sys.executable, "-m", "wslab.cli", "serve", *args],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=START_WAIT,
    )
    assert done.returncode == 2
    assert message in done.stderr


def test_port_in_use_exits_1() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "wslab.cli", "serve", "--port", str(port)],
            cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=START_WAIT,
        )
    assert done.returncode == 1
    assert f"port {port} on 127.0.0.1 is already taken" in done.stderr


def test_help_lists_the_options() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "wslab.cli", "serve", "--help"],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=START_WAIT,
    )
    assert done.returncode == 0
    for flag in ("--host", "--port", "--token", "--room", "--origin", "Ctrl-C"):
        assert flag in done.stdout


# ---------------------------------------------------------------- the page and static files


async def test_page_and_static_files_are_served() -> None:
    served = await ServeProcess.start("--room", "workshop")
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


# ---------------------------------------------------------------- pure helpers


def test_is_loopback() -> None:
    for host in ("127.0.0.1", "127.8.9.10", "::1", "localhost", "LOCALHOST", "[::1]"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "192.168.1.5", "10.0.0.1", "example.org", ""):
        assert not is_loopback(host), host


def test_options_off_loopback_always_have_a_token() -> None:
    args = Namespace(host="0.0.0.0", port=0, token=None, room="lobby", origin=["http://a.example:8888/"])
    options = options_from_args(args)
    assert options.token_generated and options.config.token and len(options.config.token) >= 20
    assert options.config.allowed_origins == ("http://a.example:8888",)
    loopback = options_from_args(Namespace(host="127.0.0.1", port=0, token=None, room="lobby", origin=[]))
    assert loopback.config.token is None and not loopback.token_generated


def test_join_urls_quote_the_token() -> None:
    urls = join_urls("127.0.0.1", 8765, "a b&c", "lobby")
    assert urls == [
        ("on this machine", "http://127.0.0.1:8765/?token=a%20b%26c&room=lobby", "ws://127.0.0.1:8765/chat?token=a%20b%26c")
    ]
    wildcard = join_urls("0.0.0.0", 8765, None, "lobby")
    assert wildcard[-1] == ("on this machine", "http://127.0.0.1:8765/?room=lobby", "ws://127.0.0.1:8765/chat")


def test_chat_page_names_its_room() -> None:
    assert 'data-room="my-room"' in chat_page("my-room")
    with pytest.raises(Exception, match="room must be"):
        chat_page('"><script>')


# ---------------------------------------------------------------- the same rules inside the kernel


async def test_start_classroom_in_the_kernel_has_the_same_rules_and_a_dashboard() -> None:
    from wslab.classroom.instructor_dashboard import InstructorDashboard

    handle = serve_mod.start_classroom("0.0.0.0", 0, room="workshop")
    try:
        token = handle.config.token
        assert token and handle.config.index_html and 'data-room="workshop"' in handle.config.index_html
        url = f"ws://127.0.0.1:{handle.port}/chat"
        assert await _closed_with(await Peer.open(url)) == 4001
        learner = await Peer.open(f"{url}?token={token}")
        await learner.join("Ada", room="workshop")
        dash = InstructorDashboard(handle, room="workshop", auto_refresh=None)
        assert list(dash.rows) == ["Ada"]
        dash.close()
        await learner.close()
    finally:
        handle.stop()


def test_start_classroom_refuses_bad_options() -> None:
    with pytest.raises(ValueError, match="is not an origin"):
        serve_mod.start_classroom("127.0.0.1", 0, origins=["localhost:8888"])


# ---------------------------------------------------------------- load (short run of python -m bench.load)


@pytest.mark.slow
def test_short_load_run_loses_nothing_and_drops_a_stalled_reader() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.load", "--learners", "50", "--seconds", "5", "--json"],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=110,
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
