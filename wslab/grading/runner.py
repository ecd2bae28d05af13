"""Run checks against a learner's definitions, each in a worker thread with a time limit.

The learner's definitions are either a namespace in this process (the in-notebook
:func:`wslab.grading.self_check.check`) or a learner's process on the other end of a
:class:`~wslab.grading.rpc.Endpoint` (grading: the check runs in the trusted checker,
:mod:`wslab.grading.checker`, and calls the learner's code in its sandbox through
proxies). A check is written once and runs either way: :class:`Context` hides which.
The contract:

* :func:`run_check` returns within ``timeout + JOIN_GRACE`` seconds whatever
  the learner's code does: an ``await`` that never returns is cancelled by
  :func:`asyncio.wait_for` on the check's own event loop; blocking code
  (``time.sleep(1000)``, ``while True``) is left behind in its daemon thread,
  which Python cannot kill: the result then says ``runaway=True``, and the
  caller goes on. (The grader kills the whole process at the end; in a
  notebook the thread keeps using CPU until the kernel restarts.)
* Checks never touch the caller's event loop, so a check started from a
  notebook cell cannot block or break the kernel's loop.

Longer than 500 lines because :class:`Context`, the one API every check is written
against, carries both settings (a namespace here, proxies to a sandbox) and keeps
them from showing.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import re
import threading
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from wslab.grading.registry import Check
from wslab.grading.rpc import Endpoint, Proxy

__all__ = [
    "Missing",
    "Context",
    "Served",
    "CheckResult",
    "STATUSES",
    "JOIN_GRACE",
    "run_check",
    "private_server",
    "stable",
]

T = TypeVar("T")

JOIN_GRACE = 0.5
"""Extra seconds given to a check's thread after its own time limit."""

STATUSES = {
    "pass": "PASS",
    "fail": "FAIL",
    "missing": "MISSING",
    "todo": "TODO",
    "error": "ERROR",
    "timeout": "TIMEOUT",
    "not-run": "NOT RUN",
}
"""Every check status and how tables show it."""


class Missing(Exception):
    """A definition the check needs is not in the learner's namespace (or is the wrong kind)."""

    def __init__(self, name: str, detail: str) -> None:
        super().__init__(detail)
        self.name = name


@dataclass(frozen=True)
class CheckResult:
    """What one check found. ``points`` are the points awarded (all or nothing)."""

    check: Check
    status: str
    message: str = ""
    runaway: bool = False

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    @property
    def points(self) -> int:
        return self.check.points if self.passed else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check.name,
            "status": self.status,
            "message": self.message,
            "runaway": self.runaway,
        }


_server_lock = threading.Lock()
_server: Any = None


def private_server() -> Any:
    """A wslab server for checks only (not the learner's), started once per process.

    It publishes demo updates every 0.05 s and clears typing after 1 s, so
    socket checks finish fast; it is separate from ``wslab.start_server()``
    so checks never disturb the learner's own server or its options.
    """
    global _server
    with _server_lock:
        if _server is None or not _server.running:
            from wslab.kernel.course_server import ServerHandle
            from wslab.server.config import ServerConfig

            handle = ServerHandle(ServerConfig(update_interval=0.05, typing_timeout=1.0))
            handle._start()
            _server = handle
        return _server


class Served:
    """A learner's server, run by :meth:`Context.serving`: its ``url``, and what the learner's code did.

    ``errors``: every exception the learner's handler (or ``process_request``) raised;
    ``finished``: how many handler runs have ended.
    """

    def __init__(self, url: str = "") -> None:
        self.url = url
        self.errors: list[BaseException] = []
        self.finished = 0

    def failure(self) -> str:
        """``"; your handler raised T: message"`` for a check's message, or ``""``; a stub's
        NotImplementedError is raised instead (the check says TODO, not FAIL)."""
        for exc in self.errors:
            if isinstance(exc, NotImplementedError):
                raise exc
        if not self.errors:
            return ""
        exc = self.errors[0]
        return f"; your handler raised {type(exc).__name__}: {exc}"


class _RemoteServed(Served):
    """A :class:`Served` whose ``errors`` and ``finished`` are read from the learner's process each time."""

    def __init__(self, remote: Endpoint, url: str, token: Any) -> None:
        super().__init__(url)
        self._remote = remote
        self._token = token

    def _state(self) -> tuple[list[BaseException], int]:
        errors, finished = self._remote.request("served", token=self._token)
        return [e for e in errors if isinstance(e, BaseException)], int(finished)

    @property
    def errors(self) -> list[BaseException]:
        return self._state()[0]

    @errors.setter
    def errors(self, value: list[BaseException]) -> None:
        pass  # the learner's process keeps them

    @property
    def finished(self) -> int:
        return self._state()[1]

    @finished.setter
    def finished(self, value: int) -> None:
        pass


def _kind(value: Any) -> str:
    if isinstance(value, type):
        return "class"
    if inspect.iscoroutinefunction(value):
        return "async"
    return "function" if callable(value) else "object"


def _described(value: Any, kind: str) -> str:
    return f"a {kind}" if isinstance(value, Proxy) else type(value).__name__


class Context:
    """What a check gets: the learner's definitions and helpers that keep checks short and bounded.

    ``learner`` is a namespace (the notebook's, in this process) or an
    :class:`~wslab.grading.rpc.Endpoint` to the learner's process in its sandbox.
    """

    def __init__(self, learner: Mapping[str, Any] | Endpoint) -> None:
        self.remote = learner if isinstance(learner, Endpoint) else None
        self.namespace: Mapping[str, Any] = {} if isinstance(learner, Endpoint) else learner

    def _lookup(self, name: str) -> Any:
        if self.remote is None:
            return self.namespace[name]
        found, value = self.remote.request("lookup", name=name)
        if not found:
            raise KeyError(name)
        return value

    def get(self, name: str, kind: str = "function") -> Any:
        """The learner's ``name``; ``kind`` is ``"function"``, ``"async"`` or ``"class"``.

        Raises :class:`Missing` with a sentence for the learner if it is absent
        or not of that kind.
        """
        try:
            value = self._lookup(name)
        except KeyError:
            raise Missing(
                name,
                f"`{name}` is not defined: run the cell that defines it "
                "(was it deleted, renamed or did it raise an error?)",
            ) from None
        what = value.kind if isinstance(value, Proxy) else _kind(value)
        if kind == "class" and what != "class":
            raise Missing(name, f"`{name}` should be a class (`class {name}:`)")
        if kind == "async" and what != "async":
            raise Missing(
                name,
                f"`{name}` should be a coroutine function (`async def {name}(...)`), "
                f"got {_described(value, what)}",
            )
        if kind == "function" and what not in ("function", "async", "class"):
            raise Missing(name, f"`{name}` should be a function, got {_described(value, what)}")
        return value

    async def failure_of(self, task: Any) -> BaseException | None:
        """What a task the learner's code started (an ``asyncio.Task``, or anything else) ended with, if it failed."""
        if self.remote is None:
            if isinstance(task, asyncio.Future) and task.done() and not task.cancelled():
                return task.exception()
            return None
        state = await self.remote.arequest("task_state", task=task)
        return state[1] if isinstance(state, list) and state[:1] == ["failed"] else None

    def server(self) -> Any:
        """The checks' private wslab server (see :func:`private_server`)."""
        return private_server()

    async def within(self, awaitable: Awaitable[T], seconds: float, what: str) -> T:
        """Await the learner's ``awaitable`` for at most ``seconds``.

        Unlike a bare :func:`asyncio.wait_for`, a learner's own ``TimeoutError``
        and "still waiting" are told apart: the latter fails the check with
        ``"{what} was still waiting after N s"``.
        """
        task = await _settle(awaitable, seconds)
        if task is None:
            raise AssertionError(
                f"{what} was still waiting after {seconds:g} s: "
                "every await that depends on the network needs a timeout"
            )
        return task.result()

    async def gives_up(self, awaitable: Awaitable[Any], seconds: float, what: str, returned: str) -> None:
        """Await the learner's call, which must raise :class:`TimeoutError` within ``seconds``.

        Returns when it did. Fails the check with ``returned`` (formatted with
        ``result``, what the call returned) when it returned instead, and as
        :meth:`within` does when it was still waiting.
        """
        try:
            result = await self.within(awaitable, seconds, what)
        except TimeoutError:
            return
        raise AssertionError(returned.format(result=result))

    @staticmethod
    async def closed_within(closed: asyncio.Event, message: str, seconds: float = 1.0) -> None:
        """Fail the check with ``message`` unless ``closed`` (see :meth:`silent_server`) is set within ``seconds``."""
        try:
            await asyncio.wait_for(closed.wait(), seconds)
        except TimeoutError:
            raise AssertionError(message) from None

    @contextlib.asynccontextmanager
    async def serving(
        self,
        handler: Callable[[Any], Awaitable[None]] | None = None,
        *,
        process_request: Callable[..., Any] | None = None,
    ) -> AsyncIterator[Served]:
        """Serve the learner's ``handler`` (an echo when None) on loopback, behind the learner's
        ``process_request`` if given; yields a :class:`Served`.

        Everything the learner's code raises is kept in ``errors``; if the block fails and the
        learner's code raised NotImplementedError, that is raised instead (TODO, not FAIL).
        """
        if self.remote is not None:
            async with self._serving_remote(handler, process_request) as remote_served:
                yield remote_served
            return
        from wslab.grading.worker import serve_recorded  # the learner's side: one rule for both places

        served = Served()
        server = await serve_recorded(served, handler, process_request)
        served.url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        try:
            yield served
        except Exception:
            served.failure()  # raises the learner's NotImplementedError, if any
            raise
        finally:
            server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1)

    @contextlib.asynccontextmanager
    async def _serving_remote(
        self, handler: Callable[[Any], Awaitable[None]] | None, process_request: Callable[..., Any] | None
    ) -> AsyncIterator[Served]:
        assert self.remote is not None
        url, token = await self.remote.arequest("serve", handler=handler, process_request=process_request)
        served = _RemoteServed(self.remote, str(url), token)
        try:
            yield served
        except Exception:
            served.failure()
            raise
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.remote.arequest("stop_serving", token=token), 2)

    @contextlib.asynccontextmanager
    async def silent_server(self, closed: asyncio.Event | None = None) -> AsyncIterator[str]:
        """A WebSocket server on loopback that accepts connections and never sends; yields its URL.

        ``closed`` (if given) is set when a client closes its connection.
        """
        from websockets.asyncio.server import serve

        async def handler(ws: Any) -> None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.wait_closed(), 30)
            if closed is not None:
                closed.set()

        server = await asyncio.wait_for(serve(handler, "127.0.0.1", 0), 5)
        port = server.sockets[0].getsockname()[1]
        try:
            yield f"ws://127.0.0.1:{port}/chat"
        finally:
            server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)


def _describe(exc: BaseException) -> str:
    """``Type: message`` plus where in the learner's code it was raised, with no file paths."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    where = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if not os.path.abspath(frame.filename).startswith(here) and "asyncio" not in frame.filename:
            where = frame.name
    if where and where != "<module>":
        text += f" (in {where})"
    return text


_PORT = re.compile(r"(127\.0\.0\.1|localhost|\[::1\])(['\"]?, |:)\d{2,5}\b")
_ADDRESS = re.compile(r"\b0x[0-9a-f]{6,16}\b")


def stable(text: str) -> str:
    """``text`` without what changes from run to run: loopback ports and object addresses.

    Check messages end up in committed notebooks and in gradebook feedback, both of
    which must come out the same every time.
    """
    return _ADDRESS.sub("0x…", _PORT.sub(r"\1\2PORT", text))


def _classify(check: Check, exc: BaseException | None) -> tuple[str, str]:
    status, message = _classify_raw(check, exc)
    return status, stable(message)


def _classify_raw(check: Check, exc: BaseException | None) -> tuple[str, str]:
    if exc is None:
        return "pass", ""
    if isinstance(exc, Missing):
        return "missing", str(exc)
    if isinstance(exc, NotImplementedError):
        detail = f": {exc}" if str(exc) else ""
        return "todo", f"not written yet (NotImplementedError{detail})"
    if isinstance(exc, AssertionError):
        return "fail", str(exc) or "the check's expectation was not met"
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)) and getattr(exc, "_wslab_limit", False):
        return "timeout", str(exc)
    return "error", _describe(exc)


async def _settle(awaitable: Awaitable[T], seconds: float) -> asyncio.Future[T] | None:
    """Await ``awaitable`` for at most ``seconds``: its finished task, or None after cancelling it.

    Unlike :func:`asyncio.wait_for`, a ``TimeoutError`` raised by the awaitable itself
    stays in the returned task, apart from running out of time. The cancelled task
    gets one more second to unwind.
    """
    task = asyncio.ensure_future(awaitable)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if done:
        return task
    task.cancel()
    with contextlib.suppress(BaseException):
        await asyncio.wait({task}, timeout=1.0)
    return None


async def _bounded(coro: Awaitable[Any], limit: float) -> None:
    """Await a check for at most ``limit`` s; a TimeoutError the learner's code raises stays theirs."""
    task = await _settle(coro, limit)
    if task is None:
        exc = TimeoutError(
            f"still running after {limit:g} s: an await that never returns? "
            "Give every await a timeout"
        )
        exc._wslab_limit = True  # type: ignore[attr-defined]
        raise exc
    task.result()


def run_check(
    check: Check, learner: Mapping[str, Any] | Endpoint, *, timeout: float | None = None
) -> CheckResult:
    """Run one check in a daemon thread; return within ``timeout`` + :data:`JOIN_GRACE` seconds.

    ``learner``: the notebook's namespace, or the channel to the learner's process (see :class:`Context`).
    """
    limit = check.timeout if timeout is None else timeout
    box: dict[str, BaseException | None] = {}

    async def on_loop(ctx: Context) -> None:
        if ctx.remote is not None:  # the learner's callbacks run on this check's loop
            ctx.remote.bind_loop(asyncio.get_running_loop())
        try:
            await _bounded(check.func(ctx), limit)
        finally:
            if ctx.remote is not None:
                ctx.remote.bind_loop(None)

    def target() -> None:
        try:
            ctx = Context(learner)
            if inspect.iscoroutinefunction(check.func):
                asyncio.run(on_loop(ctx))
            else:
                check.func(ctx)
            box["exc"] = None
        except BaseException as exc:  # the learner's code may raise anything
            box["exc"] = exc

    thread = threading.Thread(target=target, name=f"wslab-check-{check.name}", daemon=True)
    thread.start()
    thread.join(limit + JOIN_GRACE)
    if thread.is_alive() or "exc" not in box:
        return CheckResult(
            check,
            "timeout",
            f"still running after {limit:g} s: a loop that never ends, time.sleep(), "
            "or blocking code inside async code?",
            runaway=True,
        )
    status, message = _classify(check, box["exc"])
    return CheckResult(check, status, message)
