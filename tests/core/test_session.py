"""ClientSession, sans I/O: what the transcripts do not say, and a property test against a real Hub.

The transcripts (tests/transcripts/, replayed by test_transcripts.py and by Node against
chat.js) pin the session's actions step by step. These tests cover the Python-only parts
(exceptions, the shell's unsent frames) and prove the session's promise end to end with
hypothesis: a sender and an observer joined to a real Hub, connections dropped at random
points (frames lost in flight included), and every chat said arrives exactly once, in order.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wslab.core import hub as h
from wslab.core.clock import FakeClock
from wslab.core.errors import ClientClosedError, ProtocolError, QueueFullError
from wslab.core.session import ClientSession, Emit, Retry, Send


def sends(actions: list[Any]) -> list[dict[str, Any]]:
    return [a.message for a in actions if isinstance(a, Send)]


def welcome_frame(**changes: Any) -> str:
    frame = {"type": "welcome", "name": "Ada", "room": "lobby", "epoch": "e1", "online": ["Ada"],
             "typing": [], "seq": 0, "history": [], "history_complete": True}
    return json.dumps({**frame, **changes})


def welcomed(session: ClientSession, now: float = 0.0, **welcome: Any) -> None:
    session.join("Ada", "lobby", now)
    session.connected(now)
    session.on_frame(welcome_frame(**welcome), now)


def test_bad_chats_are_refused_with_the_servers_words() -> None:
    session = ClientSession()
    with pytest.raises(ProtocolError, match="empty"):
        session.say("   ")
    with pytest.raises(ProtocolError, match="2000"):
        session.say("x" * 2001)
    with pytest.raises(ProtocolError) as info:
        session.say("\ud800 not unicode")
    assert info.value.code == "bad-field"
    with pytest.raises(ProtocolError):
        session.join("<script>", "lobby")
    assert session.queued == 0 and session.pending == []


def test_the_outbox_is_bounded_and_says_so() -> None:
    session = ClientSession(queue_limit=2)
    session.send({"type": "note", "n": 1})
    session.say("two")
    with pytest.raises(QueueFullError, match="queue_limit=2"):
        session.send({"type": "note", "n": 3})
    assert session.queued == 2


def test_after_close_nothing_more_is_accepted() -> None:
    session = ClientSession()
    [closed] = session.close()
    assert isinstance(closed, Emit) and closed.event == "closed" and session.state == "closed"
    for attempt in (
        lambda: session.say("hi"),
        lambda: session.send({"type": "x"}),
        lambda: session.join("Ada", "lobby"),
    ):
        with pytest.raises(ClientClosedError):
            attempt()
    assert session.connected(1.0) == [] and session.disconnected(1012, "", 1.0) == []


def test_frames_the_shell_could_not_write_go_back_to_the_outbox_in_order() -> None:
    session = ClientSession()
    welcomed(session)
    first = session.send({"type": "note", "n": 1})
    second = session.send({"type": "note", "n": 2})
    typing = session.keystroke("h", 0.0)
    chat = session.say("hello", 0.0)
    unsent = [a for a in first + second + typing + chat if isinstance(a, Send)]
    actions = session.disconnected(None, "connection lost", 1.0, unsent)
    assert isinstance(actions[-1], Retry)
    assert session.queued == 2 and list(session.unacked) == [chat[-1].message["id"]]  # type: ignore[union-attr]
    restored = sends(session.connected(2.0))
    restored += sends(session.on_frame(welcome_frame(), 2.0))
    assert [m["type"] for m in restored] == ["join", "chat", "note", "note"]  # no stale typing
    assert [m.get("n") for m in restored if m["type"] == "note"] == [1, 2]


def test_ids_follow_one_scheme() -> None:
    session = ClientSession(id_prefix="abc")
    assert [session.new_id(), session.new_id()] == ["abc-1", "abc-2"]
    assert len(ClientSession().id_prefix) == 8


# ---------------------------------------------------------------------------- property: a real hub


class Network:
    """Two sessions joined to one Hub, with a hand on every wire."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.hub = h.Hub(clock=self.clock, rate=1e9, burst=10**9)
        self.sessions = {"sender": ClientSession(id_prefix="s"), "observer": ClientSession(id_prefix="o")}
        self.conns: dict[str, str | None] = {"sender": None, "observer": None}
        self.count = 0
        self.seen: list[str] = []  # contents of the observer's chat events, in order

    def now(self) -> float:
        return self.clock.monotonic()

    def connect(self, who: str) -> None:
        self.count += 1
        conn = self.conns[who] = f"{who}-{self.count}"
        self.hub.connect(conn)
        self.client_actions(who, self.sessions[who].connected(self.now()))

    def drop(self, who: str, unsent: list[Send] | None = None) -> None:
        conn = self.conns[who]
        if conn is None:
            return
        self.conns[who] = None
        self.server_actions(self.hub.disconnect(conn))
        actions = self.sessions[who].disconnected(1012, "dropped", self.now(), unsent or [])
        assert any(isinstance(a, Retry) for a in actions)
        self.client_actions(who, actions)

    def client_actions(self, who: str, actions: list[Any], lose_sends: bool = False) -> None:
        for action in actions:
            if isinstance(action, Emit) and action.event == "chat" and who == "observer":
                self.seen.append(action.data["content"])
            elif isinstance(action, Send):
                conn = self.conns[who]
                if conn is not None and not lose_sends:
                    self.server_actions(self.hub.receive(conn, action.frame))

    def server_actions(self, actions: list[Any]) -> None:
        for action in actions:
            if isinstance(action, h.Deliver):
                for conn in action.to:
                    who = next((w for w, c in self.conns.items() if c == conn), None)
                    if who is not None:
                        self.client_actions(who, self.sessions[who].on_frame(action.frame, self.now()))

    def tick(self) -> None:
        self.clock.advance(1.0)
        self.server_actions(self.hub.tick())
        for who, session in self.sessions.items():
            self.client_actions(who, session.tick(self.now()))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(["say", "say", "say", "say-lost", "drop-sender", "drop-observer", "tick"]), max_size=40)
)
def test_every_chat_arrives_once_in_order_whatever_drops_the_connections(ops: list[str]) -> None:
    net = Network()
    for who in net.sessions:
        net.sessions[who].join(who.capitalize(), "lobby")
        net.connect(who)
    said: list[str] = []
    for op in ops:
        if op.startswith("say"):
            content = f"message {len(said)}"
            said.append(content)
            actions = net.sessions["sender"].say(content, net.now())
            if op == "say-lost" and net.conns["sender"] is not None:
                # The frame dies with the connection before the server reads it.
                net.client_actions("sender", actions, lose_sends=True)
                net.drop("sender", [a for a in actions if isinstance(a, Send)])
            else:
                net.client_actions("sender", actions)
        elif op == "tick":
            net.tick()
        else:
            net.drop(op.removeprefix("drop-"))
        for who in net.sessions:  # the backoff's wait is the shell's business: come straight back
            if net.conns[who] is None:
                net.connect(who)
    net.tick()
    assert net.seen == said
    assert not net.sessions["sender"].unacked and net.sessions["sender"].queued == 0
    members = list(net.hub.snapshot("lobby").online)
    assert sorted(members) == ["Observer", "Sender"]
    assert net.sessions["observer"].online == net.sessions["sender"].online == members


def test_the_old_action_name_still_works_for_one_release_and_the_hubs_names_are_distinct() -> None:
    from wslab.core import session

    old = r"wslab\.core\.session\.Action is deprecated and goes in wslab 0\.3"
    with pytest.warns(DeprecationWarning, match=rf"{old}: use wslab\.core\.session\.SessionAction$") as caught:
        assert session.Action is session.SessionAction
    assert [w.filename for w in caught] == [__file__]
    # Each side's actions have their own names: nothing public is spelled the same in both modules.
    assert not set(session.__all__) & set(h.__all__)
