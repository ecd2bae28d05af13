"""The class grader, held to the rustlings standard.

* every solution scores full marks;
* every released exercise scores zero, within its limits;
* each realistic wrong submission in ``tests/submissions/`` scores what
  ``expected.json`` says, hangs and broken files included;
* a class of 30 grades in under two minutes with ``-j 2``.

The corpus, solutions and exercises are graded once per session (one batch,
two at a time) and the tests read the outcomes.
"""

from __future__ import annotations

import csv
import json
import shutil
import time
from pathlib import Path

import pytest

from support import DATA, ROOT
from wslab.cli import main
from wslab.grading.grader import Limits, Outcome, feedback_text, grade, gradebook_text
from wslab.grading.registry import exercises, get_exercise

# The batch fixture grades ~34 notebooks (about a minute on 2 busy cores): allow more than the default.
pytestmark = pytest.mark.timeout(400)

CORPUS = DATA / "submissions"
EXPECTED = json.loads((CORPUS / "expected.json").read_text())
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
EXERCISES = sorted((ROOT / "exercises").glob("*.ipynb"))
LIMITS = Limits(cell=3.0, submission=60.0)


@pytest.fixture(scope="session")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """Solutions, released exercises and the corpus, graded in one batch; keyed by 'folder/name'."""
    base = tmp_path_factory.mktemp("batch")
    for folder, files in (("solutions", SOLUTIONS), ("exercises", EXERCISES)):
        (base / folder).mkdir()
        for f in files:
            shutil.copy(f, base / folder / f.name)
    shutil.copytree(CORPUS, base / "submissions", ignore=shutil.ignore_patterns("*.py", "*.json"))
    outcomes = grade([base], jobs=2, limits=LIMITS)
    return {o.name: o for o in outcomes}


def test_the_batch_has_one_outcome_per_file(graded: dict[str, Outcome]) -> None:
    assert len(graded) == len(SOLUTIONS) + len(EXERCISES) + len(EXPECTED)


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_every_solution_scores_full_marks(graded: dict[str, Outcome], path: Path) -> None:
    o = graded[f"solutions/{path.name}"]
    assert o.status == "ok", feedback_text(o)
    assert o.total == o.max_points == o.exercise.max_points > 0, feedback_text(o)
    assert [c.status for c in o.checks] == ["pass"] * len(o.exercise.checks)


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.stem)
def test_every_released_exercise_scores_zero_within_its_limits(graded: dict[str, Outcome], path: Path) -> None:
    o = graded[f"exercises/{path.name}"]
    assert o.total == 0, feedback_text(o)
    assert len(o.checks) == len(o.exercise.checks)
    # Unsolved: mostly "not written yet", and nothing timed out or was killed.
    statuses = [c.status for c in o.checks]
    assert set(statuses) <= {"todo", "fail"} and statuses.count("todo") > len(statuses) // 2, feedback_text(o)
    assert o.status in ("ok", "cell-error")
    assert all(status in ("ok", "error") for _, _, status, _ in o.cells)
    assert all("NotImplementedError" in detail for _, _, status, detail in o.cells if status == "error")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_wrong_submission_scores_what_it_should(graded: dict[str, Outcome], name: str) -> None:
    want = EXPECTED[name]
    o = graded[f"submissions/{name}"]
    assert o.status == want["status"], feedback_text(o)
    assert (o.exercise.name if o.exercise else "") == want["exercise"]
    failing = sorted(c.check.name for c in o.checks if c.status != "pass")
    assert failing == want["failing"], feedback_text(o)
    if o.exercise:
        checks = get_exercise(want["exercise"]).checks
        lost = sum(checks[i].points for i, c in enumerate(o.checks) if c.status != "pass")
        assert o.total == o.max_points - lost


def test_the_corpus_covers_the_mistakes_the_issue_names() -> None:
    for name in ("chat-missing-timestamp", "chat-typing-never-cleared", "chat-typing-every-keystroke",
                 "chat-never-awaits", "chat-awaits-forever", "chat-sleeps-in-cell", "chat-infinite-loop",
                 "chat-deleted-cell", "chat-syntax-error", "not-a-notebook"):
        assert f"{name}.ipynb" in EXPECTED


def test_feedback_says_why(graded: dict[str, Outcome]) -> None:
    def fb(name: str) -> str:
        return feedback_text(graded[f"submissions/{name}"])

    assert "still waiting after 2 s: every await that depends on the network needs a timeout" in fb(
        "chat-awaits-forever.ipynb"
    )
    assert "coroutine 'Connection.send' was never awaited: a missing `await`?" in fb("chat-never-awaits.ipynb")
    assert "stopped after 3 s (the time limit per cell)" in fb("chat-sleeps-in-cell.ipynb")
    assert "did not stop after its time limit and was killed; it was skipped" in fb("chat-bare-except-loop.ipynb")
    assert "`TypingSender` is not defined" in fb("chat-deleted-cell.ipynb")
    assert "SyntaxError" in fb("chat-syntax-error.ipynb")
    assert "expected 09:52 for a message stamped 2026-11-27T09:52:04.123Z" in fb("chat-missing-timestamp.ipynb")
    assert "not a Jupyter notebook (not valid JSON" in fb("not-a-notebook.ipynb")
    assert "cannot tell which exercise this is" in fb("mystery.ipynb")
    assert "(graded only)" in fb("chat-typing-never-cleared.ipynb")
    for o in graded.values():
        text = feedback_text(o)
        assert "/tmp/" not in text and str(ROOT) not in text, f"{o.name}: a machine path in the feedback"


def test_a_submission_out_of_time_keeps_what_it_earned_and_says_so(tmp_path: Path) -> None:
    from wslab.grading.grader import grade_one

    o = grade_one(CORPUS / "chat-sleeps-in-cell.ipynb", limits=Limits(cell=30.0, submission=4.0))
    assert o.status == "time-limit"
    assert {c.status for c in o.checks} == {"not-run"} and o.total == 0
    assert "grading stopped at the time limit per submission (4 s)" in feedback_text(o)


def test_gradebook_columns_follow_the_exercises_present() -> None:
    text = gradebook_text([])
    assert text == "submission,exercise,status,total,max\n"
    assert [c.column for c in get_exercise("basics").checks][0] == "basics/parses_objects"
    assert {ex.name for ex in exercises()} == {
        "basics", "readystate", "reconnect", "chat", "updates", "server", "production", "scaling"
    }


CLASS_HANGS = [
    "chat-sleeps-in-cell.ipynb",
    "chat-listens-forever.ipynb",
    "chat-bare-except-loop.ipynb",
    "chat-infinite-loop.ipynb",
    "reconnect-blocks-with-time-sleep.ipynb",
    "basics-awaits-forever.ipynb",
    "chat-holds-the-gil.ipynb",
]
CLASS_WRONG = [
    "chat-missing-timestamp.ipynb",
    "chat-typing-never-cleared.ipynb",
    "chat-typing-every-keystroke.ipynb",
    "chat-never-awaits.ipynb",
    "chat-awaits-forever.ipynb",
    "chat-deleted-cell.ipynb",
    "chat-syntax-error.ipynb",
    "readystate-drops-offline.ipynb",
    "reconnect-never-awaits.ipynb",
    "updates-one-handler-breaks-all.ipynb",
    "not-a-notebook.ipynb",
]


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_class_of_30_grades_within_its_limits_with_two_jobs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    subs = tmp_path / "class"
    subs.mkdir()
    students = iter(f"student{n:02d}" for n in range(1, 31))
    expected: dict[str, str] = {}
    for name in CLASS_HANGS + CLASS_WRONG:
        target = f"{next(students)}_{name}"
        shutil.copy(CORPUS / name, subs / target)
        expected[target] = EXPECTED[name]["status"]
    good = [p for p in SOLUTIONS for _ in range(3)][:12]
    for path in good:
        target = f"{next(students)}_{path.name}"
        shutil.copy(path, subs / target)
        expected[target] = "ok"
    assert len(expected) == 30
    out, fb = tmp_path / "gradebook.csv", tmp_path / "feedback"
    started = time.monotonic()
    assert main(["grade", str(subs), "--out", str(out), "--feedback", str(fb), "-j", "2"]) == 0
    elapsed = time.monotonic() - started
    rows = {r["submission"]: r for r in csv.DictReader(out.open())}
    assert {name: r["status"] for name, r in rows.items()} == expected
    assert all(rows[f"{s}"]["total"] == rows[s]["max"] for s in expected if "_0" in s and expected[s] == "ok")
    with capsys.disabled():
        print(f"\nclass of 30 (12 good, 11 wrong, 7 that hang), -j 2, default limits: {elapsed:.1f} s")
    # Not a benchmark (the figure is printed above and kept in docs/grading.md): a bound that only
    # a grader which waits past its own per-cell and per-check limits would cross on a busy machine.
    assert elapsed < 300, f"a class of 30 took {elapsed:.0f} s: some limit is not being enforced"


def test_feedback_for_submissions_in_class_folders_is_named_as_docs_grading_says(tmp_path: Path) -> None:
    """Names relative to the submissions' common folder; feedback in one flat folder, ``/`` as ``__``."""
    from wslab.grading.grader import _display_names, feedback_name

    paths = [tmp_path / who / "04-chat.ipynb" for who in ("ada", "bob")]
    names = _display_names(paths)
    assert names == ["ada/04-chat.ipynb", "bob/04-chat.ipynb"]
    assert [feedback_name(Outcome(p, n, None)) for p, n in zip(paths, names, strict=True)] == [
        "ada__04-chat.md", "bob__04-chat.md",
    ]
    assert _display_names([tmp_path / "ada_04-chat.ipynb"]) == ["ada_04-chat.ipynb"]
    docs = (ROOT / "docs" / "grading.md").read_text(encoding="utf-8")
    assert "from class folders, `ada/04-chat.ipynb`" in docs and "`feedback/ada__04-chat.md`" in docs
