"""Course-owned cells: which cells of an exercise are the course's, and a submission prepared for grading.

An exercise notebook mixes two kinds of cells. The **learner's** are the
answer cells (those with solution markers in ``solutions/``, released as
stubs) and every other code cell that tries things out. The **course's** are
the cells a learner has no reason to change and grading must be able to trust:

* ``instructions``: every markdown cell, except one holding a markdown answer
  region (``<!-- BEGIN SOLUTION -->``, released as
  :data:`~wslab.grading.markers.MARKDOWN_ANSWER`);
* ``setup``: the first code cell (imports, the in-kernel server, constants
  the exercise's spec names, ``check``'s import), unless it is an answer;
* ``check``: a code cell that only calls ``check(...)`` (and may import it).

The demo cells that call the learner's code (``parse-try``, the capstone's
``client-try`` and ``ui``) stay the learner's: they are where a learner
experiments, no check reads what they define, and grading runs them only for
the side effects a learner would see. :func:`owned_role` is the rule, the one
place it is written; ``wslab release`` applies it and marks each owned cell as
nbgrader marks its read-only cells, so that JupyterLab does not let it be
edited or deleted (:func:`owned_metadata`)::

    "metadata": {"deletable": false, "editable": false, "wslab": {"owned": true, "role": "setup"}}

Every released cell keeps its id from the solution notebook, so an owned cell
is known by its id across releases.

Grading takes the owned cells from the current release, whatever the
submission holds (:func:`prepare`): an edit to one is reported, never run; a
deleted one is put back; the learner's cells are kept, in order, where the
learner put them. A notebook of an earlier release (whose cells carry no
``wslab`` metadata) is matched by cell id where ids survived, then by role
and position: its first code cell is the setup cell, its last cell that calls
``check(...)`` the check cell, its markdown cells the instructions when there
are as many as this release has. So it grades as if it had been started on
this release: its setup cell's imports are this release's.

:func:`released_notebook` finds the release grading uses: the course's
``exercises/`` folder, next to the installed ``wslab`` package (a clone
installed with ``pip install -e``) or a course folder given explicitly.
"""

from __future__ import annotations

import ast
import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from wslab.core.errors import ReleaseError
from wslab.grading.markers import MARKDOWN_ANSWER, cell_source
from wslab.grading.registry import Exercise, get_exercise

__all__ = [
    "Role",
    "ROLES",
    "owned_role",
    "owned_metadata",
    "role_of",
    "is_check_call",
    "PreparedCell",
    "Prepared",
    "prepare",
    "course_root",
    "released_notebook",
    "ReleaseError",
]

Role = Literal["setup", "instructions", "check"]
"""What an owned cell is for."""

ROLES: tuple[Role, ...] = ("setup", "instructions", "check")
"""Every role, in the order a notebook usually meets them."""

_DESCRIBED: dict[Role, str] = {
    "setup": "the setup cell",
    "instructions": "an instructions cell",
    "check": "the check cell",
}

_SHOWN_LINES = 3
"""How many of the learner's lines a note quotes before saying how many more there are."""


# ---------------------------------------------------------------------- the rule


def is_check_call(source: str) -> bool:
    """Whether a code cell only calls ``check(...)``: one call or more, imports allowed, nothing else."""
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return False
    calls = 0
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name)
            and node.value.func.id == "check"
        ):
            calls += 1
            continue
        return False
    return calls > 0


def owned_role(cell_type: str, source: str, *, answer: bool, first_code: bool) -> Role | None:
    """The rule: the role of a cell the course owns, or None for a learner's cell.

    Args:
        cell_type: ``"code"``, ``"markdown"`` or ``"raw"``.
        source: the cell's text.
        answer: whether the cell holds an answer (solution markers in the
            solution notebook; :data:`MARKDOWN_ANSWER` in a released markdown cell).
        first_code: whether it is the notebook's first code cell.

    Markdown is ``"instructions"``; the first code cell is ``"setup"``; a cell
    that only calls ``check(...)`` is ``"check"``; answers, the other code
    cells (demos, tries) and raw cells are the learner's (see the module's docstring).
    """
    if answer:
        return None
    if cell_type == "markdown":
        return None if MARKDOWN_ANSWER in source else "instructions"
    if cell_type == "code":
        if first_code:
            return "setup"
        if is_check_call(source):
            return "check"
    return None


def owned_metadata(role: Role) -> dict[str, Any]:
    """The cell metadata ``wslab release`` gives an owned cell: read-only in JupyterLab, and its role."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; the roles are {', '.join(ROLES)}")
    return {"deletable": False, "editable": False, "wslab": {"owned": True, "role": role}}


def role_of(cell: Mapping[str, Any]) -> Role | None:
    """The role a released cell's metadata gives it (:func:`owned_metadata`), or None for a learner's cell."""
    meta = cell.get("metadata")
    mark = meta.get("wslab") if isinstance(meta, Mapping) else None
    if not isinstance(mark, Mapping) or mark.get("owned") is not True:
        return None
    role = mark.get("role")
    return cast(Role, role) if role in ROLES else None


# ---------------------------------------------------------------------- preparing a submission


def _same(a: str, b: str) -> bool:
    """Equal but for trailing spaces and blank lines at either end (what editors change unasked)."""

    def norm(text: str) -> list[str]:
        return [line.rstrip() for line in text.strip("\n").split("\n")]

    return norm(a) == norm(b)


def _quote(lines: Sequence[str]) -> str:
    shown = ", ".join(f"`{line.strip()[:80]}`" for line in lines[:_SHOWN_LINES])
    more = len(lines) - _SHOWN_LINES
    return shown + (f" and {more} more line{'s' if more > 1 else ''}" if more > 0 else "")


def _not_run(mine: str, course: str) -> list[str]:
    """The learner's lines that the course's version does not have (what did not run)."""
    theirs = {line.strip() for line in course.split("\n")}
    return [line for line in mine.split("\n") if line.strip() and line.strip() not in theirs]


@dataclass(frozen=True)
class PreparedCell:
    """One cell of a submission prepared for grading."""

    cell: dict[str, Any]
    """The cell to run (or show): the release's for an owned cell, the submission's for the learner's."""
    role: Role | None
    """The owned cell's role, or None for a learner's cell."""
    position: int | None
    """Where it is in the submission, from 1, markdown included (as JupyterLab counts); None if put back."""
    replaced: str | None = None
    """An owned cell's source in the submission, when the learner changed it (it does not run)."""

    @property
    def owned(self) -> bool:
        """Whether the cell is the course's (its text comes from the release)."""
        return self.role is not None

    @property
    def source(self) -> str:
        return cell_source(self.cell)


@dataclass(frozen=True)
class Prepared:
    """A submission ready to grade: the cells to run, in order, and notes for the learner's feedback."""

    cells: tuple[PreparedCell, ...]
    notes: tuple[str, ...]
    """Sentences for the feedback, in cell order: edits not run, cells put back, an earlier release."""
    earlier: bool
    """True when the submission comes from an earlier release (no owned-cell metadata): matched by role and position."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """The submission's notebook metadata."""

    def code_cells(self) -> list[PreparedCell]:
        """The code cells, in the order they run."""
        return [c for c in self.cells if c.cell.get("cell_type") == "code"]

    def notebook(self) -> dict[str, Any]:
        """An nbformat 4 notebook of the prepared cells (the submission's metadata), to hand to the worker."""
        return {
            "cells": [copy.deepcopy(c.cell) for c in self.cells],
            "metadata": copy.deepcopy(self.metadata),
            "nbformat": 4,
            "nbformat_minor": 5,
        }


def _cells(notebook: Mapping[str, Any], what: str) -> list[dict[str, Any]]:
    cells = notebook.get("cells") if isinstance(notebook, Mapping) else None
    if not isinstance(cells, list) or not all(isinstance(c, dict) and "cell_type" in c for c in cells):
        raise ValueError(f"the {what} is not a notebook: it needs a list of cells, each with a cell_type")
    return cells


def _exercise(notebook: Mapping[str, Any]) -> str | None:
    meta = notebook.get("metadata")
    mark = meta.get("wslab") if isinstance(meta, Mapping) else None
    name = mark.get("exercise") if isinstance(mark, Mapping) else None
    return name if isinstance(name, str) else None


def _match_current(sub: list[dict[str, Any]], owned_ids: dict[str, int]) -> tuple[dict[int, int], list[int]]:
    """Submission index -> release index, by cell id; and the cells marked owned that this release does not know."""
    match: dict[int, int] = {}
    unknown: list[int] = []
    for i, cell in enumerate(sub):
        cell_id = cell.get("id")
        if isinstance(cell_id, str) and cell_id in owned_ids and owned_ids[cell_id] not in match.values():
            match[i] = owned_ids[cell_id]
        elif role_of(cell) is not None:
            unknown.append(i)
    return match, unknown


def _match_earlier(
    sub: list[dict[str, Any]], rel: list[dict[str, Any]], owned: list[int], owned_ids: dict[str, int]
) -> dict[int, int]:
    """Submission index -> release index for a notebook of an earlier release: by id, then by role and position."""
    match: dict[int, int] = {}
    for i, cell in enumerate(sub):
        cell_id = cell.get("id")
        r = owned_ids.get(cell_id) if isinstance(cell_id, str) else None
        if r is not None and r not in match.values() and rel[r]["cell_type"] == cell["cell_type"]:
            match[i] = r
    taken = set(match.values())

    def free_release(role: Role) -> list[int]:
        return [r for r in owned if role_of(rel[r]) == role and r not in taken]

    codes = [i for i, c in enumerate(sub) if c["cell_type"] == "code"]
    setup = free_release("setup")
    if setup and codes and codes[0] not in match:
        match[codes[0]] = setup[0]
        taken.add(setup[0])
    checks = [i for i in codes if i not in match and is_check_call(cell_source(sub[i]))]
    for i, r in zip(reversed(checks), reversed(free_release("check")), strict=False):
        match[i] = r
        taken.add(r)
    markdown = [i for i, c in enumerate(sub) if c["cell_type"] == "markdown" and i not in match
                and MARKDOWN_ANSWER not in cell_source(c)]
    instructions = free_release("instructions")
    if len(markdown) == len(instructions):
        match.update(zip(markdown, instructions, strict=True))
    return match


def prepare(submission: Mapping[str, Any], release: Mapping[str, Any]) -> Prepared:
    """The cells grading runs for ``submission``, with the course's cells taken from ``release``.

    Args:
        submission: the learner's notebook (a parsed ``.ipynb``, nbformat 4).
        release: the released exercise it answers (:func:`released_notebook`),
            whose owned cells carry :func:`owned_metadata`.

    Returns a :class:`Prepared`: every cell of the submission in its order,
    each owned one replaced by the release's version, and each owned cell the
    submission lacks put back after the cell that precedes it in the release
    (the nearest one the submission still has, known by its id); its notes say
    what was not run and what was put back. Owned
    cells are matched by cell id; a submission with no owned-cell metadata
    (an earlier release) by id, then by role and position (see the module's
    docstring). Pure: it reads nothing and runs nothing.

    Raises :class:`ValueError` when either is not a notebook, when the release
    has no owned cells (an ``exercises/`` folder from before owned cells: run
    ``wslab release``), or when both name their exercise and the names differ.
    """
    sub = _cells(submission, "submission")
    rel = _cells(release, "release")
    owned = [r for r, cell in enumerate(rel) if role_of(cell) is not None]
    if not owned:
        raise ValueError(
            "the release marks no cell as the course's: its exercises/ were written by an older "
            "`wslab release`; run `wslab release` in the course folder"
        )
    mine, theirs = _exercise(submission), _exercise(release)
    if mine is not None and theirs is not None and mine != theirs:
        raise ValueError(f"the submission is exercise {mine!r} but the release is exercise {theirs!r}")
    owned_ids = {str(rel[r].get("id")): r for r in owned if rel[r].get("id")}
    earlier = not any(role_of(cell) is not None for cell in sub)
    if earlier:
        match, unknown = _match_earlier(sub, rel, owned, owned_ids), list[int]()
    else:
        match, unknown = _match_current(sub, owned_ids)

    out: list[PreparedCell] = []
    at: dict[int, int] = {}  # release index -> the place in `out` of that cell, or of the learner's cell with its id
    release_ids = {str(c.get("id")): r for r, c in enumerate(rel) if c.get("id")}
    notes: list[str] = []
    earlier_edits: list[str] = []
    for i, cell in enumerate(sub):
        r = match.get(i)
        if r is None:
            same_id = release_ids.get(str(cell.get("id")))
            if same_id is not None and same_id not in owned and same_id not in at:
                at[same_id] = len(out)  # an answer or a demo cell of the release: a landmark for cells put back
            out.append(PreparedCell(copy.deepcopy(cell), None, i + 1))
            continue
        role = role_of(rel[r])
        assert role is not None
        mine_text, course_text = cell_source(cell), cell_source(rel[r])
        edited = not _same(mine_text, course_text)
        at[r] = len(out)
        out.append(PreparedCell(copy.deepcopy(rel[r]), role, i + 1, mine_text if edited else None))
        if not edited:
            continue
        if earlier:
            if role != "instructions":
                lines = _not_run(mine_text, course_text)
                earlier_edits.append(
                    f"{role} cell in place of cell {i + 1}" + (f" (not run: {_quote(lines)})" if lines else "")
                )
        elif role == "instructions":
            notes.append(
                f"Cell {i + 1} is one of the course's instructions: your changes to it were not kept "
                "(write your answers in your own cells)."
            )
        else:
            lines = _not_run(mine_text, course_text)
            notes.append(
                f"Cell {i + 1} ({_DESCRIBED[role]}) is the course's: grading ran the course's version, not yours"
                + (f"; not run: {_quote(lines)}" if lines else "")
                + ". Put your own code in your own cells."
            )
    for i in unknown:
        notes.append(f"Cell {i + 1} is marked as the course's, but this release has no such cell: it ran as yours.")

    restored: list[Role] = []
    for r in owned:
        if r in at:
            continue
        before = [p for p in at if p < r]
        place = at[max(before)] + 1 if before else 0
        for key, value in at.items():
            if value >= place:
                at[key] = value + 1
        role = role_of(rel[r])
        assert role is not None
        at[r] = place
        out.insert(place, PreparedCell(copy.deepcopy(rel[r]), role, None))
        restored.append(role)

    if earlier:
        if earlier_edits:
            notes.insert(0, (
                "This notebook was started on an earlier release of the course: grading ran this release's "
                f"{'; '.join(earlier_edits)}."
            ))
        if "setup" in restored:
            notes.append("The setup cell was missing: grading put the course's back, before your code.")
    elif restored:
        counts = {role: restored.count(role) for role in ROLES if role in restored}
        what = ", ".join(
            _DESCRIBED[role] if n == 1 else f"{n} instructions cells" for role, n in counts.items()
        )
        notes.append(f"Cells of the course were missing and were put back: {what}.")
    metadata = submission.get("metadata")
    return Prepared(tuple(out), tuple(notes), earlier, copy.deepcopy(dict(metadata)) if isinstance(metadata, Mapping)
                    else {})


# ---------------------------------------------------------------------- the release grading uses


def course_root(course: str | Path | None = None) -> Path:
    """The course folder whose ``exercises/`` grading takes the course's cells from.

    ``course`` when given; otherwise the folder the ``wslab`` package sits in
    (a clone of the course installed with ``pip install -e``, or a learner's
    edition). Raises :class:`ReleaseError` saying what to do when that folder
    has no ``exercises/``.
    """
    if course is not None:
        folder = Path(course)
        if not (folder / "exercises").is_dir():
            raise ReleaseError(
                f"{folder} is not a course folder: it has no exercises/ (give the folder of the course's clone, "
                "the one with exercises/ and solutions/)"
            )
        return folder.resolve()
    package = Path(__file__).resolve().parent.parent
    folder = package.parent
    if not (folder / "exercises").is_dir():
        raise ReleaseError(
            f"cannot find the course's exercises/ next to the wslab package ({package}): this wslab is installed "
            "on its own, not from the course's folder. Give the course folder (the clone with exercises/), or "
            "install wslab from it with `pip install -e .`"
        )
    return folder


def released_notebook(exercise: str | Exercise, course: str | Path | None = None) -> dict[str, Any]:
    """The released exercise notebook grading takes the course's cells from (a parsed ``.ipynb``).

    ``exercise`` is an :class:`~wslab.grading.registry.Exercise` or its name;
    ``course`` the course folder (see :func:`course_root`). Raises
    :class:`ReleaseError` when the notebook is missing, unreadable, of another
    exercise, or released by an ``wslab release`` from before owned cells, and
    :class:`KeyError` for an unknown exercise name.
    """
    ex = exercise if isinstance(exercise, Exercise) else get_exercise(exercise)
    path = course_root(course) / "exercises" / f"{ex.notebook}.ipynb"
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReleaseError(f"exercise {ex.name!r} has no released notebook {path}: run `wslab release`") from None
    except (OSError, ValueError) as exc:
        raise ReleaseError(f"cannot read the released exercise {path}: {exc}") from None
    try:
        cells = _cells(notebook, f"released exercise {path}")
    except ValueError as exc:
        raise ReleaseError(str(exc)) from None
    named = _exercise(notebook)
    if named != ex.name:
        raise ReleaseError(f"{path} is exercise {named!r}, not {ex.name!r}: run `wslab release`")
    if not any(role_of(cell) is not None for cell in cells):
        raise ReleaseError(f"{path} marks no cell as the course's (an older `wslab release`): run `wslab release`")
    return cast(dict[str, Any], notebook)
