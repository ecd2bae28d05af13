"""Checks for ``08-scaling-out``: deliver each logged message once, in order; presence across nodes with a TTL."""

from __future__ import annotations

from typing import Any

from wslab.grading.registry import exercise
from wslab.grading.runner import Context

ex = exercise("scaling", title="Scaling out: once, in order, and who is online", notebook="08-scaling-out",
              hidden=(2, 2))


def _chats(*seqs: int) -> list[dict[str, Any]]:
    return [{"type": "chat", "seq": seq, "content": f"m{seq}"} for seq in seqs]


def _seqs(result: Any) -> tuple[list[int], Any]:
    assert isinstance(result, tuple) and len(result) == 2, (
        f"deliver_once should return (to_deliver, new_last_seq), got {result!r:.200}"
    )
    messages, last = result
    return [m["seq"] for m in messages], last


@ex.check(points=2, title="deliver_once delivers what is new, in seq order",
          hint="Keep the entries whose seq is above last_seq and sort them by seq.")
def in_order(ctx: Context) -> None:
    deliver_once = ctx.get("deliver_once")
    seqs, last = _seqs(deliver_once(2, _chats(5, 3, 4, 1, 2)))
    assert seqs == [3, 4, 5], f"deliver_once(2, seqs 5,3,4,1,2) delivered seqs {seqs}; expected [3, 4, 5]"
    assert last == 5, f"the new last seq should be 5, got {last!r}"


@ex.check(points=2, title="deliver_once delivers each seq once, whatever is read again",
          hint="A re-read after a reconnect repeats entries: one message per seq.")
def once(ctx: Context) -> None:
    deliver_once = ctx.get("deliver_once")
    seqs, last = _seqs(deliver_once(0, _chats(1, 2, 2, 3, 1, 3)))
    assert seqs == [1, 2, 3], f"with repeats, deliver_once delivered seqs {seqs}; expected [1, 2, 3]"
    seqs, last = _seqs(deliver_once(3, _chats(2, 3)))
    assert seqs == [] and last == 3, f"nothing new after seq 3, but got seqs {seqs} and last {last!r}"


def _nodes() -> dict[str, Any]:
    return {
        "a": {"expires": 110.0, "members": {"ann": 1.0, "cy": 4.0}},
        "b": {"expires": 99.0, "members": {"bob": 2.0}},
        "c": {"expires": 120.0, "members": {"dee": 3.0}},
    }


@ex.check(points=2, title="online leaves out the members of expired nodes",
          hint="Skip every node whose expires is not after now.")
def leaves_out_expired(ctx: Context) -> None:
    online = ctx.get("online")
    got = online(_nodes(), 100.0)
    assert isinstance(got, list), f"online should return a list of names, got {got!r:.200}"
    assert "bob" not in got, f"bob's node expired at 99 but online(nodes, 100) lists {got}"
    assert sorted(got) == ["ann", "cy", "dee"], f"online(nodes, 100) returned {got}"


@ex.check(points=2, title="online lists the names in join order across nodes",
          hint="Sort every live member by joined_at (then name), whatever node it is on.")
def join_order(ctx: Context) -> None:
    online = ctx.get("online")
    got = online(_nodes(), 100.0)
    assert got == ["ann", "dee", "cy"], f"in join order the names are ann, dee, cy; online returned {got}"
