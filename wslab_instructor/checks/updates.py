"""The hidden checks of exercise ``updates``: they run only at grading.

They ship only in the instructor's install (``wslab_instructor``), never in a learner's: the
public checks and the exercise itself are :mod:`wslab.grading.checks.updates`.
"""

from __future__ import annotations

from typing import Any

from wslab.grading.checks.updates import _emitter, ex
from wslab.grading.runner import Context


@ex.check(points=1, title="Emitter.off removes a handler", public=False,
          hint="off(event, fn) removes that function from that event's handlers; unknown ones are ignored.")
def off_removes(ctx: Context) -> None:
    em = _emitter(ctx)
    seen: list[Any] = []
    em.on("update", seen.append)
    em.off("update", seen.append)
    em.off("update", print)
    em.off("never", print)
    em.emit("update", 1)
    assert seen == [], "a handler removed with off() was still called"


@ex.check(points=1, title="dispatch reports bad frames as 'error' events", public=False,
          hint="Instead of the seed's silent `catch {}`, emit 'error' with the exception and carry on.")
def dispatch_bad_json(ctx: Context) -> None:
    dispatch, em = ctx.get("dispatch"), _emitter(ctx)
    errors: list[Any] = []
    messages: list[Any] = []
    em.on("error", errors.append).on("message", messages.append)
    dispatch(em, "{not json")
    dispatch(em, "[1, 2]")
    assert messages == [], f"bad frames were emitted as messages: {messages}"
    assert len(errors) == 2 and all(isinstance(e, ValueError) for e in errors), (
        f"two bad frames should emit two 'error' events with a ValueError, got {errors!r}"
    )


@ex.check(points=1, title="collect_updates gives up after `timeout`", public=False, timeout=5.0,
          hint="Bound the whole collection with `timeout` and raise TimeoutError when it passes.")
async def collect_times_out(ctx: Context) -> None:
    collect_updates = ctx.get("collect_updates", "async")
    url = ctx.server().chat_url
    await ctx.gives_up(collect_updates(url, "quiet-channel", 2, timeout=0.5), 2.0,
                       "collect_updates(url, 'quiet-channel', 2, timeout=0.5)",
                       "collect_updates returned {result!r:.200} from a channel nobody publishes to")
