"""Course-owned cells: the rule, the release's marks, and a submission prepared for grading (issue 18).

``prepare()`` is pure, so most of it is tested on notebooks built here; the last
tests grade the previous release's notebooks (``tests/data/old_release/``) through the
real worker, prepared, to show that they run this release's setup cell.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from support import DATA, ROOT
from wslab.grading.grader import Limits, grade_one
from wslab.grading.markers import MARKDOWN_ANSWER
from wslab.grading.owned import (
    ReleaseError,
    course_root,
    is_check_call,
    owned_metadata,
    owned_role,
    prepare,
    released_notebook,
    role_of,
)
from wslab.grading.registry import exercises, get_exercise

# Grades in processes of its own: one such module at a time (the wait for it is not the tests' time).
pytestmark = [pytest.mark.usefixtures("grading_alone"), pytest.mark.timeout(120, func_only=True)]

OLD = DATA / "old_release"
EXERCISES = ROOT / "exercises"


def _src(cell: dict[str, Any]) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _by_id(nb: dict[str, Any], cell_id: str) -> dict[str, Any]:
    return next(c for c in nb["cells"] if c.get("id") == cell_id)


def _set(nb: dict[str, Any], cell_id: str, text: str) -> None:
    _by_id(nb, cell_id)["source"] = text.splitlines(keepends=True)


def _code(cell_id: str, text: str) -> dict[str, Any]:
    return {"cell_type": "code", "id": cell_id, "metadata": {}, "execution_count": None, "outputs": [],
            "source": text.splitlines(keepends=True)}


def _ids(prepared: Any) -> list[str]:
    return [c.cell.get("id") for c in prepared.cells]


# ---------------------------------------------------------------------- the rule


def test_the_rule_owns_instructions_the_first_code_cell_and_the_check_cell() -> None:
    assert owned_role("markdown", "## 1. Name the states", answer=False, first_code=False) == "instructions"
    assert owned_role("code", "import wslab\nserver = wslab.start_server()", answer=False, first_code=True) == "setup"
    assert owned_role("code", 'check("readystate")', answer=False, first_code=False) == "check"
    assert owned_role("code", 'from wslab import check\ncheck("chat", timeout=2)', answer=False,
                      first_code=False) == "check"
    # the learner's: answers, demos that call the learner's code, raw cells, markdown answers
    assert owned_role("code", "def f():\n    ...", answer=True, first_code=False) is None
    assert owned_role("code", "def f():\n    ...", answer=True, first_code=True) is None
    assert owned_role("code", "print(state_name(1))", answer=False, first_code=False) is None
    assert owned_role("raw", "anything", answer=False, first_code=False) is None
    assert owned_role("markdown", f"Why?\n{MARKDOWN_ANSWER}", answer=False, first_code=False) is None
    assert owned_role("markdown", "<!-- BEGIN SOLUTION -->x<!-- END SOLUTION -->", answer=True,
                      first_code=False) is None


@pytest.mark.parametrize(
    "source, expected",
    [
        ('check("chat")', True),
        ('check("chat")\ncheck("updates")', True),
        ('from wslab import check\ncheck("chat")', True),
        ("from wslab import check", False),
        ('print(1)\ncheck("chat")', False),
        ('report = check("chat")', False),
        ('wslab.check("chat")', False),
        ("check(", False),
        ("", False),
    ],
)
def test_a_check_cell_only_calls_check(source: str, expected: bool) -> None:
    assert is_check_call(source) is expected


def test_owned_cells_are_read_only_as_nbgrader_marks_them() -> None:
    assert owned_metadata("setup") == {"deletable": False, "editable": False,
                                       "wslab": {"owned": True, "role": "setup"}}
    assert role_of({"metadata": owned_metadata("check")}) == "check"
    assert role_of({"metadata": {"wslab": {"owned": False, "role": "check"}}}) is None
    assert role_of({"metadata": {}}) is None and role_of({}) is None
    with pytest.raises(ValueError, match="unknown role 'answer'"):
        owned_metadata("answer")  # type: ignore[arg-type]


@pytest.mark.parametrize("path", sorted(EXERCISES.glob("*.ipynb")), ids=lambda p: p.stem)
def test_every_released_exercise_marks_its_course_cells_and_only_them(path: Path) -> None:
    nb = _load(path)
    cells = nb["cells"]
    roles = [role_of(c) for c in cells]
    first_code = next(i for i, c in enumerate(cells) if c["cell_type"] == "code")
    assert roles[first_code] == "setup" and roles.count("setup") == 1
    assert roles[-1] == "check" and roles.count("check") == 1 and _src(cells[-1]).startswith("check(")
    for cell, role in zip(cells, roles, strict=True):
        if cell["cell_type"] == "markdown":
            assert role == "instructions"
        if "# YOUR CODE HERE" in _src(cell):
            assert role is None, f"{cell['id']} is an answer cell: it is the learner's"
        if role is None:
            assert "editable" not in cell["metadata"] and "wslab" not in cell["metadata"]
        else:
            assert cell["metadata"]["editable"] is False and cell["metadata"]["deletable"] is False
    ids = [c["id"] for c in cells]
    assert len(set(ids)) == len(ids) and all(ids)


# ---------------------------------------------------------------------- the release grading uses


def test_the_release_is_found_next_to_the_package() -> None:
    assert course_root() == ROOT
    for ex in exercises():
        nb = released_notebook(ex)
        assert nb == _load(EXERCISES / f"{ex.notebook}.ipynb")
    assert released_notebook("readystate") == released_notebook(get_exercise("readystate"), ROOT)


def test_a_missing_or_stale_release_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ReleaseError, match="has no exercises/"):
        released_notebook("readystate", tmp_path)
    (tmp_path / "exercises").mkdir()
    with pytest.raises(ReleaseError, match="no released notebook .*02-readystate.ipynb: run `wslab release`"):
        released_notebook("readystate", tmp_path)
    target = tmp_path / "exercises" / "02-readystate.ipynb"
    target.write_text("{oops")
    with pytest.raises(ReleaseError, match="cannot read the released exercise"):
        released_notebook("readystate", tmp_path)
    stale = _load(EXERCISES / "02-readystate.ipynb")
    for cell in stale["cells"]:
        cell["metadata"] = {}
    target.write_text(json.dumps(stale))
    with pytest.raises(ReleaseError, match="marks no cell as the course's .* run `wslab release`"):
        released_notebook("readystate", tmp_path)
    other = _load(EXERCISES / "01-basics.ipynb")
    target.write_text(json.dumps(other))
    with pytest.raises(ReleaseError, match="is exercise 'basics', not 'readystate'"):
        released_notebook("readystate", tmp_path)
    with pytest.raises(KeyError, match="no exercise called 'nope'"):
        released_notebook("nope")


# ---------------------------------------------------------------------- prepare: a notebook of this release


@pytest.fixture
def release() -> dict[str, Any]:
    return released_notebook("readystate")


def test_an_untouched_notebook_runs_as_it_is(release: dict[str, Any]) -> None:
    sub = copy.deepcopy(release)
    _set(sub, "state-name", "def state_name(state):\n    return 'OPEN'\n")
    prepared = prepare(sub, release)
    assert not prepared.earlier and prepared.notes == ()
    assert [c.cell for c in prepared.cells] == sub["cells"]
    assert [c.position for c in prepared.cells] == list(range(1, len(sub["cells"]) + 1))
    assert [c.role for c in prepared.cells] == [role_of(c) for c in release["cells"]]
    assert prepared.notebook()["cells"] == sub["cells"]
    nbformat = pytest.importorskip("nbformat")
    nbformat.validate(nbformat.from_dict(prepared.notebook()))


def test_an_edited_setup_cell_is_reported_and_the_courses_runs(release: dict[str, Any]) -> None:
    sub = copy.deepcopy(release)
    setup = _by_id(sub, "setup")
    mine = _src(setup).replace("import asyncio\n", "import asyncio\nimport time\n") + "\nOPEN = 42\n"
    setup["source"] = mine
    before = copy.deepcopy(sub)
    prepared = prepare(sub, release)
    assert sub == before, "prepare() must not change the submission"
    cell = prepared.cells[1]
    assert cell.role == "setup" and cell.position == 2 and cell.replaced == mine
    assert cell.source == _src(_by_id(release, "setup"))
    assert prepared.notes == (
        "Cell 2 (the setup cell) is the course's: grading ran the course's version, not yours; "
        "not run: `import time`, `OPEN = 42`. Put your own code in your own cells.",
    )


def test_edits_that_only_change_spacing_are_not_edits(release: dict[str, Any]) -> None:
    sub = copy.deepcopy(release)
    setup = _by_id(sub, "setup")
    setup["source"] = "\n" + "".join(line.rstrip() + "   \n" for line in _src(setup).split("\n")) + "\n\n"
    prepared = prepare(sub, release)
    assert prepared.notes == () and prepared.cells[1].replaced is None


def test_edited_instructions_and_check_cells_are_reported(release: dict[str, Any]) -> None:
    sub = copy.deepcopy(release)
    _set(sub, "names-intro", "## 1. Name the states\n\nMy answer: it is OPEN.")
    _set(sub, "check", 'check("readystate")\nprint("all good")')
    prepared = prepare(sub, release)
    assert prepared.notes == (
        "Cell 3 is one of the course's instructions: your changes to it were not kept "
        "(write your answers in your own cells).",
        "Cell 12 (the check cell) is the course's: grading ran the course's version, not yours; "
        "not run: `print(\"all good\")`. Put your own code in your own cells.",
    )
    assert prepared.cells[-1].source == 'check("readystate")'


def test_deleted_course_cells_are_put_back_where_they_were(release: dict[str, Any]) -> None:
    sub = copy.deepcopy(release)
    sub["cells"] = [c for c in sub["cells"] if c["id"] not in ("setup", "check", "check-intro", "outbox-intro")]
    sub["cells"].insert(1, _code("mine", "x = 1"))  # the learner's, right after the intro
    prepared = prepare(sub, release)
    assert _ids(prepared) == [
        "intro", "setup", "mine", "names-intro", "state-name", "next-intro", "next-state", "states-live",
        "outbox-intro", "outbox", "outbox-try", "check-intro", "check",
    ]
    restored = [c for c in prepared.cells if c.position is None]
    assert [c.cell["id"] for c in restored] == ["setup", "outbox-intro", "check-intro", "check"]
    assert all(c.cell == _by_id(release, c.cell["id"]) for c in restored)
    assert prepared.cells[2].position == 2  # "mine" keeps its place in the learner's count
    assert prepared.notes == (
        "Cells of the course were missing and were put back: the setup cell, 2 instructions cells, the check cell.",
    )


def test_the_learners_cells_are_kept_in_order_wherever_they_are(release: dict[str, Any]) -> None:
    sub = copy.deepcopy(release)
    cells = sub["cells"]
    cells.insert(0, _code("first", "print('before everything')"))
    cells.insert(3, _code("helper", "import time"))
    cells.insert(len(cells) - 1, _code("late", "print('before the check')"))
    cells.append(_code("last", "print('after the check')"))
    del cells[[c["id"] for c in cells].index("outbox-try")]  # a demo cell is the learner's to delete
    prepared = prepare(sub, release)
    assert _ids(prepared) == [c["id"] for c in cells]
    assert [c.position for c in prepared.cells] == list(range(1, len(cells) + 1))
    assert prepared.notes == ()


def test_a_cell_marked_owned_that_this_release_does_not_know_runs_as_the_learners(release: dict[str, Any]) -> None:
    sub = copy.deepcopy(release)
    pasted = copy.deepcopy(_by_id(sub, "setup"))
    pasted["id"] = "pasted-copy"
    sub["cells"].insert(5, pasted)
    prepared = prepare(sub, release)
    assert prepared.cells[5].role is None and prepared.cells[5].cell == pasted
    assert prepared.notes == (
        "Cell 6 is marked as the course's, but this release has no such cell: it ran as yours.",
    )


def test_bad_inputs_are_refused_with_a_reason(release: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="the submission is not a notebook"):
        prepare({"cells": "nope"}, release)
    with pytest.raises(ValueError, match="the release is not a notebook"):
        prepare(release, {"cells": [{"source": "x"}]})
    unmarked = copy.deepcopy(release)
    for cell in unmarked["cells"]:
        cell["metadata"] = {}
    with pytest.raises(ValueError, match="marks no cell as the course's.*run `wslab release`"):
        prepare(release, unmarked)
    with pytest.raises(ValueError, match="submission is exercise 'basics' but the release is exercise 'readystate'"):
        prepare(released_notebook("basics"), release)
    nameless = copy.deepcopy(release)
    del nameless["metadata"]["wslab"]  # metadata lost: the file name said which exercise
    assert prepare(nameless, release).notes == ()


# ---------------------------------------------------------------------- prepare: a notebook of the last release


def test_a_notebook_of_the_last_release_gets_this_releases_setup_cell(release: dict[str, Any]) -> None:
    old = _load(OLD / "02-readystate.ipynb")
    assert not any(role_of(c) for c in old["cells"]), "0.1 wrote no owned-cell metadata"
    prepared = prepare(old, release)
    assert prepared.earlier
    assert [c.position for c in prepared.cells] == list(range(1, len(old["cells"]) + 1))
    setup = prepared.cells[1]
    assert setup.role == "setup" and setup.source == _src(_by_id(release, "setup"))
    assert "from wslab.check import check" in (setup.replaced or "")
    code = "\n".join(c.source for c in prepared.code_cells())
    assert "wslab.check" not in code and "from wslab import check" in code
    for cell, original in zip(prepared.cells, old["cells"], strict=True):
        if cell.role is None:
            assert cell.cell == original, "the learner's cells are the submission's"
    assert prepared.notes == (
        "This notebook was started on an earlier release of the course: grading ran this release's setup cell "
        "in place of cell 2 (not run: `from wslab.check import check`).",
    )


def test_without_cell_ids_the_last_release_is_matched_by_role_and_position(release: dict[str, Any]) -> None:
    old = _load(OLD / "02-readystate.ipynb")
    for cell in old["cells"]:
        del cell["id"]  # nbformat 4.4 had none
    prepared = prepare(old, release)
    assert [c.role for c in prepared.cells] == [role_of(c) for c in release["cells"]]
    assert prepared.cells[1].source == _src(_by_id(release, "setup"))
    assert [c.position for c in prepared.cells] == list(range(1, len(old["cells"]) + 1))
    assert len(prepared.notes) == 1 and "in place of cell 2" in prepared.notes[0]


def test_the_last_releases_learner_cells_keep_their_order_when_markdown_was_added(release: dict[str, Any]) -> None:
    old = _load(OLD / "02-readystate.ipynb")
    for cell in old["cells"]:
        del cell["id"]
    old["cells"].insert(4, {"cell_type": "markdown", "metadata": {}, "source": ["my notes"]})
    old["cells"].insert(1, _code("early", "print('mine, before the setup')"))
    del old["cells"][1]["id"]
    prepared = prepare(old, release)
    ran = [c.source for c in prepared.code_cells()]
    learner = [_src(c) for c in old["cells"] if c["cell_type"] == "code"][1:-1]
    # the first code cell is the setup cell, by position: the learner's cell there does not run
    assert ran == [_src(_by_id(release, "setup")), *learner, 'check("readystate")']
    assert "my notes" in [c.source for c in prepared.cells], "a learner's markdown is kept"
    assert "not run: `print('mine, before the setup')`" in prepared.notes[0]


# ---------------------------------------------------------------------- graded, through the real worker


@pytest.mark.slow
@pytest.mark.parametrize("name", ["01-basics", "02-readystate"])
def test_a_notebook_of_the_last_release_prepared_grades_full_marks_without_its_old_import(
    name: str, tmp_path: Path
) -> None:
    old = _load(OLD / f"{name}.ipynb")
    ex = get_exercise(old["metadata"]["wslab"]["exercise"])
    prepared = prepare(old, released_notebook(ex))
    setup = prepared.code_cells()[0]
    assert "from wslab.check import check" not in setup.source and setup.role == "setup"
    # Graded as it stands (the checker and the learner's process, no sandbox here: it is the same code path),
    # every cell runs and every check, hidden ones too, passes; the feedback says what was replaced.
    submission = tmp_path / f"{name}.ipynb"
    shutil.copy(OLD / f"{name}.ipynb", submission)
    outcome = grade_one(submission, limits=Limits(cell=20.0, submission=120.0), sandbox=False)
    assert {status for _, _, status, _ in outcome.cells} == {"ok"}, outcome.cells
    assert {c.check.name: c.status for c in outcome.checks} == {c.name: "pass" for c in ex.checks}
    assert outcome.total == outcome.max_points == ex.max_points == 9
    assert any("started on an earlier release" in note for note in outcome.notes), outcome.notes
    assert sum(c.points for c in ex.checks) == ex.max_points == 9
