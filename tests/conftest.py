"""Test configuration: async tests run with a bound; a fresh server, or a fresh Valkey, per test."""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


ALONE_WAIT = 600.0
"""Seconds a test marked ``alone`` may wait for the tests running on other workers to finish."""


def _lock_folder(config: pytest.Config) -> Path:
    """A folder every pytest-xdist worker of this run shares (this run's base temporary folder)."""
    base = config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _flock(path: Path, mode: int, wait: float, why: str) -> Any:
    """``path`` opened and locked with ``mode`` (fcntl.LOCK_SH or LOCK_EX), waiting at most ``wait`` seconds."""
    import fcntl
    import time

    handle = open(path, "a")  # noqa: SIM115 (returned open: the lock lives as long as the file)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(handle, mode | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            if time.monotonic() > deadline:
                handle.close()
                pytest.fail(f"waited over {wait:g} s for {why}")
            time.sleep(0.2)  # flock gives no bounded blocking wait: poll it


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[object]:
    """Under pytest-xdist, a test marked ``alone`` runs while no test runs on another worker.

    Every other test (notebook cells too) holds a shared lock while it runs; one marked ``alone`` (the
    README's course command, which reinstalls wslab into the .venv every test runs from) takes a gate
    first, so no other test starts, then waits for those running to end.
    """
    import fcntl

    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return (yield)
    folder = _lock_folder(item.config)
    alone = item.get_closest_marker("alone") is not None
    gate = _flock(folder / "wslab-gate.lock", fcntl.LOCK_EX, ALONE_WAIT, "a test that runs alone")
    try:
        mode = fcntl.LOCK_EX if alone else fcntl.LOCK_SH
        held = _flock(folder / "wslab-tests.lock", mode, ALONE_WAIT, "the other workers' tests")
    finally:
        if not alone:
            gate.close()
    try:
        return (yield)
    finally:
        held.close()
        if alone:
            gate.close()


GRADING_LOCK_WAIT = 900.0
"""Seconds a test module may wait for another worker's grading to finish (the test command's whole budget)."""


@pytest.fixture(scope="module")
def grading_alone(request: pytest.FixtureRequest) -> Iterator[None]:
    """While a module using this runs, no other module using it runs on another pytest-xdist worker.

    For the modules that grade in processes of their own (the grader, the checker, the learner's
    worker, the hostile suite): two batches at once on two cores would turn honest checks into
    timeouts, and the hostile suite counts this checkout's grading processes as its own leftovers.
    """
    import fcntl

    lock = _flock(_lock_folder(request.config) / "wslab-grading.lock", fcntl.LOCK_EX, GRADING_LOCK_WAIT,
                  "another worker's grading")
    try:
        yield
    finally:
        lock.close()


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
