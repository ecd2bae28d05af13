"""The trusted checker, as the grader starts it: ``python -m wslab.grading.checker SPEC.json``.

Each submission is exercise 02 (readystate: four public checks and two hidden ones,
no network), checked by the real checker under :func:`~wslab.grading.sandbox.checker_prefix`
with the learner's process in its sandbox: the solution (with and without the
sandbox), a wrong answer from the grader's corpus, and the solution with answers
that raise, hang, eat memory, or forge results. They are checked once, two at a
time (the module fixture ``checked``), and each test reads what one checker wrote.

What the checker writes is all the grader believes, so it is held to this: every
line is an event, each check gets exactly one verdict, ``done`` comes last and
once; a verdict is the check's own, whatever the learner's code raises, prints,
writes to its descriptors or returns; a hang costs only what it touches, within
the limits.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from support import DATA, ROOT
from support.hostile import ATTACKS, notebook, with_attack
from wslab.grading.checker import Spec, main
from wslab.grading.events import CellResult, CheckResult, CheckStart, Done, Event, Note, parse
from wslab.grading.registry import get_exercise
from wslab.grading.sandbox import Cgroups, SandboxLimits, checker_prefix

# The fixture checks nine submissions, two at a time (about 20 s on 2 busy cores): more than the default.
pytestmark = [pytest.mark.usefixtures("sandbox"), pytest.mark.timeout(300)]

CHECKS = [c.name for c in get_exercise("readystate").checks]
"""The checks of exercise 02, the hidden ones included: every checker run must give each a verdict."""

EXPECTED = json.loads((DATA / "submissions" / "expected.json").read_text())

FORGED = '{"event": "check", "name": "state_names", "status": "pass", "message": ""}\n{"event": "done"}\n'
"""Two lines a forger would like the grader to read."""

PRINTS_RESULTS = f"""
import os, sys
FORGED = {FORGED!r}
print(FORGED)
sys.__stdout__.write(FORGED)
for fd in (1, 2):
    os.write(fd, FORGED.encode())

class Anything:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

def state_name(state):
    print(FORGED)
    return Anything()
"""
"""A learner's cell that prints verdicts on every output it has, and a ``state_name`` that equals every answer."""


def _solution_with(*sources: str) -> dict[str, Any]:
    """The solution of exercise 02 with ``sources`` as code cells before its check cell."""
    nb = copy.deepcopy(notebook("solutions/02-readystate.ipynb"))
    for n, source in enumerate(sources):
        nb["cells"].insert(len(nb["cells"]) - 1, {"cell_type": "code", "execution_count": None, "id": f"added-{n}",
                                                  "metadata": {}, "outputs": [], "source": textwrap.dedent(source)})
    return nb


SUBMISSIONS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "honest": (notebook("solutions/02-readystate.ipynb"), {}),
    "honest-no-sandbox": (notebook("solutions/02-readystate.ipynb"), {"sandbox": False}),
    "wrong": (json.loads((DATA / "submissions" / "readystate-drops-offline.ipynb").read_text()), {}),
    "raises": (_solution_with(
        "1 / 0",
        "def state_name(state):\n    raise RuntimeError('state_name broke')",
        "def next_state(state, event):\n    raise NotImplementedError",
    ), {}),
    "hangs": (_solution_with(
        "import time\ntime.sleep(60)",
        "import time\nwhile True:\n    try:\n        time.sleep(1)\n    except BaseException:\n        pass",
        "def state_name(state):\n    while True:\n        pass",
    ), {"cell_limit": 1.0, "check_limit": 1.0}),
    "eats-memory": (_solution_with("hog = b'x' * (1 << 30)"), {"memory_mb": 256}),
    "forges-the-channel": (with_attack(ATTACKS["forges-the-channel"]), {}),
    "prints-results": (with_attack(PRINTS_RESULTS), {}),
    "cannot-start": (notebook("solutions/02-readystate.ipynb"), {"memory_mb": 8}),
}
"""Name: (notebook, the Spec's options besides its cells)."""

SUBMISSION_LIMIT = 60.0


@dataclass
class Checked:
    """What one checker did: its exit status, the lines it wrote on stdout, the end of its stderr, its wall time."""

    status: int
    lines: list[str]
    stderr: str
    elapsed: float

    @property
    def events(self) -> list[Event]:
        return [parse(line) for line in self.lines]

    @property
    def checks(self) -> dict[str, tuple[str, str]]:
        return {e.name: (e.status, e.message) for e in self.events if isinstance(e, CheckResult)}

    @property
    def cells(self) -> dict[int, tuple[str, str]]:
        return {e.index: (e.status, e.detail) for e in self.events if isinstance(e, CellResult)}

    @property
    def done(self) -> Done:
        last = self.events[-1]
        assert isinstance(last, Done), self.lines[-3:]
        return last


def _check(name: str, base: Path) -> Checked:
    """Check submission ``name`` as the grader does: a checker process, in its network namespace when sandboxed."""
    submitted, options = SUBMISSIONS[name]
    cells = [(i, "".join(c["source"])) for i, c in enumerate(submitted["cells"], 1) if c["cell_type"] == "code"]
    spec = Spec(exercise="readystate", cells=cells, **{"submission_limit": SUBMISSION_LIMIT, **options})
    folder = base / name
    folder.mkdir()
    spec.dump(folder / "spec.json")
    command = [sys.executable, "-m", "wslab.grading.checker", str(folder / "spec.json")]
    if spec.sandbox:
        command = [*checker_prefix(), *command]
    env = dict(os.environ, WSLAB_GRADING="1", PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT))
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = process.communicate(timeout=SUBMISSION_LIMIT + 60)
    finally:
        if process.returncode is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
    return Checked(process.returncode, out.decode().splitlines(), err.decode()[-2000:], time.monotonic() - started)


@pytest.fixture(scope="module")
def cgroups() -> bool:
    """Whether the sandbox has its memory cgroup here (else the limit is per process, and a hog fails otherwise)."""
    probe = Cgroups(SandboxLimits())
    probe.remove()
    return not probe.note


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Checked]]:
    """Every submission of SUBMISSIONS through its own checker, two at a time."""
    base = tmp_path_factory.mktemp("checker")
    with ThreadPoolExecutor(2) as pool:
        yield dict(zip(SUBMISSIONS, pool.map(lambda name: _check(name, base), SUBMISSIONS), strict=True))


@pytest.mark.parametrize("name", [n for n in SUBMISSIONS if n != "cannot-start"])
def test_every_line_is_an_event_each_check_has_one_verdict_and_done_comes_last(
    checked: dict[str, Checked], name: str
) -> None:
    run = checked[name]
    assert run.status == 0, run.stderr
    found = run.events  # raises on a line that is not an event
    verdicts = [e.name for e in found if isinstance(e, CheckResult)]
    assert sorted(verdicts) == sorted(CHECKS), verdicts
    assert [type(e) for e in found].count(Done) == 1 and isinstance(found[-1], Done)
    started = [e.name for e in found if isinstance(e, CheckStart)]
    assert all(e.name in started for e in found if isinstance(e, CheckResult) and e.status != "not-run")


@pytest.mark.parametrize("name", ["honest", "honest-no-sandbox"])
def test_a_correct_answer_passes_every_check(checked: dict[str, Checked], name: str) -> None:
    run = checked[name]
    assert run.checks == {c: ("pass", "") for c in CHECKS}
    assert {status for status, _ in run.cells.values()} == {"ok"}
    assert run.done.restarts == 0


def test_a_wrong_answer_fails_the_checks_it_gets_wrong_and_says_why(checked: dict[str, Checked]) -> None:
    run = checked["wrong"]
    failing = EXPECTED["readystate-drops-offline.ipynb"]["failing"]
    assert {c: s for c, (s, _) in run.checks.items()} == {c: "fail" if c in failing else "pass" for c in CHECKS}
    assert run.checks["outbox_queues_before_open"][1] == "two sends wait, but len(outbox) is 0"
    assert run.checks["outbox_survives_reconnect"][1] == (
        "after reconnecting, delivered ['a']; expected ['a', 'b', 'c'] once each"
    )


def test_an_answer_that_raises_is_an_error_or_a_todo_and_the_rest_still_runs(checked: dict[str, Checked]) -> None:
    run = checked["raises"]
    errors = {i: d for i, (s, d) in run.cells.items() if s != "ok"}
    assert list(errors.values()) == [f"ZeroDivisionError: division by zero (cell {min(errors)}, line 1)"]
    assert max(run.cells) > min(errors)  # the cells after it ran, and defined what the checks use
    assert run.checks == {
        "state_names": ("error", "RuntimeError: state_name broke"),
        "transitions": ("todo", "not written yet (NotImplementedError)"),
        "outbox_sends_when_open": ("pass", ""),
        "outbox_queues_before_open": ("pass", ""),
        "impossible_events": ("todo", "not written yet (NotImplementedError)"),
        "outbox_survives_reconnect": ("pass", ""),
    }


def test_an_answer_that_hangs_is_stopped_at_its_limits_and_costs_only_what_it_touches(
    checked: dict[str, Checked]
) -> None:
    run = checked["hangs"]
    stopped = [(status, detail) for _, (status, detail) in sorted(run.cells.items()) if status != "ok"]
    assert [status for status, _ in stopped] == ["timeout", "killed"]
    assert stopped[0][1].startswith("stopped after 1 s (the time limit per cell)")  # time.sleep(60), at its limit
    assert stopped[1][1].startswith("this cell did not stop after its time limit and was killed")  # except: pass
    # state_name never returns: the checks that call it time out (next_state calls it to say what is impossible)
    hung = "still running after 1 s: a loop that never ends, time.sleep(), or blocking code inside async code?"
    assert run.checks == {c: ("timeout", hung) if c in ("state_names", "impossible_events") else ("pass", "")
                          for c in CHECKS}
    assert run.done.restarts >= 2  # a fresh learner's process after each hang that would not stop
    assert run.elapsed < SUBMISSION_LIMIT
    assert not any(isinstance(e, Note) and "time limit" in e.text for e in run.events)


def test_an_answer_that_eats_memory_is_stopped_and_told_why(checked: dict[str, Checked], cgroups: bool) -> None:
    run = checked["eats-memory"]
    hog = [(s, d) for _, (s, d) in sorted(run.cells.items()) if s != "ok"]
    if cgroups:  # the sandbox's memory cgroup: the kernel kills the learner's process
        assert hog == [("crashed", "this cell ended the grading process (it ran out of memory (the limit is 256 MiB)); "
                                   "it was skipped and the notebook run again without it")]
        assert run.done.restarts == 2  # once more in case something else killed it, then without the cell
    else:  # a limit per process: the allocation fails
        assert hog == [("error", f"MemoryError (cell {max(run.cells) - 1}, line 1)")]
    assert run.checks == {c: ("pass", "") for c in CHECKS}


@pytest.mark.parametrize("name", ["forges-the-channel", "prints-results"])
def test_forged_results_do_not_count(checked: dict[str, Checked], name: str) -> None:
    run = checked[name]
    # The unsolved exercise, a forger added: it earned nothing, and nothing it wrote is taken as a verdict.
    assert not [c for c, (status, _) in run.checks.items() if status == "pass"], run.checks
    if name == "prints-results":
        assert run.checks["state_names"] == (
            "fail", "state_name(0) returned <__main__.Anything object at 0x…>, expected 'CONNECTING'"
        )
        assert {status for c, (status, _) in run.checks.items() if c != "state_names"} == {"todo"}
    else:
        assert {status for status, _ in run.checks.values()} == {"todo"}


def test_a_learner_process_that_cannot_start_stops_the_checker_without_a_verdict(
    checked: dict[str, Checked], cgroups: bool
) -> None:
    run = checked["cannot-start"]  # 8 MiB: not enough for Python
    assert run.status == 3
    why = run.stderr.strip().splitlines()[-1]
    assert why.startswith("wslab checker: the learner's process could not start: ")
    if cgroups:
        assert why.endswith("it ran out of memory (the limit is 8 MiB)")
    assert not any(isinstance(e, (CheckResult, Done)) for e in run.events)


def test_main_wants_exactly_one_spec(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main([])
    assert stopped.value.code == 2
    assert "usage: python -m wslab.grading.checker SPEC.json" in capsys.readouterr().err


def test_a_spec_reads_back_as_it_was_written(tmp_path: Path) -> None:
    spec = Spec("readystate", [(2, "x = 1"), (4, "y = 'é'")], cell_limit=1.5, check_limit=None, memory_mb=512,
                sandbox=False, notes=["an owned cell was put back"])
    spec.dump(tmp_path / "spec.json")
    assert Spec.load(tmp_path / "spec.json") == spec
