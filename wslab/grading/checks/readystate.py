"""Checks for ``02-readystate``: the readyState machine and an outbox that loses nothing offline."""

from __future__ import annotations

from typing import Any

from wslab.grading.registry import exercise
from wslab.grading.runner import Context

ex = exercise("readystate", title="readyState and an outbox that keeps sends", notebook="02-readystate", hidden=(2, 3))

CONNECTING, OPEN, CLOSING, CLOSED = 0, 1, 2, 3
NAMES = {0: "CONNECTING", 1: "OPEN", 2: "CLOSING", 3: "CLOSED"}


@ex.check(points=1, title="state_name names the four states",
          hint="readyState is a number from 0 to 3; the names are in the table at the top of the notebook.")
def state_names(ctx: Context) -> None:
    state_name = ctx.get("state_name")
    for number, name in NAMES.items():
        got = state_name(number)
        assert got == name, f"state_name({number}) returned {got!r}, expected {name!r}"
    for bad in (4, -1):
        try:
            got = state_name(bad)
        except ValueError:
            continue
        raise AssertionError(f"state_name({bad}) returned {got!r}; it should raise ValueError")


TRANSITIONS = [
    (CONNECTING, "open", OPEN),
    (CONNECTING, "close", CLOSING),
    (OPEN, "close", CLOSING),
    (CLOSING, "close", CLOSING),
    (CLOSED, "close", CLOSED),
    (CONNECTING, "closed", CLOSED),
    (OPEN, "closed", CLOSED),
    (CLOSING, "closed", CLOSED),
]


@ex.check(points=2, title="next_state follows the readyState rules",
          hint="Walk the transition table in the notebook one row at a time; close() twice is harmless.")
def transitions(ctx: Context) -> None:
    next_state = ctx.get("next_state")
    for state, event, want in TRANSITIONS:
        got = next_state(state, event)
        assert got == want, (
            f"next_state({NAMES[state]}, {event!r}) returned {NAMES.get(got, got)}, expected {NAMES[want]}"
        )


def _outbox(ctx: Context) -> tuple[Any, list[Any]]:
    cls = ctx.get("Outbox", "class")
    sent: list[Any] = []
    return cls(sent.append), sent


@ex.check(points=1, title="Outbox sends at once while open",
          hint="When the state is OPEN, hand the data to `send` straight away.")
def outbox_sends_when_open(ctx: Context) -> None:
    box, sent = _outbox(ctx)
    box.opened()
    box.send("a")
    box.send("b")
    assert sent == ["a", "b"], f"while open, send('a'), send('b') delivered {sent}"
    assert len(box) == 0, f"while open nothing should wait, but len(outbox) is {len(box)}"


@ex.check(points=2, title="Outbox keeps what is sent before open, then flushes it in order",
          hint="The seed drops a send when readyState is not 1; keep it in a queue until opened().")
def outbox_queues_before_open(ctx: Context) -> None:
    box, sent = _outbox(ctx)
    box.send("a")
    box.send("b")
    assert sent == [], f"before open, send() delivered {sent} to a socket that is not open"
    assert len(box) == 2, f"two sends wait, but len(outbox) is {len(box)}"
    box.opened()
    assert sent == ["a", "b"], f"after opened(), delivered {sent}; expected ['a', 'b']"
    assert len(box) == 0, f"after opened(), len(outbox) is still {len(box)}"
