"""The hidden checks of exercise ``chat``: they run only at grading.

They ship only in the instructor's install (``wslab_instructor``), never in a learner's: the
public checks and the exercise itself are :mod:`wslab.grading.checks.chat`.
"""

from __future__ import annotations

import asyncio

from wslab.grading.checks.chat import (
    MSG,
    OFF,
    ON,
    TOLERANCE,
    _close_quietly,
    _html,
    _names,
    _same,
    _sender,
    _through_outage,
    _typing_line,
    _view,
    _view_html,
    ex,
)
from wslab.grading.runner import Context


@ex.check(points=1, title="render_message survives a missing or malformed timestamp", public=False,
          hint="Not every frame is well formed: show the message without a time rather than raise.")
def render_bad_timestamp(ctx: Context) -> None:
    for bad in ({k: v for k, v in MSG.items() if k != "timestamp"}, {**MSG, "timestamp": "yesterday"}):
        html = _html(ctx, bad)
        assert "Hello, Bob!" in html and "Ada" in html, (
            f"expected a message with a bad timestamp still shown (Ada: Hello, Bob!), got {html[:300]!r}"
        )


@ex.check(points=1, title="typing_line leaves yourself out", public=False,
          hint="You know when you are typing: drop `me` from the names before choosing the text.")
def typing_leaves_me_out(ctx: Context) -> None:
    _same(_typing_line(ctx, ["Ada", "Bob"], me="Ada"), "Bob is typing…", "typing_line(['Ada', 'Bob'], me='Ada')")
    _same(_typing_line(ctx, ["Ada"], me="Ada"), "", "typing_line(['Ada'], me='Ada')")
    _same(
        _typing_line(ctx, ["Ada", "Bob", "Cy"], me="Cy"),
        "Ada and Bob are typing…",
        "typing_line(['Ada', 'Bob', 'Cy'], me='Cy')",
    )


@ex.check(points=1, title="TypingSender: refreshes while typing goes on", public=False,
          hint="The server forgets typing after 5 s: while keys keep coming, repeat typing: true every `refresh` s.")
def typing_refreshes(ctx: Context) -> None:
    sender, clock, rec = _sender(ctx)
    for _ in range(15):  # a key every 0.5 s for 7 s
        sender.key()
        sender.tick()
        clock.advance(0.5)
    times = [t for t, f in rec.frames if f == ON]
    assert OFF not in rec.sent, f"keys kept coming every 0.5 s: expected no typing: false, got {rec.sent}"
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    # `>=` refresh sends at 0, 3 and 6 s; `>` at the next key after, 0, 3.5 and 7 s: both are right.
    assert times[:1] == [0.0] and len(times) == 3 and all(3.0 <= gap <= 3.5 for gap in gaps), (
        f"7 s of steady typing (a key every 0.5 s, refresh=3): expected typing: true at 0 s and then every 3 s "
        f"(at the first key 3 s or more after the last one: 0, 3, 6 or 0, 3.5, 7), got it at {times}"
    )


@ex.check(points=1, title="TypingSender: idle counts from the last key", public=False,
          hint="Each key press restarts the idle countdown.")
def typing_idle_from_last_key(ctx: Context) -> None:
    sender, clock, rec = _sender(ctx)
    sender.key()
    clock.advance(1.5)
    sender.key()
    clock.advance(1.0)
    sender.tick()
    assert OFF not in rec.sent, (
        f"1 s after the last key (2.5 s after the first): expected no typing: false, got {rec.sent}"
    )
    clock.advance(1.0)
    sender.tick()
    clock.advance(TOLERANCE)
    sender.tick()
    assert rec.sent[-1:] == [OFF], (
        f"expected {OFF} between 2 s and {2 + TOLERANCE:g} s after the last key "
        f"(idle=2, tolerance {TOLERANCE:g} s); sent {rec.sent}"
    )


@ex.check(points=1, title="ChatView ignores frames it does not show", public=False,
          hint="Servers send more than chat and typing frames (presence, errors, acks, new kinds later).")
def view_ignores_other_frames(ctx: Context) -> None:
    view = _view(ctx)
    view.apply(dict(MSG))
    before = _view_html(view)
    for frame in ({"type": "presence", "room": "lobby", "joined": ["Cy"], "left": []},
                  {"type": "error", "code": "bad-json", "message": "no"},
                  {"type": "ack", "id": "1", "seq": 1}, {"type": "brand-new"}, {"no": "type"}):
        view.apply(frame)
    assert _view_html(view) == before, (
        f"expected html() unchanged by presence, error, ack and unknown frames; "
        f"it was {before[-200:]!r}, now {_view_html(view)[-200:]!r}"
    )


@ex.check(points=1, title="join_room reports an error frame instead of waiting", public=False, timeout=8.0,
          hint="The server may answer a join with an error frame (name-taken): raise ConnectionError with its message.")
async def join_reports_errors(ctx: Context) -> None:
    join_room = ctx.get("join_room", "async")
    url = ctx.server().chat_url
    name = f"Checker{next(_names)}"
    first = await ctx.within(join_room(url, name, timeout=2.0), 4.0, f"join_room(chat_url, {name!r}, timeout=2.0)")
    try:
        try:
            second = await ctx.within(join_room(url, name, timeout=2.0), 4.0,
                                      f"join_room(chat_url, {name!r}) while {name} is in the room")
        except ConnectionError as exc:
            assert "already in room" in str(exc), (
                f"expected the ConnectionError to carry the server's message (\"{name!r} is already in room "
                f"'lobby'; choose another name\"), got {exc!s:.200}"
            )
            return
        except TimeoutError:
            raise AssertionError(
                "expected ConnectionError with the server's message (it answered the second join with an "
                "error frame, code name-taken), got TimeoutError: the error frame was ignored"
            ) from None
        await _close_quietly(second[0] if isinstance(second, tuple) and second else second)
        raise AssertionError(
            f"expected ConnectionError (the name {name!r} was taken), but join_room returned {second!r:.200}"
        )
    finally:
        if isinstance(first, tuple) and first:
            await _close_quietly(first[0])


@ex.check(points=1, title="join_room closes the connection when it gives up", public=False, timeout=5.0,
          hint="A connection you give up on is still open: close it before raising.")
async def join_closes_on_timeout(ctx: Context) -> None:
    join_room = ctx.get("join_room", "async")
    closed = asyncio.Event()
    async with ctx.silent_server(closed) as url:
        await ctx.gives_up(join_room(url, "Ada", timeout=0.5), 2.0, "join_room(silent_url, 'Ada', timeout=0.5)",
                           "join_room returned although the server never sent a welcome")
        await ctx.closed_within(closed, "after join_room gave up, the connection was still open")


@ex.check(points=3, title="ChatClient loses nothing said while offline and delivers nothing twice",
          public=False, timeout=12.0,
          hint="Keep sends in your Outbox while offline and flush it after the re-join; the welcome replays "
               "history you already have, so deliver a `seq` only once (skip seq <= last_seq).")
async def client_loses_nothing(ctx: Context) -> None:
    rec = await _through_outage(ctx)
    want = ["before", "offline-1", "offline-2", "while-away", "last"]
    twice = sorted({text for text in rec.said if rec.said.count(text) > 1})
    assert not twice, f"delivered more than once: {twice}; {rec.summary()}"
    assert sorted(rec.said) == sorted(want), f"expected each of {want} heard once, got {rec.said}"
    assert rec.said.index("offline-1") < rec.said.index("offline-2"), (
        f"what was said offline should go out in order (offline-1, then offline-2), got {rec.said}"
    )
    assert rec.heard_by_cy == ["offline-1", "offline-2"], (
        f"the room should get Grace's offline messages once each, in order; Cy heard {rec.heard_by_cy}"
    )
