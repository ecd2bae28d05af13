"""The hub's side of shared rooms, sans I/O: NeedRoom, Commit, Share and what the backplane feeds back.

A tiny log in the test plays the backplane (seq, dedupe, the log in order); the real one is
tested against Valkey in tests/test_backplane.py.
"""

from __future__ import annotations

import json
from typing import Any

from wslab.core import protocol as p
from wslab.core.clock import FakeClock
from wslab.core.hub import Close, Commit, Deliver, Hub, HubAction, NeedRoom, Share


class Log:
    """What a backplane keeps for one room: the log, the last seq, the ids seen."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.ids: dict[tuple[str, str], int] = {}

    def commit(self, commit: Commit) -> tuple[int, bool]:
        key = (commit.chat["sender"], commit.chat.get("id", ""))
        if "id" in commit.chat and key in self.ids:
            return self.ids[key], True
        seq = len(self.entries) + 1
        chat = {"type": "chat", "room": commit.room, "seq": seq}
        chat.update({k: v for k, v in commit.chat.items() if k not in chat})
        self.entries.append(chat)
        if "id" in commit.chat:
            self.ids[key] = seq
        return seq, False


def frames(actions: list[HubAction], conn: object) -> list[dict[str, Any]]:
    return [json.loads(a.frame) for a in actions if isinstance(a, Deliver) and conn in a.to]


def join(hub: Hub, log: Log, conn: str, name: str, remote: tuple[str, ...] = ()) -> dict[str, Any]:
    hub.connect(conn)
    (need,) = hub.receive(conn, json.dumps({"type": "join", "name": name}))
    if isinstance(need, NeedRoom):  # the first join to this room on this node: load it
        hub.restore_room("lobby", "ep1", len(log.entries), log.entries, remote)
        actions = hub.handle(conn, need.message)
    else:
        actions = hub.receive(conn, json.dumps({"type": "join", "name": name}))
    assert Share("lobby", "members", (*hub.local_members("lobby"),)) in actions
    (welcome,) = frames(actions, conn)
    return welcome


def test_a_chat_is_delivered_only_from_the_log_and_acked_after_its_delivery() -> None:
    clock = FakeClock()
    log, hub = Log(), Hub(clock=clock, shared=True, presence_interval=0)
    join(hub, log, "a", "ann")
    (commit,) = hub.receive("a", json.dumps({"type": "chat", "content": "hi", "id": "1"}))
    assert isinstance(commit, Commit) and "seq" not in commit.chat and commit.chat["sender"] == "ann"
    assert commit.text == p.encode(commit.chat) and json.loads(commit.text) == commit.chat  # the log's text
    assert hub.snapshot("lobby").messages == 0  # nothing changed before the log took it
    seq, duplicate = log.commit(commit)
    assert hub.committed(commit, seq, duplicate) == []  # the ack waits for the delivery
    delivered = hub.apply(log.entries[-1])
    assert [m["type"] for m in frames(delivered, "a")] == ["chat", "ack"]
    assert hub.apply(log.entries[-1]) == []  # handed over again after a reconnect: dropped
    # Resent (its ack was lost): this node remembers the id and acknowledges again, no commit.
    assert frames(hub.receive("a", json.dumps({"type": "chat", "content": "hi", "id": "1"})), "a") == [
        {"type": "ack", "id": "1", "seq": 1, "duplicate": True}
    ]
    # On a node that has not delivered it yet, the log refuses it and the hub says duplicate.
    other = Hub(clock=clock, shared=True)
    other.connect("b")
    other.restore_room("lobby", "ep1", 0, [])
    other.handle("b", p.Join(name="ann"))
    (again,) = other.receive("b", json.dumps({"type": "chat", "content": "hi", "id": "1"}))
    assert isinstance(again, Commit)
    assert frames(other.committed(again, *log.commit(again)), "b") == [
        {"type": "ack", "id": "1", "seq": 1, "duplicate": True}
    ]
    assert len(log.entries) == 1


def test_a_failed_commit_gets_no_ack_and_closes_with_1013_for_a_resend() -> None:
    log, hub = Log(), Hub(shared=True)
    join(hub, log, "a", "ann")
    (commit,) = hub.receive("a", json.dumps({"type": "chat", "content": "hi", "id": "1"}))
    assert isinstance(commit, Commit)
    (close,) = hub.commit_failed(commit)
    assert isinstance(close, Close) and close.code == p.CLOSE_TRY_AGAIN_LATER


def test_two_hubs_one_order_and_the_other_nodes_members_in_welcome_and_presence() -> None:
    clock = FakeClock()
    log = Log()
    one, two = Hub(clock=clock, shared=True, presence_interval=0), Hub(clock=clock, shared=True, presence_interval=0)
    join(one, log, "a", "ann")
    welcome = join(two, log, "b", "bob", remote=("ann",))
    assert welcome["online"] == ["ann", "bob"]
    one.remote_members("lobby", ["bob"])
    assert frames(one.tick(), "a") == [{"type": "presence", "room": "lobby", "joined": ["bob"], "left": []}]
    for hub, conn, text in ((one, "a", "x"), (two, "b", "y"), (one, "a", "z")):
        (commit,) = hub.receive(conn, json.dumps({"type": "chat", "content": text}))
        assert isinstance(commit, Commit)
        log.commit(commit)
    nodes = ((one, "a"), (two, "b"))
    got = {conn: [m["content"] for e in log.entries for m in frames(h.apply(e), conn)] for h, conn in nodes}
    assert got == {"a": ["x", "y", "z"], "b": ["x", "y", "z"]}
    # A name on another node is taken here too.
    one.connect("c")
    (refused,) = frames(one.receive("c", json.dumps({"type": "join", "name": "Bob"})), "c")
    assert refused["code"] == "name-taken"
    # bob's node is gone: he leaves ann's list at the next presence frame.
    one.remote_members("lobby", [])
    assert frames(one.tick(), "a") == [{"type": "presence", "room": "lobby", "joined": [], "left": ["bob"]}]


def test_typing_is_shared_and_remote_typing_expires_on_its_own() -> None:
    clock = FakeClock()
    log, hub = Log(), Hub(clock=clock, shared=True, typing_timeout=3.0)
    join(hub, log, "a", "ann")
    actions = hub.receive("a", json.dumps({"type": "typing", "typing": True}))
    assert Share("lobby", "typing", ("ann",)) in actions
    assert frames(hub.remote_typing("lobby", "node2", ["bob"]), "a") == [
        {"type": "typing", "room": "lobby", "typing": ["ann", "bob"]}
    ]
    clock.advance(3.5)
    tick = hub.tick()
    assert frames(tick, "a")[-1] == {"type": "typing", "room": "lobby", "typing": []}
    assert Share("lobby", "typing", ()) in tick  # ann's expiry is told to the others; bob's is not ours


def test_a_rejoin_with_since_takes_over_a_name_still_held_by_a_dead_node_a_new_join_does_not() -> None:
    clock = FakeClock()
    log, hub = Log(), Hub(clock=clock, shared=True, presence_interval=0)
    join(hub, log, "a", "ann", remote=("bob",))
    hub.connect("new")
    (refused,) = frames(hub.receive("new", json.dumps({"type": "join", "name": "bob"})), "new")
    assert refused["code"] == "name-taken"
    hub.connect("back")
    actions = hub.receive("back", json.dumps({"type": "join", "name": "bob", "since": 0, "epoch": "ep1"}))
    (welcome,) = frames(actions, "back")
    assert welcome["type"] == "welcome" and welcome["online"] == ["ann", "bob"]
    hub.remote_members("lobby", [])  # the dead node's entry expires: bob is still here, on this node
    assert hub.snapshot("lobby").online == ("ann", "bob")
