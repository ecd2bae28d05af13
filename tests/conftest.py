"""Test configuration: async tests run with a bound; a fresh server, or a fresh Valkey, per test."""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from wslab.cluster.engine import EmbeddedValkey, EngineUnavailable
from wslab.grading.sandbox import unavailable
from wslab.kernel.course_server import ServerHandle
from wslab.server.config import ServerConfig

ASYNC_TEST_TIMEOUT = 60.0
"""No async test may take longer than this, whatever it awaits."""


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` tests in a fresh event loop, bounded by ASYNC_TEST_TIMEOUT."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    kwargs = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    asyncio.run(asyncio.wait_for(pyfuncitem.obj(**kwargs), ASYNC_TEST_TIMEOUT))
    return True


@pytest.fixture(scope="session")
def sandbox() -> None:
    """The grader's sandbox can be made here; else skip, saying what to install (in CI: fail)."""
    reason = unavailable()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"grading tests cannot run in CI: {reason}")
        pytest.skip(reason)


GRADING_LOCK_WAIT = 900.0
"""Seconds a test module may wait for another worker's grading to finish (the test command's whole budget)."""


@pytest.fixture(scope="module")
def grading_alone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """While a module using this runs, no other module using it runs on another pytest-xdist worker.

    For the modules that grade in processes of their own (the grader, the checker, the learner's
    worker, the hostile suite): two batches at once on two cores would turn honest checks into
    timeouts, and the hostile suite counts this checkout's grading processes as its own leftovers.
    An ``flock`` on a file in the run's shared temporary folder; waiting is bounded by GRADING_LOCK_WAIT.
    """
    import fcntl
    import time

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # each worker's basetemp is a folder of the run's
    with open(root / "wslab-grading.lock", "w") as lock:
        deadline = time.monotonic() + GRADING_LOCK_WAIT
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.fail(f"another worker's grading held the lock for over {GRADING_LOCK_WAIT:g} s")
                time.sleep(0.5)  # flock gives no bounded blocking wait: poll it
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def make_server(**options: object) -> ServerHandle:
    """A server in its own thread, outside the start_server registry, with test-friendly options."""
    options.setdefault("update_interval", None)
    handle = ServerHandle(ServerConfig(**options))  # type: ignore[arg-type]
    handle._start()
    return handle


@pytest.fixture
def server() -> Iterator[ServerHandle]:
    handle = make_server(typing_timeout=0.3)
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def server_factory() -> Iterator[object]:
    started: list[ServerHandle] = []

    def factory(**options: object) -> ServerHandle:
        handle = make_server(**options)
        started.append(handle)
        return handle

    yield factory
    for handle in started:
        handle.stop()


@pytest.fixture
def valkey(tmp_path: Path) -> Iterator[EmbeddedValkey]:
    """A real Valkey on loopback, its files in the test's folder, stopped after (skipped where none can run)."""
    try:
        engine = EmbeddedValkey(tmp_path / "engine").start()
    except EngineUnavailable as exc:
        pytest.skip(str(exc))
    try:
        yield engine
    finally:
        engine.stop()


# The corpus of wrong submissions is graded by tests, never run as notebooks by nbval.
collect_ignore_glob = ["data/*", "data/**/*"]
