"""``wslab grade``: arguments and places checked before grading, a deterministic gradebook, feedback, progress,
the LMS formats' exit status, and a grader killed half way, then resumed."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from support import DATA, ROOT
from wslab.cli import main
from wslab.grading.cli import Progress
from wslab.grading.grader import Outcome
from wslab.grading.registry import get_exercise

# Grades in processes of its own: one such module at a time (the wait for it is not the tests' time).
pytestmark = [pytest.mark.usefixtures("grading_alone"), pytest.mark.timeout(120, func_only=True)]

CORPUS = DATA / "submissions"


@pytest.mark.usefixtures("sandbox")
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
    assert header[:4] == ["student", "submission", "exercise", "status"] and header[-2:] == ["total", "max"]
    assert rows[0]["student"] == "Points Possible" and rows[0]["readystate/outbox_queues_before_open"] == "2"
    assert by["ada_02-readystate.ipynb"]["student"] == "ada" and by["not-a-notebook.ipynb"]["student"] == ""
    stems = {"ada_02-readystate", "readystate-drops-offline", "not-a-notebook", "reconnect-resets-on-open"}
    assert set(runs[0][1]) == {f"{stem}{suffix}" for stem in stems for suffix in (".md", ".html")}


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


def _wslab_grade(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "wslab.cli", "grade", *args], cwd=cwd, text=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


@pytest.mark.slow
@pytest.mark.usefixtures("sandbox")
def test_a_grader_killed_half_way_keeps_what_it_graded_and_resume_finishes_it_as_a_full_run_would(
    tmp_path: Path,
) -> None:
    subs = tmp_path / "class"
    subs.mkdir()
    shutil.copy(CORPUS / "not-a-notebook.ipynb", subs / "a_02-readystate.ipynb")  # graded at once
    shutil.copy(CORPUS / "mystery.ipynb", subs / "b_mystery.ipynb")  # graded at once
    shutil.copy(CORPUS / "chat-sleeps-in-cell.ipynb", subs / "c_04-chat.ipynb")  # its cell runs to the limit
    shutil.copy(CORPUS / "readystate-drops-offline.ipynb", subs / "d_02-readystate.ipynb")
    common = ["--cell-timeout", "3", "-j", "1", "--feedback"]
    grader = _wslab_grade("class", "--out", "gb.csv", *common, "fb", cwd=tmp_path)
    assert grader.stderr is not None
    seen = []
    for line in grader.stderr:  # one line per submission graded (stderr is not a terminal)
        seen.append(line)
        if "] 2/4 " in line:
            break
    os.kill(grader.pid, signal.SIGKILL)  # at submission 3 of 4, which sleeps for seconds
    grader.wait(10)
    grader.stderr.close()
    assert grader.returncode == -signal.SIGKILL, seen
    rows = list(csv.DictReader((tmp_path / "gb.csv").open(newline="")))
    assert [r["submission"] for r in rows[1:]] == ["a_02-readystate.ipynb", "b_mystery.ipynb"]
    assert sorted(p.name for p in (tmp_path / "fb").iterdir()) == [
        "a_02-readystate.html", "a_02-readystate.md", "b_mystery.html", "b_mystery.md"
    ]
    state = (tmp_path / "gb.csv.state.jsonl").read_text().splitlines()
    assert [json.loads(line)["name"] for line in state[1:]] == ["a_02-readystate.ipynb", "b_mystery.ipynb"]

    resumed = _wslab_grade("class", "--out", "gb.csv", *common, "fb", "--resume", cwd=tmp_path)
    _, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    assert "resuming: 2 of 4 submission(s) already graded from the same bytes, 2 to grade" in err
    state = (tmp_path / "gb.csv.state.jsonl").read_text().splitlines()
    assert [json.loads(line)["name"] for line in state[1:]] == [  # the first two were not graded again
        "a_02-readystate.ipynb", "b_mystery.ipynb", "c_04-chat.ipynb", "d_02-readystate.ipynb"
    ]
    full = _wslab_grade("class", "--out", "full.csv", *common, "full", cwd=tmp_path)
    _, err = full.communicate(timeout=120)
    assert full.returncode == 0, err
    assert (tmp_path / "gb.csv").read_bytes() == (tmp_path / "full.csv").read_bytes()
    assert {p.name: p.read_bytes() for p in (tmp_path / "fb").iterdir()} == {
        p.name: p.read_bytes() for p in (tmp_path / "full").iterdir()
    }


def _broken_class(tmp_path: Path) -> Path:
    """A class graded without running any notebook: files that are not notebooks, named by student."""
    subs = tmp_path / "class"
    subs.mkdir()
    for name in ("ada_02-readystate.ipynb", "bob/04-chat.ipynb", "chat-nobody.ipynb",
                 "=HYPERLINK(\"evil.example\",\"x\")_02-readystate.ipynb"):
        (subs / name).parent.mkdir(exist_ok=True)
        shutil.copy(CORPUS / "not-a-notebook.ipynb", subs / name)
    return subs


@pytest.mark.usefixtures("sandbox")
def test_the_lms_formats_leave_out_what_has_no_id_and_say_so_with_status_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    subs = _broken_class(tmp_path)
    out, fb = tmp_path / "gb.csv", tmp_path / "fb"
    assert main(["grade", str(subs), "--out", str(out), "--feedback", str(fb), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "1 submission(s) have no student id: chat-nobody.ipynb" in err
    rows = list(csv.reader(out.open(newline="")))
    assert sorted(r[0] for r in rows[2:]) == ["", "'=HYPERLINK(\"evil.example\",\"x\")", "ada", "bob"]
    assert set(fb.iterdir()) >= {fb / "bob%2F04-chat.md", fb / "ada_02-readystate.html"}
    assert main(["grade", str(subs), "--out", str(out), "--feedback", str(fb), "--format", "moodle",
                 "--resume", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "so they are not in the gradebook: chat-nobody.ipynb" in err
    assert "not in the gradebook: which exercise they are is unknown" in err  # not a notebook: no exercise
    assert "resuming: 4 of 4" in err


def test_outputs_that_cannot_be_written_are_refused_with_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    subs = _broken_class(tmp_path)
    (tmp_path / "dir.csv").mkdir()
    assert main(["grade", str(subs), "--out", str(tmp_path / "dir.csv")]) == 2
    assert "is a directory: --out names the gradebook file" in capsys.readouterr().err
    (tmp_path / "a-file").write_text("")
    assert main(["grade", str(subs), "--out", str(tmp_path / "g.csv"), "--feedback", str(tmp_path / "a-file")]) == 2
    err = capsys.readouterr().err
    assert "cannot write" in err and "(the feedback folder)" in err
    assert main(["grade", str(subs), "--id-pattern", "([^_]+)_"]) == 2
    assert "--id-pattern '([^_]+)_': it needs a named group" in capsys.readouterr().err
    assert main(["grade", str(subs), "--out", str(tmp_path / "g.csv"), "--feedback", str(tmp_path / "fb"),
                 "--quiet"]) == 0
    capsys.readouterr()
    assert main(["grade", str(subs), "--out", str(tmp_path / "g.csv"), "--feedback", str(tmp_path / "fb"),
                 "--resume", "--cell-timeout", "4"]) == 2
    assert "was graded with other limits" in capsys.readouterr().err


def test_a_file_name_cannot_send_escape_sequences_to_the_terminal() -> None:
    log = io.StringIO()
    Progress(log, 1, width=2)(1, 1, _outcome("\x1b]0;owned\x07\x1b[2J.ipynb", "ok"))
    assert "\x1b" not in log.getvalue() and "\x07" not in log.getvalue()
