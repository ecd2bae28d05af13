"""The backplane behind the hub: the memory one keeps today's behaviour; the shell starts and stops any one in order."""

from __future__ import annotations

import socket

import pytest

from support import Peer
from wslab.core.errors import WslabError
from wslab.core.hub import Hub
from wslab.server.backplane import Backplane, BackplaneError, MemoryBackplane, Perform
from wslab.server.chat_server import ChatServer, PortInUseError
from wslab.server.config import ServerConfig


class Recording(Backplane):
    """A backplane that only records what the shell asks of it (rooms stay in the hub: not shared)."""

    def __init__(self, fail_start: bool = False) -> None:
        self.calls: list[str] = []
        self.fail_start = fail_start

    async def start(self, hub: Hub, perform: Perform) -> None:
        self.calls.append("start")
        if self.fail_start:
            raise BackplaneError("cannot reach Redis at redis://127.0.0.1:1/0")

    async def stop(self) -> None:
        self.calls.append("stop")


async def test_the_memory_backplane_is_the_default_and_holds_nothing_itself() -> None:
    server = ChatServer(ServerConfig(update_interval=None))
    backplane = server.backplane
    assert isinstance(backplane, MemoryBackplane) and not backplane.shared
    assert (backplane.engine, backplane.where) == ("this process's memory", "not kept: lost when the server stops")
    with pytest.raises(NotImplementedError, match="the hub holds them"):
        await backplane.load("lobby")
    await server.start()
    try:  # the rooms live in the hub: two members chat as ever
        ada = await Peer.open(f"ws://127.0.0.1:{server.port}/chat")
        bob = await Peer.open(f"ws://127.0.0.1:{server.port}/chat")
        await ada.join("Ada")
        await bob.join("Bob")
        await ada.send({"type": "chat", "content": "hi", "id": "1"})
        assert (await bob.expect("chat"))["content"] == "hi"
        await ada.close()
        await bob.close()
    finally:
        await server.stop()


def test_a_backplane_error_is_a_connection_error_and_a_wslab_error() -> None:
    assert issubclass(BackplaneError, ConnectionError) and issubclass(BackplaneError, WslabError)


async def test_the_server_starts_the_backplane_before_listening_and_stops_it_after() -> None:
    backplane = Recording()
    server = ChatServer(ServerConfig(update_interval=None), backplane=backplane)
    await server.start()
    assert backplane.calls == ["start"] and server.up
    await server.stop()
    assert backplane.calls == ["start", "stop"] and not server.up


async def test_a_backplane_that_cannot_start_keeps_the_server_from_listening() -> None:
    backplane = Recording(fail_start=True)
    server = ChatServer(ServerConfig(update_interval=None), backplane=backplane)
    with pytest.raises(BackplaneError, match="cannot reach Redis"):
        await server.start()
    assert not server.up and backplane.calls == ["start"]


async def test_a_port_that_is_taken_stops_the_backplane_it_started() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        backplane = Recording()
        server = ChatServer(ServerConfig(port=holder.getsockname()[1], update_interval=None), backplane=backplane)
        with pytest.raises(PortInUseError):
            await server.start()
    assert backplane.calls == ["start", "stop"]
