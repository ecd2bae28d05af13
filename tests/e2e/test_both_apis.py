"""Every exercise's checks accept both APIs the course teaches (lesson 1, Step 8).

The solutions use websockets' asyncio API (``await connect(...)``, ``await
ws.send``, ``await ws.recv()``). Here each network answer is written again
with the browser-style ``wslab.WebSocket`` (``wait_for("open")``, ``send``
without await, ``next_message``, ``close`` without await), put in place of the
solution's, and *every* check of the exercise, public and graded, must still
pass. Exercises 02 and 03 have no answer that opens a connection (an outbox
over any ``send``; a retry loop over an injected ``connect``), so their checks
cannot depend on the API; they run here too, for completeness.

Then exercises 01, 04 and 05 run top to bottom, twice, with the browser-style
answer in place of the solution's: their demo cells and ``check()`` must work
with it (exercise 4's demo and chat window go through ``send_frame`` /
``recv_frame`` / ``close_ws``, which accept either kind of connection).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from support import ROOT
from support.notebooks import definitions
from wslab.client.websocket import WebSocket
from wslab.grading.registry import get_exercise
from wslab.grading.runner import run_check


async def echo_once(url: str, text: str, timeout: float = 2.0) -> Any:
    ws = WebSocket(url)
    try:
        async with asyncio.timeout(timeout):
            await ws.wait_for("open", timeout=timeout)
            ws.send(text)
            return await ws.next_message(timeout=timeout)
    finally:
        ws.close()


async def collect_updates(url: str, channel: str, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    ws = WebSocket(url)
    try:
        async with asyncio.timeout(timeout):
            await ws.wait_for("open", timeout=timeout)
            ws.send(json.dumps({"type": "subscribe", "channel": channel}))
            updates: list[dict[str, Any]] = []
            while len(updates) < count:
                frame = json.loads(await ws.next_message(timeout=timeout))
                if frame.get("type") == "error":
                    raise ConnectionError(f"the server refused: {frame.get('message')}")
                if frame.get("type") == "update" and frame.get("channel") == channel:
                    updates.append(frame)
            return updates
    finally:
        ws.close()


async def join_room(url: str, name: str, timeout: float = 2.0) -> tuple[WebSocket, dict[str, Any]]:
    ws = WebSocket(url)
    try:
        async with asyncio.timeout(timeout):
            await ws.wait_for("open", timeout=timeout)
            ws.send(json.dumps({"type": "join", "name": name}))
            while True:
                frame = json.loads(await ws.next_message(timeout=timeout))
                if frame.get("type") == "welcome":
                    return ws, frame
                if frame.get("type") == "error":
                    raise ConnectionError(f"the server refused to join: {frame.get('message')}")
    except BaseException:
        ws.close()
        raise


BROWSER_STYLE: dict[str, tuple[str, dict[str, Any]]] = {
    "basics": ("01-basics", {"echo_once": echo_once}),
    "readystate": ("02-readystate", {}),
    "reconnect": ("03-reconnect", {}),
    "chat": ("04-chat", {"join_room": join_room}),
    "updates": ("05-live-updates", {"collect_updates": collect_updates}),
}


@pytest.mark.parametrize("name", list(BROWSER_STYLE))
def test_every_check_passes_an_answer_written_with_wslab_websocket(name: str) -> None:
    notebook, answers = BROWSER_STYLE[name]
    namespace = definitions("solutions", notebook)
    namespace.update(answers)
    failed = [(r.check.name, r.status, r.message) for r in
              (run_check(check, namespace) for check in get_exercise(name).checks) if not r.passed]
    assert failed == [], failed


def test_the_browser_style_answers_really_are_browser_style() -> None:
    import inspect

    for _notebook, answers in BROWSER_STYLE.values():
        for fn in answers.values():
            source = inspect.getsource(fn)
            assert "WebSocket(url)" in source and "await ws.send" not in source and ".recv(" not in source


NOTEBOOK_ANSWERS = {"01-basics": echo_once, "04-chat": join_room, "05-live-updates": collect_updates}


@pytest.mark.timeout(240)
@pytest.mark.parametrize("notebook", list(NOTEBOOK_ANSWERS))
def test_the_exercise_runs_top_to_bottom_twice_with_a_browser_style_answer(notebook: str, tmp_path: Any) -> None:
    """The demo cells and check() work with the learner's wslab.WebSocket answer, not only with websockets'."""
    import inspect

    import nbformat

    from wslab.grading.execute import NotebookFailed, execute_notebook

    fn = NOTEBOOK_ANSWERS[notebook]
    nb = nbformat.read(ROOT / "solutions" / f"{notebook}.ipynb", as_version=4)
    [cell] = [c for c in nb.cells if c.cell_type == "code" and f"async def {fn.__name__}(" in c.source]
    imports = "import asyncio\nimport json\nfrom typing import Any\n\nfrom wslab import WebSocket\n\n\n"
    cell.source = imports + inspect.getsource(fn)
    path = tmp_path / f"{notebook}.ipynb"
    nbformat.write(nb, path)
    try:
        executed = execute_notebook(path, timeout=60, twice=True)
    except NotebookFailed as exc:
        pytest.fail(str(exc), pytrace=False)
    [checked] = [c for c in executed.cells if c.cell_type == "code" and c.source.startswith("check(")]
    report = "".join(str(o.get("data", {}).get("text/plain", "")) for o in checked.outputs)
    assert "public checks pass" in report and "raised when last run" not in report, report
    assert "FAIL" not in report and "MISSING" not in report, report
