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
from wslab.grading import execute as execute_module
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
def test_a_saved_notebook_has_its_outputs_and_nothing_that_differs_between_machines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _notebook(tmp_path, "print(6 * 7)")
    assert run(_args(str(path), "--timeout", "30")) == 0
    assert capsys.readouterr().out.startswith(f"ok     {path} (")
    saved = nbformat.read(path, as_version=4)
    assert saved.cells[1].outputs[0]["text"] == "42\n"
    assert saved.metadata["language_info"] == {"name": "python"}  # no Python version to show up in git diff
    assert "execution" not in saved.cells[1].metadata  # no timings either


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_check_saves_nothing_and_a_failing_notebook_makes_the_status_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    good, bad = _notebook(tmp_path, "x = 1"), tmp_path / "bad.ipynb"
    bad.write_bytes(good.read_bytes())
    before = good.read_bytes()
    ran: list[tuple[Path, bool, bool]] = []

    def fake_execute(path: Path, *, timeout: float, twice: bool, allow_stubs: bool) -> object:  # no kernel needed
        ran.append((path, twice, allow_stubs))
        if path == bad:
            raise NotebookFailed(f"{path}: cell 2 of 2 (index 1) failed on run 1: ZeroDivisionError")
        return nbformat.read(path, as_version=4)

    monkeypatch.setattr(execute_module, "execute_notebook", fake_execute)
    assert run(_args(str(bad), str(good), "--check", "--twice", "--allow-stubs")) == 1
    assert ran == [(bad, True, True), (good, True, True)]  # a failure does not stop the others
    assert good.read_bytes() == before  # --check: run, not saved
    captured = capsys.readouterr()
    assert captured.err == f"FAILED {bad}: cell 2 of 2 (index 1) failed on run 1: ZeroDivisionError\n"
    assert captured.out.startswith(f"ok     {good} (") and captured.out.rstrip().endswith(", twice)")
