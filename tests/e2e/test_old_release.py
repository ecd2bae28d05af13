"""A notebook a learner saved under 0.1 (its setup cell: ``from wslab.check import check``) still runs and grades.

``tests/data/old_release/`` holds two of 0.1's exercise notebooks, solved, exactly as
that release wrote them. They run top to bottom in a real kernel, warning about the
old import but not failing, and ``wslab grade`` gives them full marks.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from support import DATA, ROOT
from wslab.grading.grader import grade

pytestmark = [pytest.mark.usefixtures("sandbox", "grading_alone"), pytest.mark.timeout(120, func_only=True)]

OLD = DATA / "old_release"


def test_the_old_notebooks_import_the_old_check() -> None:
    for path in sorted(OLD.glob("*.ipynb")):
        setup = "".join(nbformat.read(path, as_version=4).cells[1].source)
        assert "from wslab.check import check" in setup, path.name


@pytest.mark.slow
def test_a_notebook_of_the_last_release_runs_top_to_bottom_with_only_a_deprecation_warning(tmp_path: Path) -> None:
    path = tmp_path / "02-readystate.ipynb"
    shutil.copy(OLD / "02-readystate.ipynb", path)
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    warned = [o["text"] for o in outputs if o.get("name") == "stderr" and "DeprecationWarning" in o.get("text", "")]
    assert warned and "wslab.check is deprecated" in warned[0] and "wslab.grading.self_check" in warned[0], warned
    last = "".join(str(o.get("data", {}).get("text/plain", "")) for o in notebook.cells[-1].get("outputs", []))
    assert "4 of 4 public checks pass, 6/6 points" in last, last


@pytest.mark.slow
def test_notebooks_of_the_last_release_grade_with_full_marks(tmp_path: Path) -> None:
    copies = [shutil.copy(path, tmp_path / path.name) for path in sorted(OLD.glob("*.ipynb"))]
    outcomes = grade([Path(c) for c in copies], jobs=2)
    assert [(o.exercise.name if o.exercise else None, o.status, o.total, o.max_points) for o in outcomes] == [
        ("basics", "ok", 9, 9),
        ("readystate", "ok", 9, 9),
    ]
