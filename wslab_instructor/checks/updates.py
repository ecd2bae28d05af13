"""The hidden checks of exercise ``updates``: they run only at grading.

They ship only in the instructor's install (``wslab_instructor``), never in a learner's: the
public checks and the exercise itself are :mod:`wslab.grading.checks.updates`.
"""

from __future__ import annotations

from wslab.grading.checks.updates import ex, quiet_channel, recorder
from wslab.grading.runner import Context


@ex.check(points=1, title="dispatch reports bad frames as 'error' events", public=False,
          hint="Instead of the seed's silent `catch {}`, emit 'error' with the exception and carry on.")
def dispatch_bad_json(ctx: Context) -> None:
    dispatch = ctx.get("dispatch")
    emitted, emit = recorder()
    dispatch(emit, "{not json")
    dispatch(emit, "[1, 2]")
    messages = [data for event, data in emitted if event == "message"]
    errors = [data for event, data in emitted if event == "error"]
    assert messages == [], f"bad frames were emitted as messages: {messages}"
    assert len(errors) == 2 and all(isinstance(e, ValueError) for e in errors), (
        f"two bad frames should emit two 'error' events with a ValueError, got {errors!r}"
    )


@ex.check(points=1, title="collect_updates gives up after `timeout` on a channel that stays quiet", public=False,
          timeout=5.0, hint="Bound the whole collection with `timeout` and raise TimeoutError when it passes.")
async def collect_times_out(ctx: Context) -> None:
    collect_updates = ctx.get("collect_updates", "async")
    channel, url = quiet_channel(ctx)  # open, so the subscription is confirmed; nobody publishes to it
    await ctx.gives_up(collect_updates(url, channel, 2, timeout=0.5), 2.0,
                       f"collect_updates(url, {channel!r}, 2, timeout=0.5)",
                       "collect_updates returned {result!r:.200} from a channel nobody publishes to")
