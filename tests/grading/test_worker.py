"""The learner's process: it runs the cells it is sent, each bounded, and answers questions about what they defined.

``run_cell`` is tested in this process (with the worker's SIGALRM handler, on the main
thread, on a running loop, as in the worker); ``main()`` as the real subprocess the
checker starts, driven over the channel from here.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from support import ROOT
from wslab.grading import worker
from wslab.grading.rpc import ChannelError, Endpoint, Proxy
from wslab.grading.worker import run_cell, serve_recorded, transform

# Grades in processes of its own: one such module at a time (the wait for it is not the tests' time). The
# time limit is kept by a thread: these tests run cells here, under the worker's own SIGALRM handler.
pytestmark = [pytest.mark.usefixtures("grading_alone"), pytest.mark.timeout(120, method="thread", func_only=True)]


@pytest.fixture
def cells() -> Iterator[tuple[dict[str, Any], Any]]:
    """A namespace and a way to run a cell on a running loop, with the worker's SIGALRM handler installed.

    The handler stands in for pytest-timeout's own alarm meanwhile (restored after):
    every run_cell below is bounded by its own limit.
    """
    previous = signal.signal(signal.SIGALRM, worker._alarm)
    loop = asyncio.new_event_loop()
    ns: dict[str, Any] = {"__name__": "__main__"}

    def run(index: int, source: str, limit: float = 5.0) -> tuple[str, str]:
        return loop.run_until_complete(run_cell(index, source, ns, limit))

    try:
        yield ns, run
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
    ns, run = cells
    assert run(1, "import asyncio\nx = 2") == ("ok", "")
    assert run(2, "await asyncio.sleep(0)\ny = x * 21") == ("ok", "")
    assert ns["y"] == 42
    assert run(3, "%time z = 1\nz = 2") == ("ok", "magics and shell commands were not run")
    assert run(4, "%%bash\nrm -rf /") == ("skipped", "cell magic %%bash is not run in grading")


def test_an_error_is_reported_with_its_cell_and_line_and_the_next_cell_still_runs(cells: Any) -> None:
    ns, run = cells
    assert run(7, "a = 1\nundefined_name") == (
        "error", "NameError: name 'undefined_name' is not defined (cell 7, line 2)"
    )
    assert run(8, "def f(:\n    pass")[1].startswith("SyntaxError: ")
    assert run(9, "raise SystemExit(3)") == ("error", "SystemExit: 3 (cell 9, line 1)")
    assert run(10, "b = a + 1") == ("ok", "") and ns["b"] == 2


@pytest.mark.parametrize(
    "source",
    ["while True:\n    pass", "import time\ntime.sleep(60)", "import asyncio\nawait asyncio.Event().wait()"],
    ids=["loop", "sleep", "await"],
)
def test_a_cell_that_never_ends_is_stopped_at_its_limit(cells: Any, source: str) -> None:
    _, run = cells
    started = time.monotonic()
    status, detail = run(1, source, 0.3)
    assert status == "timeout" and detail.startswith("stopped after 0.3 s (the time limit per cell)")
    assert time.monotonic() - started < 0.3 + 2.5  # an await gets one more second to unwind
    assert run(2, "ok = True") == ("ok", "")  # the worker goes on


def test_a_cell_whose_own_except_catches_everything_is_still_stopped(cells: Any) -> None:
    _, run = cells
    status, _ = run(1, "while True:\n    try:\n        pass\n    except Exception:\n        pass", 0.3)
    assert status == "timeout"  # CellTimeout is a BaseException: `except Exception` does not swallow it


@pytest.fixture
def learner() -> Iterator[Endpoint]:
    """The real learner's process (no sandbox: the same code), and the checker's end of its channel."""
    process = subprocess.Popen(
        [sys.executable, "-m", "wslab.grading.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert process.stdin is not None and process.stdout is not None
    endpoint = Endpoint(process.stdout, process.stdin, side="trusted")
    try:
        yield endpoint
    finally:
        process.kill()
        process.wait(10)
        endpoint.close()


def _ask(endpoint: Endpoint, op: str, **fields: Any) -> Any:
    return endpoint.send_and_wait({"op": op, "fields": endpoint.encode(fields)}, timeout=30)


def test_main_runs_the_cells_it_is_sent_and_its_output_goes_nowhere(learner: Endpoint) -> None:
    assert _ask(learner, "run_cell", index=2, source="print('noise from the learner')\nx = 1", limit=5.0) == ["ok", ""]
    assert _ask(learner, "run_cell", index=3, source="1 / 0", limit=5.0) == [
        "error", "ZeroDivisionError: division by zero (cell 3, line 1)"
    ]
    assert _ask(learner, "lookup", name="x") == [True, 1]
    assert _ask(learner, "lookup", name="nope") == [False, None]
    _ask(learner, "run_cell", index=4, source="def double(n):\n    return 2 * n\nclass Box:\n    pass", limit=5.0)
    found, double = _ask(learner, "lookup", name="double")
    assert found and isinstance(double, Proxy) and double.kind == "function" and double(21) == 42
    assert _ask(learner, "lookup", name="Box")[1].kind == "class"
    assert _ask(learner, "ping") == "pong"


def test_main_serves_a_learners_handler_for_a_check_and_keeps_what_it_raised(learner: Endpoint) -> None:
    source = (
        "async def shout(ws):\n"
        "    async for message in ws:\n"
        "        if message == 'boom':\n"
        "            raise ValueError('boom')\n"
        "        await ws.send(message.upper())\n"
    )
    _ask(learner, "run_cell", index=2, source=source, limit=5.0)
    _, shout = _ask(learner, "lookup", name="shout")

    async def talk() -> tuple[str, list[Any]]:
        from websockets.asyncio.client import connect

        learner.bind_loop(asyncio.get_running_loop())
        url, token = await learner.arequest("serve", handler=shout, process_request=None)
        async with connect(url, open_timeout=5) as ws:
            await ws.send("hello")
            reply = await asyncio.wait_for(ws.recv(), 5)
            await ws.send("boom")
            with pytest.raises(Exception):  # noqa: B017 - the handler failed: the connection ends (1011)
                await asyncio.wait_for(ws.recv(), 5)
        errors, finished = await learner.arequest("served", token=token)
        await learner.arequest("stop_serving", token=token)
        return str(reply), [errors, finished]

    reply, (errors, finished) = asyncio.run(talk())
    assert reply == "HELLO"
    assert finished == 1 and len(errors) == 1 and isinstance(errors[0], ValueError) and str(errors[0]) == "boom"


def test_a_learner_process_that_dies_closes_the_channel(learner: Endpoint) -> None:
    with pytest.raises(ChannelError):
        _ask(learner, "run_cell", index=2, source="import os\nos._exit(0)", limit=5.0)
    assert learner.closed


async def test_serve_recorded_counts_the_handler_runs_and_keeps_what_the_learners_code_raised() -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    class Record:
        errors: list[BaseException]
        finished = 0

    async def handler(ws: Any) -> None:
        await ws.send("hi")
        raise ValueError("the learner's bug")

    def process_request(connection: Any, request: Any) -> Any:
        if request.path == "/refused":
            raise PermissionError("the learner's guard raised")
        return None

    served = Record()
    served.errors = []
    server = await serve_recorded(served, handler, process_request)
    url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        async with connect(url + "/", open_timeout=2) as ws:
            assert await asyncio.wait_for(ws.recv(), 2) == "hi"
            await asyncio.wait_for(ws.wait_closed(), 2)
        with pytest.raises(InvalidStatus, match="500"):  # the guard raised: websockets answers 500
            await asyncio.wait_for(connect(url + "/refused", open_timeout=2).__aenter__(), 3)
        async with connect(url + "/", open_timeout=2) as ws:  # the server goes on
            assert await asyncio.wait_for(ws.recv(), 2) == "hi"
            await asyncio.wait_for(ws.wait_closed(), 2)
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), 2)  # waits for every handler run to end
    assert served.finished == 2
    assert [type(e).__name__ for e in served.errors].count("ValueError") == 2
    assert any(isinstance(e, PermissionError) for e in served.errors)
