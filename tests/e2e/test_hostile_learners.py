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

import copy
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
from wslab.cli import main
from wslab.grading.grader import Limits, grade, grade_one

pytestmark = pytest.mark.usefixtures("sandbox")

SECRET = "grader-secret-0f3c9a"
"""An environment variable of the grader's: no learner may see it."""

MARKER = f"4242.{os.getpid()}"
"""What every process an attack leaves behind has on its command line (``sleep 4242.PID``: this run's own)."""

OURS = f"{sys.executable} -m wslab.grading."
"""The start of the command line of this run's checkers and learner processes (not another checkout's)."""

HIDDEN_LINE = 'for state, event in ((OPEN, "open"), (CLOSED, "open"), (CLOSING, "open"), (OPEN, "explode")):'
"""A line of a hidden check of exercise 02 (wslab_instructor/checks/readystate.py); its title and hint are
feedback on purpose, its code is not."""


def _notebook(name: str) -> dict[str, Any]:
    return json.loads((ROOT / name).read_text(encoding="utf-8"))


def _with_attack(attack: str, *, answer: str | None = None, cell_id: str | None = None) -> dict[str, Any]:
    """The released exercise 02 (unsolved), with ``attack`` as a code cell before the check cell."""
    nb = copy.deepcopy(_notebook("exercises/02-readystate.ipynb"))
    cells = nb["cells"]
    cell = {"cell_type": "code", "execution_count": None, "id": cell_id or "attack", "metadata": {}, "outputs": [],
            "source": textwrap.dedent(attack).strip("\n").splitlines(keepends=True)}
    cells.insert(len(cells) - 1, cell)
    if answer is not None:
        cells.insert(len(cells) - 1, {**cell, "id": "answer", "source": textwrap.dedent(answer).splitlines(True)})
    return nb


ATTACKS: dict[str, str] = {
    # --- patching the checker in memory
    "patches-the-checker": """
        import json, sys
        import wslab.grading.runner as runner, wslab.grading.registry as registry
        runner._classify = lambda check, exc: ("pass", "")
        runner.run_check = lambda *args, **kwargs: None
        for ex in registry.exercises():
            ex.checks.clear()
        json.dumps = lambda *a, **k: '{"event": "check", "name": "state_names", "status": "pass"}'
        main = sys.modules["__main__"]
        for name in dir(main):
            if "report" in name.lower():
                setattr(main, name, lambda **event: None)
    """,
    # --- walking the stack for the check's expected values
    "walks-the-stack": """
        import sys

        def state_name(state):
            frame = sys._getframe(1)
            while frame is not None:
                for value in list(frame.f_locals.values()):
                    if isinstance(value, dict) and value.get(1) == "OPEN":
                        return value[state]
                frame = frame.f_back
            raise NotImplementedError("nothing to copy")

        def next_state(state, event):
            for value in sys._getframe(1).f_locals.values():
                if isinstance(value, list) and value and isinstance(value[0], tuple) and len(value[0]) == 3:
                    return dict(((s, e), w) for s, e, w in value)[(state, event)]
            raise NotImplementedError("nothing to copy")
    """,
    # --- forging the result channel, then leaving
    "forges-the-channel": """
        import os
        lines = b''.join(
            b'{"event": "check", "name": "%s", "status": "pass", "message": ""}\\n' % n for n in
            (b"state_names", b"transitions", b"impossible_events", b"outbox_sends_when_open")
        ) + b'{"event": "done"}\\n' + b''.join(b'{"re": %d, "ok": "CONNECTING"}\\n' % i for i in range(1, 200))
        for fd in os.listdir("/proc/self/fd"):
            try:
                os.write(int(fd), lines)
            except OSError:
                pass

        def state_name(state):
            for fd in os.listdir("/proc/self/fd"):
                try:
                    os.write(int(fd), b''.join(b'{"re": %d, "ok": "OPEN"}\\n' % i for i in range(1, 500)))
                except OSError:
                    pass
            os._exit(0)
    """,
    # --- signal handlers that forge, and a SIGALRM handler that never stops
    "replaces-signal-handlers": """
        import os, signal
        def forge(*_):
            os.write(1, b'{"event": "check", "name": "state_names", "status": "pass"}\\n')
        signal.signal(signal.SIGALRM, forge)
        signal.signal(signal.SIGUSR1, forge)
        os.kill(os.getpid(), signal.SIGUSR1)
        import gc
        gc.collect = forge
    """,
    # --- copying the solution or the hidden checks
    "reads-the-solution": f"""
        import json, pathlib
        name = "02-readystate.ipynb"
        candidates = [pathlib.Path({str(ROOT)!r}, "solutions", name), pathlib.Path("solutions", name),
                      pathlib.Path("..", "solutions", name)]
        nb = json.loads(next(p for p in candidates if p.exists()).read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                exec("".join(cell["source"]))
    """,
    "imports-the-hidden-checks": """
        import wslab_instructor.checks.readystate as hidden
        raise SystemExit(hidden.__file__)
    """,
    # --- signals to the grader, the checker and siblings; the process group
    "kills-everyone": """
        import os, signal
        for target in (os.getppid(), 0, -1):
            try:
                os.kill(target, signal.SIGKILL) if target > 0 else os.killpg(os.getpgid(0), signal.SIGKILL)
            except OSError:
                pass
        for pid in range(2, 4096):
            try:
                os.kill(pid, signal.SIGSTOP)
            except OSError:
                pass
    """,
    # --- escaping the process group: a double-forked daemon that outlives the grader
    "leaves-a-daemon": f"""
        import os, subprocess
        subprocess.Popen(["/bin/sleep", "{MARKER}"], start_new_session=True,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv("/bin/sleep", ["sleep", "{MARKER}"])
            os._exit(0)
    """,
    # --- tampering with another notebook, the gradebook and feedback (their paths filled in by the test)
    "tampers-with-files": """
        import os, pathlib
        for path in TARGETS:
            try:
                pathlib.Path(path).write_text("tampered")
            except OSError:
                pass
            try:
                os.symlink("/etc/passwd", path + ".lnk")
            except OSError:
                pass
    """,
    # --- exfiltration into feedback: the grader's environment, a hidden check, the honest learner's code
    "exfiltrates": """
        import os, pathlib
        loot = [repr(dict(os.environ))]
        for path in TARGETS:
            try:
                loot.append(pathlib.Path(path).read_text()[:2000])
            except OSError as exc:
                loot.append(str(exc))

        def state_name(state):
            raise RuntimeError(" | ".join(loot))
    """,
    # --- Markdown injection: a second score line, a heading, a link
    "injects-markdown": """
        def state_name(state):
            raise ValueError("nope\\n- Score: **9/9**\\n# Feedback: graded by hand\\n[click](http://evil.example)")
    """,
    # --- memory spread over processes (each under the limit, together far over it)
    "spreads-memory": """
        import subprocess, sys
        hog = "x = bytearray(700 * 1024 * 1024); import time; time.sleep(30)"
        children = [subprocess.Popen([sys.executable, "-c", hog]) for _ in range(3)]
        for child in children:
            child.wait()
    """,
    # --- floods: 300 MB on standard error, 300 MB without a newline on every descriptor
    "floods-output": """
        import os, sys
        chunk = b"x" * (1 << 20)
        for _ in range(300):
            try:
                os.write(2, chunk)
            except OSError:
                break
        for fd in os.listdir("/proc/self/fd"):
            if fd in ("0", "1", "2"):
                continue
            try:
                for _ in range(300):
                    os.write(int(fd), chunk)
            except OSError:
                pass
    """,
    # --- a fork bomb
    "forks-without-end": """
        import os
        children = 0
        while children < 100000:
            try:
                if os.fork() == 0:
                    import time; time.sleep(30); os._exit(0)
                children += 1
            except OSError:
                break
    """,
    # --- hangs that swallow everything
    "hangs-for-ever": """
        import time
        while True:
            try:
                time.sleep(1)
            except BaseException:
                pass
    """,
}


def _processes_with(text: str) -> list[str]:
    """``pid: command line`` of every process whose command line holds ``text`` (this test's own excepted)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            except OSError:
                continue
            if text in line and int(entry.name) != os.getpid():
                found.append(f"{entry.name}: {line[:200]}")
    return found


def _none_left(text: str, within: float = 5.0) -> list[str]:
    """The processes still holding ``text`` once ``within`` seconds passed (the kernel ends a PID namespace's
    processes a moment after its first process dies)."""
    deadline = time.monotonic() + within
    while (left := _processes_with(text)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def _sandbox_cgroups() -> list[Path]:
    return [p for p in Path("/sys/fs/cgroup").glob("*/**/wslab-sandbox-*") if p.is_dir()]


def _orphaned(cgroups: list[Path]) -> list[Path]:
    """The sandbox cgroups whose checker (the pid in ``wslab-sandbox-PID-N``) has ended: a leak. Those of a
    checker still running belong to another grading run on this machine (a parallel test), not to us."""
    return [p for p in cgroups if not Path(f"/proc/{p.name.split('-')[2]}").exists()]


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
        nb = _with_attack(f"TARGETS = {targets!r}\n" + textwrap.dedent(attack))
        (subs / f"{name}_02-readystate.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    injected_id = _with_attack("pass", cell_id="x\n- Score: **9/9**")
    (subs / "bad-cell-id_02-readystate.ipynb").write_text(json.dumps(injected_id), encoding="utf-8")
    honest_bytes = honest.read_bytes()
    cgroups_before = set(_sandbox_cgroups())
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
    assert _none_left(MARKER) == []
    assert _none_left(OURS + "worker") == []
    assert _none_left(OURS + "checker") == []
    assert set(_orphaned(_sandbox_cgroups())) <= batch["cgroups_before"]


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
        "".join(c["source"]) for c in _notebook("solutions/02-readystate.ipynb")["cells"] if c["cell_type"] == "code"
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
    nb = _notebook("solutions/02-readystate.ipynb")
    nb["cells"].insert(len(nb["cells"]) - 1, {
        "cell_type": "code", "execution_count": None, "id": "slow", "metadata": {}, "outputs": [],
        "source": [f"import time\ntime.sleep(1.5)  # {MARKER}"]})
    path = tmp_path / "ada_02-readystate.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    killed: list[int] = []

    def kill_once() -> None:
        deadline = time.monotonic() + 30
        while not killed and time.monotonic() < deadline:
            for found in _processes_with(OURS + "worker"):
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
    nb = _with_attack(ATTACKS["floods-output"])
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
