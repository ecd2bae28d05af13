"""Grade a class's submissions: one fresh process each, time limits, a hard kill behind them.

:func:`grade` takes notebook paths and returns one :class:`Outcome` per
submission, handing each to its ``done`` hook as soon as it is graded;
:mod:`wslab.grading.outputs` is the hook ``wslab grade`` gives it, which writes
the gradebook (:mod:`wslab.grading.gradebook`) and the feedback
(:mod:`wslab.grading.feedback`) as each submission finishes. The contract:

* each submission runs in its own process (:mod:`wslab.grading.worker`), in
  its own process group and in a scratch directory, never in the grader;
* a cell has ``Limits.cell`` seconds, a check its own limit (or
  ``Limits.check``), the submission ``Limits.submission`` seconds in all;
* a worker that stops reporting (code that no signal can stop) is killed with
  its whole process group, then started again with the hung cell or check
  skipped, so a hang costs only what it touches;
* an invalid notebook, an unknown exercise or a crashed worker is a row with
  a status and a reason, never the end of the batch;
* outcomes are deterministic: no times or machine paths, notes sorted, so
  grading the same files twice gives identical outputs.

The grader does not sandbox learner code: it keeps it from hanging the batch,
not from doing harm. Grade on a machine or container you can throw away.
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

from wslab._moved import renamed_attribute
from wslab.grading.registry import Check, Exercise, exercise_for, exercises
from wslab.grading.runner import JOIN_GRACE, stable

__all__ = [
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


def _cell_ids(notebook: dict[str, Any]) -> dict[int, str]:
    return {i: str(c.get("id", "")) for i, c in enumerate(notebook["cells"], start=1)}


class _Run:
    """One worker process, its reports and its watchdog."""

    def __init__(self, cmd: list[str], cwd: str) -> None:
        env = dict(os.environ, WSLAB_GRADING="1", PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1")
        # The worker imports the same wslab as this grader, installed or not.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_PARENT, os.environ.get("PYTHONPATH")]))
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115  # lives as long as the run; close() ends it
        self.proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            start_new_session=True,
        )
        self.events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                self.events.put(event)
        self.events.put(None)

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.finish()

    def finish(self) -> None:
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL does not fail
            pass
        # The learner's code may have left children in its group: take them too.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.reader.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def close(self) -> None:
        """Release the run's stderr file (after :meth:`stderr_tail`, if that is wanted)."""
        self.stderr.close()

    def stderr_tail(self) -> str:
        self.stderr.seek(0)
        lines = self.stderr.read().decode("utf-8", "replace").strip().splitlines()
        # The last line says why (MemoryError, Segmentation fault...); paths would make it vary.
        return stable(re.sub(r"(/[^\s/'\"]+)+/?", "…", lines[-1]))[:300] if lines else ""


def grade_one(path: str | Path, name: str | None = None, limits: Limits = Limits()) -> Outcome:
    """Grade one submission in fresh worker processes; never raises for a bad submission."""
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
    ids = _cell_ids(notebook)
    checks = {c.name: c for c in ex.checks}
    results: dict[str, CheckOutcome] = {}
    cells: dict[int, tuple[str, str]] = {}
    skip_cells: set[int] = set()
    hung_cells: dict[int, tuple[str, str]] = {}
    warned: set[str] = set()
    deadline = time.monotonic() + limits.submission
    restarts = 0
    fresh_starts = 0

    with tempfile.TemporaryDirectory(prefix="wslab-grade-") as scratch:
        while True:
            cmd = [
                sys.executable, "-m", "wslab.grading.worker", str(path.resolve()),
                "--exercise", ex.name, "--cell-timeout", repr(limits.cell),
                "--skip-cells", ",".join(str(i) for i in sorted(skip_cells)),
                "--skip-checks", ",".join(sorted(results)),
                "--memory-mb", str(limits.memory_mb),
            ]
            if limits.check is not None:
                cmd += ["--check-timeout", repr(limits.check)]
            run = _Run(cmd, scratch)
            current: tuple[str, Any] | None = None
            item_deadline = time.monotonic() + STARTUP_ALLOWANCE
            finished = False
            fresh_start = False
            killed_for: str | None = None
            while True:
                now = time.monotonic()
                wait = min(item_deadline, deadline) - now
                if wait <= 0:
                    killed_for = "submission" if deadline <= item_deadline else "item"
                    run.kill()
                    break
                try:
                    event = run.events.get(timeout=wait)
                except queue.Empty:
                    continue
                if event is None:
                    run.finish()
                    break
                kind = event.get("event")
                now = time.monotonic()
                if kind == "cell-start":
                    current = ("cell", event["index"])
                    item_deadline = now + limits.cell + 1.0 + REPORT_GRACE
                elif kind == "cell":
                    # A cell skipped in a rerun (it was killed before) keeps its first verdict.
                    if not (event["status"] == "skipped" and event["index"] in cells):
                        cells[event["index"]] = (event["status"], event.get("detail", ""))
                    current, item_deadline = None, now + REPORT_GRACE
                elif kind == "check-start" and event.get("check") in checks:
                    current = ("check", event["check"])
                    item_deadline = now + limits.check_limit(checks[event["check"]]) + JOIN_GRACE + REPORT_GRACE
                elif kind == "check" and event.get("check") in checks:
                    results[event["check"]] = CheckOutcome(
                        checks[event["check"]], str(event.get("status")), str(event.get("message", ""))
                    )
                    current, item_deadline = None, now + REPORT_GRACE
                elif kind == "warning":
                    warned.add(str(event.get("text")))
                elif kind == "restart":
                    fresh_start = True
                elif kind == "done":
                    finished = True
                    run.finish()
                    break
            tail = "" if finished else run.stderr_tail()
            run.close()
            if finished:
                break
            if fresh_start and killed_for is None:
                fresh_starts += 1
                if fresh_starts <= MAX_FRESH_STARTS:
                    continue
                outcome.notes.append(f"gave up after {MAX_FRESH_STARTS} fresh starts")
                break
            # The worker was killed or died. Charge the item it was on, then go again without it.
            if killed_for == "submission":
                outcome.flag("time-limit")
                outcome.notes.append(
                    f"grading stopped at the time limit per submission ({limits.submission:g} s); "
                    "checks that had not run score 0"
                )
                break
            how = "did not stop after its time limit and was killed" if killed_for else (
                f"ended the grading process ({tail})" if tail else "ended the grading process"
            )
            outcome.flag("killed" if killed_for else "crashed")
            if current is None:
                outcome.notes.append(f"the grading process {'hung' if killed_for else 'died'} between steps; {how}")
                break
            kind, item = current
            if kind == "cell":
                skip_cells.add(item)
                hung_cells[item] = (
                    "killed" if killed_for else "crashed",
                    f"this cell {how}; it was skipped and the notebook run again without it",
                )
            else:
                limit = limits.check_limit(checks[item])
                results[item] = CheckOutcome(
                    checks[item], "timeout", f"your code {how} (it ignored the {limit:g} s limit)"
                )
            restarts += 1
            if restarts > MAX_RESTARTS:
                outcome.notes.append(f"gave up after {MAX_RESTARTS} restarts")
                break

    outcome.notes.extend(sorted(warned))  # sorted: the order they arrive in varies
    for index, (status, detail) in sorted(cells.items()):
        if index in hung_cells:
            status, detail = hung_cells[index]
        outcome.cells.append((index, ids.get(index, ""), status, detail))
        if status == "timeout":
            outcome.flag("timeout")
        elif status == "error":
            outcome.flag("cell-error")
    for index in sorted(set(hung_cells) - set(cells)):
        outcome.cells.append((index, ids.get(index, ""), *hung_cells[index]))
    for check in ex.checks:
        result = results.get(check.name)
        if result is None:
            result = CheckOutcome(check, "not-run", "not run: grading of this submission was stopped first")
        elif result.status == "timeout":
            outcome.flag("timeout")
        outcome.checks.append(result)
    return outcome


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


def grade(
    paths: Iterable[str | Path],
    *,
    jobs: int = 1,
    limits: Limits = Limits(),
    progress: Callable[[int, int, Outcome], None] | None = None,
    names: Sequence[str] | None = None,
    done: Callable[[Outcome], None] | None = None,
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
    """
    files = expand(paths)
    if names is None:
        names = _display_names(files)
    elif len(names) != len(files):
        raise ValueError(f"{len(names)} name(s) for {len(files)} submission(s): give one name per file")
    outcomes: list[Outcome] = []
    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    try:
        futures = [pool.submit(grade_one, f, n, limits) for f, n in zip(files, names, strict=True)]
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
