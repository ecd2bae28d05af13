"""The trusted side of grading one submission: it runs the learner's code in a sandbox and decides every verdict.

Started by the grader (:mod:`wslab.grading.grader`), one per submission, in a network
namespace of its own (:func:`wslab.grading.sandbox.checker_prefix`)::

    python -m wslab.grading.checker SPEC.json

``SPEC.json`` (written by the grader) names the exercise, the code cells to run
(their index and source, the course-owned ones already taken from the current
release), the limits, and whether to sandbox. The checker starts the learner's
process (:mod:`wslab.grading.worker`) in a :class:`~wslab.grading.sandbox.Sandbox`,
has it run the cells one at a time, then runs every check of the exercise *here*,
calling the learner's definitions through :mod:`wslab.grading.rpc`. A
:class:`~wslab.grading.supervisor.Supervisor` decides what to run next, when the
learner's process must be killed and started again, and what a hang costs.

It reports on its standard output, one :mod:`wslab.grading.events` line per event:
a result per cell and per check, notes, and ``done``. Nothing the learner's code
says is taken as a verdict: a check passes only if it returns here.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import wslab.grading.events as events
from wslab.grading.registry import get_exercise
from wslab.grading.rpc import Endpoint, Limits
from wslab.grading.runner import run_check, stable
from wslab.grading.sandbox import Cgroups, Sandbox, SandboxLimits
from wslab.grading.supervisor import GRACE, Finish, Restart, RunCell, RunCheck, Supervisor

__all__ = ["Spec", "SandboxFailed", "main", "grade_in_sandbox", "PING_TIMEOUT", "START_TIMEOUT"]

PING_TIMEOUT = 2.0
"""Seconds the learner's process has to answer after a check timed out, before it counts as stuck."""

START_TIMEOUT = 20.0
"""Seconds the learner's process may take to start and answer its first request (Python start-up, imports)."""


class SandboxFailed(RuntimeError):
    """The learner's process could not start at all (not the submission's fault): grading cannot go on here."""


@dataclass
class Spec:
    """What to grade and how: written by the grader, read by :func:`main`."""

    exercise: str
    cells: list[tuple[int, str]]
    cell_limit: float = 10.0
    check_limit: float | None = None
    submission_limit: float = 180.0
    memory_mb: int = 2048
    sandbox: bool = True
    notes: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: str | Path) -> Spec:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        data["cells"] = [(int(i), str(s)) for i, s in data["cells"]]
        return cls(**data)

    def dump(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.__dict__), encoding="utf-8")


class _Learner:
    """The learner's process and the channel to it."""

    def __init__(self, sandbox: Sandbox, memory_mb: int) -> None:
        self.sandbox = sandbox
        command = [sys.executable, "-m", "wslab.grading.worker"]
        if sandbox.enabled and sandbox.cgroups is None:  # made now, not in start(): they decide the limit below
            sandbox.cgroups = Cgroups(sandbox.limits)
        if not sandbox.enabled or not (sandbox.cgroups and sandbox.cgroups.enabled):
            command += ["--memory-mb", str(memory_mb)]
        process = sandbox.start(command)
        assert process.stdin is not None and process.stdout is not None
        self.endpoint = Endpoint(process.stdout, process.stdin, side="trusted", limits=Limits())
        self.fresh = True

    def ask(self, op: str, timeout: float, **fields: Any) -> Any:
        """Ask the learner's process for ``op``, waiting at most ``timeout`` s (plus start-up time the first time)."""
        if self.fresh:
            self.fresh = False
            timeout += START_TIMEOUT
        return self.endpoint.send_and_wait({"op": op, "fields": self.endpoint.encode(fields)}, timeout=timeout)

    def exited(self) -> bool:
        process = self.sandbox.process
        return process is None or process.poll() is not None

    def why_it_died(self) -> str:
        if self.sandbox.out_of_memory():
            return f"it ran out of memory (the limit is {self.sandbox.limits.memory_mb} MiB)"
        tail = self.sandbox.stderr_tail().strip().splitlines()
        return stable(tail[-1])[:300] if tail else ""

    def kill(self) -> None:
        self.sandbox.kill()  # first: its end of the pipes closes, and the channel's reader sees the end
        self.endpoint.close()


def grade_in_sandbox(spec: Spec, out: TextIO) -> None:
    """Run ``spec``'s cells and its exercise's checks; write the events to ``out``."""

    def emit(event: events.Event) -> None:
        out.write(events.dump(event) + "\n")
        out.flush()

    exercise = get_exercise(spec.exercise)
    checks = {c.name: c for c in exercise.checks}
    sources = dict(spec.cells)
    limits = {c.name: (spec.check_limit if spec.check_limit is not None else c.timeout) for c in exercise.checks}
    supervisor = Supervisor(
        cells=[i for i, _ in spec.cells],
        checks=[c.name for c in exercise.checks],
        cell_limit=spec.cell_limit,
        check_limits=limits,
        deadline=time.monotonic() + spec.submission_limit,
        time_limit=spec.submission_limit,
    )
    for note in spec.notes:
        emit(events.Note(note[: events.MAX_TEXT]))
    sandbox = Sandbox(SandboxLimits(memory_mb=spec.memory_mb), enabled=spec.sandbox)
    learner: _Learner | None = None
    warnings: list[str] = []
    try:
        while True:
            action = supervisor.next_action(time.monotonic())
            if isinstance(action, Finish):
                break
            if isinstance(action, Restart):
                if learner is not None:
                    warnings += _warnings(learner)
                    learner.kill()
                learner = None
                continue
            if learner is None:
                learner = _Learner(sandbox, spec.memory_mb)
                if sandbox.cgroups is not None and sandbox.cgroups.note and supervisor.restarts == 0:
                    emit(events.Progress(sandbox.cgroups.note))
            if isinstance(action, RunCell):
                emit(events.Progress(f"cell {action.index}"))
                fresh = learner.fresh
                try:
                    limit = supervisor.time_left(time.monotonic(), spec.cell_limit)
                    status, detail = learner.ask(
                        "run_cell", limit + GRACE, index=action.index, source=sources[action.index], limit=limit
                    )
                except Exception as exc:  # timed out, died, or answered what is not an answer
                    killed = isinstance(exc, TimeoutError)
                    why = "" if killed else learner.why_it_died()
                    learner.kill()
                    learner = None
                    if fresh and not killed and why:
                        raise SandboxFailed(f"the learner's process could not start: {why}") from None
                    supervisor.died(killed=killed, detail=why)
                    continue
                if not (isinstance(status, str) and isinstance(detail, str)):
                    status, detail = "error", "the notebook's process answered nonsense"
                supervisor.cell_done(action.index, str(status), stable(str(detail)))
                if action.record:
                    emit(events.CellResult(action.index, str(status), stable(str(detail))[: events.MAX_TEXT]))
                continue
            assert isinstance(action, RunCheck)
            check = checks[action.name]
            emit(events.CheckStart(check.name, limits[check.name]))
            try:
                learner.ask("begin_check", START_TIMEOUT)
            except Exception:
                learner.kill()
                learner = None
                supervisor.died(killed=False, detail="")
                continue
            result = run_check(
                check, learner.endpoint, timeout=supervisor.time_left(time.monotonic(), limits[check.name])
            )
            if learner.endpoint.closed and learner.exited():
                detail = learner.why_it_died()
                learner.kill()
                learner = None
                supervisor.died(killed=False, detail=detail)
                continue
            stuck = result.runaway
            if not stuck:
                try:
                    learner.ask("end_check", PING_TIMEOUT + 1.0)
                except Exception:
                    stuck = True
            learner.endpoint.reset()
            supervisor.check_done(check.name, result.status, result.message, fresh_process_needed=stuck)
            emit(events.CheckResult(check.name, result.status, stable(result.message)[: events.MAX_TEXT]))
            if stuck:
                learner.kill()
                learner = None
        if learner is not None:
            warnings += _warnings(learner)
    finally:
        if learner is not None:
            learner.kill()
        sandbox.close()
    for name, (status, message) in supervisor.check_results.items():
        if status == "not-run":
            emit(events.CheckResult(name, status, message))
    for index, (status, detail) in sorted(supervisor.cell_results.items()):
        if status in ("killed", "crashed"):
            emit(events.CellResult(index, status, detail[: events.MAX_TEXT]))
    for text in [*supervisor.notes, *dict.fromkeys(warnings)]:
        emit(events.Note(stable(text)[: events.MAX_TEXT]))
    emit(events.Done(supervisor.restarts))


def _warnings(learner: _Learner) -> list[str]:
    try:
        found = learner.ask("warnings", PING_TIMEOUT)
    except Exception:
        return []
    return [str(w)[:500] for w in found[:5]] if isinstance(found, list) else []


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m wslab.grading.checker SPEC.json", file=sys.stderr)
        raise SystemExit(2)
    try:
        grade_in_sandbox(Spec.load(args[0]), sys.stdout)
    except SandboxFailed as exc:
        print(f"wslab checker: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(3) from None


if __name__ == "__main__":
    main()
