"""The solution markers: what is an answer in a solution notebook."""

from __future__ import annotations

from typing import Any

from wslab.grading.markers import SOLUTION_BEGIN, answer_lines, cell_source, has_answer


def _code(cell_id: str, text: str) -> dict[str, Any]:
    return {"cell_type": "code", "id": cell_id, "metadata": {}, "execution_count": None, "outputs": [],
            "source": text.splitlines(keepends=True)}


def test_a_cells_source_is_one_text_either_way() -> None:
    assert cell_source({"source": ["a\n", "b"]}) == cell_source({"source": "a\nb"}) == "a\nb"
    assert cell_source({}) == ""


def test_the_begin_marker_carries_its_indent_state_and_hint() -> None:
    match = SOLUTION_BEGIN.match("    ### BEGIN SOLUTION STATE: a state and a queue")
    assert match and match.group("indent") == "    " and match.group("state") and match.group("hint") == (
        "a state and a queue"
    )
    assert SOLUTION_BEGIN.match("### BEGIN SOLUTION") and not SOLUTION_BEGIN.match("x = 1  ### BEGIN SOLUTION")


def test_answers_are_the_lines_between_the_markers() -> None:
    assert has_answer("code", "def f():\n    ### BEGIN SOLUTION: hint\n    return 1\n    ### END SOLUTION")
    assert not has_answer("code", "x = 1  # ### BEGIN SOLUTION is only text here")
    assert has_answer("markdown", "Why?\n<!-- BEGIN SOLUTION -->\nBecause.\n<!-- END SOLUTION -->")
    nb = {"cells": [
        _code("a", "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\nprint('kept')"),
        _code("b", "### BEGIN HIDDEN TESTS\nassert f() == 1\n### END HIDDEN TESTS"),
        {"cell_type": "markdown", "id": "m", "metadata": {},
         "source": ["Why?\n", "<!-- BEGIN SOLUTION -->\n", "Because.\n", "<!-- END SOLUTION -->"]},
    ]}
    assert list(answer_lines(nb)) == [("a", "    return 1"), ("b", "assert f() == 1"), ("m", "Because.")]
    assert list(answer_lines({"cells": "not a list"})) == []
