"""One daemon thread with an event loop of its own: where every in-kernel server runs.

Why a thread: a server on the kernel's own loop freezes whenever a cell blocks
(``time.sleep``, a long computation, a synchronous call). In its own thread it
keeps serving, and the kernel's loop stays free for the learner's clients. The
course's server (:mod:`wslab.kernel.course_server`) and the learner's own
(:mod:`wslab.kernel.learner_server`) both run in a :class:`LoopThread`.

Contracts:

* every wait that crosses threads is bounded: :meth:`LoopThread.start`,
  :meth:`LoopThread.call` and :meth:`LoopThread.stop` each raise or give up
  after their ``timeout``, they never hang a cell;
* the thread is a daemon: it never delays the interpreter's exit;
* a failure of the start-up step is raised in the thread that called
  :meth:`LoopThread.start`, not printed by the background thread;
* :meth:`LoopThread.stop` is safe to call twice, from any thread, on a loop that
  is already closed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["LoopThread", "end_loop_thread", "DRAIN_ROUNDS", "DRAIN_WAIT"]

T = TypeVar("T")

DRAIN_ROUNDS = 3
"""When the loop ends, how many times its leftover tasks are cancelled and awaited (a cancelled
handler may still have a close handshake to finish)."""

DRAIN_WAIT = 0.1
"""Seconds each of those rounds waits at most."""


def end_loop_thread(loop: asyncio.AbstractEventLoop, thread: threading.Thread | None, deadline: float) -> None:
    """Stop ``loop`` from any thread, then join ``thread`` until ``deadline`` (monotonic), unless it is this one.

    The last step of :meth:`LoopThread.stop`: bounded, and safe on a loop that is already closed.
    """
    try:
        loop.call_soon_threadsafe(loop.stop)
    except RuntimeError:
        pass  # already closed
    if thread is not None and thread is not threading.current_thread():
        thread.join(max(0.0, deadline - time.monotonic()))


class LoopThread:
    """A daemon thread running its own event loop, started by one async step.

    ``what`` names the server in error messages ("the wslab server"), ``name``
    the thread; ``not_running`` is what :meth:`call` says when the loop does not run.
    """

    def __init__(self, what: str, name: str, *, not_running: str | None = None) -> None:
        self.what = what
        self.name = name
        self.not_running = not_running or f"{what} is not running"
        """The :class:`RuntimeError` message of a :meth:`call` to a loop that does not run."""
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopped = threading.Event()
        self._failure: BaseException | None = None

    @property
    def running(self) -> bool:
        """True from the end of a successful start-up until the loop has ended."""
        return self._ready.is_set() and self._failure is None and not self._stopped.is_set()

    @property
    def stopped(self) -> bool:
        """True once the loop has ended (after a failed start-up too)."""
        return self._stopped.is_set()

    def start(self, setup: Callable[[], Coroutine[Any, Any, T]], timeout: float) -> T:
        """Start the thread, run ``setup()`` on its loop, then keep the loop running; return what it returned.

        Raises what ``setup`` raised, or :class:`TimeoutError` if it did not
        finish within ``timeout`` seconds.
        """
        result: list[T] = []
        self.thread = threading.Thread(target=self._run, args=(setup, result), name=self.name, daemon=True)
        self.thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"{self.what} did not start within {timeout:g} s")
        if self._failure is not None:
            raise self._failure
        return result[0]

    def _run(self, setup: Callable[[], Coroutine[Any, Any, T]], result: list[T]) -> None:
        loop = asyncio.new_event_loop()
        self.loop = loop
        try:
            try:
                result.append(loop.run_until_complete(setup()))
            except BaseException as exc:  # reported to the caller's thread
                self._failure = exc
                return
            finally:
                self._ready.set()
            loop.run_forever()
        finally:
            try:
                for _ in range(DRAIN_ROUNDS):
                    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                    if not pending:
                        break
                    for task in pending:
                        task.cancel()
                    loop.run_until_complete(asyncio.wait(pending, timeout=DRAIN_WAIT))
            finally:
                loop.close()
                self._stopped.set()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the loop and return its future at once (wait on it with a timeout).

        Raises :class:`RuntimeError` (:attr:`not_running`) when the loop does not run.
        """
        loop = self.loop
        if loop is None or loop.is_closed() or not self.running:
            coro.close()
            raise RuntimeError(self.not_running)
        return asyncio.run_coroutine_threadsafe(coro, loop)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coro`` on the loop and wait for its result, at most ``timeout`` seconds.

        Raises :class:`RuntimeError` (:attr:`not_running`) when the loop does not
        run, :class:`TimeoutError` when ``coro`` takes longer (it is cancelled),
        and whatever ``coro`` raised.
        """
        future = self.submit(coro)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"{self.what} did not answer within {timeout:g} s") from None

    def stop(self, shutdown: Coroutine[Any, Any, Any] | None, timeout: float) -> None:
        """Run ``shutdown`` on the loop, then end the loop and join the thread, all within ``timeout`` s.

        A ``shutdown`` that fails or runs out of time does not stop the rest. A
        call from the loop's own thread ends the loop without joining it.
        """
        loop = self.loop
        if loop is None or self._stopped.is_set() or loop.is_closed():
            if shutdown is not None:
                shutdown.close()
            return
        deadline = time.monotonic() + timeout
        try:
            if shutdown is not None:
                self.call(shutdown, timeout)
        except (TimeoutError, RuntimeError):
            pass
        finally:
            end_loop_thread(loop, self.thread, deadline)
