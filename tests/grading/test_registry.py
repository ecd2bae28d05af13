"""The check registry: the exercises in lesson order, their checks with points, and which exercise a file is."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from support import ROOT
from wslab.grading import registry
from wslab.grading.registry import (
    CHECK_MODULES,
    DEFAULT_CHECK_TIMEOUT,
    Check,
    Exercise,
    exercise_for,
    exercises,
    get_exercise,
    hidden_installed,
    hidden_missing,
)


def test_the_exercise_is_known_by_metadata_or_by_file_name() -> None:
    chat = get_exercise("chat")
    assert exercise_for("anything.ipynb", {"wslab": {"exercise": "chat"}}) is chat
    assert exercise_for("ada_04-chat.ipynb") is chat
    assert exercise_for("Ada Lovelace - 04-Chat (1).ipynb") is chat
    assert exercise_for("readystate-bob.ipynb") is get_exercise("readystate")
    assert exercise_for("homework.ipynb", {"wslab": {"exercise": "nope"}}) is None


def run_python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


ORDER = "from wslab.grading.registry import exercises; print(' '.join(ex.name for ex in exercises()))"


def test_the_exercises_come_in_lesson_order() -> None:
    assert run_python(ORDER) == " ".join(CHECK_MODULES)  # a fresh interpreter, as the grader's worker is


def test_the_exercises_come_in_lesson_order_whatever_was_imported_first() -> None:
    assert run_python("import wslab.grading.checks.scaling\n" + ORDER) == " ".join(CHECK_MODULES)


def test_each_check_module_registers_one_exercise_with_public_and_hidden_checks() -> None:
    assert sorted(ex.name for ex in exercises()) == sorted(CHECK_MODULES)
    for ex in exercises():
        assert ex.checks and ex.max_points == sum(c.points for c in ex.checks) > 0
        assert ex.public_checks() and len(ex.public_checks()) < len(ex.checks)  # some run only at grading
        assert all(c.exercise == ex.name and c.column == f"{ex.name}/{c.name}" for c in ex.checks)


def test_an_unknown_exercise_is_a_key_error_naming_the_known_ones() -> None:
    with pytest.raises(KeyError, match="no exercise called 'nope'; the exercises are ") as caught:
        get_exercise("nope")
    assert all(f"'{name}'" in str(caught.value) for name in CHECK_MODULES)


def test_checks_register_in_order_with_their_defaults_and_names_must_be_unique() -> None:
    ex = Exercise("demo", "A demo", "00-demo")

    @ex.check(points=2, title="first", hint="h1")
    def first(ctx: object) -> None: ...

    @ex.check(points=0, title="second", hint="h2", public=False, timeout=6.0)
    def second(ctx: object) -> None: ...

    assert [(c.name, c.points, c.public, c.timeout) for c in ex.checks] == [
        ("first", 2, True, DEFAULT_CHECK_TIMEOUT), ("second", 0, False, 6.0)
    ]
    assert ex.checks[0].func is first and ex.max_points == 2 and ex.public_checks() == ex.checks[:1]
    with pytest.raises(ValueError, match="already has a check named 'first'"):
        ex.check(points=1, title="again", hint="h")(first)
    with pytest.raises(ValueError, match="points must be >= 0"):

        @ex.check(points=-1, title="negative", hint="h")
        def third(ctx: object) -> None: ...


def test_an_exercise_registered_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="exercise 'chat' is registered twice"):
        registry.exercise("chat", title="again", notebook="04-chat")


def test_a_file_that_names_no_exercise_is_none() -> None:
    assert exercise_for("homework.ipynb") is None
    assert exercise_for("homework.ipynb", {"wslab": "not a dict"}) is None
    assert exercise_for("Homework-UPDATES.ipynb") is get_exercise("updates")  # any case, a word of the name


def test_an_install_without_the_hidden_checks_says_why_it_cannot_grade() -> None:
    assert hidden_installed() and hidden_missing() is None  # this repository: the instructor's install
    public = Check("x", "a", "A", 2, True, "", lambda ctx: None)
    learners = Exercise("x", "X", "09-x", [public], hidden=(2, 3))
    assert not learners.hidden_installed
    reason = hidden_missing([learners, Exercise("y", "Y", "10-y")])
    assert reason is not None and "no hidden checks (wslab_instructor.checks is not installed" in reason
    assert "miss 3 point(s) of x" in reason


def test_docs_grading_lists_exactly_the_registrys_exercises_with_their_checks_and_points() -> None:
    """docs/grading.md's exercise table: one row per exercise, in lesson order, ``checks (points)`` as registered."""
    text = (ROOT / "docs" / "grading.md").read_text(encoding="utf-8")
    table = text.split("| exercise (`check(...)`) | notebook |")[1].split("\n\n")[0]
    rows = re.findall(r"^\| `(\w+)` \| `([\w-]+)` \| .+ \| (\d+) \((\d+)\) \|$", table, re.M)
    lines = [line for line in table.splitlines() if line.startswith("| `")]
    assert len(rows) == len(lines), f"a row of the table does not parse:\n{table}"
    assert rows == [(ex.name, ex.notebook, str(len(ex.checks)), str(ex.max_points)) for ex in exercises()]
