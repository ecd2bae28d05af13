"""Grade one submission in this (fresh, throw-away) process; the grader starts it and may kill it.

Usage (by :mod:`wslab.grading.grader`, not by hand)::

    python -m wslab.grading.worker NOTEBOOK --exercise chat [--cell-timeout S]
        [--check-timeout S] [--skip-cells 3,7] [--skip-checks name,...] [--memory-mb MB]

It runs the notebook's code cells in order in one namespace, then the
exercise's checks (public and hidden) against that namespace, and reports
each step on stdout as one JSON object per line, flushed at once, so that
the grader knows how far it got if it must kill the process:

* ``{"event": "cell-start", "index": i}`` then ``{"event": "cell", "index": i, "status": ..., "detail": ...}``
  with status ``ok``, ``error``, ``timeout`` or ``skipped``;
* ``{"event": "check-start", "check": name}`` then ``{"event": "check", "check": name, "status": ..., ...}``;
* ``{"event": "restart"}`` when a check left the learner's code running in a
  thread (which cannot be stopped): the worker exits, and the grader runs the
  remaining checks in a fresh process;
* ``{"event": "done"}``.

Limits: a cell's ``await`` is cancelled after ``--cell-timeout`` seconds; a
cell that blocks (``time.sleep``, ``while True``) is interrupted by
``SIGALRM`` at the same limit. Code that even a signal cannot stop (a long C
call holding the GIL, an ``except BaseException`` in a loop) is what the
grader's hard kill is for. Magics and shell escapes (``%pip``, ``!ls``) are
not run. The learner's output is discarded.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import builtins
import gc
import inspect
import json
import os
import signal
import sys
import traceback
import warnings
from typing import Any, TextIO

__all__ = ["main", "transform", "run_cell", "CellTimeout", "Reporter", "CELL_MAGICS_KEPT"]

CELL_MAGICS_KEPT = ("%%time", "%%capture")
"""Cell magics whose body still runs (the magic line itself is dropped)."""


class CellTimeout(BaseException):
    """Raised by SIGALRM in a cell that ran past its time limit (a BaseException, so bare
    ``except Exception`` in learner code does not swallow it)."""


class Reporter:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def __call__(self, **event: Any) -> None:
        self.stream.write(json.dumps(event, ensure_ascii=False) + "\n")
        self.stream.flush()


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


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        signal.setitimer(signal.ITIMER_REAL, 2.0)
        try:
            loop.run_until_complete(asyncio.wait(tasks, timeout=1.0))
        except BaseException:
            pass
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)


async def _limited(coro: Any, limit: float) -> None:
    """Await a cell's coroutine for at most ``limit`` s (its own TimeoutError stays an error)."""
    task = asyncio.ensure_future(coro)
    done, _ = await asyncio.wait({task}, timeout=limit)
    if not done:
        task.cancel()
        await asyncio.wait({task}, timeout=1.0)
        raise CellTimeout()
    task.result()


def run_cell(
    index: int, source: str, ns: dict[str, Any], loop: asyncio.AbstractEventLoop, limit: float
) -> tuple[str, str]:
    """Run one cell; returns ``(status, detail)``."""
    python, note = transform(source)
    if python is None:
        return "skipped", note
    try:
        code = compile(python, f"<cell {index}>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
    except SyntaxError as exc:
        return "error", f"SyntaxError: {exc.msg} (line {exc.lineno})"
    signal.setitimer(signal.ITIMER_REAL, limit + (1.0 if code.co_flags & inspect.CO_COROUTINE else 0.0))
    try:
        if code.co_flags & inspect.CO_COROUTINE:
            loop.run_until_complete(_limited(eval(code, ns), limit))
        else:
            exec(code, ns)
    except CellTimeout:
        signal.setitimer(signal.ITIMER_REAL, 0)
        _cancel_all(loop)
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


def _int_set(text: str) -> set[int]:
    return {int(x) for x in text.split(",") if x.strip()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m wslab.grading.worker")
    parser.add_argument("notebook")
    parser.add_argument("--exercise", required=True)
    parser.add_argument("--cell-timeout", type=float, default=10.0)
    parser.add_argument("--check-timeout", type=float, default=None)
    parser.add_argument("--skip-cells", type=_int_set, default=set())
    parser.add_argument("--skip-checks", default="")
    parser.add_argument("--memory-mb", type=int, default=0, help="address-space limit (0: none)")
    args = parser.parse_args(argv)
    if args.memory_mb > 0:
        import resource

        limit = args.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    skip_checks = {x for x in args.skip_checks.split(",") if x}

    # Our reports go to the real stdout; whatever the learner's code prints goes nowhere.
    report = Reporter(os.fdopen(os.dup(1), "w", encoding="utf-8"))
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    signal.signal(signal.SIGALRM, _alarm)
    os.environ["WSLAB_GRADING"] = "1"
    os.environ.setdefault("MPLBACKEND", "Agg")

    from wslab.grading.registry import get_exercise
    from wslab.grading.runner import run_check, stable

    exercise = get_exercise(args.exercise)
    with open(args.notebook, encoding="utf-8") as f:
        notebook = json.load(f)

    # "coroutine ... was never awaited" is the best hint for a missing await: keep it for the feedback.
    never_awaited: list[str] = []

    def showwarning(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
        text = str(message)
        if "was never awaited" in text and text not in never_awaited:
            never_awaited.append(text)

    warnings.showwarning = showwarning
    warnings.simplefilter("always", RuntimeWarning)

    ns: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    try:
        from IPython.display import display

        ns["display"] = display
    except ImportError:  # pragma: no cover
        ns["display"] = print
    ns["get_ipython"] = lambda: None
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    for index, cell in enumerate(notebook.get("cells", []), start=1):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        report(event="cell-start", index=index)
        if index in args.skip_cells:
            status, detail = "skipped", "skipped: it hung past its limit in an earlier run"
        else:
            status, detail = run_cell(index, source, ns, loop, args.cell_timeout)
        report(event="cell", index=index, status=status, detail=stable(detail))

    remaining = [c for c in exercise.checks if c.name not in skip_checks]
    for position, check in enumerate(remaining, start=1):
        report(event="check-start", check=check.name)
        result = run_check(check, ns, timeout=args.check_timeout)
        report(event="check", **result.to_json())
        if result.runaway and position < len(remaining):
            # The learner's code still runs in a thread we cannot stop; it would slow every
            # check after it. Leave, and let the grader start a fresh process for the rest.
            report(event="restart", reason="runaway")
            os._exit(0)

    gc.collect()  # coroutines never awaited warn when collected
    for text in never_awaited[:5]:
        report(event="warning", text=f"Python warned: {text}: a missing `await`?")
    report(event="done")
    # Leave at once: runaway threads and the learner's servers must not keep us alive.
    os._exit(0)


if __name__ == "__main__":
    main()
