"""The hidden checks of exercise ``basics``: they run only at grading.

They ship only in the instructor's install (``wslab_instructor``), never in a learner's: the
public checks and the exercise itself are :mod:`wslab.grading.checks.basics`.
"""

from __future__ import annotations

import asyncio
import contextlib

from wslab.grading.checks.basics import _raises_value_error, ex
from wslab.grading.runner import Context


@ex.check(points=1, title="parse_message rejects JSON that is not an object", public=False,
          hint="Valid JSON is not always a message: every frame must be an object with fields.")
def rejects_non_objects(ctx: Context) -> None:
    for text in ("[1, 2]", '"hello"', "42", "null"):
        _raises_value_error(ctx, text)


@ex.check(points=1, title="echo_once closes its connection", public=False, timeout=5.0,
          hint="Close the connection when you are done, also when waiting failed (try/finally or `async with`).")
async def echo_closes(ctx: Context) -> None:
    echo_once = ctx.get("echo_once", "async")
    closed = asyncio.Event()
    async with ctx.silent_server(closed) as url:
        with contextlib.suppress(TimeoutError):
            await ctx.within(echo_once(url, "anyone?", timeout=0.3), 2.0, "echo_once(silent_url, timeout=0.3)")
        await ctx.closed_within(closed, "after echo_once gave up, its connection was still open")
