"""Checks for ``05-live-updates``: typed events, dispatch without swallowing, bounded subscriptions."""

from __future__ import annotations

from typing import Any

from wslab.grading.registry import exercise
from wslab.grading.runner import Context

ex = exercise("updates", title="Typed events and live updates", notebook="05-live-updates", hidden=(3, 3))


def _emitter(ctx: Context) -> Any:
    return ctx.get("Emitter", "class")()


@ex.check(points=1, title="Emitter.on returns the emitter, so calls chain",
          hint="`on` registers the handler and then returns `self`.")
def on_chains(ctx: Context) -> None:
    em = _emitter(ctx)
    got = em.on("update", lambda data: None)
    assert got is em, "on(...) should return the emitter itself, so that on(...).on(...) works"


@ex.check(points=1, title="Emitter.emit calls the handlers of that event, in order",
          hint="Keep a list of handlers per event name; call each with the data.")
def emit_in_order(ctx: Context) -> None:
    em = _emitter(ctx)
    seen: list[Any] = []
    em.on("update", lambda d: seen.append(("first", d))).on("update", lambda d: seen.append(("second", d)))
    em.on("other", lambda d: seen.append(("other", d)))
    em.emit("update", 7)
    assert seen == [("first", 7), ("second", 7)], f"emit('update', 7) called {seen}"
    em.emit("nobody-listens", 1)


@ex.check(points=2, title="One failing handler does not stop the others",
          hint="Catch what a handler raises, keep it in `errors`, and go on with the next handler.")
def handler_error_isolated(ctx: Context) -> None:
    em = _emitter(ctx)
    seen: list[Any] = []

    def broken(data: Any) -> None:
        raise RuntimeError("broken handler")

    em.on("update", broken).on("update", seen.append)
    em.emit("update", "tick")
    assert seen == ["tick"], "a handler after a failing one was not called"
    errors = list(getattr(em, "errors", []))
    assert len(errors) == 1 and isinstance(errors[0], RuntimeError), (
        f"em.errors should hold the RuntimeError the handler raised, got {errors!r}"
    )


@ex.check(points=2, title="dispatch emits 'message' and the frame's own type",
          hint="Parse the frame, emit 'message' with it, then emit its 'type' with it.")
def dispatch_typed(ctx: Context) -> None:
    dispatch, em, seen = ctx.get("dispatch"), _emitter(ctx), []
    em.on("message", lambda m: seen.append(("message", m))).on("update", lambda m: seen.append(("update", m)))
    dispatch(em, '{"type": "update", "seq": 1}')
    frame = {"type": "update", "seq": 1}
    assert seen == [("message", frame), ("update", frame)], f"dispatch of an update frame emitted {seen}"


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
