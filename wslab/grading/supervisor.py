"""What the checker does next for one submission, sans I/O: fed what happened and ``now``, it returns actions.

The checker (:mod:`wslab.grading.checker`) runs a submission's code cells, then
its exercise's checks, in a learner process it may have to kill and start again.
Every decision about that lives here, in a plain object:

* :meth:`Supervisor.next_action` says what to do now: :class:`RunCell`,
  :class:`RunCheck`, :class:`Restart` (kill the learner process, start a fresh one)
  or :class:`Finish`;
* the checker reports back: :meth:`~Supervisor.cell_done`, :meth:`~Supervisor.check_done`,
  :meth:`~Supervisor.died` (the learner process ended, or was killed because
  :meth:`~Supervisor.overdue` said the current step ran past its hard limit).

Contracts:

* a cell's first verdict stands: after a restart the cells run again (a fresh
  process needs the definitions) but only what was not known before is recorded;
* a cell or a check that hung or killed the learner process is charged once
  (``killed``, ``crashed`` or ``timeout``) and skipped in every later process, so a
  hang costs only what it touches;
* a check that left the learner's code running (``runaway``), or that timed out
  and after which the learner process no longer answers, gets a fresh process for
  the checks after it;
* a learner process that dies on its own (not killed by the checker) for the first
  time is started again and the step retried once (something outside may have
  killed it); the second time, the step is charged;
* after ``max_restarts`` fresh processes, or past the submission's deadline, the
  rest is not run: :class:`Finish`, with a note saying why;
* every check is given a verdict: one that never ran is ``not-run``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Action",
    "Finish",
    "Restart",
    "RunCell",
    "RunCheck",
    "Supervisor",
    "Step",
    "GRACE",
]

GRACE = 2.0
"""Seconds past a step's own limit before the checker kills the learner process."""


@dataclass(frozen=True)
class RunCell:
    """Run code cell ``index`` (counted from 1, markdown cells included); ``record``: its verdict is new."""

    index: int
    record: bool


@dataclass(frozen=True)
class RunCheck:
    """Run check ``name``."""

    name: str


@dataclass(frozen=True)
class Restart:
    """Kill the learner process (if it still runs) and start a fresh one."""

    reason: str


@dataclass(frozen=True)
class Finish:
    """Nothing more to do; ``note`` says why it stopped early, if it did."""

    note: str = ""


Action = RunCell | RunCheck | Restart | Finish

Step = tuple[str, int | str]
"""``("cell", index)`` or ``("check", name)``."""


@dataclass
class Supervisor:
    """The plan for one submission: ``cells`` (indices, in order), ``checks`` (names, in order) and limits.

    ``cell_limit`` and ``check_limits`` (per check) are the steps' own limits in
    seconds; ``deadline`` is the monotonic time by which everything must be done.
    """

    cells: list[int]
    checks: list[str]
    cell_limit: float
    check_limits: dict[str, float]
    deadline: float
    time_limit: float = 0.0
    """The submission's time limit in seconds, as the note says it (``deadline`` is when it runs out)."""
    max_restarts: int = 6
    cell_results: dict[int, tuple[str, str]] = field(default_factory=dict)
    check_results: dict[str, tuple[str, str]] = field(default_factory=dict)
    restarts: int = 0
    notes: list[str] = field(default_factory=list)
    _skip_cells: set[int] = field(default_factory=set)
    _ran_here: set[int] = field(default_factory=set)  # cells run in the current learner process
    _current: Step | None = None
    _step_deadline: float | None = None
    _need_restart: str | None = None
    _retried: set[Step] = field(default_factory=set)
    _finished: bool = False

    # ------------------------------------------------------------------ what to do

    def next_action(self, now: float) -> Action:
        """The next action at ``now``; call again after reporting its outcome."""
        if self._finished:
            return Finish()
        if now >= self.deadline:
            limit = f" ({self.time_limit:g} s)" if self.time_limit else ""
            return self._finish(
                f"grading stopped at the time limit per submission{limit}; checks that had not run score 0"
            )
        if self._need_restart is not None:
            if self.restarts >= self.max_restarts:
                return self._finish(f"gave up after {self.max_restarts} fresh starts of your notebook")
            reason, self._need_restart = self._need_restart, None
            self.restarts += 1
            self._ran_here.clear()
            return Restart(reason)
        for index in self.cells:
            if index in self._ran_here:
                continue
            if index in self._skip_cells:
                self._ran_here.add(index)
                continue
            self._start(("cell", index), now, self.cell_limit)
            return RunCell(index, record=index not in self.cell_results)
        for name in self.checks:
            if name not in self.check_results:
                self._start(("check", name), now, self.check_limits[name])
                return RunCheck(name)
        return self._finish("")

    def overdue(self, now: float) -> bool:
        """True when the current step ran past its limit and :data:`GRACE`: kill the learner process."""
        return self._step_deadline is not None and now >= min(self._step_deadline, self.deadline + GRACE)

    def time_left(self, now: float, limit: float) -> float:
        """Seconds a step with its own ``limit`` may run from ``now``, the submission's deadline allowing."""
        return max(0.05, min(limit, self.deadline - now))

    def wait_until(self) -> float | None:
        """The monotonic time at which :meth:`overdue` turns true (None when no step runs)."""
        if self._step_deadline is None:
            return None
        return min(self._step_deadline, self.deadline + GRACE)

    # ------------------------------------------------------------------ what happened

    def cell_done(self, index: int, status: str, detail: str) -> None:
        """Cell ``index`` ran in the current learner process with ``status``."""
        self._end(("cell", index))
        self._ran_here.add(index)
        self.cell_results.setdefault(index, (status, detail))

    def check_done(self, name: str, status: str, message: str, *, fresh_process_needed: bool = False) -> None:
        """Check ``name`` has its verdict; ``fresh_process_needed``: the learner's code is still busy (runaway)."""
        self._end(("check", name))
        self.check_results.setdefault(name, (status, message))
        if fresh_process_needed and any(n not in self.check_results for n in self.checks):
            self._need_restart = f"check {name} left your code running"

    def died(self, *, killed: bool, detail: str = "") -> None:
        """The learner process ended during the current step: ``killed`` by the checker (overdue), or on its own."""
        step, self._current, self._step_deadline = self._current, None, None
        if step is None:
            if any(n not in self.check_results for n in self.checks):
                self._need_restart = "the process running your notebook ended between steps"
            return
        if not killed and step not in self._retried:
            self._retried.add(step)  # perhaps killed from outside: try this step once more
            self._need_restart = "the process running your notebook ended; trying once more"
            return
        how = (
            "did not stop after its time limit and was killed"
            if killed
            else f"ended the grading process{f' ({detail})' if detail else ''}"
        )
        kind, item = step
        if kind == "cell":
            assert isinstance(item, int)
            self._skip_cells.add(item)
            self.cell_results[item] = (
                "killed" if killed else "crashed",
                f"this cell {how}; it was skipped and the notebook run again without it",
            )
        else:
            assert isinstance(item, str)
            ignored = f" (it ignored the {self.check_limits[item]:g} s limit)" if killed else ""
            self.check_results.setdefault(item, ("timeout", f"your code {how}{ignored}"))
            if all(n in self.check_results for n in self.checks):
                return  # no check left: no fresh process to re-run the cells for nothing
        self._need_restart = f"{kind} {item} {how}"

    # ------------------------------------------------------------------ internals

    def _start(self, step: Step, now: float, limit: float) -> None:
        self._current = step
        self._step_deadline = now + limit + GRACE

    def _end(self, step: Step) -> None:
        if self._current == step:
            self._current, self._step_deadline = None, None

    def _finish(self, note: str) -> Finish:
        self._finished = True
        self._current, self._step_deadline = None, None
        if note:
            self.notes.append(note)
        for name in self.checks:
            self.check_results.setdefault(name, ("not-run", "not run: grading of this submission was stopped first"))
        return Finish(note)
