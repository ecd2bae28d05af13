"""Run checks against a learner's definitions, each in a worker thread with a time limit.

This is shared by the in-notebook :func:`wslab.grading.self_check.check` and by the grading
worker (:mod:`wslab.grading.worker`). The contract:

* :func:`run_check` returns within ``timeout + JOIN_GRACE`` seconds whatever
  the learner's code does: an ``await`` that never returns is cancelled by
  :func:`asyncio.wait_for` on the check's own event loop; blocking code
  (``time.sleep(1000)``, ``while True``) is left behind in its daemon thread,
  which Python cannot kill: the result then says ``runaway=True``, and the
  caller goes on. (The grader kills the whole process at the end; in a
  notebook the thread keeps using CPU until the kernel restarts.)
* Checks never touch the caller's event loop, so a check started from a
  notebook cell cannot block or break the kernel's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import re
import threading
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from wslab.grading.registry import Check

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


_quiet = logging.getLogger("wslab.grading.learner-server")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


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


async def _echo(ws: Any) -> None:
    from websockets.exceptions import ConnectionClosed

    with contextlib.suppress(ConnectionClosed):
        async for message in ws:
            await ws.send(message)


class Context:
    """What a check gets: the learner's namespace and helpers that keep checks short and bounded."""

    def __init__(self, namespace: Mapping[str, Any]) -> None:
        self.namespace = namespace

    def get(self, name: str, kind: str = "function") -> Any:
        """The learner's ``name``; ``kind`` is ``"function"``, ``"async"`` or ``"class"``.

        Raises :class:`Missing` with a sentence for the learner if it is absent
        or not of that kind.
        """
        try:
            value = self.namespace[name]
        except KeyError:
            raise Missing(
                name,
                f"`{name}` is not defined: run the cell that defines it "
                "(was it deleted, renamed or did it raise an error?)",
            ) from None
        if kind == "class" and not isinstance(value, type):
            raise Missing(name, f"`{name}` should be a class (`class {name}:`)")
        if kind == "async" and not inspect.iscoroutinefunction(value):
            raise Missing(
                name,
                f"`{name}` should be a coroutine function (`async def {name}(...)`), "
                f"got {type(value).__name__}",
            )
        if kind == "function" and not callable(value):
            raise Missing(name, f"`{name}` should be a function, got {type(value).__name__}")
        return value

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
        from websockets.asyncio.server import serve

        served = Served()
        run = handler or _echo

        async def wrapper(ws: Any) -> None:
            try:
                await run(ws)
            except Exception as exc:
                served.errors.append(exc)
                raise
            finally:
                served.finished += 1

        def guard(connection: Any, request: Any) -> Any:
            assert process_request is not None
            try:
                return process_request(connection, request)
            except Exception as exc:
                served.errors.append(exc)
                raise

        server = await asyncio.wait_for(
            serve(wrapper, "127.0.0.1", 0, logger=_quiet, close_timeout=0.5,
                  process_request=guard if process_request is not None else None),
            2,
        )
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


def run_check(check: Check, namespace: Mapping[str, Any], *, timeout: float | None = None) -> CheckResult:
    """Run one check in a daemon thread; return within ``timeout`` + :data:`JOIN_GRACE` seconds."""
    limit = check.timeout if timeout is None else timeout
    box: dict[str, BaseException | None] = {}

    def target() -> None:
        try:
            ctx = Context(namespace)
            if inspect.iscoroutinefunction(check.func):
                asyncio.run(_bounded(check.func(ctx), limit))
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
