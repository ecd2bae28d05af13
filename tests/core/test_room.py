"""One room, sans I/O: members and names, history and resume, dedupe, typing, presence, restore.

No hub and no sockets: connections are plain strings and ``now`` is a plain number.
The hub's own tests (test_hub.py) drive the same rules through frames.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from wslab.core import protocol as p
from wslab.core import room as room_module
from wslab.core.room import Room, RoomSettings, RoomSnapshot

SETTINGS = RoomSettings(history_size=3, typing_timeout=5.0, presence_interval=0.5)


def make(*names: str, now: float = 0.0) -> Room:
    """A room ``lobby`` whose members are ``names``, each joined on a connection of the same name."""
    room = Room("lobby", "e1", SETTINGS)
    for name in names:
        room.join(name, name, now)
    return room


def chat(seq: int, sender: str = "ann", id_: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "chat", "room": "lobby", "seq": seq, "sender": sender, "content": f"m{seq}",
                               "timestamp": "2026-12-01T10:00:00.000Z"}
    if id_ is not None:
        message["id"] = id_
    return message


def presence(room: Room) -> dict[str, list[dict[str, Any]]]:
    """``flush_presence()`` as conn -> the frames it gets (decoded)."""
    got: dict[str, list[dict[str, Any]]] = {}
    for to, frame in room.flush_presence():
        for conn in to:
            got.setdefault(str(conn), []).append(json.loads(frame))
    return got


# ---------------------------------------------------------------- joining


def test_a_join_returns_the_welcome_and_the_others_hear_of_it_later() -> None:
    room = make("ann")
    assert room.presence_due is None  # into an empty room: the welcome says it all
    welcome = json.loads(room.join("bob", "bob", 10.0))
    assert welcome == {
        "type": "welcome", "name": "bob", "room": "lobby", "epoch": "e1", "online": ["ann", "bob"],
        "typing": [], "seq": 0, "history": [], "history_complete": True,
    }
    assert room.presence_due == 10.5 and room.next_deadline() == 10.5
    assert room.online() == ["ann", "bob"] and room.conns() == ("ann", "bob") and room.has_members


def test_names_are_unique_ignoring_case_and_a_refused_join_leaves_no_trace() -> None:
    room = make("ann")
    with pytest.raises(p.ProtocolError) as info:
        room.join("x", "ANN", 1.0)
    assert (info.value.code, info.value.field) == ("name-taken", "name")
    with pytest.raises(ValueError):  # a welcome that cannot be encoded (the hub refuses such a name earlier)
        room.join("y", "bad \ud800", 1.0)
    assert room.online() == ["ann"] and room.conns() == ("ann",) and room.presence_due is None
    assert room.conn_of("Ann") == "ann" and room.conn_of("x") is None
    with pytest.raises(ValueError, match="already in room"):
        room.join("ann", "ann2", 1.0)


def test_resume_since_replays_what_came_after_and_says_when_history_is_incomplete() -> None:
    room = make("ann")
    for seq in range(1, 6):
        room.record_chat(chat(seq), float(seq))

    def welcome(name: str, **join: Any) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(room.join(name, name, 9.0, **join))
        return message

    full = welcome("b1")
    assert [m["seq"] for m in full["history"]] == [3, 4, 5] and full["history_complete"] is False
    caught_up = welcome("b2", since=3, epoch="e1")
    assert [m["seq"] for m in caught_up["history"]] == [4, 5] and caught_up["history_complete"] is True
    v1 = welcome("b3", since=4)  # no epoch: taken to be the room's
    assert [m["seq"] for m in v1["history"]] == [5] and v1["history_complete"] is True
    just_kept = welcome("b6", since=2, epoch="e1")  # the oldest kept is the next one: nothing missed
    assert [m["seq"] for m in just_kept["history"]] == [3, 4, 5] and just_kept["history_complete"] is True
    too_old = welcome("b4", since=1, epoch="e1")
    assert [m["seq"] for m in too_old["history"]] == [3, 4, 5] and too_old["history_complete"] is False
    other_epoch = welcome("b5", since=4, epoch="gone")  # since counts in a history that is gone
    assert [m["seq"] for m in other_epoch["history"]] == [3, 4, 5] and other_epoch["history_complete"] is False


def test_leaving_ends_typing_and_is_announced_unless_no_one_is_left() -> None:
    room = make("ann", "bob")
    room.flush_presence()
    room.start_typing("bob", 1.0)
    assert room.leave("bob", 2.0) is True  # the typing list changed
    assert room.typing() == [] and room.online() == ["ann"] and room.presence_due == 2.5
    assert room.leave("bob", 2.0) is False  # twice is harmless
    room.join("cy", "cy", 2.1)
    room.leave("ann", 2.2)
    room.leave("cy", 2.3)
    assert room.presence_due is None and room.flush_presence() == []  # no one left to tell
    assert not room.has_members


# ---------------------------------------------------------------- chats


def test_record_chat_moves_seq_keeps_a_bounded_history_and_remembers_ids() -> None:
    room = make("ann")
    room.start_typing("ann", 0.0)
    assert room.record_chat(chat(1, id_="a1"), 1.0) is True  # a chat ends its sender's typing
    assert room.typing() == []
    for seq in range(2, 6):
        assert room.record_chat(chat(seq, id_=f"a{seq}"), float(seq)) is False
    assert room.seq == 5 and [m["seq"] for m in room.history()] == [3, 4, 5]
    assert room.seen("ann", "a1") == 1  # remembered beyond the history
    assert room.seen("bob", "a1") is None  # ids are per sender
    room.history()[0]["content"] = "changed"
    assert room.history()[0]["content"] == "m3"  # copies


def test_ids_are_remembered_up_to_recent_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(room_module, "RECENT_IDS", 2)
    room = make("ann")
    for seq in range(1, 4):
        room.record_chat(chat(seq, id_=f"a{seq}"), 0.0)
    assert [room.seen("ann", f"a{seq}") for seq in range(1, 4)] == [None, 2, 3]


def test_no_history_kept_with_history_size_0() -> None:
    room = Room("lobby", "e1", RoomSettings(history_size=0))
    room.join("ann", "ann", 0.0)
    room.record_chat(chat(1), 0.0)
    welcome = json.loads(room.join("bob", "bob", 0.0))
    assert welcome["history"] == [] and welcome["seq"] == 1 and welcome["history_complete"] is False


def test_mutes_ignore_case_and_apply_before_joining() -> None:
    room = Room("lobby", "e1")
    room.set_muted("Eve", True)
    assert room.is_muted("eve") and room.is_muted("EVE") and not room.is_muted("ann")
    room.set_muted("EVE", False)
    assert not room.is_muted("Eve")


def test_snapshot_counts_the_last_minute() -> None:
    room = make("ann", "bob")
    room.record_chat(chat(1), 0.0)
    room.record_chat(chat(2, "bob"), 61.0)
    room.start_typing("bob", 61.0)
    room.set_muted("Ann", True)
    assert room.snapshot(61.5) == RoomSnapshot("lobby", ("ann", "bob"), ("bob",), ("ann",), 2, 1)


# ---------------------------------------------------------------- typing


def test_typing_starts_refreshes_stops_and_expires() -> None:
    room = make("ann", "bob")
    room.flush_presence()
    assert room.start_typing("ann", 0.0) is True
    assert room.start_typing("bob", 1.0) is True
    assert json.loads(room.typing_frame()) == {"type": "typing", "room": "lobby", "typing": ["ann", "bob"]}
    assert room.start_typing("ann", 2.0) is False  # a refresh: nothing to announce
    assert room.next_deadline() == 6.0  # bob's, started at 1
    assert room.expire_typing(5.9) == ([], [])
    assert room.expire_typing(6.0) == (["bob"], [])
    assert room.stop_typing("ann") is True and room.stop_typing("ann") is False
    assert room.typing() == [] and room.next_deadline() is None


def test_remote_typers_are_told_apart_from_this_nodes() -> None:
    room = make("ann")
    room.start_typing("ann", 0.0)
    assert room.set_remote_typing("node2", ["bob", "cy"], 1.0) is True
    assert room.typing() == ["ann", "bob", "cy"] and room.local_typers() == ("ann",)
    assert room.types_here("ann") and not room.types_here("bob")
    assert room.set_remote_typing("node2", ["bob", "cy"], 2.0) is False  # a refresh
    assert room.set_remote_typing("node2", ["cy"], 3.0) is True  # bob stopped on node2
    assert room.expire_typing(8.0) == (["ann"], ["cy"])
    assert room.typing() == []


# ---------------------------------------------------------------- presence


def replay(online: list[str], frames: list[dict[str, Any]]) -> list[str]:
    """What a receiver's list becomes by the documented rule: remove every left, append every new joined."""
    for frame in frames:
        online = [n for n in online if n not in frame["left"]]
        online += [n for n in frame["joined"] if n not in online]
    return online


def test_presence_is_one_frame_for_those_there_before_and_nothing_for_the_last_to_join() -> None:
    room = make("ann", "bob")
    room.flush_presence()
    room.join("cy", "cy", 1.0)
    room.leave("bob", 1.1)
    room.join("dee", "dee", 1.2)
    [(to, frame)] = room.flush_presence()
    assert to == ("ann", "cy") and json.loads(frame) == {
        "type": "presence", "room": "lobby", "joined": ["cy", "dee"], "left": ["bob"]
    }
    assert room.presence_due is None and room.flush_presence() == []


def test_presence_gives_a_frame_of_its_own_to_who_joined_after_a_rejoin() -> None:
    room = make("ann", "bob")
    room.flush_presence()
    welcomes: dict[str, list[str]] = {"ann": ["ann", "bob"]}
    room.leave("bob", 1.0)
    for conn, name in (("bob2", "bob"), ("dee", "dee"), ("eve", "eve")):
        welcomes[conn] = json.loads(room.join(conn, name, 1.0))["online"]
    got = presence(room)
    shared = {"type": "presence", "room": "lobby", "joined": ["bob", "dee", "eve"], "left": ["bob"]}
    assert got == {
        "ann": [shared],
        "bob2": [shared],  # joined before dee and eve: the shared frame fits
        "dee": [{"type": "presence", "room": "lobby", "joined": ["eve"], "left": []}],  # after the rejoin
    }
    # eve joined last and gets nothing; every list converges on the room's, in join order.
    for conn, online in welcomes.items():
        assert replay(online, got.get(conn, [])) == room.online() == ["ann", "bob", "dee", "eve"], conn


def test_other_nodes_members_join_and_leave_through_presence_too() -> None:
    room = make("ann")
    room.set_remote_members(["bob", "Ann"], 1.0)  # a name held here stays this node's
    assert room.online() == ["ann", "bob"] and room.conn_of("bob") is None
    assert presence(room) == {"ann": [{"type": "presence", "room": "lobby", "joined": ["bob"], "left": []}]}
    room.set_remote_members([], 2.0)
    assert room.online() == ["ann"]
    assert presence(room) == {"ann": [{"type": "presence", "room": "lobby", "joined": [], "left": ["bob"]}]}


def test_a_rejoin_with_since_takes_over_a_name_held_elsewhere_a_new_join_does_not() -> None:
    room = make("ann")
    room.set_remote_members(["bob"], 0.0)
    room.flush_presence()
    with pytest.raises(p.ProtocolError, match="already in room"):
        room.join("new", "Bob", 1.0)
    welcome = json.loads(room.join("back", "bob", 1.0, since=0))
    assert welcome["online"] == ["ann", "bob"]
    assert room.conn_of("bob") == "back"
    assert replay(["ann", "bob"], presence(room).get("ann", [])) == ["ann", "bob"]  # still online: no change
    room.set_remote_members([], 2.0)  # the dead node's entry expires: bob stays, on this node
    assert room.online() == ["ann", "bob"] and room.presence_due is None


# ---------------------------------------------------------------- shared rooms: restore


def test_restore_moves_forward_never_back_and_remembers_the_logs_ids() -> None:
    room = Room("lobby", "e-local", SETTINGS)
    room.restore("e-log", 2, iter([chat(1, id_="a"), chat(2, id_="b")]))  # any iterable, read once
    assert room.epoch == "e-log" and room.seq == 2 and [m["seq"] for m in room.history()] == [1, 2]
    assert room.seen("ann", "a") == 1
    room.restore("e-log", 4, [chat(2), chat(3), chat(4)])  # follows on from what is kept
    assert room.seq == 4 and [m["seq"] for m in room.history()] == [2, 3, 4]
    room.restore("e-log", 1, [chat(1)])  # behind: nothing moves back
    assert room.seq == 4 and [m["seq"] for m in room.history()] == [2, 3, 4]
    room.restore("e-log", 9, [chat(8), chat(9)])  # a gap: the tail replaces the history
    assert room.seq == 9 and [m["seq"] for m in room.history()] == [8, 9]


def test_settings_refuse_nonsense() -> None:
    for bad in ({"history_size": -1}, {"typing_timeout": 0}, {"presence_interval": -0.1}):
        with pytest.raises(ValueError):
            RoomSettings(**bad)
    assert Room("r", "e").settings == RoomSettings(p.HISTORY_SIZE, p.TYPING_TIMEOUT, p.PRESENCE_INTERVAL)


def test_each_welcome_lists_the_room_as_a_full_encode_would_through_joins_leaves_and_remote_members() -> None:
    """The room keeps its list encoded between welcomes; every welcome is still exactly the full encode."""
    room = Room("lobby", "e1", SETTINGS)

    def check(welcome: str, name: str) -> None:
        decoded = json.loads(welcome)
        assert decoded["online"] == room.online() and decoded["online"][-1] == name
        assert welcome == p.encode(decoded)  # same text, same key order as encoding the whole message

    for i, name in enumerate(["ann", "Zoë", 'say "hi"', "名前"]):
        check(room.join(f"c{i}", name, 0.0), name)
    room.leave("c1", 1.0)  # a leave from the middle
    check(room.join("c4", "bob", 1.0), "bob")
    room.set_remote_members(["eve", "max"], 2.0)  # names on another node join the roster's end
    check(room.join("c5", "cat", 2.0), "cat")
    room.set_remote_members(["max"], 3.0)  # eve leaves over there
    check(room.join("c6", "dan", 3.0), "dan")
    # max reconnects here (since given): a takeover, the list leaves the remote holder out
    welcome = room.join("c7", "max", 4.0, since=0)
    assert json.loads(welcome)["online"] == room.online() == ["ann", 'say "hi"', "名前", "bob", "cat", "dan", "max"]
    assert welcome == p.encode(json.loads(welcome))
    check(room.join("c8", "fay", 5.0), "fay")


def test_a_refused_join_leaves_the_kept_list_as_it_was() -> None:
    room = make("ann", "bob")
    with pytest.raises(p.ProtocolError):
        room.join("x", "ANN", 1.0)  # name taken (ignoring case)
    with pytest.raises(ValueError):
        room.join("y", "\ud800", 1.0)  # cannot be encoded
    assert json.loads(room.join("z", "cat", 1.0))["online"] == ["ann", "bob", "cat"] == room.online()
