"""The gradebook: student ids, and the CSV in three shapes (ours, Canvas's import, Moodle's import).

``wslab grade --format csv|canvas|moodle`` writes one of:

* ``csv``: a row per submission, sorted by name: ``student``, ``submission``,
  ``exercise``, ``status``, a column per check named ``exercise/check`` holding
  the points earned (blank when the check is another exercise's), ``total``,
  ``max``; the first row under the header is ``Points Possible`` (each check's points).
* ``canvas``: Canvas's gradebook import: ``Student``, ``ID``, ``SIS User ID``,
  ``SIS Login ID``, ``Section``, then one column per exercise named after its
  notebook (``04-chat``), a ``Points Possible`` row, and a row per student id
  (the id in ``Student`` and in the column ``id_column`` names; blank cells
  mean "no change" to Canvas).
* ``moodle``: Moodle's CSV grade import: ``Identifier``, then per exercise a
  grade column (``04-chat``) and a feedback column (``04-chat feedback``), a
  row per student id; no points row (Moodle would read it as a student).

The contract:

* **Student ids** come from the display name by :data:`DEFAULT_ID_PATTERN` (or
  the pattern given), else from the notebook's ``metadata.wslab.student``; see
  :func:`student_id`. A submission without one is a row with a blank id in
  ``csv`` and is left out of ``canvas`` and ``moodle`` (:func:`place` says so).
* **One grade per student and exercise** in the LMS shapes: when several
  submissions carry the same id for the same exercise, the highest total counts
  (ties: the first by name), and :func:`place` lists them all.
* **No formula injection**: a text cell starting with ``=``, ``+``, ``-``,
  ``@``, a tab, a carriage return, their full-width forms, or ``'`` is written
  with a ``'`` before it (:func:`csv_cell`), as spreadsheets and LMS imports
  expect; :func:`csv_value` undoes it, so names round-trip exactly.
* **Deterministic**: rows sorted, no times or paths; UTF-8, CRLF line ends (RFC 4180).
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wslab.grading.atomic import write_atomic
from wslab.grading.grader import Outcome
from wslab.grading.registry import Check, Exercise, exercises

__all__ = [
    "FORMATS",
    "CANVAS_ID_COLUMNS",
    "DEFAULT_ID_PATTERN",
    "POINTS_POSSIBLE",
    "Placement",
    "compile_id_pattern",
    "student_id",
    "place",
    "csv_cell",
    "csv_value",
    "gradebook_text",
    "write_gradebook",
]

FORMATS = ("csv", "canvas", "moodle")
"""The shapes of gradebook ``wslab grade --format`` writes."""

CANVAS_ID_COLUMNS = {"sis-login-id": "SIS Login ID", "sis-user-id": "SIS User ID", "id": "ID"}
"""``--canvas-id`` choices: which Canvas column receives the student id (Canvas matches ``ID`` first,
then ``SIS User ID``, then ``SIS Login ID``, then the name)."""

POINTS_POSSIBLE = "Points Possible"
"""The first cell of the row that gives each column's maximum (Canvas reads it; our CSV has it too)."""

DEFAULT_ID_PATTERN = r"^(?P<id>[^/]+(?=/)|[^/_]+(?=_[^/]*$))"
"""Where a student id is in a display name: its first folder (``ada/04-chat.ipynb``), or, in a file
directly in the folder graded, what comes before the first ``_`` (``ada_04-chat.ipynb``)."""

_FORMULA_START = frozenset("=+-@\t\r'\uff1d\uff0b\uff0d\uff20")


def compile_id_pattern(pattern: str) -> re.Pattern[str]:
    """``pattern`` compiled, or a :class:`ValueError` saying why it cannot be an id pattern (no group ``id``)."""
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from None
    if "id" not in compiled.groupindex:
        raise ValueError("it needs a named group for the id, such as (?P<id>[^_]+)")
    return compiled


_DEFAULT = re.compile(DEFAULT_ID_PATTERN)


def student_id(
    name: str, metadata: Mapping[str, Any] | None = None, pattern: re.Pattern[str] | None = None
) -> tuple[str, str]:
    """The student id of the submission with display name ``name``, and a note for the feedback ('' if none).

    ``pattern`` (default :data:`DEFAULT_ID_PATTERN`) is searched in the display
    name, with ``/`` between folders; its group ``id``, stripped, is the id. If
    it finds none, ``metadata["wslab"]["student"]`` (a notebook's metadata) is
    the id. The file name wins over the metadata, which the learner can edit:
    when both are there and differ, the note says so. With neither, the id is
    '' and the note says why. Never raises.
    """
    pattern = _DEFAULT if pattern is None else pattern
    match = pattern.search(name.replace(os.sep, "/"))
    from_name = (match.group("id") or "").strip() if match else ""
    meta = metadata.get("wslab") if isinstance(metadata, Mapping) else None
    claimed = meta.get("student") if isinstance(meta, Mapping) else None
    from_meta = claimed.strip() if isinstance(claimed, str) else ""
    if from_name:
        if from_meta and from_meta != from_name:
            return from_name, (
                f"the notebook's metadata says it is {from_meta}'s work and its file name says {from_name}'s: "
                "the gradebook goes by the file name"
            )
        return from_name, ""
    if from_meta:
        return from_meta, ""
    return "", (
        "no student id: the file name does not say whose work this is (as in ada_04-chat.ipynb or "
        "ada/04-chat.ipynb) and the notebook's metadata has no wslab.student; the gradebook has no id for it"
    )


# ---------------------------------------------------------------------- cells


def csv_cell(value: str) -> str:
    """``value`` as a text cell that no spreadsheet runs as a formula: a ``'`` before a risky first character."""
    return "'" + value if value[:1] in _FORMULA_START else value


def csv_value(cell: str) -> str:
    """The value a cell written by :func:`csv_cell` holds (the inverse: ``csv_value(csv_cell(v)) == v``)."""
    return cell[1:] if cell[:1] == "'" and cell[1:2] in _FORMULA_START else cell


def _row(cells: Sequence[str | int]) -> list[str | int]:
    return [csv_cell(c) if isinstance(c, str) else c for c in cells]


def _text(rows: Sequence[Sequence[str | int]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # CRLF (RFC 4180): a CR in a cell is quoted too
    for row in rows:
        writer.writerow(_row(row))
    return buffer.getvalue()


# ---------------------------------------------------------------------- placing grades


@dataclass
class Placement:
    """Which submission gives each student's grade for each exercise, and what could not be placed."""

    exercises: list[Exercise] = field(default_factory=list)
    """The exercises with at least one grade, in lesson order."""
    grades: dict[str, dict[str, Outcome]] = field(default_factory=dict)
    """student id -> exercise name -> the outcome that counts."""
    duplicates: dict[tuple[str, str], list[Outcome]] = field(default_factory=dict)
    """(student id, exercise name) -> every outcome with them, when there is more than one (sorted by name)."""
    left_out: list[tuple[Outcome, str]] = field(default_factory=list)
    """Outcomes with no place, and why: no student id, or no exercise (sorted by name)."""


def place(outcomes: Sequence[Outcome]) -> Placement:
    """Group outcomes by student id and exercise for the LMS gradebooks (see the module's contract)."""
    placement = Placement()
    groups: dict[tuple[str, str], list[Outcome]] = {}
    for o in sorted(outcomes, key=lambda o: o.name):
        if not o.student:
            placement.left_out.append((o, "no student id"))
        elif o.exercise is None:
            placement.left_out.append((o, f"no exercise ({o.status})"))
        else:
            groups.setdefault((o.student, o.exercise.name), []).append(o)
    present = {ex for (_, ex) in groups}
    placement.exercises = [ex for ex in exercises() if ex.name in present]
    for (student, ex), group in sorted(groups.items()):
        best = max(group, key=lambda o: o.total)  # max keeps the first of equals: the first by name
        placement.grades.setdefault(student, {})[ex] = best
        if len(group) > 1:
            placement.duplicates[(student, ex)] = group
    return placement


# ---------------------------------------------------------------------- the three shapes


def _check_columns(outcomes: Sequence[Outcome]) -> list[Check]:
    present = {o.exercise.name for o in outcomes if o.exercise is not None}
    return [c for ex in exercises() if ex.name in present for c in ex.checks]


def _ours(outcomes: Sequence[Outcome]) -> str:
    columns = _check_columns(outcomes)
    rows: list[list[str | int]] = [
        ["student", "submission", "exercise", "status", *[c.column for c in columns], "total", "max"],
        [POINTS_POSSIBLE, "", "", "", *[c.points for c in columns], "", ""],
    ]
    for o in sorted(outcomes, key=lambda o: o.name):
        got = {(c.check.exercise, c.check.name): c.points for c in o.checks}
        cells: list[str | int] = [got.get((c.exercise, c.name), "") for c in columns]
        rows.append([o.student, o.name, o.exercise.name if o.exercise else "", o.status, *cells, o.total,
                     o.max_points])
    return _text(rows)


def _canvas(outcomes: Sequence[Outcome], id_column: str) -> str:
    placed = place(outcomes)
    column = CANVAS_ID_COLUMNS[id_column]
    info = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    rows: list[list[str | int]] = [
        [*info, *[ex.notebook for ex in placed.exercises]],
        [POINTS_POSSIBLE, "", "", "", "", *[ex.max_points for ex in placed.exercises]],
    ]
    for student, grades in sorted(placed.grades.items()):
        row: list[str | int] = [student, "", "", "", ""]
        row[info.index(column)] = student
        row += [grades[ex.name].total if ex.name in grades else "" for ex in placed.exercises]
        rows.append(row)
    return _text(rows)


def _summary(o: Outcome) -> str:
    missed = [c.check.title for c in o.checks if c.status != "pass"]
    text = f"{o.total}/{o.max_points} points ({o.status})"
    return text + (f"; not passed: {'; '.join(missed)}" if missed else "") + "."


def _moodle(outcomes: Sequence[Outcome]) -> str:
    placed = place(outcomes)
    header: list[str | int] = ["Identifier"]
    for ex in placed.exercises:
        header += [ex.notebook, f"{ex.notebook} feedback"]
    rows: list[list[str | int]] = [header]
    for student, grades in sorted(placed.grades.items()):
        row: list[str | int] = [student]
        for ex in placed.exercises:
            o = grades.get(ex.name)
            row += [o.total, _summary(o)] if o is not None else ["", ""]
        rows.append(row)
    return _text(rows)


def gradebook_text(outcomes: Sequence[Outcome], format: str = "csv", *, id_column: str = "sis-login-id") -> str:
    """The gradebook as CSV text in ``format`` (one of :data:`FORMATS`; see the module's contract).

    ``id_column`` (a key of :data:`CANVAS_ID_COLUMNS`) is where ``canvas`` puts
    the student id. A :class:`ValueError` for an unknown format or column.
    """
    if format not in FORMATS:
        raise ValueError(f"unknown gradebook format {format!r}: choose one of {', '.join(FORMATS)}")
    if id_column not in CANVAS_ID_COLUMNS:
        raise ValueError(f"unknown Canvas id column {id_column!r}: choose one of {', '.join(CANVAS_ID_COLUMNS)}")
    if format == "canvas":
        return _canvas(outcomes, id_column)
    if format == "moodle":
        return _moodle(outcomes)
    return _ours(outcomes)


def write_gradebook(
    outcomes: Sequence[Outcome], out: str | Path, format: str = "csv", *, id_column: str = "sis-login-id"
) -> None:
    """Write :func:`gradebook_text` to ``out`` atomically and durably (:func:`wslab.grading.atomic.write_atomic`)."""
    write_atomic(out, gradebook_text(outcomes, format, id_column=id_column).encode("utf-8"), fsync=True)
