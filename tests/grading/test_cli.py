"""``wslab grade``: arguments checked before grading, a deterministic gradebook, a feedback file each, progress."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pytest

from support import DATA, ROOT
from wslab.cli import main
from wslab.grading.cli import Progress
from wslab.grading.grader import Outcome
from wslab.grading.registry import get_exercise

CORPUS = DATA / "submissions"


def test_cli_writes_a_deterministic_gradebook_and_a_feedback_file_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    subs = tmp_path / "class"
    subs.mkdir()
    shutil.copy(ROOT / "solutions" / "02-readystate.ipynb", subs / "ada_02-readystate.ipynb")
    for name in ("readystate-drops-offline.ipynb", "not-a-notebook.ipynb", "reconnect-resets-on-open.ipynb"):
        shutil.copy(CORPUS / name, subs / name)
    runs = []
    for attempt in (1, 2):
        out, fb = tmp_path / f"gb{attempt}.csv", tmp_path / f"fb{attempt}"
        args = ["grade", str(subs), "--out", str(out), "--feedback", str(fb), "-j", "2", "--cell-timeout", "3"]
        assert main(args) == 0
        runs.append((out.read_bytes(), {p.name: p.read_bytes() for p in sorted(fb.iterdir())}))
    assert runs[0] == runs[1], "grading the same files twice must give identical files"
    err = capsys.readouterr().err
    assert "] 4/4 " in err and "graded 4 submission(s)" in err  # the progress bar, on stderr
    rows = list(csv.DictReader(io.StringIO(runs[0][0].decode())))
    assert [r["submission"] for r in rows] == sorted(r["submission"] for r in rows)
    by = {r["submission"]: r for r in rows}
    assert by["ada_02-readystate.ipynb"]["total"] == by["ada_02-readystate.ipynb"]["max"] == "9"
    assert by["readystate-drops-offline.ipynb"]["readystate/outbox_queues_before_open"] == "0"
    assert by["readystate-drops-offline.ipynb"]["readystate/outbox_sends_when_open"] == "1"
    assert by["reconnect-resets-on-open.ipynb"]["reconnect/no_reset_on_flap"] == "0"
    assert by["reconnect-resets-on-open.ipynb"]["readystate/state_names"] == ""
    assert by["not-a-notebook.ipynb"]["status"] == "invalid-notebook" and by["not-a-notebook.ipynb"]["total"] == "0"
    header = runs[0][0].decode().splitlines()[0].split(",")
    assert header[:3] == ["submission", "exercise", "status"] and header[-2:] == ["total", "max"]
    assert set(runs[0][1]) == {"ada_02-readystate.md", "readystate-drops-offline.md", "not-a-notebook.md",
                               "reconnect-resets-on-open.md"}


def test_cli_refuses_bad_arguments_before_grading(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["grade", str(tmp_path / "nothing-here.ipynb"), "--out", str(tmp_path / "g.csv")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["grade", str(tmp_path), "--out", str(tmp_path / "g.csv")]) == 2
    assert "no notebooks found" in capsys.readouterr().err
    assert main(["grade", str(CORPUS / "mystery.ipynb"), "-j", "0"]) == 2
    assert "--jobs must be > 0" in capsys.readouterr().err


def test_every_bad_number_and_an_unwritable_gradebook_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    submission = str(CORPUS / "mystery.ipynb")
    for flag in ("--cell-timeout", "--timeout", "--memory", "--check-timeout"):
        assert main(["grade", submission, flag, "0"]) == 2
        assert f"wslab grade: {flag} must be > 0" in capsys.readouterr().err
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["grade", submission, "--out", str(blocker / "g.csv"), "--feedback", str(tmp_path / "fb")]) == 2
    assert "wslab grade: cannot write" in capsys.readouterr().err
    assert not (tmp_path / "fb").exists()  # refused before anything was graded or written


def _outcome(name: str, status: str) -> Outcome:
    return Outcome(path=Path(name), name=name, exercise=get_exercise("basics"), status=status)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_a_line_per_submission_off_a_terminal_and_one_bar_on_it() -> None:
    log = io.StringIO()
    progress = Progress(log, 2, width=4)
    progress(1, 2, _outcome("ada.ipynb", "ok"))
    progress(2, 2, _outcome("bob.ipynb", "time-limit"))
    top = get_exercise("basics").max_points
    assert log.getvalue().splitlines() == [
        f"[##--] 1/2 ada.ipynb: 0/{top} ok", f"[####] 2/2 bob.ipynb: 0/{top} time-limit"
    ]
    screen = _Terminal()
    bar = Progress(screen, 2, width=4)
    bar(1, 2, _outcome("ada.ipynb", "ok"))
    bar(2, 2, _outcome("bob.ipynb", "time-limit"))
    assert screen.getvalue() == (
        f"\r\033[K[##--] 1/2 ada.ipynb: 0/{top} ok\r\033[K[####] 2/2 bob.ipynb: 0/{top} time-limit\n"
    )
