"""``wslab release``: exercises/ is generated from solutions/, and the committed copy is current."""

from __future__ import annotations

import ast
import json
import re
import shutil
from pathlib import Path

import pytest

from support import ROOT
from wslab.cli import main
from wslab.grading.owned import role_of
from wslab.grading.registry import exercises
from wslab.grading.release import ReleaseError, dumps, release_all, release_notebook, release_source

SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "exercises"


def _nb(*sources: str, exercise: str = "demo") -> dict:
    return {
        "cells": [
            {"cell_type": "code", "id": f"c{i}", "metadata": {}, "execution_count": 3,
             "outputs": [{"output_type": "stream", "name": "stdout", "text": ["secret output\n"]}],
             "source": src.splitlines(keepends=True)}
            for i, src in enumerate(sources)
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                     "wslab": {"exercise": exercise}, "widgets": {"state": {}}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def test_committed_exercises_are_what_release_generates() -> None:
    released = release_all(SOLUTIONS, EXERCISES)
    for r in released:
        assert r.target.is_file(), f"{r.target.name} is missing: run `wslab release`"
        assert r.target.read_text(encoding="utf-8") == r.text, f"{r.target.name} is stale: run `wslab release`"
    assert {p.name for p in EXERCISES.glob("*.ipynb")} == {r.target.name for r in released}


def test_release_check_command_agrees(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["release", "--check", "--source", str(SOLUTIONS), "--dest", str(EXERCISES)]) == 0
    assert "8 exercises match" in capsys.readouterr().out


def test_every_exercise_has_one_solution_notebook_that_names_it() -> None:
    names = {json.loads(p.read_text())["metadata"]["wslab"]["exercise"]: p.stem for p in SOLUTIONS.glob("*.ipynb")}
    assert names == {ex.name: ex.notebook for ex in exercises()}
    for ex in exercises():
        text = (EXERCISES / f"{ex.notebook}.ipynb").read_text()
        assert f'check(\\"{ex.name}\\")' in text, f"{ex.notebook} has no check({ex.name!r}) cell"


def _solution_lines(source: str) -> list[str]:
    lines, inside = [], False
    for line in source.splitlines():
        if "### BEGIN SOLUTION" in line:
            inside = True
        elif "### END SOLUTION" in line:
            inside = False
        elif (
            inside
            and len(line.strip()) > 12
            and not line.strip().startswith(("return", "raise", "self.", "if ", "else", "try", "except", "pass"))
        ):
            lines.append(line.strip())
    return lines


@pytest.mark.parametrize("path", sorted(SOLUTIONS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_released_exercise_keeps_the_spec_and_hides_the_answers(path: Path) -> None:
    solution = json.loads(path.read_text())
    exercise = json.loads((EXERCISES / path.name).read_text())
    assert [c["id"] for c in exercise["cells"]] == [c["id"] for c in solution["cells"]], "cell ids must stay stable"
    assert exercise["metadata"]["wslab"] == {"exercise": solution["metadata"]["wslab"]["exercise"], "released": True}
    for sol, ex in zip(solution["cells"], exercise["cells"], strict=True):
        assert sol["cell_type"] == ex["cell_type"]
        if ex["cell_type"] != "code":
            assert "".join(ex["source"]) == "".join(sol["source"])
            continue
        assert ex["outputs"] == [] and ex["execution_count"] is None
        src, released = "".join(sol["source"]), "".join(ex["source"])
        assert "### BEGIN" not in released and "### END" not in released
        if "### BEGIN SOLUTION" not in src:
            assert released == src
            continue
        assert "# YOUR CODE HERE:" in released
        for line in _solution_lines(src):
            assert line not in released, f"answer line leaked into {path.name} ({sol['id']}): {line}"
        # What stays is the spec: every def/class line and docstring of the solution. Exercise 4's
        # `pieces` cell is the exception: its answer is the learner's classes from earlier exercises.
        if sol["id"] == "pieces":
            continue
        for line in src.splitlines():
            if re.match(r"\s*(async def|def|class) ", line):
                assert line in released.splitlines(), f"signature lost: {line}"


def test_regions_become_stubs_at_their_indentation() -> None:
    source = (
        "def f(x):\n"
        '    """Spec."""\n'
        "    ### BEGIN SOLUTION: double x\n"
        "    return 2 * x\n"
        "    ### END SOLUTION\n"
        "class C:\n"
        "    def __init__(self):\n"
        "        ### BEGIN SOLUTION STATE: set up\n"
        "        self.n = 0\n"
        "        ### END SOLUTION\n"
        "### BEGIN SOLUTION\n"
        "ANSWER = 42\n"
        "### END SOLUTION\n"
        "### BEGIN HIDDEN TESTS\n"
        "assert f(2) == 4\n"
        "### END HIDDEN TESTS\n"
        "print('kept')"
    )
    assert release_source(source) == (
        "def f(x):\n"
        '    """Spec."""\n'
        "    # YOUR CODE HERE: double x\n"
        "    raise NotImplementedError('double x')\n"
        "class C:\n"
        "    def __init__(self):\n"
        "        # YOUR CODE HERE: set up\n"
        "        pass\n"
        "# YOUR CODE HERE: write your code here\n"
        "print('kept')"
    )
    compile(release_source(source), "<released>", "exec")


def test_release_clears_outputs_and_keeps_only_what_an_exercise_needs() -> None:
    nb = release_notebook(_nb("x = 1", "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION"))
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in nb["cells"])
    assert [c["id"] for c in nb["cells"]] == ["c0", "c1"]
    assert set(nb["metadata"]) == {"kernelspec", "wslab"}
    assert "secret output" not in dumps(nb)
    released = release_notebook(_nb("x = 1", "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION"))
    assert dumps(nb) == dumps(released)


def test_release_marks_the_courses_cells_read_only_and_keeps_the_learners_free() -> None:
    nb = _nb("import wslab", "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION", "print(f())",
             'check("demo")')
    nb["cells"].insert(0, {"cell_type": "markdown", "id": "m", "metadata": {"tags": ["intro"]}, "source": ["# Hi"]})
    released = release_notebook(nb)
    assert [role_of(c) for c in released["cells"]] == ["instructions", "setup", None, None, "check"]
    assert released["cells"][0]["metadata"] == {
        "tags": ["intro"], "deletable": False, "editable": False, "wslab": {"owned": True, "role": "instructions"},
    }
    assert released["cells"][2]["metadata"] == {} and released["cells"][3]["metadata"] == {}


def test_release_gives_a_cell_without_an_id_a_stable_one_and_refuses_two_alike() -> None:
    nb = _nb("x = 1", "y = 2")
    del nb["cells"][1]["id"]
    nb["nbformat_minor"] = 4
    released = release_notebook(nb)
    assert [c["id"] for c in released["cells"]] == ["c0", "cell-2"] and released["nbformat_minor"] == 5
    assert dumps(release_notebook(nb)) == dumps(released)
    nb["cells"][1]["id"] = "c0"
    with pytest.raises(ReleaseError, match=r"x.ipynb, cell 2 \(c0\): the same id as cell 1"):
        release_notebook(nb, "x.ipynb")


def test_markdown_answers_are_removed() -> None:
    nb = _nb()
    nb["cells"].append({"cell_type": "markdown", "id": "m", "metadata": {},
                        "source": ["Why?\n", "<!-- BEGIN SOLUTION -->\n", "Because.\n", "<!-- END SOLUTION -->"]})
    assert "".join(release_notebook(nb)["cells"][0]["source"]) == "Why?\n*Write your answer here.*"


@pytest.mark.parametrize(
    "source, complaint",
    [
        ("def f():\n    ### BEGIN SOLUTION\n    return 1\n", "has no '### END SOLUTION'"),
        ("x = 1\n### END SOLUTION\n", "without a BEGIN marker"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "inside the region"),
        ("### BEGIN HIDDEN TESTS\nassert True\n", "has no '### END HIDDEN TESTS'"),
    ],
)
def test_unpaired_markers_are_refused_with_where(source: str, complaint: str) -> None:
    with pytest.raises(ReleaseError, match=complaint) as info:
        release_notebook(_nb("ok = 1", source), "07-demo.ipynb")
    assert "07-demo.ipynb, cell 2 (c1)" in str(info.value)


def test_a_solution_must_name_its_exercise() -> None:
    nb = _nb("x = 1")
    del nb["metadata"]["wslab"]
    with pytest.raises(ReleaseError, match="wslab.exercise"):
        release_notebook(nb, "x.ipynb")


def test_release_check_fails_on_drift_and_release_repairs_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, dest = tmp_path / "solutions", tmp_path / "exercises"
    shutil.copytree(SOLUTIONS, source)
    args = ["release", "--source", str(source), "--dest", str(dest)]
    assert main(args + ["--check"]) == 1  # nothing released yet
    assert main(args) == 0
    assert main(args + ["--check"]) == 0
    target = dest / "04-chat.ipynb"
    target.write_text(target.read_text().replace("YOUR CODE HERE", "TODO"))
    (dest / "99-orphan.ipynb").write_text("{}")
    capsys.readouterr()
    assert main(args + ["--check"]) == 1
    err = capsys.readouterr().err
    assert "04-chat.ipynb is out of date" in err and "99-orphan.ipynb has no solution" in err
    assert main(args) == 0
    assert target.read_text() == (EXERCISES / "04-chat.ipynb").read_text()


def test_release_reports_a_broken_solution_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "bad.ipynb").write_text(dumps(_nb("### BEGIN SOLUTION\nx = 1\n")))
    assert main(["release", "--source", str(tmp_path / "s"), "--dest", str(tmp_path / "e")]) == 2
    assert "bad.ipynb, cell 1 (c0), line 1" in capsys.readouterr().err
    assert not (tmp_path / "e").exists()


@pytest.mark.parametrize("path", sorted(EXERCISES.glob("*.ipynb")), ids=lambda p: p.stem)
def test_released_exercises_are_valid_notebooks(path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbformat.validate(nbformat.reads(path.read_text(encoding="utf-8"), as_version=4))
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] == "code":
            compile("".join(cell["source"]), path.name, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
