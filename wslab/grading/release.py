"""``wslab release``: generate ``exercises/`` from ``solutions/``, the one source.

Each exercise is written once, as a solution notebook, with its answers
between marker lines in code cells::

    def typing_line(names, me=None):
        \"\"\"The docstring stays: it is the exercise's spec.\"\"\"
        ### BEGIN SOLUTION: return one of the four texts in the table
        ...the answer...
        ### END SOLUTION

The released exercise keeps everything outside the markers and replaces each
region, at the marker's indentation, with a stub saying what to write::

        # YOUR CODE HERE: return one of the four texts in the table
        raise NotImplementedError("return one of the four texts in the table")

Variants:

* ``### BEGIN SOLUTION STATE: ...`` (for ``__init__`` bodies) releases as a
  comment and ``pass``, so the object can still be built;
* a region at column 0 releases as the comment alone;
* ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` is removed outright
  (self-checks that only the solution notebook runs);
* in markdown cells, ``<!-- BEGIN SOLUTION -->`` ... ``<!-- END SOLUTION -->``
  becomes ``*Write your answer here.*``.

Outputs and execution counts are cleared, cell ids are kept, and the JSON is
written in one stable form (sorted keys, one-space indent, a final newline),
so a release run twice gives the same bytes and CI can compare the committed
``exercises/`` with a fresh release (``wslab release --check``).

The cells the course owns (instructions, the setup cell, the check cell: the
rule is :func:`wslab.grading.owned.owned_role`) are marked read-only, as
nbgrader marks its locked cells, with their role in ``metadata.wslab``;
grading takes them from the release, whatever a submission holds. Every cell
keeps its id (a cell without one gets ``cell-N``, N its position), and ids
must be unique: they are how an owned cell is known across releases.

``wslab release --edition DIR`` writes the learner's edition of the course
instead: see :mod:`wslab.grading.edition`.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wslab.core.errors import ReleaseError
from wslab.grading import edition
from wslab.grading.leaks import find_leaks
from wslab.grading.markers import (
    HIDDEN_BEGIN,
    HIDDEN_END,
    MARKDOWN_ANSWER,
    MARKDOWN_REGION,
    SOLUTION_BEGIN,
    SOLUTION_END,
    cell_source,
    has_answer,
)
from wslab.grading.owned import owned_metadata, owned_role

__all__ = [
    "ReleaseError",
    "Released",
    "release_notebook",
    "release_source",
    "release_all",
    "dumps",
    "add_arguments",
    "run",
    "DEFAULT_HINT",
    "KEPT_NOTEBOOK_METADATA",
]

DEFAULT_HINT = "write your code here"

KEPT_NOTEBOOK_METADATA = ("kernelspec", "language_info")



@dataclass(frozen=True)
class Released:
    source: Path
    target: Path
    text: str


def release_source(source: str, where: str = "cell") -> str:
    """Replace the marked regions of one code cell's source (see the module docstring)."""
    out: list[str] = []
    lines = source.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        begin = SOLUTION_BEGIN.match(line)
        if begin:
            end = _find(lines, i + 1, SOLUTION_END, SOLUTION_BEGIN, "### END SOLUTION", where, i)
            indent = begin.group("indent")
            hint = (begin.group("hint") or "").strip() or DEFAULT_HINT
            out.append(f"{indent}# YOUR CODE HERE: {hint}")
            if begin.group("state"):
                out.append(f"{indent}pass")
            elif indent:
                out.append(f"{indent}raise NotImplementedError({hint!r})")
            i = end + 1
            continue
        if HIDDEN_BEGIN.match(line):
            i = _find(lines, i + 1, HIDDEN_END, HIDDEN_BEGIN, "### END HIDDEN TESTS", where, i) + 1
            continue
        if SOLUTION_END.match(line) or HIDDEN_END.match(line):
            raise ReleaseError(f"{where}, line {i + 1}: {line.strip()!r} without a BEGIN marker before it")
        out.append(line)
        i += 1
    text = "\n".join(out)
    return text.rstrip("\n")


def _find(
    lines: list[str], start: int, end: re.Pattern[str], begin: re.Pattern[str], name: str, where: str, opened: int
) -> int:
    for j in range(start, len(lines)):
        if end.match(lines[j]):
            return j
        if begin.match(lines[j]) or SOLUTION_BEGIN.match(lines[j]):
            raise ReleaseError(f"{where}, line {j + 1}: a BEGIN marker inside the region opened on line {opened + 1}")
    raise ReleaseError(f"{where}, line {opened + 1}: {lines[opened].strip()!r} has no {name!r} after it")


def _split_source(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def release_notebook(solution: dict[str, Any], name: str = "notebook") -> dict[str, Any]:
    """The exercise notebook for one solution notebook (a parsed ``.ipynb`` dict).

    Raises :class:`ReleaseError`, naming the notebook, the cell and the line,
    for unpaired markers, a missing ``metadata.wslab.exercise`` or two cells
    with the same id.
    """
    meta = solution.get("metadata", {})
    exercise = (meta.get("wslab") or {}).get("exercise")
    if not isinstance(exercise, str):
        raise ReleaseError(f"{name}: notebook metadata has no wslab.exercise naming its exercise")
    cells = []
    seen: dict[str, int] = {}
    first_code = next((i for i, c in enumerate(solution.get("cells", [])) if c["cell_type"] == "code"), None)
    for index, cell in enumerate(solution.get("cells", [])):
        cell_id = str(cell.get("id") or f"cell-{index + 1}")
        where = f"{name}, cell {index + 1} ({cell.get('id', 'no id')})"
        if cell_id in seen:
            raise ReleaseError(f"{where}: the same id as cell {seen[cell_id] + 1}; every cell needs an id of its own")
        seen[cell_id] = index
        new: dict[str, Any] = {
            "cell_type": cell["cell_type"],
            "id": cell_id,
            "metadata": {k: v for k, v in cell.get("metadata", {}).items() if k in ("tags",)},
            "source": [],
        }
        text = cell_source(cell)
        role = owned_role(
            cell["cell_type"], text, answer=has_answer(cell["cell_type"], text), first_code=index == first_code
        )
        if role is not None:
            new["metadata"].update(owned_metadata(role))
        if cell["cell_type"] == "code":
            text = release_source(text, where)
            new["execution_count"] = None
            new["outputs"] = []
        elif cell["cell_type"] == "markdown":
            text = MARKDOWN_REGION.sub(MARKDOWN_ANSWER, text)
            if "<!-- BEGIN SOLUTION -->" in text or "<!-- END SOLUTION -->" in text:
                raise ReleaseError(f"{where}: unpaired <!-- BEGIN/END SOLUTION --> marker")
        new["source"] = _split_source(text)
        cells.append(new)
    metadata = {k: copy.deepcopy(meta[k]) for k in KEPT_NOTEBOOK_METADATA if k in meta}
    metadata["wslab"] = {"exercise": exercise, "released": True}
    return {
        "cells": cells,
        "metadata": metadata,
        "nbformat": 4,
        "nbformat_minor": max(5, int(solution.get("nbformat_minor", 5))),
    }


def dumps(notebook: dict[str, Any]) -> str:
    """The one stable JSON form of a notebook (as nbformat writes it)."""
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def release_all(source_dir: str | Path, target_dir: str | Path) -> list[Released]:
    """Release every ``*.ipynb`` in ``source_dir`` into ``target_dir`` (in memory; nothing written)."""
    source_dir, target_dir = Path(source_dir), Path(target_dir)
    paths = sorted(source_dir.glob("*.ipynb"))
    if not paths:
        raise ReleaseError(f"no solution notebooks (*.ipynb) in {source_dir}")
    released = []
    for path in paths:
        try:
            solution = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ReleaseError(f"{path.name}: cannot read the notebook: {exc}") from None
        released.append(Released(path, target_dir / path.name, dumps(release_notebook(solution, path.name))))
    return released


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", default="solutions", help="solution notebooks (default: solutions)")
    parser.add_argument("--dest", default="exercises", help="where exercises go (default: exercises)")
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if DEST (or the edition in DIR) differs from a fresh release (for CI)",
    )
    parser.add_argument(
        "--edition",
        metavar="DIR",
        help="write the learner's edition of the course (the folder holding SOURCE) into DIR instead: "
        "lessons, exercises, learner docs and the wslab package, no solutions and no hidden checks",
    )


def _run_edition(args: argparse.Namespace, released: list[Released]) -> int:
    root = Path(args.source).resolve().parent
    try:
        edition.check_destination(root, args.edition)
        exercises = {r.target.name: r.text for r in released}
        built = edition.build(root, exercises)
        leaks = find_leaks(built.files, root, exercises)
        if leaks:
            for leak in leaks:
                print(f"  {leak}", file=sys.stderr)
            print(
                f"wslab release: the learner's edition would hold {len(leaks)} thing(s) it must not (above); "
                "nothing written",
                file=sys.stderr,
            )
            return 2
        report = edition.plan(built.files, args.edition) if args.check else edition.write(built, args.edition)
    except ReleaseError as exc:
        print(f"wslab release: {exc}", file=sys.stderr)
        return 2
    stale = [r for r in released if not r.target.is_file() or r.target.read_text(encoding="utf-8") != r.text]
    if stale:
        print(f"note: {args.dest}/ is out of date with {args.source}/ (the edition has the fresh release): "
              "run `wslab release`", file=sys.stderr)
    if args.check:
        if report.changes:
            print(f"{args.edition} is out of date: run `wslab release --edition {args.edition}`", file=sys.stderr)
        print(report.summary(planned=True))
        return 1 if report.changes else 0
    print(report.summary())
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        released = release_all(args.source, args.dest)
    except ReleaseError as exc:
        print(f"wslab release: {exc}", file=sys.stderr)
        return 2
    if args.edition:
        return _run_edition(args, released)
    dest = Path(args.dest)
    expected = {r.target.name for r in released}
    stale = sorted(p.name for p in dest.glob("*.ipynb") if p.name not in expected) if dest.is_dir() else []
    changed = [r for r in released if not r.target.is_file() or r.target.read_text(encoding="utf-8") != r.text]
    if args.check:
        for r in changed:
            print(f"{r.target} is out of date: run `wslab release`", file=sys.stderr)
        for name in stale:
            print(f"{dest / name} has no solution in {args.source}", file=sys.stderr)
        if not changed and not stale:
            print(f"{dest}: {len(released)} exercises match {args.source}")
        return 1 if changed or stale else 0
    dest.mkdir(parents=True, exist_ok=True)
    for r in changed:
        r.target.write_text(r.text, encoding="utf-8")
    for name in stale:
        print(f"note: {dest / name} has no solution in {args.source}; left alone", file=sys.stderr)
    print(f"{dest}: {len(released)} exercises released, {len(changed)} changed")
    return 0
