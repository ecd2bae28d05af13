"""The leak scan, on a course small enough to read: what counts as a secret, and where it is found.

``tests/grading/test_edition.py`` runs the same scan on the real learner's edition.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from wslab.grading.leaks import (
    MIN_LENGTH,
    Leak,
    distinctive,
    find_leaks,
    normalize,
    read_folder,
    scan,
    secrets,
    shipped_lines,
)

ANSWER = "return sorted(set(names), key=str.lower)"
STUB = "def names_of(room):"
HIDDEN_TITLE = "names_of keeps one of each name, whatever the case"
HIDDEN_HINT = "Two people may share a name; a set keeps one."
HIDDEN_BODY = 'assert got == ["Ada", "bob"], f"names_of gave {got!r}"'
PUBLIC_BODY = "got = ctx.get(\"names_of\")(ROOM)"


def _nb(*cells: dict[str, Any]) -> str:
    return json.dumps({"cells": list(cells), "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def _code(cell_id: str, text: str, outputs: list[Any] | None = None) -> dict[str, Any]:
    return {"cell_type": "code", "id": cell_id, "metadata": {}, "execution_count": None,
            "outputs": outputs or [], "source": text.splitlines(keepends=True)}


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """A course of one exercise: its solution, its release, a lesson, a public and a hidden check."""
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "01-names.ipynb").write_text(_nb(_code("names", (
        f"{STUB}\n    ### BEGIN SOLUTION: one of each\n    {ANSWER}\n    ### END SOLUTION\n"
    ))))
    (tmp_path / "exercises").mkdir()
    (tmp_path / "exercises" / "01-names.ipynb").write_text(_nb(_code("names", (
        f"{STUB}\n    # YOUR CODE HERE: one of each\n    raise NotImplementedError('one of each')\n"
    ))))
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "01-names.ipynb").write_text(_nb(_code("lesson", "names = ['Ada', 'ada']\n")))
    (tmp_path / "wslab" / "grading" / "checks").mkdir(parents=True)
    (tmp_path / "wslab" / "grading" / "checks" / "names.py").write_text(
        f"@ex.check(points=1, title='names_of returns a list', hint='A list, sorted.')\n"
        f"def returns_list(ctx):\n    {PUBLIC_BODY}\n    assert isinstance(got, list)\n"
    )
    (tmp_path / "wslab_instructor" / "checks").mkdir(parents=True)
    (tmp_path / "wslab_instructor" / "checks" / "names.py").write_text(
        f"@ex.check(points=1, title={HIDDEN_TITLE!r}, public=False,\n"
        f"          hint={HIDDEN_HINT!r})\n"
        f"def one_each(ctx):\n    {PUBLIC_BODY}\n    {HIDDEN_BODY}\n"
    )
    return tmp_path


def test_whitespace_is_normalised_and_short_lines_or_headers_are_no_secret() -> None:
    assert normalize("  a \t b\n c  ") == "a b c"
    assert distinctive("x" * MIN_LENGTH) and not distinctive("x" * (MIN_LENGTH - 1))
    assert not distinctive("if len(others) == 1 and others[0] != me:")


def test_the_secrets_are_answer_lines_and_hidden_checks_minus_what_the_learner_is_given(course: Path) -> None:
    given = shipped_lines([(course / "exercises" / "01-names.ipynb").read_bytes()])
    assert STUB in given
    found = secrets(course, given)
    assert found.answers == {ANSWER: "solutions/01-names.ipynb, cell names"}
    assert found.hidden_texts == {
        HIDDEN_TITLE: "wslab_instructor/checks/names.py: one_each (title)",
        HIDDEN_HINT: "wslab_instructor/checks/names.py: one_each (hint)",
    }
    assert found.hidden_lines == {HIDDEN_BODY: "wslab_instructor/checks/names.py: one_each"}, (
        "a line the public checks share is no secret"
    )


def test_secrets_are_found_in_any_file_and_in_notebooks_sources_and_outputs(course: Path) -> None:
    found = secrets(course, set())
    output = {"output_type": "stream", "name": "stdout", "text": [f"{HIDDEN_TITLE[:18]}\n", HIDDEN_TITLE[19:]]}
    files = {
        "clean.md": b"nothing to see\n",
        "notes.md": f"some text\n        {ANSWER}   \n".encode(),
        "lesson.ipynb": _nb(_code("c1", "print(1)", [output])).encode(),
        "page.html": f"<p>{HIDDEN_HINT.replace(';', '&#59;')}</p>".encode(),
        "check.py": f"def f():\n    {HIDDEN_BODY}\n".encode(),
    }
    leaks = scan(files, found)
    assert [(leak.path, leak.where, leak.kind) for leak in leaks] == [
        ("check.py", "line 2", "hidden check"),
        ("lesson.ipynb", "cell c1", "hidden check"),
        ("notes.md", "line 2", "answer"),
        ("page.html", "", "hidden check"),
    ]
    assert str(leaks[2]) == f"notes.md (line 2): answer from solutions/01-names.ipynb, cell names: {ANSWER!r}"


def test_a_known_overlap_is_allowed_in_its_own_file_only(course: Path) -> None:
    found = secrets(course, set())
    files = {"wslab/names.py": f"    {ANSWER}\n".encode(), "wslab/other.py": f"{ANSWER}\n".encode()}
    leaks = scan(files, found, known={("wslab/names.py", ANSWER): "the package's own version"})
    assert [leak.path for leak in leaks] == ["wslab/other.py"]


def test_what_an_edition_never_holds_is_refused_by_name(course: Path) -> None:
    found = secrets(course, set())
    names = ["solutions/a.ipynb", "Tests/x.txt", "wslab/conftest.py", "bench/run.py", ".ci/run", "DEVELOPERS.md",
             "wslab/core/test_hub.py", "wslab/latest.py", "docs/testing.md"]
    leaks = scan({name: b"" for name in names}, found)
    assert [leak.path for leak in leaks] == [
        ".ci", "DEVELOPERS.md", "Tests", "bench", "solutions", "wslab/conftest.py", "wslab/core/test_hub.py",
    ]
    assert all(isinstance(leak, Leak) and leak.kind == "name" for leak in leaks)


def test_the_course_decides_what_is_given_never_the_files_scanned(course: Path) -> None:
    # An answer planted in the edition's own exercise is a leak, although it is "in an exercise".
    planted = _nb(_code("names", f"{STUB}\n    {ANSWER}\n"))
    assert [leak.kind for leak in find_leaks({"exercises/01-names.ipynb": planted.encode()}, course)] == ["answer"]
    # The released exercises may be given as text (what `wslab release` just made) instead of read from disk.
    stub = (course / "exercises" / "01-names.ipynb").read_text()
    (course / "exercises" / "01-names.ipynb").unlink()
    assert find_leaks({"x.py": f"{STUB}\n".encode()}, course, {"01-names.ipynb": stub}) == []


def test_read_folder_takes_every_file_but_git(tmp_path: Path) -> None:
    (tmp_path / ".git" / "objects").mkdir(parents=True)
    (tmp_path / ".git" / "objects" / "ab").write_bytes(b"history")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("a")
    (tmp_path / ".gitignore").write_text(".venv/\n")
    assert read_folder(tmp_path) == {".gitignore": b".venv/\n", "docs/a.md": b"a"}
