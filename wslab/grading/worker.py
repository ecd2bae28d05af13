"""The learner's side of grading: a process, in the sandbox, that runs a notebook's code and answers questions about it.

The trusted checker (:mod:`wslab.grading.checker`) starts it and talks to it over
its standard input and output with :mod:`wslab.grading.rpc`; nothing this process
says is believed, it is only observed::

    python -m wslab.grading.worker [--memory-mb MB]

It runs no cell by itself. The checker asks it, one request at a time, to:

* ``run_cell(index, source, limit)``: run one code cell in the notebook's namespace
  (magics and ``!`` lines are not run), within ``limit`` seconds (``SIGALRM`` for
  blocking code, cancellation for an ``await``), and say ``(status, detail)``;
* ``lookup(name)``: the learner's definition called ``name``, as a value or a
  handle the checks then call through (``call``, ``getattr``, ``await``... are the
  channel's own);
* ``serve(handler, process_request)``: serve the learner's handler on loopback for a
  check that connects to it (lessons 6 and 7), ``served(token)``, ``stop_serving(token)``;
* ``task_state(obj)``: what became of an ``asyncio.Task`` the learner's code started;
* ``end_check()``: cancel what the learner's code left running during a check;
* ``warnings()``: what Python warned about (a coroutine never awaited: a missing ``await``).

Everything the learner's code prints goes nowhere; the channel keeps the real
standard output. The process's event loop runs in the main thread, all the time, so
tasks the learner's code starts keep running between requests.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import builtins
import contextlib
import inspect
import json
import logging
import os
import signal
import sys
import traceback
import warnings
from typing import Any

from wslab.core.deprecation import REMOVED_IN, warn_deprecated
from wslab.grading.rpc import Endpoint, Limits

__all__ = ["main", "transform", "run_cell", "serve_recorded", "CellTimeout", "CELL_MAGICS_KEPT", "Session"]

CELL_MAGICS_KEPT = ("%%time", "%%capture")
"""Cell magics whose body still runs (the magic line itself is dropped)."""


class CellTimeout(BaseException):
    """Raised by SIGALRM in a cell that ran past its time limit (a BaseException, so bare
    ``except Exception`` in learner code does not swallow it)."""


def transform(source: str) -> tuple[str | None, str]:
    """Turn an IPython cell into plain Python: magics and ``!`` lines are not run.

    Returns ``(python or None, note)``; None means the whole cell is skipped.
    """
    lines = source.split("\n")
    first = lines[0].strip() if lines else ""
    note = ""
    if first.startswith("%%"):
        if not first.startswith(CELL_MAGICS_KEPT):
            return None, f"cell magic {first.split()[0]} is not run in grading"
        lines = lines[1:]
    out = []
    for line in lines:
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            indent = line[: len(line) - len(stripped)]
            out.append(f"{indent}pass  # not run in grading: {stripped[:40]}")
            note = "magics and shell commands were not run"
        else:
            out.append(line)
    return "\n".join(out), note


def _alarm(signum: int, frame: Any) -> None:
    raise CellTimeout()


def _where(exc: BaseException) -> str:
    """The cell line an exception came from, e.g. ``line 3``; no file paths."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.startswith("<cell "):
            return f" ({frame.filename.strip('<>')}, line {frame.lineno})"
    return ""


async def run_cell(index: int, source: str, ns: dict[str, Any], limit: float) -> tuple[str, str]:
    """Run one cell on the running loop (in the main thread); returns ``(status, detail)``."""
    python, note = transform(source)
    if python is None:
        return "skipped", note
    try:
        code = compile(python, f"<cell {index}>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
    except SyntaxError as exc:
        return "error", f"SyntaxError: {exc.msg} (line {exc.lineno})"
    is_async = bool(code.co_flags & inspect.CO_COROUTINE)
    signal.setitimer(signal.ITIMER_REAL, limit + (1.0 if is_async else 0.0))
    try:
        if is_async:
            task = asyncio.ensure_future(eval(code, ns))
            done, _ = await asyncio.wait({task}, timeout=limit)
            if not done:
                task.cancel()
                await asyncio.wait({task}, timeout=1.0)
                raise CellTimeout()
            task.result()
        else:
            exec(code, ns)
    except CellTimeout:
        signal.setitimer(signal.ITIMER_REAL, 0)
        return "timeout", (
            f"stopped after {limit:g} s (the time limit per cell): an await that never returns, "
            "time.sleep(), or a loop that never ends?"
        )
    except BaseException as exc:  # SystemExit, KeyboardInterrupt too: the cell failed, we go on
        signal.setitimer(signal.ITIMER_REAL, 0)
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return "error", f"{text[:300]}{_where(exc)}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return "ok", note


_quiet = logging.getLogger("wslab.grading.learner-server")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


async def _echo(ws: Any) -> None:
    from websockets.exceptions import ConnectionClosed

    with contextlib.suppress(ConnectionClosed):
        async for message in ws:
            await ws.send(message)


async def serve_recorded(served: Any, handler: Any = None, process_request: Any = None) -> Any:
    """Start a websockets server on 127.0.0.1 (a free port) for the learner's ``handler`` (an echo when
    None), behind the learner's ``process_request`` when given; return it (bounded: 2 s to start).

    ``served`` records what the learner's code did: every exception the handler or ``process_request``
    raised is appended to ``served.errors`` (and raised on, as websockets expects), and
    ``served.finished`` counts the handler runs that ended. One rule for both places a learner's server
    runs: the learner's process at grading, and the notebook's own kernel for ``check()``.
    """
    from websockets.asyncio.server import serve

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
        try:
            return process_request(connection, request)
        except Exception as exc:
            served.errors.append(exc)
            raise

    return await asyncio.wait_for(
        serve(wrapper, "127.0.0.1", 0, logger=_quiet, close_timeout=0.5,
              process_request=guard if process_request is not None else None),
        2,
    )


class _Served:
    def __init__(self) -> None:
        self.errors: list[BaseException] = []
        self.finished = 0
        self.server: Any = None


class Session:
    """What the checker may ask of this process: the handlers of the channel's requests."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.ns: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
        self.ns["get_ipython"] = lambda: None
        try:
            from IPython.display import display

            self.ns["display"] = display
        except ImportError:  # pragma: no cover - IPython comes with ipykernel
            self.ns["display"] = print
        self.never_awaited: list[str] = []
        self.served: dict[int, _Served] = {}
        self._check_tasks: set[asyncio.Task[Any]] = set()
        self._infrastructure: set[asyncio.Task[Any]] = set()

    def handlers(self) -> dict[str, Any]:
        return {
            "run_cell": self.run_cell,
            "lookup": self.lookup,
            "serve": self.serve,
            "served": self.served_state,
            "stop_serving": self.stop_serving,
            "task_state": self.task_state,
            "begin_check": self.begin_check,
            "end_check": self.end_check,
            "warnings": self.warnings,
            "ping": lambda: "pong",
        }

    async def run_cell(self, index: int, source: str, limit: float) -> list[str]:
        status, detail = await run_cell(index, source, self.ns, limit)
        return [status, detail]

    def lookup(self, name: str) -> list[Any]:
        """``[True, value]``, or ``[False, None]`` when the notebook defines no ``name``."""
        if name in self.ns:
            return [True, self.ns[name]]
        return [False, None]

    async def serve(self, handler: Any = None, process_request: Any = None) -> list[Any]:
        """Serve ``handler`` (an echo when None) on 127.0.0.1 behind ``process_request``; ``[url, token]``."""
        served = _Served()
        served.server = await serve_recorded(served, handler, process_request)
        token = id(served)
        self.served[token] = served
        return [f"ws://127.0.0.1:{served.server.sockets[0].getsockname()[1]}/", token]

    def served_state(self, token: int) -> list[Any]:
        served = self.served[token]
        return [list(served.errors), served.finished]

    async def stop_serving(self, token: int) -> None:
        served = self.served.pop(token, None)
        if served is not None and served.server is not None:
            served.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(served.server.wait_closed(), 1)

    def task_state(self, task: Any) -> list[Any]:
        """``["running"]``, ``["cancelled"]``, ``["done", result]`` or ``["failed", exception]``; ``["none"]``."""
        if not isinstance(task, asyncio.Future):
            return ["none"]
        if not task.done():
            return ["running"]
        if task.cancelled():
            return ["cancelled"]
        exc = task.exception()
        return ["failed", exc] if exc is not None else ["done", None]

    def begin_check(self) -> None:
        self._check_tasks = set(asyncio.all_tasks(self.loop))

    async def end_check(self) -> int:
        """Cancel the tasks the learner's code started during the check; how many there were."""
        here = asyncio.current_task()
        started = [t for t in asyncio.all_tasks(self.loop) if t not in self._check_tasks and t is not here]
        for task in started:
            task.cancel()
        if started:
            await asyncio.wait(started, timeout=1.0)
        for token in list(self.served):
            await self.stop_serving(token)
        return len(started)

    def warnings(self) -> list[str]:
        import gc

        gc.collect()  # coroutines never awaited warn when collected
        return [f"Python warned: {text}: a missing `await`?" for text in self.never_awaited[:5]]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m wslab.grading.worker")
    parser.add_argument("--memory-mb", type=int, default=0, help="address-space limit (0: none)")
    args = parser.parse_args(argv)
    if args.memory_mb > 0:
        import resource

        limit = args.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    # The channel keeps the real stdin and stdout; whatever the learner's code prints goes nowhere.
    channel_in = os.fdopen(os.dup(0), "rb", buffering=0)
    channel_out = os.fdopen(os.dup(1), "wb", buffering=0)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115
    signal.signal(signal.SIGALRM, _alarm)
    os.environ["WSLAB_GRADING"] = "1"
    os.environ.setdefault("MPLBACKEND", "Agg")

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    session = Session(loop)

    def showwarning(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
        text = str(message)
        if "was never awaited" in text and text not in session.never_awaited:
            session.never_awaited.append(text)

    warnings.showwarning = showwarning
    warnings.simplefilter("always", RuntimeWarning)

    endpoint = Endpoint(
        channel_in, channel_out, side="sandbox", limits=Limits(), handlers=session.handlers(), loop=loop
    )
    gone = loop.create_future()

    def watch() -> None:
        if endpoint.closed and not gone.done():
            gone.set_result(None)
        else:
            loop.call_later(0.2, watch)

    loop.call_soon(watch)
    while not gone.done():
        try:
            loop.run_until_complete(gone)
        except CellTimeout:
            continue  # an alarm that fired between steps: nothing to stop
        except BaseException:  # the learner's code reached the loop itself: go on serving
            continue
    os._exit(0)  # leave at once: the learner's threads and servers must not keep us alive


if __name__ == "__main__":
    main()


class _Reporter:
    """0.1's event writer, one JSON object a line (unused since the channel of :mod:`wslab.grading.rpc`)."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def __call__(self, **event: Any) -> None:
        self.stream.write(json.dumps(event, ensure_ascii=False) + "\n")
        self.stream.flush()


def __getattr__(name: str) -> Any:
    if name == "Reporter":
        warn_deprecated(
            f"{__name__}.Reporter is deprecated and goes in wslab {REMOVED_IN}: "
            "the learner's process now speaks through wslab.grading.rpc"
        )
        return _Reporter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
