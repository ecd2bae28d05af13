"""Checks for ``05-live-updates``: typed events without the seed's flaws, bounded subscriptions.

``dispatch`` gets a plain ``emit(event, data)`` function of the check's that writes down what
was emitted, so its checks grade ``dispatch`` alone (the ``Emitter`` is exercise 3's). The
subscription checks use the checks' own wslab server; a channel nobody publishes to is opened
there first, so that "nothing comes" is told apart from "no such channel" (an error frame).
"""

from __future__ import annotations

import secrets
from typing import Any

from wslab.grading.registry import exercise
from wslab.grading.runner import Context

ex = exercise("updates", title="Typed events and live updates", notebook="05-live-updates", hidden=(2, 2))


def recorder() -> tuple[list[tuple[str, Any]], Any]:
    """What was emitted, and the plain ``emit(event, data)`` function that writes it down."""
    emitted: list[tuple[str, Any]] = []

    def emit(event: Any, data: Any = None) -> None:
        emitted.append((event, data))

    return emitted, emit


@ex.check(points=2, title="dispatch emits 'message' and the frame's own type",
          hint="Parse the frame, emit 'message' with it, then emit its 'type' with it.")
def dispatch_typed(ctx: Context) -> None:
    dispatch = ctx.get("dispatch")
    emitted, emit = recorder()
    dispatch(emit, '{"type": "update", "seq": 1}')
    frame = {"type": "update", "seq": 1}
    assert emitted == [("message", frame), ("update", frame)], f"dispatch of an update frame emitted {emitted}"


@ex.check(points=1, title="dispatch never fires the client's own events for a frame",
          hint="A frame whose type is connect, disconnect, error or message is emitted as 'message' only "
               "(lesson 3, Flaw 2).")
def dispatch_no_lifecycle(ctx: Context) -> None:
    dispatch = ctx.get("dispatch")
    for kind in ("connect", "disconnect", "error", "message"):
        emitted, emit = recorder()
        frame = {"type": kind}
        dispatch(emit, f'{{"type": "{kind}"}}')
        assert emitted == [("message", frame)], (
            f'a frame {{"type": "{kind}"}} from the server emitted {emitted}; it should emit "message" only: '
            f"a server must not fire the client's own {kind!r} handlers"
        )


@ex.check(points=2, title="collect_updates subscribes and collects `count` updates", timeout=6.0,
          hint="Send a subscribe frame, then keep only frames whose type is 'update' for that channel.")
async def collect(ctx: Context) -> None:
    collect_updates = ctx.get("collect_updates", "async")
    url = ctx.server().chat_url
    got = await ctx.within(collect_updates(url, "updates", 3, timeout=3.0), 4.0, "collect_updates(url, 'updates', 3)")
    assert isinstance(got, list) and len(got) == 3, f"collect_updates(..., 3) returned {got!r:.200}"
    assert all(isinstance(u, dict) and u.get("type") == "update" and u.get("channel") == "updates" for u in got), (
        f"not all collected frames are updates of channel 'updates': {got!r:.300}"
    )
    seqs = [u["seq"] for u in got]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3, f"the updates are not in order: seq {seqs}"


@ex.check(points=1, title="collect_updates reports an error frame (no such channel) instead of waiting",
          timeout=5.0, hint="When the server answers with an error frame, close and raise ConnectionError with "
                            "its message: waiting on would only end in TimeoutError.")
async def collect_reports_errors(ctx: Context) -> None:
    collect_updates = ctx.get("collect_updates", "async")
    url = ctx.server().chat_url
    channel = f"nobody-opened-{secrets.token_hex(3)}"
    try:
        got = await ctx.within(collect_updates(url, channel, 1, timeout=3.0), 4.0,
                               f"collect_updates(url, {channel!r}, 1, timeout=3)")
    except ConnectionError as exc:
        assert "channel" in str(exc), (
            f"ConnectionError({str(exc)!r}) should carry the server's message (it names the channel)"
        )
        return
    except TimeoutError:
        raise AssertionError(
            f"the server answered subscribing to {channel!r} with an error frame (unknown-channel), but "
            "collect_updates waited on until TimeoutError"
        ) from None
    raise AssertionError(f"collect_updates returned {got!r:.200} for a channel the server answered with an error")


def quiet_channel(ctx: Context) -> tuple[str, str]:
    """A channel opened on the checks' server that nobody publishes to; and the server's chat URL."""
    server = ctx.server()
    channel = f"quiet-{secrets.token_hex(3)}"
    server.open_channel(channel)
    return channel, server.chat_url
