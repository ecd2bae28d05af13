"""The hidden checks of exercise ``readystate``: they run only at grading.

They ship only in the instructor's install (``wslab_instructor``), never in a learner's: the
public checks and the exercise itself are :mod:`wslab.grading.checks.readystate`.
"""

from __future__ import annotations

from wslab.grading.checks.readystate import CLOSED, CLOSING, NAMES, OPEN, _outbox, ex
from wslab.grading.runner import Context


@ex.check(points=1, title="next_state refuses impossible events", public=False,
          hint="A socket opens once, from CONNECTING only; unknown events are mistakes too.")
def impossible_events(ctx: Context) -> None:
    next_state = ctx.get("next_state")
    for state, event in ((OPEN, "open"), (CLOSED, "open"), (CLOSING, "open"), (OPEN, "explode")):
        try:
            got = next_state(state, event)
        except ValueError:
            continue
        raise AssertionError(
            f"next_state({NAMES[state]}, {event!r}) returned {NAMES.get(got, got)}; it should raise ValueError"
        )


@ex.check(points=2, title="Outbox keeps sends while closed and flushes them once on reconnect", public=False,
          hint="After closed(), queue again; each queued item goes out exactly once, oldest first.")
def outbox_survives_reconnect(ctx: Context) -> None:
    box, sent = _outbox(ctx)
    box.opened()
    box.send("a")
    box.closed()
    box.send("b")
    box.send("c")
    assert sent == ["a"], f"while closed, send() delivered {sent[1:]}"
    box.opened()
    box.opened()
    assert sent == ["a", "b", "c"], f"after reconnecting, delivered {sent}; expected ['a', 'b', 'c'] once each"
