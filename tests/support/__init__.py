"""Shared test helpers: bounded waits, a raw JSON chat peer, a link that can be cut, the README's commands.

Nothing here sleeps to synchronise: every wait is for an event, with a timeout
(:func:`until` polls, bounded, what sends no event: another process's state).
The other helpers are :mod:`support.serving` (``wslab serve`` in a subprocess),
:mod:`support.lab` (JupyterLab and a page driving it), :mod:`support.notebooks`
(a notebook's definitions) and :mod:`support.fakes` (stand-ins the widgets drive).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from wslab.kernel.link import relay

ROOT = Path(__file__).resolve().parents[2]
"""The course repository's root."""

DATA = ROOT / "tests" / "data"
"""Transcripts (``transcripts/``) and the grader's corpus of submissions (``submissions/``)."""

WAIT = 5.0
"""Default bound, in seconds, on any single wait in a test."""


class Peer:
    """A raw WebSocket client speaking the chat protocol, for tests."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []

    @classmethod
    async def open(cls, url: str, **kwargs: Any) -> Peer:
        ws = await asyncio.wait_for(connect(url, open_timeout=WAIT, **kwargs), WAIT)
        return cls(ws)

    async def send(self, message: dict[str, Any] | str | bytes) -> None:
        frame = json.dumps(message) if isinstance(message, dict) else message
        await asyncio.wait_for(self.ws.send(frame), WAIT)

    async def recv(self, timeout: float = WAIT) -> dict[str, Any]:
        frame = await asyncio.wait_for(self.ws.recv(), timeout)
        message = json.loads(frame)
        self.seen.append(message)
        return message

    async def expect(
        self, type_: str, timeout: float = WAIT, where: Callable[[dict[str, Any]], bool] | None = None
    ) -> dict[str, Any]:
        """Receive until a message of ``type_`` (matching ``where``) arrives; fail on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError(f"no {type_!r} message within {timeout} s; saw {self.seen[-5:]}")
            try:
                message = await self.recv(left)
            except TimeoutError:
                raise AssertionError(f"no {type_!r} message within {timeout} s; saw {self.seen[-5:]}") from None
            if message.get("type") == type_ and (where is None or where(message)):
                return message

    async def join(self, name: str, room: str = "lobby", **extra: Any) -> dict[str, Any]:
        await self.send({"type": "join", "name": name, "room": room, **extra})
        return await self.expect("welcome")

    async def nothing_more(self, within: float = 0.2) -> None:
        """Assert that no message arrives within ``within`` seconds."""
        try:
            message = await self.recv(within)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected message {message}")

    async def close(self) -> None:
        await asyncio.wait_for(self.ws.close(), WAIT)


async def joined(url: str, *names: str) -> list[Peer]:
    """A peer for each of ``names``, each joined to the lobby at ``url``, in order."""
    peers = []
    for name in names:
        peer = await Peer.open(url)
        await peer.join(name)
        peers.append(peer)
    return peers


async def closed_with(peer: Peer) -> tuple[int | None, str]:
    """Read until the server closes ``peer``; return the close code and reason."""
    try:
        while True:
            await peer.recv()
    except ConnectionClosed as exc:
        return (exc.rcvd.code, exc.rcvd.reason) if exc.rcvd else (None, "")


async def close_code(peer: Peer) -> int | None:
    """Read until the server closes ``peer``; return the close code."""
    return (await closed_with(peer))[0]


async def until(condition: Callable[[], bool], timeout: float = WAIT, what: str = "the condition") -> None:
    """Poll ``condition()`` every 50 ms until it holds, at most ``timeout`` seconds.

    Only for what gives no event to wait for: another process's state, a server's
    bookkeeping after a close it sent.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, f"timed out after {timeout:g} s waiting for {what}"
        await asyncio.sleep(0.05)


def wait_until(condition: Callable[[], bool], timeout: float = WAIT, what: str = "the condition") -> None:
    """:func:`until` for a test with no event loop: poll ``condition()`` every 50 ms, at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout:g} s waiting for {what}"
        time.sleep(0.05)


def ended(pid: int) -> bool:
    """Whether process ``pid`` has ended (a zombie not yet reaped by its parent has)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def readme_command(marker: str) -> str:
    """The single command in the README's code block that follows ``<!-- marker -->``."""
    text = (ROOT / "README.md").read_text()
    match = re.search(rf"<!-- {marker} -->\s*```(?:bash|sh)?\n(.+?)\n```", text, re.S)
    assert match, f"README.md has no command block marked {marker}"
    lines = [line for line in match.group(1).splitlines() if line.strip()]
    assert len(lines) == 1, f"the {marker} block must be exactly one command, got {lines}"
    return lines[0]


class LinkProxy:
    """A TCP proxy on loopback whose link can be cut (every connection closed, new ones refused) and restored.

    It stands between a node and its Redis, so a test drops the node's link for real.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.cut_now = False

    async def start(self) -> LinkProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut_now:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", self.target_port), WAIT
            )
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(relay(reader, up_writer), relay(up_reader, writer))
        self._writers -= {writer, up_writer}

    def cut(self) -> None:
        """Close every proxied connection and refuse new ones until :meth:`restore`."""
        self.cut_now = True
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def restore(self) -> None:
        self.cut_now = False

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await asyncio.wait_for(self._server.wait_closed(), WAIT)
