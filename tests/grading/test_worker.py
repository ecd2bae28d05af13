"""The grading worker: a submission's cells run in order, each bounded, then its checks; each step one JSON line.

run_cell is tested in this process (with the worker's SIGALRM handler, on the main
thread, as in the worker); main() as the real subprocess the grader starts.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support import ROOT
from support.notebooks import Markdown, write_notebook
from wslab.grading import worker
from wslab.grading.registry import get_exercise
from wslab.grading.worker import run_cell, transform


@pytest.fixture
def cells() -> Iterator[tuple[dict[str, Any], asyncio.AbstractEventLoop]]:
    """A namespace and a loop as the worker has them, with its SIGALRM handler installed.

    The handler stands in for pytest-timeout's own alarm meanwhile (restored after):
    every run_cell below is bounded by its own limit.
    """
    previous = signal.signal(signal.SIGALRM, worker._alarm)
    loop = asyncio.new_event_loop()
    try:
        yield {"__name__": "__main__"}, loop
    finally:
        loop.close()
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_the_worker_does_not_run_magics_or_shell_commands() -> None:
    python, note = transform("%pip install websockets\nx = 1\n  !rm -rf stuff\nprint(x)")
    assert python == (
        "pass  # not run in grading: %pip install websockets\n"
        "x = 1\n"
        "  pass  # not run in grading: !rm -rf stuff\n"
        "print(x)"
    )
    assert note == "magics and shell commands were not run"
    assert transform("%%bash\nrm -rf /")[0] is None
    assert transform("%%time\ny = 2")[0] == "y = 2"


def test_cells_share_one_namespace_and_top_level_await_runs_on_the_loop(cells: Any) -> None:
    ns, loop = cells
    assert run_cell(1, "import asyncio\nx = 2", ns, loop, 5.0) == ("ok", "")
    assert run_cell(2, "await asyncio.sleep(0)\ny = x * 21", ns, loop, 5.0) == ("ok", "")
    assert ns["y"] == 42
    assert run_cell(3, "%time z = 1\nz = 2", ns, loop, 5.0) == ("ok", "magics and shell commands were not run")
    assert run_cell(4, "%%bash\nrm -rf /", ns, loop, 5.0) == ("skipped", "cell magic %%bash is not run in grading")


def test_an_error_is_reported_with_its_cell_and_line_and_the_next_cell_still_runs(cells: Any) -> None:
    ns, loop = cells
    assert run_cell(7, "a = 1\nundefined_name", ns, loop, 5.0) == (
        "error", "NameError: name 'undefined_name' is not defined (cell 7, line 2)"
    )
    assert run_cell(8, "def f(:\n    pass", ns, loop, 5.0)[1].startswith("SyntaxError: ")
    assert run_cell(9, "raise SystemExit(3)", ns, loop, 5.0) == ("error", "SystemExit: 3 (cell 9, line 1)")
    assert run_cell(10, "b = a + 1", ns, loop, 5.0) == ("ok", "") and ns["b"] == 2


@pytest.mark.parametrize(
    "source",
    ["while True:\n    pass", "import time\ntime.sleep(60)", "import asyncio\nawait asyncio.Event().wait()"],
    ids=["loop", "sleep", "await"],
)
def test_a_cell_that_never_ends_is_stopped_at_its_limit(cells: Any, source: str) -> None:
    ns, loop = cells
    started = time.monotonic()
    status, detail = run_cell(1, source, ns, loop, 0.3)
    assert status == "timeout" and detail.startswith("stopped after 0.3 s (the time limit per cell)")
    assert time.monotonic() - started < 0.3 + 2.5  # an await gets one more second to unwind
    assert run_cell(2, "ok = True", ns, loop, 5.0) == ("ok", "")  # the worker goes on


def test_a_cell_whose_own_except_catches_everything_is_still_stopped(cells: Any) -> None:
    ns, loop = cells
    status, _ = run_cell(1, "while True:\n    try:\n        pass\n    except Exception:\n        pass", ns, loop, 0.3)
    assert status == "timeout"  # CellTimeout is a BaseException: `except Exception` does not swallow it


def test_main_reports_each_step_as_one_json_line_and_discards_the_learners_output(tmp_path: Path) -> None:
    path = tmp_path / "ada_01-basics.ipynb"
    write_notebook(path, Markdown("# Ada's basics"), "print('noise from the learner')\nx = 1", "1 / 0", "!ls")
    done = subprocess.run(
        [sys.executable, "-m", "wslab.grading.worker", str(path), "--exercise", "basics", "--skip-cells", "4",
         "--check-timeout", "2"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert "noise" not in done.stdout
    assert events[:6] == [
        {"event": "cell-start", "index": 2}, {"event": "cell", "index": 2, "status": "ok", "detail": ""},
        {"event": "cell-start", "index": 3},
        {"event": "cell", "index": 3, "status": "error",
         "detail": "ZeroDivisionError: division by zero (cell 3, line 1)"},
        {"event": "cell-start", "index": 4},
        {"event": "cell", "index": 4, "status": "skipped",
         "detail": "skipped: it hung past its limit in an earlier run"},
    ]
    checks = [e for e in events[6:] if e["event"] == "check"]
    assert [e["check"] for e in checks] == [c.name for c in get_exercise("basics").checks]  # hidden ones too
    assert all(e["status"] == "missing" for e in checks)  # nothing was defined
    assert events[-1] == {"event": "done"}
