"""The outputs of a run: written as each submission finishes, resumable, refused clearly, never lost to one bad write.

These drive :class:`Outputs` with outcomes made by hand (no worker runs); ``tests/grading/test_cli.py``
kills a real ``wslab grade`` half way and resumes it.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from wslab.grading.atomic import Folder
from wslab.grading.feedback import feedback_html, feedback_text
from wslab.grading.grader import CheckOutcome, Limits, Outcome
from wslab.grading.outputs import (
    STATE_SUFFIX,
    OutputError,
    Outputs,
    StateFile,
    outcome_data,
    outcome_from_data,
    state_path,
)
from wslab.grading.registry import get_exercise

LIMITS = Limits(cell=3.0)


def _notebook(student: str | None = None, body: str = "") -> bytes:
    meta: dict[str, object] = {"wslab": {"exercise": "readystate"}}
    if student:
        meta["wslab"] = {"exercise": "readystate", "student": student}
    cell = {"cell_type": "code", "id": "c1", "metadata": {}, "source": body, "outputs": [], "execution_count": None}
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": meta, "cells": [cell]}).encode()


def _class(tmp_path: Path, names: list[str]) -> tuple[list[Path], list[str]]:
    folder = tmp_path / "class"
    files = []
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_notebook(body=name))
        files.append(path)
    return files, names


def _graded(path: Path, name: str, lost: int = 0, message: str = "") -> Outcome:
    ex = get_exercise("readystate")
    checks = [CheckOutcome(c, "fail" if i < lost else "pass", message if i < lost else "")
              for i, c in enumerate(ex.checks)]
    return Outcome(path, name, ex, "cell-error" if lost else "ok", checks,
                   [(2, "c1", "error" if lost else "ok", "NameError" if lost else "")], ["a note"])


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))


def _outputs(tmp_path: Path, **options: object) -> Outputs:
    return Outputs(tmp_path / "gradebook.csv", tmp_path / "feedback", limits=LIMITS, **options)  # type: ignore[arg-type]


NAMES = ["ada_02-readystate.ipynb", "bob_02-readystate.ipynb", "cy/02-readystate.ipynb"]


def test_each_submission_is_written_as_it_finishes(tmp_path: Path) -> None:
    files, names = _class(tmp_path, NAMES)
    outputs = _outputs(tmp_path)
    todo = outputs.begin(files, names)
    assert todo == list(zip(files, names, strict=True))
    gradebook = tmp_path / "gradebook.csv"
    assert [r["student"] for r in _rows(gradebook)] == ["Points Possible"]  # written before any is graded
    for count, (path, name) in enumerate(todo, start=1):
        outputs.record(_graded(path, name, lost=count - 1))
        rows = _rows(gradebook)[1:]
        assert [r["submission"] for r in rows] == sorted(names[:count])
        state = state_path(gradebook).read_text().splitlines()
        assert len(state) == 1 + count and json.loads(state[-1])["name"] == name
    assert sorted(p.name for p in (tmp_path / "feedback").iterdir()) == sorted(
        f"{stem}{suffix}" for stem in ("ada_02-readystate", "bob_02-readystate", "cy%2F02-readystate")
        for suffix in (".md", ".html")
    )
    assert [r["student"] for r in _rows(gradebook)[1:]] == ["ada", "bob", "cy"]
    summary = outputs.finish()
    assert summary.graded == 3 and summary.problems == [] and summary.gradebook_written


def test_resume_takes_back_unchanged_submissions_regrades_changed_ones_and_writes_what_a_full_run_does(
    tmp_path: Path,
) -> None:
    files, names = _class(tmp_path, NAMES)
    first = _outputs(tmp_path / "run")
    first.begin(files, names)
    first.record(_graded(files[0], names[0]))
    first.record(_graded(files[1], names[1], lost=2, message="got <b>"))
    first.close()  # killed here: never finished

    files[1].write_bytes(_notebook(body="bob fixed it"))  # bob's file changed since
    resumed = _outputs(tmp_path / "run", resume=True)
    assert resumed.state.found and resumed.state.entries.keys() == {names[0], names[1]}
    todo = resumed.begin(files, names)
    assert todo == [(files[1], names[1]), (files[2], names[2])]
    assert resumed.summary.reused == 1
    for path, name in todo:
        resumed.record(_graded(path, name, lost=1))
    resumed.finish()

    full = _outputs(tmp_path / "full")
    assert full.begin(files, names) == list(zip(files, names, strict=True))
    full.record(_graded(files[0], names[0]))
    for path, name in todo:
        full.record(_graded(path, name, lost=1))
    full.finish()
    assert (tmp_path / "run" / "gradebook.csv").read_bytes() == (tmp_path / "full" / "gradebook.csv").read_bytes()
    for page in (tmp_path / "full" / "feedback").iterdir():
        assert (tmp_path / "run" / "feedback" / page.name).read_bytes() == page.read_bytes(), page.name
    # and once more, with nothing left to grade: the same files again
    again = _outputs(tmp_path / "run", resume=True)
    assert again.begin(files, names) == [] and again.summary.reused == 3
    again.finish()
    assert (tmp_path / "run" / "gradebook.csv").read_bytes() == (tmp_path / "full" / "gradebook.csv").read_bytes()


def test_a_torn_last_line_and_a_stale_line_are_graded_again(tmp_path: Path) -> None:
    files, names = _class(tmp_path, NAMES[:2])
    first = _outputs(tmp_path)
    first.begin(files, names)
    first.record(_graded(files[0], names[0]))
    first.record(_graded(files[1], names[1]))
    first.close()
    state = state_path(tmp_path / "gradebook.csv")
    lines = state.read_text().splitlines()
    stale = json.loads(lines[1])
    stale["outcome"]["checks"][0]["check"] = "a_check_that_was_renamed"
    state.write_text("\n".join([lines[0], json.dumps(stale), lines[2][:40]]))  # killed mid-line
    resumed = _outputs(tmp_path, resume=True)
    assert resumed.state.unreadable == 1  # the torn line (the stale one reads, but does not match the registry)
    assert resumed.begin(files, names) == list(zip(files, names, strict=True))
    resumed.record(_graded(files[1], names[1]))
    resumed.close()
    assert json.loads(state.read_text().splitlines()[-1])["name"] == names[1]  # a clean line after the cut


def test_the_gradebook_replaced_by_a_directory_is_reported_once_and_nothing_is_lost(tmp_path: Path) -> None:
    files, names = _class(tmp_path, NAMES)
    said: list[str] = []
    outputs = _outputs(tmp_path, report=said.append)
    outputs.begin(files, names)
    outputs.record(_graded(files[0], names[0]))
    gradebook = tmp_path / "gradebook.csv"
    gradebook.unlink()
    gradebook.mkdir()  # what a learner's daemon might do
    outputs.record(_graded(files[1], names[1]))
    outputs.record(_graded(files[2], names[2]))
    assert len(said) == 1 and "cannot write the gradebook" in said[0] and "--resume" in said[0]
    assert (tmp_path / "feedback" / "cy%2F02-readystate.md").exists()  # the feedback went on
    summary = outputs.finish()
    assert not summary.gradebook_written and len(summary.problems) == 1
    gradebook.rmdir()
    resumed = _outputs(tmp_path, resume=True)
    assert resumed.begin(files, names) == []  # all three were recorded
    resumed.finish()
    assert [r["submission"] for r in _rows(gradebook)[1:]] == sorted(names)


def test_a_feedback_file_that_cannot_be_written_is_reported_and_the_gradebook_kept(tmp_path: Path) -> None:
    files, names = _class(tmp_path, NAMES[:2])
    said: list[str] = []
    outputs = _outputs(tmp_path, report=said.append)
    (tmp_path / "feedback" / "ada_02-readystate.md").mkdir()
    outputs.begin(files, names)
    for path, name in zip(files, names, strict=True):
        outputs.record(_graded(path, name))
    summary = outputs.finish()
    assert len(said) == 1 and "cannot write the feedback of ada_02-readystate.ipynb" in said[0]
    assert summary.problems == said and summary.gradebook_written
    assert len(_rows(tmp_path / "gradebook.csv")) == 3
    assert (tmp_path / "feedback" / "ada_02-readystate.html").is_file()


def test_a_symlink_at_a_feedback_file_cannot_overwrite_the_gradebook(tmp_path: Path) -> None:
    files, names = _class(tmp_path, NAMES[:1])
    (tmp_path / "feedback").mkdir()
    (tmp_path / "feedback" / "ada_02-readystate.md").symlink_to(tmp_path / "gradebook.csv")
    outputs = _outputs(tmp_path)
    outputs.begin(files, names)
    outputs.record(_graded(files[0], names[0]))
    outputs.finish()
    assert (tmp_path / "gradebook.csv").read_text().startswith("student,submission,")
    assert not (tmp_path / "feedback" / "ada_02-readystate.md").is_symlink()
    assert (tmp_path / "feedback" / "ada_02-readystate.md").read_text().startswith("# Feedback")


def test_places_that_cannot_be_written_are_refused_before_anything_is_graded(tmp_path: Path) -> None:
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(OutputError, match="is a directory"):
        Outputs(tmp_path / "dir.csv", tmp_path / "fb", limits=LIMITS)
    (tmp_path / "a-file").write_text("")
    with pytest.raises(OutputError, match="cannot write .*the gradebook's folder"):
        Outputs(tmp_path / "a-file" / "g.csv", tmp_path / "fb", limits=LIMITS)
    with pytest.raises(OutputError, match="cannot write .*the feedback folder"):
        Outputs(tmp_path / "g.csv", tmp_path / "a-file", limits=LIMITS)
    assert not (tmp_path / "fb").exists()
    holder = Outputs(tmp_path / "g.csv", tmp_path / "fb", limits=LIMITS)
    with pytest.raises(OutputError, match="another wslab grade is writing this gradebook"):
        Outputs(tmp_path / "g.csv", tmp_path / "fb2", limits=LIMITS, resume=True)
    holder.close()
    with pytest.raises(OutputError, match=r"other limits \(--cell-timeout 3.0 .*--timeout 60.0"):
        Outputs(tmp_path / "g.csv", tmp_path / "fb", limits=Limits(cell=10.0), resume=True)
    (tmp_path / f"x.csv{STATE_SUFFIX}").write_text("student,total\n")
    with pytest.raises(OutputError, match="is not a wslab grade state file"):
        Outputs(tmp_path / "x.csv", tmp_path / "fb", limits=LIMITS, resume=True)
    with pytest.raises(ValueError, match="unknown gradebook format"):
        Outputs(tmp_path / "y.csv", tmp_path / "fb", limits=LIMITS, format="xlsx")


def test_a_symlink_at_the_state_file_is_refused_on_resume_and_replaced_afresh(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    state_path(tmp_path / "g.csv").symlink_to(victim)
    with pytest.raises(OutputError, match="is a symlink"):
        Outputs(tmp_path / "g.csv", tmp_path / "fb", limits=LIMITS, resume=True)
    Outputs(tmp_path / "g.csv", tmp_path / "fb", limits=LIMITS).close()
    assert victim.read_text() == "keep me" and not state_path(tmp_path / "g.csv").is_symlink()


def test_resume_without_a_state_file_grades_everything(tmp_path: Path) -> None:
    files, names = _class(tmp_path, NAMES[:1])
    outputs = _outputs(tmp_path, resume=True)
    assert not outputs.state.found and outputs.begin(files, names) == [(files[0], names[0])]
    outputs.close()


def test_outcomes_round_trip_as_data_and_stale_or_malformed_data_is_refused(tmp_path: Path) -> None:
    outcome = _graded(tmp_path / "x.ipynb", "x.ipynb", lost=2, message="line\nbreak \udcff")
    data = json.loads(json.dumps(outcome_data(outcome)))
    back = outcome_from_data(data, outcome.path, outcome.name)
    assert back == outcome
    assert feedback_text(back) == feedback_text(outcome) and feedback_html(back) == feedback_html(outcome)
    none = Outcome(tmp_path, "n.ipynb", None, "invalid-notebook", notes=["not JSON"])
    assert outcome_from_data(outcome_data(none), none.path, none.name) == none
    for broken in (
        {**data, "exercise": "no-such-exercise"},
        {**data, "status": "great"},
        {**data, "checks": data["checks"][:-1]},
        {**data, "cells": [[1, "id", "ok"]]},
        {**data, "notes": [1]},
        [],
    ):
        assert outcome_from_data(broken, outcome.path, outcome.name) is None


def test_ids_the_file_name_cannot_give_and_ids_shared_by_two_submissions_are_noted(tmp_path: Path) -> None:
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "ada_02-readystate.ipynb").write_bytes(_notebook(body="1"))
    (folder / "ada_02-readystate (1).ipynb").write_bytes(_notebook(body="2"))
    (folder / "02-readystate.ipynb").write_bytes(_notebook(body="3"))
    (folder / "readystate-by-grace.ipynb").write_bytes(_notebook(student="grace"))
    files = sorted(folder.iterdir())
    names = [f.name for f in files]
    outputs = _outputs(tmp_path, format="canvas")
    outputs.begin(files, names)
    for path, name in zip(files, names, strict=True):
        outputs.record(_graded(path, name, lost=1 if "(1)" in name else 0))
    summary = outputs.finish()
    assert summary.without_id == ["02-readystate.ipynb"]
    assert [o.name for o in summary.placement.duplicates[("ada", "readystate")]] == [
        "ada_02-readystate (1).ipynb", "ada_02-readystate.ipynb"
    ]
    shown = {o.name: o for o in outputs.outcomes()}
    assert shown["readystate-by-grace.ipynb"].student == "grace"
    assert any("no student id" in n for n in shown["02-readystate.ipynb"].notes)
    for name in ("ada_02-readystate.ipynb", "ada_02-readystate (1).ipynb"):
        text = (tmp_path / "feedback" / name.replace(".ipynb", ".md")).read_text()
        assert "2 submissions carry the student id ada for the exercise readystate" in text
        assert "the gradebook counts the highest score" in text
    rows = list(csv.reader(io.StringIO((tmp_path / "gradebook.csv").read_text(), newline="")))
    assert [r[0] for r in rows[2:]] == ["ada", "grace"] and rows[2][5] == "9"


def test_a_state_file_can_be_read_by_itself(tmp_path: Path) -> None:
    with Folder(tmp_path) as folder:
        state = StateFile(folder, "s.jsonl", LIMITS, resume=False)
        state.append("a.ipynb", "0" * 64, _graded(tmp_path / "a.ipynb", "a.ipynb"))
        state.close()
        again = StateFile(folder, "s.jsonl", LIMITS, resume=True)
        assert again.found and list(again.entries) == ["a.ipynb"] and again.entries["a.ipynb"]["sha256"] == "0" * 64
        again.close()
