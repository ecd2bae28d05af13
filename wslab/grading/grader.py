"""Grade a class's submissions: each in a sandbox of its own, judged by a process it cannot reach.

:func:`grade` takes notebook paths and returns one :class:`Outcome` per
submission, handing each to its ``done`` hook as soon as it is graded;
:mod:`wslab.grading.outputs` is the hook ``wslab grade`` gives it, which writes
the gradebook (:mod:`wslab.grading.gradebook`) and the feedback
(:mod:`wslab.grading.feedback`) as each submission finishes. The contract:

* each submission has two processes, never the grader: a trusted checker
  (:mod:`wslab.grading.checker`, without a network) that holds the checks and
  decides every verdict, and the learner's process (:mod:`wslab.grading.worker`)
  in a bubblewrap sandbox (:mod:`wslab.grading.sandbox`: no network, no files but
  Python's, no checks, a memory and a process limit), which runs the learner's
  cells and answers the checks' calls over a data-only channel
  (:mod:`wslab.grading.rpc`); nothing the learner's code does, prints or
  returns can write a verdict;
* a cell has ``Limits.cell`` seconds, a check its own limit (or
  ``Limits.check``), the submission ``Limits.submission`` seconds in all;
  a learner's process that runs past a limit is killed with everything it
  started and started again with the hung cell or check charged and skipped,
  so a hang costs only what it touches (:mod:`wslab.grading.supervisor`);
* a checker that dies is started once more; if it dies again, the row says so;
* an invalid notebook, an unknown exercise or a crashed process is a row with
  a status and a reason, never the end of the batch;
* outcomes are deterministic: no times or machine paths, notes sorted, so
  grading the same files twice gives identical outputs.

Without the sandbox (no bubblewrap here) :func:`grade` refuses, unless told
``sandbox=False`` (``wslab grade --no-sandbox``): the same two processes, with
nothing between the learner's code and this machine. Unix only.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import wslab.grading.events as events
from wslab._moved import renamed_attribute
from wslab.core.errors import GradingRefused, ReleaseError
from wslab.grading.owned import Prepared, prepare, released_notebook
from wslab.grading.registry import Check, Exercise, exercise_for, exercises, hidden_missing
from wslab.grading.runner import JOIN_GRACE, stable
from wslab.grading.sandbox import STDERR_TAIL, Cgroups, checker_prefix, unavailable

__all__ = [
    "refusal",
    "Limits",
    "Outcome",
    "CheckOutcome",
    "grade",
    "grade_one",
    "expand",
    "display_names",
    "STARTUP_ALLOWANCE",
    "REPORT_GRACE",
    "MAX_RESTARTS",
    "MAX_FRESH_STARTS",
    "STATUS_ORDER",
]

_PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent.parent)

STARTUP_ALLOWANCE = 20.0
"""Seconds a worker may take to start and import before its first report."""

REPORT_GRACE = 5.0
"""Seconds past a cell's or check's own limit before the worker counts as hung and is killed."""

MAX_RESTARTS = 6
"""Times one submission's worker may be killed and started again."""

MAX_FRESH_STARTS = 20
"""Times a worker may ask to be replaced because a check left code running in a thread."""

STATUS_ORDER = (
    "invalid-notebook", "unknown-exercise", "time-limit", "killed", "crashed", "timeout", "cell-error", "ok",
)
"""Submission statuses, most serious first; the gradebook shows the most serious that applies."""


@dataclass(frozen=True)
class Limits:
    """Time limits, in seconds (``check`` of None keeps each check's own limit), and memory, in MiB."""

    cell: float = 10.0
    check: float | None = None
    submission: float = 60.0
    memory_mb: int = 2048

    def check_limit(self, check: Check) -> float:
        return check.timeout if self.check is None else self.check


@dataclass
class CheckOutcome:
    check: Check
    status: str
    message: str = ""

    @property
    def points(self) -> int:
        return self.check.points if self.status == "pass" else 0


@dataclass
class Outcome:
    """The grade of one submission."""

    path: Path
    name: str
    exercise: Exercise | None
    status: str = "ok"
    checks: list[CheckOutcome] = field(default_factory=list)
    cells: list[tuple[int, str, str, str]] = field(default_factory=list)  # (index, id, status, detail)
    notes: list[str] = field(default_factory=list)
    student: str = ""
    """The learner's id for the gradebook, when the outputs know it (:func:`wslab.grading.gradebook.student_id`)."""

    @property
    def total(self) -> int:
        return sum(c.points for c in self.checks)

    @property
    def max_points(self) -> int:
        return self.exercise.max_points if self.exercise else 0

    def flag(self, status: str) -> None:
        """Record a problem; the status shown is the most serious one."""
        if STATUS_ORDER.index(status) < STATUS_ORDER.index(self.status):
            self.status = status


# ---------------------------------------------------------------------- one submission


def _load(path: Path) -> tuple[dict[str, Any] | None, str]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, f"cannot read the file: {exc.strerror or exc}"
    try:
        notebook = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return None, f"the file is not a Jupyter notebook (not valid JSON: {str(exc)[:120]})"
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        return None, "the file is JSON but not a Jupyter notebook (no list of cells)"
    if notebook.get("nbformat") != 4:
        return None, f"nbformat {notebook.get('nbformat')!r} is not supported; save the notebook with Jupyter 4+"
    for cell in notebook["cells"]:
        if not isinstance(cell, dict) or "cell_type" not in cell:
            return None, "the notebook has a malformed cell (no cell_type)"
    return notebook, ""


class _Checker:
    """The trusted checker process of one submission, and the events it reports."""

    def __init__(self, spec_path: Path, sandbox: bool) -> None:
        env = dict(os.environ, WSLAB_GRADING="1", PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1")
        # The checker imports the same wslab as this grader, installed or not.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_PARENT, os.environ.get("PYTHONPATH")]))
        command = [sys.executable, "-m", "wslab.grading.checker", str(spec_path)]
        if sandbox:
            command = [*checker_prefix(), *command]
        self.proc = subprocess.Popen(
            command,
            cwd=spec_path.parent,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self.events: queue.Queue[events.Event | None] = queue.Queue()
        self.errors: list[str] = []
        self._stderr = b""
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                self.events.put(events.parse(line))
            except ValueError as exc:
                self.errors.append(f"the checker wrote a line that is not an event ({exc})")
        self.events.put(None)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        while chunk := self.proc.stderr.read1(65536):  # type: ignore[attr-defined]
            self._stderr = (self._stderr + chunk)[-STDERR_TAIL:]

    def stderr_tail(self) -> str:
        lines = self._stderr.decode("utf-8", "replace").strip().splitlines()
        return stable(re.sub(r"(/[^\s/'\"]+)+/?", "…", lines[-1]))[:300] if lines else ""

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL does not fail
            pass


def _runnable(prepared: Prepared) -> tuple[list[tuple[int, str]], dict[int, tuple[int | None, str]]]:
    """The code cells to run, numbered in the prepared notebook, and for each number where the learner sees it:
    ``(position in the submission or None for a cell put back, cell id)``."""
    cells: list[tuple[int, str]] = []
    where: dict[int, tuple[int | None, str]] = {}
    for index, cell in enumerate(prepared.cells, start=1):
        if cell.cell.get("cell_type") != "code":
            continue
        cells.append((index, cell.source))
        where[index] = (cell.position, str(cell.cell.get("id", "")))
    return cells, where


def grade_one(
    path: str | Path,
    name: str | None = None,
    limits: Limits = Limits(),
    *,
    sandbox: bool = True,
    release: dict[str, Any] | None = None,
) -> Outcome:
    """Grade one submission: a trusted checker runs it in a sandbox (``sandbox``) and decides every verdict.

    The course's own cells (setup, instructions, check) come from the current
    release (``release``, by default :func:`~wslab.grading.owned.released_notebook`),
    whatever the submission holds (:func:`~wslab.grading.owned.prepare`). Never
    raises for a bad submission; raises :class:`~wslab.core.errors.ReleaseError`
    when the course's release cannot be found. A checker that dies before it is
    done (killed from outside, say) is started once more; a checker that stops
    reporting is killed.
    """
    path = Path(path)
    outcome = Outcome(path, name or path.name, None)
    notebook, problem = _load(path)
    if notebook is None:
        outcome.flag("invalid-notebook")
        outcome.notes.append(problem)
        return outcome
    ex = exercise_for(path, notebook.get("metadata"))
    if ex is None:
        outcome.flag("unknown-exercise")
        known = ", ".join(f"{e.notebook} ({e.name})" for e in exercises())
        outcome.notes.append(
            "cannot tell which exercise this is: the notebook metadata has no wslab.exercise "
            f"and the file name names none of {known}"
        )
        return outcome
    outcome.exercise = ex
    try:
        prepared = prepare(notebook, release or released_notebook(ex))
    except ValueError as exc:  # ReleaseError (the course's release cannot be read) is the grader's to report
        if isinstance(exc, ReleaseError):
            raise
        outcome.flag("invalid-notebook")
        outcome.notes.append(f"the notebook cannot be graded as exercise {ex.name}: {exc}")
        return outcome
    outcome.notes.extend(prepared.notes)
    to_run, where = _runnable(prepared)
    # Imported here, not at the top: the checker runs as ``python -m wslab.grading.checker``, and a module
    # the package's import already loaded would be run a second time (runpy warns).
    from wslab.grading.checker import Spec

    spec = Spec(
        exercise=ex.name,
        cells=to_run,
        cell_limit=limits.cell,
        check_limit=limits.check,
        submission_limit=limits.submission,
        memory_mb=limits.memory_mb,
        sandbox=sandbox,
    )
    cells: dict[int, tuple[str, str]] = {}
    results: dict[str, CheckOutcome] = {}
    notes: list[str] = []
    checks = {c.name: c for c in ex.checks}
    with tempfile.TemporaryDirectory(prefix="wslab-grade-") as scratch:
        spec_path = Path(scratch) / "spec.json"
        spec.dump(spec_path)
        for attempt in (1, 2):
            checker = _Checker(spec_path, sandbox)
            done, hung = _follow(checker, limits, cells, results, checks, notes)
            checker.kill()
            if sandbox:
                Cgroups.sweep()  # a checker killed before it cleaned up leaves its empty cgroups behind
            if done:
                break
            if hung:
                outcome.flag("killed")
                notes.append("the grading of this submission stopped answering and was killed")
                break
            tail = checker.stderr_tail()
            if attempt == 2:
                outcome.flag("crashed")
                notes.append(f"the grading process ended before it was done{f' ({tail})' if tail else ''}")
            results.clear()  # start again from scratch: the verdicts of a run that did not finish do not count
            cells.clear()
            notes.clear()
    outcome.notes.extend(dict.fromkeys(notes))
    for index, (status, detail) in sorted(cells.items()):
        position, cell_id = where.get(index, (None, ""))
        if position is None:
            detail = f"(a course cell that was put back) {detail}".strip()
        outcome.cells.append((position or 0, cell_id, status, detail))
        if status == "timeout":
            outcome.flag("timeout")
        elif status == "error":
            outcome.flag("cell-error")
        elif status in ("killed", "crashed"):
            outcome.flag(status)
    for check in ex.checks:
        result = results.get(check.name)
        if result is None:
            result = CheckOutcome(check, "not-run", "not run: grading of this submission was stopped first")
        elif result.status == "timeout":
            outcome.flag("timeout")
        if result.status == "not-run" and any(n.startswith("grading stopped at the time limit") for n in notes):
            outcome.flag("time-limit")
        outcome.checks.append(result)
    return outcome


def _follow(
    checker: _Checker,
    limits: Limits,
    cells: dict[int, tuple[str, str]],
    results: dict[str, CheckOutcome],
    checks: dict[str, Check],
    notes: list[str],
) -> tuple[bool, bool]:
    """Read ``checker``'s events into the tables until it is done; ``(done, hung)``."""
    submission_deadline = time.monotonic() + limits.submission + STARTUP_ALLOWANCE + REPORT_GRACE
    deadline = time.monotonic() + STARTUP_ALLOWANCE
    while True:
        wait = min(deadline, submission_deadline) - time.monotonic()
        if wait <= 0:
            return False, True
        try:
            event = checker.events.get(timeout=wait)
        except queue.Empty:
            continue
        if event is None:
            return False, False
        now = time.monotonic()
        deadline = now + limits.cell + STARTUP_ALLOWANCE + REPORT_GRACE
        if isinstance(event, events.CheckStart):
            deadline = now + event.limit + JOIN_GRACE + STARTUP_ALLOWANCE + REPORT_GRACE
        elif isinstance(event, events.CellResult):
            cells[event.index] = (event.status, event.detail)
        elif isinstance(event, events.CheckResult) and event.name in checks:
            results[event.name] = CheckOutcome(checks[event.name], event.status, event.message)
        elif isinstance(event, events.Note):
            notes.append(event.text)
        elif isinstance(event, events.Done):
            return True, False


# ---------------------------------------------------------------------- a class


def _display_names(paths: Sequence[Path]) -> list[str]:
    parents = [str(p.resolve().parent) for p in paths]
    base = os.path.commonpath(parents) if parents else ""
    return [os.path.relpath(p.resolve(), base) if base else p.name for p in paths]


def display_names(paths: Sequence[Path]) -> list[str]:
    """How each submission is named in the gradebook and feedback: its path relative to the folder all share."""
    return _display_names(paths)


def expand(paths: Iterable[str | Path]) -> list[Path]:
    """Submission paths: files as given, directories as the ``*.ipynb`` files inside (sorted)."""
    found: list[Path] = []
    seen: set[Path] = set()
    for item in paths:
        p = Path(item)
        group = sorted(q for q in p.rglob("*.ipynb") if ".ipynb_checkpoints" not in q.parts) if p.is_dir() else [p]
        for q in group:
            key = q.resolve()
            if key not in seen:
                seen.add(key)
                found.append(q)
    return found


def refusal(sandbox: bool = True) -> str | None:
    """Why this install cannot grade fairly, or None: no hidden checks (a learner's edition), or ``sandbox``
    asked for and no sandbox can be made here (:func:`wslab.grading.sandbox.unavailable` says what to install)."""
    problem = hidden_missing()
    if problem is None and sandbox:
        problem = unavailable()
    return problem


def grade(
    paths: Iterable[str | Path],
    *,
    jobs: int = 1,
    limits: Limits = Limits(),
    progress: Callable[[int, int, Outcome], None] | None = None,
    names: Sequence[str] | None = None,
    done: Callable[[Outcome], None] | None = None,
    sandbox: bool = True,
) -> list[Outcome]:
    """Grade every submission, ``jobs`` at a time; outcomes sorted by submission name.

    ``names`` gives the display names of the files of ``expand(paths)``, in
    order (default: :func:`display_names`); a :class:`ValueError` if there is not
    one per file. ``done(outcome)`` is called in the calling thread as each
    submission finishes, before ``progress``: it is where the outputs are written
    (:meth:`wslab.grading.outputs.Outputs.record`), so a batch killed half way
    keeps what it graded. If ``done`` (or the caller, with Ctrl-C) raises,
    submissions not yet started are cancelled, those running are waited for, and
    the exception propagates.

    Raises :class:`~wslab.core.errors.GradingRefused` before grading anything when this install
    cannot grade fairly: no hidden checks (a learner's edition), or ``sandbox`` asked for and no
    sandbox can be made here (:func:`wslab.grading.sandbox.unavailable` says why).
    """
    problem = refusal(sandbox)
    if problem is not None:
        raise GradingRefused(problem)
    files = expand(paths)
    if names is None:
        names = _display_names(files)
    elif len(names) != len(files):
        raise ValueError(f"{len(names)} name(s) for {len(files)} submission(s): give one name per file")
    outcomes: list[Outcome] = []
    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    try:
        futures = [
            pool.submit(grade_one, f, n, limits, sandbox=sandbox) for f, n in zip(files, names, strict=True)
        ]
        for finished, future in enumerate(as_completed(futures), start=1):
            outcome = future.result()
            outcomes.append(outcome)
            if done is not None:
                done(outcome)
            if progress is not None:
                progress(finished, len(futures), outcome)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return sorted(outcomes, key=lambda o: o.name)


def __getattr__(name: str) -> object:
    """The output functions that moved to :mod:`wslab.grading.gradebook` and :mod:`wslab.grading.feedback`
    in 0.2 (with a DeprecationWarning)."""
    return renamed_attribute(__name__, name)
