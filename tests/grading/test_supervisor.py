"""The Supervisor, sans I/O: fed outcomes and a made-up ``now``, it says what to run, restart or give up on.

No process, socket, sleep or clock: ``drive`` plays the checker, with a script of
what each cell and check does, and returns the actions as short words.
"""

from __future__ import annotations

import pytest

from wslab.grading.supervisor import GRACE, Finish, Restart, RunCell, RunCheck, Supervisor

Script = dict[int | str, str | list[str]]
"""What a cell (by index) or a check (by name) does when run: one outcome, or one per run (the last repeats).

A cell: a status the learner's process reports (``ok``, ``error``...), ``killed``
(it hangs: the checker kills it when overdue) or ``crashed`` (its process ends).
A check: a status, ``runaway`` (a verdict, but the learner's code still runs) or ``crashed``.
"""

NOT_RUN = ("not-run", "not run: grading of this submission was stopped first")
SKIPPED = "; it was skipped and the notebook run again without it"


def plan(
    cells: int = 3, checks: int = 2, *, deadline: float = 1000.0, time_limit: float = 0.0, max_restarts: int = 6
) -> Supervisor:
    """Cells 1..``cells`` (as indices 2, 4, 6...: markdown cells between), checks a, b, c..., a 10 s cell limit."""
    names = [chr(ord("a") + i) for i in range(checks)]
    return Supervisor(
        cells=[2 * i for i in range(1, cells + 1)],
        checks=names,
        cell_limit=10.0,
        check_limits={n: 5.0 for n in names},
        deadline=deadline,
        time_limit=time_limit,
        max_restarts=max_restarts,
    )


def _outcome(script: Script, key: int | str, default: str) -> str:
    found = script.get(key, default)
    if isinstance(found, list):
        return found.pop(0) if len(found) > 1 else found[0]
    return found


def drive(sup: Supervisor, script: Script | None = None, *, now: float = 0.0, bound: int = 200) -> list[str]:
    """Play the checker until :class:`Finish`; each step takes 1 s. The actions: ``cell 2`` (recorded),
    ``cell 2 again`` (run for its definitions), ``check a``, ``restart``, ``finish``."""
    script = dict(script or {})
    trace: list[str] = []
    while len(trace) < bound:
        action = sup.next_action(now)
        if isinstance(action, Finish):
            assert sup.wait_until() is None and not sup.overdue(now + 1e9)
            return [*trace, "finish"]
        if isinstance(action, Restart):
            assert action.reason
            trace.append("restart")
            continue
        key: int | str
        if isinstance(action, RunCell):
            key, default = action.index, "ok"
            trace.append(f"cell {key}" + ("" if action.record else " again"))
        else:
            assert isinstance(action, RunCheck)
            key, default = action.name, "pass"
            trace.append(f"check {key}")
        outcome = _outcome(script, key, default)
        until = sup.wait_until()
        assert until is not None and not sup.overdue(now)
        if outcome == "killed":
            assert not sup.overdue(until - 0.01) and sup.overdue(until)
            now = until
            sup.died(killed=True)
        elif outcome == "crashed":
            sup.died(killed=False, detail="it ran out of memory")
        elif isinstance(action, RunCell):
            sup.cell_done(action.index, outcome, f"{outcome} here")
        else:
            runaway = outcome == "runaway"
            sup.check_done(action.name, "timeout" if runaway else outcome, f"{outcome} here",
                           fresh_process_needed=runaway)
        now += 1.0
    raise AssertionError(f"no Finish after {bound} actions: {trace[-20:]}")


def finish_note(sup: Supervisor, now: float = 0.0) -> str:
    action = sup.next_action(now)
    assert isinstance(action, Finish)
    return action.note


# ---------------------------------------------------------------------- the normal case


@pytest.mark.parametrize(("cells", "checks"), [(0, 0), (1, 0), (0, 2), (3, 2), (5, 4)])
def test_every_cell_runs_in_order_then_every_check_then_finish(cells: int, checks: int) -> None:
    sup = plan(cells, checks)
    trace = drive(sup)
    assert trace == [f"cell {2 * i}" for i in range(1, cells + 1)] + [
        f"check {chr(ord('a') + i)}" for i in range(checks)
    ] + ["finish"]
    assert sup.cell_results == {2 * i: ("ok", "ok here") for i in range(1, cells + 1)}
    assert list(sup.check_results) == sup.checks and {s for s, _ in sup.check_results.values()} <= {"pass"}
    assert (sup.restarts, sup.notes) == (0, [])


def test_a_finished_plan_stays_finished_and_says_why_once() -> None:
    sup = plan(1, 1)
    assert drive(sup) == ["cell 2", "check a", "finish"]
    assert [sup.next_action(t) for t in (0.0, 5000.0)] == [Finish(""), Finish("")]
    sup = plan(1, 1, deadline=10.0)
    assert finish_note(sup, 10.0).startswith("grading stopped at the time limit")
    assert [sup.next_action(t) for t in (10.0, 20.0)] == [Finish(""), Finish("")] and len(sup.notes) == 1


def test_cell_and_check_verdicts_are_kept_as_reported() -> None:
    sup = plan(3, 3)
    drive(sup, {4: "error", 6: "timeout", "a": "fail", "c": "todo"})
    assert sup.cell_results == {2: ("ok", "ok here"), 4: ("error", "error here"), 6: ("timeout", "timeout here")}
    assert sup.check_results == {"a": ("fail", "fail here"), "b": ("pass", "pass here"), "c": ("todo", "todo here")}


# ---------------------------------------------------------------------- limits and time


def test_a_running_cell_is_overdue_exactly_at_its_limit_plus_grace() -> None:
    sup = plan(2, 1)
    assert sup.wait_until() is None and not sup.overdue(1e9)
    assert sup.next_action(5.0) == RunCell(2, record=True)
    assert sup.wait_until() == 5.0 + 10.0 + GRACE
    assert [sup.overdue(t) for t in (5.0, 15.0, 5.0 + 10.0 + GRACE - 0.001, 5.0 + 10.0 + GRACE, 1e9)] == [
        False, False, False, True, True
    ]
    sup.cell_done(2, "ok", "")
    assert sup.wait_until() is None and not sup.overdue(1e9)
    assert sup.next_action(6.0) == RunCell(4, record=True) and sup.wait_until() == 6.0 + 10.0 + GRACE


def test_a_check_is_overdue_at_its_own_limit_plus_grace() -> None:
    sup = Supervisor(cells=[], checks=["quick", "slow"], cell_limit=10.0, check_limits={"quick": 1.0, "slow": 30.0},
                     deadline=1000.0)
    assert sup.next_action(0.0) == RunCheck("quick") and sup.wait_until() == 1.0 + GRACE
    sup.check_done("quick", "pass", "")
    assert sup.next_action(2.0) == RunCheck("slow") and sup.wait_until() == 2.0 + 30.0 + GRACE


def test_a_step_is_overdue_by_the_submissions_deadline_when_that_comes_first() -> None:
    """A 10 s cell limit does not outlive a submission with 4 s left: the cell is given 4 s, then GRACE."""
    sup = plan(1, 1, deadline=4.0, time_limit=4.0)
    assert sup.next_action(0.0) == RunCell(2, record=True)
    assert sup.wait_until() == 4.0 + GRACE
    assert (sup.overdue(4.0 + GRACE - 0.001), sup.overdue(4.0 + GRACE)) == (False, True)


@pytest.mark.parametrize(
    ("now", "limit", "left"),
    [(0.0, 10.0, 10.0), (80.0, 10.0, 10.0), (95.0, 10.0, 5.0), (99.5, 10.0, 0.5), (99.99, 10.0, 0.05),
     (100.0, 10.0, 0.05), (250.0, 10.0, 0.05), (0.0, 0.0, 0.05)],
)
def test_time_left_is_the_steps_limit_shrinking_with_the_deadline_never_below_a_twentieth(
    now: float, limit: float, left: float
) -> None:
    assert plan(deadline=100.0).time_left(now, limit) == pytest.approx(left)


def test_a_cell_that_hangs_is_killed_charged_once_and_skipped_in_every_later_process() -> None:
    sup = plan(3, 2)
    trace = drive(sup, {4: "killed", "a": "runaway"})
    assert trace == [
        "cell 2", "cell 4", "restart", "cell 2 again", "cell 6", "check a",
        "restart", "cell 2 again", "cell 6 again", "check b", "finish",
    ]
    assert sup.cell_results[4] == ("killed", "this cell did not stop after its time limit and was killed" + SKIPPED)
    assert sup.restarts == 2 and sup.notes == []


def test_the_restart_after_a_kill_says_which_step_and_why() -> None:
    sup = plan(2, 1)
    assert sup.next_action(0.0) == RunCell(2, record=True)
    sup.died(killed=True)
    assert sup.wait_until() is None
    assert sup.next_action(20.0) == Restart("cell 2 did not stop after its time limit and was killed")
    assert sup.next_action(20.0) == RunCell(4, record=True)


@pytest.mark.parametrize(("time_limit", "said"), [(30.0, " (30 s)"), (2.5, " (2.5 s)"), (0.0, "")])
def test_at_the_deadline_it_finishes_and_the_checks_not_run_score_nothing(time_limit: float, said: str) -> None:
    sup = plan(2, 3, deadline=30.0, time_limit=time_limit)
    for now, step in [(0.0, RunCell(2, True)), (10.0, RunCell(4, True)), (20.0, RunCheck("a"))]:
        assert sup.next_action(now) == step
        if isinstance(step, RunCell):
            sup.cell_done(step.index, "ok", "")
    sup.check_done("a", "pass", "")
    assert sup.next_action(29.999) == RunCheck("b")
    sup.check_done("b", "fail", "no")
    note = f"grading stopped at the time limit per submission{said}; checks that had not run score 0"
    assert finish_note(sup, 30.0) == note and sup.notes == [note]
    assert sup.check_results == {"a": ("pass", ""), "b": ("fail", "no"), "c": NOT_RUN}
    assert sup.wait_until() is None


def test_the_deadline_wins_over_a_pending_restart() -> None:
    sup = plan(2, 1, deadline=30.0)
    assert sup.next_action(0.0) == RunCell(2, record=True)
    sup.died(killed=True)
    assert finish_note(sup, 31.0).startswith("grading stopped at the time limit") and sup.restarts == 0
    assert sup.check_results == {"a": NOT_RUN}


def test_a_step_running_at_the_deadline_is_not_overdue_before_the_grace() -> None:
    sup = plan(1, 1, deadline=30.0)
    assert sup.next_action(25.0) == RunCell(2, record=True)
    assert not sup.overdue(30.0) and sup.overdue(30.0 + GRACE)


# ---------------------------------------------------------------------- a process that dies


@pytest.mark.parametrize(
    ("script", "key", "result", "restarts"),
    [
        ({4: "killed"}, 4, ("killed", "this cell did not stop after its time limit and was killed" + SKIPPED), 1),
        ({4: "crashed"}, 4, ("crashed", "this cell ended the grading process (it ran out of memory)" + SKIPPED), 2),
        ({"a": "killed"}, "a",
         ("timeout", "your code did not stop after its time limit and was killed (it ignored the 5 s limit)"), 1),
        ({"a": "crashed"}, "a", ("timeout", "your code ended the grading process (it ran out of memory)"), 2),
    ],
    ids=["cell-killed", "cell-crashed", "check-killed", "check-crashed"],
)
def test_a_step_that_ends_the_process_is_charged_as_killed_or_crashed(
    script: Script, key: int | str, result: tuple[str, str], restarts: int
) -> None:
    """Killed by the checker: charged at once. Ended on its own: retried once in a fresh process, then charged."""
    sup = plan(3, 2)
    drive(sup, script)
    assert (sup.cell_results.get(key) if isinstance(key, int) else sup.check_results.get(key)) == result
    assert sup.restarts == restarts and sup.notes == []
    assert all(sup.cell_results[i] == ("ok", "ok here") for i in sup.cells if i != key)
    assert all(sup.check_results[n] == ("pass", "pass here") for n in sup.checks if n != key)


def test_a_cell_whose_process_ends_once_is_run_again_and_its_second_verdict_recorded() -> None:
    """Something outside (the OOM killer, an admin) killed the process: the cell had no verdict yet."""
    sup = plan(3, 1)
    trace = drive(sup, {4: ["crashed", "ok"]})
    assert trace == ["cell 2", "cell 4", "restart", "cell 2 again", "cell 4", "cell 6", "check a", "finish"]
    assert sup.cell_results[4] == ("ok", "ok here") and sup.restarts == 1


def test_the_retry_restart_says_it_is_trying_once_more() -> None:
    sup = plan(2, 1)
    assert sup.next_action(0.0) == RunCell(2, record=True)
    sup.died(killed=False, detail="segfault")
    assert sup.next_action(1.0) == Restart("the process running your notebook ended; trying once more")
    assert sup.next_action(1.0) == RunCell(2, record=True)
    sup.died(killed=False, detail="segfault")
    assert sup.next_action(2.0) == Restart("cell 2 ended the grading process (segfault)")
    assert sup.next_action(2.0) == RunCell(4, record=True)
    assert sup.cell_results[2] == ("crashed", "this cell ended the grading process (segfault)" + SKIPPED)


def test_a_crash_without_a_detail_says_no_empty_brackets() -> None:
    sup = plan(1, 1)
    sup.next_action(0.0)
    sup.died(killed=False)
    sup.next_action(1.0)
    sup.next_action(1.0)
    sup.died(killed=False)
    assert sup.cell_results[2] == ("crashed", "this cell ended the grading process" + SKIPPED)


def test_a_check_whose_process_ends_once_runs_again_after_the_cells_its_process_needs() -> None:
    sup = plan(2, 3)
    trace = drive(sup, {"b": ["crashed", "pass"]})
    assert trace == ["cell 2", "cell 4", "check a", "check b", "restart", "cell 2 again", "cell 4 again",
                     "check b", "check c", "finish"]
    assert sup.check_results == {n: ("pass", "pass here") for n in "abc"}


def test_a_check_charged_for_ending_the_process_is_not_run_again() -> None:
    sup = plan(2, 3)
    trace = drive(sup, {"a": "crashed"})
    assert trace == [
        "cell 2", "cell 4", "check a", "restart", "cell 2 again", "cell 4 again", "check a",
        "restart", "cell 2 again", "cell 4 again", "check b", "check c", "finish",
    ]


@pytest.mark.parametrize("how", ["killed", "crashed"])
def test_the_last_check_ending_the_process_starts_no_process_for_nothing(how: str) -> None:
    """Nothing is left to run: no fresh process re-runs every cell for no verdict."""
    sup = plan(2, 2)
    trace = drive(sup, {"b": how})
    assert trace[-2:] == ["check b", "finish"] and trace.count("restart") == (how == "crashed")
    assert sup.check_results["b"][0] == "timeout"


@pytest.mark.parametrize("left", [True, False], ids=["a-check-left", "none-left"])
def test_a_process_that_ends_between_steps_is_started_again_only_if_a_check_is_left(left: bool) -> None:
    sup = plan(1, 2)
    sup.next_action(0.0)
    sup.cell_done(2, "ok", "")
    sup.next_action(1.0)
    sup.check_done("a", "pass", "")
    if not left:
        sup.next_action(2.0)
        sup.check_done("b", "pass", "")
    sup.died(killed=False, detail="gone")
    action = sup.next_action(3.0)
    if left:
        assert action == Restart("the process running your notebook ended between steps")
        assert sup.next_action(3.0) == RunCell(2, record=False)
    else:
        assert action == Finish("")
    assert sup.cell_results == {2: ("ok", "")}


# ---------------------------------------------------------------------- a check that leaves code running


@pytest.mark.parametrize(
    ("runaway", "trace"),
    [
        ("a", ["cell 2", "cell 4", "check a", "restart", "cell 2 again", "cell 4 again", "check b", "check c",
               "finish"]),
        ("b", ["cell 2", "cell 4", "check a", "check b", "restart", "cell 2 again", "cell 4 again", "check c",
               "finish"]),
        ("c", ["cell 2", "cell 4", "check a", "check b", "check c", "finish"]),
    ],
)
def test_a_runaway_check_gets_a_fresh_process_for_the_checks_after_it(runaway: str, trace: list[str]) -> None:
    sup = plan(2, 3)
    assert drive(sup, {runaway: "runaway"}) == trace
    assert sup.check_results[runaway] == ("timeout", "runaway here")
    assert sup.restarts == trace.count("restart")


def test_the_runaway_restart_names_the_check() -> None:
    sup = plan(0, 2)
    assert sup.next_action(0.0) == RunCheck("a")
    sup.check_done("a", "timeout", "still running", fresh_process_needed=True)
    assert sup.next_action(1.0) == Restart("check a left your code running")
    assert sup.next_action(1.0) == RunCheck("b")


def test_after_a_restart_cells_run_again_but_their_first_verdict_stands() -> None:
    sup = plan(3, 2)
    trace = drive(sup, {2: ["error", "ok"], 6: ["ok", "timeout"], "a": "runaway"})
    assert trace[trace.index("restart") + 1:] == ["cell 2 again", "cell 4 again", "cell 6 again", "check b", "finish"]
    assert sup.cell_results == {2: ("error", "error here"), 4: ("ok", "ok here"), 6: ("ok", "ok here")}


# ---------------------------------------------------------------------- bounded: it always ends


def _all(outcome: str, cells: int, checks: int) -> Script:
    return {**{2 * i: outcome for i in range(1, cells + 1)}, **{chr(ord("a") + i): outcome for i in range(checks)}}


@pytest.mark.parametrize("max_restarts", [0, 1, 2, 6])
@pytest.mark.parametrize("outcome", ["killed", "crashed", "runaway"])
@pytest.mark.parametrize(("cells", "checks"), [(1, 1), (5, 3), (8, 8)])
def test_a_submission_that_ends_its_process_every_time_still_finishes_within_a_bound(
    outcome: str, cells: int, checks: int, max_restarts: int
) -> None:
    """At most ``max_restarts`` fresh processes, each running each step at most once: the actions are bounded."""
    sup = plan(cells, checks, max_restarts=max_restarts)
    bound = (max_restarts + 1) * (cells + checks + 1) + 1
    trace = drive(sup, _all(outcome, cells, checks), bound=bound)
    assert trace[-1] == "finish" and sup.restarts <= max_restarts
    assert set(sup.check_results) == set(sup.checks)  # every check has a verdict
    gave_up = f"gave up after {max_restarts} fresh starts of your notebook"
    assert sup.notes in ([], [gave_up])
    if sup.notes:
        assert trace.count("restart") == max_restarts
        assert NOT_RUN in sup.check_results.values()


def test_giving_up_says_so_and_the_checks_not_reached_are_not_run() -> None:
    sup = plan(5, 3)
    trace = drive(sup, _all("crashed", 5, 3))
    assert trace == [
        "cell 2", "restart", "cell 2", "restart",  # the retry, then charged
        "cell 4", "restart", "cell 4", "restart",
        "cell 6", "restart", "cell 6", "restart",
        "cell 8", "finish",
    ]
    note = "gave up after 6 fresh starts of your notebook"
    assert (sup.restarts, sup.notes, finish_note(sup)) == (6, [note], "")
    assert sup.check_results == {"a": NOT_RUN, "b": NOT_RUN, "c": NOT_RUN}
    assert {i: s for i, (s, _) in sup.cell_results.items()} == {2: "crashed", 4: "crashed", 6: "crashed"}


def test_the_finish_that_gives_up_carries_the_note() -> None:
    sup = plan(2, 1, max_restarts=0)
    assert sup.next_action(0.0) == RunCell(2, record=True)
    sup.died(killed=True)
    assert sup.next_action(12.0) == Finish("gave up after 0 fresh starts of your notebook")
    assert sup.check_results == {"a": NOT_RUN}


def test_every_cell_hanging_costs_one_restart_each_and_the_checks_still_run() -> None:
    sup = plan(3, 2)
    trace = drive(sup, _all("killed", 3, 0))
    assert trace == ["cell 2", "restart", "cell 4", "restart", "cell 6", "restart", "check a", "check b", "finish"]
    assert {s for s, _ in sup.cell_results.values()} == {"killed"} and sup.notes == []
