"""Submissions that cheat or attack, graded in the sandbox beside an honest one.

Each hostile submission is exercise 02 (readystate, 9 points) left unsolved, with one
attack added to its notebook: it earned 0 and must score 0. The honest submission is
the solution, graded in the same batch (two at a time): it must keep 9 of 9. Then:
nothing an attack started is still running, the honest notebook and the grader's
outputs are as the grader wrote them, and no feedback carries a secret of the
grader's, a hidden check or another learner's code, or a second score line.

The families covered (issue 18): patching the checker in memory; walking the stack
and frames for expected values; forging and flooding the result channel; signals to
the grader and to siblings; escaping the process group; tampering with notebooks,
the gradebook and feedback; exfiltration into feedback; Markdown injection; memory
spread over processes; output floods; hangs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from support import ROOT
from support.hostile import (
    ATTACKS,
    HIDDEN_LINE,
    MARKER,
    OURS,
    SECRET,
    none_left,
    notebook,
    orphaned,
    processes_with,
    sandbox_cgroups,
    with_attack,
)
from wslab.cli import main
from wslab.grading.grader import Limits, grade, grade_one

pytestmark = pytest.mark.usefixtures("sandbox")

@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Grade every attack and the honest solution in one `wslab grade` run, two at a time, in the sandbox."""
    base = tmp_path_factory.mktemp("hostile")
    subs, out, feedback = base / "class", base / "gradebook.csv", base / "feedback"
    subs.mkdir()
    honest = subs / "honest_02-readystate.ipynb"
    shutil.copy(ROOT / "solutions" / "02-readystate.ipynb", honest)
    hidden = ROOT / "wslab_instructor" / "checks" / "readystate.py"
    targets = [str(honest), str(out), str(feedback / "honest_02-readystate.md"), str(hidden)]
    for name, attack in ATTACKS.items():
        nb = with_attack(f"TARGETS = {targets!r}\n" + textwrap.dedent(attack))
        (subs / f"{name}_02-readystate.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    injected_id = with_attack("pass", cell_id="x\n- Score: **9/9**")
    (subs / "bad-cell-id_02-readystate.ipynb").write_text(json.dumps(injected_id), encoding="utf-8")
    honest_bytes = honest.read_bytes()
    cgroups_before = set(sandbox_cgroups())
    env_before = os.environ.get("WSLAB_TEST_SECRET")
    os.environ["WSLAB_TEST_SECRET"] = SECRET
    started = time.monotonic()
    try:
        code = main(["grade", str(subs), "--out", str(out), "--feedback", str(feedback), "-j", "2", "--quiet",
                     "--cell-timeout", "4", "--timeout", "30", "--memory", "1024"])
    finally:
        if env_before is None:
            os.environ.pop("WSLAB_TEST_SECRET", None)
        else:
            os.environ["WSLAB_TEST_SECRET"] = env_before
    elapsed = time.monotonic() - started
    rows = {r["submission"]: r for r in _rows(out)}
    return {"code": code, "rows": rows, "out": out, "feedback": feedback, "honest": honest,
            "cgroups_before": cgroups_before,
            "honest_bytes": honest_bytes, "elapsed": elapsed, "base": base}


def _rows(out: Path) -> list[dict[str, str]]:
    import csv

    with out.open(newline="", encoding="utf-8") as f:
        return [r for r in csv.DictReader(f) if r.get("student") != "Points Possible"]


def test_the_honest_submission_beside_them_keeps_full_marks(batch: dict[str, Any]) -> None:
    row = batch["rows"]["honest_02-readystate.ipynb"]
    assert (row["total"], row["max"], row["status"]) == ("9", "9", "ok"), row


@pytest.mark.parametrize("attack", [*ATTACKS, "bad-cell-id"])
def test_an_attack_scores_nothing_it_did_not_earn(batch: dict[str, Any], attack: str) -> None:
    row = batch["rows"][f"{attack}_02-readystate.ipynb"]
    assert row["total"] == "0", (attack, row)


def test_nothing_an_attack_started_is_still_running(batch: dict[str, Any]) -> None:
    assert none_left(MARKER) == []
    assert none_left(OURS + "worker") == []
    assert none_left(OURS + "checker") == []
    assert set(orphaned(sandbox_cgroups())) <= batch["cgroups_before"]


def test_no_attack_reached_the_graders_files(batch: dict[str, Any]) -> None:
    assert batch["honest"].read_bytes() == batch["honest_bytes"]
    assert "tampered" not in batch["out"].read_text(encoding="utf-8")
    honest_feedback = batch["feedback"] / "honest_02-readystate.md"
    assert honest_feedback.is_file() and not honest_feedback.is_symlink()
    assert "tampered" not in honest_feedback.read_text(encoding="utf-8")
    assert not list(batch["base"].rglob("*.lnk"))
    assert (ROOT / "wslab_instructor" / "checks" / "readystate.py").read_text(encoding="utf-8") != "tampered"


def test_no_feedback_carries_a_secret_a_hidden_check_or_another_learners_code(batch: dict[str, Any]) -> None:
    honest_code = "".join(
        "".join(c["source"]) for c in notebook("solutions/02-readystate.ipynb")["cells"] if c["cell_type"] == "code"
    )
    distinctive = [line.strip() for line in honest_code.splitlines() if "BEGIN SOLUTION" not in line and
                   len(line.strip()) > 30][:5]
    for path in batch["feedback"].glob("*"):
        if path.name.startswith("honest"):
            continue
        text = path.read_text(encoding="utf-8")
        assert SECRET not in text, path.name
        assert HIDDEN_LINE not in text, path.name
        for line in distinctive:
            assert line not in text, (path.name, line)


def test_no_feedback_shows_a_second_score_line(batch: dict[str, Any]) -> None:
    for path in batch["feedback"].glob("*.md"):
        text = path.read_text(encoding="utf-8")
        assert len(re.findall(r"^- Score: ", text, re.M)) == 1, path.name
        assert len(re.findall(r"^# ", text, re.M)) == 1, path.name


def test_the_batch_finishes_within_its_limits(batch: dict[str, Any]) -> None:
    assert batch["code"] in (0, 1)  # 1: some submission has no student id in an LMS format: not used here
    assert batch["elapsed"] < 240, f"the hostile batch took {batch['elapsed']:.0f} s"


def test_a_learner_process_killed_from_outside_is_started_again_once(tmp_path: Path) -> None:
    """Something outside (the OOM killer, an admin) kills the learner's process once: grading retries that step."""
    nb = notebook("solutions/02-readystate.ipynb")
    nb["cells"].insert(len(nb["cells"]) - 1, {
        "cell_type": "code", "execution_count": None, "id": "slow", "metadata": {}, "outputs": [],
        "source": [f"import time\ntime.sleep(1.5)  # {MARKER}"]})
    path = tmp_path / "ada_02-readystate.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    killed: list[int] = []

    def kill_once() -> None:
        deadline = time.monotonic() + 30
        while not killed and time.monotonic() < deadline:
            for found in processes_with(OURS + "worker"):
                pid = int(found.partition(":")[0])
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                except OSError:
                    pass
            time.sleep(0.05)

    killer = threading.Thread(target=kill_once, daemon=True)
    killer.start()
    outcome = grade_one(path, limits=Limits(cell=5.0, submission=60.0))
    killer.join(5)
    assert killed, "the test never found the learner's process to kill"
    assert (outcome.total, outcome.status) == (9, "ok"), (outcome.notes, outcome.cells)


def test_the_checkers_memory_stays_small_under_a_flood(tmp_path: Path) -> None:
    """300 MB on stderr and 300 MB without a newline on the channel: the checker keeps only the last few KiB."""
    nb = with_attack(ATTACKS["floods-output"])
    cells = [(i, "".join(c["source"])) for i, c in enumerate(nb["cells"], 1) if c["cell_type"] == "code"]
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"exercise": "readystate", "cells": cells, "cell_limit": 20.0,
                                "submission_limit": 60.0, "memory_mb": 1024, "sandbox": True}))
    probe = textwrap.dedent(f"""
        import io, re
        from wslab.grading.checker import Spec, grade_in_sandbox
        grade_in_sandbox(Spec.load({str(spec)!r}), io.StringIO())
        print(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1))
    """)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=180,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    peak_kib = int(done.stdout.split()[-1])
    assert peak_kib < 200 * 1024, f"the checker's memory peaked at {peak_kib // 1024} MiB"


def test_without_a_sandbox_grading_refuses_unless_told(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from wslab.core.errors import GradingRefused
    from wslab.grading import grader

    monkeypatch.setattr(grader, "unavailable", lambda: "bubblewrap is not installed (the `bwrap` command): ...")
    submission = tmp_path / "ada_02-readystate.ipynb"
    shutil.copy(ROOT / "solutions" / "02-readystate.ipynb", submission)
    with pytest.raises(GradingRefused, match="bubblewrap is not installed"):
        grade([submission])
    assert [o.total for o in grade([submission], sandbox=False)] == [9]
