"""Several servers in one kernel sharing rooms through a real Valkey (lesson 08): nodes, stop_nodes, lesson_engine."""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from typing import Any

import pytest

from support import Peer, until
from wslab.cluster.engine import EmbeddedValkey, EngineUnavailable
from wslab.kernel import nodes
from wslab.kernel.nodes import lesson_engine, start_node, stop_nodes
from wslab.server.backplane import BackplaneError


@pytest.fixture(autouse=True)
def no_nodes_left() -> Iterator[None]:
    yield
    stop_nodes()
    if nodes._engine is not None:
        nodes._engine.stop()
        nodes._engine = None


async def test_two_nodes_on_one_engine_share_a_room(valkey: EmbeddedValkey) -> None:
    one, two = start_node(valkey.url), start_node(valkey.url)
    assert one.port != two.port and one.node != two.node  # each call a new node
    assert repr(one).startswith("<wslab node running, rooms in ") and one.chat_url.startswith("ws://127.0.0.1:")
    ada, bob = await Peer.open(one.chat_url), await Peer.open(two.chat_url)
    await ada.join("Ada")
    await bob.join("Bob")
    await ada.send({"type": "chat", "content": "across nodes", "id": "a1"})
    said = await bob.expect("chat")
    assert (said["sender"], said["content"]) == ("Ada", "across nodes")
    await ada.close()
    await bob.close()


def test_stop_nodes_stops_every_node_started(valkey: EmbeddedValkey) -> None:
    started = [start_node(valkey.url), start_node(valkey.url)]
    stop_nodes()
    assert not any(handle.running for handle in started)
    assert repr(started[0]).startswith("<wslab node stopped")
    stop_nodes()  # again: nothing left to stop


def test_an_engine_that_cannot_be_reached_is_one_backplane_error() -> None:
    with pytest.raises(BackplaneError) as caught:
        start_node("redis://127.0.0.1:1/0")
    assert "\n" not in str(caught.value) and "127.0.0.1:1" in str(caught.value)


def test_running_the_lesson_again_stops_the_previous_nodes_and_engine() -> None:
    first = lesson_engine()
    if first is None:
        pytest.skip("no Valkey can run here")
    node = start_node(first.url)
    process = first.process
    second = lesson_engine()
    assert second is not None and second is not first and second.url != first.url
    assert not node.running and process is not None and process.poll() is not None


def test_where_no_valkey_can_run_the_lesson_says_so_and_skips_its_other_cells(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def unavailable(*args: Any, **kwargs: Any) -> EmbeddedValkey:
        raise EngineUnavailable("no Valkey or Redis server can run here")

    class Shell:
        input_transformers_post: list[Any] = []

    monkeypatch.setattr(nodes, "EmbeddedValkey", unavailable)
    monkeypatch.setattr(builtins, "get_ipython", lambda: Shell, raising=False)
    assert lesson_engine() is None
    assert capsys.readouterr().out == (
        "Skipped: this lesson needs a Valkey server, which cannot run here (no Valkey or Redis server can run here).\n"
    )
    (transform,) = Shell.input_transformers_post
    assert transform(["start_node(engine.url)\n"]) == ["pass\n"]  # every later cell becomes `pass`


async def test_a_node_whose_link_is_cut_logs_to_backplane_log_not_to_a_cells_stderr(
    valkey: EmbeddedValkey, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    from wslab.kernel.link import cuttable_link
    from wslab.kernel.nodes import backplane_log

    link = cuttable_link(valkey.url)
    try:
        node = start_node(link.url)
        ada = await Peer.open(node.chat_url)
        await ada.join("Ada")  # the room is loaded: its follow loop reads through the link
        await asyncio.to_thread(link.cut)
        await until(lambda: any(line.startswith("warning: lost the link to ") for line in backplane_log()),
                    what="the node to log its lost link")
        assert "lost the link" not in capsys.readouterr().err
        await asyncio.to_thread(link.restore)
        await ada.close()
    finally:
        link.stop()
