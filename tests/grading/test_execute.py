"""``wslab execute``: notebooks run top to bottom in a fresh kernel, the failing cell named as JupyterLab counts it.

Each test here starts a real kernel (a few seconds). The course's own notebooks run
twice in ``tests/e2e/test_run_twice.py``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import nbformat
import pytest

from support.notebooks import Markdown, write_notebook
from wslab.grading.execute import NotebookFailed, add_arguments, cell_label, execute_notebook, run


def test_a_cell_is_named_from_1_markdown_included_with_its_index() -> None:
    assert cell_label(0, 27) == "cell 1 of 27 (index 0)"
    assert cell_label(8, 27) == "cell 9 of 27 (index 8)"


def _notebook(tmp_path: Path, *sources: str) -> Path:
    path = tmp_path / "nb.ipynb"
    write_notebook(path, Markdown("# a title"), *sources)
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


@pytest.mark.timeout(120)
def test_the_command_saves_outputs_without_timings_or_with_check_saves_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _notebook(tmp_path, "print(6 * 7)")
    before = path.read_bytes()
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert run(parser.parse_args([str(path), "--check", "--timeout", "30"])) == 0
    assert path.read_bytes() == before  # --check: run, not saved
    assert capsys.readouterr().out.startswith(f"ok     {path} (")
    assert run(parser.parse_args([str(path), "--timeout", "30"])) == 0
    saved = nbformat.read(path, as_version=4)
    assert saved.cells[1].outputs[0]["text"] == "42\n"
    assert saved.metadata["language_info"] == {"name": "python"}  # no Python version to show up in git diff
    assert "execution" not in saved.cells[1].metadata  # no timings either


@pytest.mark.timeout(120)
def test_the_command_reports_a_failing_notebook_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _notebook(tmp_path, "1 / 0")
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert run(parser.parse_args([str(path), "--timeout", "30"])) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"FAILED {path}: cell 2 of 2 (index 1) failed on run 1: ZeroDivisionError"), err
