"""Run asyncio code from a notebook cell, with a bound on how long it may take.

In a notebook, prefer top-level ``await``: the cell awaits on the kernel's own
event loop. But tutorials everywhere say ``asyncio.run(main())``, which fails
in a cell with "asyncio.run() cannot be called from a running event loop".
:func:`run` is the drop-in that works in both places:

* in a plain script (no loop running) it calls :func:`asyncio.run`;
* in a cell (the kernel's loop running) it allows nested loops, through the
  maintained fork ``nest_asyncio2`` or, failing that, the archived
  ``nest_asyncio`` (which breaks on Python 3.14), then runs the coroutine.

Either way the coroutine is bounded by ``timeout``: an awaiting cell cannot be
interrupted in ipykernel 7, so a hang would cost a kernel restart.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run", "allow_nested_loops", "DEFAULT_TIMEOUT"]

T = TypeVar("T")

DEFAULT_TIMEOUT = 10.0
"""Seconds :func:`run` waits before cancelling the coroutine."""

_PATCHERS = ("nest_asyncio2", "nest_asyncio")
_applied: str | None = None


def allow_nested_loops(prefer: tuple[str, ...] = _PATCHERS) -> str:
    """Allow ``run_until_complete`` on a loop that is already running; returns the module used.

    Tries each module of ``prefer`` in turn. Idempotent. Raises
    :class:`RuntimeError` naming the package to install when none is present.
    """
    global _applied
    if _applied is not None:
        return _applied
    for name in prefer:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        module.apply()
        _applied = name
        return name
    raise RuntimeError(
        "running asyncio code from inside a notebook needs nested event loops: "
        "pip install nest-asyncio2 (or simply use top-level `await` in the cell)"
    )


def run(coro: Coroutine[Any, Any, T], timeout: float | None = DEFAULT_TIMEOUT) -> T:
    """Run ``coro`` to completion from synchronous code, in a script or in a notebook cell.

    Raises :class:`TimeoutError` if it takes longer than ``timeout`` seconds
    (``None`` means no bound; avoid it in notebooks).
    """
    if not asyncio.iscoroutine(coro):
        raise TypeError(f"run() needs a coroutine, e.g. run(main()), not {type(coro).__name__}")
    bounded = _bounded(coro, timeout)
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(bounded)
    allow_nested_loops()
    return loop.run_until_complete(bounded)


async def _bounded(coro: Coroutine[Any, Any, T], timeout: float | None) -> T:
    try:
        return await asyncio.wait_for(coro, timeout)
    except TimeoutError:
        raise TimeoutError(
            f"gave up after {timeout:g} s: the coroutine was still waiting "
            "(for a message that never came, or a server that is down?)"
        ) from None
