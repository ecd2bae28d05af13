"""Run All, then Run All again in the same kernel: what a learner does after an edit.

Every lesson, solution and exercise runs top to bottom twice in one fresh
kernel with no error (``wslab execute --twice``). A released exercise may stop
only where the learner has work to do: its stubs raise ``NotImplementedError``
and nothing else may fail, on either run. Cells that join rooms, start clients
or add bots clean up after an earlier run of themselves; this is the test that
they do.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from support import ROOT
from wslab.grading.execute import NotebookFailed, execute_notebook

NOTEBOOKS = sorted(
    path.relative_to(ROOT).as_posix()
    for folder in ("notebooks", "solutions", "exercises")
    for path in (ROOT / folder).glob("*.ipynb")
)


def test_every_course_notebook_is_covered() -> None:
    assert len([n for n in NOTEBOOKS if n.startswith("notebooks/")]) >= 5
    for lesson in (ROOT / "solutions").glob("*.ipynb"):
        assert f"exercises/{lesson.name}" in NOTEBOOKS, f"{lesson.name} has no released exercise"


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_twice_in_one_kernel(name: str) -> None:
    try:
        execute_notebook(ROOT / name, timeout=60, twice=True, allow_stubs=name.startswith("exercises/"))
    except NotebookFailed as exc:
        pytest.fail(str(exc), pytrace=False)


def _notebook(tmp_path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# a title")] + [nbformat.v4.new_code_cell(s) for s in sources]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.mark.timeout(120)
def test_a_cell_that_breaks_on_the_second_run_is_named_as_jupyterlab_counts(tmp_path: Path) -> None:
    path = _notebook(tmp_path, "runs = globals().get('runs', 0) + 1", "assert runs == 1, 'ran before'")
    execute_notebook(path, timeout=30)  # once is fine
    with pytest.raises(NotebookFailed) as failed:
        execute_notebook(path, timeout=30, twice=True)
    message = str(failed.value)
    assert "cell 3 of 3 (index 2) failed on run 2" in message, message
    assert "ran before" in message, message


@pytest.mark.timeout(120)
def test_stubs_may_raise_but_nothing_else(tmp_path: Path) -> None:
    stub = _notebook(tmp_path, "raise NotImplementedError('your code here')", "x = 1")
    execute_notebook(stub, timeout=30, twice=True, allow_stubs=True)
    with pytest.raises(NotebookFailed, match="NotImplementedError"):
        execute_notebook(stub, timeout=30)
    broken = _notebook(tmp_path, "raise NotImplementedError('stub')", "undefined_name")
    with pytest.raises(NotebookFailed, match=r"cell 3 of 3 .*NameError"):
        execute_notebook(broken, timeout=30, allow_stubs=True)
