"""LoopThread: a daemon thread with its own event loop, every cross-thread wait bounded, stop safe anywhere."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from support import ROOT, WAIT
from wslab.kernel.loop_thread import LoopThread


async def _ready() -> str:
    return "ready"


@pytest.fixture
def host() -> Iterator[LoopThread]:
    thread = LoopThread("the test server", "wslab-test-loop")
    try:
        yield thread
    finally:
        thread.stop(None, WAIT)


def test_start_returns_what_setup_returned_and_the_loop_runs_in_a_daemon_thread(host: LoopThread) -> None:
    assert not host.running and not host.stopped
    assert host.start(_ready, timeout=WAIT) == "ready"
    assert host.running and host.thread is not None
    assert host.thread.daemon and host.thread.name == "wslab-test-loop"

    async def where() -> tuple[str, bool]:
        return threading.current_thread().name, asyncio.get_running_loop() is host.loop

    assert host.call(where(), timeout=WAIT) == ("wslab-test-loop", True)


def test_a_failing_setup_is_raised_in_the_callers_thread_and_the_loop_ends() -> None:
    async def broken() -> None:
        raise OSError(98, "address in use")

    host = LoopThread("the test server", "wslab-test-loop")
    with pytest.raises(OSError, match="address in use"):
        host.start(broken, timeout=WAIT)
    assert host.thread is not None
    host.thread.join(WAIT)
    assert host.stopped and not host.running and not host.thread.is_alive()
    assert host.loop is not None and host.loop.is_closed()


def test_a_setup_that_does_not_finish_in_time_is_a_timeout_error() -> None:
    release = threading.Event()

    async def slow() -> None:
        await asyncio.to_thread(release.wait, WAIT)

    host = LoopThread("the slow server", "wslab-test-loop")
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="the slow server did not start within 0.2 s"):
        host.start(slow, timeout=0.2)
    assert time.monotonic() - started < WAIT
    release.set()
    host.stop(None, WAIT)


def test_a_call_past_its_timeout_is_a_timeout_error_and_the_coroutine_is_cancelled(host: LoopThread) -> None:
    host.start(_ready, timeout=WAIT)
    cancelled = threading.Event()

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(TimeoutError, match="the test server did not answer within 0.1 s"):
        host.call(forever(), timeout=0.1)
    assert cancelled.wait(WAIT)
    assert host.call(_ready(), timeout=WAIT) == "ready"  # the loop serves on


def test_a_call_raises_what_the_coroutine_raised(host: LoopThread) -> None:
    host.start(_ready, timeout=WAIT)

    async def wrong() -> None:
        raise KeyError("room")

    with pytest.raises(KeyError, match="room"):
        host.call(wrong(), timeout=WAIT)


def test_calls_to_a_loop_that_does_not_run_say_so_and_leave_no_coroutine_behind() -> None:
    host = LoopThread("the test server", "wslab-test-loop", not_running="start the server first")
    coro = _ready()
    with pytest.raises(RuntimeError, match="start the server first"):
        host.call(coro, timeout=WAIT)
    assert coro.cr_frame is None  # closed: no "never awaited" warning later
    host.start(_ready, timeout=WAIT)
    host.stop(None, WAIT)
    with pytest.raises(RuntimeError, match="start the server first"):
        host.submit(_ready())


def test_stop_runs_the_shutdown_then_ends_the_loop_and_is_safe_twice(host: LoopThread) -> None:
    host.start(_ready, timeout=WAIT)
    ran = threading.Event()

    async def shutdown() -> None:
        ran.set()

    host.stop(shutdown(), WAIT)
    assert ran.is_set() and host.stopped and not host.running
    assert host.thread is not None and not host.thread.is_alive()
    again = shutdown()
    host.stop(again, WAIT)  # twice: nothing to do, and the shutdown is closed, not left unawaited
    assert again.cr_frame is None
    LoopThread("never started", "wslab-test-loop").stop(None, WAIT)  # never started: nothing to do


def test_a_shutdown_that_hangs_does_not_stop_the_stop(host: LoopThread) -> None:
    host.start(_ready, timeout=WAIT)

    async def hangs() -> None:
        await asyncio.Event().wait()

    started = time.monotonic()
    host.stop(hangs(), timeout=0.3)
    assert time.monotonic() - started < 0.3 + WAIT / 2
    assert host.thread is not None
    host.thread.join(WAIT)
    assert host.stopped


def test_stop_from_the_loops_own_thread_ends_the_loop_without_joining_itself(host: LoopThread) -> None:
    host.start(_ready, timeout=WAIT)

    async def stop_from_inside() -> None:
        host.stop(None, WAIT)  # a handler that stops its own server

    assert host.loop is not None
    asyncio.run_coroutine_threadsafe(stop_from_inside(), host.loop)
    assert host.thread is not None
    host.thread.join(WAIT)
    assert not host.thread.is_alive() and host.stopped


def test_tasks_left_on_the_loop_are_cancelled_when_it_ends(host: LoopThread) -> None:
    host.start(_ready, timeout=WAIT)
    running, cancelled = threading.Event(), threading.Event()

    async def background() -> None:
        running.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    host.submit(background())
    assert running.wait(WAIT)
    host.stop(None, WAIT)
    assert cancelled.is_set()


def test_a_running_loop_thread_never_delays_the_interpreters_exit() -> None:
    code = (
        "import asyncio, time\n"
        "from wslab.kernel.loop_thread import LoopThread\n"
        "async def setup():\n"
        "    asyncio.get_running_loop().call_later(3600, print, 'never')\n"
        "host = LoopThread('a server', 'wslab-loop')\n"
        "host.start(setup, timeout=5)\n"
        "print('started', flush=True)\n"
    )
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0 and done.stdout == "started\n", done.stderr
    assert time.monotonic() - started < 20
