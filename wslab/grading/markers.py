"""The solution markers: where an author writes the answers, in ``solutions/*.ipynb``.

In a code cell, an answer is the lines between ``### BEGIN SOLUTION`` and
``### END SOLUTION`` (``### BEGIN SOLUTION STATE`` for an ``__init__`` body;
either may end with ``: a hint``); ``### BEGIN HIDDEN TESTS`` ...
``### END HIDDEN TESTS`` holds self-checks only the solution runs. In a
markdown cell, ``<!-- BEGIN SOLUTION -->`` ... ``<!-- END SOLUTION -->``.
``wslab release`` (:mod:`wslab.grading.release`) turns each region into a stub;
:mod:`wslab.grading.owned` leaves a cell with an answer to the learner;
:mod:`wslab.grading.leaks` makes sure no answer line reaches a learner.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = [
    "SOLUTION_BEGIN",
    "SOLUTION_END",
    "HIDDEN_BEGIN",
    "HIDDEN_END",
    "MARKDOWN_REGION",
    "MARKDOWN_ANSWER",
    "cell_source",
    "has_answer",
    "answer_lines",
]

MARKDOWN_ANSWER = "*Write your answer here.*"
"""What a markdown answer region (``<!-- BEGIN SOLUTION -->`` ... ``<!-- END SOLUTION -->``) is released as."""

SOLUTION_BEGIN = re.compile(
    r"^(?P<indent>[ \t]*)### BEGIN SOLUTION(?P<state> STATE)?(?::[ \t]*(?P<hint>.*?))?[ \t]*$"
)
"""A line opening an answer region in a solution's code cell (``### BEGIN SOLUTION[ STATE][: hint]``)."""

SOLUTION_END = re.compile(r"^[ \t]*### END SOLUTION[ \t]*$")
"""The line closing an answer region."""

HIDDEN_BEGIN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS[ \t]*$")
"""A line opening a region of self-checks only the solution runs (removed by the release)."""

HIDDEN_END = re.compile(r"^[ \t]*### END HIDDEN TESTS[ \t]*$")
"""The line closing it."""

MARKDOWN_REGION = re.compile(r"<!-- BEGIN SOLUTION -->.*?<!-- END SOLUTION -->", re.S)
"""An answer region in a solution's markdown cell."""


def cell_source(cell: Mapping[str, Any]) -> str:
    """A notebook cell's text, whether its ``source`` is one string or a list of lines."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def has_answer(cell_type: str, source: str) -> bool:
    """Whether a solution notebook's cell holds an answer region (a code or a markdown one)."""
    if cell_type == "code":
        return any(SOLUTION_BEGIN.match(line) for line in source.split("\n"))
    if cell_type == "markdown":
        return "<!-- BEGIN SOLUTION -->" in source
    return False


def answer_lines(solution: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """``(cell id, line)`` for every line inside an answer or hidden-tests region of a solution notebook.

    The marker lines themselves are not included; unpaired markers are
    ``wslab release``'s to report (a region left open runs to the cell's end here).
    """
    cells = solution.get("cells")
    for cell in cells if isinstance(cells, list) else []:
        if not isinstance(cell, Mapping):
            continue
        cell_id = str(cell.get("id", ""))
        text = cell_source(cell)
        if cell.get("cell_type") == "markdown":
            for region in MARKDOWN_REGION.findall(text):
                for line in region.split("\n"):
                    line = line.replace("<!-- BEGIN SOLUTION -->", "").replace("<!-- END SOLUTION -->", "")
                    if line.strip():
                        yield cell_id, line
            continue
        if cell.get("cell_type") != "code":
            continue
        inside = False
        for line in text.split("\n"):
            if SOLUTION_BEGIN.match(line) or HIDDEN_BEGIN.match(line):
                inside = True
            elif SOLUTION_END.match(line) or HIDDEN_END.match(line):
                inside = False
            elif inside:
                yield cell_id, line
