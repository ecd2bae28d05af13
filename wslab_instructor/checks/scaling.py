"""The hidden checks of exercise ``scaling``: they run only at grading.

They ship only in the instructor's install (``wslab_instructor``), never in a learner's: the
public checks and the exercise itself are :mod:`wslab.grading.checks.scaling`.
"""

from __future__ import annotations

from wslab.grading.checks.scaling import _seqs, ex
from wslab.grading.runner import Context


@ex.check(points=1, title="deliver_once of nothing keeps last_seq", public=False,
          hint="With no entries, return an empty list and the same last_seq.")
def nothing(ctx: Context) -> None:
    deliver_once = ctx.get("deliver_once")
    seqs, last = _seqs(deliver_once(7, []))
    assert seqs == [] and last == 7, f"deliver_once(7, []) returned seqs {seqs} and last {last!r}"


@ex.check(points=1, title="online lists a name once, at its earliest join", public=False,
          hint="A client that came back through another node is listed on two: keep it once.")
def each_once(ctx: Context) -> None:
    online = ctx.get("online")
    nodes = {"a": {"expires": 9.0, "members": {"ann": 5.0}}, "b": {"expires": 9.0, "members": {"ann": 2.0, "bo": 3.0}}}
    got = online(nodes, 1.0)
    assert got == ["ann", "bo"], f"ann is on two live nodes (joined at 5 and at 2); online returned {got}"
    assert online(nodes, 9.0) == [], "at now == expires the nodes are gone: online should be empty"
