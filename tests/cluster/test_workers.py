"""WorkerPool: N supervised copies of a command, ready once they say so, restarted when they die, stopped in bounds.

The workers here are tiny Python scripts (no server), so the pool itself is what is tested.
"""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from support import ROOT, WAIT, ended, wait_until
from wslab.cluster.workers import READY_TEXT, WorkerPool, free_port

WORKER = f"""
import os, signal, sys
if "stubborn" in sys.argv:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if "fails" in sys.argv:
    sys.exit(3)
print("hello from", os.getpid(), os.environ.get("PYTHONUNBUFFERED"), os.environ.get("WHO"))
if "silent" not in sys.argv:
    print("worker {READY_TEXT} 8765")
sys.stdout.flush()
while True:
    signal.pause()
"""


def worker(*modes: str) -> list[str]:
    return [sys.executable, "-c", WORKER, *modes]


@pytest.fixture
def pools() -> Iterator[list[WorkerPool]]:
    made: list[WorkerPool] = []
    yield made
    for pool in made:
        pool.stop(1.0)


def test_workers_are_ready_once_they_print_the_ready_line_and_their_output_is_prefixed(
    pools: list[WorkerPool],
) -> None:
    out = io.StringIO()
    pool = WorkerPool(worker(), 2, out, env={**os.environ, "WHO": "w"})
    pools.append(pool)
    assert pool.wait_ready(WAIT, threading.Event()) is None
    lines = sorted(out.getvalue().splitlines())
    assert lines == [f"[worker {i}] hello from {pid} 1 w" for i, pid in enumerate(pool.pids, start=1)]
    assert READY_TEXT not in out.getvalue()  # the ready line is the pool's, not shown


def test_a_worker_that_ends_or_never_gets_ready_is_named_within_the_bound(pools: list[WorkerPool]) -> None:
    failing = WorkerPool(worker("fails"), 1, io.StringIO())
    pools.append(failing)
    assert failing.wait_ready(WAIT, threading.Event()) == 1
    silent = WorkerPool(worker("silent"), 2, io.StringIO())
    pools.append(silent)
    started = time.monotonic()
    assert silent.wait_ready(0.3, threading.Event()) == 1
    assert time.monotonic() - started < 0.3 + 1.0
    stop = threading.Event()
    stop.set()
    assert silent.wait_ready(WAIT, stop) == 1  # asked to stop: gives up at once


def test_a_worker_that_dies_is_started_again_and_says_so(pools: list[WorkerPool]) -> None:
    out = io.StringIO()
    pool = WorkerPool(worker(), 2, out)
    pools.append(pool)
    assert pool.wait_ready(WAIT, threading.Event()) is None
    first, second = pool.pids
    stop = threading.Event()
    supervisor = threading.Thread(target=pool.supervise, args=(stop, 0.05), daemon=True)
    supervisor.start()
    try:
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: pool.pids[0] != first, WAIT, "worker 1 to be started again")
        assert pool.wait_ready(WAIT, threading.Event()) is None
        assert pool.pids[1] == second  # the other one was left alone
    finally:
        stop.set()
        supervisor.join(WAIT)
    assert not supervisor.is_alive()
    assert "wslab serve: worker 1 ended with signal 9; starting it again" in out.getvalue().splitlines()


def test_stop_ends_every_worker_within_its_bound_killing_one_that_ignores_sigterm(pools: list[WorkerPool]) -> None:
    stubborn = WorkerPool(worker("stubborn"), 1, io.StringIO())
    polite = WorkerPool(worker(), 2, io.StringIO())
    pools += [stubborn, polite]
    for pool in (stubborn, polite):
        assert pool.wait_ready(WAIT, threading.Event()) is None
    started = time.monotonic()
    polite.stop(timeout=2.0)
    assert time.monotonic() - started < 2.0  # SIGTERM was enough: no waiting out the bound
    assert [w.process.returncode for w in polite.workers] == [-signal.SIGTERM] * 2
    started = time.monotonic()
    stubborn.stop(timeout=0.3)
    assert 0.3 <= time.monotonic() - started < 0.3 + 2.0
    assert stubborn.workers[0].process.returncode == -signal.SIGKILL


def test_workers_die_with_their_parent_even_a_sigkilled_one() -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("the parent-death signal is Linux's")
    code = (
        "import io, sys, threading\n"
        "from wslab.cluster.workers import WorkerPool\n"
        f"pool = WorkerPool({worker()!r}, 2, io.StringIO())\n"
        "assert pool.wait_ready(10, threading.Event()) is None\n"
        "print(*pool.pids, flush=True)\n"
        "sys.stdin.read()\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert parent.stdout is not None
        pids = [int(pid) for pid in parent.stdout.readline().split()]
    finally:
        parent.kill()
        parent.wait(WAIT)
    assert len(pids) == 2
    try:
        wait_until(lambda: all(ended(pid) for pid in pids), WAIT, "the workers to end with their parent")
    finally:
        for pid in pids:
            if not ended(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_pool_needs_a_worker_and_free_port_gives_a_port_that_binds() -> None:
    with pytest.raises(ValueError, match="at least one worker, got 0"):
        WorkerPool(worker(), 0, io.StringIO())
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
