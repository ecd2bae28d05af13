"""Everything ``wslab grade`` writes, written as each submission finishes, and a record to resume from.

:class:`Outputs` is the hook :func:`wslab.grading.grader.grade` calls (``done=outputs.record``).
Its life: ``Outputs(...)`` opens the places it writes and refuses clearly
(:class:`OutputError`) before anything is graded; :meth:`Outputs.begin` reads
the submissions (a SHA-256 of each, its student id) and, with ``resume``, takes
back those the state file already graded; :meth:`Outputs.record` is called once
per graded submission; :meth:`Outputs.finish` says what could not be done. The contract:

* **Incremental.** After each submission: its line is appended to the state
  file (and ``fsync``-ed), its Markdown and HTML feedback written, and the whole
  gradebook rewritten. A grader killed with SIGKILL after N submissions leaves a
  valid gradebook with those N rows.
* **Atomic, never through a symlink** (:mod:`wslab.grading.atomic`). The
  gradebook's folder and the feedback folder are opened once, at the start.
* **Nothing lost to one bad write.** A feedback file or the gradebook that
  cannot be written (a directory put in its place, a full disk) is reported
  through ``report`` as it happens and in :meth:`Outputs.finish`; grading goes
  on, and the state file keeps every result, so ``--resume`` writes it all later.
* **Resumable.** The state file is ``<gradebook>.state.jsonl`` beside the
  gradebook (:data:`STATE_SUFFIX`): JSON lines, a header (format version, wslab
  version, limits), then one line per graded submission: its display name, the
  SHA-256 of its bytes and its outcome as data (:func:`outcome_data`). With
  ``resume``, a submission whose name and bytes match a line (the last one for
  that name) is not graded again; the outputs are the same bytes a full run
  writes. A state file written with other limits or another wslab is refused; a
  line that cannot be read (a torn last line, a check the registry no longer
  has) is graded again. Without ``resume`` the file starts afresh.
* **One grader per gradebook.** The state file is locked (``flock``) for the
  whole run: a second ``wslab grade`` on the same gradebook is refused.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import hashlib
import json
import os
import re
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wslab import __version__
from wslab.grading.atomic import Folder
from wslab.grading.feedback import feedback_html, feedback_names, feedback_text, one_line
from wslab.grading.gradebook import FORMATS, Placement, gradebook_text, place, student_id
from wslab.grading.grader import STATUS_ORDER, CheckOutcome, Limits, Outcome
from wslab.grading.registry import exercise_for, get_exercise

__all__ = [
    "STATE_SUFFIX",
    "STATE_VERSION",
    "OutputError",
    "Outputs",
    "StateFile",
    "Summary",
    "outcome_data",
    "outcome_from_data",
    "state_path",
]

STATE_SUFFIX = ".state.jsonl"
"""The state file is the gradebook's path plus this: ``gradebook.csv.state.jsonl``."""

STATE_VERSION = 1
"""The format of the state file's lines (its header's ``wslab_grade_state``)."""

_HEX64 = re.compile(r"[0-9a-f]{64}")


class OutputError(Exception):
    """The outputs cannot be written where asked; the message says where and why, for the instructor."""


def state_path(out: str | Path) -> Path:
    """Where the state file of the gradebook ``out`` is."""
    out = Path(out)
    return out.with_name(out.name + STATE_SUFFIX)


# ---------------------------------------------------------------------- outcomes as data


def outcome_data(outcome: Outcome) -> dict[str, Any]:
    """An outcome as JSON-ready data: everything grading found, nothing the outputs add (path, student id)."""
    return {
        "exercise": outcome.exercise.name if outcome.exercise else None,
        "status": outcome.status,
        "checks": [{"check": c.check.name, "status": c.status, "message": c.message} for c in outcome.checks],
        "cells": [list(cell) for cell in outcome.cells],
        "notes": list(outcome.notes),
    }


def outcome_from_data(data: Any, path: Path, name: str) -> Outcome | None:
    """The :class:`Outcome` that :func:`outcome_data` gave ``data``, or None if it is malformed or stale.

    Stale: its exercise or its list of checks (names, in order) is not the
    registry's now, so grading again would not give the same result.
    """
    if not isinstance(data, dict):
        return None
    exercise_name, status, checks, cells, notes = (data.get(k) for k in ("exercise", "status", "checks", "cells",
                                                                           "notes"))
    if status not in STATUS_ORDER or not isinstance(checks, list) or not isinstance(cells, list):
        return None
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        return None
    exercise = None
    if exercise_name is not None:
        if not isinstance(exercise_name, str):
            return None
        try:
            exercise = get_exercise(exercise_name)
        except KeyError:
            return None
    registered = exercise.checks if exercise else []
    if len(checks) != len(registered):
        return None
    results = []
    for check, item in zip(registered, checks, strict=True):
        if not isinstance(item, dict) or item.get("check") != check.name:
            return None
        if not isinstance(item.get("status"), str) or not isinstance(item.get("message"), str):
            return None
        results.append(CheckOutcome(check, item["status"], item["message"]))
    rows = []
    for cell in cells:
        if not (isinstance(cell, list) and len(cell) == 4 and type(cell[0]) is int
                and all(isinstance(x, str) for x in cell[1:])):
            return None
        rows.append((cell[0], cell[1], cell[2], cell[3]))
    return Outcome(path, name, exercise, status, results, rows, list(notes))


# ---------------------------------------------------------------------- the state file


def _limits_text(limits: dict[str, Any]) -> str:
    check = limits.get("check")
    return (
        f"--cell-timeout {limits.get('cell')} --check-timeout {'(each check its own)' if check is None else check} "
        f"--timeout {limits.get('submission')} --memory {limits.get('memory_mb')}"
    )


class StateFile:
    """The record of a run: a header, then one JSON line per graded submission; locked while open.

    ``resume`` reads what is there (:attr:`entries`); otherwise the file starts
    afresh. Raises :class:`OutputError` when it cannot be opened, is locked by
    another grader, is not a state file, or (with ``resume``) was written with
    other limits or another wslab.
    """

    def __init__(self, folder: Folder, name: str, limits: Limits, *, resume: bool) -> None:
        self.path = folder.path / name
        self.header = {"wslab_grade_state": STATE_VERSION, "wslab": __version__, "limits": dataclasses.asdict(limits)}
        self.entries: dict[str, dict[str, Any]] = {}
        """display name -> its last readable line (``name``, ``sha256``, ``outcome``)."""
        self.unreadable = 0
        """Lines that could not be read (their submissions are graded again)."""
        self.found = False
        """Whether ``resume`` found a state to resume from."""
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            try:
                self.fd = os.open(name, flags, 0o666, dir_fd=folder.fd)
            except OSError as exc:
                if exc.errno != errno.ELOOP:
                    raise
                if resume:
                    raise OutputError(
                        f"{self.path} is a symlink: wslab grade neither reads nor writes through one; remove it"
                    ) from None
                os.unlink(name, dir_fd=folder.fd)  # a fresh run replaces it
                self.fd = os.open(name, flags, 0o666, dir_fd=folder.fd)
        except OSError as exc:
            raise OutputError(f"cannot write the state file {self.path}: {exc.strerror or exc}") from None
        try:
            if not stat.S_ISREG(os.fstat(self.fd).st_mode):
                raise OutputError(f"{self.path} is not a regular file")
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise OutputError(
                    f"another wslab grade is writing this gradebook (it holds {self.path}): "
                    "wait for it to finish, or stop it"
                ) from None
            if resume:
                self._read()
            else:
                self._start()
        except BaseException:
            os.close(self.fd)
            raise

    def _start(self) -> None:
        os.ftruncate(self.fd, 0)
        self._write(self.header)

    def _read(self) -> None:
        data = b""
        os.lseek(self.fd, 0, os.SEEK_SET)
        while chunk := os.read(self.fd, 1 << 20):
            data += chunk
        lines = data.split(b"\n")
        complete, torn = lines[:-1], lines[-1]
        if not complete:  # empty, or killed while writing its header
            self._start()
            return
        try:
            header = json.loads(complete[0])
        except ValueError:
            header = None
        if not isinstance(header, dict) or "wslab_grade_state" not in header:
            raise OutputError(f"{self.path} is not a wslab grade state file: move it away, or grade without --resume")
        if header.get("wslab_grade_state") != STATE_VERSION or header.get("wslab") != __version__:
            raise OutputError(
                f"{self.path} was written by another wslab ({header.get('wslab')}, state format "
                f"{header.get('wslab_grade_state')}): grade without --resume"
            )
        if header.get("limits") != self.header["limits"]:
            limits = header.get("limits")
            old: dict[str, Any] = limits if isinstance(limits, dict) else {}
            raise OutputError(
                f"{self.path} was graded with other limits ({_limits_text(old)}): resume with those, "
                "or grade without --resume"
            )
        self.found = True
        for line in complete[1:]:
            try:
                entry = json.loads(line)
            except ValueError:
                entry = None
            if (isinstance(entry, dict) and isinstance(entry.get("name"), str)
                    and isinstance(entry.get("sha256"), str) and _HEX64.fullmatch(entry["sha256"])
                    and isinstance(entry.get("outcome"), dict)):
                self.entries[entry["name"]] = entry
            else:
                self.unreadable += 1
        if torn:  # a line cut short by a kill: drop it, so the next line starts clean
            self.unreadable += 1
            os.ftruncate(self.fd, len(data) - len(torn))

    def _write(self, data: dict[str, Any]) -> None:
        line = (json.dumps(data, sort_keys=True, ensure_ascii=True) + "\n").encode("ascii")
        os.lseek(self.fd, 0, os.SEEK_END)
        view = memoryview(line)
        while view:
            view = view[os.write(self.fd, view):]
        os.fsync(self.fd)

    def append(self, name: str, digest: str, outcome: Outcome) -> None:
        """Record one graded submission, durably (:class:`OSError` if it cannot be written)."""
        self._write({"name": name, "sha256": digest, "outcome": outcome_data(outcome)})

    def close(self) -> None:
        """Release the lock and the file."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


# ---------------------------------------------------------------------- the outputs


@dataclass
class _Submission:
    path: Path
    name: str
    digest: str
    student: str
    notes: list[str]
    exercise: str | None


@dataclass
class Summary:
    """What :meth:`Outputs.finish` found: counts, and everything the instructor should look at."""

    graded: int = 0
    """Submissions graded in this run."""
    reused: int = 0
    """Submissions taken back from the state file (``resume``)."""
    without_id: list[str] = field(default_factory=list)
    """Display names of submissions with no student id."""
    placement: Placement = field(default_factory=Placement)
    """The LMS placement (duplicates, what has no place); see :func:`wslab.grading.gradebook.place`."""
    problems: list[str] = field(default_factory=list)
    """Outputs that could not be written, each a sentence."""
    gradebook_written: bool = True
    """Whether the gradebook on disk has every graded submission."""


def _digest(path: Path) -> tuple[str, Any]:
    """The SHA-256 of the file, and its notebook metadata when it is JSON with some ('' and None if unreadable)."""
    try:
        raw = path.read_bytes()
    except OSError:
        return "", None
    metadata = None
    with contextlib.suppress(ValueError, UnicodeDecodeError, RecursionError):
        notebook = json.loads(raw.decode("utf-8"))
        if isinstance(notebook, dict) and isinstance(notebook.get("metadata"), dict):
            metadata = notebook["metadata"]
    return hashlib.sha256(raw).hexdigest(), metadata


class Outputs:
    """The gradebook (``out``), the feedback folder and the state file of one ``wslab grade`` run.

    ``format`` is one of :data:`wslab.grading.gradebook.FORMATS`; ``id_pattern``
    finds student ids (default :data:`wslab.grading.gradebook.DEFAULT_ID_PATTERN`);
    ``id_column`` is where the ``canvas`` format puts them; ``html`` writes HTML
    feedback beside the Markdown; ``report`` receives a sentence for each problem
    as it happens. Raises :class:`OutputError` (nothing written, nothing left
    open) if ``out`` is a directory, a folder cannot be created or written, or the
    state file refuses (see :class:`StateFile`).
    """

    def __init__(
        self,
        out: str | Path,
        feedback: str | Path,
        *,
        limits: Limits,
        format: str = "csv",
        id_pattern: re.Pattern[str] | None = None,
        id_column: str = "sis-login-id",
        resume: bool = False,
        html: bool = True,
        report: Callable[[str], None] | None = None,
    ) -> None:
        if format not in FORMATS:
            raise ValueError(f"unknown gradebook format {format!r}: choose one of {', '.join(FORMATS)}")
        gradebook_text([], format, id_column=id_column)  # a ValueError now for an unknown id column
        self.out = Path(out)
        self.format = format
        self.id_pattern = id_pattern
        self.id_column = id_column
        self.resume = resume
        self.html = html
        self.report = report or (lambda message: None)
        self.summary = Summary()
        self._subs: dict[str, _Submission] = {}
        self._shown: dict[str, Outcome] = {}
        self._md: dict[str, str] = {}
        self._html: dict[str, str] = {}
        self._gradebook_failing = False
        if self.out.is_dir() and not self.out.is_symlink():
            raise OutputError(f"{self.out} is a directory: --out names the gradebook file to write")
        opened: list[Folder | StateFile] = []
        try:
            self.out_folder = self._folder(self.out.parent, "the gradebook's folder")
            opened.append(self.out_folder)
            self.state = StateFile(self.out_folder, state_path(self.out).name, limits, resume=resume)
            opened.append(self.state)
            self.feedback = self._folder(Path(feedback), "the feedback folder")
        except BaseException:
            for thing in reversed(opened):
                thing.close()
            raise

    @staticmethod
    def _folder(path: Path, what: str) -> Folder:
        try:
            folder = Folder(path)
        except OSError as exc:
            raise OutputError(f"cannot write {exc.filename or path} ({what}): {exc.strerror or exc}") from None
        try:
            folder.check_writable()
        except OSError as exc:
            folder.close()
            raise OutputError(f"cannot write in {path} ({what}): {exc.strerror or exc}") from None
        return folder

    # -- the run

    def begin(self, files: Sequence[Path], names: Sequence[str]) -> list[tuple[Path, str]]:
        """Read every submission of the batch; returns those still to grade, as (path, display name).

        Also computes the feedback names for the whole batch, finds student ids
        and shared ids, takes back (with ``resume``) what the state file graded
        from the same bytes, writes their outputs, and writes the gradebook.
        """
        if len(files) != len(names):
            raise ValueError("one display name per file")
        self._md = feedback_names(names)
        self._html = feedback_names(names, suffix=".html")
        for path, name in zip(files, names, strict=True):
            self._subs[name] = self._read(path, name)
        shared: dict[tuple[str, str], list[str]] = {}
        for sub in self._subs.values():
            if sub.student and sub.exercise:
                shared.setdefault((sub.student, sub.exercise), []).append(sub.name)
        for (student, exercise), group in shared.items():
            if len(group) < 2:
                continue
            counted = "" if self.format == "csv" else "; the gradebook counts the highest score"
            for name in group:
                self._subs[name].notes.append(
                    f"{len(group)} submissions carry the student id {student} for the exercise {exercise}: "
                    f"{', '.join(sorted(group))}{counted}"
                )
        todo = []
        for path, name in zip(files, names, strict=True):
            sub = self._subs[name]
            entry = self.state.entries.get(name)
            outcome = None
            if entry is not None and sub.digest and entry["sha256"] == sub.digest:
                outcome = outcome_from_data(entry["outcome"], path, name)
            if outcome is None:
                todo.append((path, name))
            else:
                self.summary.reused += 1
                self._keep(outcome)
        self._write_gradebook()
        return todo

    def _read(self, path: Path, name: str) -> _Submission:
        digest, metadata = _digest(path)
        student, note = student_id(name, metadata, self.id_pattern)
        ex = exercise_for(path, metadata)
        return _Submission(path, name, digest, student, [note] if note else [], ex.name if ex else None)

    def record(self, outcome: Outcome) -> None:
        """The hook: record one graded submission and bring every output up to date. Never raises OSError."""
        sub = self._subs.get(outcome.name)
        if sub is None:  # not announced by begin(): read it now
            sub = self._subs[outcome.name] = self._read(outcome.path, outcome.name)
        self.summary.graded += 1
        try:
            self.state.append(sub.name, sub.digest, outcome)
        except OSError as exc:
            self._problem(f"cannot record {one_line(sub.name)} in {self.state.path}: {exc.strerror or exc}")
        self._keep(outcome)
        self._write_gradebook()

    def _keep(self, outcome: Outcome) -> None:
        sub = self._subs[outcome.name]
        shown = dataclasses.replace(outcome, student=sub.student, notes=[*outcome.notes, *sub.notes])
        self._shown[outcome.name] = shown
        files = [(self._md.get(shown.name) or feedback_names([shown.name])[shown.name], feedback_text)]
        if self.html:
            html_name = self._html.get(shown.name) or feedback_names([shown.name], ".html")[shown.name]
            files.append((html_name, feedback_html))
        for file_name, render in files:
            try:
                self.feedback.write(file_name, render(shown).encode("utf-8"))
            except OSError as exc:
                self._problem(
                    f"cannot write the feedback of {one_line(shown.name)} ({self.feedback.path / file_name}): "
                    f"{exc.strerror or exc}"
                )

    def _write_gradebook(self) -> None:
        text = gradebook_text(self.outcomes(), self.format, id_column=self.id_column)
        try:
            self.out_folder.write(self.out.name, text.encode("utf-8"), fsync=True)
        except OSError as exc:
            if not self._gradebook_failing:
                self._problem(
                    f"cannot write the gradebook {self.out}: {exc.strerror or exc}; grading goes on and every "
                    f"result is kept in {self.state.path}: fix it, then run the same command with --resume "
                    "to write the gradebook without grading again"
                )
            self._gradebook_failing = True
        else:
            self._gradebook_failing = False

    def _problem(self, message: str) -> None:
        self.summary.problems.append(message)
        self.report(message)

    def outcomes(self) -> list[Outcome]:
        """The outcomes written so far, as shown (with student ids and the outputs' notes), sorted by name."""
        return [self._shown[name] for name in sorted(self._shown)]

    def finish(self) -> Summary:
        """Close everything and say what happened (see :class:`Summary`)."""
        outcomes = self.outcomes()
        self.summary.without_id = [o.name for o in outcomes if not o.student]
        self.summary.placement = place(outcomes)
        self.summary.gradebook_written = not self._gradebook_failing
        self.close()
        return self.summary

    def close(self) -> None:
        """Release the folders and the state file's lock (safe to call twice)."""
        for thing in (getattr(self, "feedback", None), getattr(self, "state", None), getattr(self, "out_folder", None)):
            if thing is not None:
                thing.close()
