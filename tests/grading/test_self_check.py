"""``check("...")`` in a notebook: public checks only, a stable table, and never a hang."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from support.notebooks import Markdown, definitions, notebook, write_notebook
from wslab.grading.registry import exercises, get_exercise
from wslab.grading.self_check import GRADING_ENV, CheckReport, check


@pytest.mark.parametrize(
    "name", ["basics", "readystate", "reconnect", "chat", "updates", "server", "production", "scaling"]
)
def test_the_solution_passes_every_public_check(name: str) -> None:
    ex = get_exercise(name)
    report = check(name, namespace=definitions("solutions", ex.notebook))
    assert report.all_passed, repr(report)
    assert [r.check for r in report.results] == ex.public_checks()
    assert report.points == report.max_points == sum(c.points for c in ex.public_checks())


@pytest.mark.parametrize(
    "name", ["basics", "readystate", "reconnect", "chat", "updates", "server", "production", "scaling"]
)
def test_the_released_exercise_fails_every_public_check_and_says_what_to_write(name: str) -> None:
    ex = get_exercise(name)
    report = check(name, namespace=definitions("exercises", ex.notebook))
    assert report.passed == 0 and report.points == 0
    assert {r.status for r in report.results} == {"todo"}, repr(report)
    text = repr(report)
    for c in ex.public_checks():
        assert c.hint in text


def test_the_table_is_stable_text_and_says_what_is_public() -> None:
    ns = definitions("solutions", "02-readystate")
    first, second = repr(check("readystate", namespace=ns)), repr(check("readystate", namespace=ns))
    assert first == second
    assert first.splitlines() == [
        "check('readystate'): 4 of 4 public checks pass, 6/6 points",
        "  PASS     1/1  state_name names the four states",
        "  PASS     2/2  next_state follows the readyState rules",
        "  PASS     1/1  Outbox sends at once while open",
        "  PASS     2/2  Outbox keeps what is sent before open, then flushes it in order",
        "These are the public checks. 2 more checks (3 points) run only at grading, "
        "so passing here does not promise full marks.",
    ]


def test_a_failure_shows_why_and_a_hint_without_the_answer() -> None:
    ns = definitions("solutions", "04-chat")
    ns["render_message"] = lambda msg: f"<b>{msg['sender']}</b>: {msg['content']}"
    report = check("chat", namespace=ns)
    by_name = {r.check.name: r for r in report.results}
    assert by_name["render_shows_time"].status == "fail"
    assert "expected 09:52" in by_name["render_shows_time"].message
    assert "got '<b>Ada</b>: Hello, Bob!'" in by_name["render_shows_time"].message
    assert by_name["render_escapes_html"].status == "fail"
    assert by_name["typing_one_and_two"].passed
    text = repr(report)
    assert "hint: The server sends an ISO-8601 UTC timestamp" in text
    assert "html.escape(" not in text  # a hint points the way; it does not hand over the code
    assert "<table>" in report._repr_html_() and "FAIL" in report._repr_html_()


def test_the_html_table_escapes_what_the_learners_code_says() -> None:
    def state_name(state: int) -> str:
        raise RuntimeError("<script>alert(1)</script>")

    html = check("readystate", namespace={"state_name": state_name})._repr_html_()
    assert "<script>" not in html
    assert "RuntimeError: &lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_missing_definitions_are_named() -> None:
    report = check("readystate", namespace={})
    assert {r.status for r in report.results} == {"missing"}
    assert "`state_name` is not defined" in repr(report)
    ns = {"Outbox": lambda send: None, "state_name": 3}
    report = check("readystate", namespace=ns)
    assert "`Outbox` should be a class" in repr(report)
    assert "`state_name` should be a function" in repr(report)


def test_an_await_that_never_returns_costs_its_checks_only() -> None:
    ns = definitions("solutions", "04-chat")

    async def join_room(url: str, name: str, timeout: float = 2.0) -> Any:
        await asyncio.Event().wait()  # waits forever, ignoring timeout

    ns["join_room"] = join_room
    started = time.monotonic()
    report = check("chat", namespace=ns)
    assert time.monotonic() - started < 20
    by_name = {r.check.name: r for r in report.results}
    assert by_name["join_gets_welcome"].status == "fail"
    assert "still waiting after 4 s" in by_name["join_gets_welcome"].message
    assert by_name["join_times_out"].status == "fail"
    # The reconnecting client joins with the learner's join_room, so it never joins either.
    assert by_name["client_rejoins_after_outage"].status == "fail"
    assert sum(not r.passed for r in report.results) == 3
    assert not any(r.runaway for r in report.results)  # a cancelled await leaves nothing behind


def test_blocking_code_times_out_and_the_table_says_a_thread_was_left_running() -> None:
    release = threading.Event()
    ns = definitions("solutions", "04-chat")

    def typing_line(names: Any, me: Any = None) -> str:
        release.wait(60)  # stands for time.sleep(1000) or while True
        return ""

    ns["typing_line"] = typing_line
    try:
        started = time.monotonic()
        report = check("chat", namespace=ns, timeout=0.5)
        # 14 public checks, two of which block: each costs its 0.5 s limit plus the join grace.
        assert time.monotonic() - started < 10
    finally:
        release.set()
    by_name = {r.check.name: r for r in report.results}
    for name in ("typing_one_and_two", "typing_several", "view_typing"):
        assert by_name[name].status == "timeout" and by_name[name].runaway
    assert "left your code running in a background thread" in repr(report)
    assert by_name["render_shows_time"].passed


def test_an_exception_in_the_learners_code_is_reported_not_raised() -> None:
    ns = definitions("solutions", "05-live-updates")

    def dispatch(emitter: Any, frame: str) -> None:
        raise KeyError("type")

    ns["dispatch"] = dispatch
    report = check("updates", namespace=ns)
    result = {r.check.name: r for r in report.results}["dispatch_typed"]
    assert result.status == "error"
    assert result.message == "KeyError: 'type' (in dispatch)"


async def test_check_works_from_inside_a_running_event_loop() -> None:
    # A notebook cell runs on the kernel's loop; check() must not need it or block it for good.
    ns = definitions("solutions", "01-basics")
    report = check("basics", namespace=ns)
    assert report.all_passed, repr(report)
    await asyncio.sleep(0)


def test_check_uses_the_notebook_namespace_by_default() -> None:
    ns = definitions("solutions", "02-readystate")
    globals().update({k: v for k, v in ns.items() if k in ("state_name", "next_state", "Outbox")})
    try:
        assert check("readystate").all_passed
    finally:
        for k in ("state_name", "next_state", "Outbox"):
            globals().pop(k, None)


def test_check_does_nothing_while_grading(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(GRADING_ENV, "1")
    report = check("chat", namespace={})
    assert isinstance(report, CheckReport) and report.skipped and not report.results
    assert "skipped while grading" in repr(report)


def test_an_unknown_exercise_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="no exercise called 'caht'; the exercises are 'basics'"):
        check("caht")


def test_every_exercise_has_public_and_hidden_checks_with_hints() -> None:
    for ex in exercises():
        assert ex.public_checks() and len(ex.public_checks()) < len(ex.checks)
        for c in ex.checks:
            assert c.points > 0 and c.hint.strip() and c.title.strip()


@pytest.mark.slow
def test_in_a_real_kernel_check_survives_code_that_awaits_forever_and_loops_forever() -> None:
    """The promise made to learners, in an actual ipykernel: the cell ends, the kernel answers."""
    nbclient = pytest.importorskip("nbclient")
    nb = notebook(
        "import asyncio\n"
        "async def join_room(url, name, timeout=2.0):\n"
        "    await asyncio.Event().wait()\n"
        "def typing_line(names, me=None):\n"
        "    while True:\n"
        "        pass\n",
        "from wslab.grading.self_check import check\nreport = check('chat', timeout=1)\nprint(report)",
        "print('still here', 6 * 7)",
    )
    client = nbclient.NotebookClient(nb, timeout=60, kernel_name="python3")
    client.execute()
    table = nb.cells[1].outputs[0]["text"]
    assert "check('chat'): 0 of 14 public checks pass" in table
    assert "TIMEOUT" in table and "MISSING" in table
    assert "left your code running in a background thread" in table
    assert "an await that never returns" in table
    assert nb.cells[2].outputs[0]["text"] == "still here 42\n"


def test_a_join_room_written_with_the_course_browser_style_client_passes() -> None:
    """Learners may use wslab's WebSocket (lesson 1) instead of the websockets library."""
    client = pytest.importorskip("wslab.client.websocket")

    async def join_room(url: str, name: str, timeout: float = 2.0) -> Any:
        ws = client.WebSocket(url)
        try:
            await ws.wait_for("open", timeout)
            ws.send(json.dumps({"type": "join", "name": name}))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while True:
                frame = json.loads(await ws.next_message(max(0.0, deadline - loop.time())))
                if frame.get("type") == "welcome":
                    return ws, frame
        except BaseException:
            ws.close()
            raise

    ns = definitions("solutions", "04-chat")
    ns["join_room"] = join_room
    report = check("chat", namespace=ns)
    assert report.all_passed, repr(report)


# ----------------------------------------------------------------- cells that raised


class _Info:
    def __init__(self, source: str, cell_id: str | None) -> None:
        self.raw_cell, self.cell_id = source, cell_id


class _Result:
    def __init__(self, source: str, cell_id: str | None, count: int, error: BaseException | None = None) -> None:
        self.info, self.execution_count = _Info(source, cell_id), count
        self.error_in_exec, self.error_before_exec = error, None


def test_cell_errors_keep_the_latest_run_of_each_cell_and_number_it_as_jupyterlab_does(tmp_path: Path) -> None:
    from wslab.grading.self_check import CellErrors

    path = tmp_path / "nb.ipynb"
    nb = write_notebook(path, Markdown("# t"), "x = 1", Markdown("more"), "demo()")
    errors = CellErrors(notebook=path)
    errors.record(_Result("x = 1", nb.cells[1].id, 1))
    errors.record(_Result("demo()", nb.cells[3].id, 2, NameError("name 'demo' is not defined")))
    [only] = errors.errors()
    assert only.position == (4, 4) and only.execution_count == 2
    assert only.label() == "cell 4 of 4 (shown as [2]), `demo()`: NameError: name 'demo' is not defined"
    errors.record(_Result("demo()", nb.cells[3].id, 3))  # fixed and run again
    assert errors.errors() == []
    errors.record(_Result("1/0", None, 4, ZeroDivisionError("division by zero")))  # a cell of no known notebook
    assert errors.errors()[0].label() == "a cell (shown as [4]), `1/0`: ZeroDivisionError: division by zero"


@pytest.mark.timeout(120)
def test_check_in_a_notebook_reports_a_cell_that_raised(tmp_path: Path) -> None:
    """A notebook whose checks cannot all pass anyway still gets told which demo cell broke, and where."""
    from nbclient import NotebookClient

    path = tmp_path / "exercise.ipynb"
    nb = write_notebook(
        path, Markdown("# exercise"), "from wslab import check", Markdown("a demo"), "await ws.send('hi')",
        "report = check('basics')\nprint(repr(report))",
    )
    client = NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute(env={"JPY_SESSION_NAME": str(path), "PATH": __import__("os").environ.get("PATH", "")})
    text = "".join(o.get("text", "") for o in nb.cells[4].outputs)
    assert "1 cell of this notebook raised when last run" in text, text
    assert "cell 4 of 5 (shown as [2]), `await ws.send('hi')`: NameError: name 'ws' is not defined" in text, text
